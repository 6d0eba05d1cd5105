"""Rendering a GradeResult: the terminal table and the JSON file."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from torchkata.course.locate import todo_location
from torchkata.grading.results import GradeResult, KataResult, layers_text, not_applicable_text


def _points(value: float) -> str:
    return f"{value:g}"


def kata_status(kata: KataResult) -> str:
    if kata.points == kata.max_points:
        return "[green]done[/]"
    if kata.not_started:
        return "[dim]not started[/]"
    return f"[red]failing[/] ({len(kata.failed)} of {len(kata.failed) + len(kata.passed)} checks)"


def table(result: GradeResult, title: str = "torchkata grade") -> Table:
    """One row per kata, a subtotal per chapter, the total in the caption."""
    grid = Table(title=title, caption=f"total {_points(result.points)} / {_points(result.max_points)}")
    grid.add_column("chapter")
    grid.add_column("kata")
    grid.add_column("points", justify="right")
    grid.add_column("status")
    for slug, chapter in result.chapters.items():
        first = True
        for kata in chapter.katas.values():
            points = 0.0 if chapter.flags.get("tampered") else kata.points
            grid.add_row(
                slug if first else "",
                kata.name,
                f"{_points(points)} / {_points(kata.max_points)}",
                kata_status(kata),
            )
            first = False
        flags = ", ".join(f"{k}: {v}" if v is not True else k for k, v in chapter.flags.items())
        grid.add_row(
            "" if not first else slug,
            "[bold]chapter[/]",
            f"[bold]{_points(chapter.points)} / {_points(chapter.max_points)}[/]",
            f"[red]{escape(flags)}[/]" if flags else "",
            end_section=True,
        )
    return grid


def next_todo(result: GradeResult, impl_dir: Path) -> str | None:
    """A line naming the first kata still short of full points and where to edit it."""
    for slug, chapter in result.chapters.items():
        for kata in chapter.katas.values():
            if kata.points < kata.max_points or chapter.flags:
                path = impl_dir / f"{slug}.py"
                found = todo_location(path, kata.name)
                where = f"{path}:{found[0]}" if found else str(path)
                hint = f" TODO: {found[1]}" if found and found[1] else ""
                message = kata.failed[0]["message"].splitlines()[0] if kata.failed else ""
                return f"Next: {kata.name} in {where}.{hint}" + (
                    f"\n  first failure: {message}" if message else ""
                )
    return None


def print_report(result: GradeResult, impl_dir: Path, console: Console | None = None) -> None:
    console = console or Console()
    console.print(table(result, title=f"torchkata grade {impl_dir}"))
    for slug, chapter in result.chapters.items():
        for name, reason in chapter.flags.items():
            label = name.upper().replace("_", " ")
            console.print(f"[bold red]{label}[/] {slug}: ", end="")
            console.print(str(reason), highlight=False, markup=False)
    for line in result.review_lines():
        console.print("[bold yellow]REVIEW[/] ", end="")
        console.print(line, highlight=False, markup=False)
    skipped = not_applicable_text(result.not_applicable())
    if skipped:
        console.print(skipped, highlight=False, markup=False)
    console.print(layers_text(result.layers), highlight=False, markup=False, style="dim")
    todo = next_todo(result, impl_dir)
    if todo:
        console.print(todo, highlight=False, markup=False)
    else:
        console.print("[green]Every kata passes.[/]")


def write_json(result: GradeResult, path: Path) -> None:
    path.write_text(json.dumps(result.to_dict(), indent=2) + "\n", encoding="utf-8")
