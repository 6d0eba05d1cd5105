"""Public checks for chapter 16, distributed: one sharding case and two gloo ranks on a small model.

The rank checks fork two workers (torchkata.graderkit.ranks) that load the module under test from its file and
join a gloo process group on 127.0.0.1; a worker that hangs is stopped after 12 s, and the workers are always killed.
"""

import copy

import pytest
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data.distributed import DistributedSampler

from torchkata import checks
from torchkata.graderkit import ranks

CAN_FORK_GLOO = ranks.can_fork_gloo()


def run_ranks(impl, scenario, call):
    """scenario(module, rank, world_size) on two forked gloo ranks; the payloads, by rank."""
    return ranks.run_ranks(
        impl, scenario, call, hung="no result within {deadline_s:g} s: the rank hung",
        died="the process died without a result",
    )


@pytest.mark.kata("shard_indices")
@pytest.mark.points(1)
def test_shard_indices_ten_items_three_ranks(impl):
    for rank in range(3):
        call = f"shard_indices(10, {rank}, 3)"
        got = checks.call(call, impl.shard_indices, 10, rank, 3)
        want = list(DistributedSampler(range(10), num_replicas=3, rank=rank, shuffle=False))
        checks.equal(got, want, call, "Interleave (rank, rank + 3, ...) and pad to 12 by wrapping to the start.")


@pytest.mark.kata("average_gradients_")
@pytest.mark.points(1)
@pytest.mark.skipif(not CAN_FORK_GLOO, reason=ranks.NEEDS_FORK_GLOO)
def test_average_gradients_two_ranks(impl):
    model = nn.Linear(3, 1)
    inputs = [torch.randn(4, 3), torch.randn(4, 3) + 2]
    expected = []
    for x in inputs:
        twin = copy.deepcopy(model)
        twin(x).sum().backward()
        expected.append([p.grad for p in twin.parameters()])

    def scenario(module, rank, world_size):
        model(inputs[rank]).sum().backward()
        module.average_gradients_(model)
        return [p.grad for p in model.parameters()]

    call = "average_gradients_(nn.Linear(3, 1)) after each rank's own backward"
    for rank, grads in enumerate(run_ranks(impl, scenario, call)):
        for got, first, second in zip(grads, *expected, strict=True):
            checks.close(got, (first + second) / 2, f"rank {rank}'s gradient after {call}",
                         "Sum with all_reduce, then divide by the world size.")


@pytest.mark.kata("ddp_train_step")
@pytest.mark.points(1)
@pytest.mark.skipif(not CAN_FORK_GLOO, reason=ranks.NEEDS_FORK_GLOO)
def test_ddp_train_step_leaves_identical_parameters(impl):
    model = nn.Linear(4, 2)
    x, y = torch.randn(6, 4), torch.randn(6, 2)
    twin = copy.deepcopy(model)
    reference = torch.optim.SGD(twin.parameters(), lr=0.1)
    F.mse_loss(twin(x), y).backward()
    reference.step()

    def scenario(module, rank, world_size):
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        module.ddp_train_step(rank, world_size, model, (x, y), F.mse_loss, optimizer)
        return [p.detach() for p in model.parameters()]

    call = "ddp_train_step(rank, 2, nn.Linear(4, 2), (x, y) of 6 rows, F.mse_loss, SGD(lr=0.1))"
    for rank, params in enumerate(run_ranks(impl, scenario, call)):
        for got, want in zip(params, twin.parameters(), strict=True):
            checks.close(got, want.detach(), f"rank {rank}'s parameters after {call}",
                         "Expected one process's step on the whole batch, on every rank.", rtol=1e-4, atol=1e-6)
