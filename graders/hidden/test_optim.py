"""Hidden checks for chapter 12, optim: extreme logits, trajectories, param groups, state_dict, schedules."""

import contextlib
import importlib
import io
import math
from collections.abc import Callable

import pytest
import torch
from torch.nn import functional as F
from torch.optim.lr_scheduler import LambdaLR

from torchkata import checks
from torchkata.graderkit import differential, forbid

clip_grad = importlib.import_module("torch.nn.utils.clip_grad")
_CLIP_FUNCTIONS = ("clip_grad_norm_", "clip_grad_norm", "get_total_norm", "clip_grads_with_norm_",
                   "_get_total_norm", "_clip_grads_with_norm_")
_OPTIM_MODULES = [importlib.import_module(f"torch.optim.{name}") for name in ("sgd", "adam", "adamw", "_functional")]
_OPTIM_FUNCTIONS = ("sgd", "adam", "adamw", "_single_tensor_sgd", "_multi_tensor_sgd", "_fused_sgd",
                    "_single_tensor_adam", "_multi_tensor_adam", "_fused_adam")


def _no_builtin(kind: str) -> contextlib.AbstractContextManager[None]:
    """While the student's code runs, torch's own version of the kata raises instead of answering."""
    what, targets = {
        "cross_entropy": ("F.cross_entropy", [(F, "cross_entropy"), (torch._C._nn, "cross_entropy_loss")]),
        "bce": (
            "F.binary_cross_entropy_with_logits",
            [(F, "binary_cross_entropy_with_logits"), (torch, "binary_cross_entropy_with_logits")],
        ),
        "optim": ("torch.optim's own SGD/Adam update", forbid.every(_OPTIM_MODULES, _OPTIM_FUNCTIONS)),
        "clip": ("torch.nn.utils.clip_grad_norm_", forbid.every((clip_grad, torch.nn.utils), _CLIP_FUNCTIONS)),
    }[kind]
    return forbid.switched_off(
        targets, f"{what} is switched off while this kata is graded: write it yourself.", skip_missing=True
    )


# ---------------------------------------------------------------- argument checks pay only a working kata


def _accepts_a_valid_call(fn, builtin: str, args: tuple, expected: torch.Tensor, call: str) -> None:
    """A valid call gives the right value first: a kata that rejects everything earns no argument-check point."""
    with _no_builtin(builtin):
        out = checks.call(call, fn, *args)
    checks.close(out.detach() if isinstance(out, torch.Tensor) else out, expected, call, rtol=1e-4, atol=1e-5)


