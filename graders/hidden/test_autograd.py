"""Hidden checks for chapter 02, autograd: derivatives against closed forms, gradcheck, in-place rules."""

import copy
import math
import types

import pytest
import torch
import torch._functorch.eager_transforms
import torch.autograd.functional
import torch.func
from torch import nn

from torchkata import checks
from torchkata.graderkit import forbid, offlimits

# Ready-made derivative helpers that the jacobian and hessian katas must not call
# (torch.func's are defined in torch._functorch.eager_transforms, reachable under both names).
FORBIDDEN_HELPERS = (
    forbid.every([torch.autograd.functional], ("jacobian", "hessian", "vjp", "jvp", "hvp", "vhp"))
    + forbid.every([torch.func], ("jacrev", "jacfwd", "hessian"))
    + [(torch._functorch.eager_transforms, name, f"torch.func.{name}") for name in ("jacrev", "jacfwd", "hessian")]
)


def _forbid_helpers(monkeypatch: pytest.MonkeyPatch, impl) -> None:
    """Make every helper in FORBIDDEN_HELPERS raise, also where the chapter module imported it by name, and by
    its code, so that a reference kept anywhere else (a default argument, a closure) refuses too."""
    message = "{name} is switched off in this kata: build it with torch.autograd.grad"
    helpers = [getattr(owner, name) for owner, name, *_ in FORBIDDEN_HELPERS]
    offlimits.switch_off_code(monkeypatch, [h for h in helpers if isinstance(h, types.FunctionType)], message)
    forbid.switch_off(monkeypatch, FORBIDDEN_HELPERS, message, aliases_in=impl)


