"""Chapter 12: optim. Stable losses, optimizers, a learning-rate schedule and gradient clipping by hand."""

import math
from collections.abc import Callable, Iterable

import torch
from torch.optim.lr_scheduler import LambdaLR

ParamsT = Iterable[torch.Tensor] | Iterable[dict]


def cross_entropy(logits: torch.Tensor, target: torch.Tensor, label_smoothing: float = 0.0) -> torch.Tensor:
    """Mean cross-entropy of (N, C) logits against (N,) class indices, like F.cross_entropy.

    Stable for any logits (1e4 included). With label smoothing e the target distribution is
    (1 - e) on the true class plus e / C on every class. The loss keeps the logits' dtype and is
    differentiable in the logits; an empty batch (N = 0) gives NaN, as F.cross_entropy does.
    label_smoothing outside [0, 1], logits that are not 2-D or a target that is not (N,) raise ValueError.
    The logits and the target are left unchanged.
    """
    # TODO: check label_smoothing lies in [0, 1] and the shapes (ValueError naming the bad
    #   argument). Compute log-probabilities
    #   stably as logits - torch.logsumexp(logits, dim=1, keepdim=True) (never exp() the raw
    #   logits), pick the true class with .gather, and mix in label_smoothing times the mean of
    #   -log_probs over the classes. Return the mean over the batch.
    raise NotImplementedError('cross_entropy: not written yet, see the TODO above this line')


