"""torchkata grade: grade a directory of chapter modules with every grader."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "grade"
HELP = "grade a directory of chapter modules (default: starter/) and print the points table"
ORDER = 10


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("directory", nargs="?", default="starter", help="holds <slug>.py files")
    parser.add_argument("--chapter", action="append", help="grade only this chapter (repeatable)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the result as JSON")


def run(args: argparse.Namespace) -> int:
    from torchkata.grade import grade_in_process
    from torchkata.project import Project
    from torchkata.reports import print_report, write_json

    project = Project.find()
    impl_dir = project.resolve_impl(args.directory)
    if not impl_dir.is_dir():
        raise FileNotFoundError(f"{args.directory} is not a directory of chapter modules")
    result = grade_in_process(impl_dir, args.chapter, project)
    print_report(result, Path(args.directory))
    if args.json:
        write_json(result, args.json)
    return 0
