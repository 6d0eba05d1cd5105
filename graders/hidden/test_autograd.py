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
from torchkata.graderkit import differential, forbid, offlimits

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
            "The losses are means over their micro-batch: scale each micro-batch loss by its share of the "
            "batch, len(x_part) / len(x), before backward(), and return the sum accumulated over all of them.",
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


# --- differential: every observable against the reference's recorded outcomes on generated cases ---------------
#
# Functions, models and parameters are built inside each observation from plain case values (names below), so the
# recorded cases stay plain data. Upstream gradients are drawn from the case's seed before the kata runs.


def _fixed(shape: tuple[int, ...], dtype: torch.dtype, offset: float = 0.0) -> torch.Tensor:
    """Deterministic values that depend only on the shape (no RNG)."""
    n = math.prod(shape)
    return (torch.sin(torch.arange(n, dtype=torch.float64) * 1.3 + offset + n) * 0.8).reshape(shape).to(dtype)


# Tensors that require grad and are not x, made once (not inside f, which a style may transform with
# torch.func): an f using one returns a result that requires grad without depending on x, and its
# derivative in x is still zero.
_WEIGHT = {dtype: torch.tensor(0.7, dtype=dtype, requires_grad=True) for dtype in (torch.float32, torch.float64)}


SCALAR_FUNCTIONS = {
    # name -> f(t) returning a scalar; t of any shape
    "cubes and sines": lambda t: (t**3).sum() + t.sin().sum(),
    "weighted square": lambda t: (t * _fixed(tuple(t.shape), t.dtype)).sum() ** 2,
    "first entry times 3": lambda t: t.reshape(-1)[:1].sum() * 3,
    "constant": lambda t: torch.tensor(2.0, dtype=t.dtype),
    "detached square": lambda t: (t.detach() ** 2).sum(),
    "two values": lambda t: torch.stack([t.sum(), (t * t).sum()]),
    "no value": lambda t: t.reshape(-1)[:0],
    "a parameter, not x": lambda t: _WEIGHT[t.dtype] ** 2,
}

ELEMENTWISE_FUNCTIONS = {
    "cube": lambda t: t**3,
    "sin": torch.sin,
    "t exp(t)": lambda t: t * t.exp(),
    "square": lambda t: t**2,
    "linear": lambda t: 3 * t - 1,
    "constant": lambda t: torch.ones_like(t),
    "x times a parameter": lambda t: t * _WEIGHT[t.dtype],
    "a parameter, not x": lambda t: _WEIGHT[t.dtype] * torch.ones_like(t),
}

VECTOR_FUNCTIONS = {
    # name -> f(t, m): (n,) -> (m,)
    "affine": lambda t, m: _fixed((m, t.shape[0]), t.dtype) @ t + 1,
    "tanh": lambda t, m: _fixed((m, t.shape[0]), t.dtype, 0.5) @ t.tanh(),
    "squares": lambda t, m: (t**2).sum() * _fixed((m,), t.dtype) + t.sum(),
    "constant": lambda t, m: torch.ones(m, dtype=t.dtype),
    "partly constant": lambda t, m: torch.cat([_fixed((m - 1, t.shape[0]), t.dtype) @ t.sin(),
                                               torch.ones(1, dtype=t.dtype)]),
    "partly a parameter": lambda t, m: torch.cat([_fixed((m - 1, t.shape[0]), t.dtype) @ t.sin(),
                                                  _WEIGHT[t.dtype].reshape(1)]),
}

HESSIAN_FUNCTIONS = {
    "quadratic form and sines": lambda t: 0.5 * t @ _fixed((t.shape[0],) * 2, t.dtype) @ t + t.sin().sum(),
    "cube of a dot product": lambda t: (_fixed(tuple(t.shape), t.dtype) @ t) ** 3,
    "fourth powers": lambda t: (t**4).sum(),
    "linear": lambda t: _fixed(tuple(t.shape), t.dtype) @ t,
    "constant": lambda t: torch.tensor(1.5, dtype=t.dtype),
    "x times a parameter": lambda t: (t * _WEIGHT[t.dtype]).sum(),
    "a parameter, not x": lambda t: _WEIGHT[t.dtype] ** 2,
}


def _caller_tensor(x: torch.Tensor, leaf: bool) -> torch.Tensor:
    """x as the caller holds it: a plain tensor, or a leaf that requires grad and already holds a .grad."""
    if leaf:
        x = x.clone().requires_grad_(True)
        x.grad = torch.full_like(x, 7.0)
    return x


