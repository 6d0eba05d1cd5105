"""The grade of one submission, built from test outcomes; every report renders this object."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class TestOutcome:
    """One grader test's result."""

    test: str
    chapter: str
    kata: str
    points: float
    visibility: str
    passed: bool
    message: str = ""
    not_applicable: str = ""  # why it cannot run on this machine; such a check counts in no total


@dataclass
class KataResult:
    name: str
    points: float = 0.0
    max_points: float = 0.0
    passed: list[str] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)
    outcomes: list[TestOutcome] = field(default_factory=list)

    @property
    def not_started(self) -> bool:
        return bool(self.failed) and not self.passed and all(
            f["message"].startswith("not started") for f in self.failed
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "points": self.points,
            "max_points": self.max_points,
            "passed": list(self.passed),
            "failed": [dict(f) for f in self.failed],
        }


@dataclass
class ChapterResult:
    slug: str
    katas: dict[str, KataResult] = field(default_factory=dict)
    flags: dict[str, Any] = field(default_factory=dict)
    not_applicable: list[TestOutcome] = field(default_factory=list)
    review: list[str] = field(default_factory=list)  # the static review's findings: file:line: what

    @property
    def points(self) -> float:
        return 0.0 if self.flags.get("tampered") else sum(k.points for k in self.katas.values())

    @property
    def max_points(self) -> float:
        return sum(k.max_points for k in self.katas.values())

    def to_dict(self) -> dict[str, Any]:
        """Points, katas and the flags (``tampered``, ``crashed``, ``timed_out``, ``error``: their reasons)."""
        katas = {name: kata.to_dict() for name, kata in self.katas.items()}
        if self.flags.get("tampered"):
            for kata in katas.values():
                kata["points"] = 0.0
        data: dict[str, Any] = {"points": self.points, "max_points": self.max_points, "katas": katas,
                                "review": list(self.review)}
        if self.not_applicable:
            data["not_applicable"] = [
                {"test": o.test, "kata": o.kata, "points": o.points, "reason": o.not_applicable}
                for o in self.not_applicable
            ]
        data.update(self.flags)
        return data


IN_PROCESS_LAYERS: dict[str, Any] = {"isolated": False, "static_review": True}


@dataclass
class GradeResult:
    chapters: dict[str, ChapterResult] = field(default_factory=dict)
    layers: dict[str, Any] = field(default_factory=lambda: dict(IN_PROCESS_LAYERS))  # protections active

    @property
    def points(self) -> float:
        return sum(c.points for c in self.chapters.values())

    @property
    def max_points(self) -> float:
        return sum(c.max_points for c in self.chapters.values())

    def add_review(self, found: dict[str, list[str]]) -> None:
        """Attach the static review's findings to the chapters they were found in."""
        for slug, findings in found.items():
            if slug in self.chapters:
                self.chapters[slug].review = list(findings)

    def review_lines(self) -> list[str]:
        return [f"{slug}: {line}" for slug, chapter in self.chapters.items() for line in chapter.review]

    def not_applicable(self) -> list[TestOutcome]:
        """The checks that cannot run on this machine: in no total, listed with their reason."""
        return [outcome for chapter in self.chapters.values() for outcome in chapter.not_applicable]

    def outcomes(self) -> list[TestOutcome]:
        return [
            outcome
            for chapter in self.chapters.values()
            for kata in chapter.katas.values()
            for outcome in kata.outcomes
        ]

    def to_dict(self) -> dict[str, Any]:
        skipped = self.not_applicable()
        return {
            "points": self.points,
            "max_points": self.max_points,
            "not_applicable": {"checks": len(skipped), "points": sum(o.points for o in skipped),
                               "reasons": not_applicable_reasons(skipped)},
            "layers": dict(self.layers),
            "chapters": {slug: chapter.to_dict() for slug, chapter in self.chapters.items()},
        }


def not_applicable_reasons(outcomes: list[TestOutcome]) -> dict[str, int]:
    """How many checks each reason leaves out, in the order first met."""
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome.not_applicable] = counts.get(outcome.not_applicable, 0) + 1
    return counts


# The layers each grading child measures, as layers_text names them.
MEASURED_LAYERS = (("reads", "reads"), ("graders_after_load", "graders"), ("network", "network"), ("uid", "uid"),
                   ("capabilities", "capabilities"))


def layers_text(layers: dict[str, Any]) -> str:
    """A line naming the grading's protections, and one saying what the children measured, for every report."""
    if not layers.get("isolated"):
        return "Graded in one process with the graders (trusted code only): no isolation, static review only."
    landlock = f"Landlock ABI {layers['landlock']}" if layers.get("landlock") else "no Landlock"
    text = (f"Graded in isolated children ({landlock}; audit hook, integrity check, static review, "
            "allow-listed environment): see docs/security.md.")
    measured = [f"{label}: {layers[key]}" for key, label in MEASURED_LAYERS if key in layers]
    if not layers.get("measured") or not measured:
        return text
    return f"{text}\nIn each child: " + "; ".join(measured) + "."


def not_applicable_text(outcomes: list[TestOutcome]) -> str:
    """One sentence for every report, empty when every check ran."""
    if not outcomes:
        return ""
    points = sum(outcome.points for outcome in outcomes)
    reasons = "; ".join(f"{reason} ({count})" for reason, count in not_applicable_reasons(outcomes).items())
    plural = "s" if len(outcomes) != 1 else ""
    return (f"{len(outcomes)} check{plural} ({points:g} points) cannot run on this machine and count in no "
            f"total: {reasons}.")


def build_result(
    outcomes: list[TestOutcome], kata_order: dict[str, list[str]] | None = None
) -> GradeResult:
    """Group outcomes by chapter and kata; katas follow ``kata_order`` where it names them."""
    result = GradeResult()
    order = kata_order or {}
    for slug, names in order.items():
        chapter = result.chapters.setdefault(slug, ChapterResult(slug))
        for name in names:
            chapter.katas.setdefault(name, KataResult(name))
    for outcome in outcomes:
        chapter = result.chapters.setdefault(outcome.chapter, ChapterResult(outcome.chapter))
        if outcome.not_applicable:
            chapter.not_applicable.append(outcome)
            continue
        kata = chapter.katas.setdefault(outcome.kata, KataResult(outcome.kata))
        kata.outcomes.append(outcome)
        kata.max_points += outcome.points
        if outcome.passed:
            kata.points += outcome.points
            kata.passed.append(outcome.test)
        else:
            kata.failed.append({"test": outcome.test, "message": outcome.message})
    for chapter in result.chapters.values():
        for name in [n for n, k in chapter.katas.items() if not k.outcomes]:
            del chapter.katas[name]
    return result
