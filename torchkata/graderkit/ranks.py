"""A scenario run on forked gloo ranks, each loading the module under test afresh from its file.

``run_ranks(impl, scenario, call)`` forks ``world_size`` workers. Each joins a gloo process group on
127.0.0.1 (rank 0 opens the rendezvous store on a free port and passes it on through a pipe), loads
the module under test from ``impl.__file__``, runs ``scenario(module, rank, world_size)`` and sends
back what it returns (saved with torch.save, read with ``weights_only=True``: plain values and
tensors only). A rank that hangs is stopped after ``deadline_s``; the workers are always killed.
"""

from __future__ import annotations

import importlib.util
import io
import multiprocessing
import os
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
import torch.distributed as dist

from torchkata import checks

NEEDS_FORK_GLOO = "the rank checks fork gloo workers; this platform has no fork start method or no gloo backend"
HUNG = "no result within {deadline_s:g} s: the rank hung (stuck in a collective?)"
DIED = "the process died without a result (exit code {exitcode})"

Scenario = Callable[[ModuleType, int, int], Any]
Outcome = tuple[str, Any]  # ("ok", payload), ("not started", message) or ("error", message)


def can_fork_gloo() -> bool:
    """Whether this platform can fork workers and has torch.distributed with the gloo backend."""
    return "fork" in multiprocessing.get_all_start_methods() and dist.is_available() and dist.is_gloo_available()


def _load_impl(path: str) -> ModuleType:
    """The module under test, loaded afresh in the rank from the file the grader was given."""
    spec = importlib.util.spec_from_file_location(f"torchkata_rank_impl_{Path(path).stem}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _join_group(rank: int, world_size: int, timeout_s: float, port_reader: Connection,
                port_writer: Connection) -> dist.TCPStore:
    timeout = timedelta(seconds=timeout_s)
    if rank == 0:
        store = dist.TCPStore("127.0.0.1", 0, world_size, True, timeout=timeout, wait_for_workers=False)
        for _ in range(world_size - 1):
            port_writer.send(store.port)
    else:
        if not port_reader.poll(timeout_s):
            raise TimeoutError("rank 0 never opened the rendezvous store")
        store = dist.TCPStore("127.0.0.1", port_reader.recv(), world_size, False, timeout=timeout)
    dist.init_process_group("gloo", store=store, rank=rank, world_size=world_size, timeout=timeout)
    return store


DONE_KEY = "torchkata/ranks_done"


def _leave_group(store: dist.TCPStore | None, rank: int, world_size: int, timeout_s: float) -> None:
    """Say this rank is done; rank 0, which hosts the store, waits for every rank before it exits.

    Otherwise rank 0 could exit while another rank still talks to the store, and that rank would report
    "Connection reset by peer" instead of what its own code did.
    """
    if store is None:
        return
    try:
        store.add(DONE_KEY, 1)
        deadline = time.monotonic() + timeout_s
        while rank == 0 and store.add(DONE_KEY, 0) < world_size and time.monotonic() < deadline:
            time.sleep(0.01)
    except Exception:  # noqa: BLE001 - a rank that cannot reach the store has nothing left to wait for
        return


def _worker(
    rank: int, world_size: int, timeout_s: float, impl_path: str, scenario: Scenario,
    port_reader: Connection, port_writer: Connection, results: Connection,
) -> None:
    """Body of one forked rank: join the group, run the scenario, send (status, payload), exit at once."""
    store = None
    try:
        torch.set_num_threads(1)
        store = _join_group(rank, world_size, timeout_s, port_reader, port_writer)
        outcome = ("ok", scenario(_load_impl(impl_path), rank, world_size))
    except NotImplementedError as error:
        outcome = ("not started", str(error))
    except BaseException as error:  # noqa: BLE001 - everything a rank raises is reported to the grader
        outcome = ("error", f"{type(error).__name__}: {error}")
    try:
        buffer = io.BytesIO()
        torch.save(outcome, buffer)
        results.send_bytes(buffer.getvalue())
        _leave_group(store, rank, world_size, timeout_s)
    finally:
        os._exit(0)


def _collect(
    workers: list[multiprocessing.Process], readers: list[Connection], deadline_s: float, hung: str, died: str
) -> list[Outcome]:
    outcomes: list[Outcome] = []
    deadline = time.monotonic() + deadline_s
    for rank, reader in enumerate(readers):
        if not reader.poll(max(deadline - time.monotonic(), 0.0)):
            outcomes.append(("error", hung.format(deadline_s=deadline_s)))
            continue
        try:
            outcomes.append(torch.load(io.BytesIO(reader.recv_bytes()), weights_only=True))
        except EOFError:
            workers[rank].join(1)
            outcomes.append(("error", died.format(exitcode=workers[rank].exitcode)))
    return outcomes


def run_ranks(
    impl: ModuleType,
    scenario: Scenario,
    call: str,
    world_size: int = 2,
    collective_timeout_s: float = 6,
    deadline_s: float = 12,
    hung: str = HUNG,
    died: str = DIED,
) -> list[Any]:
    """``scenario(module, rank, world_size)`` on ``world_size`` forked gloo ranks; the payloads, by rank.

    A rank that raises NotImplementedError makes this raise it ("not started"); any other failure of a
    rank fails the check, naming ``call`` and each failed rank. ``hung`` ({deadline_s}) and ``died``
    ({exitcode}) word the failures of a rank that sent nothing.
    """
    context = multiprocessing.get_context("fork")
    port_reader, port_writer = context.Pipe(duplex=False)
    channels = [context.Pipe(duplex=False) for _ in range(world_size)]
    workers = [
        context.Process(
            target=_worker,
            args=(rank, world_size, collective_timeout_s, impl.__file__, scenario, port_reader, port_writer,
                  channels[rank][1]),
            daemon=True,
        )
        for rank in range(world_size)
    ]
    try:
        for worker in workers:
            worker.start()
        for _, writer in channels:
            writer.close()
        outcomes = _collect(workers, [reader for reader, _ in channels], deadline_s, hung, died)
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
    checks.check(not failures, f"{call} on {world_size} gloo processes failed: " + "; ".join(failures))
    return [payload for _, payload in outcomes]