def _steps_once(make, reference, settings: dict, call: str) -> None:
    """One step of the student's optimizer equals one of torch's, before the bad arguments are tried."""
    mine, theirs = torch.ones(3, requires_grad=True), torch.ones(3, requires_grad=True)
    for p in (mine, theirs):
        p.grad = torch.tensor([0.5, -1.0, 2.0])
    optimizer = checks.call(call, make, [mine], **settings)
    with _no_builtin("optim"):
        checks.call(f"{call}.step()", optimizer.step)
    reference([theirs], **settings).step()
    checks.close(mine.detach(), theirs.detach(), f"the parameter after one {call}.step()", rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- losses


def _loss_and_grad(fn: Callable[..., torch.Tensor], logits: torch.Tensor, *args, **kwargs):
    leaf = logits.detach().clone().requires_grad_()
    loss = fn(leaf, *args, **kwargs)
    (grad,) = torch.autograd.grad(loss, leaf)
    return loss.detach(), grad


def _student_loss_and_grad(call: str, fn, logits: torch.Tensor, *args, **kwargs):
    leaf = logits.detach().clone().requires_grad_()
    loss = checks.call(call, fn, leaf, *args, **kwargs)
    checks.tensor(loss, call)
    checks.check(
        loss.requires_grad,
        f"{call} returned a tensor that does not require grad; expected a loss you can call backward() on.",
        "Build the loss from the logits with differentiable torch operations (no .item(), no .detach()).",
    )
    (grad,) = checks.call(f"torch.autograd.grad({call}, logits)", torch.autograd.grad, loss, leaf)
    return loss, grad


@pytest.mark.kata("cross_entropy")
@pytest.mark.points(2)
@pytest.mark.parametrize("batch, classes", [(3, 4), (7, 10)])
def test_cross_entropy_matches_functional(impl, batch, classes):
    logits = torch.randn(batch, classes) * 3
    target = torch.randint(0, classes, (batch,))
    call = f"cross_entropy(logits, target) with logits of shape ({batch}, {classes})"
    with _no_builtin("cross_entropy"):
        loss, grad = _student_loss_and_grad(call, impl.cross_entropy, logits, target)
    want_loss, want_grad = _loss_and_grad(F.cross_entropy, logits, target)
    checks.close(loss, want_loss, call, "Expected the batch mean of -log_softmax(logits)[i, target[i]].")
    checks.close(grad, want_grad, f"the gradient of {call}", rtol=1e-4, atol=1e-6)


@pytest.mark.kata("cross_entropy")
@pytest.mark.points(1)
def test_cross_entropy_keeps_float64(impl):
    logits = torch.randn(5, 3, dtype=torch.float64)
    target = torch.tensor([2, 0, 1, 1, 0])
    call = "cross_entropy(logits, target) with float64 logits of shape (5, 3)"
    with _no_builtin("cross_entropy"):
        loss = checks.call(call, impl.cross_entropy, logits, target)
    checks.close(loss, F.cross_entropy(logits, target), call, "Compute in the logits' dtype.", rtol=1e-10, atol=1e-12)


@pytest.mark.kata("cross_entropy")
@pytest.mark.points(2)
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_cross_entropy_extreme_logits(impl, smoothing):
    logits = torch.randn(6, 5) * 1e4
    logits[0] = torch.tensor([1e4, -1e4, 0.0, 5e3, -5e3])
    target = torch.tensor([1, 0, 2, 3, 4, 2])
    call = f"cross_entropy(logits * 1e4, target, label_smoothing={smoothing})"
    with _no_builtin("cross_entropy"):
        loss, grad = _student_loss_and_grad(call, impl.cross_entropy, logits, target, label_smoothing=smoothing)
    want_loss, want_grad = _loss_and_grad(F.cross_entropy, logits, target, label_smoothing=smoothing)
    overflow = (
        "exp(1e4) overflows to inf: subtract the row maximum or use torch.logsumexp, and take log-probabilities "
        "as logits - logsumexp instead of log(softmax)."
    )
    for name, value in (("", loss), ("the gradient of ", grad)):
        checks.check(
            bool(torch.isfinite(value).all()),
            f"{name}{call} holds inf or NaN ({value.detach().reshape(-1)[:4].tolist()}...); expected finite values.",
            overflow,
        )
    checks.close(
        loss, want_loss, call, "Finite, but not F.cross_entropy's value: check the smoothing term and the batch mean.",
        rtol=1e-5, atol=1e-3,
    )
    checks.close(grad, want_grad, f"the gradient of {call}", rtol=1e-4, atol=1e-6)


@pytest.mark.kata("cross_entropy")
@pytest.mark.points(2)
@pytest.mark.parametrize("smoothing", [0.1, 0.35, 1.0])
def test_cross_entropy_label_smoothing(impl, smoothing):
    logits = torch.randn(6, 4) * 2
    target = torch.tensor([0, 1, 2, 3, 3, 1])
    call = f"cross_entropy(logits, target, label_smoothing={smoothing}) with logits of shape (6, 4)"
    with _no_builtin("cross_entropy"):
        loss, grad = _student_loss_and_grad(call, impl.cross_entropy, logits, target, label_smoothing=smoothing)
    want_loss, want_grad = _loss_and_grad(F.cross_entropy, logits, target, label_smoothing=smoothing)
    hint = (
        "The smoothed target puts 1 - e on the true class plus e / C on EVERY class (the true one included): "
        "(1 - e) * nll + e * mean over classes of -log_probs."
    )
    checks.close(loss, want_loss, call, hint)
    checks.close(grad, want_grad, f"the gradient of {call}", hint, rtol=1e-4, atol=1e-6)


@pytest.mark.kata("cross_entropy")
@pytest.mark.points(1)
def test_cross_entropy_rejects_bad_smoothing(impl):
    logits, target = torch.randn(3, 4), torch.tensor([0, 1, 2])
    _accepts_a_valid_call(impl.cross_entropy, "cross_entropy", (logits, target), F.cross_entropy(logits, target),
                          "cross_entropy(logits, target)")
    for smoothing in (1.5, -0.1):
        checks.raises(
            ValueError,
            lambda smoothing=smoothing: impl.cross_entropy(logits, target, label_smoothing=smoothing),
            f"cross_entropy(logits, target, label_smoothing={smoothing})",
            "label_smoothing outside [0, 1] should raise ValueError naming it.",
        )


@pytest.mark.kata("bce_with_logits")
@pytest.mark.points(1)
@pytest.mark.parametrize(
    "shape, dtype", [((7,), torch.float32), ((3, 4), torch.float32), ((2, 3, 2), torch.float64)]
)
def test_bce_with_logits_matches_functional(impl, shape, dtype):
    logits = torch.randn(shape, dtype=dtype) * 4
    target = torch.rand(shape, dtype=dtype)
    target.view(-1)[::2] = target.view(-1)[::2].round()
    kind = str(dtype)[6:]
    call = f"bce_with_logits(logits, target) with {kind} logits of shape {checks.shape_text(shape)}"
    with _no_builtin("bce"):
        loss, grad = _student_loss_and_grad(call, impl.bce_with_logits, logits, target)
    want_loss, want_grad = _loss_and_grad(F.binary_cross_entropy_with_logits, logits, target)
    hint = "Expected the mean of max(x, 0) - x * y + log1p(exp(-|x|)), soft targets in [0, 1] included."
    checks.close(loss, want_loss, call, hint)
    checks.close(grad, want_grad, f"the gradient of {call}", hint, rtol=1e-4, atol=1e-7)


@pytest.mark.kata("bce_with_logits")
@pytest.mark.points(2)
def test_bce_with_logits_extreme_logits(impl):
    logits = torch.tensor([1e4, -1e4, 100.0, -100.0, 30.0, -30.0, 0.5, 200.0])
    target = torch.tensor([0.0, 1.0, 0.25, 1.0, 0.0, 0.5, 1.0, 1.0])
    call = "bce_with_logits(logits, target) with logits [1e4, -1e4, 100, -100, 30, -30, 0.5, 200]"
    with _no_builtin("bce"):
        loss, grad = _student_loss_and_grad(call, impl.bce_with_logits, logits, target)
    want_loss, want_grad = _loss_and_grad(F.binary_cross_entropy_with_logits, logits, target)
    hint = (
        "sigmoid(-100) underflows and exp(1e4) overflows in float32: use max(x, 0) - x * y + log1p(exp(-|x|)), "
        "which never exponentiates a positive number."
    )
    checks.close(loss, want_loss, call, hint, rtol=1e-5, atol=1e-4)
    checks.close(grad, want_grad, f"the gradient of {call}", hint, rtol=1e-4, atol=1e-6)


@pytest.mark.kata("bce_with_logits")
@pytest.mark.points(1)
def test_bce_with_logits_rejects_shape_mismatch(impl):
    logits, target = torch.randn(4), torch.rand(4)
    _accepts_a_valid_call(impl.bce_with_logits, "bce", (logits, target),
                          F.binary_cross_entropy_with_logits(logits, target), "bce_with_logits(logits, target)")
    checks.raises(
        ValueError,
        lambda: impl.bce_with_logits(torch.randn(4), torch.rand(4, 1)),
        "bce_with_logits(logits of shape (4,), target of shape (4, 1))",
        "A target whose shape differs from the logits' should raise ValueError naming target; "
        "broadcasting it silently gives a (4, 4) loss.",
    )


# ---------------------------------------------------------------- optimizers


_SHAPES = [(4, 3), (3,), (3, 2)]


def _problem(seed: int) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    values = [torch.randn(shape, generator=generator) for shape in _SHAPES]
    x = torch.randn(6, 4, generator=generator)
    y = torch.randn(6, 2, generator=generator)
    return values, x, y


def _loss(params: list[torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    weight1, bias1, weight2 = params[:3]
    return ((torch.tanh(x @ weight1 + bias1) @ weight2 - y) ** 2).mean()


def _leaves(values: list[torch.Tensor]) -> list[torch.Tensor]:
    return [v.clone().requires_grad_() for v in values]


def _groups(params: list[torch.Tensor], second: dict) -> list[dict]:
    return [{"params": params[:2]}, {"params": params[2:], **second}]


def _run(optimizer, params, x, y, steps: int, call: str, lrs: list[float] | None = None) -> list[list[torch.Tensor]]:
    """Train ``steps`` steps; returns a snapshot of the parameters after each step."""
    snapshots = []
    for step in range(steps):
        if lrs is not None:
            for group in optimizer.param_groups:
                group["lr"] = lrs[step]
        for p in params:
            p.grad = None
        _loss(params, x, y).backward()
        checks.call(f"{call}.step()", optimizer.step)
        snapshots.append([p.detach().clone() for p in params])
    return snapshots


def _student_run(call: str, factory, params, x, y, steps: int, lrs=None) -> list[list[torch.Tensor]]:
    optimizer = checks.call(call, factory, params)
    checks.check(
        isinstance(optimizer, torch.optim.Optimizer),
        f"{call} returned {checks.describe(optimizer)}; expected a torch.optim.Optimizer subclass.",
    )
    with _no_builtin("optim"):
        return _run(optimizer, params, x, y, steps, call, lrs)


def _same_trajectory(got, want, call: str, hint: str) -> None:
    for step, (mine, theirs) in enumerate(zip(got, want, strict=True), start=1):
        for index, (p, q) in enumerate(zip(mine, theirs, strict=True)):
            checks.close(
                p, q, f"{call}: parameter {index} (shape {checks.shape_text(q.shape)}) after step {step}",
                hint, rtol=1e-5, atol=1e-6,
            )


def _compare(student, reference, call: str, hint: str, steps: int = 5, lrs=None, seed: int = 0, groups=None) -> None:
    values, x, y = _problem(seed)
    mine, theirs = _leaves(values), _leaves(values)
    arrange = (lambda ps: _groups(ps, groups)) if groups is not None else (lambda ps: ps)
    got = _student_run(call, lambda ps: student(arrange(ps)), mine, x, y, steps, lrs)
    want = _run(reference(arrange(theirs)), theirs, x, y, steps, "torch", lrs)
    _same_trajectory(got, want, call, hint)


def _round_trip(student, call: str, hint: str, first: int = 3, then: int = 3) -> None:
    """Train first+then steps in one go, and first steps, save, load into fresh objects, then more."""
    values, x, y = _problem(7)
    straight = _leaves(values)
    want = _student_run(call, student, straight, x, y, first + then)[-1]
    params = _leaves(values)
    optimizer = checks.call(call, student, params)
    with _no_builtin("optim"):
        _run(optimizer, params, x, y, first, call)
    buffer = io.BytesIO()
    checks.call(f"torch.save({call}.state_dict())", lambda: torch.save(optimizer.state_dict(), buffer))
    buffer.seek(0)
    state = checks.call(
        f"torch.load of {call}.state_dict() with weights_only=True", torch.load, buffer, weights_only=True
    )
    resumed = _leaves([p.detach() for p in params])
    fresh = checks.call(call, student, resumed)
    checks.call(f"{call}.load_state_dict(saved)", fresh.load_state_dict, state)
    with _no_builtin("optim"):
        got = _run(fresh, resumed, x, y, then, call)[-1]
    for index, (p, q) in enumerate(zip(got, want, strict=True)):
        checks.close(
            p, q,
            f"parameter {index} after {first} steps, state_dict() saved and loaded into a fresh {call}, "
            f"and {then} more steps (compared with {first + then} uninterrupted steps)",
            hint, rtol=1e-6, atol=1e-7,
        )


_SGD_HINT = "d = grad + weight_decay * p; buf = d on the first step, else momentum * buf + d; p -= lr * buf."
_ADAMW_HINT = (
    "p *= 1 - lr * weight_decay first (decoupled, not added to the gradient), then the Adam step with "
    "bias corrections 1 - beta**t, t counted per parameter, eps added after the square root."
)
_KEEP_STATE = "Keep per-parameter buffers (and step counts) in self.state[p] so state_dict() saves them."


@pytest.mark.kata("SGDMomentum")
@pytest.mark.points(1)
@pytest.mark.parametrize("momentum, weight_decay", [(0.9, 0.0), (0.9, 0.05), (0.5, 0.1), (0.0, 0.05)])
def test_sgd_momentum_matches_torch(impl, momentum, weight_decay):
    _compare(
        lambda ps: impl.SGDMomentum(ps, lr=0.1, momentum=momentum, weight_decay=weight_decay),
        lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=momentum, weight_decay=weight_decay),
        f"SGDMomentum(params, lr=0.1, momentum={momentum}, weight_decay={weight_decay})", _SGD_HINT,
    )


@pytest.mark.kata("SGDMomentum")
@pytest.mark.points(2)
def test_sgd_momentum_param_groups(impl):
    _compare(
        lambda groups: impl.SGDMomentum(groups, lr=0.1, momentum=0.9, weight_decay=0.01),
        lambda groups: torch.optim.SGD(groups, lr=0.1, momentum=0.9, weight_decay=0.01),
        "SGDMomentum([{'params': [w1, b1]}, {'params': [w2], 'lr': 0.02}], lr=0.1, momentum=0.9, "
        "weight_decay=0.01)",
        "Read lr, momentum and weight_decay from each param group in step(), not from values saved in __init__.",
        seed=1, groups={"lr": 0.02},
    )


@pytest.mark.kata("SGDMomentum")
@pytest.mark.points(1)
def test_sgd_momentum_follows_lr_changes(impl):
    _compare(
        lambda ps: impl.SGDMomentum(ps, lr=0.1, momentum=0.9),
        lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9),
        "SGDMomentum(params, lr=0.1, momentum=0.9) with param_groups[0]['lr'] set to 0.1, 0.3, 0.02, 0.2, 0.05 "
        "before the steps (as a scheduler does)",
        "The buffer accumulates gradients only; multiply by the group's current lr when updating p.",
        lrs=[0.1, 0.3, 0.02, 0.2, 0.05], seed=2,
    )


@pytest.mark.kata("SGDMomentum")
@pytest.mark.points(2)
def test_sgd_momentum_state_dict_round_trip(impl):
    _round_trip(
        lambda ps: impl.SGDMomentum(ps, lr=0.1, momentum=0.9, weight_decay=0.01),
        "SGDMomentum(params, lr=0.1, momentum=0.9, weight_decay=0.01)", _KEEP_STATE,
    )


@pytest.mark.kata("SGDMomentum")
@pytest.mark.points(1)
def test_sgd_momentum_skips_parameters_without_grad(impl):
    values, x, y = _problem(3)
    params = _leaves(values)
    unused = torch.randn(5, requires_grad=True)
    before = unused.detach().clone()
    call = "SGDMomentum(params + [unused], lr=0.1, momentum=0.9, weight_decay=0.1)"
    got = _student_run(call, lambda ps: impl.SGDMomentum(ps + [unused], lr=0.1, momentum=0.9, weight_decay=0.1),
                       params, x, y, 3)
    checks.close(unused, before, f"{call}: a parameter whose .grad is None, after 3 steps",
                 "Skip parameters whose grad is None (weight decay must not move them either).")
    theirs = _leaves(values)
    want = _run(torch.optim.SGD(theirs, lr=0.1, momentum=0.9, weight_decay=0.1), theirs, x, y, 3, "torch")
    _same_trajectory(got, want, call, _SGD_HINT)


@pytest.mark.kata("SGDMomentum")
@pytest.mark.points(1)
def test_sgd_momentum_rejects_negative_lr(impl):
    _steps_once(impl.SGDMomentum, torch.optim.SGD, {"lr": 0.1, "momentum": 0.9}, "SGDMomentum(params, lr=0.1)")
    checks.raises(
        ValueError, lambda: impl.SGDMomentum([torch.zeros(2, requires_grad=True)], lr=-0.1),
        "SGDMomentum(params, lr=-0.1)", "A negative learning rate should raise ValueError naming lr.",
    )


@pytest.mark.kata("MyAdamW")
@pytest.mark.points(2)
@pytest.mark.parametrize(
    "kwargs",
    [{"lr": 0.1}, {"lr": 0.05, "betas": (0.8, 0.99), "eps": 1e-4, "weight_decay": 0.2}],
    ids=["defaults", "custom"],
)
def test_adamw_matches_torch(impl, kwargs):
    arguments = ", ".join(f"{key}={value}" for key, value in kwargs.items())
    _compare(
        lambda ps: impl.MyAdamW(ps, **kwargs), lambda ps: torch.optim.AdamW(ps, **kwargs),
        f"MyAdamW(params, {arguments})", _ADAMW_HINT, steps=6,
    )


@pytest.mark.kata("MyAdamW")
@pytest.mark.points(2)
def test_adamw_param_groups(impl):
    _compare(
        lambda groups: impl.MyAdamW(groups, lr=0.1, weight_decay=0.1),
        lambda groups: torch.optim.AdamW(groups, lr=0.1, weight_decay=0.1),
        "MyAdamW([{'params': [w1, b1]}, {'params': [w2], 'lr': 0.01, 'weight_decay': 0.0}], lr=0.1, "
        "weight_decay=0.1)",
        "Read lr, betas, eps and weight_decay from each param group in step().",
        seed=4, groups={"lr": 0.01, "weight_decay": 0.0},
    )


@pytest.mark.kata("MyAdamW")
@pytest.mark.points(2)
def test_adamw_state_dict_round_trip(impl):
    _round_trip(
        lambda ps: impl.MyAdamW(ps, lr=0.05, weight_decay=0.1), "MyAdamW(params, lr=0.05, weight_decay=0.1)",
        _KEEP_STATE,
    )


@pytest.mark.kata("MyAdamW")
@pytest.mark.points(1)
def test_adamw_rejects_bad_betas(impl):
    _steps_once(impl.MyAdamW, torch.optim.AdamW, {"lr": 0.01}, "MyAdamW(params, lr=0.01)")
    checks.raises(
        ValueError, lambda: impl.MyAdamW([torch.zeros(2, requires_grad=True)], betas=(1.5, 0.999)),
        "MyAdamW(params, betas=(1.5, 0.999))", "Each beta must lie in [0, 1); raise ValueError naming betas.",
    )


# ---------------------------------------------------------------- schedule


def _closed_form(base: float, step: int, warmup: int, total: int, min_lr: float) -> float:
    if step < warmup:
        return base * step / warmup
    if step >= total:
        return min_lr
    return min_lr + (base - min_lr) * (1 + math.cos(math.pi * (step - warmup) / (total - warmup))) / 2


def _check_schedule(impl, bases: list[float], warmup: int, total: int, min_lr: float, steps: range) -> None:
    params = [torch.zeros(2, requires_grad=True) for _ in bases]
    optimizer = torch.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(params, bases, strict=True)], lr=1.0)
    lrs = ", ".join(f"{lr:g}" for lr in bases)
    call = f"warmup_cosine(optimizer with lrs [{lrs}], warmup_steps={warmup}, total_steps={total}, min_lr={min_lr})"
    scheduler = checks.call(call, impl.warmup_cosine, optimizer, warmup, total, min_lr)
    checks.check(
        isinstance(scheduler, LambdaLR),
        f"{call} returned {checks.describe(scheduler)}; expected a torch.optim.lr_scheduler.LambdaLR.",
    )
    for step in range(steps.stop):
        for index, (group, base) in enumerate(zip(optimizer.param_groups, bases, strict=True)):
            want = _closed_form(base, step, warmup, total, min_lr)
            got = float(group["lr"])
            checks.check(
                step not in steps or math.isclose(got, want, rel_tol=1e-6, abs_tol=1e-12),
                f"{call}: after {step} scheduler.step() calls group {index} has lr {got:.6g}; expected {want:.6g}.",
                "lr = base * t / warmup_steps while t < warmup_steps (0 at t = 0), then "
                "min_lr + (base - min_lr) * (1 + cos(pi * (t - warmup_steps) / (total_steps - warmup_steps))) / 2, "
                "and min_lr from t = total_steps on.",
            )
        optimizer.step()
        checks.call(f"{call}.step()", scheduler.step)


