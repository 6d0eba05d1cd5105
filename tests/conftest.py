"""Shared fixtures for the tests of graders and engine."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from torchkata.course.catalog import Chapter, load_chapters
from torchkata.course.project import Project

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
PROJECT = Project(ROOT)
CHAPTERS: list[Chapter] = load_chapters(PROJECT)


def engine_env(**extra: str) -> dict[str, str]:
    """The environment for a ``python -m torchkata`` subprocess: this checkout's engine first on the path.

    An editable install may point at another checkout of the repository; these tests test this one.
    """
    path = os.pathsep.join(part for part in (str(ROOT), os.environ.get("PYTHONPATH", "")) if part)
    return {**os.environ, "PYTHONPATH": path, **extra}


def like_a_terminal() -> None:
    """``preexec_fn`` for a command the test stops with Ctrl-C: SIGINT handled as in a terminal.

    A job started in the background of a shell (as CI may start the suite) inherits SIGINT ignored,
    and Python then installs no KeyboardInterrupt handler in the commands it runs.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture(scope="session")
def project() -> Project:
    return PROJECT
