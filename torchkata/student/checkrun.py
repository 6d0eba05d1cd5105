"""The student's checks in a forked child: a time limit per test, a memory limit, and a way to stop them.

``check``, ``list``, ``progress`` and ``watch`` never run the student's code in their own process.
They import torch and pytest once (no torch operation runs there, so forking stays safe) and fork
one child per check, as ``torchkata grade``'s fork server does. The child limits its memory
(:func:`torchkata.grading.limits.apply_rlimits`), runs the checks with pytest-timeout's per-test limit,
and reports over a pipe which kata it is on and, at the end, every kata's status. The parent stops
a child that runs past a test's limit without reporting (a loop that swallows the timeout, or one
inside compiled code), marks that kata failed, and checks the katas it did not reach in a fresh
child. Ctrl-C, or a new save in watch mode, stops the child at once.
"""

from __future__ import annotations

import json
import os
import select
import signal
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torchkata.course.catalog import Chapter
from torchkata.course.project import Project
from torchkata.grading.limits import (
    STUDENT_MEMORY_MIB,
    STUDENT_TEST_SECONDS,
    TEST_MEMORY_ENV,
    TEST_TIMEOUT_ENV,
    env_number,
)
from torchkata.grading.messages import timeout_text
from torchkata.student.checkchild import run_child
from torchkata.student.katas import FAILING, KataStatus

GRACE_SECONDS = 3.0  # after a test's limit, how long pytest-timeout gets to stop it before the child is killed
STARTUP_SECONDS = 60.0  # a child's time to its first test (pytest collects the graders, the module imports)


@dataclass(frozen=True)
class CheckLimits:
    """What one check of the student's code may use: seconds per test, MiB of memory (0: no limit)."""

    test_seconds: float = STUDENT_TEST_SECONDS
    memory_mib: int = STUDENT_MEMORY_MIB

    @classmethod
    def chosen(cls, test_seconds: float | None = None, memory_mib: int | None = None) -> CheckLimits:
        """The limits given on the command line, else TORCHKATA_TEST_TIMEOUT / TORCHKATA_TEST_MEMORY, else defaults."""
        seconds = env_number(TEST_TIMEOUT_ENV, STUDENT_TEST_SECONDS) if test_seconds is None else test_seconds
        memory = env_number(TEST_MEMORY_ENV, STUDENT_MEMORY_MIB) if memory_mib is None else memory_mib
        return cls(float(seconds), int(memory))


def preload() -> None:
    """Import what every check needs, once, so that each forked child starts with it loaded."""
    import importlib

    from torchkata.grading.grade import runtime_modules

    for name in runtime_modules():
        importlib.import_module(name)


def warm(project: Project, impl_dir: Path, chapters: Sequence[Chapter], visibility: str) -> None:
    """Collect the chapters' graders here (nothing runs): pytest's plugins and the graders' imports load once,
    and every later child starts with them (the watch re-checks many times)."""
    import contextlib
    import io

    import pytest

    from torchkata.grading.grade import pytest_args

    preload()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        pytest.main([*pytest_args(project, impl_dir, list(chapters), visibility=visibility), "--collect-only"])


