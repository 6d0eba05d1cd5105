"""Mutants: the reference module with one definition replaced by a version with a real mistake.

``tests/mutants/<slug>.py`` holds the replacements, each decorated::

    @mutant("MLP", "the ReLU between the two layers is missing")
    class MLP(nn.Module):
        ...

An overlay is the solution text followed by the replacement's source, so the
mutant shadows the reference definition and uses the module's own imports.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def mutant(kata: str, mistake: str) -> Callable[[T], T]:
    """Mark a definition as a mutant of ``kata`` carrying ``mistake``; returns it unchanged."""

    def mark(obj: T) -> T:
        return obj

    return mark


@dataclass(frozen=True)
class Mutant:
    slug: str
    kata: str
    mistake: str
    name: str
    source: str
    line: int

    @property
    def id(self) -> str:
        return f"{self.slug}:{self.line}:{self.name}"


def _decorator(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> ast.Call | None:
    for decorator in node.decorator_list:
        if isinstance(decorator, ast.Call) and getattr(decorator.func, "id", None) == "mutant":
            return decorator
    return None


def load_mutants(path: Path) -> list[Mutant]:
    """Every ``@mutant`` definition in a mutants file."""
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    found: list[Mutant] = []
    for node in ast.parse(text, filename=str(path)).body:
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            continue
        decorator = _decorator(node)
        if decorator is None:
            continue
        kata, mistake = (ast.literal_eval(arg) for arg in decorator.args[:2])
        others = [d for d in node.decorator_list if d is not decorator]
        start = min([node.lineno, *(d.lineno for d in others)])
        body = lines[start - 1 : node.end_lineno]
        source = "\n".join(line for line in body)
        found.append(Mutant(path.stem, kata, mistake, node.name, source, node.lineno))
    return found


def overlay(solution_text: str, item: Mutant) -> str:
    """The solution module with ``item`` shadowing its definition of the same name."""
    return f"{solution_text.rstrip()}\n\n\n# mutant: {item.mistake}\n{item.source}\n"


def write_overlay(solution: Path, item: Mutant, directory: Path) -> Path:
    """Write the overlay as ``directory/<slug>.py``; returns the directory."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / solution.name).write_text(overlay(solution.read_text(encoding="utf-8"), item))
    return directory
