"""What each chapter and kata is worth: the points markers of its grader tests, found by collecting them.

Only checks that can run on this machine count: a check whose ``skipif`` marker applies here (a CUDA check
on a machine without a GPU) is in no total, in this view as in every report of a grading run.
"""

from __future__ import annotations

import contextlib
import io
from collections import defaultdict

import pytest

from torchkata.course.catalog import Chapter
from torchkata.course.project import Project
from torchkata.grading.grade import pytest_args
from torchkata.grading.recorder import Expected, Recorder


def expected_checks(project: Project, chapters: list[Chapter], visibility: str = "all") -> list[Expected]:
    """Every grader test of the chapters, collected (nothing runs); ValueError if the graders do not collect."""
    recorder = Recorder()
    args = [*pytest_args(project, project.starter, chapters, visibility=visibility), "--collect-only"]
    with contextlib.redirect_stdout(io.StringIO()):
        pytest.main(args, plugins=[recorder])
    if recorder.collect_errors:
        problems = "; ".join(f"{slug}: {error}" for slug, error in recorder.collect_errors.items())
        raise ValueError(f"the graders do not collect, so their points are unknown: {problems}")
    return list(recorder.expected.values())


def kata_points(project: Project, chapters: list[Chapter], visibility: str = "all") -> dict[str, dict[str, float]]:
    """Points per chapter slug and kata of the checks that can run here (rounded to 6 places)."""
    points: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for check in expected_checks(project, chapters, visibility):
        if not check.not_applicable:
            points[check.chapter][check.kata] += check.points
    return {slug: {kata: round(value, 6) for kata, value in katas.items()} for slug, katas in points.items()}


def chapter_points(project: Project, chapters: list[Chapter], visibility: str = "all") -> dict[str, float]:
    """Points per chapter slug, public and hidden graders together by default, of the checks that run here."""
    by_kata = kata_points(project, chapters, visibility)
    points = {chapter.slug: round(sum(by_kata.get(chapter.slug, {}).values()), 6) for chapter in chapters}
    empty = [slug for slug, value in points.items() if value <= 0]
    if empty:
        raise ValueError(f"chapters without graded tests: {', '.join(empty)}")
    return points
