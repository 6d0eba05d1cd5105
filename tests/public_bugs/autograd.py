"""Realistic mistakes in chapter 02, autograd, that the public checks alone must catch."""

import torch

from torchkata.mutants import mutant


@mutant("Swish", "the backward keeps sigmoid(x) and drops the x * s * (1 - s) term of the product rule")
class Swish(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * torch.sigmoid(x)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * torch.sigmoid(x)


@mutant("Square", "the backward returns grad_output * x, without the factor 2")
class Square(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * x


@mutant("accumulated_grads", "the micro-batch losses are summed without scaling by their share of the batch")
def accumulated_grads(model, loss_fn, x, y, micro_batches):
    model.zero_grad()
    for x_part, y_part in zip(x.tensor_split(micro_batches), y.tensor_split(micro_batches), strict=True):
        loss_fn(model(x_part), y_part).backward()
    return {name: p.grad.clone() for name, p in model.named_parameters()}


@mutant("sgd_step_", "updates through .data and never zeroes the gradients")
def sgd_step_(params, lr):
    for p in params:
        if p.grad is not None:
            p.data -= lr * p.grad


@mutant("grad", "x itself is made to require grad and f(x).backward() fills x.grad, which the caller sees")
def grad(f, x):
    x.requires_grad_(True)
    f(x).backward()
    return x.grad
