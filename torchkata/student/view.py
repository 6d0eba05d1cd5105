"""What the student loop prints: kata lines for check and watch, the list table, the progress bars.

Plain lines rather than tables where messages are long, so output stays readable when it is
captured or piped (no wrapping in the middle of a shape, no colour codes).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.measure import Measurement
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from torchkata.course.catalog import Chapter
from torchkata.student.katas import (
    DONE,
    FAILING,
    NO_CHECKS,
    NOT_STARTED,
    KataStatus,
    edit_location,
    readable_message,
    state_label,
)
from torchkata.student.katas import shown_path as _shown

STYLES = {DONE: "green", FAILING: "red", NOT_STARTED: "yellow", NO_CHECKS: "magenta"}
STATE_WIDTH = max(len(state_label(state, "public")) for state in STYLES)
BAR_WIDTH = 24


def console_for_output() -> Console:
    """A console that does not wrap long lines when the output is not a terminal."""
    return Console(highlight=False, soft_wrap=True)


def points_text(points: float, max_points: float) -> str:
    return f"{points:g}/{max_points:g}"


def visibility_text(visibility: str) -> str:
    return "public and hidden checks" if visibility == "all" else "public checks"


def full_total(statuses: list[KataStatus]) -> float | None:
    """The katas' points with the hidden checks, when every one of them is known."""
    if not statuses or any(status.full_points <= 0 for status in statuses):
        return None
    return sum(status.full_points for status in statuses)


def hidden_note(statuses: list[KataStatus], visibility: str) -> str:
    """What the public points leave out: ``; 58 points in all with the hidden checks (your instructor runs them)``."""
    if visibility == "all":
        return ""
    full = full_total(statuses)
    if full is None:
        return "; the hidden checks, which your instructor runs, add points of their own"
    if full <= sum(status.max_points for status in statuses):
        return ""
    return f"; {full:g} points in all with the hidden checks, which your instructor runs"


def _where(impl_file: Path, status: KataStatus) -> tuple[str, str]:
    """(file:line, TODO text) for a kata that is not done."""
    found = edit_location(impl_file, status)
    if found is None:
        return _shown(impl_file), ""
    return f"{_shown(impl_file)}:{found[0]}", found[1]


def kata_lines(status: KataStatus, impl_dir: Path, name_width: int = 16, visibility: str = "public") -> Text:
    """One kata: its state, name, points (``of N``: with the hidden checks) and where to edit; then its first
    failure's message when failing.

    A kata not started gets no message (the NotImplementedError is the stub's, not a mistake).
    """
    impl_file = impl_dir / f"{status.chapter}.py"
    line = Text("  ")
    line.append(state_label(status.state, visibility).ljust(STATE_WIDTH), style=STYLES[status.state])
    line.append(f"  {status.kata.ljust(name_width)}  {points_text(status.points, status.max_points).rjust(7)}")
    if visibility == "public" and status.full_points > status.max_points:
        line.append(f" of {status.full_points:g}", style="dim")
    if status.done:
        return line
    if status.state == NO_CHECKS:
        line.append("  no check of this kata ran here, so it cannot count as passing")
        return line
    if status.import_error:
        line.append("  (the file does not import: see above)", style="dim")
        return line
    line.append(f"  {_where(impl_file, status)[0]}")
    if status.state == NOT_STARTED:
        return line
    if status.checks:
        line.append(f"  ({status.failed_checks} of {status.checks} checks fail)", style="dim")
    for text in readable_message(status.message, impl_file).splitlines():
        line.append(f"\n      {text}")
    return line


def import_error_block(statuses: list[KataStatus], impl_file: Path) -> Text | None:
    """The chapter file's import error, once, when it stops the chapter's checks."""
    broken = [status for status in statuses if status.import_error]
    if not broken:
        return None
    text = Text("  ")
    text.append(f"{_shown(impl_file)} does not import, so its checks cannot run:", style="bold red")
    detail = readable_message(broken[0].message, impl_file).partition("failed: ")[2]
    for line in detail.splitlines():
        text.append(f"\n      {line}")
    return text


def print_statuses(
    console: Console, statuses: list[KataStatus], chapters: Iterable[Chapter], impl_dir: Path, visibility: str
) -> None:
    """Check's report: per chapter a heading, the import error if any, then one entry per kata."""
    width = max((len(status.kata) for status in statuses), default=8)
    for chapter in chapters:
        mine = [status for status in statuses if status.chapter == chapter.slug]
        if not mine:
            continue
        impl_file = impl_dir / chapter.module_name
        heading = Text(f"{chapter.number:02d} {chapter.slug}", style="bold")
        heading.append(f"  {_shown(impl_file)}  ({visibility_text(visibility)}{hidden_note(mine, visibility)})",
                       style="dim")
        console.print(heading)
        block = import_error_block(mine, impl_file)
        if block:
            console.print(block)
        for status in mine:
            console.print(kata_lines(status, impl_dir, width, visibility))


