"""torchkata list: every chapter and kata with its state, points and progress bar, and the next kata."""

from __future__ import annotations

import argparse

from torchkata.commands.check import INTERRUPTED, add_common_arguments, chosen_limits

NAME = "list"
HELP = "chapters and katas with their state and points, progress bars, and the next kata to do"
ORDER = 5


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser)


def show_progress(args: argparse.Namespace, with_katas: bool) -> int:
    """Shared by list and progress: recorded results where current, fresh checks for the rest."""
    from rich.console import Console

    from torchkata.course.catalog import load_chapters
    from torchkata.course.project import Project
    from torchkata.student.checks import current_statuses
    from torchkata.student.katas import check_visibility, impl_directory, next_kata
    from torchkata.student.view import console_for_output, progress_view

    project = Project.find()
    chapters = load_chapters(project)
    visibility = check_visibility(project, args.hidden)
    impl_dir = impl_directory(project, args.impl)
    status_line = Console(stderr=True)
    try:
        with status_line.status("checking...") as spinner:
            statuses = current_statuses(
                project, impl_dir, chapters, visibility,
                on_check=lambda chapter: spinner.update(f"checking {chapter.slug}..."), limits=chosen_limits(args),
            )
    except KeyboardInterrupt:
        status_line.print("Interrupted (Ctrl-C): the checks were stopped before they finished.", style="yellow")
        return INTERRUPTED
    console_for_output().print(
        progress_view(statuses, chapters, with_katas, next_kata(statuses), impl_dir, visibility)
    )
    return 0


def run(args: argparse.Namespace) -> int:
    return show_progress(args, with_katas=True)
