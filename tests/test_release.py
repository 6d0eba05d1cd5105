"""The student release: its layout, that nothing instructor-only ships, the Classroom workflow, and that it
installs and grades in a fresh virtual environment."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

from tests import classroom_reporter as model
from tests.conftest import CHAPTERS, PROJECT
from tests.submissions import all_but_one
from tests.venvs import clean_env, make_venv
from torchkata.cli import main
from torchkata.course.project import Project
from torchkata.course.source import find_regions
from torchkata.exports.classroom.workflow import (
    GRADE_COMMAND,
    GRADE_STEP_ID,
    GRADERS_SECRET,
    HIDDEN_GRADERS_PATH,
    classroom_runners,
    classroom_workflow,
)
from torchkata.exports.release import STUDENT_COMMANDS, WORKFLOW_PATH, ReleaseOptions, build_release
from torchkata.grading.leakscan import SecretIndex
from torchkata.grading.points import chapter_points, kata_points

SLUGS = [chapter.slug for chapter in CHAPTERS]
# The two chapters a release is installed and graded with in the slow tests (bounded time).
SMALL = ["tensors", "modules"]
REPORTER = "classroom-resources/autograding-grading-reporter@v1"
# Inputs as each action's action.yml defines them: (required, optional).
ACTION_INPUTS: dict[str, tuple[set[str], set[str]]] = {
    REPORTER: ({"runners"}, {"token"}),
    "actions/checkout@v4": (set(), {
        "repository", "ref", "token", "ssh-key", "ssh-known-hosts", "ssh-strict", "ssh-user", "persist-credentials",
        "path", "clean", "filter", "sparse-checkout", "sparse-checkout-cone-mode", "fetch-depth", "fetch-tags",
        "show-progress", "lfs", "submodules", "set-safe-directory", "github-server-url",
    }),
    "actions/setup-python@v5": (set(), {
        "python-version", "python-version-file", "cache", "architecture", "check-latest", "token",
        "cache-dependency-path", "update-environment", "allow-prereleases",
    }),
}


@pytest.fixture(scope="module")
def points() -> dict[str, float]:
    return chapter_points(PROJECT, CHAPTERS)


@pytest.fixture(scope="module")
def public_points() -> dict[str, float]:
    return chapter_points(PROJECT, CHAPTERS, "public")


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The whole course released, public checks grading in Classroom."""
    out = tmp_path_factory.mktemp("release") / "student"
    build_release(PROJECT, out)
    return out


