"""torchkata nbgrader: write an nbgrader course directory for the course."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "nbgrader"
HELP = "write an nbgrader course: COURSE_DIR/nbgrader_config.py and source/<chapter>/<chapter>.ipynb"
ORDER = 60


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("course_dir", type=Path, metavar="COURSE_DIR", help="the nbgrader course directory")
    parser.add_argument("--chapter", action="append", help="only this chapter (repeatable; default: all)")
    parser.add_argument(
        "--force", action="store_true", help="overwrite files that differ from the generated ones"
    )


def run(args: argparse.Namespace) -> int:
    from torchkata.course.project import Project
    from torchkata.exports.nbgrader.course import write_course
    from torchkata.grading.grade import select_chapters

    project = Project.find()
    chapters = select_chapters(project, args.chapter)
    written = write_course(project, args.course_dir, chapters, force=args.force)
    for item in written:
        print(f"{item.status}: {item.path}")
    first = chapters[0].slug if chapters else "CHAPTER"
    print(
        f"\nNext, in {args.course_dir}:\n"
        f"  nbgrader generate_assignment {first} --force   # the student version, in release/\n"
        f"  nbgrader autograde {first} --force             # grade submitted/<student>/{first}/\n"
        "  nbgrader export                                 # grades.csv\n"
        "Grading runs the hidden graders of this repository: grade on a machine where it is installed."
    )
    return 0
