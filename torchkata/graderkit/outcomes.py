"""Outcomes of a differential check: an exception recorded as its type, and the first difference in words.

:mod:`torchkata.graderkit.differential` re-exports these names (``differential.attempt``,
``differential.RAISED``...), which is how graders use them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import torch

from torchkata.checks import GradingError, describe, shape_text
from torchkata.grading.hygiene import student_text

RAISED = "__raised__"
MAX_TEXT = 160
# The course lets a bad argument raise ValueError or TypeError; either answers for the other.
ARGUMENT_ERRORS = frozenset({"ValueError", "TypeError"})
# Default tolerances per floating dtype: (rtol, atol).
TOLERANCES: dict[torch.dtype, tuple[float, float]] = {
    torch.float16: (1e-2, 1e-3),
    torch.bfloat16: (2e-2, 1e-2),
    torch.float32: (1e-4, 1e-5),
    torch.float64: (1e-7, 1e-9),
}
_PLAIN = (bool, int, float, str, type(None), torch.dtype, torch.device)


def raised(error: BaseException) -> dict[str, Any]:
    """The record of an exception: its type's name and the names of its bases."""
    return {RAISED: type(error).__name__, "bases": [kind.__name__ for kind in type(error).__mro__],
            "message": student_text(error, MAX_TEXT)}


def attempt(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)``, or the record of what it raised, so an observation goes on after a failure.

    A kata not started (NotImplementedError) and a grader's own failure (GradingError) propagate.
    """
    try:
        return fn(*args, **kwargs)
    except (NotImplementedError, GradingError):
        raise
    except Exception as error:  # noqa: BLE001 - what the kata raised is part of its outcome
        return raised(error)


def is_raised(value: Any) -> bool:
    """Whether ``value`` is ``attempt``'s record of an exception."""
    return type(value) is dict and RAISED in value



def describe_value(value: Any) -> str:
    """A case argument or outcome, short: small tensors show their values."""
    if isinstance(value, torch.Tensor):
        kind = f"tensor {shape_text(value.shape)} {str(value.dtype)[6:]}"
        if value.device.type != "cpu":
            kind += f" on {value.device}"
        if value.numel() and value.numel() <= 8 and value.device.type != "meta":
            kind += f" {[round(v, 4) if isinstance(v, float) else v for v in value.detach().cpu().flatten().tolist()]}"
        return kind
    if is_raised(value):
        return f"an error {value[RAISED]}"
    if isinstance(value, list | tuple) and len(value) > 4:
        return f"a {type(value).__name__} of {len(value)} items"
    if isinstance(value, dict):
        return f"a dict with keys {sorted(map(str, value))}"
    return describe(value)


def _tolerance(dtype: torch.dtype, overrides: Mapping[torch.dtype, tuple[float, float]]) -> tuple[float, float]:
    return overrides.get(dtype) or TOLERANCES.get(dtype, (0.0, 0.0))


def _compare_tensor(got: Any, want: torch.Tensor, where: str,
                    overrides: Mapping[torch.dtype, tuple[float, float]]) -> str | None:
    if type(got) not in (torch.Tensor, torch.nn.Parameter):
        return f"{where} is {describe_value(got)}; expected a plain {describe_value(want)}"
    if tuple(got.shape) != tuple(want.shape):
        return f"{where} has shape {shape_text(got.shape)}; expected {shape_text(want.shape)}"
    if got.dtype != want.dtype:
        return f"{where} has dtype {str(got.dtype)[6:]}; expected {str(want.dtype)[6:]}"
    if got.device.type != want.device.type:
        return f"{where} is on {got.device}; expected {want.device}"
    if want.device.type == "meta" or want.numel() == 0:
        return None
    a, b = got.detach().cpu(), want.detach().cpu()
    if a.is_floating_point() or a.is_complex():
        rtol, atol = _tolerance(a.dtype, overrides)
        a64, b64 = a.to(torch.complex128 if a.is_complex() else torch.float64), b.to(
            torch.complex128 if b.is_complex() else torch.float64)
        close = torch.isclose(a64, b64, rtol=rtol, atol=atol, equal_nan=True)
    else:
        close = a == b
    if bool(close.all()):
        return None
    index = tuple(int(i) for i in (~close).nonzero()[0])
    wrong = int((~close).sum())
    return (f"{where} differs in {wrong} of {a.numel()} entries: at index {index} got {a[index].item():.6g}, "
            f"expected {b[index].item():.6g}")


def compare(got: Any, want: Any, where: str = "",
            tolerances: Mapping[torch.dtype, tuple[float, float]] | None = None) -> str | None:
    """The first difference between the student's outcome and the reference's, in words; None if none."""
    overrides = tolerances or {}
    label = where or "the result"
    if is_raised(want):
        if is_raised(got):
            accepted = {want[RAISED]} | (ARGUMENT_ERRORS if want[RAISED] in ARGUMENT_ERRORS else set())
            if accepted & set(got["bases"]):
                return None
            return f"raised {got[RAISED]} ({got['message']}); expected {want[RAISED]}"
        if not where:
            return f"returned normally; expected it to raise {want[RAISED]}"
        return f"{label} is {describe_value(got)}; expected the call to raise {want[RAISED]}"
    if is_raised(got):
        return f"raised {got[RAISED]}: {got['message']}"
    if isinstance(want, torch.Tensor):
        return _compare_tensor(got, want, label, overrides)
    if isinstance(want, dict):
        if type(got) is not dict:
            return f"{label} is {describe_value(got)}; expected a dict with keys {sorted(want)}"
        if any(type(key) is not str for key in got) or set(got) != set(want):
            return f"{label} has keys {sorted(map(str, got))}; expected {sorted(want)}"
        for key in want:
            problem = compare(got[key], want[key], f"{where}[{key!r}]" if where else key, overrides)
            if problem:
                return problem
        return None
    if isinstance(want, list | tuple) and not isinstance(want, torch.Size):
        if type(got) is not type(want):
            return f"{label} is {describe_value(got)}; expected a {type(want).__name__}"
        if len(got) != len(want):
            return f"{label} has {len(got)} items; expected {len(want)}"
        for index, (item, expected) in enumerate(zip(got, want, strict=True)):
            problem = compare(item, expected, f"{label}[{index}]", overrides)
            if problem:
                return problem
        return None
    return _compare_plain(got, want, label)


def _compare_plain(got: Any, want: Any, label: str) -> str | None:
    if isinstance(want, torch.Size):
        want = tuple(want)
        got = tuple(got) if type(got) is torch.Size else got
    if type(want) is float:
        if type(got) not in (float, int) or (math.isnan(want) != math.isnan(float(got))):
            return f"{label} is {describe_value(got)}; expected the float {want:.6g}"
        if math.isnan(want) or math.isclose(got, want, rel_tol=1e-4, abs_tol=1e-6):
            return None
        return f"{label} is {got:.6g}; expected {want:.6g}"
    if type(got) is not type(want) or not isinstance(got, _PLAIN + (tuple,)) or got != want:
        return f"{label} is {describe_value(got)}; expected {describe_value(want)}"
    return None