def _sentinel_leaf(shape: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """A leaf that requires grad and already holds a .grad (a sentinel the kata must not touch)."""
    x = torch.randn(shape, requires_grad=True)
    x.grad = torch.full(shape, 7.0)
    return x, x.grad


# --- grad --------------------------------------------------------------------------------------------


@pytest.mark.kata("grad")
@pytest.mark.points(2)
def test_grad_matches_closed_forms(impl):
    w = torch.randn(2, 3)
    cases = [
        ("lambda t: (t ** 3).sum() + t.sin().sum()", lambda t: (t**3).sum() + t.sin().sum(),
         torch.randn(5), lambda x: 3 * x**2 + x.cos()),
        ("lambda t: (t * w).sum() ** 2 with w of shape (2, 3)", lambda t: (t * w).sum() ** 2,
         torch.randn(2, 3), lambda x: 2 * (x * w).sum() * w),
        ("lambda t: t.exp().sum().log()", lambda t: t.exp().sum().log(),
         torch.randn(4), lambda x: x.exp() / x.exp().sum()),
    ]
    for text, f, x, derivative in cases:
        call = f"grad({text}, x) with x of shape {checks.shape_text(x.shape)}"
        out = checks.call(call, impl.grad, f, x)
        checks.close(out, derivative(x), call, "The gradient has the shape of x, entry i being df/dx_i.",
                     rtol=1e-4, atol=1e-5)


@pytest.mark.kata("grad")
@pytest.mark.points(2)
def test_grad_leaves_x_grad_untouched(impl):
    x, sentinel = _sentinel_leaf((4,))
    call = "grad(lambda t: (t ** 2).sum(), x) with x.requires_grad and x.grad already set to 7s"
    out = checks.call(call, impl.grad, lambda t: (t**2).sum(), x)
    checks.close(out, 2 * x.detach(), call, "Return df/dx itself, not df/dx added onto the old x.grad.")
    checks.check(
        x.grad is sentinel and bool((sentinel == 7).all()),
        f"after {call}, x.grad is {checks.describe(x.grad)} holding {x.grad.tolist() if x.grad is not None else None}; "
        "expected the same tensor, still all 7s.",
        "output.backward() writes into x.grad; torch.autograd.grad(output, leaf) returns the gradient instead.",
    )
    plain = torch.randn(3)
    checks.call("grad(lambda t: t.sum(), x) with a plain x", impl.grad, lambda t: t.sum(), plain)
    checks.check(
        not plain.requires_grad and plain.grad is None,
        "grad(lambda t: t.sum(), x) with a plain x (requires_grad=False) changed x: it now has "
        f"requires_grad={plain.requires_grad}, grad={checks.describe(plain.grad)}.",
        "Differentiate a fresh leaf, x.detach().requires_grad_(), not the caller's tensor.",
    )


# --- second_derivative -------------------------------------------------------------------------------


@pytest.mark.kata("second_derivative")
@pytest.mark.points(2)
def test_second_derivative_matches_closed_forms(impl):
    cases = [
        ("lambda t: t ** 3", lambda t: t**3, torch.randn(5), lambda x: 6 * x),
        ("torch.sin", torch.sin, torch.randn(2, 3), lambda x: -x.sin()),
        ("lambda t: t * t.exp()", lambda t: t * t.exp(), torch.randn(4), lambda x: (x + 2) * x.exp()),
        ("lambda t: t ** 2", lambda t: t**2, torch.randn(3), lambda x: torch.full_like(x, 2.0)),
    ]
    for text, f, x, derivative in cases:
        call = f"second_derivative({text}, x) with x of shape {checks.shape_text(x.shape)}"
        out = checks.call(call, impl.second_derivative, f, x)
        checks.close(
            out, derivative(x), call,
            "Differentiate twice: the first torch.autograd.grad needs create_graph=True, and the second "
            "differentiates that first derivative, not f again.",
            rtol=1e-4, atol=1e-5,
        )


# --- jacobian ----------------------------------------------------------------------------------------


@pytest.mark.kata("jacobian")
@pytest.mark.points(2)
def test_jacobian_matches_closed_forms(impl, monkeypatch):
    _forbid_helpers(monkeypatch, impl)
    A = torch.randn(4, 3)
    c = torch.randn(5)
    cases = [
        ("lambda t: A @ t.tanh() with A of shape (4, 3)", lambda t: A @ t.tanh(),
         torch.randn(3), lambda x: A * (1 - x.tanh() ** 2)),
        ("lambda t: c * t ** 2 with c of shape (5,)", lambda t: c * t**2,
         torch.randn(5), lambda x: torch.diag(2 * c * x)),
        ("lambda t: torch.stack([t.sum(), (t * t).sum()])", lambda t: torch.stack([t.sum(), (t * t).sum()]),
         torch.randn(6), lambda x: torch.stack([torch.ones_like(x), 2 * x])),
    ]
    for text, f, x, expected in cases:
        call = f"jacobian({text}, x) with x of shape {checks.shape_text(x.shape)}"
        out = checks.call(call, impl.jacobian, f, x)
        checks.close(
            out, expected(x), call,
            "Row i is the gradient of output i (shape (m, n)); reuse the graph with retain_graph=True and "
            "do not let gradients from earlier rows add up.",
            rtol=1e-4, atol=1e-5,
        )


@pytest.mark.kata("jacobian")
@pytest.mark.points(1)
def test_jacobian_of_a_linear_map_is_its_matrix(impl, monkeypatch):
    _forbid_helpers(monkeypatch, impl)
    A = torch.randn(2, 7)
    call = "jacobian(lambda t: A @ t, x) with A of shape (2, 7)"
    out = checks.call(call, impl.jacobian, lambda t: A @ t, torch.randn(7))
    checks.close(out, A, call, "For f(x) = A x the Jacobian is A itself, not its transpose.", rtol=1e-5, atol=1e-6)


# --- hessian -----------------------------------------------------------------------------------------


@pytest.mark.kata("hessian")
@pytest.mark.points(2)
def test_hessian_matches_closed_forms(impl, monkeypatch):
    _forbid_helpers(monkeypatch, impl)
    Q = torch.randn(4, 4)
    a = torch.randn(3)
    cases = [
        ("lambda t: 0.5 * t @ Q @ t + t.sin().sum() with Q of shape (4, 4)",
         lambda t: 0.5 * t @ Q @ t + t.sin().sum(),
         torch.randn(4), lambda x: (Q + Q.T) / 2 - torch.diag(x.sin())),
        ("lambda t: (a @ t) ** 3 with a of shape (3,)", lambda t: (a @ t) ** 3,
         torch.randn(3), lambda x: 6 * (a @ x) * torch.outer(a, a)),
        ("lambda t: (t ** 4).sum()", lambda t: (t**4).sum(),
         torch.randn(5), lambda x: torch.diag(12 * x**2)),
    ]
    for text, f, x, expected in cases:
        call = f"hessian({text}, x) with x of shape {checks.shape_text(x.shape)}"
        out = checks.call(call, impl.hessian, f, x)
        checks.close(
            out, expected(x), call,
            "H[i, j] = d2f / dx_i dx_j: differentiate every entry of the gradient (taken with "
            "create_graph=True), not only its sum or its diagonal.",
            rtol=1e-4, atol=1e-4,
        )


@pytest.mark.kata("hessian")
@pytest.mark.points(1)
def test_hessian_of_a_quadratic_form(impl, monkeypatch):
    _forbid_helpers(monkeypatch, impl)
    M = torch.randn(3, 3)
    S = M @ M.T
    call = "hessian(lambda t: t @ S @ t, x) with a symmetric S of shape (3, 3)"
    out = checks.call(call, impl.hessian, lambda t: t @ S @ t, torch.randn(3))
    checks.close(out, 2 * S, call, "The Hessian of x^T S x is 2 S for a symmetric S.", rtol=1e-4, atol=1e-4)


# --- custom Functions --------------------------------------------------------------------------------


def _require_function(cls: object, name: str) -> None:
    checks.check(
        isinstance(cls, type) and issubclass(cls, torch.autograd.Function),
        f"{name} is {checks.describe(cls)}; expected a subclass of torch.autograd.Function.",
        f"class {name}(torch.autograd.Function) with static forward(ctx, x) and backward(ctx, grad_output).",
    )


def _count_backward_calls(monkeypatch: pytest.MonkeyPatch, cls: type) -> list[int]:
    """Wrap the Function's hand-written backward (or vjp) so that each call is recorded."""
    base = torch.autograd.Function
    name = "backward" if cls.backward is not base.backward or cls.vjp is base.vjp else "vjp"
    original = getattr(cls, name)
    calls: list[int] = []

    def recorded(ctx, *grad_outputs):
        calls.append(1)
        return original(ctx, *grad_outputs)

    monkeypatch.setattr(cls, name, staticmethod(recorded))
    return calls


def _check_hand_written_backward(monkeypatch, cls: type, name: str, x: torch.Tensor) -> torch.Tensor:
    """Run cls.apply(x).sum().backward() and check that cls's own backward ran; returns x.grad."""
    _require_function(cls, name)
    calls = _count_backward_calls(monkeypatch, cls)
    leaf = x.detach().clone().requires_grad_(True)
    out = checks.call(f"{name}.apply(x)", cls.apply, leaf)
    checks.check(
        isinstance(out, torch.Tensor) and out.requires_grad,
        f"{name}.apply(x) with x.requires_grad returned {checks.describe(out)} that does not require grad; "
        "expected an output connected to the graph.",
    )
    checks.call(f"{name}.apply(x).sum().backward()", out.sum().backward)
    checks.check(
        calls, f"{name}.apply(x).sum().backward() never called {name}.backward; expected the hand-written "
        "backward to compute the gradient.",
    )
    return leaf.grad


def _float64_input(n: int, low: float = -3.0, high: float = 3.0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(11)
    x = torch.rand(n, dtype=torch.float64, generator=generator) * (high - low) + low
    return x.requires_grad_(True)


def _check_forward_leaves_input(cls: type, name: str, expected: torch.Tensor, x: torch.Tensor, hint: str) -> None:
    before = x.clone()
    call = f"{name}.apply(x) with x of shape {checks.shape_text(x.shape)}"
    out = checks.call(call, cls.apply, x)
    checks.close(out, expected, call, hint, rtol=1e-5, atol=1e-6)
    checks.close(x, before, f"x after {call}", "forward returns a new tensor and leaves x unchanged (no in-place ops).")


@pytest.mark.kata("Square")
@pytest.mark.points(1)
def test_square_forward_values(impl):
    _require_function(impl.Square, "Square")
    x = torch.randn(3, 4)
    _check_forward_leaves_input(impl.Square, "Square", x * x, x, "Square computes x * x elementwise.")


@pytest.mark.kata("Square")
@pytest.mark.points(2)
def test_square_gradcheck(impl, monkeypatch):
    x = _float64_input(6)
    grad = _check_hand_written_backward(monkeypatch, impl.Square, "Square", x)
    checks.close(grad, 2 * x.detach(), "x.grad after Square.apply(x).sum().backward()",
                 "d(x^2)/dx = 2x: is the factor 2 missing?", rtol=1e-7, atol=1e-9)
    checks.gradcheck(impl.Square.apply, (x,), "Square.apply on float64 x",
                     "backward must return grad_output * 2 * x.")


@pytest.mark.kata("Square")
@pytest.mark.points(1)
def test_square_gradgradcheck(impl):
    _require_function(impl.Square, "Square")
    checks.gradcheck(
        impl.Square.apply, (_float64_input(5),), "Square.apply on float64 x",
        "Compute backward from the saved input with torch operations (no .detach(), no torch.no_grad()), "
        "so that it can be differentiated again.",
        second_order=True,
    )


def _swish_derivative(x: torch.Tensor) -> torch.Tensor:
    s = 1 / (1 + torch.exp(-x))
    return s + x * s * (1 - s)


@pytest.mark.kata("Swish")
@pytest.mark.points(1)
def test_swish_forward_values(impl):
    _require_function(impl.Swish, "Swish")
    x = torch.randn(2, 5) * 3
    _check_forward_leaves_input(impl.Swish, "Swish", x / (1 + torch.exp(-x)), x, "Swish is x * sigmoid(x).")


@pytest.mark.kata("Swish")
@pytest.mark.points(2)
def test_swish_gradcheck(impl, monkeypatch):
    x = _float64_input(7, -6.0, 6.0)
    grad = _check_hand_written_backward(monkeypatch, impl.Swish, "Swish", x)
    checks.close(
        grad, _swish_derivative(x.detach()), "x.grad after Swish.apply(x).sum().backward()",
        "d/dx [x sigmoid(x)] = s + x s (1 - s) with s = sigmoid(x): both terms of the product rule.",
        rtol=1e-7, atol=1e-9,
    )
    checks.gradcheck(impl.Swish.apply, (x,), "Swish.apply on float64 x",
                     "backward must multiply grad_output by s + x * s * (1 - s).")


@pytest.mark.kata("StraightThroughRound")
@pytest.mark.points(1)
def test_straight_through_round_forward_values(impl):
    _require_function(impl.StraightThroughRound, "StraightThroughRound")
    # Offsets of +-0.3 keep every value away from .5 ties, where rounding conventions differ.
    x = torch.randint(-5, 6, (12,)).float() + torch.tensor([0.3, -0.3]).repeat(6)
    expected = torch.tensor([float(math.floor(v + 0.5)) for v in x.tolist()])
    _check_forward_leaves_input(impl.StraightThroughRound, "StraightThroughRound", expected, x,
                                "The forward pass is torch.round(x).")


@pytest.mark.kata("StraightThroughRound")
@pytest.mark.points(2)
def test_straight_through_round_backward_is_identity(impl, monkeypatch):
    x = torch.randn(6, dtype=torch.float64) * 3
    grad = _check_hand_written_backward(monkeypatch, impl.StraightThroughRound, "StraightThroughRound", x)
    hint = "A straight-through estimator passes grad_output through unchanged (the identity)."
    checks.close(grad, torch.ones_like(x), "x.grad after StraightThroughRound.apply(x).sum().backward()", hint)
    weights = torch.randn(6, dtype=torch.float64)
    leaf = x.clone().requires_grad_(True)
    out = checks.call("StraightThroughRound.apply(x)", impl.StraightThroughRound.apply, leaf)
    call = "x.grad after (StraightThroughRound.apply(x) * w).sum().backward()"
    checks.call(call, (out * weights).sum().backward)
    checks.close(leaf.grad, weights, call, hint)


# --- accumulated_grads -------------------------------------------------------------------------------


def _small_model() -> nn.Module:
    return nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 2))


