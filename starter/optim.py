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
    # TODO: raise ValueError naming the bad argument unless label_smoothing lies in [0, 1] and the
    #   shapes fit; return the mean over the batch of the cross-entropy of softmax(logits)
    #   against target, mixed with label_smoothing times the uniform distribution's, finite for
    #   any logits (1e4 included).
    raise NotImplementedError('cross_entropy: not written yet, see the TODO above this line')


def bce_with_logits(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean binary cross-entropy of logits against targets in [0, 1], like F.binary_cross_entropy_with_logits.

    Any shape works (a 0-dim tensor too); target must have the logits' shape (ValueError otherwise).
    Finite for any logits (1e4 included); the loss keeps the logits' dtype, an empty input gives NaN,
    and its gradient is (sigmoid(x) - y) / n everywhere, at x = 0 too (as torch's). Inputs are left unchanged.
    """
    # TODO: raise ValueError naming target unless it has the logits' shape; return the mean binary
    #   cross-entropy of sigmoid(logits) against target, finite for any logits, with the
    #   gradient sigmoid(x) - y everywhere (x = 0 included).
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
        # TODO: raise ValueError naming lr, momentum or weight_decay when negative; register the
        #   parameters so that every param group carries its own hyperparameters.
        raise NotImplementedError('SGDMomentum.__init__: not written yet, see the TODO above this line')

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        """One update of every parameter that has a gradient; returns the closure's loss, if any."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        # TODO: for each parameter with a gradient, in each group (with that group's
        #   hyperparameters): add weight_decay * p to the gradient, update that parameter's own
        #   momentum buffer (kept in the optimizer's state, so state_dict() saves it) and step
        #   against it, exactly as torch.optim.SGD does.
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
        # TODO: raise ValueError naming the argument unless lr, eps and weight_decay are >= 0 and
        #   each beta lies in [0, 1); register the parameters with all four hyperparameters in
        #   the defaults.
        raise NotImplementedError('MyAdamW.__init__: not written yet, see the TODO above this line')

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        """One AdamW update of every parameter that has a gradient; returns the closure's loss, if any."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        # TODO: for each parameter with a gradient: shrink it directly by the decoupled weight
        #   decay, then take the Adam step with bias-corrected running averages of g and g * g,
        #   counted per parameter in the optimizer's state, exactly as torch.optim.AdamW does.
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
    # TODO: raise ValueError naming the bad argument; return a LambdaLR whose lr rises linearly from
    #   0 to each group's base lr over warmup_steps steps, then follows a cosine down to min_lr
    #   at total_steps and stays there.
    raise NotImplementedError('warmup_cosine: not written yet, see the TODO above this line')


def clip_grad_norm_(parameters: torch.Tensor | Iterable[torch.Tensor], max_norm: float) -> torch.Tensor:
    """Scale all gradients together so their joint L2 norm is at most max_norm; return the norm before.

    Like nn.utils.clip_grad_norm_: the coefficient is max_norm / (total_norm + 1e-6), capped at 1.
    Accepts one tensor or any iterable of tensors (a generator too); tensors without grad are skipped.
    Returns the total as a 0-dim tensor in the gradients' dtype (torch.tensor(0.) when no tensor has a
    grad); max_norm may be 0 (gradients zeroed), a negative one raises ValueError.
    """
    # TODO: raise ValueError for max_norm < 0; scale every gradient in place by one common factor so
    #   their joint L2 norm is at most max_norm, and return that norm measured before clipping.
    #   parameters may be a single tensor or a one-shot generator.
    raise NotImplementedError('clip_grad_norm_: not written yet, see the TODO above this line')
