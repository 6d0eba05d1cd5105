"""torchkata.graderkit.offlimits: library code switched off under any name, then restored."""

from __future__ import annotations

import importlib

import pytest
import torch
from torch.nn import functional as F

from torchkata.graderkit import offlimits

ADAM = importlib.import_module("torch.optim.adam")  # torch.optim deletes its submodules' names


class Refused(RuntimeError):
    pass


def _conv_by_unfold(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    cols = F.unfold(x, w.shape[-2:])
    out = w.flatten(1) @ cols
    side = x.shape[-1] - w.shape[-1] + 1
    return out.reshape(x.shape[0], w.shape[0], side, side)


def _routes_to_convolution(x: torch.Tensor, w: torch.Tensor, kept=F.conv2d) -> dict:
    return {
        "F.conv2d": lambda: F.conv2d(x, w),
        "a default argument": lambda: kept(x, w),
        "torch._C._VariableFunctions": lambda: torch._C._VariableFunctions.conv2d(x, w),
        "torch.ops.aten": lambda: torch.ops.aten.convolution.default(x, w, None, [1, 1], [0, 0], [1, 1], False,
                                                                     [0, 0], 1),
        "F.conv3d over a depth of one": lambda: F.conv3d(x.unsqueeze(2), w.unsqueeze(2)).squeeze(2),
        "nn.Conv2d": lambda: torch.nn.Conv2d(2, 3, 3)(x),
    }


def test_every_route_to_a_convolution_is_refused_and_hand_written_code_runs():
    x, w = torch.randn(1, 2, 6, 6, requires_grad=True), torch.randn(3, 2, 3, 3)
    with offlimits.ops_switched_off(offlimits.CONVOLUTION_OPS, "{name} is off limits", Refused):
        for route, call in _routes_to_convolution(x, w).items():
            with pytest.raises(Refused, match="aten.convolution is off limits"):
                call()
                pytest.fail(f"{route} reached the convolution")
        by_hand = _conv_by_unfold(x, w)
        by_hand.sum().backward()
    torch.testing.assert_close(by_hand, F.conv2d(x, w), rtol=1e-5, atol=1e-5)  # the library works again


@pytest.mark.parametrize("requires_grad", [False, True])
def test_max_pooling_is_refused_in_2d_and_3d(requires_grad):
    x = torch.randn(1, 1, 4, 4, requires_grad=requires_grad)
    with offlimits.ops_switched_off(offlimits.MAX_POOL_OPS, "{name} is off limits"):
        for call in (lambda: F.max_pool2d(x, 2), lambda: F.max_pool3d(x.unsqueeze(2), (1, 2, 2)),
                     lambda: torch.nn.AdaptiveMaxPool2d(1)(x)):
            with pytest.raises(RuntimeError, match="aten.*max_pool.* is off limits"):
                call()
        by_hand = x.unfold(2, 2, 2).unfold(3, 2, 2).amax(dim=(-2, -1))
    torch.testing.assert_close(by_hand, F.max_pool2d(x, 2))


def test_functions_are_refused_through_every_reference_and_restored_after_an_error():
    jacobian = torch.autograd.functional.jacobian
    kept = dict(vars(torch.autograd.functional))

    def by_default_argument(f, x, _library=torch.autograd.functional.jacobian):
        return _library(f, x)

    x = torch.randn(3)
    functions = [jacobian, torch.func.jacrev, ADAM.adam]
    with pytest.raises(KeyError), offlimits.code_switched_off(functions, "{name} is switched off"):
        for call in (lambda: jacobian(torch.sin, x), lambda: by_default_argument(torch.sin, x),
                     lambda: kept["jacobian"](torch.sin, x), lambda: torch.func.jacrev(torch.sin)(x)):
            with pytest.raises(RuntimeError, match=r"torch\..*(jacobian|jacrev) is switched off"):
                call()
        assert ADAM.adam.__code__.co_freevars  # a decorated function, with a closure, refuses too
        with pytest.raises(RuntimeError, match="adam is switched off"):
            ADAM.adam([], [], [], [], [], [])
        raise KeyError("an error inside the block")
    torch.testing.assert_close(jacobian(torch.sin, x), torch.diag(torch.cos(x)))
    torch.testing.assert_close(by_default_argument(torch.sin, x), torch.diag(torch.cos(x)))


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="only Python functions"):
        with offlimits.code_switched_off([F.conv2d], "{name} is off"):
            pass
    with pytest.raises(ValueError, match="prefixes"):
        offlimits.ops_switched_off([], "{name} is off")
    with pytest.raises(ValueError, match="placeholder"):
        offlimits.ops_switched_off(["conv"], "{what} is off")
    with pytest.raises(ValueError, match="placeholder"):
        with offlimits.code_switched_off([torch.autograd.functional.jacobian], "{what} is off"):
            pass
    torch.testing.assert_close(F.conv2d(torch.ones(1, 1, 2, 2), torch.ones(1, 1, 2, 2)), torch.full((1, 1, 1, 1), 4.0))


def test_switch_off_code_lasts_until_monkeypatch_undoes_it():
    x = torch.randn(2)
    with pytest.MonkeyPatch.context() as monkeypatch:
        offlimits.switch_off_code(monkeypatch, [torch.autograd.functional.hessian], "{name} is off")
        with pytest.raises(RuntimeError, match="functional.hessian is off"):
            torch.autograd.functional.hessian(lambda t: t.pow(3).sum(), x)
    torch.testing.assert_close(torch.autograd.functional.hessian(lambda t: t.pow(3).sum(), x), torch.diag(6 * x))
