"""The nbgrader course: generated notebooks, the grade cells' runtime, and a real nbgrader round trip."""

from __future__ import annotations

import ast
import csv
import html
import json
import os
import re
import subprocess
import sys
import warnings
from functools import cache
from pathlib import Path

import nbformat
import pytest

from tests.conftest import CHAPTERS, PROJECT
from torchkata.cli import main as cli
from torchkata.course.catalog import Chapter
from torchkata.course.source import BEGIN, END, find_regions
from torchkata.exports.nbgrader import grade as nbgrade
from torchkata.exports.nbgrader.cells import CellsError, hints_above_markers, split_solution
from torchkata.exports.nbgrader.course import CODE_STUB, chapter_notebook, collect_points, notebook_path
from torchkata.exports.nbgrader.module import REPLAY_LOG_ENV, Cell, assemble, cell_locations
from torchkata.exports.nbgrader.worker import grade_request
from torchkata.grading.leakscan import SecretIndex
from torchkata.grading.loader import load_module

BUILT = [chapter for chapter in CHAPTERS if (PROJECT.solutions / chapter.module_name).is_file()]
MODULES = next(chapter for chapter in CHAPTERS if chapter.slug == "modules")


@cache
def points() -> dict[str, dict[str, float]]:
    return collect_points(PROJECT, BUILT)


@cache
def notebook(slug: str) -> nbformat.NotebookNode:
    chapter = next(chapter for chapter in BUILT if chapter.slug == slug)
    return chapter_notebook(PROJECT, chapter, points()[slug])


def cells_by_id(nb: nbformat.NotebookNode) -> dict[str, nbformat.NotebookNode]:
    return {cell.id: cell for cell in nb.cells}


@cache
def secrets() -> SecretIndex:
    return SecretIndex.of(PROJECT)


def leaks(name: str, text: str, only: str = "") -> list[str]:
    """The project's leak scan (reference code, hidden graders, mutants, markers) on decoded text."""
    return [str(leak) for leak in secrets().check(name, text.encode("utf-8")) if only in leak.reason]


def notebook_text(nb: nbformat.NotebookNode, cell_type: str | None = None) -> str:
    """Every cell's (of ``cell_type``) source and output text, decoded (the file's JSON escapes quotes).

    Scan code cells for reference code: the markdown is the chapter's instructions, public anyway,
    and a kata's last hint may spell out a line of the answer.
    """
    parts: list[str] = []
    for cell in nb.cells:
        if cell_type is not None and cell.cell_type != cell_type:
            continue
        parts.append(cell.source)
        for output in cell.get("outputs", []):
            parts.append(output.get("text", ""))
            parts.append(str(output.get("data", {}).get("text/plain", "")))
            parts.extend(output.get("traceback", []))
    return "\n".join(parts)


def html_text(page: str) -> str:
    """The text of an HTML page as a reader sees it (syntax highlighting splits code into spans)."""
    return html.unescape(re.sub(r"<[^>]+>", "", page))


# Generation, for every chapter (no nbgrader run)


@pytest.mark.parametrize("chapter", BUILT, ids=[chapter.slug for chapter in BUILT])
def test_each_chapter_becomes_a_valid_nbgrader_notebook(chapter: Chapter):
    from nbgrader.nbgraderformat import MetadataValidator

    nb = notebook(chapter.slug)
    nbformat.validate(nb)
    MetadataValidator().validate_nb(nb)
    assert nb.metadata.kernelspec.name == "python3"
    names = [kata.name for kata in chapter.katas]
    expected_ids = ["intro", "setup"] + [f"{name}-{part}" for name in names for part in ("task", "answer", "grade")]
    assert [cell.id for cell in nb.cells] == expected_ids
    cells = cells_by_id(nb)
    assert all(cells[cid].metadata.nbgrader.locked for cid in expected_ids if not cid.endswith("-answer"))
    for name in names:
        answer, grade = cells[f"{name}-answer"], cells[f"{name}-grade"]
        assert answer.metadata.nbgrader.solution and not answer.metadata.nbgrader.locked
        assert grade.metadata.nbgrader.grade and grade.metadata.nbgrader.points == points()[chapter.slug][name] > 0
        assert f'grade_kata("{chapter.slug}", "{name}", points=' in grade.source
        assert BEGIN in answer.source and END in answer.source


