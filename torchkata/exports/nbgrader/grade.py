"""What the nbgrader notebooks' setup and grade cells run, inside the student's kernel.

How a grade cell sees the student's code: the setup cell calls :func:`record_cells`,
which registers an IPython ``post_run_cell`` hook keeping the source of every code cell
that runs without error (grade cells and cells using IPython-only syntax left out).
:func:`grade_kata` joins those cells, in the order they ran, into ``<slug>.py``
(:mod:`torchkata.exports.nbgrader.module`), and has one kata graded by a separate process
(:mod:`torchkata.exports.nbgrader.worker`, started by the setup cell with the environment it had then),
so nothing a cell defines can rewrite the checks. The grade cell prints each check and
ends with the kata's score, which nbgrader reads as the cell's partial credit.

Nothing here writes to stderr: nbgrader gives 0 to a grade cell with any stderr output.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import json
import os
import select
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from torchkata.exports.nbgrader.module import Cell, assemble, cell_locations
from torchkata.grading.limits import STUDENT_MEMORY_MIB, TEST_MEMORY_ENV
from torchkata.grading.results import TestOutcome, not_applicable_text

KATA_TIMEOUT_ENV = "TORCHKATA_KATA_TIMEOUT"
TEST_TIMEOUT_ENV = "TORCHKATA_TEST_TIMEOUT"
DEFAULT_KATA_TIMEOUT = 120.0
DEFAULT_TEST_TIMEOUT = 20.0
# Room for the grading process to start (it imports torch) on top of a kata's own limit.
STARTUP_SECONDS = 120.0


@dataclass
class _Session:
    cells: list[Cell] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    hooked: bool = False
    grading: bool = False
    environment: dict[str, str] = field(default_factory=dict)
    worker: _Worker | None = None


_SESSION = _Session()


def _shell() -> Any:
    """The running IPython shell, or None (also when IPython was never imported: a plain module import)."""
    if "IPython" not in sys.modules:
        return None
    return sys.modules["IPython"].get_ipython()


def record_cells(slug: str | None = None) -> None:
    """Keep the source of every code cell that runs from now on (and of this one); start the grader,
    which gets chapter ``slug``'s graders ready while the student works.

    Outside IPython (the notebook's code imported as a module for grading) it does nothing.
    """
    shell = _shell()
    if shell is None:
        return
    if not _SESSION.hooked:
        shell.events.register("pre_run_cell", _before_cell)
        shell.events.register("post_run_cell", _after_cell)
        _SESSION.hooked = True
        _SESSION.environment = dict(os.environ)
    if _SESSION.worker is None or not _SESSION.worker.alive():
        _SESSION.worker = _Worker(_SESSION.environment, [slug] if slug else [])


def _before_cell(info: Any = None) -> None:
    _SESSION.grading = False


def _after_cell(result: Any) -> None:
    if _SESSION.grading:
        _SESSION.grading = False
        return
    info = getattr(result, "info", None)
    if info is None or info.silent or not info.store_history or not result.success:
        return
    keep_cell(info.raw_cell, result.execution_count, _shell())


def keep_cell(raw: str, number: int, shell: Any = None) -> None:
    """Record one cell's code; a cell IPython has to rewrite (magics, ``!cmd``) is noted and left out."""
    code = shell.transform_cell(raw) if shell is not None else raw
    if "get_ipython()" in code and "get_ipython()" not in raw:
        _SESSION.notes.append(
            f"In[{number}] uses IPython-only syntax (%magic, !command) and is not part of the graded code."
        )
        return
    _SESSION.cells.append(Cell(number, code))


class GradingError(RuntimeError):
    """The grading process could not grade (not a fault of the student's code)."""


class _Worker:
    """The grading process (torchkata.exports.nbgrader.worker) and its line protocol."""

    def __init__(self, environment: dict[str, str], chapters: list[str]) -> None:
        self.log = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "torchkata.exports.nbgrader.worker", *chapters],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log,
            env=environment, start_new_session=True, bufsize=0,
        )
        self.buffer = b""
        self.ids = itertools.count(1)
        atexit.register(self.close)

    def alive(self) -> bool:
        return self.process.poll() is None

    def close(self) -> None:
        if self.alive():
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(5)
        if self.alive():
            self.process.kill()

    def _log_tail(self) -> str:
        self.log.seek(0)
        lines = self.log.read().decode("utf-8", errors="replace").strip().splitlines()
        return " | ".join(lines[-5:]) or "no message"

    def ask(self, request: dict[str, Any], seconds: float) -> dict[str, Any]:
        """Send a request; the reply carrying its id, or None when ``seconds`` pass first."""
        request = {**request, "id": next(self.ids)}
        assert self.process.stdin is not None and self.process.stdout is not None
        try:
            self.process.stdin.write((json.dumps(request) + "\n").encode("utf-8"))
        except BrokenPipeError:
            raise GradingError(f"the grading process has stopped: {self._log_tail()}") from None
        deadline = time.monotonic() + seconds
        fd = self.process.stdout.fileno()
        while True:
            while b"\n" in self.buffer:
                line, _, self.buffer = self.buffer.partition(b"\n")
                reply = json.loads(line)
                if reply.get("id") == request["id"]:  # replies to an interrupted cell are dropped
                    return reply
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.close()
                raise GradingError(f"the grading process gave no answer in {seconds:g} s and was stopped")
            ready, _, _ = select.select([fd], [], [], remaining)
            if ready:
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    self.process.wait()
                    raise GradingError(
                        f"the grading process ended (exit status {self.process.returncode}): {self._log_tail()}"
                    )
                self.buffer += chunk


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """No warnings, and anything written to sys.stderr goes to stdout instead."""
    with warnings.catch_warnings(), contextlib.redirect_stderr(sys.stdout):
        warnings.simplefilter("ignore")
        yield


