"""Revealing a kata's hints from kata.toml one at a time, remembering how many were shown.

Hints come from the catalogue and the TODO in the student's own starter file only: nothing here
reads solutions/, so a student release (which has none) behaves the same.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text

from torchkata.course.catalog import Kata
from torchkata.course.locate import todo_location
from torchkata.course.project import Project
from torchkata.student.katas import shown_path
from torchkata.student.state import state_path, update_state


def hint_key(kata: Kata) -> str:
    return f"{kata.chapter}/{kata.name}"


def next_hint_count(state: dict[str, Any], kata: Kata) -> int:
    """How many hints to show now: one more than last time, at most all of them."""
    shown = state.get("hints", {}).get(hint_key(kata), 0)
    shown = shown if isinstance(shown, int) and shown >= 0 else 0
    return min(shown + 1, len(kata.hints))


def reveal_hint(project: Project, kata: Kata, reset: bool = False) -> Text:
    """Record one more shown hint of ``kata`` and return the text to print."""
    count = 0

    def change(state: dict[str, Any]) -> None:
        nonlocal count
        hints = state.setdefault("hints", {})
        if reset:
            hints.pop(hint_key(kata), None)
        count = next_hint_count(state, kata)
        hints[hint_key(kata)] = count

    update_state(state_path(project.root), change)
    return hint_text(project, kata, count)


def hint_text(project: Project, kata: Kata, count: int) -> Text:
    """The kata's title, the hints shown so far (the newest last), where to edit, and what comes next."""
    text = Text(f"{kata.name}", style="bold")
    text.append(f" ({kata.chapter}): {kata.title}")
    starter = project.starter / f"{kata.chapter}.py"
    found = todo_location(starter, kata.name) if starter.is_file() else None
    if found:
        text.append(f"\nedit {shown_path(starter)}:{found[0]}", style="dim")
    total = len(kata.hints)
    if total == 0:
        text.append("\nThis kata has no hints; the TODO in the file says what to build.")
        return text
    for number in range(1, count):
        text.append(f"\n  hint {number}/{total}: {kata.hints[number - 1]}", style="dim")
    text.append(f"\nhint {count}/{total}: ", style="bold")
    text.append(kata.hints[count - 1])
    if count < total:
        text.append(f"\nAsk again (torchkata hint {kata.name}) for the next one.", style="dim")
    else:
        text.append(
            f"\nThat was the last hint. `torchkata hint {kata.name} --reset` starts over; "
            f"`torchkata check {kata.name}` shows what the checks say.",
            style="dim",
        )
    return text