@pytest.mark.kata("warmup_cosine")
@pytest.mark.points(2)
@pytest.mark.parametrize(
    "base, warmup, total, min_lr", [(0.1, 5, 20, 0.0), (0.3, 0, 6, 0.01), (1.0, 4, 7, 0.2), (0.05, 1, 4, 0.0)]
)
def test_warmup_cosine_closed_form(impl, base, warmup, total, min_lr):
    _check_schedule(impl, [base], warmup, total, min_lr, range(total + 1))


@pytest.mark.kata("warmup_cosine")
@pytest.mark.points(2)
def test_warmup_cosine_each_group_reaches_min_lr(impl):
    _check_schedule(impl, [0.1, 0.01], 2, 8, 0.001, range(9))


@pytest.mark.kata("warmup_cosine")
@pytest.mark.points(1)
def test_warmup_cosine_holds_min_lr_after_total(impl):
    _check_schedule(impl, [0.2], 2, 6, 0.02, range(6, 12))


@pytest.mark.kata("warmup_cosine")
@pytest.mark.points(1)
def test_warmup_cosine_rejects_bad_steps(impl):
    optimizer = torch.optim.SGD([torch.zeros(2, requires_grad=True)], lr=0.1)
    scheduler = checks.call("warmup_cosine(optimizer, 2, 10)", impl.warmup_cosine, optimizer, 2, 10)
    checks.check(isinstance(scheduler, LambdaLR) and optimizer.param_groups[0]["lr"] == 0.0,
                 f"warmup_cosine(optimizer, 2, 10) returned {checks.describe(scheduler)} and left lr at "
                 f"{optimizer.param_groups[0]['lr']}; expected a LambdaLR starting the warm-up at lr 0.")
    for warmup, total in ((10, 5), (-1, 5)):
        optimizer = torch.optim.SGD([torch.zeros(2, requires_grad=True)], lr=0.1)
        checks.raises(
            ValueError,
            lambda optimizer=optimizer, warmup=warmup, total=total: impl.warmup_cosine(optimizer, warmup, total),
            f"warmup_cosine(optimizer, warmup_steps={warmup}, total_steps={total})",
            "Require 0 <= warmup_steps < total_steps and raise ValueError naming the bad argument.",
        )


