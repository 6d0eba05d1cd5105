"""Hostile submissions: an attack earns nothing it did not solve, and grading goes on around it.

The whole corpus (tests/hostile/cases.py) is graded in one ``grade_submissions`` run with
two jobs, followed by an honest submission, in a small course copied from this
repository (chapter 03 and a toy chapter). Then each case is checked.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from rich.console import Console

import torchkata
from tests.conftest import PROJECT
from tests.hostile.cases import ATTACKED_KATA, CASES, LEFTOVER_MARKER, WRITE_MARKER, build_submission
from tests.hostile.course import make_course, tree_digest
from torchkata.exports.classroom.step import classroom_report
from torchkata.exports.gradescope.results_json import gradescope_results
from torchkata.grading.limits import Limits
from torchkata.grading.reports import print_report
from torchkata.grading.results import GradeResult
from torchkata.sandbox import landlock
from torchkata.sandbox.isolated import grade_submissions

LIMITS = Limits(wall_seconds=40, test_seconds=8, memory_mib=768, output_mib=2)
BOUND_SECONDS = 300
ABI = landlock.abi_version()
# Without Landlock a child could really write to these files or kill the grader: such cases are not run.
NEEDS = {"write_files": (1, "writes are only blocked with Landlock"),
         "kill_grader": (6, "signals are only scoped with Landlock ABI 6"),
         "read_the_reference_below_python": (1, "reads are only confined with Landlock"),
         "read_staged_graders_below_python": (1, "reads are only confined with Landlock")}
RUNNABLE = [name for name in CASES if ABI >= NEEDS.get(name, (0, ""))[0]]
HONEST = "zz_honest"


@dataclass
class Batch:
    results: dict[str, GradeResult]
    seconds: float
    course_before: dict[str, str]
    course_after: dict[str, str]
    honest_before: dict[str, str]
    honest_after: dict[str, str]
    leftovers: list[str]


def processes_with(marker: str) -> list[str]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                command = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if marker in command:
                found.append(f"{entry}: {command}")
    return found


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> Batch:
    root = tmp_path_factory.mktemp("hostile")
    course = make_course(PROJECT, root / "course")
    folder = root / "submissions"
    honest = folder / HONEST
    honest.mkdir(parents=True)
    for name in ("modules.py", "toy.py"):
        (honest / name).write_text((course.solutions / name).read_text())
    targets = [str(path) for path in sorted(course.root.rglob("*.py"))] + [str(honest / "modules.py")]
    submissions = {name: build_submission(name, CASES[name], PROJECT, course, folder, targets) for name in RUNNABLE}
    submissions[HONEST] = honest
    course_before, honest_before = tree_digest(course.root), tree_digest(honest)
    started = time.monotonic()
    results = grade_submissions(submissions, None, course, LIMITS, jobs=2)
    seconds = time.monotonic() - started
    time.sleep(0.2)
    return Batch(results, seconds, course_before, tree_digest(course.root), honest_before, tree_digest(honest),
                 processes_with(LEFTOVER_MARKER))


def _summary(result: GradeResult) -> str:
    return json.dumps(
        {slug: {"points": c.points, "flags": c.flags, "katas": {k: v.points for k, v in c.katas.items()}}
         for slug, c in result.chapters.items()}, indent=1)


@pytest.mark.parametrize("name", list(CASES))
def test_attack_earns_nothing_it_did_not_solve(batch: Batch, name: str) -> None:
    if name not in RUNNABLE:
        pytest.skip(NEEDS[name][1])
    case = CASES[name]
    result = batch.results[name]
    modules = result.chapters["modules"]
    summary = _summary(result)
    if case.expect == "zero":
        assert modules.points == 0, summary
    elif case.expect == "kata":
        attacked = modules.katas[ATTACKED_KATA]
        assert attacked.points == 0, summary
        others = [kata for kata in modules.katas.values() if kata.name != ATTACKED_KATA]
        assert all(kata.points == kata.max_points for kata in others), summary
        assert modules.points == modules.max_points - attacked.max_points, summary
    else:
        assert modules.points == modules.max_points and not modules.flags, summary
    assert case.flags <= set(modules.flags), summary
    if "tampered" not in case.flags:
        assert "tampered" not in modules.flags, summary


@pytest.mark.parametrize("name", RUNNABLE)
def test_the_next_chapter_is_still_graded(batch: Batch, name: str) -> None:
    toy = batch.results[name].chapters["toy"]
    assert toy.points == toy.max_points == 3 and not toy.flags, _summary(batch.results[name])


def test_the_next_submission_is_graded_by_the_real_graders(batch: Batch) -> None:
    result = batch.results[HONEST]
    assert result.points == result.max_points and result.max_points > 3, _summary(result)
    assert not any(chapter.flags for chapter in result.chapters.values())


def test_the_checkout_and_other_submissions_are_left_as_they_were(batch: Batch) -> None:
    assert batch.course_after == batch.course_before
    assert batch.honest_after == batch.honest_before


def test_the_engine_installed_here_is_left_as_it_was(batch: Batch) -> None:
    if "write_files" not in RUNNABLE:
        pytest.skip(NEEDS["write_files"][1])
    package = Path(torchkata.__file__).parent
    written = [str(path) for path in package.rglob("*.py") if WRITE_MARKER in path.read_text(errors="replace")]
    assert written == []


def test_no_process_is_left_behind(batch: Batch) -> None:
    assert "leave_processes" in RUNNABLE
    assert batch.leftovers == []


def test_the_whole_grade_finishes_in_bounded_time(batch: Batch) -> None:
    assert batch.seconds < BOUND_SECONDS, f"grading the corpus took {batch.seconds:.0f} s"


def test_every_report_flags_a_tampered_chapter(batch: Batch) -> None:
    result = batch.results["patch_pytest"]
    assert result.to_dict()["chapters"]["modules"]["tampered"]
    assert all(kata["points"] == 0 for kata in result.to_dict()["chapters"]["modules"]["katas"].values())
    scope = gradescope_results(result)
    modules_tests = [test for test in scope["tests"] if test["name"].startswith("modules /")]
    assert modules_tests and all(test["score"] == 0 and "tampered" in test["output"] for test in modules_tests)
    assert "tampered" in scope["output"]
    text, status = classroom_report(result)
    assert status == 1 and "tampered" in text
    console = Console(record=True, width=200)
    print_report(result, Path("submission"), console)
    assert "TAMPERED modules" in console.export_text()


def test_timeouts_and_crashes_say_what_happened(batch: Batch) -> None:
    looped = batch.results["infinite_loop_ignoring_signals"].chapters["modules"]
    assert "limit of one test" in looped.flags["timed_out"]
    failed = looped.katas[ATTACKED_KATA].failed
    assert failed and all("limit of one test" in failure["message"] for failure in failed), failed
    crashed = batch.results["segfault"].chapters["modules"]
    assert "SIGSEGV" in crashed.flags["crashed"] and "(at modules.py:" in crashed.flags["crashed"]
    bomb = batch.results["memory_bomb"].chapters["modules"].katas[ATTACKED_KATA]
    assert all("MemoryError" in failure["message"] for failure in bomb.failed), bomb.failed


REACHES = ["write_files", "leave_processes", "kill_grader", "read_memory", "find_reporter_with_gc", "walk_the_stack",
           "stack_through_inspect", "swap_test_code", "read_the_reference", "read_staged_graders",
           "read_parent_environment", "connect_out", "read_memory",
           "leave_shared_memory"]


@pytest.mark.parametrize("name", [name for name in REACHES if name in CASES])
def test_a_reach_for_the_grader_is_flagged_with_the_line_that_did_it(batch: Batch, name: str) -> None:
    if name not in RUNNABLE:
        pytest.skip(NEEDS[name][1])
    reason = batch.results[name].chapters["modules"].flags["tampered"]
    assert reason.startswith("the submission reached for the grader: ") and " at modules.py:" in reason, reason


def test_a_patch_made_by_name_is_seen_by_the_integrity_check(batch: Batch) -> None:
    reason = batch.results["patch_reports_by_name"].chapters["modules"].flags["tampered"]
    assert "changed the grader's code: TestReport.from_item_and_call" in reason, reason


def test_nothing_is_left_in_shared_memory(batch: Batch) -> None:
    assert not Path("/dev/shm/torchkata-hostile-note").exists()


def test_no_hidden_grader_line_reaches_a_report(batch: Batch) -> None:
    from torchkata.grading.leakscan import SecretIndex

    index = SecretIndex.of(PROJECT)
    for name, result in batch.results.items():
        console = Console(record=True, width=200)
        print_report(result, Path("submission"), console)
        views = {"json": json.dumps(result.to_dict()), "gradescope": json.dumps(gradescope_results(result)),
                 "terminal": console.export_text()}
        for view, text in views.items():
            leaks = [leak for leak in index.check(view, text.encode()) if "hidden grader" in leak.reason]
            assert not leaks, f"{name} {view}: {leaks[:2]}"


@pytest.mark.parametrize("name", ["read_the_reference_below_python", "read_staged_graders_below_python"])
def test_a_read_below_python_is_refused_by_the_kernel(batch: Batch, name: str) -> None:
    """torch opens the file in C++ (no audit event): Landlock's read rules are what refuse it."""
    if name not in RUNNABLE:
        pytest.skip(NEEDS[name][1])
    failed = batch.results[name].chapters["modules"].katas[ATTACKED_KATA].failed
    assert failed and all("Permission denied" in failure["message"] for failure in failed), failed


def test_every_report_says_what_each_layer_achieved_in_the_children(batch: Batch) -> None:
    layers = batch.results[HONEST].layers
    assert layers["measured"] and not layers["uid"].startswith("varied"), layers
    if ABI >= 1:
        assert layers["reads"].startswith("only the environment") and "unreadable" in layers["graders_after_load"]
    assert "namespace" in layers["network"] or "Landlock" in layers["network"] or "audit hook" in layers["network"]
