"""Mutants of solutions/optim.py: real mistakes the chapter 12 graders must catch."""

import math

import torch
from torch.optim.lr_scheduler import LambdaLR

from torchkata.mutants import mutant


@mutant("cross_entropy", "naive softmax: exp of the raw logits (NaN at 1e4)")
def cross_entropy(logits, target, label_smoothing=0.0):
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError("label_smoothing")
    probs = torch.exp(logits) / torch.exp(logits).sum(dim=1, keepdim=True)
    log_probs = torch.log(probs)
    nll = -log_probs.gather(1, target.unsqueeze(1)).squeeze(1)
    return ((1 - label_smoothing) * nll + label_smoothing * -log_probs.mean(dim=1)).mean()


@mutant("cross_entropy", "log of a (stable) softmax: -inf once a probability underflows")
def cross_entropy(logits, target, label_smoothing=0.0):
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError("label_smoothing")
    log_probs = torch.log(torch.softmax(logits, dim=1))
    nll = -log_probs.gather(1, target.unsqueeze(1)).squeeze(1)
    return ((1 - label_smoothing) * nll + label_smoothing * -log_probs.mean(dim=1)).mean()


@mutant("cross_entropy", "label smoothing ignored")
def cross_entropy(logits, target, label_smoothing=0.0):
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError("label_smoothing")
    log_probs = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    return -log_probs.gather(1, target.unsqueeze(1)).squeeze(1).mean()


@mutant("cross_entropy", "smoothing mass e / (C - 1) spread over the wrong classes only")
def cross_entropy(logits, target, label_smoothing=0.0):
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError("label_smoothing")
    classes = logits.shape[1]
    log_probs = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    weights = torch.full_like(log_probs, label_smoothing / (classes - 1))
    weights.scatter_(1, target.unsqueeze(1), 1.0 - label_smoothing)
    return -(weights * log_probs).sum(dim=1).mean()


@mutant("cross_entropy", "summed over the batch instead of averaged")
def cross_entropy(logits, target, label_smoothing=0.0):
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError("label_smoothing")
    log_probs = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    nll = -log_probs.gather(1, target.unsqueeze(1)).squeeze(1)
    return ((1 - label_smoothing) * nll + label_smoothing * -log_probs.mean(dim=1)).sum()


@mutant("bce_with_logits", "log of sigmoid: -inf at large |logits|")
def bce_with_logits(logits, target):
    if target.shape != logits.shape:
        raise ValueError("target")
    probs = torch.sigmoid(logits)
    return -(target * torch.log(probs) + (1 - target) * torch.log(1 - probs)).mean()


@mutant("bce_with_logits", "log(1 + exp(x)) without the max trick: overflows at 1e4")
def bce_with_logits(logits, target):
    if target.shape != logits.shape:
        raise ValueError("target")
    return (torch.log(1 + torch.exp(logits)) - logits * target).mean()


@mutant("bce_with_logits", "delegates to F.binary_cross_entropy_with_logits")
def bce_with_logits(logits, target):
    return torch.nn.functional.binary_cross_entropy_with_logits(logits, target)


@mutant("bce_with_logits", "target shape not checked: broadcasting hides the mismatch")
def bce_with_logits(logits, target):
    return (logits.clamp(min=0) - logits * target + torch.log1p(torch.exp(-logits.abs()))).mean()


@mutant("SGDMomentum", "one momentum buffer shared by all parameters")
class SGDMomentum(torch.optim.Optimizer):
    def __init__(self, params, lr, momentum=0.9, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay))
        self.velocity = None

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                d = p.grad + group["weight_decay"] * p
                if self.velocity is None or self.velocity.shape != d.shape:
                    self.velocity = d.clone()
                else:
                    self.velocity = group["momentum"] * self.velocity + d
                p -= group["lr"] * self.velocity


@mutant("SGDMomentum", "momentum buffers kept in an attribute, so state_dict() loses them")
class SGDMomentum(torch.optim.Optimizer):
    def __init__(self, params, lr, momentum=0.9, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay))
        self.buffers = {}

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                d = p.grad + group["weight_decay"] * p
                if id(p) not in self.buffers:
                    self.buffers[id(p)] = d.clone()
                else:
                    self.buffers[id(p)].mul_(group["momentum"]).add_(d)
                p -= group["lr"] * self.buffers[id(p)]


