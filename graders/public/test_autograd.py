"""Public checks for chapter 02, autograd: derivatives against closed forms, gradcheck, accumulation, SGD.

The hidden checks add more functions and dtypes, torch.no_grad() callers, second-order gradcheck,
unequal micro-batches and the in-place rules.
"""

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
    checks.check(
        x.grad is None and not x.requires_grad,
        f"after {call}, x has requires_grad={x.requires_grad} and .grad {checks.describe(x.grad)}; "
        "expected x left as it was (no grad, no .grad).",
        "Differentiate a fresh leaf, x.detach().requires_grad_(), with torch.autograd.grad: it writes no .grad.",
    )


@pytest.mark.kata("second_derivative")
@pytest.mark.points(1)
def test_second_derivative_of_a_cube(impl):
    x = torch.randn(4)
    call = "second_derivative(lambda t: t ** 3, x) with x of shape (4,)"
    out = checks.call(call, impl.second_derivative, lambda t: t**3, x)
    checks.shape(out, (4,), call, "One second derivative per entry of x.")
    checks.close(out, 6 * x, call, "d2/dt2 t^3 = 6t: the first gradient needs create_graph=True.", rtol=1e-5)


@pytest.mark.kata("jacobian")
@pytest.mark.points(1)
def test_jacobian_shape(impl, monkeypatch):
    _without_helpers(monkeypatch)
    A = torch.randn(2, 3)
    call = "jacobian(lambda t: A @ t, x) with A of shape (2, 3) and x of shape (3,)"
    out = checks.call(call, impl.jacobian, lambda t: A @ t, torch.randn(3))
    checks.shape(out, (2, 3), call, "The Jacobian of f: R^n -> R^m has shape (m, n): one row per output.")
    checks.close(out, A, call, "The Jacobian of t -> A @ t is A: row i is the gradient of output i.")


@pytest.mark.kata("hessian")
@pytest.mark.points(1)
def test_hessian_shape(impl, monkeypatch):
    _without_helpers(monkeypatch)
    call = "hessian(lambda t: (t ** 3).sum(), x) with x of shape (3,)"
    x = torch.randn(3)
    out = checks.call(call, impl.hessian, lambda t: (t**3).sum(), x)
    checks.shape(out, (3, 3), call, "The Hessian of a scalar function of n inputs is (n, n).")
    checks.close(out, torch.diag(6 * x), call, "The Hessian of sum(t^3) is diag(6t).", rtol=1e-5)


def _is_function(cls: object) -> bool:
    return isinstance(cls, type) and issubclass(cls, torch.autograd.Function)


@pytest.mark.kata("Square")
@pytest.mark.points(1)
def test_square_forward(impl):
    x = torch.tensor([-1.5, 0.0, 2.0])
    out = checks.call("Square.apply(x)", impl.Square.apply, x)
    checks.close(out, x * x, "Square.apply(x) with x = [-1.5, 0, 2]")
    checks.check(_is_function(impl.Square), "Square must be a subclass of torch.autograd.Function.")


@pytest.mark.kata("Square")
@pytest.mark.points(1)
def test_square_gradcheck(impl):
    x = torch.tensor([-1.5, 0.3, 2.0], dtype=torch.float64, requires_grad=True)
    checks.check(_is_function(impl.Square), "Square must be a subclass of torch.autograd.Function.")
    checks.gradcheck(
        impl.Square.apply, (x,), "Square.apply on float64 x = [-1.5, 0.3, 2]",
        "d(x^2)/dx = 2x: backward returns grad_output * 2 * x.",
    )


@pytest.mark.kata("Swish")
@pytest.mark.points(1)
def test_swish_forward(impl):
    x = torch.tensor([-2.0, 0.0, 1.0])
    out = checks.call("Swish.apply(x)", impl.Swish.apply, x)
    checks.close(out, x / (1 + torch.exp(-x)), "Swish.apply(x) with x = [-2, 0, 1]", "Swish is x * sigmoid(x).")
    checks.check(_is_function(impl.Swish), "Swish must be a subclass of torch.autograd.Function.")


@pytest.mark.kata("Swish")
@pytest.mark.points(1)
def test_swish_gradcheck(impl):
    x = torch.tensor([-3.0, -0.5, 0.0, 1.2, 4.0], dtype=torch.float64, requires_grad=True)
    checks.check(_is_function(impl.Swish), "Swish must be a subclass of torch.autograd.Function.")
    checks.gradcheck(
        impl.Swish.apply, (x,), "Swish.apply on float64 x = [-3, -0.5, 0, 1.2, 4]",
        "Product rule with s = sigmoid(x): d/dx [x s] = s + x s (1 - s); both terms.",
    )


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


@pytest.mark.kata("StraightThroughRound")
@pytest.mark.points(1)
def test_straight_through_round_passes_the_gradient_through(impl):
    x = torch.tensor([-1.7, -0.2, 0.4, 2.6], requires_grad=True)
    upstream = torch.tensor([1.0, -2.0, 0.5, 3.0])
    call = "StraightThroughRound.apply(x).backward(g) with g = [1, -2, 0.5, 3]"
    out = checks.call("StraightThroughRound.apply(x)", impl.StraightThroughRound.apply, x)
    checks.check(
        isinstance(out, torch.Tensor) and out.requires_grad,
        f"StraightThroughRound.apply(x) with x requiring grad returned {checks.describe(out)} without a graph.",
    )
    checks.call(call, out.backward, upstream)
    checks.close(x.grad, upstream, f"x.grad after {call}", "The backward is the identity: return grad_output.")


@pytest.mark.kata("accumulated_grads")
@pytest.mark.points(1)
def test_accumulated_grads_keys_and_shapes(impl):
    model = nn.Linear(3, 2)
    x, y = torch.randn(4, 3), torch.randn(4, 2)
    call = "accumulated_grads(nn.Linear(3, 2), nn.MSELoss(), x, y, 2)"
    grads = checks.call(call, impl.accumulated_grads, model, nn.MSELoss(), x, y, 2)
    checks.check(isinstance(grads, dict), f"{call} returned {checks.describe(grads)}; expected a dict.")
    checks.equal(sorted(grads), ["bias", "weight"], f"the keys of {call}", "Key the gradients by parameter name.")
    twin = nn.Linear(3, 2)
    twin.load_state_dict(model.state_dict())
    nn.MSELoss()(twin(x), y).backward()
    for name, p in twin.named_parameters():
        checks.close(
            grads[name], p.grad, f"{call}[{name!r}]",
            "Expected the full-batch gradient: scale each micro-batch's mean loss by its share of the batch, "
            "len(x_part) / len(x), before backward().", rtol=1e-5, atol=1e-6,
        )


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
    left = None if w.grad is None else w.grad.tolist()
    checks.check(
        left is None or not any(left),
        f"after sgd_step_([w], lr=0.1), w.grad is {left}; expected it zeroed (or None).",
        "Zero each gradient after the update (p.grad.zero_() or p.grad = None): backward() adds onto .grad.",
    )