def _full_batch_gradient(model: nn.Module, loss_fn, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
    """The reference: one backward pass over the whole batch, computed on a private copy of the model."""
    twin = copy.deepcopy(model)
    names, params = zip(*[(n, p) for n, p in twin.named_parameters() if p.requires_grad], strict=True)
    grads = torch.autograd.grad(loss_fn(twin(x), y), params)
    return dict(zip(names, grads, strict=True))


def _check_gradients(got: object, expected: dict[str, torch.Tensor], call: str, setting: str, hint: str) -> None:
    checks.check(isinstance(got, dict), f"{call} {setting} returned {checks.describe(got)}; expected a dict.")
    checks.equal(sorted(got), sorted(expected), f"the keys of {call}", "One entry per named parameter.")
    for name, want in expected.items():
        checks.close(got[name], want, f"{call}[{name!r}] {setting}", hint, rtol=1e-4, atol=1e-6)


def _regression_batch(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.randn(n, 3), torch.randn(n, 2)


@pytest.mark.kata("accumulated_grads")
@pytest.mark.points(2)
def test_accumulated_grads_equal_full_batch(impl):
    cases = [
        (nn.MSELoss(), "nn.MSELoss()", *_regression_batch(8), 4),
        (nn.MSELoss(), "nn.MSELoss()", *_regression_batch(6), 3),
        (nn.CrossEntropyLoss(), "nn.CrossEntropyLoss()", torch.randn(12, 3), torch.randint(0, 2, (12,)), 2),
        (nn.L1Loss(), "nn.L1Loss()", *_regression_batch(5), 5),
    ]
    for loss_fn, loss_text, x, y, k in cases:
        model = _small_model()
        reference = copy.deepcopy(model)
        call = f"accumulated_grads(model, {loss_text}, x, y, {k})"
        grads = checks.call(call, impl.accumulated_grads, model, loss_fn, x, y, k)
        expected = _full_batch_gradient(reference, loss_fn, x, y)  # after the call: not in a frame it can read
        _check_gradients(
            grads, expected, call, f"with {len(x)} samples",
            "The losses are means over their micro-batch: scale each micro-batch loss by 1 / micro_batches "
            "before backward(), and return the sum accumulated over all of them.",
        )


@pytest.mark.kata("accumulated_grads")
@pytest.mark.points(1)
def test_accumulated_grads_ignore_stale_gradients(impl):
    model = _small_model()
    x, y = _regression_batch(8)
    reference = copy.deepcopy(model)
    for p in model.parameters():
        p.grad = torch.full_like(p, 3.0)
    call = "accumulated_grads(model, nn.MSELoss(), x, y, 4)"
    grads = checks.call(call, impl.accumulated_grads, model, nn.MSELoss(), x, y, 4)
    expected = _full_batch_gradient(reference, nn.MSELoss(), x, y)  # after the call: not in a frame it can read
    _check_gradients(grads, expected, call, "on a model whose .grad already held 3s",
                     "Clear old gradients first (model.zero_grad()): backward() adds onto .grad.")


@pytest.mark.kata("accumulated_grads")
@pytest.mark.points(1)
def test_accumulated_grads_run_micro_batches(impl):
    model = _small_model()
    sizes: list[int] = []
    model.register_forward_pre_hook(lambda module, args: sizes.append(len(args[0])))
    x, y = _regression_batch(12)
    call = "accumulated_grads(model, nn.MSELoss(), x, y, 4) with 12 samples"
    checks.call(call, impl.accumulated_grads, model, nn.MSELoss(), x, y, 4)
    checks.equal(
        sizes, [3, 3, 3, 3], f"the batch sizes the model saw during {call}",
        "Run the model once per micro-batch of 12 / 4 = 3 samples (torch.tensor_split or torch.chunk).",
    )


# --- sgd_step_ ---------------------------------------------------------------------------------------


def _model_with_gradients() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 1))
    x, y = torch.randn(6, 4), torch.randn(6, 1)
    nn.functional.mse_loss(model(x), y).backward()
    return model, x, y


