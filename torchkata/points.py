"""What each chapter is worth: the points markers of its grader tests, found by collecting them."""

from __future__ import annotations

import contextlib
import io

import pytest

from torchkata.catalog import Chapter
from torchkata.grade import pytest_args
from torchkata.project import Project
from torchkata.recorder import Recorder


def chapter_points(project: Project, chapters: list[Chapter], visibility: str = "all") -> dict[str, float]:
    """Points per chapter slug, public and hidden graders together by default.

    Every collected test counts, including those a machine without a GPU would skip,
    so the figure is the same wherever it is computed. Nothing is run: pytest only collects.
    """
    recorder = Recorder()
    args = [*pytest_args(project, project.starter, chapters, visibility=visibility), "--collect-only"]
    with contextlib.redirect_stdout(io.StringIO()):
        pytest.main(args, plugins=[recorder])
    if recorder.collect_errors:
        problems = "; ".join(f"{slug}: {error}" for slug, error in recorder.collect_errors.items())
        raise ValueError(f"the graders do not collect, so their points are unknown: {problems}")
    points = {chapter.slug: 0.0 for chapter in chapters}
    for expected in recorder.expected.values():
        points[expected.chapter] = points.get(expected.chapter, 0.0) + expected.points
    empty = [slug for slug, value in points.items() if value <= 0]
    if empty:
        raise ValueError(f"chapters without graded tests: {', '.join(empty)}")
    return points