@pytest.mark.parametrize("chapter", BUILT, ids=[chapter.slug for chapter in BUILT])
def test_notebook_code_is_the_solution_module(chapter: Chapter):
    """Setup and answer cells hold exactly the module's statements; each kata's definitions in its own cell."""
    solution = (PROJECT.solutions / chapter.module_name).read_text(encoding="utf-8")
    cells = cells_by_id(notebook(chapter.slug))
    tree = ast.parse(solution)
    body = tree.body[1:] if isinstance(tree.body[0], ast.Expr) else tree.body
    setup = ast.parse(cells["setup"].source).body[:-2]  # less the record_cells import and call
    answers = {kata.name: ast.parse(cells[f"{kata.name}-answer"].source).body for kata in chapter.katas}
    for name, nodes in answers.items():
        assert [node.name for node in nodes] == [name], f"answer cell of {name} defines {[n.name for n in nodes]}"
    rebuilt = {ast.dump(node) for node in setup} | {ast.dump(node) for nodes in answers.values() for node in nodes}
    assert rebuilt == {ast.dump(node) for node in body}
    assert len(setup) + len(answers) == len(body)


@pytest.mark.parametrize("chapter", BUILT, ids=[chapter.slug for chapter in BUILT])
def test_student_version_keeps_each_hint_and_no_reference_code(chapter: Chapter):
    """nbgrader's own ClearSolutions, as generate_assignment runs it, on the generated notebook."""
    from nbgrader.preprocessors import ClearSolutions

    student, _ = ClearSolutions(code_stub={"python": CODE_STUB}).preprocess(
        nbformat.reads(nbformat.writes(notebook(chapter.slug)), as_version=4), {}
    )
    text = notebook_text(student)
    assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text
    assert leaks(f"{chapter.slug}.ipynb", notebook_text(student, "code")) == []
    assert leaks(f"{chapter.slug}.ipynb", text, only="hidden grader") == []
    assert leaks("source", notebook_text(notebook(chapter.slug), "code")), "the scan finds nothing to find"
    solution = (PROJECT.solutions / chapter.module_name).read_text(encoding="utf-8")
    answers = "\n".join(cell.source for cell in student.cells if cell.id.endswith("-answer"))
    for region in find_regions(solution):
        stub = "\n".join(f"{region.indent}{line}" for line in [*region.hint, CODE_STUB])
        assert stub in answers, f"{region.owner}: the hint is not right above the stub"
    for cell in student.cells:
        if cell.cell_type == "code":
            ast.parse(cell.source)


def test_hints_move_above_the_begin_marker():
    text = (
        "def f():\n    ### BEGIN SOLUTION\n    # TODO: return one\n    #   (an int)\n"
        "    return 1\n    ### END SOLUTION\n"
    )
    assert hints_above_markers(text) == [
        "def f():", "    # TODO: return one", "    #   (an int)", "    ### BEGIN SOLUTION", "    return 1",
        "    ### END SOLUTION",
    ]


@pytest.mark.parametrize(
    "text, problem",
    [
        ("import math\n\ndef f():\n    pass\n", "no '### BEGIN SOLUTION' region"),
        ("def g():\n    ### BEGIN SOLUTION\n    # TODO: x\n    return 1\n    ### END SOLUTION\n\ndef f():\n    pass\n",
         "which the chapter's kata.toml does not list"),
        ("def h():\n    return 1\n", "no top-level definition of the kata"),
        ("def f():\n    ### BEGIN SOLUTION\n    # TODO: x\n    return 1\n    ### END SOLUTION\n\nALIAS = f\n",
         "module-level code uses the kata"),
    ],
)
def test_unusable_solution_modules_are_refused_with_the_reason(text, problem):
    with pytest.raises(CellsError, match=problem):
        split_solution(text, ["f"])