def bce_with_logits(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean binary cross-entropy of logits against targets in [0, 1], like F.binary_cross_entropy_with_logits.

    Any shape works (a 0-dim tensor too); target must have the logits' shape (ValueError otherwise).
    Finite for any logits (1e4 included); the loss keeps the logits' dtype, an empty input gives NaN,
    and its gradient is (sigmoid(x) - y) / n everywhere, at x = 0 too (as torch's). Inputs are left unchanged.
    """
    # TODO: target must have the logits' shape (else ValueError naming target). log(sigmoid(x))
    #   overflows to -inf for large |x|; use the identity loss = (1 - y) * x + log(1 + exp(-x)) with
    #   log(1 + exp(-x)) computed stably as torch.logaddexp(torch.zeros_like(x), -x). (The form
    #   max(x, 0) - x * y + log1p(exp(-|x|)) has the right values but the wrong gradient at x = 0.)
    #   Return the mean.
    raise NotImplementedError('bce_with_logits: not written yet, see the TODO above this line')


class SGDMomentum(torch.optim.Optimizer):
    """SGD with momentum and (coupled) weight decay, step for step the same as torch.optim.SGD.

    lr, momentum and weight_decay must be >= 0 (0 allowed; ValueError naming a negative one). Each
    param group carries its own lr, momentum and weight_decay, read at every step (a scheduler may
    change them). A parameter whose .grad is None is left alone (no decay either). Momentum buffers
    live per parameter in self.state, in the parameter's dtype, so state_dict() / load_state_dict()
    resume exactly. step(closure) returns the closure's loss (None without a closure).
    """

    def __init__(self, params: ParamsT, lr: float, momentum: float = 0.9, weight_decay: float = 0.0) -> None:
        # TODO: reject negative lr, momentum or weight_decay with a ValueError naming it, then
        #   super().__init__(params, defaults) with defaults = dict(lr=..., momentum=...,
        #   weight_decay=...) so that every param group carries its own hyperparameters.
        raise NotImplementedError('SGDMomentum.__init__: not written yet, see the TODO above this line')

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        """One update of every parameter that has a gradient; returns the closure's loss, if any."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        # TODO: for each group and each parameter p with a grad: d = grad + weight_decay * p;
        #   keep one momentum buffer PER PARAMETER in self.state[p] (so state_dict() saves it):
        #   the first step it is d.clone(), later buf = momentum * buf + d; then p -= lr * buf.
        #   Read lr, momentum and weight_decay from the group, not from self.
        raise NotImplementedError('SGDMomentum.step: not written yet, see the TODO above this line')
        return loss


class MyAdamW(torch.optim.Optimizer):
    """Adam with decoupled weight decay, step for step the same as torch.optim.AdamW.

    lr, eps and weight_decay must be >= 0 and each beta in [0, 1) (0 allowed; ValueError naming the bad
    argument). Each param group carries its own lr, betas, eps and weight_decay, read at every step. A
    parameter whose .grad is None is left alone (no decay either). Step counts and running averages live
    per parameter in self.state, so state_dict() / load_state_dict() resume exactly. step(closure)
    returns the closure's loss (None without a closure).
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.01,
    ) -> None:
        # TODO: validate (lr, eps, weight_decay >= 0; each beta in [0, 1)) with a ValueError
        #   naming the argument, then super().__init__(params, defaults) with all four
        #   hyperparameters in defaults.
        raise NotImplementedError('MyAdamW.__init__: not written yet, see the TODO above this line')

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        """One AdamW update of every parameter that has a gradient; returns the closure's loss, if any."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        # TODO: per parameter, in self.state[p]: a step count and zero-initialised exp_avg and
        #   exp_avg_sq. Each step: decay first, p *= 1 - lr * weight_decay (decoupled: not added
        #   to the gradient), then exp_avg = b1 * exp_avg + (1 - b1) * g,
        #   exp_avg_sq = b2 * exp_avg_sq + (1 - b2) * g * g, and
        #   p -= lr * (exp_avg / (1 - b1**t)) / (sqrt(exp_avg_sq / (1 - b2**t)) + eps).
        raise NotImplementedError('MyAdamW.step: not written yet, see the TODO above this line')
        return loss


def warmup_cosine(
    optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int, min_lr: float = 0.0
) -> LambdaLR:
    """A LambdaLR: linear warm-up from 0 to each group's base lr, then cosine decay to min_lr.

    After t calls of scheduler.step() a group with base lr B has
      lr = B * t / warmup_steps                                          for t < warmup_steps,
      lr = min_lr + (B - min_lr) * (1 + cos(pi * (t - warmup_steps) / (total_steps - warmup_steps))) / 2
                                                                         for warmup_steps <= t <= total_steps,
      lr = min_lr                                                        for t > total_steps.
    Requires 0 <= warmup_steps < total_steps and min_lr >= 0 (ValueError naming the bad argument).
    min_lr is an absolute lr, the same for every group; a group whose base lr is 0 stays at 0.
    """
    # TODO: validate the arguments (ValueError naming the bad one). LambdaLR multiplies each
    #   group's base lr by factor(t), so build one factor function per param group (min_lr is an
    #   absolute lr: divide it by that group's base lr) and return
    #   LambdaLR(optimizer, [one factor per group]). Use math.cos; clamp the cosine progress at 1.
    raise NotImplementedError('warmup_cosine: not written yet, see the TODO above this line')


def clip_grad_norm_(parameters: torch.Tensor | Iterable[torch.Tensor], max_norm: float) -> torch.Tensor:
    """Scale all gradients together so their joint L2 norm is at most max_norm; return the norm before.

    Like nn.utils.clip_grad_norm_: the coefficient is max_norm / (total_norm + 1e-6), capped at 1.
    Accepts one tensor or any iterable of tensors (a generator too); tensors without grad are skipped.
    Returns the total as a 0-dim tensor in the gradients' dtype (torch.tensor(0.) when no tensor has a
    grad); max_norm may be 0 (gradients zeroed), a negative one raises ValueError.
    """
    # TODO: max_norm < 0 is a ValueError. Turn parameters into a list once (a generator can be
    #   read only once), collect the grads that are not None, total = L2 norm of the per-grad
    #   norms (torch.linalg.vector_norm), coefficient = min(1, max_norm / (total + 1e-6)), and
    #   multiply every grad in place by the SAME coefficient. Return total.
    raise NotImplementedError('clip_grad_norm_: not written yet, see the TODO above this line')
