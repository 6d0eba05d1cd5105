"""What the template imports before the first fork, and while the first children run.

The fork server reads every chapter before the first fork; these names come from the graders' and the
starters' sources, so every child starts with what it will import already in memory.
"""

from __future__ import annotations

import ast
import re

from torchkata.sandbox.staging import ChapterSources

WARM_LIBRARIES = frozenset({"torch", "numpy", "sklearn", "scipy"})


def preload_modules(chapters: list[ChapterSources]) -> list[str]:
    """What the graders import at their top level, for the template to load before the first fork."""
    return sorted(_imports([source for chapter in chapters for source in chapter.graders.values()], top=True))


def warm_later(chapters: list[ChapterSources]) -> list[str]:
    """Modules the chapters will import lazily, for the template to load while the first children run.

    Then every later child starts with them: the graders' imports inside functions, the starters'
    imports of well-known libraries (a starter may be a student's work, so no other name it gives
    is imported outside the sandbox), torch's compiler when a chapter uses it, and
    what torch loads to describe a failed comparison (checks.close -> torch.unravel_index -> sympy).
    """
    graders = [source for chapter in chapters for source in chapter.graders.values()]
    starters = [chapter.starter for chapter in chapters if chapter.starter]
    names = _imports(graders, top=False)
    names |= {name for name in _imports(starters, top=True) if name.split(".")[0] in WARM_LIBRARIES}
    if any(re.search(rb"torch\.(compile|export|_dynamo)\b", source) for source in graders):
        names.add("torch._dynamo")
    names.add("torch.fx.experimental.symbolic_shapes")
    return sorted(names)


def _imports(sources: list[bytes], top: bool) -> set[str]:
    """Absolute module names imported by ``sources``: at the top level only, or anywhere."""
    names: set[str] = set()
    for source in sources:
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError):
            continue
        for node in tree.body if top else ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
    return names
