"""The template: the process every grading child is forked from, which never sees a request.

The fork server starts it before reading its request: a fork of the server that imports torch,
pytest and the grader runtime, then waits on a socket. For each chapter run the server sends the
child's spec and the write ends of its two pipes; the template forks an intermediate process that
forks the child and exits at once, so the child is adopted by the server (a child subreaper) and
reaped there like any child of its own. A child thus inherits the template's memory only: no
request, no submission but the one staged in its own run directory, no other chapter's canaries or
nonce, no classmate's file.
"""

from __future__ import annotations

import ctypes
import dataclasses
import importlib
import json
import os
import select
import signal
import socket
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NoReturn

from torchkata.grading.limits import Limits
from torchkata.sandbox.staging import RunDir

_PR_SET_PDEATHSIG = 1
_MESSAGE_BYTES = 1 << 20
# What a grading child needs besides the grader runtime, loaded once in the template (never run torch ops here).
SANDBOX_MODULES = ("torchkata.sandbox.child", "torchkata.sandbox.audit", "torchkata.sandbox.integrity")


class TemplateError(RuntimeError):
    """The template process is gone or answered nonsense."""


class Template:
    """The server's handle on its template process."""

    def __init__(self, pid: int, sock: socket.socket) -> None:
        self.pid = pid
        self.sock = sock

    @classmethod
    def start(cls) -> Template:
        """Fork the template now; call it before anything private is read."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        pid = os.fork()
        if pid == 0:
            ours.close()
            _serve(theirs)
        theirs.close()
        return cls(pid, ours)

    def warm(self, modules: Iterable[str], later: bool = False) -> None:
        """Have the template import ``modules``: now (before the next fork) or ``later``, when idle."""
        self._send({"t": "warm", "modules": sorted(set(modules)), "later": later})

    def fork(self, spec: Any, fds: tuple[int, int]) -> int:
        """Start a grading child for ``spec`` (a ``sandbox.ChildSpec``) with ``fds`` as its pipes; its pid."""
        self._send({"t": "fork", "spec": dataclasses.asdict(spec)}, fds)
        try:
            reply = self.sock.recv(_MESSAGE_BYTES)
        except OSError as error:
            raise TemplateError(f"the template process did not answer: {error}") from error
        if not reply:
            raise TemplateError("the template process ended")
        return int(json.loads(reply)["pid"])

    def close(self) -> None:
        self.sock.close()
        try:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass

    def _send(self, message: dict[str, Any], fds: Iterable[int] = ()) -> None:
        data = json.dumps(message, default=str).encode()
        try:
            socket.send_fds(self.sock, [data], list(fds))
        except OSError as error:
            raise TemplateError(f"the template process is gone: {error}") from error


def child_spec(data: dict[str, Any], fds: list[int]) -> Any:
    """The ``sandbox.ChildSpec`` the server sent, with the pipes received beside it."""
    from torchkata.sandbox.child import ChildSpec

    channel_fd, output_fd = fds
    return ChildSpec(**{**data, "run": RunDir(Path(data["run"]["root"])), "limits": Limits(**data["limits"]),
                        "channel_fd": channel_fd, "output_fd": output_fd})


def _serve(sock: socket.socket) -> NoReturn:
    """The template's whole life: import, then fork children on request until the server goes."""
    code = 0
    try:
        _detach()
        from torchkata.grading.grade import runtime_modules

        for name in (*runtime_modules(), *SANDBOX_MODULES):
            _import_quietly(name)
        later: list[str] = []
        while True:
            ready, _, _ = select.select([sock], [], [], 0 if later else None)
            if not ready:
                _import_quietly(later.pop(0))
                continue
            data, fds, _, _ = socket.recv_fds(sock, _MESSAGE_BYTES, 2)
            if not data:
                break
            message = json.loads(data)
            if message["t"] == "warm":
                if message["later"]:
                    later += message["modules"]
                else:
                    for name in message["modules"]:
                        _import_quietly(name)
            elif message["t"] == "fork":
                pid = _fork_child(child_spec(message["spec"], fds), sock)
                for fd in fds:
                    os.close(fd)
                sock.send(json.dumps({"pid": pid}).encode())
    except BaseException:  # noqa: BLE001 - the server learns from the closed socket
        code = 70
    os._exit(code)


def _detach() -> None:
    """Die with the server; no stdin of the server's, no handler of the server's."""
    try:
        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    signal.set_wakeup_fd(-1)
    for number in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT):
        signal.signal(number, signal.SIG_DFL)


def _fork_child(spec: Any, sock: socket.socket) -> int:
    """Fork the grading child through an intermediate that exits at once; the child's pid."""
    from torchkata.sandbox.child import run_child

    read_end, write_end = os.pipe()
    intermediate = os.fork()
    if intermediate == 0:
        os.close(read_end)
        me = os.getpid()  # taken before the fork: the intermediate may be gone before the child first runs
        child = os.fork()
        if child == 0:
            os.close(write_end)
            sock.close()
            _wait_for_adoption(me)
            run_child(spec)
        os.write(write_end, str(child).encode())
        os._exit(0)
    os.close(write_end)
    try:
        answer = os.read(read_end, 64)
    finally:
        os.close(read_end)
        os.waitpid(intermediate, 0)
    return int(answer)


def _wait_for_adoption(intermediate: int) -> None:
    """Wait until the intermediate has exited, so the child's parent (and death signal) is the server."""
    while os.getppid() == intermediate:
        time.sleep(0.0005)


def _import_quietly(name: str) -> None:
    try:
        importlib.import_module(name)
    except Exception:  # noqa: BLE001 - only a speed-up; a real import error is reported by the run
        pass
