"""Public checks for chapter 02, autograd: shapes, types and one simple value per kata."""

import pytest
import torch
import torch.autograd.functional
import torch.func
from torch import nn

from torchkata import checks
from torchkata.graderkit import offlimits

# The jacobian and hessian katas are built with torch.autograd.grad: torch's ready-made versions refuse,
# under any name (their code is switched off, not just the attribute).
HELPERS = [
    *(getattr(torch.autograd.functional, name) for name in ("jacobian", "hessian", "vjp", "jvp", "hvp", "vhp")),
    *(getattr(torch.func, name) for name in ("jacrev", "jacfwd", "hessian")),
]


def _without_helpers(monkeypatch: pytest.MonkeyPatch) -> None:
    message = "{name} is switched off in this kata: build it with torch.autograd.grad"
    offlimits.switch_off_code(monkeypatch, HELPERS, message)


@pytest.mark.kata("grad")
@pytest.mark.points(1)
def test_grad_of_sum_of_squares(impl):
    x = torch.tensor([1.0, -2.0, 3.0])
    call = "grad(lambda t: (t ** 2).sum(), x) with x = [1, -2, 3]"
    out = checks.call(call, impl.grad, lambda t: (t**2).sum(), x)
    checks.close(out, 2 * x, call, "d/dt sum(t^2) = 2t, with the shape of x.")


@pytest.mark.kata("second_derivative")
@pytest.mark.points(1)
def test_second_derivative_shape(impl):
    x = torch.randn(4)
    call = "second_derivative(lambda t: t ** 3, x) with x of shape (4,)"
    out = checks.call(call, impl.second_derivative, lambda t: t**3, x)
    checks.shape(out, (4,), call, "One second derivative per entry of x.")


@pytest.mark.kata("jacobian")
@pytest.mark.points(1)
def test_jacobian_shape(impl, monkeypatch):
    _without_helpers(monkeypatch)
    A = torch.randn(2, 3)
    call = "jacobian(lambda t: A @ t, x) with A of shape (2, 3) and x of shape (3,)"
    out = checks.call(call, impl.jacobian, lambda t: A @ t, torch.randn(3))
    checks.shape(out, (2, 3), call, "The Jacobian of f: R^n -> R^m has shape (m, n): one row per output.")


@pytest.mark.kata("hessian")
@pytest.mark.points(1)
def test_hessian_shape(impl, monkeypatch):
    _without_helpers(monkeypatch)
    call = "hessian(lambda t: (t ** 3).sum(), x) with x of shape (3,)"
    out = checks.call(call, impl.hessian, lambda t: (t**3).sum(), torch.randn(3))
    checks.shape(out, (3, 3), call, "The Hessian of a scalar function of n inputs is (n, n).")


def _is_function(cls: object) -> bool:
    return isinstance(cls, type) and issubclass(cls, torch.autograd.Function)


@pytest.mark.kata("Square")
@pytest.mark.points(1)
def test_square_forward(impl):
    x = torch.tensor([-1.5, 0.0, 2.0])
    out = checks.call("Square.apply(x)", impl.Square.apply, x)
    checks.close(out, x * x, "Square.apply(x) with x = [-1.5, 0, 2]")
    checks.check(_is_function(impl.Square), "Square must be a subclass of torch.autograd.Function.")


@pytest.mark.kata("Swish")
@pytest.mark.points(1)
def test_swish_forward(impl):
    x = torch.tensor([-2.0, 0.0, 1.0])
    out = checks.call("Swish.apply(x)", impl.Swish.apply, x)
    checks.close(out, x / (1 + torch.exp(-x)), "Swish.apply(x) with x = [-2, 0, 1]", "Swish is x * sigmoid(x).")
    checks.check(_is_function(impl.Swish), "Swish must be a subclass of torch.autograd.Function.")


@pytest.mark.kata("StraightThroughRound")
@pytest.mark.points(1)
def test_straight_through_round_forward(impl):
    x = torch.tensor([-1.7, -0.2, 0.4, 2.6])
    out = checks.call("StraightThroughRound.apply(x)", impl.StraightThroughRound.apply, x)
    checks.close(
        out, torch.tensor([-2.0, 0.0, 0.0, 3.0]), "StraightThroughRound.apply(x) with x = [-1.7, -0.2, 0.4, 2.6]",
        "The forward pass rounds to the nearest integer (torch.round).",
    )
    checks.check(
        _is_function(impl.StraightThroughRound),
        "StraightThroughRound must be a subclass of torch.autograd.Function.",
    )


@pytest.mark.kata("accumulated_grads")
@pytest.mark.points(1)
def test_accumulated_grads_keys_and_shapes(impl):
    model = nn.Linear(3, 2)
    x, y = torch.randn(4, 3), torch.randn(4, 2)
    call = "accumulated_grads(nn.Linear(3, 2), nn.MSELoss(), x, y, 2)"
    grads = checks.call(call, impl.accumulated_grads, model, nn.MSELoss(), x, y, 2)
    checks.check(isinstance(grads, dict), f"{call} returned {checks.describe(grads)}; expected a dict.")
    checks.equal(sorted(grads), ["bias", "weight"], f"the keys of {call}", "Key the gradients by parameter name.")
    for name, p in model.named_parameters():
        checks.shape(grads[name], p.shape, f"{call}[{name!r}]", "Each gradient has its parameter's shape.")


@pytest.mark.kata("sgd_step_")
@pytest.mark.points(1)
def test_sgd_step_updates_values(impl):
    w = torch.tensor([1.0, 2.0], requires_grad=True)
    w.grad = torch.tensor([0.5, -1.0])
    checks.call("sgd_step_([w], lr=0.1)", impl.sgd_step_, [w], 0.1)
    checks.close(
        w.detach(), torch.tensor([0.95, 2.1]),
        "w after sgd_step_([w], lr=0.1) with w = [1, 2] and w.grad = [0.5, -1]",
        "Step against the gradient: w - lr * w.grad.",
    )
