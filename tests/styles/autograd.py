"""Chapter 02 solved in other styles."""

import torch


def grad(f, x):
    return torch.func.grad(f)(x)


def second_derivative(f, x):
    x = x.detach().clone().requires_grad_()
    y = f(x)
    g = torch.autograd.grad(y, x, grad_outputs=torch.ones_like(y), create_graph=True)[0]
    return torch.autograd.grad(g, x, grad_outputs=torch.ones_like(g))[0]


def jacobian(f, x):
    x = x.detach().requires_grad_()
    y = f(x)
    eye = torch.eye(y.numel(), dtype=y.dtype)
    return torch.autograd.grad(y, x, eye, is_grads_batched=True)[0]


def hessian(f, x):
    x = x.detach().requires_grad_()
    g = torch.autograd.grad(f(x), x, create_graph=True)[0]
    n = x.numel()
    H = torch.zeros(n, n)
    for i in range(n):
        H[i] = torch.autograd.grad(g[i], x, retain_graph=True)[0]
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
    params = dict(model.named_parameters())
    total = {k: torch.zeros_like(p) for k, p in params.items()}
    for xb, yb in zip(torch.chunk(x, micro_batches), torch.chunk(y, micro_batches), strict=False):
        loss = loss_fn(model(xb), yb) / micro_batches
        gs = torch.autograd.grad(loss, list(params.values()))
        for k, g in zip(params, gs, strict=False):
            total[k] += g
    return total


def sgd_step_(params, lr):
    for p in params:
        if p.grad is None:
            continue
        with torch.no_grad():
            p -= lr * p.grad
        p.grad = None
