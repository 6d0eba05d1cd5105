"""Assertion helpers for graders: every failure names the call, what came back and what was expected.

Each helper takes ``call``, a short description of what the grader did, e.g.
``"MLP()(x) with x of shape (2, 20)"``, and an optional ``hint``, the likely
mistake. Messages read::

    MLP()(x) with x of shape (2, 20) returned shape (2, 256); expected (2, 10).
    Is the output layer missing?
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import torch
from torch import nn

from torchkata.grading import module_checks as _module_checks
from torchkata.grading.describe import describe, foreign_type, shape_text  # describe: part of this API
from torchkata.grading.explain import explain
from torchkata.grading.failure import GradingError, fail
from torchkata.grading.hygiene import student_text

T = TypeVar("T")
CALLED: list[str] = []  # names of the student's functions that ``call`` ran in the current check


_fail = fail

# Part of this API: the checks of a module's parameters, state_dict keys and submodules.
keys = _module_checks.keys
parameter_count = _module_checks.parameter_count
parameter_of_shape = _module_checks.parameter_of_shape
same_objects = _module_checks.same_objects
submodules = _module_checks.submodules
unique_parameters = _module_checks.unique_parameters


def call(description: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run the student's ``fn``; any exception but NotImplementedError becomes a grading failure.

    NotImplementedError passes through untouched, so reports can say "not started". A torch error the
    course knows (:mod:`torchkata.grading.explain`) is told in the course's words instead of torch's.
    """
    __tracebackhide__ = True
    CALLED.append(getattr(fn, "__name__", ""))
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        raise
    except GradingError:
        raise
    except Exception as error:  # noqa: BLE001 - any crash in student code is a finding
        explained = explain(error)
        detail = explained.text if explained is not None else student_text(error)
        raise _fail(f"{description} raised {student_text(type(error).__name__, 80)}: {detail}") from error


_call_student = call  # for the helpers below whose ``call`` parameter (the description) hides this function


def check(condition: object, message: str, hint: str | None = None) -> None:
    """Fail with ``message`` (and the hint) unless ``condition`` holds."""
    __tracebackhide__ = True
    if not condition:
        raise _fail(message, hint)


def tensor(value: Any, call: str, hint: str | None = None) -> torch.Tensor:
    """``value`` must be a plain torch.Tensor (or nn.Parameter): a subclass could rig comparisons."""
    __tracebackhide__ = True
    if not isinstance(value, torch.Tensor):
        raise _fail(f"{call} returned {describe(value)}; expected a torch.Tensor.", hint)
    if type(value) not in (torch.Tensor, nn.Parameter):
        raise _fail(f"{call} returned a {type(value).__name__}; expected a plain torch.Tensor.", hint)
    return value


def shape(value: Any, expected: Sequence[int], call: str, hint: str | None = None) -> None:
    """``value`` is a tensor of exactly this shape."""
    __tracebackhide__ = True
    tensor(value, call, hint)
    if tuple(value.shape) != tuple(expected):
        raise _fail(
            f"{call} returned shape {shape_text(value.shape)}; expected {shape_text(expected)}.",
            hint,
        )


def dtype(value: Any, expected: torch.dtype, call: str, hint: str | None = None) -> None:
    """``value`` is a tensor of this dtype."""
    __tracebackhide__ = True
    tensor(value, call, hint)
    if value.dtype != expected:
        raise _fail(f"{call} returned dtype {value.dtype}; expected {expected}.", hint)


def device(value: Any, expected: torch.device | str, call: str, hint: str | None = None) -> None:
    """``value`` (a tensor) lives on the expected device type (and index, when one is given)."""
    __tracebackhide__ = True
    tensor(value, call, hint)
    want = torch.device(expected)
    got = value.device
    same = got.type == want.type and (want.index is None or got.index == want.index)
    if not same:
        raise _fail(f"{call} returned a tensor on {got}; expected it on {want}.", hint)


