"""Public checks for chapter 12, optim: results against torch's own losses, optimizers and clipping.

The hidden checks add label smoothing, param groups, state_dict round trips, min_lr, gradients and bad arguments.
"""

import contextlib
import importlib
import math

import pytest
import torch
from torch.nn import functional as F
from torch.optim.lr_scheduler import LambdaLR

from torchkata import checks
from torchkata.graderkit import forbid

clip_grad = importlib.import_module("torch.nn.utils.clip_grad")
_OPTIM_MODULES = [importlib.import_module(f"torch.optim.{name}") for name in ("sgd", "adam", "adamw", "_functional")]
_OPTIM_FUNCTIONS = ("sgd", "adam", "adamw", "_single_tensor_sgd", "_multi_tensor_sgd", "_fused_sgd",
                    "_single_tensor_adam", "_multi_tensor_adam", "_fused_adam")
_CLIP_FUNCTIONS = ("clip_grad_norm_", "clip_grad_norm", "get_total_norm", "clip_grads_with_norm_",
                   "_get_total_norm", "_clip_grads_with_norm_")


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


@pytest.mark.kata("cross_entropy")
@pytest.mark.points(1)
def test_cross_entropy_matches_functional(impl):
    logits = torch.randn(4, 5)
    target = torch.tensor([0, 3, 1, 4])
    with _no_builtin("cross_entropy"):
        out = checks.call("cross_entropy(logits, target)", impl.cross_entropy, logits, target)
    checks.close(
        out, F.cross_entropy(logits, target), "cross_entropy(logits, target) with logits of shape (4, 5)",
        "Expected the mean over the batch of -log_softmax(logits)[i, target[i]].", rtol=1e-5, atol=1e-6,
    )


@pytest.mark.kata("cross_entropy")
@pytest.mark.points(1)
def test_cross_entropy_is_stable_for_large_logits(impl):
    logits = torch.tensor([[1e4, 0.0, -1e4], [-5e3, 5e3, 0.0]])
    target = torch.tensor([1, 1])
    call = "cross_entropy(logits, target) with logits = [[1e4, 0, -1e4], [-5e3, 5e3, 0]], target = [1, 1]"
    with _no_builtin("cross_entropy"):
        out = checks.call(call, impl.cross_entropy, logits, target)
    checks.close(
        out, F.cross_entropy(logits, target), call,
        "exp(1e4) overflows to inf: subtract the row maximum first, or use torch.logsumexp.", rtol=1e-5, atol=1e-3,
    )


@pytest.mark.kata("bce_with_logits")
@pytest.mark.points(1)
def test_bce_with_logits_matches_functional(impl):
    logits = torch.randn(6)
    target = torch.tensor([0.0, 1.0, 1.0, 0.0, 0.5, 1.0])
    with _no_builtin("bce"):
        out = checks.call("bce_with_logits(logits, target)", impl.bce_with_logits, logits, target)
    checks.close(
        out, F.binary_cross_entropy_with_logits(logits, target),
        "bce_with_logits(logits, target) with logits of shape (6,)",
        "Expected the mean of max(x, 0) - x * y + log(1 + exp(-|x|)).", rtol=1e-5, atol=1e-6,
    )


def _quadratic_problem() -> tuple[list[torch.Tensor], torch.Tensor]:
    weight = torch.randn(3, 2)
    bias = torch.randn(2)
    return [weight, bias], torch.randn(4, 3)


def _three_steps(optimizer: torch.optim.Optimizer, params: list[torch.Tensor], x: torch.Tensor, call: str) -> None:
    for _ in range(3):
        for p in params:
            p.grad = None
        ((x @ params[0] + params[1]) ** 2).mean().backward()
        checks.call(f"{call}.step()", optimizer.step)


def _compare_with_torch(impl_factory, torch_factory, call: str, hint: str) -> None:
    values, x = _quadratic_problem()
    mine = [v.clone().requires_grad_() for v in values]
    theirs = [v.clone().requires_grad_() for v in values]
    optimizer = checks.call(call, impl_factory, mine)
    checks.check(
        isinstance(optimizer, torch.optim.Optimizer),
        f"{call} returned {checks.describe(optimizer)}; expected a torch.optim.Optimizer subclass.",
    )
    with _no_builtin("optim"):
        _three_steps(optimizer, mine, x, call)
    _three_steps(torch_factory(theirs), theirs, x, "torch")
    for index, (got, want) in enumerate(zip(mine, theirs, strict=True)):
        checks.close(got, want, f"{call}: parameter {index} after 3 steps", hint, rtol=1e-5, atol=1e-6)