def _after(x: torch.Tensor) -> dict:
    return {"x after the call": x.detach(), "x.requires_grad after the call": x.requires_grad,
            "x.grad after the call": x.grad}


def _call(fn, *args, no_grad: bool):
    if no_grad:
        with torch.no_grad():
            return fn(*args)
    return fn(*args)


def _derivative_cases(st, functions, min_dims=1, max_dims=2, min_side=1):
    return st.fixed_dictionaries({
        "f": st.sampled_from(sorted(functions)),
        "x": st.sampled_from((torch.float32, torch.float64)).flatmap(
            lambda dtype: differential.tensors(st, dtype=dtype, low=-2, high=2, min_dims=min_dims,
                                               max_dims=max_dims, min_side=min_side)),
        "leaf": st.booleans(),
        "no_grad": st.booleans(),
    })


@differential.scenario(
    "grad",
    cases=lambda st: _derivative_cases(st, SCALAR_FUNCTIONS),
    edge=lambda: [
        {"f": "cubes and sines", "x": torch.tensor([0.5, -1.0], dtype=torch.float64), "leaf": True, "no_grad": True},
        {"f": "constant", "x": torch.ones(3), "leaf": False, "no_grad": False},
        {"f": "detached square", "x": torch.ones(2, 2, dtype=torch.float64), "leaf": True, "no_grad": False},
        {"f": "two values", "x": torch.ones(3), "leaf": False, "no_grad": False},
        {"f": "cubes and sines", "x": torch.arange(3), "leaf": False, "no_grad": False},
        {"f": "no value", "x": torch.ones(3), "leaf": False, "no_grad": False},
        {"f": "a parameter, not x", "x": torch.ones(2), "leaf": True, "no_grad": False},
    ],
    count=30,
    tolerances={torch.float32: (1e-4, 1e-4)},
)
def grad_outcome(impl, f, x, leaf, no_grad):
    x = _caller_tensor(x, leaf)
    out = _call(impl.grad, SCALAR_FUNCTIONS[f], x, no_grad=no_grad)
    return {"result": out, **_after(x)}


@differential.scenario(
    "second_derivative",
    cases=lambda st: _derivative_cases(st, ELEMENTWISE_FUNCTIONS),
    edge=lambda: [
        {"f": "linear", "x": torch.tensor([0.5, -1.0], dtype=torch.float64), "leaf": False, "no_grad": False},
        {"f": "constant", "x": torch.ones(3), "leaf": True, "no_grad": False},
        {"f": "cube", "x": torch.ones(2, 2, dtype=torch.float64), "leaf": True, "no_grad": True},
        {"f": "square", "x": torch.zeros(0, 2), "leaf": False, "no_grad": False},
        {"f": "x times a parameter", "x": torch.ones(3), "leaf": False, "no_grad": False},
        {"f": "a parameter, not x", "x": torch.ones(2, dtype=torch.float64), "leaf": False, "no_grad": False},
    ],
    count=30,
    tolerances={torch.float32: (1e-4, 1e-4)},
)
def second_derivative_outcome(impl, f, x, leaf, no_grad):
    x = _caller_tensor(x, leaf)
    out = _call(impl.second_derivative, ELEMENTWISE_FUNCTIONS[f], x, no_grad=no_grad)
    return {"result": out, **_after(x)}


@differential.scenario(
    "jacobian",
    cases=lambda st: st.fixed_dictionaries({
        "f": st.sampled_from(sorted(VECTOR_FUNCTIONS)), "m": st.integers(1, 4),
        "x": st.sampled_from((torch.float32, torch.float64)).flatmap(
            lambda dtype: differential.tensors(st, dtype=dtype, low=-2, high=2, min_dims=1, max_dims=1)),
        "leaf": st.booleans(), "no_grad": st.booleans()}),
    edge=lambda: [
        {"f": "affine", "m": 2, "x": torch.zeros(0, dtype=torch.float64), "leaf": False, "no_grad": False},
        {"f": "constant", "m": 3, "x": torch.ones(2), "leaf": True, "no_grad": False},
        {"f": "partly constant", "m": 2, "x": torch.ones(3, dtype=torch.float64), "leaf": False, "no_grad": True},
        {"f": "tanh", "m": 1, "x": torch.ones(1), "leaf": False, "no_grad": False},
        {"f": "affine", "m": 2, "x": torch.ones(2, 2), "leaf": False, "no_grad": False},
        {"f": "affine", "m": 2, "x": torch.arange(3), "leaf": False, "no_grad": False},
        {"f": "partly a parameter", "m": 2, "x": torch.ones(3), "leaf": False, "no_grad": False},
    ],
    count=30,
    tolerances={torch.float32: (1e-4, 1e-4)},
)
def jacobian_outcome(impl, f, m, x, leaf, no_grad):
    x = _caller_tensor(x, leaf)
    out = _call(impl.jacobian, lambda t: VECTOR_FUNCTIONS[f](t, m), x, no_grad=no_grad)
    return {"result": out, **_after(x)}


