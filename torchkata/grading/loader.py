"""Loading a chapter module (``<slug>.py``) from the directory under test."""

from __future__ import annotations

import importlib.util
import sys
import traceback
from pathlib import Path
from types import ModuleType

MODULE_PREFIX = "torchkata_impl_"


class ImplLoadError(Exception):
    """The chapter module is missing or does not import; the message says why, for the student."""


def module_name(slug: str) -> str:
    return f"{MODULE_PREFIX}{slug}"


def _error_line(error: BaseException, path: Path) -> str:
    if isinstance(error, SyntaxError) and error.lineno:
        code = (error.text or "").rstrip()
        where = f"{path}:{error.lineno}"
        return f"{where}: SyntaxError: {error.msg}" + (f"\n    {code.strip()}" if code else "")
    frames = [f for f in traceback.extract_tb(error.__traceback__) if Path(f.filename) == path]
    where = f"{path}:{frames[-1].lineno}" if frames else str(path)
    if type(error).__name__ == "Failed" and "from pytest-timeout" in str(error):
        return f"{where}: stopped by the time limit while the file was imported: an endless loop at its top level?"
    return f"{where}: {type(error).__name__}: {error}"


def load_module(directory: Path, slug: str) -> ModuleType:
    """Import ``directory/<slug>.py`` under a private name; raise ImplLoadError with the reason."""
    path = (directory / f"{slug}.py").resolve()
    if not path.is_file():
        raise ImplLoadError(
            f"{directory / (slug + '.py')} was not found: chapter '{slug}' is graded from a file "
            f"named {slug}.py in {directory}."
        )
    name = module_name(slug)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException as error:
        sys.modules.pop(name, None)
        if isinstance(error, KeyboardInterrupt):
            raise
        raise ImplLoadError(f"importing {slug}.py failed: {_error_line(error, path)}") from error
    return module


def unload(slug: str) -> None:
    sys.modules.pop(module_name(slug), None)