# ---------------------------------------------------------------- clipping


def _params_with_grads(grads: list[torch.Tensor | None]) -> list[torch.Tensor]:
    """Zero parameters holding copies of these grads (None: a parameter of shape (3,) without grad)."""
    params = []
    for grad in grads:
        param = torch.zeros(3 if grad is None else grad.shape, requires_grad=True)
        param.grad = None if grad is None else grad.clone()
        params.append(param)
    return params


def _student_clip(impl, call: str, parameters, max_norm: float):
    with _no_builtin("clip"):
        return checks.call(call, impl.clip_grad_norm_, parameters, max_norm)


def _check_grads(params, expected, call: str, hint: str) -> None:
    for index, (param, want) in enumerate(zip(params, expected, strict=True)):
        checks.close(param.grad, want, f"after {call}, the grad of parameter {index}", hint, rtol=1e-5, atol=1e-6)


@pytest.mark.kata("clip_grad_norm_")
@pytest.mark.points(2)
@pytest.mark.parametrize("max_norm", [1.0, 2.5])
def test_clip_grad_norm_matches_torch(impl, max_norm):
    grads = [torch.randn(3, 4) * 5, torch.randn(4) * 0.1, torch.randn(2, 2, 2)]
    mine, theirs = _params_with_grads(grads), _params_with_grads(grads)
    call = f"clip_grad_norm_(params, max_norm={max_norm}) with grads of shapes (3, 4), (4,), (2, 2, 2)"
    total = _student_clip(impl, call, mine, max_norm)
    expected = torch.nn.utils.clip_grad_norm_(theirs, max_norm)
    checks.close(total, expected, call, "Return the L2 norm of all gradients together, measured before clipping.")
    _check_grads(mine, [q.grad for q in theirs], call, "Scale every grad by min(1, max_norm / (total + 1e-6)).")


