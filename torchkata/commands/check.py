"""torchkata check: run the checks of one chapter or kata and say what to do next."""

from __future__ import annotations

import argparse

NAME = "check"
HELP = "run the public checks of a chapter or kata (default: every chapter); exit 0 only when all pass"
ORDER = 2


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """--impl and --hidden, shared by check, watch, list and progress."""
    parser.add_argument(
        "--impl", default="starter", metavar="DIR",
        help="directory holding your <chapter>.py files (default: %(default)s)",
    )
    parser.add_argument(
        "--hidden", action="store_true",
        help="add the hidden checks too (instructor repository only: needs graders/hidden)",
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "target", nargs="?", metavar="CHAPTER|KATA",
        help="a chapter (modules, 3, 03_modules), a kata (MLP) or chapter/kata (layers/Swish)",
    )
    add_common_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from torchkata.catalog import load_chapters
    from torchkata.project import Project
    from torchkata.student import check_visibility, impl_directory, next_kata, resolve_target
    from torchkata.student_checks import run_checks
    from torchkata.student_view import console_for_output, next_text, print_statuses, summary

    project = Project.find()
    chapters = load_chapters(project)
    target = resolve_target(args.target, chapters)
    visibility = check_visibility(project, args.hidden)
    impl_dir = impl_directory(project, args.impl)
    statuses = run_checks(project, impl_dir, target.chapters, visibility, target.kata_names)
    console = console_for_output()
    print_statuses(console, statuses, target.chapters, impl_dir, visibility)
    console.print(summary(statuses, visibility))
    upcoming = next_kata(statuses)
    if upcoming is None and target.kata is not None:
        console.print(f"{target.kata.name} passes. `torchkata list` shows what is left.", style="green")
    else:
        console.print(next_text(upcoming, impl_dir))
    return 0 if statuses and upcoming is None else 1
