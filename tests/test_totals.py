"""One total in every view: the same submission has the same points and maximum wherever it is reported.

A check that cannot run on this machine (CUDA without a GPU) counts in no maximum, and every report says
how many such checks there are and why.
"""

from __future__ import annotations

import base64
import io
import json
import re

import pytest
from rich.console import Console

from tests.conftest import PROJECT
from torchkata.exports.classroom.results import output_lines
from torchkata.exports.classroom.step import classroom_report
from torchkata.exports.gradescope.results_json import gradescope_results
from torchkata.exports.nbgrader.course import collect_points
from torchkata.grading.grade import grade_in_process, select_chapters
from torchkata.grading.limits import Limits
from torchkata.grading.points import chapter_points
from torchkata.grading.reports import print_report
from torchkata.sandbox.isolated import grade_isolated

# devices has checks that need a GPU; tensors has none.
CHAPTERS = ["tensors", "devices"]


@pytest.fixture(scope="module")
def graded():
    return grade_in_process(PROJECT.solutions, CHAPTERS, PROJECT)


@pytest.fixture(scope="module")
def graded_isolated():
    return grade_isolated(PROJECT.solutions, CHAPTERS, PROJECT, Limits(wall_seconds=120, test_seconds=20), 2)


def terminal_total(result) -> tuple[float, float]:
    out = io.StringIO()
    print_report(result, PROJECT.solutions, Console(file=out, width=200))
    earned, most = re.search(r"total (\S+) / (\S+)", out.getvalue()).groups()
    return float(earned), float(most)


def test_every_view_has_the_same_maximum(graded, graded_isolated):
    chapters = select_chapters(PROJECT, CHAPTERS)
    gradescope = gradescope_results(graded)
    static = chapter_points(PROJECT, chapters)
    views = {
        "grade (in process)": graded.max_points,
        "grade (isolated)": graded_isolated.max_points,
        "terminal": terminal_total(graded)[1],
        "json": graded.to_dict()["max_points"],
        "gradescope max_score": gradescope["max_score"],
        "gradescope tests": sum(test["max_score"] for test in gradescope["tests"]),
        "classroom max_score": sum(
            json.loads(base64.b64decode(line.split("=", 1)[1]))["max_score"]
            for line in output_lines(graded_isolated, chapters, PROJECT.solutions)
        ),
        "release points": sum(static.values()),
        "nbgrader points": sum(sum(katas.values()) for katas in collect_points(PROJECT, chapters).values()),
    }
    assert len(set(views.values())) == 1, views
    assert graded.points == graded.max_points == graded_isolated.points > 0


def test_checks_that_cannot_run_here_are_counted_and_explained_in_every_report(graded, graded_isolated):
    import torch

    skipped = graded.not_applicable()
    if torch.cuda.is_available():
        assert not skipped
        return
    assert skipped and {o.chapter for o in skipped} == {"devices"}
    assert [o.test for o in graded_isolated.not_applicable()] == [o.test for o in skipped]
    summary = graded.to_dict()["not_applicable"]
    assert summary["checks"] == len(skipped) and summary["points"] == sum(o.points for o in skipped)
    sentence = f"{len(skipped)} checks ({summary['points']:g} points) cannot run on this machine"
    out = io.StringIO()
    print_report(graded, PROJECT.solutions, Console(file=out, width=300))
    assert sentence in out.getvalue()
    assert sentence in gradescope_results(graded)["output"]
    assert sentence in classroom_report(graded)[0]
    assert all("CUDA" in reason for reason in summary["reasons"])


def test_a_check_skipped_while_it_runs_fails(tmp_path):
    """Only the collection decides what cannot run here: a skip raised by code under test earns nothing."""
    (tmp_path / "tensors.py").write_text(
        (PROJECT.solutions / "tensors.py").read_text()
        + "\n\ndef standardize(x, dim):\n    import pytest\n    pytest.skip('not on this machine')\n"
    )
    for result in (grade_in_process(tmp_path, ["tensors"], PROJECT),
                   grade_isolated(tmp_path, ["tensors"], PROJECT, Limits(wall_seconds=120, test_seconds=20), 1)):
        kata = result.chapters["tensors"].katas["standardize"]
        assert kata.points == 0 and kata.max_points > 0 and not result.not_applicable()


def test_every_report_says_which_protections_were_active(graded, graded_isolated):
    assert graded.to_dict()["layers"] == {"isolated": False, "static_review": True}
    layers = graded_isolated.to_dict()["layers"]
    assert layers["isolated"] and layers["audit_hook"] and layers["integrity_check"] and "landlock" in layers
    for result, words in ((graded, "no isolation"), (graded_isolated, "isolated children")):
        out = io.StringIO()
        print_report(result, PROJECT.solutions, Console(file=out, width=300))
        assert words in out.getvalue()
        assert words in gradescope_results(result)["output"] and words in classroom_report(result)[0]