@mutant("SGDMomentum", "hyperparameters saved in __init__, param groups ignored")
class SGDMomentum(torch.optim.Optimizer):
    def __init__(self, params, lr, momentum=0.9, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay))
        self.lr, self.momentum, self.weight_decay = lr, momentum, weight_decay

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                d = p.grad + self.weight_decay * p
                state = self.state[p]
                if "buf" not in state:
                    state["buf"] = d.clone()
                else:
                    state["buf"].mul_(self.momentum).add_(d)
                p -= self.lr * state["buf"]


@mutant("SGDMomentum", "dampened buffer: momentum * buf + (1 - momentum) * grad")
class SGDMomentum(torch.optim.Optimizer):
    def __init__(self, params, lr, momentum=0.9, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                d = p.grad + group["weight_decay"] * p
                state = self.state[p]
                buf = state.setdefault("buf", torch.zeros_like(p))
                buf.mul_(group["momentum"]).add_(d, alpha=1 - group["momentum"])
                p -= group["lr"] * buf


@mutant("SGDMomentum", "the learning rate folded into the momentum buffer")
class SGDMomentum(torch.optim.Optimizer):
    def __init__(self, params, lr, momentum=0.9, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                d = p.grad + group["weight_decay"] * p
                state = self.state[p]
                buf = state.setdefault("buf", torch.zeros_like(p))
                buf.mul_(group["momentum"]).add_(d, alpha=group["lr"])
                p -= buf


@mutant("SGDMomentum", "weight decay added after the momentum buffer")
class SGDMomentum(torch.optim.Optimizer):
    def __init__(self, params, lr, momentum=0.9, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if "buf" not in state:
                    state["buf"] = p.grad.clone()
                else:
                    state["buf"].mul_(group["momentum"]).add_(p.grad)
                p -= group["lr"] * (state["buf"] + group["weight_decay"] * p)


@mutant("SGDMomentum", "subclasses torch.optim.SGD instead of writing the update")
class SGDMomentum(torch.optim.SGD):
    def __init__(self, params, lr, momentum=0.9, weight_decay=0.0):
        super().__init__(params, lr=lr, momentum=momentum, weight_decay=weight_decay)


@mutant("MyAdamW", "L2 penalty added to the gradient instead of decoupled weight decay")
class MyAdamW(torch.optim.Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state.update(step=0, m=torch.zeros_like(p), v=torch.zeros_like(p))
                state["step"] += 1
                g = p.grad + group["weight_decay"] * p
                state["m"].mul_(beta1).add_(g, alpha=1 - beta1)
                state["v"].mul_(beta2).addcmul_(g, g, value=1 - beta2)
                m_hat = state["m"] / (1 - beta1 ** state["step"])
                v_hat = state["v"] / (1 - beta2 ** state["step"])
                p -= group["lr"] * m_hat / (v_hat.sqrt() + group["eps"])


@mutant("MyAdamW", "no bias correction")
class MyAdamW(torch.optim.Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state.update(m=torch.zeros_like(p), v=torch.zeros_like(p))
                p.mul_(1 - group["lr"] * group["weight_decay"])
                state["m"].mul_(beta1).add_(p.grad, alpha=1 - beta1)
                state["v"].mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
                p -= group["lr"] * state["m"] / (state["v"].sqrt() + group["eps"])


@mutant("MyAdamW", "one step counter for the whole optimizer, bumped once per parameter")
class MyAdamW(torch.optim.Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))
        self.t = 0

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state.update(m=torch.zeros_like(p), v=torch.zeros_like(p))
                self.t += 1
                p.mul_(1 - group["lr"] * group["weight_decay"])
                state["m"].mul_(beta1).add_(p.grad, alpha=1 - beta1)
                state["v"].mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
                m_hat = state["m"] / (1 - beta1**self.t)
                v_hat = state["v"] / (1 - beta2**self.t)
                p -= group["lr"] * m_hat / (v_hat.sqrt() + group["eps"])


@mutant("MyAdamW", "eps inside the square root")
class MyAdamW(torch.optim.Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state.update(step=0, m=torch.zeros_like(p), v=torch.zeros_like(p))
                state["step"] += 1
                p.mul_(1 - group["lr"] * group["weight_decay"])
                state["m"].mul_(beta1).add_(p.grad, alpha=1 - beta1)
                state["v"].mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
                m_hat = state["m"] / (1 - beta1 ** state["step"])
                v_hat = state["v"] / (1 - beta2 ** state["step"])
                p -= group["lr"] * m_hat / (v_hat + group["eps"]).sqrt()


@mutant("MyAdamW", "weight decay not scaled by the learning rate")
class MyAdamW(torch.optim.Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state.update(step=0, m=torch.zeros_like(p), v=torch.zeros_like(p))
                state["step"] += 1
                p.mul_(1 - group["weight_decay"])
                state["m"].mul_(beta1).add_(p.grad, alpha=1 - beta1)
                state["v"].mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
                m_hat = state["m"] / (1 - beta1 ** state["step"])
                v_hat = state["v"] / (1 - beta2 ** state["step"])
                p -= group["lr"] * m_hat / (v_hat.sqrt() + group["eps"])


@mutant("MyAdamW", "step count kept in an attribute, so state_dict() loses it")
class MyAdamW(torch.optim.Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))
        self.steps_taken = 0

    @torch.no_grad()
    def step(self, closure=None):
        self.steps_taken += 1
        t = self.steps_taken
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state.update(m=torch.zeros_like(p), v=torch.zeros_like(p))
                p.mul_(1 - group["lr"] * group["weight_decay"])
                state["m"].mul_(beta1).add_(p.grad, alpha=1 - beta1)
                state["v"].mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
                m_hat = state["m"] / (1 - beta1**t)
                v_hat = state["v"] / (1 - beta2**t)
                p -= group["lr"] * m_hat / (v_hat.sqrt() + group["eps"])


@mutant("warmup_cosine", "warm-up off by one step: (t + 1) / warmup_steps")
def warmup_cosine(optimizer, warmup_steps, total_steps, min_lr=0.0):
    if warmup_steps < 0 or total_steps <= warmup_steps:
        raise ValueError("warmup_steps")

    def factor_for(base):
        def factor(t):
            if t + 1 < warmup_steps:
                return (t + 1) / warmup_steps
            progress = min(1.0, (t - warmup_steps) / (total_steps - warmup_steps))
            return (min_lr + (base - min_lr) * 0.5 * (1 + math.cos(math.pi * progress))) / base

        return factor

    return LambdaLR(optimizer, [factor_for(group["lr"]) for group in optimizer.param_groups])


@mutant("warmup_cosine", "cosine decays to 0, min_lr ignored")
def warmup_cosine(optimizer, warmup_steps, total_steps, min_lr=0.0):
    if warmup_steps < 0 or total_steps <= warmup_steps:
        raise ValueError("warmup_steps")

    def factor(t):
        if t < warmup_steps:
            return t / warmup_steps
        progress = min(1.0, (t - warmup_steps) / (total_steps - warmup_steps))
        return 0.5 * (1 + math.cos(math.pi * progress))

    return LambdaLR(optimizer, factor)


@mutant("warmup_cosine", "cosine progress measured over total_steps instead of the decay phase")
def warmup_cosine(optimizer, warmup_steps, total_steps, min_lr=0.0):
    if warmup_steps < 0 or total_steps <= warmup_steps:
        raise ValueError("warmup_steps")

    def factor_for(base):
        def factor(t):
            if t < warmup_steps:
                return t / warmup_steps
            progress = min(1.0, (t - warmup_steps) / total_steps)
            return (min_lr + (base - min_lr) * 0.5 * (1 + math.cos(math.pi * progress))) / base

        return factor

    return LambdaLR(optimizer, [factor_for(group["lr"]) for group in optimizer.param_groups])


@mutant("warmup_cosine", "min_lr treated as a fraction of the base lr")
def warmup_cosine(optimizer, warmup_steps, total_steps, min_lr=0.0):
    if warmup_steps < 0 or total_steps <= warmup_steps:
        raise ValueError("warmup_steps")

    def factor(t):
        if t < warmup_steps:
            return t / warmup_steps
        progress = min(1.0, (t - warmup_steps) / (total_steps - warmup_steps))
        return min_lr + (1 - min_lr) * 0.5 * (1 + math.cos(math.pi * progress))

    return LambdaLR(optimizer, factor)


@mutant("warmup_cosine", "min_lr divided by the first group's lr for every group")
def warmup_cosine(optimizer, warmup_steps, total_steps, min_lr=0.0):
    if warmup_steps < 0 or total_steps <= warmup_steps:
        raise ValueError("warmup_steps")
    ratio = min_lr / optimizer.param_groups[0]["lr"]

    def factor(t):
        if t < warmup_steps:
            return t / warmup_steps
        progress = min(1.0, (t - warmup_steps) / (total_steps - warmup_steps))
        return ratio + (1 - ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return LambdaLR(optimizer, factor)


@mutant("warmup_cosine", "cosine not clamped: the lr rises again after total_steps")
def warmup_cosine(optimizer, warmup_steps, total_steps, min_lr=0.0):
    if warmup_steps < 0 or total_steps <= warmup_steps:
        raise ValueError("warmup_steps")

    def factor_for(base):
        def factor(t):
            if t < warmup_steps:
                return t / warmup_steps
            progress = (t - warmup_steps) / (total_steps - warmup_steps)
            return (min_lr + (base - min_lr) * 0.5 * (1 + math.cos(math.pi * progress))) / base

        return factor

    return LambdaLR(optimizer, [factor_for(group["lr"]) for group in optimizer.param_groups])


@mutant("clip_grad_norm_", "each parameter clipped to max_norm on its own")
def clip_grad_norm_(parameters, max_norm):
    if max_norm < 0:
        raise ValueError("max_norm")
    tensors = [parameters] if isinstance(parameters, torch.Tensor) else list(parameters)
    grads = [p.grad for p in tensors if p.grad is not None]
    norms = [torch.linalg.vector_norm(g) for g in grads]
    for grad, norm in zip(grads, norms, strict=True):
        grad.mul_(torch.clamp(max_norm / (norm + 1e-6), max=1.0))
    return torch.linalg.vector_norm(torch.stack(norms))


@mutant("clip_grad_norm_", "a generator read twice: the second loop scales nothing")
def clip_grad_norm_(parameters, max_norm):
    if max_norm < 0:
        raise ValueError("max_norm")
    if isinstance(parameters, torch.Tensor):
        parameters = [parameters]
    total = torch.linalg.vector_norm(
        torch.stack([torch.linalg.vector_norm(p.grad) for p in parameters if p.grad is not None])
    )
    coefficient = torch.clamp(max_norm / (total + 1e-6), max=1.0)
    for p in parameters:
        if p.grad is not None:
            p.grad.mul_(coefficient)
    return total


@mutant("clip_grad_norm_", "coefficient not capped at 1: small gradients are scaled up")
def clip_grad_norm_(parameters, max_norm):
    if max_norm < 0:
        raise ValueError("max_norm")
    tensors = [parameters] if isinstance(parameters, torch.Tensor) else list(parameters)
    grads = [p.grad for p in tensors if p.grad is not None]
    total = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
    for grad in grads:
        grad.mul_(max_norm / (total + 1e-6))
    return total


@mutant("clip_grad_norm_", "returns the norm after clipping")
def clip_grad_norm_(parameters, max_norm):
    if max_norm < 0:
        raise ValueError("max_norm")
    tensors = [parameters] if isinstance(parameters, torch.Tensor) else list(parameters)
    grads = [p.grad for p in tensors if p.grad is not None]
    total = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
    for grad in grads:
        grad.mul_(torch.clamp(max_norm / (total + 1e-6), max=1.0))
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))


@mutant("clip_grad_norm_", "total norm as the sum of the per-parameter norms")
def clip_grad_norm_(parameters, max_norm):
    if max_norm < 0:
        raise ValueError("max_norm")
    tensors = [parameters] if isinstance(parameters, torch.Tensor) else list(parameters)
    grads = [p.grad for p in tensors if p.grad is not None]
    total = torch.stack([torch.linalg.vector_norm(g) for g in grads]).sum()
    for grad in grads:
        grad.mul_(torch.clamp(max_norm / (total + 1e-6), max=1.0))
    return total


@mutant("clip_grad_norm_", "delegates to torch.nn.utils.clip_grad_norm_")
def clip_grad_norm_(parameters, max_norm):
    if max_norm < 0:
        raise ValueError("max_norm")
    return torch.nn.utils.clip_grad_norm_(parameters, max_norm)


@mutant("cross_entropy", "delegates to F.cross_entropy")
def cross_entropy(logits, target, label_smoothing=0.0):
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError("label_smoothing")
    return torch.nn.functional.cross_entropy(logits, target, label_smoothing=label_smoothing)
