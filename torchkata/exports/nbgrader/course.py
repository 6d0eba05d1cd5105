"""An nbgrader course generated from the course: ``nbgrader_config.py`` and one source notebook per chapter.

Each chapter's notebook (``source/<slug>/<slug>.ipynb``) holds, in nbgrader's terms:

- read-only markdown cells with the chapter's instructions, and a read-only setup cell
  (the solution module's imports and helpers, then ``record_cells()``);
- per kata, an "autograded answer" cell with the kata's definitions and their
  ``### BEGIN SOLUTION`` regions, and a locked "autograder tests" cell worth the kata's
  points that calls :func:`torchkata.nbgrade.grade_kata`. That function grades the code
  the notebook ran with the graders installed on the grading machine, in another
  process; no grader source is ever in a notebook.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from torchkata.course.catalog import Chapter
from torchkata.course.project import Project
from torchkata.exports.nbgrader.cells import split_solution
from torchkata.exports.nbgrader.text import chapter_text

SCHEMA_VERSION = 3
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
CONFIG_NAME = "nbgrader_config.py"
CONFIG_HEADER = '"""nbgrader configuration of the torchkata course, written by `torchkata nbgrader`."""'
# nbgrader's stub replaces the reference code; the hint above it stays.
CODE_STUB = 'raise NotImplementedError("not written yet: see the TODO above this line")'
# Seconds. A grade cell's own limit is below nbgrader's, so it ends with a message and a score.
CELL_TIMEOUT = 300
KATA_TIMEOUT = 120
TEST_TIMEOUT = 20


class NotebookError(ValueError):
    """A chapter that cannot become an nbgrader notebook."""


class ChangedFilesError(ValueError):
    """Files of the course directory that differ from the generated ones; nothing was written."""


def _nbgrader(grade_id: str, *, solution: bool = False, grade: bool = False, points: float = 0.0) -> dict:
    meta = {"schema_version": SCHEMA_VERSION, "grade_id": grade_id, "grade": grade,
            "solution": solution, "locked": not solution}
    if grade:
        meta["points"] = points
    return {"nbgrader": meta}


def _points_text(points: float) -> str:
    return f"{points:g}"


def setup_source(slug: str, setup: str) -> str:
    return (
        "# Setup (read-only): the chapter's imports and helpers. Run this cell first.\n"
        f"{setup}\n\n"
        "from torchkata.nbgrade import record_cells  # lets the grade cells see the code you run\n\n"
        f'record_cells("{slug}")\n'
    )


def grade_source(slug: str, kata: str, points: float) -> str:
    return (
        f"# Checks {kata} with the course's public and hidden graders (read-only).\n"
        "from torchkata.nbgrade import grade_kata\n\n"
        f'grade_kata("{slug}", "{kata}", points={_points_text(points)})\n'
    )


def collect_points(project: Project, chapters: list[Chapter]) -> dict[str, dict[str, float]]:
    """Points per chapter and kata: the ``points`` markers of the public and hidden checks that run here.

    Rounded, so that the cell's metadata and the points its code states are the same number.
    """
    from torchkata.grading.points import kata_points

    try:
        return kata_points(project, chapters)
    except ValueError as error:
        raise NotebookError(str(error)) from error


def chapter_notebook(project: Project, chapter: Chapter, points: dict[str, float]) -> nbformat.NotebookNode:
    """The nbgrader source notebook of one chapter."""
    solution = project.solutions / chapter.module_name
    if not solution.is_file():
        raise NotebookError(f"chapter {chapter.slug}: {solution} does not exist")
    names = [kata.name for kata in chapter.katas]
    ungraded = [name for name in names if points.get(name, 0) <= 0]
    if ungraded:
        raise NotebookError(f"chapter {chapter.slug}: no grader test gives points to {', '.join(ungraded)}")
    code = split_solution(solution.read_text(encoding="utf-8"), names, solution)
    readme = chapter.directory / "README.md"
    text = chapter_text(chapter, readme.read_text(encoding="utf-8") if readme.is_file() else f"# {chapter.title}")
    cells = [
        new_markdown_cell(text.intro, id="intro", metadata=_nbgrader("intro")),
        new_code_cell(setup_source(chapter.slug, code.setup), id="setup", metadata=_nbgrader("setup")),
    ]
    for name in names:
        cells += [
            new_markdown_cell(text.katas[name], id=f"{name}-task", metadata=_nbgrader(f"{name}-task")),
            new_code_cell(code.answers[name], id=f"{name}-answer", metadata=_nbgrader(f"{name}-answer", solution=True)),
            new_code_cell(
                grade_source(chapter.slug, name, points[name]),
                id=f"{name}-grade",
                metadata=_nbgrader(f"{name}-grade", grade=True, points=points[name]),
            ),
        ]
    notebook = new_notebook(cells=cells, metadata={
        "kernelspec": KERNELSPEC,
        "language_info": {"name": "python", "file_extension": ".py", "mimetype": "text/x-python"},
    })
    nbformat.validate(notebook)
    return notebook


def course_config(project: Project) -> str:
    """``nbgrader_config.py`` for a course graded with this repository's graders."""
    return f'''{CONFIG_HEADER}

import os

c = get_config()  # noqa: F821 (nbgrader provides it)

# The grade cells run torchkata's graders, public and hidden, from this course repository.
os.environ.setdefault("TORCHKATA_ROOT", {str(project.root)!r})
os.environ.setdefault("TORCHKATA_KATA_TIMEOUT", "{KATA_TIMEOUT}")
os.environ.setdefault("TORCHKATA_TEST_TIMEOUT", "{TEST_TIMEOUT}")

c.CourseDirectory.course_id = "torchkata"
# nbgrader stops a cell after this many seconds; a grade cell stops itself earlier, with a message.
c.Execute.timeout = {CELL_TIMEOUT}
c.ClearSolutions.code_stub = {{"python": {CODE_STUB!r}}}
# Warnings on stderr would zero a grade cell; the grade cells write none, and this drops stray ones.
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = r"\\w*Warning\\b"
'''


@dataclass(frozen=True)
class Written:
    path: Path
    status: str  # "wrote", "updated" or "unchanged"


def notebook_path(course_dir: Path, slug: str) -> Path:
    return course_dir / "source" / slug / f"{slug}.ipynb"


def plan_course(project: Project, course_dir: Path, chapters: list[Chapter]) -> dict[Path, str]:
    """Every file of the course directory and its text."""
    points = collect_points(project, chapters)
    files = {course_dir / CONFIG_NAME: course_config(project)}
    for chapter in chapters:
        notebook = chapter_notebook(project, chapter, points.get(chapter.slug, {}))
        files[notebook_path(course_dir, chapter.slug)] = nbformat.writes(notebook) + "\n"
    return files


def write_course(project: Project, course_dir: Path, chapters: list[Chapter], force: bool = False) -> list[Written]:
    """Write the course directory; files that differ from what would be written need ``force``."""
    files = plan_course(project, course_dir, chapters)
    existing = {path: path.read_text(encoding="utf-8") for path in files if path.is_file()}
    changed = [path for path, text in existing.items() if text != files[path]]
    if changed and not force:
        names = ", ".join(str(path) for path in changed)
        raise ChangedFilesError(f"these files exist and differ from the generated ones: {names}; "
                              "pass --force to overwrite them")
    written: list[Written] = []
    for path, text in files.items():
        if existing.get(path) == text:
            written.append(Written(path, "unchanged"))
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(Written(path, "updated" if path in existing else "wrote"))
    return written
