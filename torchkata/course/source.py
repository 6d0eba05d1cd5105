"""One source, several views: solution regions and the starter generated from them.

A solution module fences each student region with nbgrader's markers::

    ### BEGIN SOLUTION
    # TODO: what to build, and which API to reach for
    #   (continuation lines of the hint are indented comments)
    <reference code>
    ### END SOLUTION

The starter keeps the hint as ``# TODO:`` lines and replaces the reference code
with ``raise NotImplementedError`` naming the kata.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
HINT_PREFIX = "# TODO:"


class SourceError(ValueError):
    """A solution file whose regions cannot be turned into a starter."""


@dataclass(frozen=True)
class Region:
    """One fenced student region of a solution file (line numbers are 1-based)."""

    begin: int
    end: int
    indent: str
    hint: tuple[str, ...]
    body: tuple[str, ...]
    owner: str

    @property
    def kata(self) -> str:
        return self.owner.split(".")[0]


def _owners(tree: ast.Module) -> list[tuple[int, int, str]]:
    """(first line, last line, qualified name) of every def and class, outermost first."""
    spans: list[tuple[int, int, str]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                name = f"{prefix}{child.name}"
                spans.append((child.lineno, child.end_lineno or child.lineno, name))
                visit(child, f"{name}.")

    visit(tree, "")
    return spans


def _owner_of(line: int, spans: list[tuple[int, int, str]], path: Path) -> str:
    inside = [span for span in spans if span[0] <= line <= span[1]]
    if not inside:
        raise SourceError(f"{path}:{line}: a solution region must sit inside a def or class")
    return max(inside, key=lambda span: span[0])[2]


def _split_hint(lines: list[str], path: Path, line: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    stripped = [text.strip() for text in lines]
    if not stripped or not stripped[0].startswith(HINT_PREFIX):
        raise SourceError(
            f"{path}:{line}: a solution region must open with a '{HINT_PREFIX} <hint>' line "
            "that tells the student what to build"
        )
    count = 1
    while count < len(stripped) and stripped[count].startswith("#") and not stripped[
        count
    ].startswith(HINT_PREFIX):
        count += 1
    return tuple(stripped[:count]), tuple(lines[count:])


def find_regions(text: str, path: Path = Path("<solution>")) -> list[Region]:
    """Every fenced region of a solution file, checked for shape."""
    lines = text.splitlines()
    try:
        spans = _owners(ast.parse(text, filename=str(path)))
    except SyntaxError as error:
        raise SourceError(f"{path}:{error.lineno}: {error.msg}") from error
    regions: list[Region] = []
    begin: int | None = None
    for number, line in enumerate(lines, start=1):
        marker = line.strip()
        if marker == BEGIN:
            if begin is not None:
                raise SourceError(f"{path}:{number}: '{BEGIN}' inside another region")
            begin = number
        elif marker == END:
            if begin is None:
                raise SourceError(f"{path}:{number}: '{END}' without '{BEGIN}'")
            indent = lines[begin - 1][: len(lines[begin - 1]) - len(lines[begin - 1].lstrip())]
            hint, body = _split_hint(lines[begin : number - 1], path, begin)
            owner = _owner_of(begin, spans, path)
            regions.append(Region(begin, number, indent, hint, body, owner))
            begin = None
    if begin is not None:
        raise SourceError(f"{path}:{begin}: '{BEGIN}' is never closed")
    return regions


def stub_lines(region: Region) -> list[str]:
    """The starter's text for one region: the hint, then a raise naming the kata."""
    message = f"{region.owner}: not written yet, see the TODO above this line"
    return [f"{region.indent}{hint}" for hint in region.hint] + [
        f"{region.indent}raise NotImplementedError({message!r})"
    ]


def make_starter(text: str, path: Path = Path("<solution>")) -> str:
    """The starter module generated from a solution module's text."""
    lines = text.splitlines()
    output: list[str] = []
    cursor = 0
    for region in find_regions(text, path):
        output.extend(lines[cursor : region.begin - 1])
        output.extend(stub_lines(region))
        cursor = region.end
    output.extend(lines[cursor:])
    return "\n".join(output) + "\n"


def build(
    solutions: Path, starter: Path, check: bool = False, only: list[str] | None = None
) -> list[Path]:
    """Regenerate starter/ from solutions/; return the starter files that were (or would be) changed.

    With ``check`` nothing is written. Starter files without a solution count as stale.
    ``only`` limits the build to these chapter slugs.
    """
    if not any(path.suffix == ".py" for path in solutions.glob("*.py")):
        raise SourceError(
            f"no solution modules in {solutions}: starter/ is built from solutions/, which only the "
            "instructor's repository has"
        )
    changed: list[Path] = []
    expected: set[str] = set()
    for solution in sorted(solutions.glob("*.py")):
        if solution.name.startswith("_"):
            continue
        if only is not None and solution.stem not in only:
            expected.add(solution.name)
            continue
        expected.add(solution.name)
        target = starter / solution.name
        generated = make_starter(solution.read_text(encoding="utf-8"), solution)
        current = target.read_text(encoding="utf-8") if target.exists() else None
        if current != generated:
            changed.append(target)
            if not check:
                starter.mkdir(parents=True, exist_ok=True)
                target.write_text(generated, encoding="utf-8")
    for orphan in sorted(starter.glob("*.py")):
        if only is None and orphan.name not in expected:
            changed.append(orphan)
            if not check:
                orphan.unlink()
    return changed
