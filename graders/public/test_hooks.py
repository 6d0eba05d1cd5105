"""Public checks for chapter 13, hooks: what each kata returns on a small model, and no hook left behind.

The hidden checks add deeper models, repeated modules, backward hooks, tuple outputs and bad arguments.
"""

import copy
import math
from collections import OrderedDict

import pytest
import torch
from torch import nn

from torchkata import checks
from torchkata.graderkit import errors, hooks


def _no_hooks_left(model: nn.Module, call: str) -> None:
    left = {where: count for where, count in hooks.hook_counts(model).items() if count}
    checks.check(
        not left, f"after {call}, hooks are still registered: {left}.",
        "Keep every handle that register_forward_hook returns and call handle.remove() in a finally block.",
    )


class SqrtOfNegative(nn.Module):
    """Always NaN: the square root of a negative number."""

    def forward(self, x):
        return (-x.abs() - 1).sqrt()


class Overflow(nn.Module):
    """Always Inf: a product too large for float32."""

    def forward(self, x):
        return x * 0 + 1e30 * 1e30


class Fails(nn.Module):
    """A forward that raises, as a bug further down a real model would."""

    def forward(self, x):
        raise RuntimeError("this layer always fails")


def _small_net() -> nn.Module:
    return nn.Sequential(
        OrderedDict(encoder=nn.Sequential(nn.Linear(4, 8), nn.ReLU()), act=nn.Tanh(), head=nn.Linear(8, 3))
    )


@pytest.mark.kata("capture_activations")
@pytest.mark.points(1)
def test_capture_activations_returns_detached_outputs(impl):
    model = _small_net()
    x = torch.randn(2, 4)
    call = "capture_activations(model, x, ['encoder.0', 'head'])"
    captured = checks.call(call, impl.capture_activations, model, x, ["encoder.0", "head"])
    checks.check(
        isinstance(captured, dict) and sorted(captured) == ["encoder.0", "head"],
        f"{call} returned {checks.describe(captured)}; expected a dict with keys 'encoder.0' and 'head'.",
    )
    linear = model.encoder[0]
    checks.close(captured["encoder.0"], (x @ linear.weight.T + linear.bias).detach(), f"{call}['encoder.0']")
    checks.close(captured["head"], model(x).detach(), f"{call}['head']")
    checks.check(
        not captured["head"].requires_grad,
        f"{call}['head'] requires grad; expected a detached tensor.", "Store output.detach() in the hook.",
    )
    _no_hooks_left(model, call)


@pytest.mark.kata("capture_activations")
@pytest.mark.points(1)
def test_capture_activations_removes_its_hooks_when_forward_raises(impl):
    working = nn.Sequential(OrderedDict(fc=nn.Linear(4, 4), act=nn.Tanh()))
    x = torch.randn(2, 4)
    captured = checks.call("capture_activations(model, x, ['fc'])", impl.capture_activations, working, x, ["fc"])
    checks.check(
        isinstance(captured, dict) and list(captured) == ["fc"],
        f"capture_activations(model, x, ['fc']) returned {checks.describe(captured)}; expected a dict with key 'fc'.",
    )
    checks.close(captured["fc"], working.fc(x).detach(), "capture_activations(model, x, ['fc'])['fc']")
    model = nn.Sequential(OrderedDict(fc=nn.Linear(4, 4), broken=Fails()))
    call = "capture_activations(model, x, ['fc']) where a later module's forward raises"
    error = errors.raised(lambda: impl.capture_activations(model, torch.randn(2, 4), ["fc"]))
    checks.check(error is not None, f"{call} returned normally; expected the forward's error to propagate.")
    _no_hooks_left(model, call)