def released_files(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*") if path.is_file())


def workflow_steps(root: Path) -> list[dict]:
    data = yaml.safe_load((root / WORKFLOW_PATH).read_text(encoding="utf-8"))
    (job,) = data["jobs"].values()
    return job["steps"]


def grade_step(steps: list[dict]) -> dict:
    (step,) = [step for step in steps if step.get("id") == GRADE_STEP_ID]
    return step


def reporter_of(steps: list[dict]) -> dict:
    (step,) = [step for step in steps if step.get("uses") == REPORTER]
    return step


def fallback_scores(reporter: dict) -> dict[str, float]:
    """Each runner's maximum when the grading step wrote nothing for it."""
    runners = model.decode(reporter["with"]["runners"], model.reporter_env(reporter, {}))
    return {runner: results["max_score"] for runner, results in runners}


# --- layout ------------------------------------------------------------------------------------------------------


def test_release_holds_what_a_student_needs(release: Path) -> None:
    for slug, chapter in zip(SLUGS, CHAPTERS, strict=True):
        assert (release / "starter" / f"{slug}.py").read_bytes() == (PROJECT.starter / f"{slug}.py").read_bytes()
        assert (release / "exercises" / chapter.directory.name / "kata.toml").is_file()
        assert (release / "graders" / "public" / f"test_{slug}.py").is_file()
    for name in ("torchkata/cli.py", "torchkata/plugin.py", "constraints.txt", ".gitignore", str(WORKFLOW_PATH)):
        assert (release / name).is_file(), f"{name} is missing from the release"
    assert (release / "constraints.txt").read_text() == (PROJECT.root / "constraints.txt").read_text()
    pyproject = tomllib.loads((release / "pyproject.toml").read_text())
    assert pyproject["tool"]["pytest"]["ini_options"]["testpaths"] == ["graders/public"]
    assert pyproject["project"]["scripts"] == {"torchkata": "torchkata.cli:main"}
    assert pyproject["project"]["entry-points"]["pytest11"] == {"torchkata": "torchkata.plugin"}
    assert "optional-dependencies" not in pyproject["project"]


def test_release_carries_each_katas_full_points_for_the_students_commands(release: Path, points) -> None:
    """Without the hidden graders, check and list still show what each kata is worth with them."""
    import json

    from torchkata.student.checks import known_full_points

    totals = json.loads((release / "graders" / "points.json").read_text())
    assert {slug: sum(katas.values()) for slug, katas in totals.items()} == pytest.approx(points)
    assert known_full_points(Project(release), SLUGS) == totals


def test_student_readme_explains_install_and_the_loop(release: Path) -> None:
    readme = (release / "README.md").read_text()
    for expected in ("python -m pip install -c constraints.txt -e .", "torchkata check", "torchkata hint",
                     "pytest", "torchkata list", "grade-all"):
        assert expected in readme, f"the student README does not mention {expected!r}"
    for chapter in CHAPTERS:
        assert f"`starter/{chapter.module_name}`" in readme
    assert "$" not in readme.replace("$ ", ""), "a template placeholder was left unfilled"


def test_release_engine_offers_only_the_students_commands(release: Path) -> None:
    commands = {path.stem for path in (release / "torchkata" / "commands").glob("*.py")} - {"__init__"}
    assert commands <= {name.replace("-", "_") for name in STUDENT_COMMANDS}
    assert "grade" in commands
    assert not {"build", "release", "gradescope", "grade_all"} & commands, "an instructor command was released"


# --- nothing instructor-only ships ----------------------------------------------------------------------------------


def test_no_released_file_carries_a_solution_reference_code_or_hidden_grader(release: Path) -> None:
    assert not (release / "solutions").exists() and not (release / "graders" / "hidden").exists()
    assert not (release / "tests").exists()
    leaks = SecretIndex.of(PROJECT).scan(release)
    assert not leaks, "\n".join(map(str, leaks))
    # And independently of the scanner: no file equals a reference or hidden file, no region body appears.
    secret_files = [*PROJECT.solutions.glob("*.py"), *(PROJECT.graders / "hidden").glob("*.py")]
    secret_bytes = {path.read_bytes(): path for path in secret_files}
    bodies = [
        "\n".join(line.strip() for line in region.body if line.strip())
        for path in PROJECT.solutions.glob("*.py")
        for region in find_regions(path.read_text(), path)
    ]
    for path in released_files(release):
        data = path.read_bytes()
        assert data not in secret_bytes, f"{path} is a copy of {secret_bytes.get(data)}"
        text = "\n".join(line.strip() for line in data.decode("utf-8", "replace").splitlines() if line.strip())
        for body in bodies:
            assert body.count("\n") < 1 or body not in text, f"{path} holds a solution region:\n{body}"


def _plant(root: Path, name: str, text: str) -> None:
    (root / name).parent.mkdir(parents=True, exist_ok=True)
    (root / name).write_text(text)


def test_the_scan_finds_each_kind_of_planted_leak(release: Path, tmp_path: Path) -> None:
    index = SecretIndex.of(PROJECT)
    solution = (PROJECT.solutions / "modules.py").read_text()
    region = max(find_regions(solution), key=lambda r: len(r.body))
    hidden = (PROJECT.graders / "hidden" / "test_modules.py").read_text()
    hidden_only = next(line for line in hidden.splitlines() if index.lines.get(" ".join(line.split())))
    plants = {
        "copy": ("notes/modules.py", solution),
        "reindented region": ("starter/extra.py", "\n".join("        " + line.strip() for line in region.body)),
        "renamed hidden grader": ("graders/public/test_more.py", hidden),
        "hidden line": ("graders/public/test_mixed.py", f"import torch\n{hidden_only}\n"),
        "marker": ("starter/marked.py", "def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION\n"),
        "marker in text": ("NOTES.md", "### BEGIN SOLUTION\n"),
    }
    for kind, (name, text) in plants.items():
        tree = tmp_path / kind.replace(" ", "_")
        shutil.copytree(release, tree)
        _plant(tree, name, text)
        found = [leak for leak in index.scan(tree) if leak.path == name]
        assert found, f"the scan missed a planted {kind} in {name}"


def test_a_release_that_would_leak_is_refused_and_nothing_is_written(tmp_path: Path, monkeypatch) -> None:
    course = _small_course(tmp_path / "course", "modules")
    # A helper beside the public graders that is really a hidden grader.
    shutil.copy(course.graders / "hidden" / "test_modules.py", course.graders / "public" / "helpers.py")
    monkeypatch.setattr("torchkata.grading.points.chapter_points",
                        lambda project, chapters, visibility="all": {"modules": 1.0})
    out = tmp_path / "out"
    with pytest.raises(ValueError, match=r"graders/public/helpers.py: is a copy of the hidden grader"):
        build_release(course, out)
    assert not out.exists() and not list(tmp_path.glob(".out-*")), "a refused release left files behind"


def _small_course(root: Path, slug: str) -> Project:
    """A course repository with one chapter, copied from this one."""
    chapter = next(c for c in CHAPTERS if c.slug == slug)
    shutil.copytree(chapter.directory, root / "exercises" / chapter.directory.name)
    for folder in ("solutions", "starter"):
        (root / folder).mkdir(parents=True)
        shutil.copy(PROJECT.root / folder / f"{slug}.py", root / folder / f"{slug}.py")
    for kind in ("public", "hidden"):
        (root / "graders" / kind).mkdir(parents=True)
        shutil.copy(PROJECT.graders / kind / f"test_{slug}.py", root / "graders" / kind / f"test_{slug}.py")
    for name in ("pyproject.toml", "constraints.txt"):
        shutil.copy(PROJECT.root / name, root / name)
    shutil.copytree(PROJECT.root / "torchkata", root / "torchkata", ignore=shutil.ignore_patterns("__pycache__"))
    return Project(root)


def test_a_stale_starter_is_refused(tmp_path: Path) -> None:
    course = _small_course(tmp_path / "course", "modules")
    with (course.starter / "modules.py").open("a") as handle:
        handle.write("\n# edited by hand\n")
    with pytest.raises(ValueError, match=r"starter/ is out of date .*modules.py.*torchkata build"):
        build_release(course, tmp_path / "out")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--hidden-graders-repo", "not a repo"], "expects OWNER/NAME"),
        (["--chapter", "no_such_chapter"], "no chapter 'no_such_chapter'"),
        (["--step-timeout", "0"], None),
    ],
)
def test_bad_release_arguments_get_a_clear_error(tmp_path: Path, capsys, monkeypatch, args, message) -> None:
    monkeypatch.setenv("TORCHKATA_ROOT", str(PROJECT.root))
    out = tmp_path / "out"
    if message is None:
        with pytest.raises(SystemExit):
            main(["release", str(out), *args])
        assert "at least 1" in capsys.readouterr().err
    else:
        assert main(["release", str(out), *args]) == 2
        assert message in capsys.readouterr().err
    assert not out.exists()


