"""torchkata watch: re-check the kata being edited each time a chapter file is saved."""

from __future__ import annotations

import argparse

from torchkata.commands.check import add_common_arguments

NAME = "watch"
HELP = "re-check the kata you are editing on every save of a file in starter/ (Ctrl-C stops)"
ORDER = 3


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text}")
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "target", nargs="?", metavar="CHAPTER|KATA",
        help="stay on this kata, or start with this chapter (default: the first chapter not finished)",
    )
    add_common_arguments(parser)
    parser.add_argument("--max-runs", type=positive_int, metavar="N", help="stop after N re-checks")
    parser.add_argument(
        "--timeout", type=positive_float, metavar="SECONDS",
        help="stop after this many seconds of watching (exit 1 if --max-runs was not reached by then)",
    )


def run(args: argparse.Namespace) -> int:
    import os
    import sys

    from torchkata.commands.check import chosen_limits
    from torchkata.course.catalog import load_chapters
    from torchkata.course.project import Project
    from torchkata.student.checkrun import warm
    from torchkata.student.katas import check_visibility, impl_directory, resolve_target
    from torchkata.student.view import console_for_output
    from torchkata.student.watcher import WatchSession, start_chapter
    from torchkata.student.watchloop import run_watch

    # Same-second saves of same-sized files would otherwise match a stale .pyc and re-check old code.
    sys.dont_write_bytecode = True
    project = Project.find()
    chapters = load_chapters(project)
    target = resolve_target(args.target, chapters) if args.target else None
    session = WatchSession(
        project, impl_directory(project, args.impl), chapters, check_visibility(project, args.hidden),
        console_for_output(), kata=target.kata if target else None, limits=chosen_limits(args),
    )
    named = target.chapters[0] if target and len(target.chapters) == 1 else None
    first = start_chapter(session, named)
    what = target.kata.name if target and target.kata else f"chapter {first.slug}"
    try:
        session.console.print(f"Checking {what} (torch and the checks load once, then each save re-checks)...",
                              style="dim")
        warm(project, session.impl_dir, [first], session.visibility)
        status = run_watch(session, first, args.max_runs, args.timeout)
        if not session.interrupted:
            return status
    except KeyboardInterrupt:  # Ctrl-C before the watch installed its own handler
        session.console.print("Stopped watching.")
    # Stopped by Ctrl-C. CPython 3.11 marks a KeyboardInterrupt that hit code run by exec() (dataclass
    # creation while torch imports) as unhandled even once caught, and would end the process with
    # SIGINT's status instead of 0; nothing is left to clean up, so leave directly.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
