"""Chapter 02: autograd. Gradients, higher derivatives, custom Functions and gradient accumulation."""

from collections.abc import Callable, Iterable

import torch
from torch import nn

TensorFn = Callable[[torch.Tensor], torch.Tensor]


def _require_input(f: object, x: object) -> None:
    if not callable(f):
        raise TypeError(f"f must be callable, got {type(f).__name__}")
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"x must be a floating-point tensor, got dtype {x.dtype}")


def grad(f: TensorFn, x: torch.Tensor) -> torch.Tensor:
    """df/dx of the scalar f at x, with the shape and dtype of x.

    x is left as it was: its values, requires_grad and .grad. It works when called under
    torch.no_grad() too, and an f that does not depend on x gives zeros. f returning more than one
    value: ValueError naming f; f not callable or x not a floating-point tensor: TypeError.
    """
    _require_input(f, x)
    ### BEGIN SOLUTION
    # TODO: return df/dx of the scalar f at x, with x's shape and dtype, leaving x as it was
    #   (values, requires_grad, .grad) and working under torch.no_grad() too. An f that ignores
    #   x gives zeros; an f returning more than one value is a ValueError naming f.
    leaf = x.detach().requires_grad_(True)
    with torch.enable_grad():
        output = f(leaf)
    if not isinstance(output, torch.Tensor) or output.numel() != 1:
        raise ValueError(f"f must return a scalar tensor, got {output!r}")
    if not output.requires_grad:
        return torch.zeros_like(x)
    (gradient,) = torch.autograd.grad(output, leaf, materialize_grads=True)
    return gradient
    ### END SOLUTION


def second_derivative(f: TensorFn, x: torch.Tensor) -> torch.Tensor:
    """d2f/dx2 at every entry of x, for an f applied elementwise; x's shape and dtype.

    An f whose second derivative vanishes (a linear or constant f) gives zeros. x is left as it was
    (values, requires_grad, .grad), and it works when called under torch.no_grad() too. f not
    callable or x not a floating-point tensor: TypeError.
    """
    _require_input(f, x)
    ### BEGIN SOLUTION
    # TODO: return d2f/dx2 at every entry of x for an elementwise f, by differentiating twice with
    #   autograd; x is left as it was, and an f whose second derivative vanishes gives zeros.
    leaf = x.detach().requires_grad_(True)
    with torch.enable_grad():
        output = f(leaf)
        if not output.requires_grad:
            return torch.zeros_like(x)
        (first,) = torch.autograd.grad(output.sum(), leaf, create_graph=True, materialize_grads=True)
        if not first.requires_grad:
            return torch.zeros_like(x)
        (second,) = torch.autograd.grad(first.sum(), leaf, materialize_grads=True)
    return second
    ### END SOLUTION


def jacobian(f: TensorFn, x: torch.Tensor) -> torch.Tensor:
    """The (m, n) Jacobian of f: (n,) -> (m,) at x, built with torch.autograd.grad; x's dtype.

    n may be 0; m >= 1. A row whose output does not depend on x is zeros. x is left as it was
    (values, requires_grad, .grad), and it works under torch.no_grad() too. x not 1-D: ValueError;
    f not callable or x not a floating-point tensor: TypeError.
    """
    _require_input(f, x)
    if x.dim() != 1:
        raise ValueError(f"x must be 1-D (n,), got shape {tuple(x.shape)}")
    ### BEGIN SOLUTION
    # TODO: return the (m, n) Jacobian of f at x, one row per output, each row the gradient of that
    #   output with autograd; a row whose output ignores x is zeros. torch.autograd.functional
    #   and torch.func are off limits here.
    leaf = x.detach().requires_grad_(True)
    with torch.enable_grad():
        output = f(leaf).reshape(-1)
        if not output.requires_grad:
            return torch.zeros(output.numel(), x.numel(), dtype=x.dtype, device=x.device)
        rows = [
            torch.autograd.grad(value, leaf, retain_graph=True, materialize_grads=True)[0]
            for value in output
        ]
    return torch.stack(rows)
    ### END SOLUTION


def hessian(f: TensorFn, x: torch.Tensor) -> torch.Tensor:
    """The (n, n) matrix of second derivatives of the scalar f at x (n,), in x's dtype.

    An f whose gradient is constant (linear or constant f) gives zeros. x is left as it was
    (values, requires_grad, .grad), and it works under torch.no_grad() too. x not 1-D: ValueError;
    f not callable or x not a floating-point tensor: TypeError.
    """
    _require_input(f, x)
    if x.dim() != 1:
        raise ValueError(f"x must be 1-D (n,), got shape {tuple(x.shape)}")
    ### BEGIN SOLUTION
    # TODO: return the (n, n) matrix of second derivatives of the scalar f at x: the Jacobian of the
    #   gradient, with the gradient kept differentiable. torch.autograd.functional and
    #   torch.func are off limits here.
    def gradient(point: torch.Tensor) -> torch.Tensor:
        output = f(point)
        if not output.requires_grad:
            return torch.zeros_like(point)
        return torch.autograd.grad(output, point, create_graph=True, materialize_grads=True)[0]

    return jacobian(gradient, x)
    ### END SOLUTION


