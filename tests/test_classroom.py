"""GitHub Classroom: the grading step's outputs, scored as the reporter scores them, give `torchkata grade`'s points.

The reporter is modelled in tests/classroom_reporter.py (its arithmetic, restated from its source). Where
``TORCHKATA_CLASSROOM_REPORTER`` names the reporter's own ``dist/main.js`` (tag v1) and node is installed, the
same outputs are also given to that code.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests import classroom_reporter as model
from tests.conftest import CHAPTERS, PROJECT
from tests.submissions import all_but_one, reference
from torchkata.cli import main
from torchkata.exports.classroom.results import NO_RESULT, RUNNER_BUDGET, chapter_results, encoded_chapter, output_lines
from torchkata.exports.classroom.workflow import GRADE_STEP_ID, REPORTER, classroom_runners, classroom_workflow
from torchkata.grading.grade import select_chapters
from torchkata.grading.limits import Limits
from torchkata.grading.results import TestOutcome as Outcome
from torchkata.grading.results import build_result
from torchkata.sandbox.isolated import grade_isolated

# Graded in process for every submission kind (bounded time); devices has checks that cannot run without a GPU.
SLUGS = ["tensors", "modules", "devices"]
REPORTER_JS = os.environ.get("TORCHKATA_CLASSROOM_REPORTER", "")


def reporter_step(slugs: list[str], points: dict[str, float]) -> dict:
    text = classroom_workflow(classroom_runners(select_chapters(PROJECT, slugs), points))
    (job,) = yaml.safe_load(text)["jobs"].values()
    (step,) = [step for step in job["steps"] if step.get("uses") == REPORTER]
    return step


def grade_step(tmp_path: Path, submission: Path, slugs: list[str]) -> tuple[dict, dict[str, str], str, int]:
    """`torchkata grade --classroom --classroom-outputs` (in process): the JSON result, the outputs, the text."""
    outputs, result = tmp_path / "github_output", tmp_path / "result.json"
    args = [str(submission), "--classroom", "--classroom-outputs", str(outputs), "--json", str(result)]
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        status = main(["grade", *args, *(f"--chapter={slug}" for slug in slugs), "--in-process"])
    return json.loads(result.read_text()), model.github_outputs(outputs.read_text()), printed.getvalue(), status


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[dict, dict[str, str], str, int]]:
    tmp = {kind: tmp_path_factory.mktemp(kind) for kind in ("reference", "starter", "partial")}
    submissions = {
        "reference": reference(PROJECT, tmp["reference"] / "submission", SLUGS),
        "starter": PROJECT.starter,
        "partial": all_but_one(PROJECT, tmp["partial"] / "submission", SLUGS),
    }
    return {kind: grade_step(tmp[kind], submission, SLUGS) for kind, submission in submissions.items()}


@pytest.mark.parametrize("kind", ["reference", "starter", "partial"])
def test_the_points_classroom_records_are_torchkata_grades(graded, kind: str) -> None:
    data, outputs, _, status = graded[kind]
    points = {slug: data["chapters"][slug]["max_points"] for slug in SLUGS}
    result = model.reporter_report(reporter_step(SLUGS, points), {GRADE_STEP_ID: outputs})
    assert (result.total, result.maximum) == (data["points"], data["max_points"])
    assert result.notice == f"Points {model.js_number(data['points'])}/{model.js_number(data['max_points'])}"
    modules = data["chapters"]["modules"]["katas"]
    expected = {
        "reference": data["max_points"],
        "starter": 0,
        "partial": data["max_points"] - modules["MLP"]["max_points"],
    }[kind]
    assert result.total == expected and modules["MLP"]["max_points"] > 0
    assert (status == 0) == (kind == "reference") and (result.failed is None) == (kind == "reference")


def test_each_chapter_is_one_runner_each_check_one_test_worth_its_points(graded) -> None:
    data, outputs, _, _ = graded["partial"]
    runners = model.decode(
        reporter_step(SLUGS, {s: 1.0 for s in SLUGS})["with"]["runners"],
        {f"{name.upper()}_RESULTS": value for name, value in outputs.items()},
    )
    assert [runner for runner, _ in runners] == ["ch01tensors", "ch03modules", "ch09devices"]
    modules = dict(runners)["ch03modules"]
    assert modules["status"] == "fail" and modules["max_score"] == data["chapters"]["modules"]["max_points"]
    katas = data["chapters"]["modules"]["katas"]
    assert len(modules["tests"]) == sum(len(k["passed"]) + len(k["failed"]) for k in katas.values())
    mlp = [test for test in modules["tests"] if test["name"].startswith("MLP: ")]
    assert mlp and all(t["status"] == "fail" and t["score"] == 0 and t["message"] for t in mlp)
    assert all(t["filename"].endswith("submission/modules.py") for t in mlp)
    assert all(t["line_no"] > 0 and t["test_code"] == "" for t in mlp)
    others = [test for test in modules["tests"] if not test["name"].startswith("MLP: ")]
    assert all(t["status"] == "pass" and t["score"] > 0 for t in others)
    # The reporter's log scores a runner by its share of passing tests; the notice, by points.
    assert dict(runners)["ch01tensors"]["status"] == "pass"


def test_the_step_prints_the_check_table_with_the_first_failure_of_each_kata(graded) -> None:
    data, _, text, _ = graded["partial"]
    mlp = data["chapters"]["modules"]["katas"]["MLP"]
    lines = text.splitlines()
    assert lines[0].startswith("01 tensors") and "(public and hidden checks)" in lines[0]
    line = next(line for line in lines if line.split()[2:3] == ["MLP"])
    assert line.split()[:3] == ["not", "started", "MLP"] and f"0/{mlp['max_points']:g}" in line
    assert "modules.py:" in line and "torchkata hint MLP" in text
    assert sum(line.lstrip().startswith("all checks pass ") for line in lines) == sum(
        kata["points"] == kata["max_points"]
        for chapter in data["chapters"].values()
        for kata in chapter["katas"].values()
    )
    assert f"Points: {data['points']:g} / {data['max_points']:g}, the total GitHub Classroom records." in text
    assert lines[-1] == "FAIL: some checks do not pass yet." and "cannot run on this machine" in text
    assert graded["reference"][2].splitlines()[-1] == "PASS: every check passes."


def _outcome(chapter: str, kata: str, passed: bool, points: float = 2.0, message: str = "") -> Outcome:
    return Outcome(
        f"public/test_{chapter}.py::test_{kata.lower()}_{passed}",
        chapter,
        kata,
        points,
        "public",
        passed,
        message or ("" if passed else f"{kata}() returned 1; expected 2."),
    )


def test_a_crash_a_timeout_a_tampering_or_broken_graders_still_give_every_chapter_its_maximum() -> None:
    chapters = select_chapters(PROJECT, ["tensors", "autograd", "modules", "parameters", "devices"])
    outcomes = [
        _outcome("tensors", "A", True),
        _outcome("tensors", "B", False, message="the test did not report a result"),
        _outcome("autograd", "A", True),
        _outcome("autograd", "B", False),
        _outcome("modules", "A", True),
        _outcome("modules", "B", True),
    ]
    result = build_result(outcomes)
    result.chapters["tensors"].flags["crashed"] = "the chapter's process was killed by SIGSEGV"
    result.chapters["autograd"].flags["timed_out"] = "the chapter's process ran past its limit"
    result.chapters["modules"].flags["tampered"] = "a canary check passed"
    broken = result.chapters.setdefault("parameters", type(result.chapters["tensors"])("parameters"))
    broken.flags["error"] = "ImportError while importing the graders"
    points = {"tensors": 4.0, "autograd": 4.0, "modules": 4.0, "parameters": 9.0, "devices": 3.0}
    outputs = dict(line.split("=", 1) for line in output_lines(result, chapters, PROJECT.starter))
    assert set(outputs) == {"ch01tensors", "ch02autograd", "ch03modules"}, "graded chapters only"
    report = model.reporter_report(reporter_step(list(points), points), {GRADE_STEP_ID: outputs})
    # tensors 2 of 4 (crashed), autograd 2 of 4 (timed out), modules 0 of 4 (tampered), parameters and devices
    # wrote nothing: each gets an error object worth its points from the workflow.
    assert (report.total, report.maximum) == (result.points, 24.0) == (4.0, 24.0)
    assert report.failed == "Some tests failed."  # tampered modules fails; the crashed chapters err
    step = reporter_step(list(points), points)
    decoded = dict(model.decode(step["with"]["runners"], model.reporter_env(step, {GRADE_STEP_ID: outputs})))
    assert decoded["ch01tensors"]["status"] == "error" and decoded["ch02autograd"]["status"] == "error"
    erring = [t for t in decoded["ch01tensors"]["tests"] if t["status"] == "error"]
    assert erring and "crashed" in erring[0]["message"]
    assert all(t["score"] == 0 and "tampered" in t["message"] for t in decoded["ch03modules"]["tests"])
    assert decoded["ch04parameters"]["tests"][0]["message"] == NO_RESULT
    assert decoded["ch04parameters"]["max_score"] == 9.0


def test_a_chapter_whose_checks_cannot_run_here_is_a_runner_worth_nothing() -> None:
    result = build_result([Outcome("public/test_d.py::test_cuda", "d", "A", 3.0, "public", False, "", "no GPU")])
    data = chapter_results(result.chapters["d"], "starter/d.py")
    model.check_results(data)
    assert data["max_score"] == 0 and data["status"] == "pass" and data["tests"][0]["score"] == 0


def test_long_messages_are_shortened_to_fit_the_reporters_variable() -> None:
    outcomes = [_outcome("m", f"K{i}", False, message="x" * 1500) for i in range(120)]
    chapter = build_result(outcomes).chapters["m"]
    encoded = encoded_chapter(chapter, "starter/m.py")
    data = json.loads(base64.b64decode(encoded))
    assert len(encoded) <= RUNNER_BUDGET and len(data["tests"]) == 120
    model.check_results(data)
    outcomes = [_outcome("m", f"K{i}", False) for i in range(2000)]
    data = json.loads(base64.b64decode(encoded_chapter(build_result(outcomes).chapters["m"], "starter/m.py")))
    assert data["status"] == "error" and data["max_score"] == 4000 and "too many checks" in data["tests"][0]["message"]


def test_runner_ids_are_letters_and_digits_as_the_reporter_requires() -> None:
    step = reporter_step([c.slug for c in CHAPTERS], {c.slug: 1.0 for c in CHAPTERS})
    assert model.RUNNERS.match(step["with"]["runners"])
    assert len(step["with"]["runners"].split(",")) == len(CHAPTERS)


def test_isolated_grading_of_a_crash_a_hang_and_a_missing_file_gives_valid_results(tmp_path: Path) -> None:
    (tmp_path / "tensors.py").write_text("import os\n\nos.abort()\n")
    (tmp_path / "autograd.py").write_text("while True:\n    pass\n")
    slugs = ["tensors", "autograd", "modules"]  # modules.py is missing
    result = grade_isolated(tmp_path, slugs, PROJECT, Limits(wall_seconds=20, test_seconds=4), jobs=2)
    chapters = select_chapters(PROJECT, slugs)
    outputs = dict(line.split("=", 1) for line in output_lines(result, chapters, tmp_path))
    points = {slug: result.chapters[slug].max_points for slug in slugs}
    report = model.reporter_report(reporter_step(slugs, points), {GRADE_STEP_ID: outputs})
    assert set(outputs) == {"ch01tensors", "ch02autograd", "ch03modules"}
    assert (report.total, report.maximum) == (0.0, result.max_points) and result.max_points > 0
    assert report.failed is not None


@pytest.mark.skipif(
    not (REPORTER_JS and shutil.which("node")),
    reason="set TORCHKATA_CLASSROOM_REPORTER to the reporter's dist/main.js (tag v1); needs node",
)
def test_the_reporters_own_code_records_the_same_points(graded) -> None:
    for kind, (data, outputs, _, _) in graded.items():
        points = {slug: data["chapters"][slug]["max_points"] for slug in SLUGS}
        step = reporter_step(SLUGS, points)
        env = model.reporter_env(step, {GRADE_STEP_ID: outputs})
        env.update({"INPUT_RUNNERS": step["with"]["runners"], "PATH": os.environ.get("PATH", "")})
        done = subprocess.run(["node", REPORTER_JS], env=env, capture_output=True, text=True, timeout=60, check=False)
        expected = f"Points {model.js_number(data['points'])}/{model.js_number(data['max_points'])}"
        assert f"::notice title=Autograding complete::{expected}" in done.stdout, (kind, done.stdout[-2000:])
