"""nbgrader autograde against `torchkata grade`, on the same full submission, in one run.

Builds a temporary nbgrader course (`torchkata nbgrader`) for the chosen chapters (all
by default) and submits the reference notebooks as one student's submission. Then it
times `nbgrader autograde "*" --force` over every chapter, and `torchkata grade` on the
same code written as <slug>.py files (each notebook's setup and answer cells), and prints
both wall times and their ratio, with the points each gave.

    python bench/nbgrader.py [--chapter modules ...]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from torchkata.course.project import Project
from torchkata.exports.nbgrader.course import notebook_path, write_course
from torchkata.grading.grade import select_chapters

STUDENT = "reference"


def kernel_env(directory: Path, root: Path) -> dict[str, str]:
    """An environment whose python3 kernel is this interpreter, grading with this course's graders."""
    kernel = directory / "jupyter" / "kernels" / "python3"
    kernel.mkdir(parents=True)
    spec = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "Python 3 (ipykernel)", "language": "python"}
    (kernel / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
    return {**os.environ, "JUPYTER_PATH": str(directory / "jupyter"), "TORCHKATA_ROOT": str(root)}


def timed(command: list[str], cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return elapsed


def notebook_module(path: Path) -> str:
    """A notebook's setup and answer cells as one module: the code `torchkata grade` gets."""
    cells = nbformat.read(path, as_version=4).cells
    return "\n\n\n".join(cell.source for cell in cells if cell.id == "setup" or cell.id.endswith("-answer")) + "\n"


def nbgrader_points(course: Path, env: dict[str, str]) -> float:
    """The student's total from `nbgrader export` (this file's name hides the nbgrader package here)."""
    timed([sys.executable, "-m", "nbgrader", "export", "--to", "grades.csv"], course, env)
    with open(course / "grades.csv", newline="", encoding="utf-8") as handle:
        return sum(float(row["raw_score"]) for row in csv.DictReader(handle) if row["student_id"] == STUDENT)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chapter", action="append", help="only this chapter (repeatable; default: all)")
    args = parser.parse_args()
    project = Project.find()
    chapters = select_chapters(project, args.chapter)
    with tempfile.TemporaryDirectory(prefix="torchkata-bench-") as tmp:
        work = Path(tmp)
        course, submission = work / "course", work / "submission"
        env = kernel_env(work, project.root)
        write_course(project, course, chapters)
        nbgrader = [sys.executable, "-m", "nbgrader"]
        timed([*nbgrader, "generate_assignment", "*", "--force"], course, env)
        submission.mkdir()
        for chapter in chapters:
            source = notebook_path(course, chapter.slug)
            folder = course / "submitted" / STUDENT / chapter.slug
            folder.mkdir(parents=True)
            (folder / source.name).write_bytes(source.read_bytes())
            (submission / chapter.module_name).write_text(notebook_module(source), encoding="utf-8")

        autograde = timed([*nbgrader, "autograde", "*", "--force"], course, env)
        result = work / "result.json"
        only = [f"--chapter={chapter.slug}" for chapter in chapters]
        grade = timed([sys.executable, "-m", "torchkata", "grade", str(submission), *only, "--json", str(result)],
                      project.root, env)
        graded = json.loads(result.read_text(encoding="utf-8"))
        from_nbgrader = nbgrader_points(course, env)

    print(f"one full submission: {len(chapters)} chapters, "
          f"{sum(len(chapter.katas) for chapter in chapters)} katas (the reference)")
    print(f"  nbgrader autograde  {autograde:8.1f} s   {from_nbgrader:g} points")
    print(f"  torchkata grade     {grade:8.1f} s   {graded['points']:g} / {graded['max_points']:g} points")
    print(f"  ratio               {autograde / grade:8.2f}x  (nbgrader autograde / torchkata grade)")


if __name__ == "__main__":
    main()