@differential.scenario(
    "hessian",
    cases=lambda st: st.fixed_dictionaries({
        "f": st.sampled_from(sorted(HESSIAN_FUNCTIONS)),
        "x": st.sampled_from((torch.float32, torch.float64)).flatmap(
            lambda dtype: differential.tensors(st, dtype=dtype, low=-2, high=2, min_dims=1, max_dims=1)),
        "leaf": st.booleans(), "no_grad": st.booleans()}),
    edge=lambda: [
        {"f": "linear", "x": torch.ones(3, dtype=torch.float64), "leaf": False, "no_grad": False},
        {"f": "constant", "x": torch.ones(2), "leaf": True, "no_grad": False},
        {"f": "fourth powers", "x": torch.ones(2, dtype=torch.float64), "leaf": True, "no_grad": True},
        {"f": "fourth powers", "x": torch.ones(2, 2), "leaf": False, "no_grad": False},
        {"f": "x times a parameter", "x": torch.ones(3), "leaf": False, "no_grad": False},
        {"f": "a parameter, not x", "x": torch.ones(2), "leaf": False, "no_grad": False},
    ],
    count=30,
    tolerances={torch.float32: (1e-3, 1e-3)},
)
def hessian_outcome(impl, f, x, leaf, no_grad):
    x = _caller_tensor(x, leaf)
    out = _call(impl.hessian, HESSIAN_FUNCTIONS[f], x, no_grad=no_grad)
    return {"result": out, **_after(x)}


def _function_cases(st, low=-4.0, high=4.0):
    return st.fixed_dictionaries({"x": st.sampled_from((torch.float32, torch.float64)).flatmap(
        lambda dtype: differential.tensors(st, dtype=dtype, low=low, high=high, min_side=0))})


def _function_outcome(cls, x: torch.Tensor, second_order: bool = False) -> dict:
    """Forward values, the input left alone, the gradient for a generated upstream gradient (and the next order)."""
    upstream = torch.randn(tuple(x.shape), dtype=torch.float64).to(x.dtype)
    direction = torch.randn(tuple(x.shape), dtype=torch.float64).to(x.dtype)
    plain = x.clone()
    with torch.no_grad():
        value = cls.apply(plain)
    leaf = x.clone().requires_grad_(True)
    out = cls.apply(leaf)
    connected = isinstance(out, torch.Tensor) and out.requires_grad
    observed = {"forward": value, "x after forward": plain, "output requires grad": connected}
    if connected:
        (gradient,) = torch.autograd.grad(out, leaf, upstream, create_graph=second_order)
        observed["x gradient for a generated upstream gradient"] = gradient.detach()
        if second_order:
            (again,) = torch.autograd.grad((gradient * direction).sum(), leaf, allow_unused=True)
            observed["second-order gradient"] = again
    return observed


@differential.scenario(
    "Square",
    cases=_function_cases,
    edge=lambda: [{"x": torch.tensor([-2.0, 0.0, 3.0], dtype=torch.float64)}, {"x": torch.zeros(0, 2)}],
    count=20,
)
def square_outcome(impl, x):
    return _function_outcome(impl.Square, x, second_order=True)


@differential.scenario(
    "Swish",
    cases=lambda st: _function_cases(st, -8.0, 8.0),
    edge=lambda: [{"x": torch.tensor([-40.0, -20.0, 0.0, 20.0, 40.0])},
                  {"x": torch.tensor([-40.0, -20.0, 0.0, 20.0, 40.0], dtype=torch.float64)}],
    count=20,
)
def swish_outcome(impl, x):
    return _function_outcome(impl.Swish, x)


