"""The student release: a template repository students clone, work in and push.

It holds the engine (with the student's commands only), ``starter/`` as the
student's working files, ``exercises/``, ``graders/public/``, a student README,
``pyproject.toml`` and ``constraints.txt``, and the GitHub Classroom workflow.
It is written into a staging folder beside the target, scanned for anything
instructor-only (see :mod:`torchkata.grading.leakscan`) and only then moved into place.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import textwrap
import tomllib
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Any

from torchkata.course.catalog import Chapter
from torchkata.course.project import Project
from torchkata.course.source import build
from torchkata.exports import tomlout
from torchkata.exports.classroom.workflow import (
    CPU_TORCH_INDEX,
    STEP_TIMEOUT_MINUTES,
    classroom_runners,
    classroom_workflow,
)
from torchkata.grading.grade import select_chapters
from torchkata.grading.leakscan import SecretIndex
from torchkata.student.checks import POINTS_FILE

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"  # torchkata/templates
WORKFLOW_PATH = Path(".github/workflows/classroom.yml")
# Commands a student runs; the others (build, grade-all, release, ...) need what a release leaves out.
STUDENT_COMMANDS = ("grade", "check", "hint", "list", "progress", "watch")
STUDENT_DESCRIPTION = "PyTorch katas: starter files to complete, checked by graders that explain what went wrong."
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", ".pytest_cache")


@dataclass(frozen=True)
class ReleaseOptions:
    chapters: list[str] | None = None
    hidden_graders_repo: str | None = None
    torch_index: str | None = CPU_TORCH_INDEX
    step_timeout_minutes: int = STEP_TIMEOUT_MINUTES


@dataclass(frozen=True)
class Release:
    """What was written: where, which chapters, their points in Classroom, how many files."""

    path: Path
    chapters: list[str]
    points: dict[str, float]
    files: int


def template(name: str, **values: Any) -> str:
    """A file of torchkata/templates/ with its ``$names`` filled in."""
    return Template((TEMPLATES / name).read_text(encoding="utf-8")).substitute(values)


def check_target(project: Project, out_dir: Path) -> Path:
    """The resolved target: absent or an empty folder, and outside what the release is copied from."""
    out = out_dir.resolve()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ValueError(f"{out_dir} already exists and is not an empty folder; choose a new path")
    sources = [project.root / name for name in ("torchkata", "starter", "exercises", "graders", "solutions")]
    if out == project.root or any(out.is_relative_to(source.resolve()) for source in sources):
        raise ValueError(f"{out_dir} lies inside the course's own files; choose a path outside them")
    return out


def check_starter_in_sync(project: Project, chapters: list[Chapter]) -> None:
    stale = build(project.solutions, project.starter, check=True, only=[chapter.slug for chapter in chapters])
    if stale:
        names = ", ".join(path.name for path in stale)
        raise ValueError(f"starter/ is out of date with solutions/ ({names}): run `torchkata build` first")


def student_pyproject(project: Project) -> str:
    """The course's pyproject.toml for students: the same package, `pytest` running the public checks."""
    source = tomllib.loads((project.root / "pyproject.toml").read_text(encoding="utf-8"))
    student_project = {key: value for key, value in source["project"].items() if key != "optional-dependencies"}
    student_project["description"] = STUDENT_DESCRIPTION
    document: dict[str, Any] = {"build-system": source["build-system"], "project": student_project}
    tool: dict[str, Any] = {}
    if "setuptools" in source.get("tool", {}):
        tool["setuptools"] = source["tool"]["setuptools"]
    tool["pytest"] = {
        "ini_options": {
            "testpaths": ["graders/public"],
            "addopts": "-p no:cacheprovider --import-mode=importlib",
        }
    }
    document["tool"] = tool
    return tomlout.dumps(document)


def _torch_version(project: Project) -> str:
    for line in (project.root / "constraints.txt").read_text(encoding="utf-8").splitlines():
        name, _, version = line.partition("==")
        if name.strip().lower() == "torch":
            return version.strip()
    raise ValueError("constraints.txt pins no torch version (expected a line torch==X.Y.Z)")


def student_readme(project: Project, chapters: list[Chapter], points: dict[str, float], options: ReleaseOptions) -> str:
    rows = "\n".join(
        f"| {c.number:02d} {c.title} | `starter/{c.module_name}` | {len(c.katas)} | {points[c.slug]:g} |"
        for c in chapters
    )
    graders = (
        "the public checks you have and hidden checks you do not"
        if options.hidden_graders_repo
        else "the public checks in `graders/public/`"
    )
    grading = (
        "Every push runs the GitHub Classroom workflow in `.github/workflows/classroom.yml`. "
        f"One step grades every chapter with {graders}, as `torchkata grade` does, and prints the same "
        "table as `torchkata check`. Each check that passes earns its points, so a chapter with one kata "
        "missing still earns the points of every other kata, up to the chapter's points in the table above. "
        "The Autograding Reporter step lists each check as a test and sends Classroom the sum of their points "
        "(its notice reads `Points <earned>/<possible>`). Its own summary table divides each chapter's points "
        "by its number of tests, so while a chapter is incomplete that table can differ from the points "
        "Classroom records."
    )
    example = chapters[0]
    return template(
        "student_README.md",
        title="torchkata: PyTorch katas",
        torch_version=_torch_version(project),
        torch_index=options.torch_index or CPU_TORCH_INDEX,
        example_chapter=example.slug,
        example_kata=example.katas[0].name if example.katas else "KATA",
        chapter_rows=rows,
        grading_text=textwrap.fill(grading, width=79),
    )