def _grads_are_cleared(params: list[torch.Tensor]) -> bool:
    return all(p.grad is None or not bool(p.grad.any()) for p in params)


@pytest.mark.kata("sgd_step_")
@pytest.mark.points(2)
def test_sgd_step_moves_against_the_gradient(impl):
    for lr in (0.05, 0.3):
        model, _, _ = _model_with_gradients()
        expected = [(p - lr * p.grad).detach() for p in model.parameters()]
        call = f"sgd_step_(list(model.parameters()), lr={lr})"
        checks.call(call, impl.sgd_step_, list(model.parameters()), lr)
        for (name, p), want in zip(model.named_parameters(), expected, strict=True):
            checks.close(p.detach(), want, f"parameter {name!r} after {call}",
                         "Each parameter moves by -lr times its gradient: p - lr * p.grad.")


@pytest.mark.kata("sgd_step_")
@pytest.mark.points(2)
def test_sgd_step_updates_in_place(impl):
    model, _, _ = _model_with_gradients()
    params = list(model.parameters())
    aliases = [p.detach() for p in params]
    expected = [(p - 0.1 * p.grad).detach() for p in params]
    call = "sgd_step_(params, lr=0.1)"
    checks.call(call, impl.sgd_step_, params, 0.1)
    checks.same_objects(params, list(model.parameters()), call)
    for p, alias, want in zip(params, aliases, expected, strict=True):
        checks.close(
            alias, want, f"a view of a parameter taken before {call}",
            "Update the tensors in place (p.sub_(...) or p.add_(...) under torch.no_grad()); assigning "
            "p.data = ... or a new tensor leaves everyone else holding the old values.",
        )
        checks.check(
            p.is_leaf and p.requires_grad and p.grad_fn is None,
            f"after {call} a parameter is no longer a leaf that requires grad; expected the update to "
            "happen outside autograd.",
            "Wrap the update in torch.no_grad().",
        )