def test_command_writes_the_course_and_keeps_edited_files_without_force(tmp_path, capsys):
    course = tmp_path / "course"
    assert cli(["nbgrader", str(course), "--chapter", "modules"]) == 0
    target = notebook_path(course, "modules")
    config = (course / "nbgrader_config.py").read_text(encoding="utf-8")
    assert "c.Execute.timeout" in config and "ClearSolutions.code_stub" in config
    compile(config, "nbgrader_config.py", "exec")
    assert nbformat.read(target, as_version=4).cells[1].id == "setup"
    assert cli(["nbgrader", str(course), "--chapter", "modules"]) == 0
    assert "unchanged:" in capsys.readouterr().out
    target.write_text(target.read_text(encoding="utf-8") + " ", encoding="utf-8")
    edited = target.read_text(encoding="utf-8")
    assert cli(["nbgrader", str(course), "--chapter", "modules"]) == 2
    assert "--force" in capsys.readouterr().err
    assert target.read_text(encoding="utf-8") == edited
    assert cli(["nbgrader", str(course), "--chapter", "modules", "--force"]) == 0
    assert target.read_text(encoding="utf-8") != edited


# The grade cells' runtime, without a kernel


class TransformOnly:
    """Stands in for the IPython shell: only its cell transformer is used."""

    def transform_cell(self, raw: str) -> str:
        from IPython.core.inputtransformer2 import TransformerManager

        return TransformerManager().transform_cell(raw)


@pytest.fixture
def session(monkeypatch):
    fresh = nbgrade._Session(hooked=True)
    monkeypatch.setattr(nbgrade, "_SESSION", fresh)
    return fresh


def test_cells_with_ipython_syntax_are_noted_and_left_out(session):
    nbgrade.keep_cell("import math\nx = math.pi\n", 1, TransformOnly())
    nbgrade.keep_cell("%time y = 2\n", 2, TransformOnly())
    nbgrade.keep_cell("!ls\n", 3, TransformOnly())
    assert [cell.number for cell in session.cells] == [1]
    assert [note.split()[0] for note in session.notes] == ["In[2]", "In[3]"]


def test_assembled_module_maps_lines_back_to_cells():
    source, starts = assemble("modules", [Cell(3, "a = 1\nb = 2\n"), Cell(7, "c = 3")])
    lines = source.splitlines()
    assert lines[starts[1][0] - 1].strip() == "c = 3" and lines[starts[0][0]].strip() == "b = 2"
    message = (
        f"importing modules.py failed: /tmp/x/impl/modules.py:{starts[1][0]}: NameError "
        f"(at modules.py:{starts[0][0] + 1})"
    )
    assert cell_locations(message, "modules", starts) == (
        "importing modules.py failed: In[7] line 1: NameError (at In[3] line 2)"
    )


def test_a_cell_that_fails_in_the_module_is_skipped_and_reported(tmp_path, monkeypatch):
    """As in the notebook, which ran on after it; strings spanning lines keep their value."""
    cells = [
        Cell(1, 'TEXT = """first\n  second"""\n'),
        Cell(2, "display(TEXT)\nSHOWN = True\n"),
        Cell(4, "open('no-such-file.npy')\nLOST = True\n"),
        Cell(5, 'def kata():\n    """Doc\n    string."""\n    return TEXT\n'),
    ]
    source, _ = assemble("chapter", cells)
    (tmp_path / "chapter.py").write_text(source, encoding="utf-8")
    log = tmp_path / "replay.log"
    monkeypatch.setenv(REPLAY_LOG_ENV, str(log))
    monkeypatch.chdir(tmp_path)
    module = load_module(tmp_path, "chapter")
    assert module.kata() == "first\n  second" and module.kata.__doc__ == "Doc\n    string."
    assert module.SHOWN and not hasattr(module, "LOST")
    assert log.read_text(encoding="utf-8").startswith("In[4] raised FileNotFoundError:")


