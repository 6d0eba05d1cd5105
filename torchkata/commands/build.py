"""torchkata build: regenerate starter/ from solutions/, and the hidden graders' recorded cases."""

from __future__ import annotations

import argparse

NAME = "build"
HELP = "regenerate starter/ and the recorded cases from solutions/ (--check: fail if either is stale)"
ORDER = 80


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("chapters", nargs="*", metavar="SLUG", help="only these chapters (default: all)")
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 naming each stale starter file or casebook"
    )


def run(args: argparse.Namespace) -> int:
    from torchkata.course.project import Project
    from torchkata.course.source import build

    project = Project.find()
    changed = build(project.solutions, project.starter, check=args.check, only=args.chapters or None)
    for path in changed:
        relative = path.relative_to(project.root)
        print(f"{'stale' if args.check else 'wrote'}: {relative}")
    stale_books = _casebooks(project, args.chapters, args.check)
    if args.check and (changed or stale_books):
        print("starter/ or the recorded cases are out of date with solutions/ and graders/: run `torchkata build`.")
        return 1
    if not changed:
        print("starter/ is up to date.")
    return 0


def _casebooks(project, chapters: list[str], check: bool) -> list[str]:
    """Rebuild (or, checking, name) each stale casebook of the hidden graders."""
    from torchkata.course.catalog import load_chapters
    from torchkata.grading.casebook import build_casebook, is_stale

    slugs = [chapter.slug for chapter in load_chapters(project) if not chapters or chapter.slug in chapters]
    stale = [slug for slug in slugs if is_stale(project, slug)]
    for slug in stale:
        if check:
            print(f"stale: graders/hidden/cases_{slug}.pt")
        else:
            path = build_casebook(project, slug)
            if path is not None:
                print(f"wrote: {path.relative_to(project.root)}")
    return stale
