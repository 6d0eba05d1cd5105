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
    # TODO: return, as a Python int, how many numbers the model learns: each shared parameter
    #   counted once, buffers never, and with trainable_only only those that require grad. A
    #   model that is not an nn.Module raises TypeError.
    raise NotImplementedError('count_parameters: not written yet, see the TODO above this line')


def parameter_table(model: nn.Module) -> list[tuple[str, tuple[int, ...], int, bool]]:
    """One row (name, shape, numel, requires_grad) per parameter, in named_parameters() order.

    Returns a list of tuples (str, tuple of ints, int, bool): a shared tensor appears once, under
    its first name, frozen parameters too, buffers never. The model is left unchanged.
    """
    # TODO: return one (name, shape as a tuple of ints, number of entries, requires_grad) tuple per
    #   parameter, in named_parameters() order; buffers are not parameters.
    raise NotImplementedError('parameter_table: not written yet, see the TODO above this line')


class TiedMLP(nn.Module):
    """Linear(4, dim), ReLU, shared Linear(dim, dim), ReLU, the same layer again, ReLU, Linear(dim, 1).

    ``dim`` must be a positive int, else ValueError. (B, 4) -> (B, 1) for any B, 0 included; the
    shared layer's gradient is the sum of the gradients of both uses.
    """

    def __init__(self, dim: int = 8) -> None:
        super().__init__()
        # TODO: build Linear(4, dim), ONE Linear(dim, dim) that both middle steps share, and
        #   Linear(dim, 1); dim not a positive int is a ValueError.
        raise NotImplementedError('TiedMLP.__init__: not written yet, see the TODO above this line')

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        # TODO: first layer, ReLU, the shared layer, ReLU, the very same shared layer again, ReLU,
        #   last layer: calling one module twice is what ties the weights.
        raise NotImplementedError('TiedMLP.forward: not written yet, see the TODO above this line')


def freeze_(model: nn.Module, prefixes: Iterable[str]) -> int:
    """Set requires_grad=False on every parameter whose name starts with one of ``prefixes``.

    Returns how many parameter tensors matched (all of them frozen now, those frozen before
    included); every other parameter keeps its flag. ``prefixes`` is a single string (one prefix)
    or any iterable of strings: a list, a tuple, a generator. A prefix that is not a str raises
    TypeError before anything is frozen. The Parameter objects stay the same, so an optimizer
    built before sees the change.
    """
    # TODO: switch off requires_grad on every parameter whose name starts with one of the prefixes
    #   (on the Parameter itself) and return how many tensors you froze; a prefix that is not a
    #   str raises TypeError.
    raise NotImplementedError('freeze_: not written yet, see the TODO above this line')


def grad_norms(model: nn.Module) -> dict[str, float | None]:
    """The L2 norm of each parameter's gradient as a float, by name; None where there is no grad.

    Keys in named_parameters() order (a shared tensor once); a gradient of zeros gives 0.0, a
    parameter that is frozen, unused or zeroed with set_to_none gives None. The gradients are
    left untouched.
    """
    # TODO: return {name: L2 norm of that parameter's gradient as a float, or None where it has no
    #   gradient} for every parameter: the norm of the gradient, not of the parameter.
    raise NotImplementedError('grad_norms: not written yet, see the TODO above this line')