@pytest.mark.kata("clip_grad_norm_")
@pytest.mark.points(1)
def test_clip_grad_norm_scales_globally(impl):
    grads = [torch.full((4,), 1.5), torch.full((2, 2), 2.0)]
    params = _params_with_grads(grads)
    call = "clip_grad_norm_(params, max_norm=1.0) with grads of norms 3 and 4"
    total = _student_clip(impl, call, params, 1.0)
    checks.close(total, torch.tensor(5.0), call, "The total norm is sqrt(3**2 + 4**2) = 5.")
    coefficient = 1.0 / (5.0 + 1e-6)
    _check_grads(
        params, [g * coefficient for g in grads], call,
        "Every gradient is scaled by the same factor max_norm / total_norm; clipping each parameter to "
        "max_norm on its own changes the direction of the update.",
    )


@pytest.mark.kata("clip_grad_norm_")
@pytest.mark.points(1)
def test_clip_grad_norm_below_threshold_leaves_grads(impl):
    grads = [torch.randn(3, 3) * 0.1, torch.randn(2) * 0.1]
    params = _params_with_grads(grads)
    call = "clip_grad_norm_(params, max_norm=10.0) with small grads"
    total = _student_clip(impl, call, params, 10.0)
    norm = torch.cat([g.reshape(-1) for g in grads]).pow(2).sum().sqrt()
    checks.close(total, norm, call, rtol=1e-5, atol=1e-6)
    _check_grads(params, grads, call, "Grads already within max_norm stay as they are: the factor is capped at 1.")


@pytest.mark.kata("clip_grad_norm_")
@pytest.mark.points(1)
def test_clip_grad_norm_accepts_a_generator(impl):
    grads = [torch.randn(5) * 4, torch.randn(3, 2) * 4]
    mine, theirs = _params_with_grads(grads), _params_with_grads(grads)
    call = "clip_grad_norm_((p for p in params), max_norm=1.0)"
    total = _student_clip(impl, call, (p for p in mine), 1.0)
    expected = torch.nn.utils.clip_grad_norm_(theirs, 1.0)
    hint = "A generator can be iterated only once: turn parameters into a list before looping twice."
    checks.close(total, expected, call, hint)
    _check_grads(mine, [q.grad for q in theirs], call, hint)


@pytest.mark.kata("clip_grad_norm_")
@pytest.mark.points(1)
def test_clip_grad_norm_single_tensor_and_missing_grads(impl):
    grads = [torch.randn(6) * 3, None, torch.randn(2, 3) * 3]
    mine, theirs = _params_with_grads(grads), _params_with_grads(grads)
    call = "clip_grad_norm_(params, max_norm=0.5) where one parameter has no grad"
    total = _student_clip(impl, call, mine, 0.5)
    checks.close(total, torch.nn.utils.clip_grad_norm_(theirs, 0.5), call, "Skip parameters whose grad is None.")
    checks.check(mine[1].grad is None, f"after {call}, the parameter without grad has one: {mine[1].grad}.")
    _check_grads(mine[::2], [theirs[0].grad, theirs[2].grad], call, "Skip parameters whose grad is None.")
    grad = torch.randn(4, 4) * 2
    single, reference = _params_with_grads([grad])[0], _params_with_grads([grad])[0]
    call = "clip_grad_norm_(param, max_norm=1.0) with a single tensor"
    total = _student_clip(impl, call, single, 1.0)
    checks.close(total, torch.nn.utils.clip_grad_norm_(reference, 1.0), call, "Accept a single tensor too.")
    checks.close(single.grad, reference.grad, f"after {call}, its grad", rtol=1e-5, atol=1e-6)


@pytest.mark.kata("clip_grad_norm_")
@pytest.mark.points(1)
def test_clip_grad_norm_rejects_negative_max_norm(impl):
    grad = torch.randn(3)
    _accepts_a_valid_call(impl.clip_grad_norm_, "clip", (_params_with_grads([grad]), 100.0),
                          torch.linalg.vector_norm(grad), "clip_grad_norm_(params, max_norm=100.0)")
    params = _params_with_grads([torch.randn(3)])
    checks.raises(
        ValueError, lambda: impl.clip_grad_norm_(params, -1.0), "clip_grad_norm_(params, max_norm=-1.0)",
        "A negative max_norm should raise ValueError naming max_norm.",
    )


