"""The forked child of a student's check: it limits itself, runs the checks and reports over a pipe.

Its parent is :class:`torchkata.student.checkrun.CheckRun`. The child tells which kata each test belongs
to as it starts (so the parent can name the kata a stuck test held) and, at the end, every kata's status;
it never returns.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torchkata.course.catalog import Chapter
from torchkata.course.project import Project
from torchkata.grading.limits import Limits

if TYPE_CHECKING:
    from torchkata.student.checkrun import CheckLimits


class _KataReporter:
    """pytest plugin in the child: tells the parent which kata each test belongs to as it starts."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def pytest_runtest_setup(self, item: Any) -> None:
        from torchkata.plugin import chapter_of, kata_of

        found = kata_of(item)
        if found is not None:
            marker = item.get_closest_marker("timeout")  # a check that declares its own limit (the capstone)
            seconds = float(marker.args[0]) if marker is not None and marker.args else None
            _send(self.fd, {"t": "start", "chapter": chapter_of(Path(str(item.path))), "kata": found[0],
                            "seconds": seconds})

    def pytest_runtest_logfinish(self) -> None:
        _send(self.fd, {"t": "end"})


def _send(fd: int, message: dict[str, Any]) -> None:
    view = memoryview((json.dumps(message) + "\n").encode("utf-8"))
    while view:
        view = view[os.write(fd, view) :]


def run_child(fd: int, request: dict[str, Any]) -> None:
    """In the forked child: limit itself, check, report, never return."""
    code = 0
    try:
        os.setsid()  # Ctrl-C in the terminal reaches the parent only; it stops this child
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        devnull = os.open(os.devnull, os.O_RDWR)
        for target in (0, 1, 2):
            os.dup2(devnull, target)
        limits: CheckLimits = request["limits"]
        if limits.memory_mib > 0:
            from torchkata.grading.limits import apply_rlimits

            apply_rlimits(Limits(wall_seconds=3600, memory_mib=limits.memory_mib), os.cpu_count() or 1)
        from torchkata.grading.grade import grade_in_process
        from torchkata.student.katas import statuses_from

        project: Project = request["project"]
        chapters: list[Chapter] = request["chapters"]
        katas = request["katas"]
        result = grade_in_process(
            request["impl_dir"],
            [chapter.slug for chapter in chapters],
            project,
            katas=katas,
            visibility=request["visibility"],
            test_seconds=limits.test_seconds,
            plugins=[_KataReporter(fd)],
        )
        statuses = [status.to_dict() for status in statuses_from(result, chapters, katas)]
        full = None
        if request["full_points"]:
            from torchkata.grading.points import kata_points

            full = kata_points(project, chapters, "all")
        _send(fd, {"t": "done", "statuses": statuses, "full_points": full})
    except BaseException as error:  # noqa: BLE001 - the parent gets an answer whatever happens
        code = 70
        try:
            _send(fd, {"t": "error", "message": f"{type(error).__name__}: {error}"})
        except OSError:
            pass
    finally:
        os._exit(code)
