"""torchkata grade: grade a directory of chapter modules with every grader."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torchkata.course.catalog import Chapter
    from torchkata.grading.results import GradeResult

NAME = "grade"
HELP = "grade a directory of chapter modules (default: starter/) and print the points table"
ORDER = 10


def default_jobs() -> int:
    return max(min(os.cpu_count() or 1, 4), 1)


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text}")
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return value


def add_limit_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared with grade-all: parallel runs and the limits of each sandboxed chapter run."""
    from torchkata.grading.limits import Limits

    defaults = Limits()
    parser.add_argument("-j", "--jobs", type=positive_int, default=default_jobs(),
                        help="chapter runs at a time (default: %(default)s)")
    parser.add_argument("--timeout", type=positive_float, default=defaults.wall_seconds, metavar="SECONDS",
                        help="wall-clock limit of one chapter run (default: %(default)g)")
    parser.add_argument("--test-timeout", type=positive_float, default=defaults.test_seconds, metavar="SECONDS",
                        help="limit of one grader test (default: %(default)g)")
    parser.add_argument("--memory", type=positive_int, default=defaults.memory_mib, metavar="MIB",
                        help="memory one chapter run may add (default: %(default)s MiB)")


def limits_from(args: argparse.Namespace):  # -> Limits (kept light: no import at module level)
    from torchkata.grading.limits import Limits

    return Limits(wall_seconds=args.timeout, test_seconds=args.test_timeout, memory_mib=args.memory)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("directory", nargs="?", default="starter", help="holds <slug>.py files")
    parser.add_argument("--chapter", action="append", help="grade only this chapter (repeatable)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the result as JSON")
    parser.add_argument("--gradescope", type=Path, metavar="FILE", help="also write Gradescope's results.json")
    parser.add_argument(
        "--classroom", action="store_true",
        help="print the check table for a GitHub Classroom step; exit 0 only at full marks",
    )
    parser.add_argument(
        "--classroom-outputs", type=Path, metavar="FILE",
        help="with --classroom: append each chapter's results object for Classroom's grading reporter to FILE "
        "(in a workflow: $GITHUB_OUTPUT), one '<runner>=<base64 JSON>' line per chapter",
    )
    parser.add_argument(
        "--in-process", action="store_true",
        help="grade in this process, without isolation: quicker, for trusted code only",
    )
    add_limit_arguments(parser)


def classroom_step(
    result: GradeResult, chapters: list[Chapter], impl_dir: Path, shown: Path, outputs: Path | None
) -> int:
    """Print the student's table, append the reporter's results objects to ``outputs``; 0 only at full marks."""
    from torchkata.exports.classroom.results import write_outputs
    from torchkata.exports.classroom.step import classroom_report

    if outputs is not None:
        write_outputs(result, chapters, impl_dir, outputs)
    text, status = classroom_report(result, chapters, shown)
    print(text)
    return status


def run(args: argparse.Namespace) -> int:
    from torchkata.course.project import Project
    from torchkata.course.submission import chapter_folder, where_text
    from torchkata.grading.grade import select_chapters
    from torchkata.grading.reports import print_report, write_json

    project = Project.find()
    submission = project.resolve_impl(args.directory)
    if not submission.is_dir():
        raise FileNotFoundError(f"{args.directory} is not a directory of chapter modules")
    impl_dir = chapter_folder(submission, [chapter.slug for chapter in select_chapters(project, args.chapter)])
    if impl_dir != submission:
        print(f"Grading the chapter files in {where_text(Path(args.directory), impl_dir)}.", file=sys.stderr)
    started = time.monotonic()
    if args.in_process:
        from torchkata.grading.grade import grade_in_process

        result = grade_in_process(impl_dir, args.chapter, project)
    else:
        from torchkata.sandbox.isolated import GradingError, grade_isolated

        try:
            result = grade_isolated(impl_dir, args.chapter, project, limits_from(args), args.jobs)
        except GradingError as error:
            print(f"torchkata grade: {error}", file=sys.stderr)
            return 2
    elapsed = time.monotonic() - started
    if args.json:
        write_json(result, args.json)
    if args.gradescope:
        from torchkata.exports.gradescope.results_json import write_gradescope

        write_gradescope(result, args.gradescope, elapsed)
    shown = impl_dir if impl_dir != submission else Path(args.directory)
    if args.classroom or args.classroom_outputs:
        return classroom_step(result, select_chapters(project, args.chapter), impl_dir, shown, args.classroom_outputs)
    print_report(result, shown)
    return 0