# ---------------------------------------------------------------- differential: every observable against the reference
#
# The reference's outcomes on generated cases are recorded by `torchkata build` in cases_optim.pt; here only the
# student's code runs, under the same switches as above (torch's own versions refuse), and everything the
# docstrings fix is compared: values, dtypes, gradients, the arguments after the call, errors for bad arguments.

_DTYPES = (torch.float32, torch.float64)
# Correct formulas differ by rounding only; float64 is tight enough to see a float32 buffer or a float32 norm.
_TIGHT = {torch.float64: (1e-8, 1e-11)}


def _loss_outcome(fn: Callable, logits: torch.Tensor, target: torch.Tensor, upstream: float, **kwargs) -> dict:
    leaf = logits.clone().requires_grad_()
    kept = target.clone()
    loss = fn(leaf, target, **kwargs)
    outcome = {"loss": loss, "requires grad": isinstance(loss, torch.Tensor) and loss.requires_grad}
    if outcome["requires grad"]:
        (grad,) = torch.autograd.grad(loss * upstream, leaf, allow_unused=True)
        outcome["gradient of the logits"] = grad
    outcome["logits after the call"] = leaf.detach()
    outcome["target unchanged"] = torch.equal(kept, target)
    return outcome


def _cross_entropy_cases(st):
    def build(spec):
        n, c, dtype, scale = spec
        return st.fixed_dictionaries({
            "logits": differential.tensors(st, shape=(n, c), dtype=dtype, low=-scale, high=scale),
            "target": differential.tensors(st, shape=(n,), dtype=torch.int64, low=0, high=c - 1),
            "label_smoothing": st.sampled_from((0.0, 0.0, 0.1, 0.35, 1.0, -0.1, 1.5)),
            "upstream": st.sampled_from((1.0, -0.5, 3.0)),
        })

    return st.tuples(st.integers(0, 5), st.integers(1, 5), st.sampled_from(_DTYPES),
                     st.sampled_from((4.0, 50.0, 1e4))).flatmap(build)


@differential.scenario(
    "cross_entropy",
    cases=_cross_entropy_cases,
    edge=lambda: [
        {"logits": torch.zeros(0, 3), "target": torch.zeros(0, dtype=torch.int64), "label_smoothing": 0.0,
         "upstream": 1.0},
        {"logits": torch.tensor([[1e4, -1e4, 0.0], [-1e4, 1e4, 5e3]]), "target": torch.tensor([1, 0]),
         "label_smoothing": 0.1, "upstream": 1.0},
        {"logits": torch.tensor([[2.0]]), "target": torch.tensor([0]), "label_smoothing": 1.0, "upstream": 1.0},
        {"logits": torch.randn(3, 4, dtype=torch.float64), "target": torch.tensor([3, 0, 1]),
         "label_smoothing": 0.0, "upstream": 2.0},
        {"logits": torch.randn(3, 4), "target": torch.tensor([3, 0]), "label_smoothing": 0.0, "upstream": 1.0},
        {"logits": torch.randn(4), "target": torch.tensor([3]), "label_smoothing": 0.0, "upstream": 1.0},
        {"logits": torch.randn(3), "target": torch.tensor([2, 0, 1]), "label_smoothing": 0.0, "upstream": 1.0},
        {"logits": torch.randn(2, 3, 4), "target": torch.tensor([2, 0]), "label_smoothing": 0.0, "upstream": 1.0},
        {"logits": torch.randn(3, 4), "target": torch.tensor([[3], [0], [1]]), "label_smoothing": 0.0,
         "upstream": 1.0},
    ],
    count=40,
    tolerances={torch.float32: (1e-4, 1e-5), **_TIGHT},
)
def cross_entropy_outcome(impl, logits, target, label_smoothing, upstream):
    with _no_builtin("cross_entropy"):
        return _loss_outcome(impl.cross_entropy, logits, target, upstream, label_smoothing=label_smoothing)


def _bce_cases(st):
    def build(spec):
        shape, dtype, scale, mismatch = spec
        target_shape = shape + (1,) if mismatch else shape
        return st.fixed_dictionaries({
            "logits": differential.tensors(st, shape=shape, dtype=dtype, low=-scale, high=scale),
            "target": differential.tensors(st, shape=target_shape, dtype=dtype, low=0.0, high=1.0),
            "upstream": st.sampled_from((1.0, -0.5, 3.0)),
        })

    from hypothesis.extra import numpy as hnp

    return st.tuples(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4), st.sampled_from(_DTYPES),
                     st.sampled_from((4.0, 40.0, 1e4)), st.sampled_from((False, False, False, True))).flatmap(build)


@differential.scenario(
    "bce_with_logits",
    cases=_bce_cases,
    edge=lambda: [
        {"logits": torch.zeros(0), "target": torch.zeros(0), "upstream": 1.0},
        {"logits": torch.tensor(3.0), "target": torch.tensor(0.25), "upstream": 1.0},
        {"logits": torch.tensor([1e4, -1e4, 100.0, -100.0]), "target": torch.tensor([0.0, 1.0, 0.5, 1.0]),
         "upstream": 1.0},
        {"logits": torch.randn(2, 3, dtype=torch.float64), "target": torch.rand(2, 3, dtype=torch.float64),
         "upstream": 1.0},
        {"logits": torch.randn(4), "target": torch.rand(4, 1), "upstream": 1.0},
        {"logits": torch.randn(2, 3), "target": torch.rand(3), "upstream": 1.0},
        {"logits": torch.randn(3, 1), "target": torch.rand(3), "upstream": 1.0},
    ],
    count=40,
    tolerances={torch.float32: (1e-4, 1e-5), **_TIGHT},
)
def bce_with_logits_outcome(impl, logits, target, upstream):
    with _no_builtin("bce"):
        return _loss_outcome(impl.bce_with_logits, logits, target, upstream)


def _optimizer_cases(st, hyper):
    """Parameters (one may be frozen: no grad ever), per-step gradients, hyperparameters, an optional second
    param group, lr changes between steps, and a state_dict save/load into a fresh optimizer part way."""
    def build(spec):
        shapes, steps, dtype = spec
        return st.fixed_dictionaries({
            "values": st.tuples(*[differential.tensors(st, shape=s, dtype=dtype) for s in shapes]).map(list),
            "grads": st.lists(st.tuples(*[differential.tensors(st, shape=s, dtype=dtype) for s in shapes]).map(list),
                              min_size=steps, max_size=steps),
            "frozen": st.sampled_from((None, None, len(shapes) - 1)),
            "hyper": hyper,
            "second_group": st.sampled_from((None, None, {"lr": 0.02}, {"weight_decay": 0.0, "lr": 0.3})),
            "lrs": st.sampled_from((None, None, [0.3, 0.02, 0.2, 0.05, 0.1])),
            "resume_at": st.sampled_from((None, None, 1, 2)),
        })

    shape = st.tuples(st.integers(1, 3), st.integers(1, 3)).map(tuple) | st.integers(1, 4).map(lambda n: (n,))
    return st.tuples(st.lists(shape, min_size=1, max_size=3), st.integers(1, 4),
                     st.sampled_from(_DTYPES)).flatmap(build)