def _outcome(points: float, passed: bool, message: str = "") -> dict:
    return {"test": f"t{points}{passed}", "chapter": "c", "kata": "K", "points": points,
            "visibility": "hidden", "passed": passed, "message": message}


def test_score_is_the_passed_share_of_the_checks_that_ran(session, capsys):
    reply = {"outcomes": [_outcome(1, True), _outcome(2, False, "wrong shape"), _outcome(1, True)],
             "hidden_graders": True}
    assert nbgrade.report("K", 4, reply, "c", []) == 2
    out = capsys.readouterr().out
    assert out.startswith("K: 2 / 4 points") and "wrong shape" in out
    # checks that do not apply here (CUDA on a CPU machine) scale the score to the cell's points
    assert nbgrade.report("K", 6, {"outcomes": [_outcome(1, True), _outcome(2, True)]}, "c", []) == 6
    assert nbgrade.report("K", 4, {"outcomes": [_outcome(4, True)], "timed_out": "ran past 5 s"}, "c", []) == 0


def test_grade_cell_writes_nothing_to_stderr_whatever_the_grading_prints(session, capfd):
    class NoisyWorker:
        def alive(self) -> bool:
            return True

        def ask(self, request: dict, seconds: float) -> dict:
            warnings.warn("a torch-style UserWarning", UserWarning, stacklevel=1)
            print("progress written to stderr", file=sys.stderr)
            return {"outcomes": [_outcome(1, True)], "hidden_graders": True}

    session.worker = NoisyWorker()
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        assert nbgrade.grade_kata("c", "K", points=1) == 1
    captured = capfd.readouterr()
    assert captured.err == ""
    assert "progress written to stderr" in captured.out


def test_cells_reach_the_grader_as_they_ran_in_ipython(monkeypatch):
    """A real IPython shell: the setup cell records itself and later cells; failing and grade cells do not."""
    from IPython.core.interactiveshell import InteractiveShell

    asked: list[dict] = []

    class RecordingWorker:
        def __init__(self, environment: dict, chapters: list) -> None:
            pass

        def alive(self) -> bool:
            return True

        def ask(self, request: dict, seconds: float) -> dict:
            asked.append(request)
            return {"outcomes": [_outcome(1, True)], "hidden_graders": True}

    monkeypatch.setattr(nbgrade, "_SESSION", nbgrade._Session())
    monkeypatch.setattr(nbgrade, "_Worker", RecordingWorker)
    shell = InteractiveShell.instance()
    try:
        for code in ["SETUP = 1\nfrom torchkata.nbgrade import record_cells\nrecord_cells('c')", "ANSWER = 2",
                     "1 / 0", "from torchkata.nbgrade import grade_kata\ngrade_kata('c', 'K', points=1)",
                     "LATER = 3", "grade_kata('c', 'K', points=1)"]:
            shell.run_cell(code, store_history=True)
    finally:
        InteractiveShell.clear_instance()
    first, second = (request["source"] for request in asked)
    assert "SETUP = 1" in first and "ANSWER = 2" in first and "1 / 0" not in first and "LATER" not in first
    assert "LATER = 3" in second and "grade_kata" not in second


def test_grade_cell_without_the_setup_cell_says_so(monkeypatch):
    monkeypatch.setattr(nbgrade, "_SESSION", nbgrade._Session())
    with pytest.raises(nbgrade.GradingError, match="run the setup cell"):
        nbgrade.grade_kata("modules", "MLP", points=5)


def test_record_cells_does_nothing_when_imported_as_a_module(monkeypatch):
    monkeypatch.setattr(nbgrade, "_SESSION", nbgrade._Session())
    monkeypatch.delitem(sys.modules, "IPython", raising=False)
    nbgrade.record_cells("modules")
    assert not nbgrade._SESSION.hooked and nbgrade._SESSION.worker is None


