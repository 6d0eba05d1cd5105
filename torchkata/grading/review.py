"""A static review of a submitted chapter module: the constructs that reach for the grader, with file:line.

A kata never needs them: introspection of frames, objects and code (``gc``, ``sys._getframe``,
``inspect``'s frames, ``__globals__``, ``__code__``, ``__subclasses__``...), tracing hooks, ``ctypes``,
code built at run time (``compile``, ``exec``, ``eval``), attribute access by computed name, the grader's
own packages (pytest, pluggy, torchkata), processes, sockets and signals. The review changes no points:
each finding is listed in every report, so an instructor can look at the line.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

# Modules whose import is itself a finding.
MODULES = {
    "gc": "the garbage collector's object lists",
    "inspect": "introspection of frames and source",
    "ctypes": "raw memory access",
    "pytest": "the grader's test runner",
    "_pytest": "the grader's test runner",
    "pluggy": "the grader's plugin system",
    "torchkata": "the grader itself",
    "socket": "network access",
    "subprocess": "starting processes",
    "multiprocessing": "starting processes",
    "signal": "signal handlers",
    "importlib": "importing by computed name",
    "builtins": "replacing built-in functions",
    "threading": "threads that outlive the call",
    "tracemalloc": "introspection of allocations",
}
# Attributes whose use is a finding wherever they appear.
ATTRIBUTES = {
    "__globals__", "__code__", "__builtins__", "__subclasses__", "__closure__", "__bases__", "__mro__",
    "f_back", "f_globals", "f_locals", "f_code", "tb_frame", "tb_next", "gi_frame", "cr_frame", "ag_frame",
    "_getframe", "_current_frames", "settrace", "setprofile", "addaudithook", "get_objects", "get_referrers",
    "get_referents", "dlopen",
}
# Attributes that are findings on one module only (``model.modules()`` is nn.Module's own API).
OWNED = {
    "sys": {"modules", "meta_path", "path_hooks"},
    "os": {"_exit", "kill", "killpg", "fork", "forkpty", "system", "popen", "execv", "execve", "execvp",
           "spawnv", "posix_spawn", "environ"},
}
# Built-in functions whose call is a finding.
BUILTINS = {"compile", "exec", "eval", "__import__", "globals", "breakpoint"}
# Built-ins that are a finding when the attribute name is not a literal.
BY_NAME = {"getattr", "setattr", "delattr", "hasattr"}


@dataclass(frozen=True)
class Finding:
    """One construct worth a look: where, and what it reaches for."""

    file: str
    line: int
    what: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.what}"


class _Reviewer(ast.NodeVisitor):
    def __init__(self, file: str) -> None:
        self.file = file
        self.found: list[Finding] = []

    def add(self, node: ast.AST, what: str) -> None:
        self.found.append(Finding(self.file, getattr(node, "lineno", 0), what))

    def _module(self, node: ast.AST, name: str) -> None:
        top = name.split(".")[0]
        if top in MODULES:
            self.add(node, f"imports {name} ({MODULES[top]})")

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._module(node, alias.name)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.module and node.level == 0:
            self._module(node, node.module)
            for alias in node.names:
                if alias.name in ATTRIBUTES or alias.name in BUILTINS:
                    self.add(node, f"imports {alias.name} from {node.module}")
        self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        owner = node.value.id if isinstance(node.value, ast.Name) else ""
        if node.attr in ATTRIBUTES:
            self.add(node, f"uses .{node.attr}")
        elif node.attr in OWNED.get(owner, ()):
            self.add(node, f"uses {owner}.{node.attr}")
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if node.id in ("__builtins__", "__loader__", "__spec__"):
            self.add(node, f"uses {node.id}")

    def visit_Call(self, node: ast.Call) -> None:
        if isinstance(node.func, ast.Name):
            name = node.func.id
            if name in BUILTINS:
                self.add(node, f"calls {name}()")
            elif name in BY_NAME and _computed_name_on_another_object(node):
                self.add(node, f"calls {name}() with a computed attribute name")
            elif name == "vars" and not node.args:
                self.add(node, "calls vars() on the calling frame")
        self.generic_visit(node)


def _computed_name_on_another_object(node: ast.Call) -> bool:
    """``getattr(obj, name)`` with a name built at run time, on anything but ``self`` (a module's own layers)."""
    if len(node.args) < 2 or isinstance(node.args[1], ast.Constant):
        return False
    return not (isinstance(node.args[0], ast.Name) and node.args[0].id == "self")


def review_source(source: bytes | str, file: str) -> list[Finding]:
    """The findings in one module's source, in line order; a module that does not parse has none here."""
    try:
        tree = ast.parse(source, filename=file)
    except (SyntaxError, ValueError):
        return []
    reviewer = _Reviewer(file)
    reviewer.visit(tree)
    return sorted(set(reviewer.found), key=lambda finding: (finding.line, finding.what))


def review_submission(impl_dir: Path, slugs: Iterable[str]) -> dict[str, list[str]]:
    """The findings of each chapter module in ``impl_dir`` that exists, as ``file:line: what`` lines."""
    found: dict[str, list[str]] = {}
    for slug in slugs:
        path = impl_dir / f"{slug}.py"
        try:
            source = path.read_bytes()
        except OSError:
            continue
        found[slug] = [str(finding) for finding in review_source(source, path.name)]
    return found