def test_an_occupied_target_is_refused_and_kept(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("TORCHKATA_ROOT", str(PROJECT.root))
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "mine.txt").write_text("keep me")
    assert main(["release", str(tmp_path / "out")]) == 2
    assert "already exists and is not an empty folder" in capsys.readouterr().err
    assert (tmp_path / "out" / "mine.txt").read_text() == "keep me"
    assert main(["release", str(PROJECT.starter / "inside")]) == 2
    assert "inside the course's own files" in capsys.readouterr().err


# --- the Classroom workflow -----------------------------------------------------------------------------------------


def check_action_inputs(steps: list[dict]) -> None:
    for step in steps:
        if "uses" not in step:
            assert isinstance(step.get("run"), str), f"a step neither uses an action nor runs a command: {step}"
            continue
        assert step["uses"] in ACTION_INPUTS, f"unexpected action {step['uses']}"
        required, optional = ACTION_INPUTS[step["uses"]]
        given = set(step.get("with") or {})
        assert given <= required | optional, f"{step['uses']} defines no input {given - required - optional}"
        assert required <= given, f"{step['uses']} needs {required - given}"


def test_workflow_parses_and_every_input_is_one_the_actions_define(release: Path, public_points) -> None:
    data = yaml.safe_load((release / WORKFLOW_PATH).read_text())
    assert set(data["on"]) >= {"push", "repository_dispatch"}
    steps = workflow_steps(release)
    check_action_inputs(steps)
    grade = grade_step(steps)
    assert grade["run"] == GRADE_COMMAND == 'torchkata grade starter --classroom --classroom-outputs "$GITHUB_OUTPUT"'
    assert 1 <= grade["timeout-minutes"] <= 360
    assert not any("autograding-command-grader" in step.get("uses", "") for step in steps), "one grading run only"
    install = next(i for i, step in enumerate(steps) if "pip install -c constraints.txt" in step.get("run", ""))
    assert install < steps.index(grade), "the course must be installed before it grades"
    assert not any(step.get("with", {}).get("path") == HIDDEN_GRADERS_PATH for step in steps)
    # Without hidden graders Classroom can award the public checks' points: each runner's maximum.
    assert fallback_scores(reporter_of(steps)) == {
        f"ch{c.number:02d}{c.slug}": public_points[c.slug] for c in CHAPTERS
    }


