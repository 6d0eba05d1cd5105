"""The grading process behind an nbgrader notebook's grade cells, outside the student's kernel.

:mod:`torchkata.exports.nbgrader.grade` starts it once per kernel (``python -m torchkata.exports.nbgrader.worker``). It
imports torch, pytest and the graders' helpers once; then, for each request (one JSON line
on stdin: chapter, kata, the notebook's code) it forks a child that writes the code as
``<slug>.py`` in a fresh directory and runs that kata's public and hidden graders on it,
each test under pytest-timeout and the whole kata under a wall-clock limit. The child
reports through its own pipe, with its stdout and stderr sent to /dev/null; the worker
answers with one JSON line on stdout. What the graded code prints never reaches the kernel.

The graded code runs in the child together with the graders, as ``torchkata grade
--in-process`` runs it: the kernel cannot touch the checks, but this is not the sandbox of
``torchkata grade``.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import select
import signal
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

_CHILD_GROUP: int | None = None
# Chapters read by warm_chapter in the worker, inherited by each forked child.
_CHAPTERS: dict[str, list[Any]] = {}


def run_kata(
    root: Path, impl_dir: Path, slug: str, kata: str, test_timeout: float, memory_mib: int = 0
) -> dict[str, Any]:
    """Run one kata's graders on ``impl_dir/<slug>.py`` in this process; outcomes as plain data.

    Each test runs under ``test_timeout`` seconds and may allocate ``memory_mib`` MiB (0: no limit).

    Cells of the module that raised while it was imported are reported as ``replay_errors``.
    """
    import pytest

    from torchkata.course.project import Project
    from torchkata.exports.nbgrader.module import REPLAY_LOG_ENV
    from torchkata.grading.grade import pytest_args, select_chapters
    from torchkata.grading.recorder import Recorder

    project = Project(root)
    recorder = Recorder()
    log = impl_dir.parent / "replay.log"
    os.environ[REPLAY_LOG_ENV] = str(log)
    chapters = _CHAPTERS.get(slug) or select_chapters(project, [slug])
    args = [*pytest_args(project, impl_dir, chapters, [kata], memory_mib=memory_mib), f"--timeout={test_timeout:g}"]
    with contextlib.redirect_stdout(io.StringIO()):
        pytest.main(args, plugins=[recorder])
    replay_errors = log.read_text(encoding="utf-8").splitlines() if log.is_file() else []
    return {
        "outcomes": [asdict(outcome) for outcome in recorder.outcomes()],
        "error": recorder.collect_errors.get(slug, ""),
        "hidden_graders": bool(project.grader_files(slug, "hidden")),
        "replay_errors": list(dict.fromkeys(replay_errors)),
    }


def _silence_child(scratch: Path, cwd: str | None) -> None:
    """No output to anyone; temporary files in ``scratch``; the notebook's working directory, as its
    cells had it (relative paths in them then mean what they meant in the notebook)."""
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    os.chdir(cwd if cwd and os.path.isdir(cwd) else scratch)
    os.environ["TMPDIR"] = str(scratch)
    tempfile.tempdir = None


def _child(write_end: int, root: Path, impl_dir: Path, request: dict[str, Any]) -> None:
    """In the forked child: grade, send the result, never return."""
    try:
        os.setsid()
        _silence_child(impl_dir.parent / "scratch", request.get("cwd"))
        result = run_kata(
            root, impl_dir, request["chapter"], request["kata"], float(request["test_timeout"]),
            int(request.get("test_memory", 0)),
        )
        payload = json.dumps(result).encode("utf-8")
    except BaseException as error:  # noqa: BLE001 (whatever happens, the parent gets an answer)
        payload = json.dumps({"crash": f"{type(error).__name__}: {error}"}).encode("utf-8")
    try:
        view = memoryview(payload)
        while view:
            view = view[os.write(write_end, view) :]
    finally:
        os._exit(0)


def _read_all(fd: int, deadline: float) -> tuple[bytes, bool]:
    """What the child sends until it closes the pipe; True when the deadline passed first."""
    chunks: list[bytes] = []
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return b"".join(chunks), True
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                return b"".join(chunks), False
            chunks.append(chunk)


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def grade_request(root: Path, request: dict[str, Any]) -> dict[str, Any]:
    """Grade one request in a forked child; the reply holds outcomes, or ``timed_out``/``crash``."""
    global _CHILD_GROUP
    slug = request["chapter"]
    kata_timeout = float(request["kata_timeout"])
    with tempfile.TemporaryDirectory(prefix="torchkata-nbgrade-") as tmp:
        impl_dir = Path(tmp) / "impl"
        impl_dir.mkdir()
        (Path(tmp) / "scratch").mkdir()
        (impl_dir / f"{slug}.py").write_text(request["source"], encoding="utf-8")
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read_end)
            _child(write_end, root, impl_dir, request)
        os.close(write_end)
        _CHILD_GROUP = pid
        try:
            data, timed_out = _read_all(read_end, time.monotonic() + kata_timeout)
        finally:
            os.close(read_end)
            _kill_group(pid)  # also whatever the graded code left running
            _, status = os.waitpid(pid, 0)
            _CHILD_GROUP = None
    if timed_out:
        return {"timed_out": f"the checks of {request['kata']} ran past {kata_timeout:g} s and were stopped"}
    try:
        return json.loads(data.decode("utf-8"))
    except ValueError:
        code = os.waitstatus_to_exitcode(status)
        return {"crash": f"the grading process ended before it reported (exit status {code}); "
                         "did the code call os._exit or crash the interpreter?"}


def _warm_up() -> None:
    """Import what every grading child needs once, before forking."""
    import numpy  # noqa: F401
    import pytest  # noqa: F401
    import torch  # noqa: F401

    import torchkata.checks  # noqa: F401
    import torchkata.grading.grade  # noqa: F401
    import torchkata.plugin  # noqa: F401


def warm_chapter(root: Path, slug: str) -> None:
    """Collect a chapter's graders here, before any graded code runs, so that every child finds
    pytest's plugins and the graders' imports loaded (a cold pytest run costs seconds: it imports
    and assertion-rewrites plugins such as hypothesis')."""
    import pytest

    from torchkata.course.project import Project
    from torchkata.grading.grade import pytest_args, select_chapters

    project = Project(root)
    try:
        chapters = select_chapters(project, [slug])
    except (KeyError, OSError, ValueError):
        return  # the grading child meets the same problem and reports it
    with contextlib.redirect_stdout(io.StringIO()):
        pytest.main([*pytest_args(project, root / "starter", chapters), "--collect-only"])
    _CHAPTERS[slug] = chapters


def _on_terminate(signum: int, frame: object) -> None:
    if _CHILD_GROUP is not None:
        _kill_group(_CHILD_GROUP)
    os._exit(0)


def main(argv: list[str] | None = None) -> int:
    """Serve grading requests until stdin closes; chapters named in ``argv`` are warmed at once."""
    from torchkata.course.project import Project

    signal.signal(signal.SIGTERM, _on_terminate)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    root = Project.find().root
    _warm_up()
    warm: set[str] = set()
    for slug in sys.argv[1:] if argv is None else argv:
        warm_chapter(root, slug)
        warm.add(slug)
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        if request["chapter"] not in warm:
            warm_chapter(root, request["chapter"])
            warm.add(request["chapter"])
        reply = grade_request(root, request)
        reply["id"] = request.get("id")
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
