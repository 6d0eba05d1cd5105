"""The fork server's process plumbing: reading a child's pipes, killing its group, reaping, sweeping strays.

Nothing here knows about tests or chapters: these are the few system calls the scheduler
(:mod:`torchkata.sandbox.scheduler`) and the collector (:mod:`torchkata.sandbox.collect`) share.
"""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Container
from pathlib import Path

_PR_SET_CHILD_SUBREAPER = 36


def describe_status(status: int) -> str:
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = f"signal {number}"
        return f"was killed by {name}"
    return f"exited with status {os.WEXITSTATUS(status)}"


def read_available(fd: int) -> bytes:
    chunks = []
    while True:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            break
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks)


def kill_group(pid: int) -> None:
    """SIGKILL the child's process group (it leads its own session), and the child itself."""
    for target in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        try:
            target()
        except (ProcessLookupError, PermissionError):
            pass


def reap() -> list[tuple[int, int]]:
    """(pid, status) of every child that has ended, strays included."""
    finished = []
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            break
        finished.append((pid, status))
    return finished


def sweep_strays(known: Container[int]) -> None:
    """Kill processes that were handed to us as orphans (whatever a child left running): every child of
    this process but those in ``known``."""
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in known:
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8", errors="replace") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == me:
            try:
                os.kill(int(entry), signal.SIGKILL)
            except ProcessLookupError:
                pass


def has_children() -> bool:
    me = str(os.getpid())
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="utf-8", errors="replace") as handle:
                    if handle.read().rsplit(")", 1)[1].split()[1] == me:
                        return True
            except OSError:
                continue
    return False


def clear_shared_memory(since: float, folder: Path = Path("/dev/shm")) -> None:
    """Remove what this user left in shared memory while grading ran: no file outlives the run."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        try:
            info = entry.stat(follow_symlinks=False)
            if info.st_uid == os.getuid() and info.st_mtime >= since:
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path, ignore_errors=True)
                else:
                    os.unlink(entry.path)
        except OSError:
            continue


def become_subreaper() -> None:
    """Orphans of our descendants become our children, so none outlives the grading (and the template's
    children are ours to reap)."""
    try:
        import ctypes

        ctypes.CDLL(None).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass
