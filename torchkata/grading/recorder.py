"""A pytest plugin object that records grader outcomes as TestOutcome values."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from torchkata.grading.results import TestOutcome
from torchkata.plugin import chapter_of, kata_of, visibility_of


@dataclass(frozen=True)
class Expected:
    test: str
    chapter: str
    kata: str
    points: float
    visibility: str
    not_applicable: str = ""  # why the check cannot run on this machine (its skipif reason); empty: it runs


def skip_reason(item: pytest.Item) -> str:
    """The reason a ``skip``/``skipif`` marker gives for not running ``item`` here; empty when it runs.

    Decided when the graders are collected, before any code under test is loaded, so a submission cannot
    make a check "not applicable" by skipping it while it runs.
    """
    from _pytest.skipping import evaluate_skip_marks

    found = evaluate_skip_marks(item)
    return (found.reason or "skipped by its marker") if found is not None else ""


HIDDEN_WITHOUT_MESSAGE = "a hidden check failed (its grader gives no message)"
SKIPPED_WHILE_APPLICABLE = "the test was skipped although it applies on this machine; it counts as failed"


def public_feedback(message: str, visibility: str) -> str:
    """The message a student may see: for hidden tests, without pytest's assert explanation.

    pytest explains a failed plain ``assert`` with lines that quote the grader's source
    (``assert len(x) == 3``); a hidden grader's own message is kept, those lines are not.
    """
    if visibility != "hidden" or not message:
        return message
    kept: list[str] = []
    for line in message.splitlines():
        if line.startswith("assert ") or line.startswith(("AssertionError: assert ", " +  where")):
            break
        kept.append(line)
    text = "\n".join(kept).strip()
    return text or HIDDEN_WITHOUT_MESSAGE


def test_name(nodeid: str) -> str:
    """``hidden/test_modules.py::test_x`` from a node id under graders/."""
    _, marker, rest = nodeid.partition("graders/")
    return rest if marker else nodeid


class Recorder:
    """Collects the expected grader tests and what each one reported."""

    def __init__(self) -> None:
        self.expected: dict[str, Expected] = {}
        self.results: dict[str, tuple[bool, str]] = {}
        self.collect_errors: dict[str, str] = {}

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            slug = chapter_of(Path(report.nodeid.split("::")[0])) or report.nodeid
            self.collect_errors[slug] = report.longreprtext.strip().splitlines()[-1:][0] if (
                report.longreprtext.strip()
            ) else "collection failed"

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        for item in session.items:
            found = kata_of(item)
            if found is None:
                continue
            path = Path(str(item.path))
            self.expected[item.nodeid] = Expected(
                test_name(item.nodeid), chapter_of(path) or "", found[0], found[1], visibility_of(path),
                skip_reason(item),
            )

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.nodeid not in self.expected:
            return
        props = dict(report.user_properties)
        if self.expected[report.nodeid].not_applicable:
            return
        if report.skipped:
            self.results[report.nodeid] = (False, SKIPPED_WHILE_APPLICABLE)
        elif report.failed:
            text = props.get("message") or (report.longreprtext.strip().splitlines() or [""])[-1]
            phase = "" if report.when == "call" else f" (during {report.when})"
            self.results.setdefault(report.nodeid, (False, f"{text}{phase}"))
            if self.results[report.nodeid][0]:
                self.results[report.nodeid] = (False, f"{text}{phase}")
        elif report.when == "call" and report.passed:
            self.results.setdefault(report.nodeid, (True, ""))

    def outcomes(self, missing_reason: str = "the test did not report a result") -> list[TestOutcome]:
        """Every expected test's outcome; a test that never reported has failed."""
        return [outcome_of(exp, self.results.get(nodeid, (False, missing_reason)))
                for nodeid, exp in self.expected.items()]


def outcome_of(exp: Expected, result: tuple[bool, str]) -> TestOutcome:
    """The outcome of an expected test from its (passed, message); a check that cannot run here has none."""
    if exp.not_applicable:
        return TestOutcome(exp.test, exp.chapter, exp.kata, exp.points, exp.visibility, False, "",
                           exp.not_applicable)
    passed, message = result
    return TestOutcome(exp.test, exp.chapter, exp.kata, exp.points, exp.visibility, passed,
                       public_feedback(message, exp.visibility))
