"""Short, student-facing text for an exception raised while grading."""

from __future__ import annotations

import re
import traceback
from pathlib import Path

from torchkata.hygiene import cap, student_text
from torchkata.loader import MODULE_PREFIX

_MISSING = re.compile(rf"module '{MODULE_PREFIX}(\w+)' has no attribute '(\w+)'")
MAX_CHARS = 2000


def _where(error: BaseException, slug: str | None, impl_dir: Path | None) -> str:
    """file:line of the deepest frame in the student's chapter module, if any."""
    if slug is None or impl_dir is None:
        return ""
    target = (impl_dir / f"{slug}.py").resolve()
    frames = [
        frame
        for frame in traceback.extract_tb(error.__traceback__)
        if Path(frame.filename).resolve() == target
    ]
    return f" (at {slug}.py:{frames[-1].lineno})" if frames else ""


def failure_message(error: BaseException, slug: str | None, impl_dir: Path | None) -> str:
    """What went wrong, in one or a few lines, without grader source code."""
    if isinstance(error, NotImplementedError):
        text = f"not started: {error}" if str(error) else "not started"
    elif isinstance(error, AttributeError) and (match := _MISSING.search(str(error))):
        text = (
            f"{match.group(1)}.py defines no {match.group(2)!r}: add it with the name and "
            "signature the exercise gives."
        )
    elif isinstance(error, AssertionError) or type(error).__name__ in {"Failed", "Exit"}:
        text = str(getattr(error, "msg", None) or error) or type(error).__name__
        if error.__cause__ is not None:  # a crash that checks.call reported: say where it happened
            text += _where(error.__cause__, slug, impl_dir)
    else:
        text = f"{student_text(type(error).__name__, 80)}: {student_text(error)}{_where(error, slug, impl_dir)}"
    return cap(text, MAX_CHARS)
