"""A solution module cut into notebook cells: one setup cell and one answer cell per kata.

The answer cell of a kata holds the kata's top-level definition(s) with nbgrader's
solution markers kept. Each region's ``# TODO:`` hint is moved above
``### BEGIN SOLUTION``, so the student version nbgrader makes still carries it::

    # TODO: what to build            ### BEGIN SOLUTION
    ### BEGIN SOLUTION       <-      # TODO: what to build
    <reference code>                 <reference code>
    ### END SOLUTION                 ### END SOLUTION

Everything else of the module (imports, constants, helpers) goes to the setup cell,
in its original order; the module docstring is left out.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

from torchkata.course.source import BEGIN, END, find_regions

_DEFINITION = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef
# nbgrader's ClearSolutions treats any line containing these words as a marker.
_NBGRADER_MARKERS = ("BEGIN SOLUTION", "END SOLUTION")


class CellsError(ValueError):
    """A solution module that cannot be cut into the notebook's cells."""


@dataclass(frozen=True)
class ChapterCells:
    """The code cells of one chapter's notebook."""

    setup: str
    answers: dict[str, str]


def hints_above_markers(text: str, path: Path = Path("<solution>")) -> list[str]:
    """The module's lines with each region's hint moved above its BEGIN marker (line count unchanged)."""
    lines = text.splitlines()
    for region in find_regions(text, path):
        first = region.begin - 1
        count = len(region.hint)
        lines[first : first + 1 + count] = [*lines[first + 1 : first + 1 + count], lines[first]]
    return lines


def _first_line(node: ast.stmt) -> int:
    decorators = getattr(node, "decorator_list", [])
    return min([node.lineno, *(d.lineno for d in decorators)])


def _is_docstring(node: ast.stmt) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)


def _trim(lines: list[str]) -> str:
    text = "\n".join(lines).strip("\n")
    return re.sub(r"\n{4,}", "\n\n\n", text)


def _names_used(node: ast.AST) -> set[str]:
    return {child.id for child in ast.walk(node) if isinstance(child, ast.Name)}


def split_solution(text: str, katas: list[str], path: Path = Path("<solution>")) -> ChapterCells:
    """Cut a solution module into a setup cell and one answer cell per kata, in ``katas`` order."""
    lines = hints_above_markers(text, path)
    tree = ast.parse(text, filename=str(path))
    regions = find_regions(text, path)
    owners = {region.kata for region in regions}
    strays = sorted(owners - set(katas))
    if strays:
        raise CellsError(
            f"{path}: solution regions inside {', '.join(strays)}, which the chapter's kata.toml does not "
            "list as katas; a region must sit in a kata's definition"
        )
    pieces: dict[str, list[str]] = {name: [] for name in katas}
    taken: set[int] = set()
    start = 1
    for index, node in enumerate(tree.body):
        # A node's piece starts after the previous node, so comments above a definition travel with it.
        end = node.end_lineno or node.lineno
        # A region's END marker may follow the definition's last statement.
        end = max([end, *(r.end for r in regions if node.lineno <= r.begin <= end)])
        span = range(start, end + 1)
        start = end + 1
        if index == 0 and _is_docstring(node):
            taken.update(span)
        elif isinstance(node, _DEFINITION) and node.name in pieces:
            pieces[node.name].append(_trim(lines[span.start - 1 : span.stop - 1]))
            taken.update(span)
        else:
            used = sorted(_names_used(node) & set(katas))
            if used:
                raise CellsError(
                    f"{path}:{_first_line(node)}: module-level code uses the kata(s) {', '.join(used)}; "
                    "the setup cell runs before any answer cell, so move it into a kata's definition"
                )
    missing = [name for name in katas if not pieces[name]]
    if missing:
        raise CellsError(f"{path}: no top-level definition of the kata(s) {', '.join(missing)}")
    without_region = [name for name in katas if name not in owners]
    if without_region:
        raise CellsError(
            f"{path}: the kata(s) {', '.join(without_region)} have no '{BEGIN}' region; nbgrader would "
            "replace the whole answer cell, signature included"
        )
    setup = _trim([line for number, line in enumerate(lines, start=1) if number not in taken])
    cells = ChapterCells(setup, {name: "\n\n\n".join(pieces[name]) for name in katas})
    for marker in _NBGRADER_MARKERS:
        if marker in setup:
            raise CellsError(f"{path}: '{marker}' outside a kata's definition; nbgrader would reject the setup cell")
    for name, answer in cells.answers.items():
        stray = [line for line in answer.splitlines() if any(m in line for m in _NBGRADER_MARKERS)]
        if any(line.strip() not in (BEGIN, END) for line in stray):
            raise CellsError(f"{path}: kata {name} mentions a solution marker outside a marker line")
    return cells
