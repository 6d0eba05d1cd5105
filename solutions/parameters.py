"""Chapter 04: parameters. Count, list, share, freeze and inspect the parameters of a model."""

from collections.abc import Iterable

import torch
from torch import nn
from torch.nn import functional as F


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """How many numbers the model learns: each shared tensor counted once, buffers never.

    With ``trainable_only`` only parameters with ``requires_grad=True`` count. Returns a Python
    int, also for a model on the ``meta`` device. A model that is not an nn.Module (a list of
    tensors, a tensor, None) raises TypeError.
    """
    ### BEGIN SOLUTION
    # TODO: return, as a Python int, how many numbers the model learns: each shared parameter
    #   counted once, buffers never, and with trainable_only only those that require grad. A
    #   model that is not an nn.Module raises TypeError.
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
    ### END SOLUTION


def parameter_table(model: nn.Module) -> list[tuple[str, tuple[int, ...], int, bool]]:
    """One row (name, shape, numel, requires_grad) per parameter, in named_parameters() order.

    Returns a list of tuples (str, tuple of ints, int, bool): a shared tensor appears once, under
    its first name, frozen parameters too, buffers never. The model is left unchanged.
    """
    ### BEGIN SOLUTION
    # TODO: return one (name, shape as a tuple of ints, number of entries, requires_grad) tuple per
    #   parameter, in named_parameters() order; buffers are not parameters.
    return [(name, tuple(p.shape), p.numel(), p.requires_grad) for name, p in model.named_parameters()]
    ### END SOLUTION


class TiedMLP(nn.Module):
    """Linear(4, dim), ReLU, shared Linear(dim, dim), ReLU, the same layer again, ReLU, Linear(dim, 1).

    ``dim`` must be a positive int, else ValueError. (B, 4) -> (B, 1) for any B, 0 included; the
    shared layer's gradient is the sum of the gradients of both uses.
    """

    def __init__(self, dim: int = 8) -> None:
        super().__init__()
        ### BEGIN SOLUTION
        # TODO: build Linear(4, dim), ONE Linear(dim, dim) that both middle steps share, and
        #   Linear(dim, 1); dim not a positive int is a ValueError.
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
            raise ValueError(f"dim must be a positive int, got {dim!r}")
        self.first = nn.Linear(4, dim)
        self.shared = nn.Linear(dim, dim)
        self.last = nn.Linear(dim, 1)
        ### END SOLUTION

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        ### BEGIN SOLUTION
        # TODO: first layer, ReLU, the shared layer, ReLU, the very same shared layer again, ReLU,
        #   last layer: calling one module twice is what ties the weights.
        X = F.relu(self.first(X))
        X = F.relu(self.shared(X))
        X = F.relu(self.shared(X))
        return self.last(X)
        ### END SOLUTION


def freeze_(model: nn.Module, prefixes: Iterable[str]) -> int:
    """Set requires_grad=False on every parameter whose name starts with one of ``prefixes``.

    Returns how many parameter tensors matched (all of them frozen now, those frozen before
    included); every other parameter keeps its flag. ``prefixes`` is a single string (one prefix)
    or any iterable of strings: a list, a tuple, a generator. A prefix that is not a str raises
    TypeError before anything is frozen. The Parameter objects stay the same, so an optimizer
    built before sees the change.
    """
    ### BEGIN SOLUTION
    # TODO: switch off requires_grad on every parameter whose name starts with one of the prefixes
    #   (on the Parameter itself) and return how many tensors you froze; a prefix that is not a
    #   str raises TypeError.
    wanted = (prefixes,) if isinstance(prefixes, str) else tuple(prefixes)
    for prefix in wanted:
        if not isinstance(prefix, str):
            raise TypeError(f"prefixes must hold strings, got {prefix!r}")
    frozen = 0
    for name, parameter in model.named_parameters():
        if name.startswith(wanted):
            parameter.requires_grad_(False)
            frozen += 1
    return frozen
    ### END SOLUTION


def grad_norms(model: nn.Module) -> dict[str, float | None]:
    """The L2 norm of each parameter's gradient as a float, by name; None where there is no grad.

    Keys in named_parameters() order (a shared tensor once); a gradient of zeros gives 0.0, a
    parameter that is frozen, unused or zeroed with set_to_none gives None. The gradients are
    left untouched.
    """
    ### BEGIN SOLUTION
    # TODO: return {name: L2 norm of that parameter's gradient as a float, or None where it has no
    #   gradient} for every parameter: the norm of the gradient, not of the parameter.
    return {
        name: None if p.grad is None else torch.linalg.vector_norm(p.grad).item()
        for name, p in model.named_parameters()
    }
    ### END SOLUTION