# The grading process's requests (forked children, no kernel)


def _request(source: str, kata: str = "MLP", kata_timeout: float = 60) -> dict:
    return {"chapter": "modules", "kata": kata, "source": source, "kata_timeout": kata_timeout, "test_timeout": 20}


def test_worker_grades_one_kata_of_the_notebook_code():
    reference = (PROJECT.solutions / "modules.py").read_text(encoding="utf-8")
    reply = grade_request(PROJECT.root, _request(reference))
    assert {o["kata"] for o in reply["outcomes"]} == {"MLP"}
    assert all(o["passed"] for o in reply["outcomes"]) and reply["hidden_graders"]
    assert {o["visibility"] for o in reply["outcomes"]} == {"public", "hidden"}
    starter = (PROJECT.starter / "modules.py").read_text(encoding="utf-8")
    assert not any(o["passed"] for o in grade_request(PROJECT.root, _request(starter))["outcomes"])


def test_worker_stops_a_kata_past_its_time_limit_and_survives_a_hard_exit():
    hang = "import time\n\nwhile True:\n    time.sleep(0.1)\n"
    assert "ran past 3 s" in grade_request(PROJECT.root, _request(hang, kata_timeout=3))["timed_out"]
    exits = "import os\n\nos._exit(3)\n"
    assert "exit status 3" in grade_request(PROJECT.root, _request(exits))["crash"]
    unknown = grade_request(PROJECT.root, {**_request("x = 1"), "chapter": "no_such_chapter"})
    assert "no chapter 'no_such_chapter'" in unknown["crash"]


# nbgrader itself, end to end


def run_nbgrader(course: Path, *args: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "nbgrader", *args], cwd=course, env=env, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout + done.stderr


