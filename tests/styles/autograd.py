"""Chapter 02 solved in other styles."""

import torch


def grad(f, x):
    if not torch.is_tensor(x) or not x.is_floating_point():
        raise TypeError("x must be a floating-point tensor")
    if f(x.detach()).numel() != 1:
        raise ValueError("f must return a scalar")
    return torch.func.grad(f)(x)


@torch.enable_grad()
def second_derivative(f, x):
    x = x.detach().clone().requires_grad_()
    y = f(x)
    if not y.requires_grad:
        return torch.zeros_like(x)
    g = torch.autograd.grad(y, x, grad_outputs=torch.ones_like(y), create_graph=True, allow_unused=True)[0]
    if g is None or not g.requires_grad:
        return torch.zeros_like(x)
    return torch.autograd.grad(g, x, grad_outputs=torch.ones_like(g), allow_unused=True,
                               materialize_grads=True)[0]


def _vector(x):
    if not torch.is_tensor(x) or not x.is_floating_point():
        raise TypeError("x must be a floating-point tensor")
    if x.dim() != 1:
        raise ValueError("x must be 1-D")


@torch.enable_grad()
def jacobian(f, x):
    _vector(x)
    x = x.detach().requires_grad_()
    y = f(x)
    if not y.requires_grad:
        return x.new_zeros(y.numel(), x.numel())
    eye = torch.eye(y.numel(), dtype=y.dtype)
    return torch.autograd.grad(y, x, eye, is_grads_batched=True, allow_unused=True, materialize_grads=True)[0]


@torch.enable_grad()
def hessian(f, x):
    _vector(x)
    x = x.detach().requires_grad_()
    n = x.numel()
    H = x.new_zeros(n, n)
    y = f(x)
    if not y.requires_grad:
        return H
    g = torch.autograd.grad(y, x, create_graph=True, allow_unused=True, materialize_grads=True)[0]
    if not g.requires_grad:
        return H
    for i in range(n):
        H[i] = torch.autograd.grad(g[i], x, retain_graph=True, allow_unused=True, materialize_grads=True)[0]
    return H


class Square(torch.autograd.Function):
    @staticmethod
    def forward(x):
        return x ** 2

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 2 * x * g


class Swish(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        s = torch.sigmoid(x)
        ctx.save_for_backward(x, s)
        return x * s

    @staticmethod
    def backward(ctx, g):
        x, s = ctx.saved_tensors
        return g * (s * (1 + x * (1 - s)))


class StraightThroughRound(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x.round()

    @staticmethod
    def vjp(ctx, g):
        return g.clone()


def accumulated_grads(model, loss_fn, x, y, micro_batches):
    if type(micro_batches) is not int or not 1 <= micro_batches <= len(x) or len(x) != len(y):
        raise ValueError("micro_batches must be in [1, len(x)] and x, y of the same length")
    params = {k: p for k, p in model.named_parameters() if p.requires_grad}
    total = {k: torch.zeros_like(p) for k, p in params.items()}
    for xb, yb in zip(torch.tensor_split(x, micro_batches), torch.tensor_split(y, micro_batches), strict=False):
        loss = loss_fn(model(xb), yb) * len(xb) / len(x)
        gs = torch.autograd.grad(loss, list(params.values()), allow_unused=True, materialize_grads=True)
        for k, g in zip(params, gs, strict=False):
            total[k] += g
    return total


def sgd_step_(params, lr):
    if lr < 0:
        raise ValueError("lr must be non-negative")
    for p in params:
        if p.grad is None:
            continue
        with torch.no_grad():
            p -= lr * p.grad
        p.grad = None
