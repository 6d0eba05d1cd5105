"""A class's grades: the CSV of points per chapter and kata, and which checks fail most often."""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from torchkata.exports.gradescope.results_json import flag_text
from torchkata.grading.results import GradeResult


def _columns(results: Mapping[str, GradeResult]) -> list[tuple[str, str | None]]:
    """(chapter, kata or None for the chapter total), in the order the results list them."""
    columns: list[tuple[str, str | None]] = []
    for result in results.values():
        for slug, chapter in result.chapters.items():
            if (slug, None) not in columns:
                columns.append((slug, None))
            for name in chapter.katas:
                if (slug, name) not in columns:
                    columns.append((slug, name))
    return columns


def write_csv(results: Mapping[str, GradeResult], path: Path) -> None:
    """One row per submission: total, each chapter, each ``chapter/kata``, the flags, the review's findings."""
    columns = _columns(results)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        header = ["submission", "points", "max_points"]
        header += [slug if kata is None else f"{slug}/{kata}" for slug, kata in columns]
        writer.writerow([*header, "flags", "review"])
        for name, result in results.items():
            row: list[object] = [name, f"{result.points:g}", f"{result.max_points:g}"]
            for slug, kata in columns:
                chapter = result.chapters.get(slug)
                if chapter is None:
                    row.append("")
                elif kata is None:
                    row.append(f"{chapter.points:g}")
                else:
                    found = chapter.katas.get(kata)
                    tampered = bool(chapter.flags.get("tampered"))
                    row.append("" if found is None else f"{0 if tampered else found.points:g}")
            flags = [f"{slug} {flag_text(c)}" for slug, c in result.chapters.items() if c.flags]
            writer.writerow([*row, "; ".join(flags), "; ".join(result.review_lines())])


@dataclass(frozen=True)
class FailureRate:
    """How many of the graded submissions failed one check."""

    chapter: str
    kata: str
    test: str
    failed: int
    graded: int

    @property
    def rate(self) -> float:
        return self.failed / self.graded if self.graded else 0.0


def failure_rates(results: Mapping[str, GradeResult]) -> list[FailureRate]:
    """Every check's failure count across the class, most failed first."""
    counts: dict[tuple[str, str, str], list[int]] = {}
    for result in results.values():
        for outcome in result.outcomes():
            entry = counts.setdefault((outcome.chapter, outcome.kata, outcome.test), [0, 0])
            entry[0] += 0 if outcome.passed else 1
            entry[1] += 1
    rates = [FailureRate(*key, failed, graded) for key, (failed, graded) in counts.items()]
    return sorted(rates, key=lambda rate: (-rate.rate, rate.chapter, rate.test))
