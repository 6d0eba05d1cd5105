"""Gradescope's autograder ``results.json`` from a GradeResult.

One Gradescope test per grader test, named ``chapter / kata / test``; hidden graders
get ``"visibility": "hidden"``. A flagged chapter (tampered, crashed, timed out)
says so in the top-level output and in each of its tests; a tampered chapter's
tests all score 0.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from torchkata.grading.results import ChapterResult, GradeResult, layers_text, not_applicable_text


def flag_text(chapter: ChapterResult) -> str:
    """``tampered: reason; crashed: reason`` for a flagged chapter, "" otherwise."""
    return "; ".join(f"{name}: {reason}" if reason is not True else name for name, reason in chapter.flags.items())


def gradescope_results(result: GradeResult, execution_time: float | None = None) -> dict[str, Any]:
    """The results.json object: score, max_score, output and one entry per grader test."""
    tests: list[dict[str, Any]] = []
    notes: list[str] = []
    for slug, chapter in result.chapters.items():
        flags = flag_text(chapter)
        if flags:
            notes.append(f"{slug}: {flags}")
        tampered = bool(chapter.flags.get("tampered"))
        for kata in chapter.katas.values():
            for outcome in kata.outcomes:
                passed = outcome.passed and not tampered
                output = outcome.message if not outcome.passed else ""
                if flags:
                    output = f"[{slug} {flags}]\n{output}".strip()
                tests.append(
                    {
                        "name": f"{slug} / {kata.name} / {outcome.test}",
                        "score": outcome.points if passed else 0.0,
                        "max_score": outcome.points,
                        "status": "passed" if passed else "failed",
                        "output": output,
                        "tags": [slug, kata.name],
                        "visibility": "hidden" if outcome.visibility == "hidden" else "visible",
                    }
                )
    notes += [f"review {line}" for line in result.review_lines()]
    skipped = not_applicable_text(result.not_applicable())
    if skipped:
        notes.append(skipped)
    summary = notes or [f"{result.points:g} of {result.max_points:g} points."]
    data: dict[str, Any] = {
        "score": result.points,
        "max_score": result.max_points,
        "output": "\n".join([*summary, layers_text(result.layers)]),
        # Plain text everywhere: a message that carries a submission's text is never rendered as HTML or markdown.
        "output_format": "text",
        "test_output_format": "text",
        "tests": tests,
    }
    if execution_time is not None:
        data["execution_time"] = round(execution_time, 3)
    return data


def write_gradescope(result: GradeResult, path: Path, execution_time: float | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(gradescope_results(result, execution_time), indent=2) + "\n", encoding="utf-8")
