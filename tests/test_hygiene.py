"""Student-controlled text in reports: plain, capped, instructor-only lines redacted, escaped when rendered."""

from __future__ import annotations

import io
import json
from pathlib import Path

from rich.console import Console

from tests.conftest import PROJECT
from torchkata.cli import main
from torchkata.grading.hygiene import REDACTED, Redactor, plain, student_text
from torchkata.grading.leakscan import SecretIndex
from torchkata.grading.reports import print_report
from torchkata.grading.results import ChapterResult, GradeResult, KataResult

HIDDEN = PROJECT.graders / "hidden" / "test_tensors.py"


def secret_line() -> str:
    index = SecretIndex.of(PROJECT)
    return next(line.strip() for line in HIDDEN.read_text().splitlines() if " ".join(line.split()) in index.lines)


def test_escapes_and_control_characters_are_dropped_and_student_text_capped():
    assert plain("\x1b[31mred\x1b[0m\x07 and \x1b]8;;http://x\x07link\x1b]8;;\x07\nnext") == "red and link\nnext"
    assert student_text("a\n b " * 200) == student_text("a b " * 200)
    assert len(student_text("x" * 5000)) == 300


def test_a_hidden_grader_line_is_redacted_alone_among_other_words_and_between_separators():
    redactor = Redactor.of(PROJECT)
    line = secret_line()
    for message in (line, f"ValueError: see {line} there", f"first | {line} | last", f"a\\n{line}"):
        assert redactor.clean(f"kata(x) raised {message}\nsecond line") == f"{REDACTED}\nsecond line"
    assert redactor.clean("kata(x) returned shape (2, 3); expected (3, 2).") == (
        "kata(x) returned shape (2, 3); expected (3, 2).")


def test_a_submission_that_raises_hidden_grader_source_hands_none_of_it_out(tmp_path: Path, capsys):
    """Source a student got hold of, raised as an exception's text, reaches no report (reading the staged
    graders from the grading child is refused: tests/test_hostile.py)."""
    reader = f"\n\ndef standardize(x, dim):\n    raise ValueError('notes: ' + {secret_line()!r} + ' | more')\n"
    (tmp_path / "tensors.py").write_text((PROJECT.solutions / "tensors.py").read_text() + reader)
    report, gradescope = tmp_path / "result.json", tmp_path / "results.json"
    assert main(["grade", str(tmp_path), "--chapter", "tensors", "--json", str(report),
                 "--gradescope", str(gradescope), "-j", "1"]) == 0
    shown = capsys.readouterr().out
    data = json.loads(report.read_text())
    standardize = data["chapters"]["tensors"]["katas"]["standardize"]
    assert standardize["points"] == 0 and any(REDACTED in failure["message"] for failure in standardize["failed"])
    index = SecretIndex.of(PROJECT)
    for name, text in (("result.json", report.read_text()), ("results.json", gradescope.read_text()),
                       ("terminal", shown)):
        leaks = [leak for leak in index.check(name, text.encode()) if "hidden grader" in leak.reason]
        assert not leaks, leaks[:3]
        assert " ".join(secret_line().split()) not in " ".join(text.split())


def test_flags_render_as_text_not_markup():
    chapter = ChapterResult("tensors", {"k": KataResult("k", 0.0, 1.0)}, {"crashed": "[green]done: 10 / 10[/]"})
    out = io.StringIO()
    print_report(GradeResult({"tensors": chapter}), PROJECT.solutions, Console(file=out, width=200))
    assert "[green]done: 10 / 10[/]" in out.getvalue()