@pytest.mark.kata("sgd_step_")
@pytest.mark.points(2)
def test_sgd_step_clears_gradients(impl):
    model, x, y = _model_with_gradients()
    params = list(model.parameters())
    call = "sgd_step_(params, lr=0.1)"
    checks.call(call, impl.sgd_step_, params, 0.1)
    checks.check(
        _grads_are_cleared(params),
        f"after {call} some parameters still hold their gradient; expected every .grad zeroed (or None).",
        "Zero the gradients after the update (p.grad.zero_() or p.grad = None), else the next backward "
        "adds onto them.",
    )
    expected = torch.autograd.grad(nn.functional.mse_loss(model(x), y), params)
    nn.functional.mse_loss(model(x), y).backward()
    for (name, p), want in zip(model.named_parameters(), expected, strict=True):
        checks.close(p.grad, want, f"{name}.grad after {call} and one more backward()",
                     "The next backward must start from zero gradients.", rtol=1e-5, atol=1e-7)


@pytest.mark.kata("sgd_step_")
@pytest.mark.points(1)
def test_sgd_step_accepts_a_generator_and_skips_missing_grads(impl):
    model, _, _ = _model_with_gradients()
    extra = nn.Parameter(torch.randn(3))
    model.register_parameter("unused", extra)
    before_extra = extra.detach().clone()
    expected = {name: (p - 0.2 * p.grad).detach() for name, p in model.named_parameters() if p.grad is not None}
    call = "sgd_step_(model.parameters(), lr=0.2) with one parameter whose .grad is None"
    checks.call(call, impl.sgd_step_, model.parameters(), 0.2)
    for name, p in model.named_parameters():
        want = expected.get(name, before_extra)
        checks.close(p.detach(), want, f"parameter {name!r} after {call}",
                     "params may be a one-shot generator: go over it once (or list() it first); skip "
                     "parameters whose .grad is None.")
    checks.check(
        _grads_are_cleared(list(model.parameters())),
        f"after {call} some gradients were not cleared; expected every .grad zeroed (or None).",
        "With a generator, a second loop over params sees nothing: list(params) first.",
    )