@differential.scenario(
    "StraightThroughRound",
    cases=_function_cases,
    edge=lambda: [{"x": torch.tensor([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5])},
                  {"x": torch.tensor([-3.7, -1.2, 0.4, 1.6, 9.9], dtype=torch.float64)}],
    count=20,
)
def straight_through_round_outcome(impl, x):
    return _function_outcome(impl.StraightThroughRound, x)


def _accumulation_model(kind: str, dtype: torch.dtype) -> nn.Module:
    torch.manual_seed(1234)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Dropout(0.5), nn.Linear(4, 2)).to(dtype)
    if kind == "unused parameter":
        model.register_parameter("unused", nn.Parameter(torch.ones(2, dtype=dtype)))
    if kind == "frozen first layer":
        model[0].weight.requires_grad_(False)
    if kind == "dropout in eval, the rest in train":
        model[2].eval()
    else:
        model.eval()
    return model


ACCUMULATION_LOSSES = {"mse": nn.MSELoss, "cross entropy": nn.CrossEntropyLoss, "l1": nn.L1Loss}


@differential.scenario(
    "accumulated_grads",
    cases=lambda st: st.integers(1, 7).flatmap(lambda n: st.fixed_dictionaries({
        "n": st.just(n), "micro_batches": st.integers(1, n),
        "model": st.sampled_from(("plain", "unused parameter", "frozen first layer",
                                  "dropout in eval, the rest in train")),
        "loss": st.sampled_from(sorted(ACCUMULATION_LOSSES)),
        "dtype": st.sampled_from((torch.float32, torch.float64)),
        "stale_grads": st.booleans()})),
    edge=lambda: [
        {"n": 5, "micro_batches": 2, "model": "plain", "loss": "mse", "dtype": torch.float64, "stale_grads": False},
        {"n": 6, "micro_batches": 4, "model": "plain", "loss": "mse", "dtype": torch.float64, "stale_grads": True},
        {"n": 4, "micro_batches": 4, "model": "unused parameter", "loss": "l1", "dtype": torch.float32,
         "stale_grads": False},
        {"n": 3, "micro_batches": 1, "model": "frozen first layer", "loss": "cross entropy",
         "dtype": torch.float64, "stale_grads": True},
        {"n": 3, "micro_batches": 0, "model": "plain", "loss": "mse", "dtype": torch.float32, "stale_grads": False},
        {"n": 3, "micro_batches": 4, "model": "plain", "loss": "mse", "dtype": torch.float32, "stale_grads": False},
        {"n": 3, "micro_batches": True, "model": "plain", "loss": "mse", "dtype": torch.float32,
         "stale_grads": False},
        {"n": 3, "micro_batches": 2, "model": "plain", "loss": "mse", "dtype": torch.float32, "stale_grads": False,
         "fewer_targets": True},
    ],
    count=30,
    tolerances={torch.float32: (1e-4, 1e-6), torch.float64: (1e-7, 1e-10)},
)
def accumulated_grads_outcome(impl, n, micro_batches, model, loss, dtype, stale_grads, fewer_targets=False):
    net = _accumulation_model(model, dtype)
    x = torch.randn(n, 3, dtype=dtype)
    if loss == "cross entropy":
        y = torch.randint(0, 2, (n,))
    else:
        y = torch.randn(n, 2, dtype=dtype)
    if fewer_targets:
        y = y[:-1]
    if stale_grads:
        for p in net.parameters():
            p.grad = torch.full_like(p, 3.0)
    sizes: list[int] = []
    net.register_forward_pre_hook(lambda module, args: sizes.append(len(args[0])))
    x_before, y_before = x.clone(), y.clone()
    grads = impl.accumulated_grads(net, ACCUMULATION_LOSSES[loss](), x, y, micro_batches)
    # The returned gradients are the caller's: clearing the model's .grad afterwards must not change them.
    for p in net.parameters():
        if p.grad is not None:
            p.grad.zero_()
    return {"result": grads, "micro-batch sizes (sorted)": sorted(sizes), "modes after the call": [
        (name, module.training) for name, module in net.named_modules()],
        "x and y unchanged": torch.equal(x, x_before) and torch.equal(y, y_before)}