@pytest.mark.kata("gradient_flow")
@pytest.mark.points(1)
def test_gradient_flow_names_and_floats(impl):
    model = _small_net()
    x = torch.randn(3, 4)
    twin = copy.deepcopy(model)
    call = "gradient_flow(model, loss)"
    flow = checks.call(call, impl.gradient_flow, model, model(x).pow(2).mean())
    names, params = zip(*twin.named_parameters(), strict=True)  # the expected norms come after the call
    grads = torch.autograd.grad(twin(x).pow(2).mean(), params)
    expected = {name: grad.norm().item() for name, grad in zip(names, grads, strict=True)}
    checks.check(
        isinstance(flow, dict) and sorted(flow) == sorted(names),
        f"{call} returned {checks.describe(flow)}; expected one entry per parameter name: {list(names)}.",
    )
    for name, want in expected.items():
        checks.check(
            isinstance(flow[name], float) and math.isclose(flow[name], want, rel_tol=1e-5, abs_tol=1e-7),
            f"{call}[{name!r}] is {flow[name]!r}; expected the float {want:.6g}, the L2 norm of that parameter's "
            "gradient.",
        )


@pytest.mark.kata("NaNGuard")
@pytest.mark.points(1)
def test_nan_guard_names_the_offender(impl):
    model = nn.Sequential(OrderedDict(fc=nn.Linear(4, 4), bad_sqrt=SqrtOfNegative(), out=nn.Linear(4, 2)))
    guard = checks.call("NaNGuard(model)", impl.NaNGuard, model)
    error = None
    try:
        with guard:
            model(torch.randn(2, 4))
    except NotImplementedError:
        raise
    except Exception as caught:  # noqa: BLE001 - the kind of error is what we check
        error = caught
    checks.check(
        isinstance(error, RuntimeError) and "bad_sqrt" in str(error),
        f"with NaNGuard(model): model(x), where module 'bad_sqrt' outputs NaN, raised {error!r}; expected a "
        "RuntimeError whose message names 'bad_sqrt'.",
    )
    _no_hooks_left(model, "leaving NaNGuard(model)")


@pytest.mark.kata("NaNGuard")
@pytest.mark.points(1)
def test_nan_guard_catches_inf(impl):
    model = nn.Sequential(OrderedDict(fc=nn.Linear(4, 4), overflow=Overflow(), out=nn.Linear(4, 2)))
    guard = checks.call("NaNGuard(model)", impl.NaNGuard, model)

    def run() -> None:
        with guard:
            model(torch.randn(2, 4))

    error = errors.raised(run)
    checks.check(
        isinstance(error, RuntimeError) and "overflow" in str(error),
        f"with NaNGuard(model): model(x), where module 'overflow' outputs Inf, raised {error!r}; expected a "
        "RuntimeError whose message names 'overflow'.",
        "Test torch.isfinite(output).all(): torch.isnan misses +-Inf.",
    )
    _no_hooks_left(model, "leaving NaNGuard(model)")


@pytest.mark.kata("shape_trace")
@pytest.mark.points(1)
def test_shape_trace_of_a_sequential(impl):
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    call = "shape_trace(Sequential(Linear(4, 8), ReLU(), Linear(8, 2)), x) with x of shape (3, 4)"
    trace = checks.call(call, impl.shape_trace, model, torch.randn(3, 4))
    expected = [("0", "Linear", (3, 8)), ("1", "ReLU", (3, 8)), ("2", "Linear", (3, 2))]
    checks.check(
        isinstance(trace, list) and [tuple(entry) for entry in trace] == expected,
        f"{call} returned {trace!r}; expected {expected}.",
        "One (name, class name, output shape) per leaf module call; the Sequential itself is a container.",
    )
    _no_hooks_left(model, call)


@pytest.mark.kata("clamp_grad_")
@pytest.mark.points(1)
def test_clamp_grad_clamps(impl):
    param = nn.Parameter(torch.randn(6))
    weight = torch.tensor([3.0, -2.0, 0.2, -0.1, 0.7, -0.6])
    handle = checks.call("clamp_grad_(param, 0.5)", impl.clamp_grad_, param, 0.5)
    checks.check(
        callable(getattr(handle, "remove", None)),
        f"clamp_grad_(param, 0.5) returned {checks.describe(handle)}; expected the hook's handle (it has .remove()).",
    )
    (param * weight).sum().backward()
    checks.close(
        param.grad, weight.clamp(-0.5, 0.5),
        "param.grad after clamp_grad_(param, 0.5) and (param * w).sum().backward()",
        "The hook returns grad.clamp(-limit, limit).",
    )
