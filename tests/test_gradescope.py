"""The Gradescope autograder zip: what it carries, and run_autograder grading in a fake /autograder."""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import CHAPTERS, PROJECT
from tests.venvs import clean_env, make_venv
from torchkata.cli import main
from torchkata.exports.gradescope.bundle import build_gradescope_zip
from torchkata.exports.gradescope.run import VISIBILITIES, find_submission_dir, load_config, with_visibility
from torchkata.exports.gradescope.run import main as run_main
from torchkata.grading.leakscan import SecretIndex

SLUGS = [chapter.slug for chapter in CHAPTERS]
SMALL = ["tensors", "modules"]
TEST_FIELDS = {"name", "score", "max_score", "status", "output", "visibility"}


@pytest.fixture(scope="module")
def full_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("gradescope") / "autograder.zip"
    build_gradescope_zip(PROJECT, out)
    return out


def test_setup_and_run_autograder_sit_at_the_root_and_are_executable(full_zip: Path) -> None:
    with zipfile.ZipFile(full_zip) as archive:
        for name in ("setup.sh", "run_autograder"):
            info = archive.getinfo(name)
            assert stat.S_IMODE(info.external_attr >> 16) == 0o755, f"{name} is not executable"
            assert archive.read(name).startswith(b"#!/usr/bin/env bash\n")
        config = json.loads(archive.read("autograder.json"))
        assert config == {"chapters": SLUGS, "hidden_visibility": "hidden"}
        names = set(archive.namelist())
    for slug in SLUGS:
        for member in (f"graders/public/test_{slug}.py", f"graders/hidden/test_{slug}.py", f"starter/{slug}.py"):
            assert member in names, f"{member} is missing"
    engine = {"torchkata/exports/gradescope/run.py", "torchkata/sandbox/forkserver.py"}
    assert {"pyproject.toml", "constraints.txt", *engine} <= names


def test_the_zip_carries_no_solution(full_zip: Path) -> None:
    with zipfile.ZipFile(full_zip) as archive:
        names = archive.namelist()
        contents = {archive.read(name) for name in names}
    assert not [name for name in names if name.startswith(("solutions/", "tests/"))]
    assert not {path.read_bytes() for path in PROJECT.solutions.glob("*.py")} & contents
    leaks = SecretIndex.of(PROJECT, hidden_graders=False).scan(full_zip)
    assert not leaks, "\n".join(map(str, leaks))