def nbgrader_env(tmp_path: Path) -> dict[str, str]:
    """The python3 kernel of this interpreter (where torchkata is installed), whatever else is installed."""
    kernel = tmp_path / "jupyter" / "kernels" / "python3"
    kernel.mkdir(parents=True)
    spec = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "Python 3 (ipykernel)", "language": "python"}
    (kernel / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    env["JUPYTER_PATH"] = str(tmp_path / "jupyter")
    env["TORCHKATA_ROOT"] = str(PROJECT.root)
    return env


def with_answers(nb: nbformat.NotebookNode, answers: dict[str, str]) -> nbformat.NotebookNode:
    copy = nbformat.reads(nbformat.writes(nb), as_version=4)
    for cell in copy.cells:
        if cell.id.endswith("-answer") and cell.id[: -len("-answer")] in answers:
            cell.source = answers[cell.id[: -len("-answer")]]
    return copy


NOISY_MLP = '''

import sys
import warnings

print("defining MLP", file=sys.stderr)
_forward = MLP.forward


def _noisy_forward(self, X):
    warnings.warn("a warning from the graded code", UserWarning, stacklevel=1)
    print("debug output on stderr", file=sys.stderr)
    _ = torch.tensor(X)  # torch's own UserWarning: copy-constructing from a tensor
    return _forward(self, X)


MLP.forward = _noisy_forward
'''


def reference_submission(source: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The reference, written as students write: a magic, a cell that fails, a cell that only works in a
    kernel, ``display``, code that warns on stderr."""
    nb = with_answers(source, {"MLP": cells_by_id(source)["MLP-answer"].source + NOISY_MLP})
    scratch = {
        "scratch-magic": "%time _ = sum(range(10))",
        "scratch-error": "1 / 0",
        "scratch-kernel": "shell = get_ipython()\nassert shell is not None",
        "scratch-display": "display(MLP())",
    }
    at = [cell.id for cell in nb.cells].index("MLP-answer") + 1
    nb.cells[at:at] = [nbformat.v4.new_code_cell(code, id=cid) for cid, code in scratch.items()]
    return nb


def submit(course: Path, student: str, nb: nbformat.NotebookNode) -> None:
    folder = course / "submitted" / student / "modules"
    folder.mkdir(parents=True)
    nbformat.write(nb, folder / "modules.ipynb")
    (folder / "timestamp.txt").write_text("2026-01-01 12:00:00.000000 UTC\n", encoding="utf-8")


@pytest.mark.slow
def test_nbgrader_round_trip(tmp_path):
    from nbgrader.api import Gradebook

    from torchkata.grading.grade import grade_in_process
    from torchkata.mutants import load_mutants, write_overlay

    course = tmp_path / "course"
    env = nbgrader_env(tmp_path)
    assert cli(["nbgrader", str(course), "--chapter", "modules"]) == 0
    run_nbgrader(course, "generate_assignment", "modules", "--force", env=env)

    student = nbformat.read(course / "release" / "modules" / "modules.ipynb", as_version=4)
    release = notebook_text(student)
    assert "BEGIN SOLUTION" not in release
    assert leaks("release/modules/modules.ipynb", notebook_text(student, "code")) == []
    assert leaks("release/modules/modules.ipynb", release, only="hidden grader") == []
    assert "# TODO: build two fully connected layers" in release

    source = nbformat.read(notebook_path(course, "modules"), as_version=4)
    mutant = load_mutants(PROJECT.mutants / "modules.py")[0]
    reference_answers = {kata.name: cells_by_id(source)[f"{kata.name}-answer"].source for kata in MODULES.katas}
    mutated = {**reference_answers,
               mutant.kata: f"{reference_answers[mutant.kata]}\n\n\n# mutant: {mutant.mistake}\n{mutant.source}\n"}
    submit(course, "reference", reference_submission(source))
    submit(course, "starter", student)
    submit(course, "mutant", with_answers(student, mutated))
    run_nbgrader(course, "autograde", "modules", "--force", env=env)

    maximum = points()["modules"]
    overlay = write_overlay(PROJECT.solutions / "modules.py", mutant, tmp_path / "overlay")
    expected_mutant = grade_in_process(overlay, ["modules"], PROJECT).chapters["modules"].katas[mutant.kata].points
    assert expected_mutant < maximum[mutant.kata], f"the mutant {mutant.id} keeps every point"
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        scores = {
            (name, kata): gradebook.find_grade(f"{kata}-grade", "modules", "modules", name).score
            for name in ("reference", "starter", "mutant")
            for kata in maximum
        }
        stored = "\n".join(cell.source for cell in gradebook.find_notebook("modules", "modules").source_cells)
    assert {kata: scores["reference", kata] for kata in maximum} == maximum
    assert {kata: scores["starter", kata] for kata in maximum} == dict.fromkeys(maximum, 0.0)
    assert {kata: scores["mutant", kata] for kata in maximum} == {**maximum, mutant.kata: expected_mutant}
    assert leaks("gradebook.db", stored, only="hidden grader") == []

    for name in ("reference", "starter", "mutant"):
        graded = notebook_text(nbformat.read(course / "autograded" / name / "modules" / "modules.ipynb", 4))
        # the submissions hold reference code, so only hidden grader source counts here
        assert leaks(f"autograded/{name}", graded, only="hidden grader") == []

    run_nbgrader(course, "generate_feedback", "modules", "--force", env=env)
    for name in ("reference", "starter", "mutant"):
        feedback = html_text((course / "feedback" / name / "modules" / "modules.html").read_text(encoding="utf-8"))
        assert leaks(f"feedback/{name}", feedback, only="hidden grader") == []

    run_nbgrader(course, "export", env=env)
    with open(course / "grades.csv", newline="", encoding="utf-8") as handle:
        totals = {row["student_id"]: float(row["raw_score"]) for row in csv.DictReader(handle)}
    full = sum(maximum.values())
    assert totals == {"reference": full, "starter": 0.0,
                      "mutant": full - maximum[mutant.kata] + expected_mutant}