@pytest.mark.kata("bce_with_logits")
@pytest.mark.points(1)
def test_bce_with_logits_is_stable_for_large_logits(impl):
    logits = torch.tensor([200.0, -200.0, 50.0, -50.0])
    target = torch.tensor([0.0, 1.0, 1.0, 0.0])
    call = "bce_with_logits(logits, target) with logits = [200, -200, 50, -50], target = [0, 1, 1, 0]"
    with _no_builtin("bce"):
        out = checks.call(call, impl.bce_with_logits, logits, target)
    checks.close(
        out, F.binary_cross_entropy_with_logits(logits, target), call,
        "sigmoid(200) is exactly 1 in float32 and log(1 - 1) = -inf: rewrite the loss with log(1 + exp(-x)) "
        "computed stably.", rtol=1e-5, atol=1e-4,
    )


@pytest.mark.kata("SGDMomentum")
@pytest.mark.points(1)
def test_sgd_momentum_three_steps(impl):
    _compare_with_torch(
        lambda params: impl.SGDMomentum(params, lr=0.1, momentum=0.9),
        lambda params: torch.optim.SGD(params, lr=0.1, momentum=0.9),
        "SGDMomentum(params, lr=0.1, momentum=0.9)",
        "buf = momentum * buf + grad (buf = grad on the first step), then p -= lr * buf.",
    )


@pytest.mark.kata("SGDMomentum")
@pytest.mark.points(1)
def test_sgd_momentum_with_weight_decay(impl):
    _compare_with_torch(
        lambda params: impl.SGDMomentum(params, lr=0.1, momentum=0.9, weight_decay=0.1),
        lambda params: torch.optim.SGD(params, lr=0.1, momentum=0.9, weight_decay=0.1),
        "SGDMomentum(params, lr=0.1, momentum=0.9, weight_decay=0.1)",
        "Weight decay adds weight_decay * p to the gradient before the momentum buffer: g = grad + wd * p.",
    )


@pytest.mark.kata("MyAdamW")
@pytest.mark.points(1)
def test_adamw_three_steps(impl):
    _compare_with_torch(
        lambda params: impl.MyAdamW(params, lr=0.1),
        lambda params: torch.optim.AdamW(params, lr=0.1),
        "MyAdamW(params, lr=0.1)",
        "Check the bias corrections 1 - b**t and that weight decay shrinks p directly by lr * weight_decay.",
    )


@pytest.mark.kata("warmup_cosine")
@pytest.mark.points(1)
def test_warmup_cosine_schedule(impl):
    optimizer = torch.optim.SGD([torch.zeros(2, requires_grad=True)], lr=0.5)
    call = "warmup_cosine(optimizer with lr=0.5, warmup_steps=3, total_steps=8)"
    scheduler = checks.call(call, impl.warmup_cosine, optimizer, 3, 8)
    checks.check(
        isinstance(scheduler, LambdaLR),
        f"{call} returned {checks.describe(scheduler)}; expected a torch.optim.lr_scheduler.LambdaLR.",
    )
    for step in range(9):
        want = 0.5 * step / 3 if step < 3 else 0.25 * (1 + math.cos(math.pi * (step - 3) / 5))
        got = float(optimizer.param_groups[0]["lr"])
        checks.check(
            math.isclose(got, want, rel_tol=1e-6, abs_tol=1e-12),
            f"{call}: after {step} scheduler.step() calls the lr is {got:.6g}; expected {want:.6g}.",
            "lr is 0 at the start, the base lr after warmup_steps steps, min_lr after total_steps steps.",
        )
        optimizer.step()
        scheduler.step()


@pytest.mark.kata("clip_grad_norm_")
@pytest.mark.points(1)
def test_clip_grad_norm_matches_torch(impl):
    grads = [torch.randn(3, 4) * 2, torch.randn(4)]
    mine = [torch.zeros_like(g, requires_grad=True) for g in grads]
    theirs = [torch.zeros_like(g, requires_grad=True) for g in grads]
    for p, q, g in zip(mine, theirs, grads, strict=True):
        p.grad, q.grad = g.clone(), g.clone()
    call = "clip_grad_norm_(params, max_norm=1.0)"
    with _no_builtin("clip"):
        total = checks.call(call, impl.clip_grad_norm_, mine, 1.0)
    expected = torch.nn.utils.clip_grad_norm_(theirs, 1.0)
    checks.close(total, expected, call, "Return the total norm of all gradients, measured before clipping.")
    for index, (p, q) in enumerate(zip(mine, theirs, strict=True)):
        checks.close(
            p.grad, q.grad, f"after {call}, the grad of parameter {index}",
            "Scale every grad in place by the same factor min(1, max_norm / (total + 1e-6)).", rtol=1e-5, atol=1e-6,
        )