def test_the_same_course_gives_the_same_zip(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr("torchkata.grading.points.chapter_points", lambda project, chapters: {"modules": 43.0})
    first, second = tmp_path / "a.zip", tmp_path / "b.zip"
    build_gradescope_zip(PROJECT, first, ["modules"], "after_published")
    build_gradescope_zip(PROJECT, second, ["modules"], "after_published")
    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as archive:
        assert json.loads(archive.read("autograder.json"))["hidden_visibility"] == "after_published"
        assert not [name for name in archive.namelist() if "tensors" in name]


def test_an_existing_zip_is_kept_unless_forced(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("TORCHKATA_ROOT", str(PROJECT.root))
    out = tmp_path / "autograder.zip"
    out.write_bytes(b"an earlier autograder")
    assert main(["gradescope", str(out)]) == 2
    assert "already exists; pass --force" in capsys.readouterr().err
    assert out.read_bytes() == b"an earlier autograder"
    assert main(["gradescope", str(tmp_path / "autograder.tar")]) == 2
    assert "should end in .zip" in capsys.readouterr().err


def _touch(root: Path, *names: str) -> None:
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("")


def test_the_submission_folder_is_the_one_holding_the_chapter_modules(tmp_path: Path) -> None:
    flat = tmp_path / "flat"
    _touch(flat, "modules.py", "tensors.py", "notes.txt")
    assert find_submission_dir(flat, SMALL) == (flat, ["tensors", "modules"])
    repo = tmp_path / "repo"
    _touch(repo, "README.md", "starter/modules.py", "starter/tensors.py", "graders/public/modules.py")
    assert find_submission_dir(repo, SMALL) == (repo / "starter", ["tensors", "modules"])
    zipped = tmp_path / "zipped"
    _touch(zipped, "my-course-main/starter/modules.py", "my-course-main/.venv/tensors.py")
    assert find_submission_dir(zipped, SMALL) == (zipped / "my-course-main" / "starter", ["modules"])
    empty = tmp_path / "empty"
    empty.mkdir()
    assert find_submission_dir(empty, SMALL) == (empty, [])


def test_hidden_checks_get_the_chosen_visibility(tmp_path: Path) -> None:
    results = {"tests": [{"visibility": "hidden"}, {"visibility": "visible"}]}
    assert [t["visibility"] for t in with_visibility(results, "after_published")["tests"]] == [
        "after_published", "visible"
    ]
    config = tmp_path / "autograder.json"
    config.write_text(json.dumps({"hidden_visibility": "sometimes"}))
    with pytest.raises(ValueError, match="hidden_visibility .* must be one of hidden, after_due_date"):
        load_config(config)


def test_a_submission_that_cannot_be_graded_still_gets_a_results_file(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TORCHKATA_ROOT", str(PROJECT.root))
    results = tmp_path / "results" / "results.json"
    status = run_main(["--submission", str(tmp_path / "nothing"), "--results", str(results),
                       "--config", str(tmp_path / "absent.json")])
    assert status == 1
    data = json.loads(results.read_text())
    assert data["score"] == 0 and data["tests"] == []
    assert "could not grade this submission" in data["output"] and "does not exist" in data["output"]


# --- a fake /autograder (slow) ------------------------------------------------------------------------------------


def check_results(data: dict) -> None:
    """results.json as Gradescope's autograder specification describes it."""
    assert isinstance(data["score"], int | float) and isinstance(data["max_score"], int | float)
    assert isinstance(data["output"], str) and isinstance(data["tests"], list) and data["tests"]
    assert data["output_format"] == data["test_output_format"] == "text"
    for test in data["tests"]:
        assert TEST_FIELDS <= set(test), f"a test lacks {TEST_FIELDS - set(test)}"
        assert test["status"] in {"passed", "failed"} and test["visibility"] in VISIBILITIES
        assert 0 <= test["score"] <= test["max_score"]
    assert sum(test["score"] for test in data["tests"]) == pytest.approx(data["score"])
    assert sum(test["max_score"] for test in data["tests"]) == pytest.approx(data["max_score"])


@pytest.fixture(scope="module")
def autograder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """/autograder as Gradescope lays it out, with setup.sh run: source/, venv/, run_autograder."""
    root = tmp_path_factory.mktemp("fake") / "autograder"
    bundle = root.parent / "autograder.zip"
    build_gradescope_zip(PROJECT, bundle, SMALL, hidden_visibility="after_published")
    with zipfile.ZipFile(bundle) as archive:
        archive.extractall(root / "source")
    for name in ("setup.sh", "run_autograder"):
        (root / "source" / name).chmod(0o755)
    shutil.copy(root / "source" / "run_autograder", root / "run_autograder")
    make_venv(root / "venv")  # setup.sh makes it again over this one: the .pth that shows the test packages stays
    env = clean_env(
        AUTOGRADER_ROOT=str(root),
        TORCHKATA_PYTHON=sys.executable,
        TORCHKATA_TORCH_INDEX="",  # nothing to fetch: the venv sees the test environment's pinned packages
        TORCHKATA_VENV_OPTIONS="--without-pip",
        PIP_NO_BUILD_ISOLATION="0",  # pip reads this as --no-build-isolation: no download of setuptools
    )
    done = subprocess.run(["bash", str(root / "source" / "setup.sh")], env=env, capture_output=True, text=True,
                          timeout=600, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "are installed." in done.stdout
    return root


def run_autograder(root: Path) -> dict:
    env = clean_env(AUTOGRADER_ROOT=str(root))
    results = root / "results" / "results.json"
    results.unlink(missing_ok=True)
    done = subprocess.run([str(root / "run_autograder")], env=env, capture_output=True, text=True, timeout=600,
                          check=False)
    assert results.is_file(), f"run_autograder wrote no results.json:\n{done.stdout}\n{done.stderr}"
    data = json.loads(results.read_text())
    check_results(data)
    return data


def _submit(root: Path, files: dict[str, Path]) -> None:
    shutil.rmtree(root / "submission", ignore_errors=True)
    for name, source in files.items():
        (root / "submission" / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, root / "submission" / name)


@pytest.mark.slow
def test_run_autograder_gives_the_reference_full_marks(autograder: Path) -> None:
    where = subprocess.run([str(autograder / "venv" / "bin" / "python"), "-c", "import torchkata; "
                            "print(torchkata.__file__)"], capture_output=True, text=True, check=True, cwd="/",
                           env=clean_env())
    assert Path(where.stdout.strip()).is_relative_to(autograder / "venv"), "setup.sh did not install the engine"
    # A GitHub-repository submission: the chapter modules in starter/.
    _submit(autograder, {f"starter/{slug}.py": PROJECT.solutions / f"{slug}.py" for slug in SMALL})
    data = run_autograder(autograder)
    assert data["score"] == data["max_score"] > 0, [t for t in data["tests"] if t["status"] != "passed"]
    assert data["output"].startswith("Graded the chapter modules in starter of the submission.")
    hidden = [test for test in data["tests"] if test["name"].split(" / ")[2].startswith("hidden/")]
    assert hidden and {test["visibility"] for test in hidden} == {"after_published"}
    assert {test["name"].split(" / ")[0] for test in data["tests"]} == set(SMALL)


@pytest.mark.slow
def test_run_autograder_gives_the_starter_nothing_and_says_why(autograder: Path) -> None:
    _submit(autograder, {f"{slug}.py": PROJECT.starter / f"{slug}.py" for slug in SMALL})
    data = run_autograder(autograder)
    assert data["score"] == 0 and data["max_score"] > 0
    assert all(test["status"] == "failed" for test in data["tests"])
    visible = [test for test in data["tests"] if test["visibility"] == "visible"]
    assert visible and all(test["output"].startswith("not started") for test in visible)