def test_the_reporter_reads_every_chapters_result_from_the_grading_step(release: Path) -> None:
    steps = workflow_steps(release)
    reporter = reporter_of(steps)
    assert steps[-1] is reporter and steps.index(grade_step(steps)) < len(steps) - 1
    assert reporter["if"] == "${{ !cancelled() }}", "the reporter runs when grading fails, so every chapter counts"
    ids = reporter["with"]["runners"].split(",")
    assert ids == [f"ch{c.number:02d}{c.slug}" for c in CHAPTERS]
    assert model.RUNNERS.match(reporter["with"]["runners"]), "the reporter accepts letters and digits only"
    # The reporter looks up `<runner id in upper case>_RESULTS`: the step's output, else an error object.
    assert set(reporter["env"]) == {f"{i.upper()}_RESULTS" for i in ids}
    for runner in ids:
        value = reporter["env"][f"{runner.upper()}_RESULTS"]
        assert value.startswith(f"${{{{ steps.{GRADE_STEP_ID}.outputs.{runner} || '")
        assert model.evaluate(value, {GRADE_STEP_ID: {runner: "given"}}) == "given"
    nothing = model.report(model.decode(reporter["with"]["runners"], model.reporter_env(reporter, {})))
    assert nothing.total == 0 and nothing.maximum > 0 and nothing.failed == "Some tests errored."


def test_hidden_graders_repo_adds_a_checkout_with_a_secret(points) -> None:
    text = classroom_workflow(classroom_runners(CHAPTERS, points), hidden_repo="course-staff/torchkata-graders")
    (job,) = yaml.safe_load(text)["jobs"].values()
    steps = job["steps"]
    check_action_inputs(steps)
    checkout = next(step for step in steps if step.get("with", {}).get("path") == HIDDEN_GRADERS_PATH)
    assert checkout["with"]["repository"] == "course-staff/torchkata-graders"
    assert checkout["with"]["token"] == f"${{{{ secrets.{GRADERS_SECRET} }}}}"
    assert checkout["with"]["persist-credentials"] is False
    position = steps.index(checkout)
    assert position < steps.index(grade_step(steps))
    guard = steps[position + 1]["run"]
    assert all(f" {slug}" in guard for slug in SLUGS), "the guard should name every chapter's hidden grader"
    assert sum(fallback_scores(reporter_of(steps)).values()) == sum(points.values())


# --- installed in a fresh virtual environment (slow) -----------------------------------------------------------------


def venv_env(venv: Path) -> dict[str, str]:
    env = clean_env()
    return {**env, "PATH": f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}", "VIRTUAL_ENV": str(venv)}


