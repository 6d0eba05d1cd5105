"""Shared fixtures for the tests of graders and engine."""

from __future__ import annotations

import os
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


@pytest.fixture(scope="session")
def project() -> Project:
    return PROJECT
