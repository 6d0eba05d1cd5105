"""Counting the torch calls a function makes, for "no Python loop" rules.

A vectorised function makes the same number of torch calls whatever the size of its input; a loop
over rows makes more for more rows. Compare the counts on a small and a large input.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch.overrides import TorchFunctionMode


class TorchCallCounter(TorchFunctionMode):
    """Counts every torch function and tensor method called while it is active."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def __torch_function__(
        self, func: Callable[..., Any], types: Any, args: tuple = (), kwargs: dict | None = None
    ) -> Any:
        self.calls += 1
        return func(*args, **(kwargs or {}))


def torch_calls(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> int:
    """How many torch functions and tensor methods ``fn(*args, **kwargs)`` called (its result is dropped)."""
    counter = TorchCallCounter()
    with counter:
        fn(*args, **kwargs)
    return counter.calls
