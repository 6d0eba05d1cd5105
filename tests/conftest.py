"""Shared fixtures for the tests of graders and engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from torchkata.catalog import Chapter, load_chapters
from torchkata.project import Project

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
PROJECT = Project(ROOT)
CHAPTERS: list[Chapter] = load_chapters(PROJECT)


@pytest.fixture(scope="session")
def project() -> Project:
    return PROJECT
