"""Mutants of solutions/autograd.py: real mistakes the chapter 02 graders must catch.

Each definition is appended to the reference module, so it sees only that module's imports
(Callable, Iterable, torch, nn) and definitions.
"""

import torch

from torchkata.mutants import mutant


@mutant("grad", "output.backward() accumulates into x.grad, which is returned")
def grad(f, x):
    if not x.requires_grad:
        x.requires_grad_(True)
    f(x).backward()
    return x.grad


@mutant("grad", "x.grad zeroed and overwritten to get a clean gradient")
def grad(f, x):
    leaf = x if x.requires_grad else x.detach().requires_grad_(True)
    if leaf.grad is not None:
        leaf.grad.zero_()
    f(leaf).backward()
    return leaf.grad.clone()


@mutant("second_derivative", "no create_graph on the first derivative")
def second_derivative(f, x):
    leaf = x.detach().requires_grad_(True)
    (first,) = torch.autograd.grad(f(leaf).sum(), leaf)
    (second,) = torch.autograd.grad(first.sum(), leaf)
    return second


@mutant("second_derivative", "the first derivative returned")
def second_derivative(f, x):
    leaf = x.detach().requires_grad_(True)
    (first,) = torch.autograd.grad(f(leaf).sum(), leaf, create_graph=True)
    return first.detach()


@mutant("second_derivative", ".grad not cleared between the two backward passes")
def second_derivative(f, x):
    leaf = x.detach().requires_grad_(True)
    f(leaf).sum().backward(create_graph=True)
    leaf.grad.sum().backward()
    return leaf.grad.detach()


@mutant("jacobian", "torch.autograd.functional.jacobian used")
def jacobian(f, x):
    return torch.autograd.functional.jacobian(f, x)


@mutant("jacobian", "transposed: (n, m) instead of (m, n)")
def jacobian(f, x):
    leaf = x.detach().requires_grad_(True)
    output = f(leaf)
    rows = [torch.autograd.grad(value, leaf, retain_graph=True)[0] for value in output]
    return torch.stack(rows, dim=1)


@mutant("jacobian", "x.grad not reset between rows, so they add up")
def jacobian(f, x):
    leaf = x.detach().requires_grad_(True)
    output = f(leaf)
    rows = []
    for value in output:
        value.backward(retain_graph=True)
        rows.append(leaf.grad.clone())
    return torch.stack(rows)


@mutant("jacobian", "the gradient of the summed output repeated on every row")
def jacobian(f, x):
    leaf = x.detach().requires_grad_(True)
    output = f(leaf)
    (row,) = torch.autograd.grad(output.sum(), leaf)
    return row.expand(output.numel(), -1).clone()


@mutant("hessian", "no create_graph on the gradient")
def hessian(f, x):
    leaf = x.detach().requires_grad_(True)
    (gradient,) = torch.autograd.grad(f(leaf), leaf)
    rows = [torch.autograd.grad(value, leaf, retain_graph=True)[0] for value in gradient]
    return torch.stack(rows)


@mutant("hessian", "torch.autograd.functional.hessian used")
def hessian(f, x):
    return torch.autograd.functional.hessian(f, x)


@mutant("hessian", "only the diagonal, from the sum of the gradient")
def hessian(f, x):
    leaf = x.detach().requires_grad_(True)
    (gradient,) = torch.autograd.grad(f(leaf), leaf, create_graph=True)
    (row_sums,) = torch.autograd.grad(gradient.sum(), leaf)
    return torch.diag(row_sums)


@mutant("hessian", "the outer product of the gradient instead of second derivatives")
def hessian(f, x):
    leaf = x.detach().requires_grad_(True)
    (gradient,) = torch.autograd.grad(f(leaf), leaf)
    return torch.outer(gradient, gradient)


