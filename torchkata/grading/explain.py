"""Known torch errors told in the course's words: what the student most likely did, and the line to look at.

torch's own text for these errors points at the wrong line or gives advice a course must not (load with
``weights_only=False``). :func:`explain` recognises them in an exception chain and says what to change.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

_NO_INF_CHECKS = "No inf checks were recorded"
_WEIGHTS_ONLY = "Weights only load failed"
_UNSUPPORTED_GLOBAL = re.compile(r"Unsupported global: GLOBAL ([\w.]+)")
_ALLOCATION = re.compile(r"can't allocate memory: you tried to allocate (\d+) bytes")


@dataclass(frozen=True)
class Explanation:
    """What to tell the student instead of torch's text; ``line``: a better line of their file, if found."""

    text: str
    line: int | None = None
    about_a_file: bool = False  # the error is about what a file holds: whoever wrote it may be at fault
    error: BaseException | None = None  # the exception of the chain that was recognised


def chain(error: BaseException) -> list[BaseException]:
    """``error`` and the exceptions it was raised from or while handling, outermost first."""
    found: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in found:
        found.append(current)
        current = current.__cause__ or current.__context__
    return found


def _enclosing_function(tree: ast.Module, line: int) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    best = None
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            if node.lineno <= line <= (node.end_lineno or node.lineno):
                if best is None or node.lineno >= best.lineno:
                    best = node
    return best


def _plain_step_line(student_file: Path, line: int) -> int | None:
    """The line of an ``optimizer.step()`` called directly (not through a scaler) in the function at ``line``."""
    try:
        tree = ast.parse(student_file.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return None
    function = _enclosing_function(tree, line)
    if function is None:
        return None
    for node in ast.walk(function):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "step":
            receiver = ast.unparse(node.func.value)
            if not node.args and "scaler" not in receiver.lower():
                return node.lineno
    return None


def _innermost_line(error: BaseException, student_file: Path) -> int | None:
    import traceback

    target = student_file.resolve()
    lines = [frame.lineno for frame in traceback.extract_tb(error.__traceback__) if Path(frame.filename) == target]
    return lines[-1] if lines else None


def explain(error: BaseException, student_file: Path | None = None) -> Explanation | None:
    """The course's explanation of the first known torch error in ``error``'s chain, or None."""
    for found in chain(error):
        text = str(found)
        if _NO_INF_CHECKS in text:
            line = None
            if student_file is not None and (update := _innermost_line(found, student_file)):
                line = _plain_step_line(student_file, update) or update
            return Explanation(
                "scaler.update() found no scaler.step(optimizer) before it: the optimizer was stepped "
                "directly (optimizer.step()), so the scaler never checked the gradients for inf/NaN. "
                "Step through the scaler: scaler.step(optimizer), then scaler.update().",
                line,
                error=found,
            )
        if _WEIGHTS_ONLY in text:
            match = _UNSUPPORTED_GLOBAL.search(text)
            what = f"a {match.group(1).rsplit('.', 1)[-1]} object ({match.group(1)})" if match else "an object"
            return Explanation(
                f"torch.load(..., weights_only=True) refused the file: it holds {what}, and only tensors and "
                "plain containers (dicts, lists, numbers, strings) load safely. Save state_dict()s and plain "
                "values, never whole modules or optimizers (weights_only=False is not the fix: it would run "
                "code hidden in the file).",
                about_a_file=True,
                error=found,
            )
        allocation = _ALLOCATION.search(text)
        if isinstance(found, MemoryError) or allocation:
            asked = f" (it asked for {int(allocation.group(1)) / 2**30:.3g} GiB at once)" if allocation else ""
            return Explanation(
                f"ran out of the memory a check may use{asked}: a tensor far larger than intended, or a loop "
                "that keeps allocating?",
                _innermost_line(found, student_file) if student_file is not None else None,
                error=found,
            )
    return None