def _copy_engine(project: Project, stage: Path) -> None:
    engine = project.root / "torchkata"
    commands = {f"{name.replace('-', '_')}.py" for name in STUDENT_COMMANDS} | {"__init__.py"}

    def ignore(folder: str, names: list[str]) -> set[str]:
        skipped = set(IGNORED(folder, names))
        if Path(folder).resolve() == (engine / "commands").resolve():
            skipped |= {name for name in names if name.endswith(".py") and name not in commands}
        return skipped

    shutil.copytree(engine, stage / "torchkata", ignore=ignore)


def _copy_chapters(project: Project, chapters: list[Chapter], stage: Path) -> None:
    for chapter in chapters:
        starter = project.starter / chapter.module_name
        if not starter.is_file():
            raise FileNotFoundError(f"{starter} is missing: run `torchkata build`")
        (stage / "starter").mkdir(exist_ok=True)
        shutil.copy2(starter, stage / "starter" / chapter.module_name)
        shutil.copytree(chapter.directory, stage / "exercises" / chapter.directory.name, ignore=IGNORED)
        public = project.grader_files(chapter.slug, "public")
        if not public:
            raise FileNotFoundError(
                f"chapter {chapter.slug} has no public checks (graders/public/test_{chapter.slug}.py)"
            )
        (stage / "graders" / "public").mkdir(parents=True, exist_ok=True)
        shutil.copy2(public[0], stage / "graders" / "public" / public[0].name)
    # Helpers the public graders share (anything but another chapter's test file).
    for path in sorted((project.graders / "public").iterdir()):
        if path.is_file() and not path.name.startswith("test_") and path.suffix == ".py":
            shutil.copy2(path, stage / "graders" / "public" / path.name)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def write_release(project: Project, chapters: list[Chapter], points: dict[str, float], options: ReleaseOptions,
                  stage: Path, kata_totals: dict[str, dict[str, float]] | None = None) -> None:
    """Every file of the release, into the empty folder ``stage``.

    ``kata_totals``, each kata's points with the hidden checks, go to graders/points.json: the student's
    commands show them beside the public points (see student_checks).
    """
    _copy_engine(project, stage)
    _copy_chapters(project, chapters, stage)
    if kata_totals is not None:
        _write(stage / "graders" / POINTS_FILE, json.dumps(kata_totals, indent=2, sort_keys=True) + "\n")
    shutil.copy2(project.root / "constraints.txt", stage / "constraints.txt")
    _write(stage / "pyproject.toml", student_pyproject(project))
    _write(stage / "README.md", student_readme(project, chapters, points, options))
    _write(stage / ".gitignore", template("student_gitignore"))
    runners = classroom_runners(chapters, points)
    workflow = classroom_workflow(runners, options.torch_index, options.hidden_graders_repo,
                                  options.step_timeout_minutes)
    _write(stage / WORKFLOW_PATH, workflow)


def _chmod_as_umask(folder: Path) -> None:
    """mkdtemp makes a private folder; the release gets the permissions a new folder would."""
    umask = os.umask(0)
    os.umask(umask)
    folder.chmod(0o777 & ~umask)


def build_release(project: Project, out_dir: Path, options: ReleaseOptions | None = None) -> Release:
    """Write the student release to ``out_dir`` (absent or empty); nothing is left there on failure."""
    from torchkata.exports.classroom.workflow import check_repository
    from torchkata.grading.points import chapter_points, kata_points

    options = options or ReleaseOptions()
    if options.hidden_graders_repo:
        check_repository(options.hidden_graders_repo)
    out = check_target(project, out_dir)
    chapters = select_chapters(project, options.chapters)
    check_starter_in_sync(project, chapters)
    # The points Classroom can award: the public checks, and the hidden graders only when the workflow has them.
    points = chapter_points(project, chapters, "all" if options.hidden_graders_repo else "public")
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        _chmod_as_umask(stage)
        write_release(project, chapters, points, options, stage, kata_points(project, chapters))
        leaks = SecretIndex.of(project).scan(stage)
        if leaks:
            listed = "\n  ".join(str(leak) for leak in leaks[:20])
            raise ValueError(f"the release would carry instructor-only material, so nothing was written:\n  {listed}")
        files = sum(1 for path in stage.rglob("*") if path.is_file())
        if out.exists():
            out.rmdir()
        os.replace(stage, out)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return Release(out, [chapter.slug for chapter in chapters], points, files)
