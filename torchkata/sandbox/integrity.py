"""The grader's own code, checked after every test: a replaced function or class attribute is evidence.

Setting an attribute of a class or a module raises no audit event, so a submission that finds the test
runner by name (``sys.modules``) could swap a function of it without the audit hook seeing (a function's
code can only be swapped through an audited event). Before the submission is imported, the child records
what every attribute of the grading modules and of their classes is; after each test it compares, and any
difference is reported as tampering. A submission that knows this check could undo its change in time:
this is evidence, not a wall.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from types import ModuleType

GRADING_MODULES = ("_pytest.reports", "_pytest.runner", "_pytest.python", "_pytest.main", "_pytest.fixtures",
                   "_pytest.skipping", "_pytest.outcomes", "pluggy._hooks", "pluggy._callers", "pluggy._manager",
                   "pytest_timeout")
GRADING_PREFIXES = ("torchkata.",)


def _attributes(owner: object) -> Iterable[tuple[str, object]]:
    try:
        items = list(vars(owner).items())
    except TypeError:
        return []
    return items


def watched_modules() -> list[ModuleType]:
    """The grading modules loaded now: the test runner's core and the engine."""
    found = [sys.modules[name] for name in GRADING_MODULES if name in sys.modules]
    return found + [module for name, module in list(sys.modules.items())
                    if name.startswith(GRADING_PREFIXES) and name != "torchkata.sandbox.integrity"]


class Snapshot:
    """The identity of every attribute of some modules (and of the classes they define)."""

    def __init__(self, modules: Iterable[ModuleType], graders: Iterable[ModuleType] = ()) -> None:
        """``graders``: modules watched at their top level only (torch itself patches an Optimizer
        subclass's ``step`` when one is made, so the classes a grader defines change in honest runs)."""
        # (the owner's namespace, the owner, attribute name, the value's id); the namespace is a live view
        self.entries: list[tuple[object, object, str, int]] = []
        for module in graders:
            self._watch(module)
        for module in modules:
            self._watch(module)
            for value in list(vars(module).values()):
                if isinstance(value, type) and value.__module__ == module.__name__:
                    self._watch(value)

    def _watch(self, owner: object) -> None:
        namespace = vars(owner)
        self.entries += [(namespace, owner, name, id(value)) for name, value in _attributes(owner)]

    def changed(self) -> list[str]:
        """``owner.name`` of each attribute that is no longer what it was."""
        found = []
        for namespace, owner, name, identity in self.entries:
            if id(namespace.get(name)) != identity:  # type: ignore[attr-defined]
                label = getattr(owner, "__qualname__", None) or getattr(owner, "__name__", type(owner).__name__)
                found.append(f"{label}.{name}")
        return found
