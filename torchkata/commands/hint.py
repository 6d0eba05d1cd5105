"""torchkata hint: the next hint of a kata, one more each time it is asked."""

from __future__ import annotations

import argparse

NAME = "hint"
HELP = "show the next hint for a kata (each call reveals one more; --reset starts over)"
ORDER = 4


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("kata", metavar="KATA", help="a kata name (MLP) or chapter/kata (layers/Swish)")
    parser.add_argument("--reset", action="store_true", help="forget which hints of this kata were shown")


def run(args: argparse.Namespace) -> int:
    from torchkata.course.catalog import load_chapters
    from torchkata.course.project import Project
    from torchkata.student.hints import reveal_hint
    from torchkata.student.katas import resolve_target
    from torchkata.student.view import console_for_output

    project = Project.find()
    target = resolve_target(args.kata, load_chapters(project))
    if target.kata is None:
        chapter = target.chapters[0]
        names = ", ".join(kata.name for kata in chapter.katas)
        raise KeyError(f"{args.kata!r} is a chapter; ask for a hint on one of its katas: {names}")
    console_for_output().print(reveal_hint(project, target.kata, reset=args.reset))
    return 0