def _sgd_parameters(kind: str, dtype: torch.dtype) -> list[torch.Tensor]:
    """Parameters of a small model after one backward pass; some kinds add a parameter without .grad or a
    frozen one that still holds a gradient."""
    torch.manual_seed(77)
    model = nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 1)).to(dtype)
    model(torch.randn(4, 3, dtype=dtype)).pow(2).mean().backward()
    params = list(model.parameters())
    if kind == "one without grad":
        params.insert(1, nn.Parameter(torch.ones(2, dtype=dtype)))
    if kind == "frozen with a grad":
        params[0].requires_grad_(False)
    return params


@differential.scenario(
    "sgd_step_",
    cases=lambda st: st.fixed_dictionaries({
        "kind": st.sampled_from(("plain", "one without grad", "frozen with a grad")),
        "dtype": st.sampled_from((torch.float32, torch.float64)),
        "lr": st.sampled_from((0.0, 0.05, 0.5, 2.0)),
        "as_generator": st.booleans()}),
    edge=lambda: [
        {"kind": "plain", "dtype": torch.float64, "lr": 0.0, "as_generator": False},
        {"kind": "one without grad", "dtype": torch.float64, "lr": 0.1, "as_generator": True},
        {"kind": "frozen with a grad", "dtype": torch.float32, "lr": 0.3, "as_generator": False},
        {"kind": "plain", "dtype": torch.float32, "lr": -0.1, "as_generator": False},
    ],
    count=20,
)
def sgd_step_outcome(impl, kind, dtype, lr, as_generator):
    params = _sgd_parameters(kind, dtype)
    had_grad = [p.grad is not None for p in params]
    aliases = [p.detach() for p in params]
    pointers = [p.data_ptr() for p in params]
    flags = [p.requires_grad for p in params]
    result = impl.sgd_step_((p for p in params) if as_generator else params, lr)
    return {
        "result": result,
        "parameters after the step": [p.detach() for p in params],
        "views taken before the step": aliases,
        "updated in place (same storage)": [p.data_ptr() == ptr for p, ptr in zip(params, pointers, strict=True)],
        "still leaves with their requires_grad": [p.is_leaf and p.requires_grad == flag
                                                  for p, flag in zip(params, flags, strict=True)],
        "grads cleared (zero or None) where there was one": [
            (p.grad is None or not bool(p.grad.any())) if had else p.grad is None
            for p, had in zip(params, had_grad, strict=True)],
    }


@pytest.mark.kata("grad")
@pytest.mark.points(2)
def test_grad_agrees_with_the_reference_on_generated_cases(impl):
    grad_outcome.check(impl)


@pytest.mark.kata("second_derivative")
@pytest.mark.points(2)
def test_second_derivative_agrees_with_the_reference_on_generated_cases(impl):
    second_derivative_outcome.check(impl)


@pytest.mark.kata("jacobian")
@pytest.mark.points(2)
def test_jacobian_agrees_with_the_reference_on_generated_cases(impl, monkeypatch):
    _forbid_helpers(monkeypatch, impl)
    jacobian_outcome.check(impl)


@pytest.mark.kata("hessian")
@pytest.mark.points(2)
def test_hessian_agrees_with_the_reference_on_generated_cases(impl, monkeypatch):
    _forbid_helpers(monkeypatch, impl)
    hessian_outcome.check(impl)


@pytest.mark.kata("Square")
@pytest.mark.points(1)
def test_square_agrees_with_the_reference_on_generated_cases(impl):
    _require_function(impl.Square, "Square")
    square_outcome.check(impl)


@pytest.mark.kata("Swish")
@pytest.mark.points(1)
def test_swish_agrees_with_the_reference_on_generated_cases(impl):
    _require_function(impl.Swish, "Swish")
    swish_outcome.check(impl)


@pytest.mark.kata("StraightThroughRound")
@pytest.mark.points(1)
def test_straight_through_round_agrees_with_the_reference_on_generated_cases(impl):
    _require_function(impl.StraightThroughRound, "StraightThroughRound")
    straight_through_round_outcome.check(impl)


@pytest.mark.kata("accumulated_grads")
@pytest.mark.points(2)
def test_accumulated_grads_agrees_with_the_reference_on_generated_cases(impl):
    accumulated_grads_outcome.check(impl)


@pytest.mark.kata("sgd_step_")
@pytest.mark.points(2)
def test_sgd_step_agrees_with_the_reference_on_generated_cases(impl):
    sgd_step_outcome.check(impl)