def _optimizer_outcome(make: Callable, values, grads, frozen, hyper, second_group, lrs, resume_at) -> dict:
    """The hyperparameters each param group carries, the parameters after every step, what step() returns."""
    params = [v.clone().requires_grad_() for v in values]

    def arrange(ps):
        if second_group is None or len(ps) < 2:
            return ps
        return [{"params": ps[:1]}, {"params": ps[1:], **second_group}]

    optimizer = differential.attempt(make, arrange(params), **hyper)
    if isinstance(optimizer, dict):
        return {"constructing": optimizer}
    groups = [{key: (tuple(group[key]) if key == "betas" else group[key]) for key in hyper}
              for group in optimizer.param_groups]
    trajectory, returned = [], []
    with _no_builtin("optim"):
        for step, step_grads in enumerate(grads):
            if resume_at == step:
                buffer = io.BytesIO()
                torch.save(optimizer.state_dict(), buffer)
                buffer.seek(0)
                params = [p.detach().clone().requires_grad_() for p in params]
                optimizer = make(arrange(params), **hyper)
                optimizer.load_state_dict(torch.load(buffer, weights_only=True))
            if lrs is not None:
                for group in optimizer.param_groups:
                    group["lr"] = lrs[step]
            for index, (p, g) in enumerate(zip(params, step_grads, strict=True)):
                p.grad = None if index == frozen else g.clone()
            returned.append(optimizer.step(lambda step=step: torch.tensor(float(step) + 0.5)))
            trajectory.append([p.detach().clone() for p in params])
    return {"hyperparameters of each param group": groups, "parameters after each step": trajectory,
            "step(closure) returned": returned, "requires_grad kept": [p.requires_grad for p in params]}


# The first parameter has no gradient, the ones after it do: each is still updated.
_FIRST_FROZEN = {"values": [torch.ones(2), torch.linspace(-1, 1, 3)], "grads": [[torch.ones(2), torch.ones(3)]] * 2,
                 "frozen": 0, "second_group": None, "lrs": None, "resume_at": None}

_SGD_HYPER = lambda st: st.fixed_dictionaries({  # noqa: E731
    "lr": st.sampled_from((0.1, 0.5, 0.0, 0.01)),
    "momentum": st.sampled_from((0.9, 0.5, 0.0, 0.99)),
    "weight_decay": st.sampled_from((0.0, 0.05, 0.1)),
})


@differential.scenario(
    "SGDMomentum",
    cases=lambda st: _optimizer_cases(st, _SGD_HYPER(st)),
    edge=lambda: [
        {"values": [torch.ones(2)], "grads": [[torch.ones(2)]], "frozen": None,
         "hyper": {"lr": 0.0, "momentum": 0.0, "weight_decay": 0.0}, "second_group": None, "lrs": None,
         "resume_at": None},
        {"values": [torch.ones(2)], "grads": [[torch.ones(2)]], "frozen": None,
         "hyper": {"lr": -0.1, "momentum": 0.9, "weight_decay": 0.0}, "second_group": None, "lrs": None,
         "resume_at": None},
        {"values": [torch.ones(2)], "grads": [[torch.ones(2)]], "frozen": None,
         "hyper": {"lr": 0.1, "momentum": -0.5, "weight_decay": 0.0}, "second_group": None, "lrs": None,
         "resume_at": None},
        {"values": [torch.ones(2)], "grads": [[torch.ones(2)]], "frozen": None,
         "hyper": {"lr": 0.1, "momentum": 0.9, "weight_decay": -1.0}, "second_group": None, "lrs": None,
         "resume_at": None},
        {"values": [torch.linspace(-1, 1, 4, dtype=torch.float64), torch.ones(3, dtype=torch.float64)],
         "grads": [[torch.full((4,), 1 / 3, dtype=torch.float64), torch.ones(3, dtype=torch.float64)]] * 3,
         "frozen": 1, "hyper": {"lr": 1.0, "momentum": 0.9, "weight_decay": 0.1}, "second_group": None,
         "lrs": None, "resume_at": 2},
        {**_FIRST_FROZEN, "hyper": {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.1}},
    ],
    count=30,
    tolerances=_TIGHT,
)
def sgd_momentum_outcome(impl, values, grads, frozen, hyper, second_group, lrs, resume_at):
    return _optimizer_outcome(impl.SGDMomentum, values, grads, frozen, hyper, second_group, lrs, resume_at)


_ADAMW_HYPER = lambda st: st.fixed_dictionaries({  # noqa: E731
    "lr": st.sampled_from((0.1, 0.01, 0.0)),
    "betas": st.sampled_from(((0.9, 0.999), (0.8, 0.99), (0.0, 0.5), (0.0, 0.0))),
    "eps": st.sampled_from((1e-8, 1e-3)),
    "weight_decay": st.sampled_from((0.01, 0.2, 0.0)),
})


def _adamw_edge(hyper: dict) -> dict:
    return {"values": [torch.ones(2)], "grads": [[torch.ones(2)]], "frozen": None, "hyper": hyper,
            "second_group": None, "lrs": None, "resume_at": None}


