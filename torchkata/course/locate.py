"""Finding where in a chapter module a kata's TODO waits for the student."""

from __future__ import annotations

import ast
from pathlib import Path

from torchkata.course.source import HINT_PREFIX


def definition_span(path: Path, name: str) -> tuple[int, int] | None:
    """First and last line of the top-level def or class ``name`` in ``path``."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return None
    for node in tree.body:
        is_def = isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        if is_def and node.name == name:
            return node.lineno, node.end_lineno or node.lineno
    return None


def todo_location(path: Path, kata: str) -> tuple[int, str] | None:
    """(line, hint text) of the first ``# TODO:`` inside the kata's definition, else its first line."""
    span = definition_span(path, kata)
    if span is None:
        return None
    lines = path.read_text(encoding="utf-8").splitlines()
    for number in range(span[0], span[1] + 1):
        text = lines[number - 1].strip()
        if text.startswith(HINT_PREFIX):
            return number, text[len(HINT_PREFIX) :].strip()
    return span[0], ""


def definition_at(path: Path, line: int) -> str | None:
    """The name of the top-level def or class of ``path`` that holds ``line``, if any."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return None
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            start = min([node.lineno, *(decorator.lineno for decorator in node.decorator_list)])
            if start <= line <= (node.end_lineno or node.lineno):
                return node.name
    return None
