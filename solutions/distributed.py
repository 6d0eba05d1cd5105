"""Chapter 16: distributed. Data-parallel training by hand with torch.distributed (gloo, on CPU)."""

from collections.abc import Callable

import torch
import torch.distributed as dist
from torch import nn


def _check_int(value: object, name: str, minimum: int) -> int:
    """value as an int >= minimum; TypeError or ValueError naming the argument otherwise."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def shard_indices(n: int, rank: int, world_size: int) -> list[int]:
    """The indices of a dataset of n items that rank reads, as DistributedSampler(shuffle=False) gives them.

    Every rank gets the same number of indices, ceil(n / world_size): the list is padded by wrapping around to
    its start (as often as needed when n < world_size), and rank takes every world_size-th index from rank on.
    Returns a list of Python ints, [] when n == 0. n, rank and world_size are ints (TypeError naming the argument
    otherwise) with n >= 0, world_size >= 1 and 0 <= rank < world_size (ValueError naming the argument otherwise).
    """
    ### BEGIN SOLUTION
    # TODO: raise ValueError naming the argument unless n >= 0, world_size >= 1 and 0 <= rank <
    #   world_size; return the indices this rank reads, as DistributedSampler(shuffle=False)
    #   hands them out: interleaved, padded by wrapping to the start so every rank gets the same
    #   count.
    n = _check_int(n, "n", 0)
    world_size = _check_int(world_size, "world_size", 1)
    rank = _check_int(rank, "rank", 0)
    if rank >= world_size:
        raise ValueError(f"rank must be in [0, {world_size}), got {rank}")
    if n == 0:
        return []
    total = -(-n // world_size) * world_size
    return [index % n for index in range(rank, total, world_size)]
    ### END SOLUTION


def average_gradients_(model: nn.Module) -> None:
    """Replace every parameter's gradient by its mean over all ranks of the default process group, in place.

    Every rank calls it with the same model (the same parameters holding gradients), for any world size. Each
    .grad tensor is overwritten in place (the same tensor object afterwards, holding the mean); a parameter whose
    .grad is None (frozen or unused) is skipped and keeps None; the parameters themselves are not changed. A model
    that is not an nn.Module is a TypeError naming model.
    """
    ### BEGIN SOLUTION
    # TODO: raise TypeError naming model unless it is an nn.Module; replace every existing .grad, in
    #   place, by its mean over all ranks (every rank makes the same collective calls in the
    #   same order).
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    world_size = dist.get_world_size()
    for param in model.parameters():
        if param.grad is not None:
            dist.all_reduce(param.grad, op=dist.ReduceOp.SUM)
            param.grad.div_(world_size)
    ### END SOLUTION


def ddp_train_step(
    rank: int,
    world_size: int,
    model: nn.Module,
    batch: tuple[torch.Tensor, torch.Tensor],
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    optimizer: torch.optim.Optimizer,
) -> float:
    """One data-parallel step: rank trains on its equal share of the global batch (inputs, targets).

    rank and world_size are those of the default process group, for any world size. Every rank is called with
    the same batch and the same model; the ranks' shares are disjoint and of equal size, together the whole batch.
    Afterwards all hold identical parameters, equal to one process stepping on the whole batch (for a loss that
    averages over the batch), whatever the optimizer, also for frozen or unused parameters, and whatever gradients
    the model held before the call (they do not count). The batch is left unchanged. Returns this rank's loss on
    its share as a Python float. A batch whose length is not a multiple of world_size is a ValueError naming batch.
    """
    ### BEGIN SOLUTION
    # TODO: raise ValueError naming batch unless it splits into world_size equal shares; train one
    #   step on this rank's share so that every rank ends with the same parameters as one
    #   process stepping on the whole batch; return this rank's loss as a float.
    inputs, targets = batch
    if len(inputs) % world_size:
        raise ValueError(f"batch of {len(inputs)} items cannot be split evenly over {world_size} ranks")
    share = len(inputs) // world_size
    mine = slice(rank * share, (rank + 1) * share)
    optimizer.zero_grad()
    loss = loss_fn(model(inputs[mine]), targets[mine])
    loss.backward()
    average_gradients_(model)
    optimizer.step()
    return loss.item()
    ### END SOLUTION
