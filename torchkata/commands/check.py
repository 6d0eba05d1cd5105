"""torchkata check: run the public checks of chapters or katas and say what to do next."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torchkata.student.checkrun import CheckLimits

NAME = "check"
HELP = "run the public checks of chapters or katas (default: every chapter); exit 0 only when all pass"
ORDER = 2
INTERRUPTED = 130  # the shell's status for a command stopped by Ctrl-C


def non_negative(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected 0 (no limit) or a positive number, got {text}")
    return value


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """--impl, --hidden and the limits of one check, shared by check, watch, list and progress."""
    parser.add_argument(
        "--impl", default="starter", metavar="DIR",
        help="directory holding your <chapter>.py files (default: %(default)s)",
    )
    parser.add_argument(
        "--hidden", action="store_true",
        help="add the hidden checks too (instructor repository only: needs graders/hidden)",
    )
    parser.add_argument(
        "--test-timeout", type=non_negative, default=None, metavar="SECONDS",
        help="stop a check that runs longer, an endless loop say (default: $TORCHKATA_TEST_TIMEOUT, else 10; 0: none)",
    )
    parser.add_argument(
        "--test-memory", type=non_negative, default=None, metavar="MIB",
        help="memory your code may allocate while checked (default: $TORCHKATA_TEST_MEMORY, else 2048; 0: none)",
    )


def chosen_limits(args: argparse.Namespace) -> CheckLimits:
    """The limits of one check: the options, else the environment, else the defaults."""
    from torchkata.student.checkrun import CheckLimits

    memory = None if args.test_memory is None else int(args.test_memory)
    return CheckLimits.chosen(args.test_timeout, memory)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "targets", nargs="*", metavar="CHAPTER|KATA",
        help="chapters (modules, 3, 03_modules), katas (MLP) or chapter/kata (layers/Swish); several may be given",
    )
    add_common_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from torchkata.course.catalog import load_chapters
    from torchkata.course.project import Project
    from torchkata.student.checks import run_checks
    from torchkata.student.katas import check_visibility, impl_directory, next_kata, resolve_targets
    from torchkata.student.view import console_for_output, next_text, print_statuses, summary

    project = Project.find()
    chapters = load_chapters(project)
    targets = resolve_targets(args.targets, chapters)
    visibility = check_visibility(project, args.hidden)
    impl_dir = impl_directory(project, args.impl)
    console = console_for_output()
    found = {}
    try:
        with Console(stderr=True).status("checking...") as spinner:  # shown on a terminal only
            for target in targets:
                what = target.kata.name if target.kata else ", ".join(chapter.slug for chapter in target.chapters)
                spinner.update(f"checking {what}...")
                for status in run_checks(project, impl_dir, target.chapters, visibility, target.kata_names,
                                         chosen_limits(args)):
                    found[(status.chapter, status.kata)] = status
    except KeyboardInterrupt:
        console.print("Interrupted (Ctrl-C): the check was stopped before it finished.", style="yellow")
        return INTERRUPTED
    shown = [chapter for chapter in chapters if any(chapter in target.chapters for target in targets)]
    statuses = [found[key] for key in ((c.slug, k.name) for c in shown for k in c.katas) if key in found]
    print_statuses(console, statuses, shown, impl_dir, visibility)
    console.print(summary(statuses, visibility))
    upcoming = next_kata(statuses)
    single = targets[0].kata if len(targets) == 1 else None
    if upcoming is None and single is not None:
        which = "every check" if visibility == "all" else "its public checks"
        console.print(f"{single.name} passes {which}. `torchkata list` shows what is left.", style="green")
    else:
        console.print(next_text(upcoming, impl_dir, visibility=visibility))
    return 0 if statuses and upcoming is None else 1