@differential.scenario(
    "MyAdamW",
    cases=lambda st: _optimizer_cases(st, _ADAMW_HYPER(st)),
    edge=lambda: [
        _adamw_edge({"lr": 0.1, "betas": (0.0, 0.0), "eps": 1e-8, "weight_decay": 0.0}),
        {**_FIRST_FROZEN, "hyper": {"lr": 0.1, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.1}},
        _adamw_edge({"lr": 0.1, "betas": (1.0, 0.999), "eps": 1e-8, "weight_decay": 0.0}),
        _adamw_edge({"lr": 0.1, "betas": (0.9, 1.0), "eps": 1e-8, "weight_decay": 0.0}),
        _adamw_edge({"lr": 0.1, "betas": (-0.1, 0.9), "eps": 1e-8, "weight_decay": 0.0}),
        _adamw_edge({"lr": -0.1, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0}),
        _adamw_edge({"lr": 0.1, "betas": (0.9, 0.999), "eps": -1e-8, "weight_decay": 0.0}),
        _adamw_edge({"lr": 0.1, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": -0.1}),
        {"values": [torch.linspace(-1, 1, 4, dtype=torch.float64), torch.ones(3, dtype=torch.float64)],
         "grads": [[torch.full((4,), 1 / 3, dtype=torch.float64), torch.ones(3, dtype=torch.float64)]] * 3,
         "frozen": 1, "hyper": {"lr": 0.1, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.1},
         "second_group": None, "lrs": None, "resume_at": 2},
    ],
    count=30,
    tolerances={torch.float32: (1e-4, 1e-5), **_TIGHT},
)
def adamw_outcome(impl, values, grads, frozen, hyper, second_group, lrs, resume_at):
    return _optimizer_outcome(impl.MyAdamW, values, grads, frozen, hyper, second_group, lrs, resume_at)


def _schedule_cases(st):
    def build(spec):
        warmup, decay = spec
        return st.fixed_dictionaries({
            "bases": st.lists(st.sampled_from((0.1, 1.0, 0.03, 0.0)), min_size=1, max_size=3),
            "warmup_steps": st.just(warmup),
            "total_steps": st.just(warmup + decay),
            "min_lr": st.sampled_from((0.0, 0.0, 0.001, 0.02, -0.01)),
        })

    return st.tuples(st.integers(-1, 5), st.integers(-1, 6)).flatmap(build)


@differential.scenario(
    "warmup_cosine",
    cases=_schedule_cases,
    edge=lambda: [
        {"bases": [0.1], "warmup_steps": 0, "total_steps": 1, "min_lr": 0.0},
        {"bases": [0.1], "warmup_steps": 3, "total_steps": 3, "min_lr": 0.0},
        {"bases": [0.1], "warmup_steps": -1, "total_steps": 3, "min_lr": 0.0},
        {"bases": [0.1], "warmup_steps": 1, "total_steps": 3, "min_lr": -0.01},
        {"bases": [0.2, 0.0, 0.01], "warmup_steps": 2, "total_steps": 6, "min_lr": 0.005},
        {"bases": [0.01], "warmup_steps": 1, "total_steps": 4, "min_lr": 0.05},
    ],
    count=40,
)
def warmup_cosine_outcome(impl, bases, warmup_steps, total_steps, min_lr):
    params = [torch.zeros(2, requires_grad=True) for _ in bases]
    optimizer = torch.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(params, bases, strict=True)], lr=1.0)
    scheduler = impl.warmup_cosine(optimizer, warmup_steps, total_steps, min_lr)
    lrs = []
    for _ in range(max(total_steps, 0) + 3):
        lrs.append([float(group["lr"]) for group in optimizer.param_groups])
        optimizer.step()
        scheduler.step()
    return {"a LambdaLR": isinstance(scheduler, LambdaLR), "lr of each group after t scheduler steps": lrs}


def _clip_cases(st):
    def build(spec):
        shapes, dtype = spec
        return st.fixed_dictionaries({
            "grads": st.tuples(*[st.none() | differential.tensors(st, shape=s, dtype=dtype, low=-10, high=10)
                                 for s in shapes]).map(list),
            "max_norm": st.sampled_from((1.0, 0.5, 5.0, 1e6, 0.0, -1.0)),
            "given_as": st.sampled_from(("list", "generator", "tuple")),
        })

    shape = st.integers(0, 4).map(lambda n: (n,)) | st.tuples(st.integers(1, 3), st.integers(1, 3)).map(tuple)
    return st.tuples(st.lists(shape, min_size=0, max_size=4), st.sampled_from(_DTYPES)).flatmap(build)


@differential.scenario(
    "clip_grad_norm_",
    cases=_clip_cases,
    edge=lambda: [
        {"grads": [], "max_norm": 1.0, "given_as": "list"},
        {"grads": [None, None], "max_norm": 1.0, "given_as": "generator"},
        {"grads": [torch.tensor([3.0, 4.0])], "max_norm": 5.0, "given_as": "one tensor"},
        {"grads": [torch.tensor([3.0, 4.0])], "max_norm": 1.0, "given_as": "one tensor"},
        {"grads": [torch.tensor([3.0, 4.0], dtype=torch.float64), torch.ones(2, 2, dtype=torch.float64)],
         "max_norm": 1.0, "given_as": "generator"},
        {"grads": [torch.zeros(3)], "max_norm": 0.0, "given_as": "list"},
        {"grads": [torch.ones(3)], "max_norm": -0.5, "given_as": "list"},
    ],
    count=40,
    tolerances={torch.float32: (1e-5, 1e-6), **_TIGHT},
)
def clip_grad_norm_outcome(impl, grads, max_norm, given_as):
    params = []
    for grad in grads:
        if grad is None:
            param = torch.ones(2, requires_grad=True)
        else:  # generated values shrink towards 0: add a fixed wave so most norms are not 0
            param = torch.ones(grad.shape, dtype=grad.dtype, requires_grad=True)
            param.grad = grad + torch.sin(torch.arange(grad.numel(), dtype=grad.dtype) + 1).reshape(grad.shape)
        params.append(param)
    argument = {"list": lambda: params, "tuple": lambda: tuple(params), "generator": lambda: (p for p in params),
                "one tensor": lambda: params[0]}[given_as]()
    with _no_builtin("clip"):
        total = differential.attempt(impl.clip_grad_norm_, argument, max_norm)
    return {"returned total norm": total, "grads after the call": [p.grad for p in params],
            "parameters after the call": [p.detach() for p in params]}


@pytest.mark.kata("cross_entropy")
@pytest.mark.points(2)
def test_cross_entropy_agrees_with_the_reference_on_generated_cases(impl):
    cross_entropy_outcome.check(impl)


@pytest.mark.kata("bce_with_logits")
@pytest.mark.points(2)
def test_bce_with_logits_agrees_with_the_reference_on_generated_cases(impl):
    bce_with_logits_outcome.check(impl)


@pytest.mark.kata("SGDMomentum")
@pytest.mark.points(2)
def test_sgd_momentum_agrees_with_the_reference_on_generated_cases(impl):
    sgd_momentum_outcome.check(impl)


@pytest.mark.kata("MyAdamW")
@pytest.mark.points(2)
def test_adamw_agrees_with_the_reference_on_generated_cases(impl):
    adamw_outcome.check(impl)


@pytest.mark.kata("warmup_cosine")
@pytest.mark.points(2)
def test_warmup_cosine_agrees_with_the_reference_on_generated_cases(impl):
    warmup_cosine_outcome.check(impl)


@pytest.mark.kata("clip_grad_norm_")
@pytest.mark.points(2)
def test_clip_grad_norm_agrees_with_the_reference_on_generated_cases(impl):
    clip_grad_norm_outcome.check(impl)