@mutant("Square", "backward missing the factor 2")
class Square(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * x


@mutant("Square", "backward ignores grad_output")
class Square(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return 2 * x


@mutant("Square", "in-place square in forward overwrites the input backward needs")
class Square(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.mul_(x)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * 2 * x


@mutant("Square", "backward detaches the saved input, so it cannot be differentiated again")
class Square(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * 2 * x.detach()


@mutant("Swish", "backward keeps only sigmoid(x), dropping the x * s * (1 - s) term")
class Swish(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * torch.sigmoid(x)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * torch.sigmoid(x)


@mutant("Swish", "backward is the derivative of sigmoid alone")
class Swish(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * torch.sigmoid(x)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        s = torch.sigmoid(x)
        return grad_output * s * (1 - s)


@mutant("Swish", "in-place multiply in forward changes x and breaks backward")
class Swish(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        s = torch.sigmoid(x)
        ctx.save_for_backward(x)
        return x.mul_(s)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        s = torch.sigmoid(x)
        return grad_output * (s + x * s * (1 - s))


@mutant("StraightThroughRound", "backward returns the true derivative of round (zeros)")
class StraightThroughRound(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return torch.round(x)

    @staticmethod
    def backward(ctx, grad_output):
        return torch.zeros_like(grad_output)


@mutant("StraightThroughRound", "floor instead of round in forward")
class StraightThroughRound(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return torch.floor(x)

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output


@mutant("StraightThroughRound", "backward ignores grad_output (always ones)")
class StraightThroughRound(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return torch.round(x)

    @staticmethod
    def backward(ctx, grad_output):
        return torch.ones_like(grad_output)


@mutant("StraightThroughRound", "the detach trick in a plain class instead of an autograd.Function")
class StraightThroughRound:
    @staticmethod
    def apply(x):
        return x + (torch.round(x) - x).detach()


@mutant("accumulated_grads", "accumulation not divided by the number of micro-batches")
def accumulated_grads(model, loss_fn, x, y, micro_batches):
    model.zero_grad(set_to_none=True)
    for x_part, y_part in zip(x.tensor_split(micro_batches), y.tensor_split(micro_batches), strict=True):
        loss_fn(model(x_part), y_part).backward()
    return {name: p.grad.clone() for name, p in model.named_parameters()}


@mutant("accumulated_grads", "old gradients not cleared before accumulating")
def accumulated_grads(model, loss_fn, x, y, micro_batches):
    for x_part, y_part in zip(x.tensor_split(micro_batches), y.tensor_split(micro_batches), strict=True):
        (loss_fn(model(x_part), y_part) / micro_batches).backward()
    return {name: p.grad.clone() for name, p in model.named_parameters()}


@mutant("accumulated_grads", "zero_grad inside the loop keeps only the last micro-batch")
def accumulated_grads(model, loss_fn, x, y, micro_batches):
    for x_part, y_part in zip(x.tensor_split(micro_batches), y.tensor_split(micro_batches), strict=True):
        model.zero_grad()
        (loss_fn(model(x_part), y_part) / micro_batches).backward()
    return {name: p.grad.clone() for name, p in model.named_parameters()}


@mutant("accumulated_grads", "the whole batch in one pass, no micro-batches")
def accumulated_grads(model, loss_fn, x, y, micro_batches):
    model.zero_grad()
    loss_fn(model(x), y).backward()
    return {name: p.grad.clone() for name, p in model.named_parameters()}


@mutant("sgd_step_", "update through .data without zeroing the grads")
def sgd_step_(params, lr):
    for p in params:
        if p.grad is not None:
            p.data -= lr * p.grad


@mutant("sgd_step_", "in-place update outside torch.no_grad()")
def sgd_step_(params, lr):
    for p in params:
        if p.grad is not None:
            p.sub_(lr * p.grad)
            p.grad = None


@mutant("sgd_step_", "a new tensor assigned to .data instead of an in-place update")
def sgd_step_(params, lr):
    for p in params:
        if p.grad is not None:
            p.data = p.data - lr * p.grad
            p.grad = None


@mutant("sgd_step_", "the loop variable rebound, so no parameter changes")
def sgd_step_(params, lr):
    with torch.no_grad():
        for p in params:
            if p.grad is not None:
                p = p - lr * p.grad
                p.grad = None


@mutant("sgd_step_", "params looped over twice, so a generator is exhausted before zeroing")
def sgd_step_(params, lr):
    with torch.no_grad():
        for p in params:
            if p.grad is not None:
                p.sub_(lr * p.grad)
    for p in params:
        p.grad = None


@mutant("sgd_step_", "gradients zeroed before the update")
def sgd_step_(params, lr):
    params = list(params)
    with torch.no_grad():
        for p in params:
            if p.grad is not None:
                p.grad.zero_()
                p.sub_(lr * p.grad)


@mutant("sgd_step_", "steps along the gradient instead of against it")
def sgd_step_(params, lr):
    params = list(params)
    with torch.no_grad():
        for p in params:
            if p.grad is not None:
                p.add_(lr * p.grad)
                p.grad = None
