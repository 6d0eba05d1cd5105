"""The code a notebook ran, as the module ``<slug>.py`` that the graders import.

Cells go in the order they ran, each inside ``try``: a cell that raises when the module
is imported is skipped and reported (the notebook, too, ran on after a failing cell),
so one stray cell cannot take every kata down. Lines that continue a multi-line string
keep their indentation, so strings keep their value. ``display``, a notebook built-in,
is defined as a no-op. Line numbers map back to ``In[n]`` for messages.
"""

from __future__ import annotations

import io
import os
import re
import tokenize
from dataclasses import dataclass

REPLAY_LOG_ENV = "TORCHKATA_REPLAY_LOG"


@dataclass(frozen=True)
class Cell:
    """The code of one cell that ran, and its execution count (``In[n]``)."""

    number: int
    code: str


def _inside_strings(code: str) -> set[int]:
    """1-based lines that continue a multi-line string: indenting them would change the string."""
    rows: set[int] = set()
    try:
        for token in tokenize.generate_tokens(io.StringIO(code).readline):
            rows.update(range(token.start[0] + 1, token.end[0] + 1))
    except (tokenize.TokenError, SyntaxError):
        pass
    return rows


def _guarded(cell: Cell) -> list[str]:
    """A cell's lines inside ``try``: a cell that fails when the module runs is left out, as the notebook
    ran on after a failing cell. A ``from __future__`` import must stay at the top level."""
    lines = cell.code.rstrip("\n").splitlines()
    if "from __future__" in cell.code:
        return lines
    keep = _inside_strings(cell.code)
    body = [line if number in keep or not line.strip() else f"    {line}" for number, line in enumerate(lines, 1)]
    return [
        "try:", *body, "    pass",
        "except Exception as _torchkata_error:",
        f"    __import__('{__name__}', fromlist=['_']).replay_failed({cell.number}, _torchkata_error)",
    ]


def replay_failed(number: int, error: Exception) -> None:
    """Called by the graded module when cell ``In[number]`` raised; the grading process reports it."""
    log = os.environ.get(REPLAY_LOG_ENV)
    if log:
        with open(log, "a", encoding="utf-8") as handle:
            text = f"In[{number}] raised {type(error).__name__}: {error} when the graded code ran; it was skipped"
            handle.write(text.replace("\n", " ") + "\n")


def assemble(slug: str, cells: list[Cell]) -> tuple[str, list[tuple[int, int]]]:
    """The module text made of ``cells`` in order, and (first line, In number) of each cell in it."""
    lines = [
        f"# {slug}.py: the notebook's code cells, in the order they ran",
        "def display(*objects, **options):  # a notebook built-in; graded code shows nothing",
        "    return None",
        "",
    ]
    starts: list[tuple[int, int]] = []
    for cell in cells:
        lines.append(f"# In[{cell.number}]")
        guarded = _guarded(cell)
        starts.append((len(lines) + 1 + (guarded[:1] == ["try:"]), cell.number))
        lines.extend(guarded)
        lines.append("")
    return "\n".join(lines) + "\n", starts


def cell_locations(message: str, slug: str, starts: list[tuple[int, int]]) -> str:
    """``.../<slug>.py:57`` in a message, as ``In[9] line 3``."""

    def where(match: re.Match[str]) -> str:
        line = int(match["line"])
        before = [(first, number) for first, number in starts if first <= line]
        if not before:
            return match[0]
        first, number = before[-1]
        return f"In[{number}] line {line - first + 1}"

    return re.sub(rf"(?:[^\s()'\"]*/)?{re.escape(slug)}\.py:(?P<line>\d+)", where, message)