def close(
    actual: Any,
    expected: torch.Tensor,
    call: str,
    hint: str | None = None,
    rtol: float = 1e-5,
    atol: float = 1e-6,
) -> None:
    """``actual`` matches the independently computed ``expected`` in shape, dtype and values."""
    __tracebackhide__ = True
    shape(actual, expected.shape, call, hint)
    if actual.dtype != expected.dtype:
        raise _fail(f"{call} returned dtype {actual.dtype}; expected {expected.dtype}.", hint)
    got = actual.detach().to("cpu")
    want = expected.detach().to("cpu")
    if torch.equal(got, want):
        return
    if got.dtype == torch.bool or not (got.is_floating_point() or got.is_complex()):
        mismatch = got != want
        index = tuple(int(i) for i in mismatch.nonzero()[0])
        raise _fail(
            f"{call} returned wrong values: {int(mismatch.sum())} of {got.numel()} entries differ; "
            f"at index {index} got {got[index].item()}, expected {want[index].item()}.",
            hint,
        )
    nonfinite = ~torch.isfinite(got) & torch.isfinite(want)
    if nonfinite.any():
        index = tuple(int(i) for i in nonfinite.nonzero()[0])
        raise _fail(
            f"{call} returned {got[index].item()} at index {index}; expected {want[index].item()} "
            "(a finite number).",
            hint,
        )
    if torch.allclose(got, want, rtol=rtol, atol=atol, equal_nan=True):
        return
    error = (got - want).abs()
    error = torch.where(torch.isnan(error), torch.zeros_like(error), error)
    flat = int(error.reshape(-1).argmax())
    index = tuple(int(i) for i in torch.unravel_index(torch.tensor(flat), got.shape))
    raise _fail(
        f"{call} returned wrong values: largest error {error.max().item():.3g} at index {index}, "
        f"got {got[index].item():.6g}, expected {want[index].item():.6g} "
        f"(tolerance rtol={rtol:g}, atol={atol:g}).",
        hint,
    )


def equal(actual: Any, expected: Any, call: str, hint: str | None = None) -> None:
    """Plain values (ints, strings, tuples, lists, dicts of them) compare equal.

    ``actual`` must be made of built-in types, so an object with a rigged ``__eq__`` cannot pass.
    """
    __tracebackhide__ = True
    foreign = foreign_type(actual)
    if foreign is not None and foreign_type(expected) is None:
        raise _fail(
            f"{call} returned {describe(actual)}, which holds a {foreign.__name__}; "
            f"expected {describe(expected)} made of plain Python values.",
            hint,
        )
    if type(actual) is not type(expected) or actual != expected:
        raise _fail(f"{call} returned {describe(actual)}; expected {describe(expected)}.", hint)


def raises(
    errors: type[BaseException] | tuple[type[BaseException], ...],
    fn: Callable[[], Any],
    call: str,
    hint: str | None = None,
) -> BaseException:
    """``fn()`` raises one of ``errors``; returns the exception."""
    __tracebackhide__ = True
    wanted = errors if isinstance(errors, tuple) else (errors,)
    names = " or ".join(error.__name__ for error in wanted)
    try:
        result = fn()
    except NotImplementedError:
        raise
    except wanted as error:
        return error
    except Exception as error:  # noqa: BLE001
        raise _fail(
            f"{call} raised {student_text(type(error).__name__, 80)}: {student_text(error)}; expected {names}.", hint
        ) from error
    raise _fail(f"{call} returned {describe(result)}; expected it to raise {names}.", hint)


def gradcheck(
    fn: Callable[..., Any],
    inputs: tuple[torch.Tensor, ...],
    call: str,
    hint: str | None = None,
    second_order: bool = False,
    fast_mode: bool = False,
) -> None:
    """Analytical gradients of ``fn`` at float64 ``inputs`` match finite differences.

    ``fast_mode`` compares the Jacobian along random directions instead of entry by entry
    (torch.autograd.gradcheck's fast mode): far quicker where ``fn`` has many inputs and outputs.
    """
    __tracebackhide__ = True
    checker = torch.autograd.gradgradcheck if second_order else torch.autograd.gradcheck
    order = "second-order gradients" if second_order else "gradients"
    _expect_differentiable(_call_student(call, fn, *inputs), call, hint)
    try:
        ok = checker(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True, fast_mode=fast_mode)
    except NotImplementedError:
        raise
    except Exception as error:  # noqa: BLE001 - gradcheck reports mismatches as exceptions
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise _fail(
            f"{call}: {order} do not match finite differences ({first}).", hint
        ) from error
    check(ok, f"{call}: {order} do not match finite differences.", hint)


def _expect_differentiable(outputs: Any, call: str, hint: str | None) -> None:
    """gradcheck proves nothing about an output that ignores the inputs, or one whose type could rig it."""
    __tracebackhide__ = True
    found = list(outputs) if isinstance(outputs, tuple | list) else [outputs]
    for output in found:
        tensor(output, call, hint)
    if not any(output.requires_grad for output in found):
        raise _fail(
            f"{call} returned {describe(outputs)}, which does not depend on its inputs (no autograd graph); "
            "expected a result computed from them with differentiable operations.",
            hint,
        )