@dataclass
class CheckRun:
    """Checks some katas of some chapters to the end, one forked child at a time.

    Use ``fileno()`` with select and call ``step()`` when it is readable (or at least every second);
    ``done`` says when ``statuses`` holds every kata. ``stop()`` kills the child.
    """

    project: Project
    impl_dir: Path
    chapters: Sequence[Chapter]
    visibility: str
    katas: Collection[str] | None = None
    limits: CheckLimits = field(default_factory=CheckLimits)
    full_points: bool = False
    statuses: dict[tuple[str, str], KataStatus] = field(default_factory=dict)
    totals: dict[str, dict[str, float]] | None = None
    done: bool = False
    pid: int = 0
    fd: int = -1
    buffer: bytes = b""
    running: tuple[str, str] | None = None
    running_seconds: float = 0.0  # the running test's limit: its own timeout marker, else limits.test_seconds
    progress_at: float = 0.0
    error: str = ""

    def __post_init__(self) -> None:
        preload()
        self.pending = [
            (chapter.slug, kata.name)
            for chapter in self.chapters
            for kata in chapter.katas
            if self.katas is None or kata.name in self.katas
        ]
        self._start()

    # -- the child ------------------------------------------------------------------------

    def _start(self) -> None:
        chapters = [chapter for chapter in self.chapters if any(slug == chapter.slug for slug, _ in self.pending)]
        names = sorted({kata for _, kata in self.pending})
        everything = (
            all(len(chapter.katas) == sum(slug == chapter.slug for slug, _ in self.pending) for chapter in chapters)
            and self.katas is None
        )
        request = {
            "project": self.project,
            "impl_dir": self.impl_dir,
            "chapters": chapters,
            "katas": None if everything else names,
            "visibility": self.visibility,
            "limits": self.limits,
            "full_points": self.full_points and self.totals is None,
        }
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read_end)
            run_child(write_end, request)
        os.close(write_end)
        os.set_blocking(read_end, False)
        self.pid, self.fd, self.buffer, self.running = pid, read_end, b"", None
        self.progress_at = time.monotonic()

    def fileno(self) -> int:
        return self.fd

    def stop(self) -> None:
        """Kill the child (and whatever it started) if it still runs."""
        if self.pid:
            for kill in (os.killpg, os.kill):
                try:
                    kill(self.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            try:
                os.waitpid(self.pid, 0)
            except ChildProcessError:
                pass
            self.pid = 0
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    # -- progress -------------------------------------------------------------------------

    def _frames(self) -> tuple[list[dict[str, Any]], bool]:
        """The complete messages read so far, and whether the child closed the pipe."""
        closed = False
        while True:
            try:
                chunk = os.read(self.fd, 1 << 16)
            except BlockingIOError:
                break
            if not chunk:
                closed = True
                break
            self.buffer += chunk
        *lines, self.buffer = self.buffer.split(b"\n")
        return [json.loads(line) for line in lines if line.strip()], closed

    def step(self) -> bool:
        """Take in what the child sent; stop it if a test ran past its limit; start the next. True when done."""
        if self.done:
            return True
        frames, closed = self._frames()
        for frame in frames:
            if frame["t"] in ("start", "end"):
                self.running = (frame["chapter"], frame["kata"]) if frame["t"] == "start" else None
                self.running_seconds = frame.get("seconds") or self.limits.test_seconds
                self.progress_at = time.monotonic()
            elif frame["t"] == "done":
                for data in frame["statuses"]:
                    status = KataStatus.from_dict(data)
                    if (status.chapter, status.kata) in self.pending:
                        self.statuses[(status.chapter, status.kata)] = status
                self.totals = frame.get("full_points") or self.totals
                self.pending = []
            elif frame["t"] == "error":
                self.error = frame["message"]
        if closed:
            status = os.waitpid(self.pid, 0)[1]
            self.pid = 0
            self.stop()
            if self.pending:
                from torchkata.sandbox.processes import describe_status

                self._blame(f"the check {describe_status(status)}" + (f" ({self.error})" if self.error else ""))
        elif self._overdue():
            self.stop()
            self._blame(timeout_text(str(self.limits.test_seconds)) + " The check did not stop when told to.")
        if self.pid == 0 and not self.pending:
            self.done = True
        return self.done

    def _overdue(self) -> bool:
        """Between tests the child has STARTUP_SECONDS; a test has its limit and a grace period."""
        now = time.monotonic()
        if self.running is None:
            return now > self.progress_at + STARTUP_SECONDS
        return self.limits.test_seconds > 0 and now > self.progress_at + self.running_seconds + GRACE_SECONDS

    def _blame(self, message: str) -> None:
        """The kata that was running fails with ``message``; the katas not reached are checked again."""
        culprit = self.running
        if culprit is None or culprit not in self.pending:  # died before any test: nothing can be checked
            for chapter, kata in self.pending:
                self.statuses[(chapter, kata)] = KataStatus(chapter, kata, FAILING, message=message)
            self.pending = []
            return
        self.statuses[culprit] = KataStatus(culprit[0], culprit[1], FAILING, message=message)
        self.pending.remove(culprit)
        if self.pending:
            self._start()

    def wait(self) -> list[KataStatus]:
        """Block until every kata is checked; KeyboardInterrupt stops the child and propagates."""
        try:
            while not self.step():
                select.select([self.fd] if self.fd >= 0 else [], [], [], 0.5)
        finally:
            if not self.done:
                self.stop()
        return self.results()

    def results(self) -> list[KataStatus]:
        """The statuses in course order."""
        order = [(chapter.slug, kata.name) for chapter in self.chapters for kata in chapter.katas]
        return [self.statuses[key] for key in order if key in self.statuses]
