"""torchkata build: regenerate starter/ from solutions/."""

from __future__ import annotations

import argparse

NAME = "build"
HELP = "regenerate starter/ from solutions/ (--check: fail if starter/ is stale)"
ORDER = 80


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("chapters", nargs="*", metavar="SLUG", help="only these chapters (default: all)")
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 naming each stale starter file"
    )


def run(args: argparse.Namespace) -> int:
    from torchkata.project import Project
    from torchkata.source import build

    project = Project.find()
    changed = build(project.solutions, project.starter, check=args.check, only=args.chapters or None)
    for path in changed:
        relative = path.relative_to(project.root)
        print(f"{'stale' if args.check else 'wrote'}: {relative}")
    if args.check and changed:
        print("starter/ is out of date with solutions/: run `torchkata build`.")
        return 1
    if not changed:
        print("starter/ is up to date.")
    return 0
