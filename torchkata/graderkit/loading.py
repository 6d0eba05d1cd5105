"""Reading back a file that student code saved, the safe way: ``torch.load(path, weights_only=True)``."""

from __future__ import annotations

import pickle
import re
from pathlib import Path
from typing import Any

import torch

from torchkata import checks

_COLOURS = re.compile(r"\x1b\[[0-9;]*m")


def load_error_reason(error: BaseException) -> str:
    """The telling line of a torch.load error, e.g. the unsupported global that weights_only refused."""
    lines = [_COLOURS.sub("", line).strip() for line in str(error).splitlines()]
    lines = [line for line in lines if line]
    refused = [line for line in lines if "Unsupported global" in line]
    return (refused or lines or [type(error).__name__])[0]


def load_weights_only(path: Path, call: str, hint: str) -> Any:
    """torch.load(path, weights_only=True), or a failure that names ``call``, the call that wrote the file."""
    checks.check(path.is_file(), f"after {call}, no file exists at the given path.")
    try:
        return torch.load(path, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as error:
        first = load_error_reason(error)
        raise checks.GradingError(
            f"the file written by {call} does not load with torch.load(path, weights_only=True): {first}\n{hint}"
        ) from error