def passed_text(done: int, count: int, visibility: str) -> str:
    """``3 of 8 katas pass their public checks``."""
    if count == 1:
        return f"{done} of 1 kata passes {'all its checks' if visibility == 'all' else 'its public checks'}"
    return f"{done} of {count} katas pass {'all their checks' if visibility == 'all' else 'their public checks'}"


def summary(statuses: list[KataStatus], visibility: str) -> str:
    done = sum(status.done for status in statuses)
    points = sum(status.points for status in statuses)
    max_points = sum(status.max_points for status in statuses)
    scored = points_text(points, max_points)
    which = "points" if visibility == "all" else "public points"
    return f"{passed_text(done, len(statuses), visibility)}: {scored} {which}{hidden_note(statuses, visibility)}."


def next_text(
    status: KataStatus | None, impl_dir: Path, suggestion: bool = False, visibility: str = "public"
) -> Text:
    """The next kata to work on and where; ``suggestion`` words it as advice, not as a move."""
    if status is None:
        which = "every check" if visibility == "all" else "its public checks (the hidden checks may find more)"
        return Text(f"Every kata here passes {which}.", style="green")
    where, todo = _where(impl_dir / f"{status.chapter}.py", status)
    text = Text("Suggested next: " if suggestion else "Next: ", style="bold")
    text.append(f"{status.kata} ({status.chapter}) in {where}")
    if todo:
        text.append(f"\n  TODO: {todo}", style="dim")
    text.append(f"\n  stuck? torchkata hint {status.kata}", style="dim")
    return text


class Bar:
    """A progress bar: rich's on a terminal, ``#####-----`` where colours are off (pipes, files, tests)."""

    def __init__(self, points: float, max_points: float) -> None:
        self.fraction = points / max_points if max_points else 0.0

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        percent = f" {self.fraction:4.0%}"
        if console.color_system is not None:
            row = Table.grid()
            row.add_row(ProgressBar(total=1.0, completed=self.fraction, width=BAR_WIDTH), percent)
            yield row
            return
        filled = round(self.fraction * BAR_WIDTH)
        yield Text("#" * filled + "-" * (BAR_WIDTH - filled) + percent)

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement(BAR_WIDTH + 5, BAR_WIDTH + 5)


def _total_text(statuses: list[KataStatus]) -> str:
    full = full_total(statuses)
    return "?" if full is None else f"{full:g}"


def progress_table(
    statuses: list[KataStatus], chapters: list[Chapter], with_katas: bool, visibility: str = "public"
) -> Table:
    """One row per chapter with its progress bar (and per kata with ``with_katas``), then the course overall.

    With the public checks only, a last column gives the points with the hidden checks where they are known.
    """
    with_full = visibility == "public" and any(status.full_points > 0 for status in statuses)
    table = Table(box=None, pad_edge=False, show_header=True, header_style="bold")
    table.add_column("chapter")
    table.add_column("progress")
    table.add_column("katas", justify="right")
    table.add_column("public points" if visibility == "public" else "points", justify="right")
    if with_full:
        table.add_column("in all", justify="right")

    def row(name: Text | str, bar: Text | Bar, katas: str, mine: list[KataStatus]) -> None:
        cells = [name, bar, katas, points_text(sum(s.points for s in mine), sum(s.max_points for s in mine))]
        table.add_row(*cells, *([_total_text(mine)] if with_full else []))

    for chapter in chapters:
        mine = [status for status in statuses if status.chapter == chapter.slug]
        points = sum(status.points for status in mine)
        max_points = sum(status.max_points for status in mine)
        done = sum(status.done for status in mine)
        row(Text(f"{chapter.number:02d} {chapter.slug}", style="bold"), Bar(points, max_points),
            f"{done}/{len(mine)}", mine)
        if with_katas:
            for status in mine:
                state = Text(state_label(status.state, visibility), style=STYLES[status.state])
                row(f"   {status.kata}", state, "", [status])
    points = sum(status.points for status in statuses)
    max_points = sum(status.max_points for status in statuses)
    done = sum(status.done for status in statuses)
    table.add_section()
    row(Text("overall", style="bold"), Bar(points, max_points), f"{done}/{len(statuses)}", statuses)
    return table


def progress_view(
    statuses: list[KataStatus], chapters: list[Chapter], with_katas: bool, next_status: KataStatus | None,
    impl_dir: Path, visibility: str,
) -> RenderableType:
    if visibility == "all":
        caption = "katas: how many pass every check; points: of the public and hidden checks"
    else:
        caption = ("katas: how many pass their public checks; public points: what the public checks award"
                   + ("; in all: the points with the hidden checks, which your instructor runs"
                      if any(status.full_points > 0 for status in statuses)
                      else "; the hidden checks, which your instructor runs, add points of their own"))
    table = progress_table(statuses, chapters, with_katas, visibility)
    return Group(table, Text(caption, style="dim"), next_text(next_status, impl_dir, visibility=visibility))
