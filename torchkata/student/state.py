"""The student's small state file, ``.torchkata/state.json`` at the course root.

It remembers which hints were shown and the last recorded check of each kata. It is
written atomically (a temporary file renamed over the old one), and a file that cannot
be read is set aside as ``state.json.corrupt`` rather than crashing or being lost.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

STATE_DIR = ".torchkata"
STATE_FILE = "state.json"
VERSION = 1


def state_path(root: Path) -> Path:
    return root / STATE_DIR / STATE_FILE


def _empty() -> dict[str, Any]:
    return {"version": VERSION, "hints": {}, "checks": {}}


def _warn(message: str) -> None:
    print(f"torchkata: {message}", file=sys.stderr)


def _set_aside(path: Path, reason: str) -> None:
    """Keep an unreadable state file next to the new one instead of overwriting it."""
    backup = path.with_name(path.name + ".corrupt")
    try:
        os.replace(path, backup)
    except OSError as error:
        _warn(f"{path} cannot be read ({reason}) nor moved aside ({error}); it is ignored")
        return
    _warn(f"{path} could not be read ({reason}); it was moved to {backup} and a fresh one is used")


def load_state(path: Path) -> dict[str, Any]:
    """The state in ``path``; an empty state when it is missing, unreadable or of the wrong shape."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return _empty()
    except OSError as error:
        _warn(f"{path} cannot be read ({error}); it is ignored")
        return _empty()
    try:
        data = json.loads(text)
    except ValueError as error:
        _set_aside(path, f"not JSON: {error}")
        return _empty()
    if not isinstance(data, dict) or not all(isinstance(data.get(key, {}), dict) for key in ("hints", "checks")):
        _set_aside(path, "not a torchkata state object")
        return _empty()
    state = _empty()
    state.update(data)
    return state


def save_state(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` to ``path`` atomically: readers see the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(temporary, 0o644)  # mkstemp's 0600 would make the file private for no reason
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            json.dump(state, file, indent=1, sort_keys=True)
            file.write("\n")
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def update_state(path: Path, change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """Re-read the state, apply ``change`` to it and save it; returns the saved state.

    Reading just before writing keeps what another torchkata process (a running watch)
    recorded in the meantime.
    """
    state = load_state(path)
    change(state)
    try:
        save_state(path, state)
    except OSError as error:
        _warn(f"could not save {path} ({error}); this run's progress is not remembered")
    return state
