"""Limits on one grading child: wall clock, per-test timeout, memory, output, files."""

from __future__ import annotations

import ctypes
import resource
from dataclasses import asdict, dataclass
from typing import Any

MIB = 1024 * 1024
_M_ARENA_MAX = -8


@dataclass(frozen=True)
class Limits:
    """What one chapter's child process may use. Times in seconds, sizes in MiB.

    ``restarts``: how many fresh children may take over the rest of a chapter after one dies;
    a chapter's runs together get at most twice ``wall_seconds``.
    """

    wall_seconds: float = 120.0
    test_seconds: float = 20.0
    memory_mib: int = 2048
    output_mib: int = 16
    file_mib: int = 256
    restarts: int = 10

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if value < 0 or (value == 0 and name != "restarts"):
                raise ValueError(f"limit {name} must be positive, got {value}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Limits:
        return cls(**data)


def _status_kib(field: str) -> int:
    """A ``Vm*`` field of /proc/self/status in KiB, 0 where unknown."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _set(which: int, soft: int, hard: int | None = None) -> None:
    hard = soft if hard is None else hard
    _, current_hard = resource.getrlimit(which)
    if current_hard != resource.RLIM_INFINITY:
        soft, hard = min(soft, current_hard), min(hard, current_hard)
    resource.setrlimit(which, (soft, hard))


def apply_rlimits(limits: Limits, cpus: int) -> None:
    """Resource limits for the calling (child) process; memory counts from what it holds now.

    RLIMIT_DATA bounds private writable memory (malloc, tensors); RLIMIT_AS, with room
    for thread reservations, also bounds shared anonymous mappings.
    """
    budget = limits.memory_mib * MIB
    _set(resource.RLIMIT_CORE, 0)
    _set(resource.RLIMIT_FSIZE, limits.file_mib * MIB)
    _set(resource.RLIMIT_DATA, _status_kib("VmData") * 1024 + budget)
    _set(resource.RLIMIT_AS, _status_kib("VmSize") * 1024 + budget + 1024 * MIB)
    cpu = int(limits.wall_seconds * max(cpus, 1)) + 5
    _set(resource.RLIMIT_CPU, cpu, cpu + 5)
    try:  # few malloc arenas: each reserves address space that RLIMIT_AS would count
        ctypes.CDLL(None).mallopt(_M_ARENA_MAX, 2)
    except (OSError, AttributeError):
        pass


# The student's checks (check, watch, plain pytest on the graders, nbgrader cells): per test, unless configured.
TEST_TIMEOUT_ENV = "TORCHKATA_TEST_TIMEOUT"
TEST_MEMORY_ENV = "TORCHKATA_TEST_MEMORY"
STUDENT_TEST_SECONDS = 10.0
STUDENT_MEMORY_MIB = 2048


def env_number(name: str, default: float) -> float:
    """A non-negative number from the environment variable ``name``; ``default`` when unset or invalid."""
    import os

    try:
        value = float(os.environ.get(name) or default)
    except ValueError:
        return default
    return value if value >= 0 else default


def limit_memory_softly(memory_mib: int) -> tuple[int, int] | None:
    """Lower this process's soft RLIMIT_DATA to what it holds now plus ``memory_mib``; the previous limits.

    Only the soft limit moves, so :func:`restore_memory` can raise it again: for a process that goes on
    after the checks (plain pytest). None when nothing was changed.
    """
    previous = resource.getrlimit(resource.RLIMIT_DATA)
    soft = _status_kib("VmData") * 1024 + memory_mib * MIB
    if previous[1] != resource.RLIM_INFINITY:
        soft = min(soft, previous[1])
    if previous[0] != resource.RLIM_INFINITY and previous[0] <= soft:
        return None
    try:
        resource.setrlimit(resource.RLIMIT_DATA, (soft, previous[1]))
    except (ValueError, OSError):
        return None
    return previous


def restore_memory(previous: tuple[int, int] | None) -> None:
    if previous is not None:
        try:
            resource.setrlimit(resource.RLIMIT_DATA, previous)
        except (ValueError, OSError):
            pass