class Square(torch.autograd.Function):
    """x ** 2 with a hand-written backward. Use it as Square.apply(x).

    Any shape (empty too), x's dtype, x left unchanged. The backward is itself differentiable, so
    second derivatives through Square work.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        ### BEGIN SOLUTION
        # TODO: return x * x as a new tensor (x unchanged) and keep what backward will need.
        ctx.save_for_backward(x)
        return x * x
        ### END SOLUTION

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor) -> torch.Tensor:
        ### BEGIN SOLUTION
        # TODO: return the gradient with respect to x: the upstream grad_output times the derivative
        #   of x^2, computed so it can be differentiated again.
        (x,) = ctx.saved_tensors
        return grad_output * 2 * x
        ### END SOLUTION


class Swish(torch.autograd.Function):
    """x * sigmoid(x) with a hand-written backward. Use it as Swish.apply(x).

    Any shape (empty too), x's dtype, x left unchanged; values and gradients stay finite for large
    |x| (e.g. +-40).
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        ### BEGIN SOLUTION
        # TODO: return x * sigmoid(x) as a new tensor (x unchanged) and keep what backward will
        #   need.
        ctx.save_for_backward(x)
        return x * torch.sigmoid(x)
        ### END SOLUTION

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor) -> torch.Tensor:
        ### BEGIN SOLUTION
        # TODO: return grad_output times the derivative of x * sigmoid(x): both terms of the product
        #   rule.
        (x,) = ctx.saved_tensors
        s = torch.sigmoid(x)
        return grad_output * (s + x * s * (1 - s))
        ### END SOLUTION


class StraightThroughRound(torch.autograd.Function):
    """torch.round in the forward pass, the identity in the backward pass (a straight-through estimator).

    The forward keeps x's shape and dtype (a float tensor of whole numbers) and rounds halves to even,
    as torch.round does; the backward passes grad_output through unchanged, for every x.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        ### BEGIN SOLUTION
        # TODO: return x rounded to the nearest whole number (halves to even), as a new tensor of
        #   x's dtype.
        return torch.round(x)
        ### END SOLUTION

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor) -> torch.Tensor:
        ### BEGIN SOLUTION
        # TODO: pass the gradient through as if the forward pass were the identity (the true
        #   derivative of rounding is 0 almost everywhere and would stop all learning).
        return grad_output
        ### END SOLUTION


def accumulated_grads(
    model: nn.Module,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
    micro_batches: int,
) -> dict[str, torch.Tensor]:
    """The full-batch gradient of loss_fn(model(x), y), computed over micro_batches slices of the batch.

    The slices are consecutive, micro_batches of them, with sizes that differ by at most one (as
    torch.tensor_split makes them). loss_fn averages over the samples it is given (reduction
    "mean"), so each slice's loss counts by its share of the batch, len(slice) / len(x): with
    unequal slices that is not 1 / micro_batches.

    Returns new tensors {parameter name: gradient} for every parameter that requires grad, zeros for
    one that gets no gradient; gradients already in .grad before the call are ignored. The model's
    train/eval modes (of every submodule), x and y are left as they are. micro_batches not an int in
    [1, len(x)], or len(x) != len(y): ValueError.
    """
    if isinstance(micro_batches, bool) or not isinstance(micro_batches, int) or micro_batches < 1:
        raise ValueError(f"micro_batches must be a positive int, got {micro_batches!r}")
    if len(x) != len(y):
        raise ValueError(f"x and y must hold the same number of samples, got {len(x)} and {len(y)}")
    if micro_batches > len(x):
        raise ValueError(f"micro_batches must be at most the batch size {len(x)}, got {micro_batches}")
    ### BEGIN SOLUTION
    # TODO: return the gradient of the whole batch's mean loss, {parameter name: new tensor},
    #   computed by backward over micro_batches consecutive slices, each slice's loss weighted
    #   by its share of the batch; gradients already in .grad are ignored, and a parameter that
    #   gets no gradient gives zeros.
    model.zero_grad(set_to_none=True)
    total = len(x)
    for x_part, y_part in zip(x.tensor_split(micro_batches), y.tensor_split(micro_batches), strict=True):
        loss = loss_fn(model(x_part), y_part) * (len(x_part) / total)
        loss.backward()
    return {
        name: p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p)
        for name, p in model.named_parameters()
        if p.requires_grad
    }
    ### END SOLUTION


def sgd_step_(params: Iterable[torch.Tensor], lr: float) -> None:
    """p -= lr * p.grad in place for every parameter with a gradient, then zero the gradients.

    params may be any iterable of tensors, a one-shot generator too. Every tensor whose .grad is not
    None is updated in place (the same tensor object and storage, still a leaf with its
    requires_grad) without autograd recording it, and its gradient is then zeroed (zero_() or set to
    None); a tensor without .grad is left alone. lr = 0 is allowed; lr < 0: ValueError.
    """
    params = list(params)
    if lr < 0:
        raise ValueError(f"lr must be non-negative, got {lr}")
    ### BEGIN SOLUTION
    # TODO: update every tensor that has a .grad in place, p -= lr * p.grad, without autograd
    #   recording it (same object and storage, still a leaf), then zero its gradient; a tensor
    #   without .grad is left alone.
    with torch.no_grad():
        for p in params:
            if p.grad is not None:
                p.add_(p.grad, alpha=-lr)
                p.grad.zero_()
    ### END SOLUTION
