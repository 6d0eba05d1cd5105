"""Public checks for chapter 16, distributed: one sharding case and two gloo ranks on a small model.

The rank checks fork two workers that load the module under test from its file and join a gloo process group on
127.0.0.1; a worker that hangs is stopped after DEADLINE_S, and the workers are always killed in ``finally``.
"""

import copy
import importlib.util
import io
import multiprocessing
import os
import sys
import time
from datetime import timedelta

import pytest
import torch
import torch.distributed as dist
from torch import nn
from torch.nn import functional as F
from torch.utils.data.distributed import DistributedSampler

from torchkata import checks

WORLD_SIZE = 2
COLLECTIVE_TIMEOUT_S = 6
DEADLINE_S = 12
CAN_FORK_GLOO = (
    "fork" in multiprocessing.get_all_start_methods() and dist.is_available() and dist.is_gloo_available()
)
NEEDS_FORK_GLOO = "the rank checks fork gloo workers; this platform has no fork start method or no gloo backend"


def _load_impl(path):
    """The module under test, loaded afresh in the rank from the file the grader was given."""
    spec = importlib.util.spec_from_file_location("torchkata_rank_impl_distributed", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _join_group(rank, port_reader, port_writer):
    timeout = timedelta(seconds=COLLECTIVE_TIMEOUT_S)
    if rank == 0:
        store = dist.TCPStore("127.0.0.1", 0, WORLD_SIZE, True, timeout=timeout, wait_for_workers=False)
        for _ in range(WORLD_SIZE - 1):
            port_writer.send(store.port)
    else:
        if not port_reader.poll(COLLECTIVE_TIMEOUT_S):
            raise TimeoutError("rank 0 never opened the rendezvous store")
        store = dist.TCPStore("127.0.0.1", port_reader.recv(), WORLD_SIZE, False, timeout=timeout)
    dist.init_process_group("gloo", store=store, rank=rank, world_size=WORLD_SIZE, timeout=timeout)


def _worker(rank, impl_path, scenario, port_reader, port_writer, results):
    try:
        torch.set_num_threads(1)
        _join_group(rank, port_reader, port_writer)
        outcome = ("ok", scenario(_load_impl(impl_path), rank, WORLD_SIZE))
    except NotImplementedError as error:
        outcome = ("not started", str(error))
    except BaseException as error:  # noqa: BLE001 - everything a rank raises is reported to the grader
        outcome = ("error", f"{type(error).__name__}: {error}")
    try:
        buffer = io.BytesIO()
        torch.save(outcome, buffer)
        results.send_bytes(buffer.getvalue())
    finally:
        os._exit(0)


def run_ranks(impl, scenario, call):
    """scenario(module, rank, world_size) on WORLD_SIZE forked gloo ranks; the payloads, by rank."""
    context = multiprocessing.get_context("fork")
    port_reader, port_writer = context.Pipe(duplex=False)
    channels = [context.Pipe(duplex=False) for _ in range(WORLD_SIZE)]
    workers = [
        context.Process(
            target=_worker, args=(rank, impl.__file__, scenario, port_reader, port_writer, channels[rank][1]),
            daemon=True,
        )
        for rank in range(WORLD_SIZE)
    ]
    outcomes = []
    try:
        for worker in workers:
            worker.start()
        for _, writer in channels:
            writer.close()
        deadline = time.monotonic() + DEADLINE_S
        for reader, _ in channels:
            if reader.poll(max(deadline - time.monotonic(), 0.0)):
                try:
                    outcomes.append(torch.load(io.BytesIO(reader.recv_bytes()), weights_only=True))
                except EOFError:
                    outcomes.append(("error", "the process died without a result"))
            else:
                outcomes.append(("error", f"no result within {DEADLINE_S} s: the rank hung"))
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.kill()
            worker.join(5)
        for connection in (port_reader, port_writer, *(reader for reader, _ in channels)):
            connection.close()
    not_started = [payload for status, payload in outcomes if status == "not started"]
    if not_started:
        raise NotImplementedError(not_started[0])
    failures = [f"rank {rank}: {payload}" for rank, (status, payload) in enumerate(outcomes) if status != "ok"]
    checks.check(not failures, f"{call} on {WORLD_SIZE} gloo processes failed: " + "; ".join(failures))
    return [payload for _, payload in outcomes]


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
@pytest.mark.skipif(not CAN_FORK_GLOO, reason=NEEDS_FORK_GLOO)
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
@pytest.mark.skipif(not CAN_FORK_GLOO, reason=NEEDS_FORK_GLOO)
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
