"""torchkata release: write the student template repository for GitHub Classroom."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "release"
HELP = "write the student release (starter, exercises, public checks, Classroom workflow) to OUT_DIR"
ORDER = 70


def positive_minutes(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of minutes of at least 1, got {text}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from torchkata.exports.classroom.workflow import CPU_TORCH_INDEX, STEP_TIMEOUT_MINUTES

    parser.add_argument("out_dir", type=Path, metavar="OUT_DIR", help="a new or empty folder")
    parser.add_argument("--chapter", action="append", help="release only this chapter (repeatable; default: all)")
    parser.add_argument(
        "--hidden-graders-repo", metavar="OWNER/NAME",
        help="grade in Classroom with the hidden graders of this private repository (their test_<slug>.py files "
        "at its top level), checked out with the GRADERS_TOKEN secret; without it the public checks grade",
    )
    parser.add_argument("--torch-index", default=CPU_TORCH_INDEX, metavar="URL",
                        help="extra wheel index for torch in the workflow's install (default: %(default)s; "
                        "'' for none)")
    parser.add_argument("--step-timeout", type=positive_minutes, default=STEP_TIMEOUT_MINUTES, metavar="MINUTES",
                        help="time limit of the Classroom step that grades every chapter (default: %(default)s)")


def run(args: argparse.Namespace) -> int:
    from torchkata.course.project import Project
    from torchkata.exports.release import ReleaseOptions, build_release

    options = ReleaseOptions(
        chapters=args.chapter,
        hidden_graders_repo=args.hidden_graders_repo,
        torch_index=args.torch_index or None,
        step_timeout_minutes=args.step_timeout,
    )
    release = build_release(Project.find(), args.out_dir, options)
    total = sum(release.points.values())
    graders = f"public checks and the hidden graders of {args.hidden_graders_repo}" if args.hidden_graders_repo \
        else "public checks"
    print(f"wrote {release.path}: {release.files} files, {len(release.chapters)} chapters, {total:g} points")
    print(f"Classroom grades every chapter in one step with the {graders}, each check worth its points; "
          "no solution or hidden grader was written.")
    print(f"Next: push {release.path} to a new GitHub repository and mark it as a template for the assignment.")
    return 0
