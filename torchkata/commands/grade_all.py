"""torchkata grade-all: grade every submission of a class, in parallel, into one CSV."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from torchkata.commands.grade import add_limit_arguments, limits_from

NAME = "grade-all"
HELP = "grade each subfolder of SUBMISSIONS_DIR as one submission; write a CSV of points"
ORDER = 11
TOP_FAILURES = 10


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("submissions", type=Path, metavar="SUBMISSIONS_DIR", help="one subfolder per submission")
    parser.add_argument("--csv", type=Path, metavar="FILE", default=Path("grades.csv"),
                        help="where to write the points (default: %(default)s)")
    parser.add_argument("--chapter", action="append", help="grade only this chapter (repeatable)")
    parser.add_argument("--json-dir", type=Path, metavar="DIR", help="also write <submission>.json results here")
    add_limit_arguments(parser)


def submission_dirs(root: Path) -> dict[str, Path]:
    """Subfolders of ``root`` by name, hidden ones skipped."""
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a directory of submissions")
    found = {path.name: path for path in sorted(root.iterdir()) if path.is_dir() and not path.name.startswith(".")}
    if not found:
        raise ValueError(f"{root} holds no submission folders")
    return found


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    from torchkata.course.project import Project
    from torchkata.course.submission import REPOSITORY_FOLDER, chapter_folder
    from torchkata.exports.gradebook import failure_rates, write_csv
    from torchkata.grading.grade import select_chapters
    from torchkata.grading.reports import write_json
    from torchkata.sandbox.isolated import GradingError, grade_submissions

    project = Project.find()
    chapters = select_chapters(project, args.chapter)
    given = submission_dirs(args.submissions)
    dirs = {name: chapter_folder(path, [chapter.slug for chapter in chapters]) for name, path in given.items()}
    console = Console()
    in_starter = sorted(name for name, path in dirs.items() if path != given[name])
    if in_starter:
        console.print(f"{len(in_starter)} of {len(dirs)} submissions keep their chapter files in "
                      f"{REPOSITORY_FOLDER}/ (graded from there): {', '.join(in_starter)}", highlight=False,
                      soft_wrap=True)
    try:
        with Progress(console=console, transient=True) as progress:
            bar = progress.add_task("grading", total=len(dirs) * len(chapters))
            results = grade_submissions(
                dirs, args.chapter, project, limits_from(args), args.jobs,
                on_chapter=lambda name, slug: progress.advance(bar),
            )
    except GradingError as error:
        print(f"torchkata grade-all: {error}", file=sys.stderr)
        return 2
    write_csv(results, args.csv)
    if args.json_dir:
        args.json_dir.mkdir(parents=True, exist_ok=True)
        for name, result in results.items():
            write_json(result, args.json_dir / f"{name}.json")
    grades = Table(title=f"{len(results)} submissions")
    for column in ("submission", "points", "flags", "review"):
        grades.add_column(column)
    for name, result in results.items():
        flags = ", ".join(f"{slug}: {', '.join(c.flags)}" for slug, c in result.chapters.items() if c.flags)
        found = result.review_lines()
        grades.add_row(name, f"{result.points:g} / {result.max_points:g}", flags,
                       f"{len(found)} findings" if found else "")
    console.print(grades)
    flagged = [name for name, result in results.items() if result.review_lines()]
    if flagged:
        console.print(f"The static review found constructs that reach for the grader in {len(flagged)} submissions "
                      f"({', '.join(flagged)}): see the review column of {args.csv}.", highlight=False, soft_wrap=True)
    rates = [rate for rate in failure_rates(results) if rate.failed][:TOP_FAILURES]
    if rates:
        worst = Table(title="checks that fail most often")
        for column in ("failed", "chapter", "kata", "check"):
            worst.add_column(column)
        for rate in rates:
            worst.add_row(f"{rate.failed}/{rate.graded} ({rate.rate:.0%})", rate.chapter, rate.kata, rate.test)
        console.print(worst)
    console.print(f"wrote {args.csv}", highlight=False)
    return 0
