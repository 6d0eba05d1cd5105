"""The GitHub Classroom reporter's results objects: one runner per chapter, one test per check.

``classroom-resources/autograding-grading-reporter@v1`` takes a ``runners`` input (ids joined by commas,
each made of letters and digits) and, for each id, reads the variable ``<ID in upper case>_RESULTS``:
base64 of a JSON object ``{version, status, max_score, tests}`` whose tests carry ``name, status, score,
message, test_code, filename, line_no, duration``. Its notice to Classroom is ``Points <every test's score,
summed>/<every runner's max_score, summed>``, leaving out a runner whose ``max_score`` is 0.

Here each chapter is one runner (``max_score``: the chapter's points) and each check one test scored with the
check's points when it passes, so the notice's total is the one ``torchkata grade`` computes. The points come
from the GradeResult (the checks' markers, as every report takes them); nothing is scored again here.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from torchkata.course.catalog import Chapter
from torchkata.course.locate import todo_location
from torchkata.exports.gradescope.results_json import flag_text
from torchkata.grading.hygiene import cap, plain
from torchkata.grading.results import ChapterResult, GradeResult
from torchkata.student.katas import shown_path

RESULTS_VERSION = 1
PASS, FAIL, ERROR = "pass", "fail", "error"
# The reporter checks its input against ^([a-zA-Z0-9]+,)*[a-zA-Z0-9]+$ (src/main.js).
RUNNER_ID = re.compile(r"[A-Za-z0-9]+")
MESSAGE_CHARS = 300
# Characters of base64 one runner may take: its variable must stay under Linux's 128 KiB for one variable,
# and the sixteen chapters together well under the environment's 2 MiB.
RUNNER_BUDGET = 48 * 1024
ERROR_FLAGS = ("crashed", "timed_out", "error")
NO_RESULT = "the grading step wrote no result for this chapter: its log says why"


def runner_id(chapter: Chapter) -> str:
    """``ch03modules``: the chapter's number and slug, letters and digits only (the reporter accepts no other)."""
    found = f"ch{chapter.number:02d}" + re.sub(r"[^A-Za-z0-9]", "", chapter.slug)
    if not RUNNER_ID.fullmatch(found):
        raise ValueError(f"no runner id can be made of chapter {chapter.slug!r}")
    return found


def results_env(runner: str) -> str:
    """The variable the reporter reads for ``runner``."""
    return f"{runner.upper()}_RESULTS"


def _test(name: str, status: str, score: float, message: str, filename: str = "", line_no: int = 0) -> dict[str, Any]:
    # test_code stays empty: the reporter prints a non-empty one under every test, passing or not.
    return {
        "name": name,
        "status": status,
        "score": score,
        "message": message,
        "test_code": "",
        "filename": filename,
        "line_no": line_no,
        "duration": 0,
    }


def error_results(name: str, reason: str, max_score: float) -> dict[str, Any]:
    """A runner that could not be graded: one erring test worth nothing, the chapter's points as its maximum."""
    return {
        "version": RESULTS_VERSION,
        "status": ERROR,
        "max_score": max_score,
        "tests": [_test(name, ERROR, 0, cap(plain(reason), MESSAGE_CHARS))],
    }


def chapter_status(chapter: ChapterResult) -> str:
    """``pass`` at full marks, ``error`` when the chapter crashed, timed out or did not collect, else ``fail``."""
    if any(flag in chapter.flags for flag in ERROR_FLAGS):
        return ERROR
    full = chapter.points == chapter.max_points and not chapter.flags
    return PASS if full else FAIL


def _first_line(message: str, limit: int) -> str:
    return cap(" ".join((plain(message).strip().splitlines() or [""])[0].split()), limit) if limit else ""


def chapter_results(
    chapter: ChapterResult, filename: str, impl_file: Path | None = None, message_chars: int = MESSAGE_CHARS
) -> dict[str, Any]:
    """The chapter's results object: each check scored with its points when it passes (0 in a tampered chapter)."""
    flags = flag_text(chapter)
    tampered = bool(chapter.flags.get("tampered"))
    crashed = any(flag in chapter.flags for flag in ERROR_FLAGS)
    tests: list[dict[str, Any]] = []
    for kata in chapter.katas.values():
        found = todo_location(impl_file, kata.name) if impl_file is not None else None
        line = found[0] if found else 0
        for outcome in kata.outcomes:
            passed = outcome.passed and not tampered
            status = PASS if passed else ERROR if crashed else FAIL
            message = (
                ""
                if passed
                else _first_line(f"{flags}: {outcome.message}" if flags else outcome.message, message_chars)
            )
            tests.append(
                _test(f"{kata.name}: {outcome.test}", status, outcome.points if passed else 0, message, filename, line)
            )
    if not tests:
        reason = flags or "no check of this chapter can run on this machine"
        status = ERROR if crashed else PASS
        tests.append(_test(f"{chapter.slug}: no checks", status, 0, _first_line(reason, MESSAGE_CHARS)))
    return {
        "version": RESULTS_VERSION,
        "status": chapter_status(chapter),
        "max_score": chapter.max_points,
        "tests": tests,
    }


def encode(results: dict[str, Any]) -> str:
    """Base64 of the compact JSON text, as the command grader writes its ``result`` output."""
    return base64.b64encode(json.dumps(results, separators=(",", ":")).encode("utf-8")).decode("ascii")


def encoded_chapter(
    chapter: ChapterResult, filename: str, impl_file: Path | None = None, budget: int = RUNNER_BUDGET
) -> str:
    """The encoded results object, its messages shortened (to none at worst) until it fits ``budget``.

    A chapter with more checks than fit even then reports one erring test worth its points instead.
    """
    for limit in (MESSAGE_CHARS, 120, 40, 0):
        text = encode(chapter_results(chapter, filename, impl_file, limit))
        if len(text) <= budget:
            return text
    reason = f"{chapter.slug} has too many checks to report one by one; `torchkata grade` lists them"
    return encode(error_results(f"{chapter.slug}: grading", reason, chapter.max_points))


def output_lines(result: GradeResult, chapters: Iterable[Chapter], impl_dir: Path) -> list[str]:
    """``<runner>=<base64>`` for each chapter graded; a chapter whose checks did not collect gets none.

    The workflow gives the reporter, for a runner without an output, an error results object worth the
    chapter's points (see :mod:`torchkata.exports.classroom.workflow`), so its maximum still counts.
    """
    lines = []
    for chapter in chapters:
        graded = result.chapters.get(chapter.slug)
        if graded is None or (not graded.katas and "error" in graded.flags):
            continue
        impl_file = impl_dir / chapter.module_name
        lines.append(f"{runner_id(chapter)}={encoded_chapter(graded, shown_path(impl_file), impl_file)}")
    return lines


def write_outputs(result: GradeResult, chapters: Iterable[Chapter], impl_dir: Path, path: Path) -> None:
    """Append the output lines to ``path`` (in a workflow, the file named by ``$GITHUB_OUTPUT``)."""
    with path.open("a", encoding="utf-8") as handle:
        for line in output_lines(result, chapters, impl_dir):
            handle.write(line + "\n")