def run_in(cwd: Path, venv: Path, command: list[str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, env=venv_env(venv), capture_output=True, text=True, timeout=timeout,
                          check=False)


@pytest.fixture(scope="module")
def small_release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("small") / "student"
    build_release(PROJECT, out, ReleaseOptions(chapters=SMALL, hidden_graders_repo="course-staff/graders"))
    return out


@pytest.fixture(scope="module")
def venv(small_release: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with the release installed as its README says (pip install -e .).

    It sees the test environment's packages (torch and the rest, already at the pinned versions) so nothing
    is downloaded; pip's own build isolation is off for the same reason.
    """
    venv = make_venv(tmp_path_factory.mktemp("venv") / "env")
    install = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-build-isolation",
               "-c", "constraints.txt", "-e", "."]
    done = run_in(small_release, venv, install)
    assert done.returncode == 0, done.stdout + done.stderr
    where = run_in(small_release.parent, venv, [str(venv / "bin" / "python"), "-c",
                                                "import torchkata; print(torchkata.__file__)"])
    assert Path(where.stdout.strip()).is_relative_to(small_release), f"torchkata came from {where.stdout}"
    return venv


@pytest.mark.slow
def test_released_pytest_fails_the_starter_with_its_todo_messages(small_release: Path, venv: Path) -> None:
    done = run_in(small_release, venv, ["pytest", "-q"])
    output = done.stdout + done.stderr
    assert done.returncode == 1, f"pytest should report failed tests (exit 1), got {done.returncode}:\n{output}"
    assert "not written yet, see the TODO above this line" in output
    assert re.search(r"\d+ failed", output) and " error" not in output.splitlines()[-1], output[-2000:]
    assert "passed" not in output.splitlines()[-1], "a public check passes on the untouched starter"


@pytest.mark.slow
def test_released_check_reports_the_starter_as_not_started(small_release: Path, venv: Path) -> None:
    done = run_in(small_release, venv, ["torchkata", "check"])
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "Traceback" not in output
    assert "not started" in output and "TODO:" in output
    assert "torchkata hint" in output


def run_grade_step(root: Path, venv: Path, outputs: Path) -> tuple[str, dict[str, str], int]:
    """The workflow's grading step, run as the runner runs it (bash -e) with $GITHUB_OUTPUT: text, outputs, status."""
    outputs.write_text("")
    command = grade_step(workflow_steps(root))["run"]
    env = {**venv_env(venv), "GITHUB_OUTPUT": str(outputs)}
    done = subprocess.run(["bash", "-e", "-c", command], cwd=root, env=env, capture_output=True, text=True,
                          timeout=900, check=False)
    return done.stdout, model.github_outputs(outputs.read_text()), done.returncode


@pytest.mark.slow
def test_the_grading_step_gives_classroom_the_points_of_each_check(
    small_release: Path, venv: Path, points, public_points, tmp_path: Path
) -> None:
    reporter = reporter_of(workflow_steps(small_release))
    mlp = kata_points(PROJECT, [c for c in CHAPTERS if c.slug == "modules"], "public")["modules"]["MLP"]
    public = sum(public_points[slug] for slug in SMALL)

    def graded(root: Path) -> tuple[str, model.Report, int]:
        text, outputs, status = run_grade_step(root, venv, tmp_path / "github_output")
        assert sorted(outputs) == ["ch01tensors", "ch03modules"], text
        return text, model.reporter_report(reporter, {GRADE_STEP_ID: outputs}), status

    text, report, status = graded(small_release)
    assert status == 1 and (report.total, report.maximum) == (0, public), text
    assert "not started" in text and text.rstrip().endswith("FAIL: some checks do not pass yet.")
    work = small_release.parent / "with_reference"
    shutil.copytree(small_release, work, ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"))
    all_but_one(PROJECT, work / "starter", SMALL)
    text, report, status = graded(work)
    assert status == 1 and (report.total, report.maximum) == (public - mlp, public), text
    assert report.notice == f"Points {model.js_number(public - mlp)}/{model.js_number(public)}"
    for slug in SMALL:
        shutil.copy(PROJECT.solutions / f"{slug}.py", work / "starter" / f"{slug}.py")
    text, report, status = graded(work)
    assert status == 0 and (report.total, report.maximum) == (public, public) and report.failed is None, text
    # The hidden graders, where the workflow's checkout puts them: the same step grades with them too.
    (work / HIDDEN_GRADERS_PATH).mkdir()
    for slug in SMALL:
        for path in (PROJECT.graders / "hidden" / f"test_{slug}.py", PROJECT.casebook(slug)):
            if path.is_file():
                shutil.copy(path, work / HIDDEN_GRADERS_PATH)
    text, report, status = graded(work)
    full = sum(points[slug] for slug in SMALL)
    assert status == 0 and (report.total, report.maximum) == (full, full), text
    assert "(public and hidden checks)" in text
