"""What the GitHub Classroom grading step prints for the student, and its exit status.

The same table as ``torchkata check``: per chapter its katas, each with its state, points and, when it fails,
where to edit and its first failing check's message; then any flag, the review, the checks that cannot run
here, the protections and the points Classroom records. The exit status is 0 only at full marks.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from rich.console import Console

from torchkata.course.catalog import Chapter, Kata
from torchkata.exports.gradescope.results_json import flag_text
from torchkata.grading.results import GradeResult, layers_text, not_applicable_text
from torchkata.student.katas import FAILING, KataStatus, next_kata, statuses_from
from torchkata.student.view import next_text, print_statuses, summary


def chapters_of(result: GradeResult) -> list[Chapter]:
    """Catalogue entries for the result's chapters and katas, for a result graded outside a course."""
    return [
        Chapter(number, slug, slug, Path(slug), tuple(Kata(name, name, (), slug) for name in chapter.katas))
        for number, (slug, chapter) in enumerate(result.chapters.items(), start=1)
    ]


def graded_visibility(result: GradeResult) -> str:
    """``all`` when hidden checks took part, else ``public``."""
    outcomes = [*result.outcomes(), *result.not_applicable()]
    return "all" if any(outcome.visibility == "hidden" for outcome in outcomes) else "public"


def _without_tampered_points(status: KataStatus, result: GradeResult) -> KataStatus:
    """A tampered chapter's katas earn nothing, in the table as in the total."""
    if not result.chapters[status.chapter].flags.get("tampered"):
        return status
    reason = flag_text(result.chapters[status.chapter])
    return replace(status, points=0.0, state=FAILING, failed_checks=status.checks, message=reason)


def is_complete(result: GradeResult) -> bool:
    """Every graded chapter at full marks, with points to earn and no flag."""
    return bool(result.chapters) and all(
        chapter.points == chapter.max_points and chapter.max_points > 0 and not chapter.flags
        for chapter in result.chapters.values()
    )


def classroom_report(
    result: GradeResult, chapters: Iterable[Chapter] | None = None, impl_dir: Path = Path("starter")
) -> tuple[str, int]:
    """(text for the student, exit status) for the chapters in ``result``."""
    listed = [c for c in chapters if c.slug in result.chapters] if chapters is not None else chapters_of(result)
    visibility = graded_visibility(result)
    statuses = [_without_tampered_points(status, result) for status in statuses_from(result, listed)]
    buffer = io.StringIO()
    console = Console(file=buffer, width=120, highlight=False, soft_wrap=True, no_color=True, force_terminal=False)
    print_statuses(console, statuses, listed, impl_dir, visibility)
    for slug, chapter in result.chapters.items():
        if chapter.flags:
            console.print(f"{slug}: {flag_text(chapter)}", markup=False)
    for line in result.review_lines():
        console.print(f"review {line}", markup=False)
    skipped = not_applicable_text(result.not_applicable())
    if skipped:
        console.print(skipped, markup=False)
    console.print(layers_text(result.layers), markup=False)
    console.print(summary(statuses, visibility), markup=False)
    complete = is_complete(result)
    upcoming = next_kata(statuses)
    if upcoming is not None:
        console.print(next_text(upcoming, impl_dir))
    console.print(
        f"Points: {result.points:g} / {result.max_points:g}, the total GitHub Classroom records.", markup=False
    )
    console.print("PASS: every check passes." if complete else "FAIL: some checks do not pass yet.", markup=False)
    return buffer.getvalue().rstrip("\n"), 0 if complete else 1
