"""Chapter 12 solved in other styles: max-shifted log-sum-exp, softplus, other state keys, callable lr factors."""

import math

import torch
from torch.nn import functional as F
from torch.optim.lr_scheduler import LambdaLR


def cross_entropy(logits, target, label_smoothing=0.0):
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing}")
    if logits.dim() != 2 or target.shape != logits.shape[:1]:
        raise ValueError(f"logits must be (N, C) and target (N,), got {tuple(logits.shape)}, {tuple(target.shape)}")
    shifted = logits - logits.max(dim=1, keepdim=True).values
    log_probs = shifted - shifted.exp().sum(dim=1, keepdim=True).log()
    nll = -log_probs[torch.arange(logits.shape[0]), target]
    uniform = -log_probs.sum(dim=1) / logits.shape[1]
    return ((1.0 - label_smoothing) * nll + label_smoothing * uniform).mean()


def bce_with_logits(logits, target):
    if target.shape != logits.shape:
        raise ValueError(f"target shape {tuple(target.shape)} differs from the logits' {tuple(logits.shape)}")
    return (F.softplus(logits) - logits * target).mean()


class SGDMomentum(torch.optim.Optimizer):
    def __init__(self, params, lr, momentum=0.9, weight_decay=0.0):
        for name, value in (("lr", lr), ("momentum", momentum), ("weight_decay", weight_decay)):
            if value < 0:
                raise ValueError(f"{name} must be >= 0, got {value}")
        super().__init__(params, {"lr": lr, "momentum": momentum, "weight_decay": weight_decay})

    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        with torch.no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    direction = p.grad.add(p, alpha=group["weight_decay"])
                    state = self.state[p]
                    if "velocity" in state:
                        state["velocity"].mul_(group["momentum"]).add_(direction)
                    else:
                        state["velocity"] = direction.clone()
                    p.add_(state["velocity"], alpha=-group["lr"])
        return loss


class MyAdamW(torch.optim.Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01):
        if lr < 0 or eps < 0 or weight_decay < 0:
            raise ValueError(f"lr, eps and weight_decay must be >= 0, got {lr}, {eps}, {weight_decay}")
        if not all(0.0 <= beta < 1.0 for beta in betas):
            raise ValueError(f"betas must lie in [0, 1), got {betas}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay))

    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        with torch.no_grad():
            for group in self.param_groups:
                beta1, beta2 = group["betas"]
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    state = self.state[p]
                    if not state:
                        state["t"] = 0
                        state["m"] = torch.zeros_like(p)
                        state["v"] = torch.zeros_like(p)
                    state["t"] += 1
                    t, m, v = state["t"], state["m"], state["v"]
                    p.mul_(1.0 - group["lr"] * group["weight_decay"])
                    m.lerp_(p.grad, 1.0 - beta1)
                    v.mul_(beta2).addcmul_(p.grad, p.grad, value=1.0 - beta2)
                    denom = (v.sqrt() / math.sqrt(1.0 - beta2**t)).add_(group["eps"])
                    p.addcdiv_(m, denom, value=-group["lr"] / (1.0 - beta1**t))
        return loss


class _WarmupCosineFactor:
    """lr(t) / base_lr for one param group; an object, so LambdaLR.state_dict() can save it."""

    def __init__(self, base_lr, warmup_steps, total_steps, min_lr):
        self.base_lr, self.warmup_steps, self.total_steps, self.min_lr = base_lr, warmup_steps, total_steps, min_lr

    def __call__(self, t):
        if self.base_lr == 0:
            return 0.0
        if t < self.warmup_steps:
            return t / self.warmup_steps
        progress = min(t - self.warmup_steps, self.total_steps - self.warmup_steps)
        cosine = 0.5 * (1.0 + math.cos(math.pi * progress / (self.total_steps - self.warmup_steps)))
        return (self.min_lr + (self.base_lr - self.min_lr) * cosine) / self.base_lr


def warmup_cosine(optimizer, warmup_steps, total_steps, min_lr=0.0):
    if warmup_steps < 0:
        raise ValueError(f"warmup_steps must be >= 0, got {warmup_steps}")
    if total_steps <= warmup_steps:
        raise ValueError(f"total_steps must exceed warmup_steps, got {total_steps} <= {warmup_steps}")
    if min_lr < 0:
        raise ValueError(f"min_lr must be >= 0, got {min_lr}")
    factors = [
        _WarmupCosineFactor(group.get("initial_lr", group["lr"]), warmup_steps, total_steps, min_lr)
        for group in optimizer.param_groups
    ]
    return LambdaLR(optimizer, factors)


def clip_grad_norm_(parameters, max_norm):
    if max_norm < 0:
        raise ValueError(f"max_norm must be >= 0, got {max_norm}")
    if isinstance(parameters, torch.Tensor):
        parameters = [parameters]
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return torch.tensor(0.0)
    total = torch.sqrt(sum(g.detach().pow(2).sum() for g in grads))
    coefficient = max_norm / (total + 1e-6)
    if coefficient < 1:
        for g in grads:
            g.detach().mul_(coefficient)
    return total