def _seconds(name: str, default: float) -> float:
    try:
        value = float(_SESSION.environment.get(name) or os.environ.get(name) or default)
    except ValueError:
        return default
    return value if value > 0 else default


def _points(value: float) -> str:
    return f"{value:g}"


def report(kata: str, points: float, reply: dict[str, Any], slug: str, starts: list[tuple[int, int]]) -> float:
    """Print the kata's checks and return its score out of ``points``."""
    every = reply.get("outcomes", [])
    outcomes = [o for o in every if not o.get("not_applicable")]
    skipped = [TestOutcome(**o) for o in every if o.get("not_applicable")]
    problem = reply.get("timed_out") or reply.get("crash") or reply.get("error")
    earned = sum(o["points"] for o in outcomes if o["passed"])
    applicable = sum(o["points"] for o in outcomes)
    score = min(points, round(points * earned / applicable, 4)) if applicable and not problem else 0.0
    print(f"{kata}: {_points(score)} / {_points(points)} points")
    if problem:
        print(f"  {cell_locations(problem, slug, starts)}")
    for outcome in outcomes:
        status = "passed" if outcome["passed"] else "FAILED"
        print(f"  {status}  {outcome['test']} ({_points(outcome['points'])})")
        if not outcome["passed"] and outcome["message"]:
            message = cell_locations(outcome["message"], slug, starts)
            print("\n".join(f"      {line}" for line in message.splitlines()))
    if skipped:
        print(f"  {not_applicable_text(skipped)}")
    if applicable and applicable != points and not problem:
        print(f"  Checks worth {_points(applicable)} points apply on this machine; the score is scaled to "
              f"{_points(points)}.")
    if not reply.get("hidden_graders", True):
        print("  The hidden graders are not installed here: only the public checks ran.")
    if score < points:  # a cell left out of the graded code may be why
        for note in [*_SESSION.notes, *reply.get("replay_errors", [])]:
            print(f"  Note: {cell_locations(note, slug, starts)}")
    return score


def grade_kata(slug: str, kata: str, points: float) -> float:
    """Grade ``kata`` of chapter ``slug`` on the code this notebook ran; print the checks, return the score."""
    _SESSION.grading = True
    with _quiet():
        if not _SESSION.hooked:
            raise GradingError("run the setup cell at the top of the notebook first: it lets the grade cells "
                               "see your code")
        if _SESSION.worker is None or not _SESSION.worker.alive():
            _SESSION.worker = _Worker(_SESSION.environment, [slug])
        source, starts = assemble(slug, _SESSION.cells)
        kata_timeout = _seconds(KATA_TIMEOUT_ENV, DEFAULT_KATA_TIMEOUT)
        request = {
            "chapter": slug, "kata": kata, "source": source, "cwd": os.getcwd(),
            "kata_timeout": kata_timeout, "test_timeout": _seconds(TEST_TIMEOUT_ENV, DEFAULT_TEST_TIMEOUT),
            "test_memory": int(_seconds(TEST_MEMORY_ENV, STUDENT_MEMORY_MIB)),
        }
        try:
            reply = _SESSION.worker.ask(request, kata_timeout + STARTUP_SECONDS)
        except KeyboardInterrupt:
            _SESSION.worker.close()
            raise
        return report(kata, float(points), reply, slug, starts)
