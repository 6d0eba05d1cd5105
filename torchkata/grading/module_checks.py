"""Checks of a module's parameters, state_dict keys and submodules, for graders (as ``torchkata.checks.*``).

Each takes ``call``, what the grader did, and an optional ``hint``, like every helper of
:mod:`torchkata.checks`, which re-exports them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from torchkata.grading.describe import describe, shape_text
from torchkata.grading.failure import fail as _fail


def unique_parameters(module: nn.Module) -> list[nn.Parameter]:
    """Parameters of ``module``, each shared tensor once (nn.Module.parameters already dedups)."""
    return list(module.parameters())


def parameter_count(module: nn.Module, expected: int, call: str, hint: str | None = None) -> None:
    """``module`` holds exactly ``expected`` parameter entries, shared tensors counted once."""
    __tracebackhide__ = True
    count = sum(p.numel() for p in unique_parameters(module))
    if count != expected:
        raise _fail(f"{call} has {count:,} parameters; expected {expected:,}.", hint)


def same_objects(
    before: Sequence[Any], after: Sequence[Any], call: str, hint: str | None = None
) -> None:
    """The very same objects (by identity) before and after ``call``, e.g. Parameters."""
    __tracebackhide__ = True
    if len(before) != len(after) or any(a is not b for a, b in zip(before, after, strict=True)):
        replaced = sum(1 for a, b in zip(before, after, strict=False) if a is not b)
        raise _fail(
            f"after {call}, {replaced} of {len(before)} parameter objects were replaced "
            f"({len(before)} before, {len(after)} after); expected the same objects, changed in place.",
            hint,
        )


def keys(
    mapping: Mapping[str, Any] | nn.Module,
    expected: Iterable[str],
    call: str,
    hint: str | None = None,
) -> None:
    """A state_dict (or a module's) has exactly the expected keys, in any order.

    The keys must be plain strings: a str subclass could rig ``in`` and ``==``.
    """
    __tracebackhide__ = True
    got = list(mapping.state_dict() if isinstance(mapping, nn.Module) else mapping)
    foreign = next((key for key in got if type(key) is not str), None)
    if foreign is not None:
        raise _fail(f"{call} has a state_dict key that is {describe(foreign)}, a {type(foreign).__name__}; "
                    "expected plain str keys.", hint)
    want = list(expected)
    missing = [key for key in want if key not in got]
    extra = [key for key in got if key not in want]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {missing}")
        if extra:
            parts.append(f"unexpected {extra}")
        raise _fail(f"{call} has state_dict keys {got}: {'; '.join(parts)}.", hint)


def parameter_of_shape(
    module: nn.Module, wanted: Sequence[int], call: str, allow_transposed: bool = False
) -> torch.Tensor:
    """The one parameter of ``module`` with this shape, whatever it is named.

    With ``allow_transposed`` a 2-d parameter stored the other way round, e.g. an
    (in, out) matrix used as ``X @ W``, is found too and returned as ``W.T``.
    """
    __tracebackhide__ = True
    wanted = tuple(wanted)
    found: list[torch.Tensor] = [p for p in module.parameters() if tuple(p.shape) == wanted]
    if allow_transposed and len(wanted) == 2 and wanted[0] != wanted[1]:
        found += [p.T for p in module.parameters() if tuple(p.shape) == wanted[::-1]]
    if len(found) != 1:
        shapes = [shape_text(p.shape) for p in module.parameters()]
        raise _fail(
            f"{call} should hold exactly one parameter of shape {shape_text(wanted)}; "
            f"found {len(found)} among its parameter shapes {shapes}."
        )
    return found[0]


def submodules(module: nn.Module, kind: type[nn.Module]) -> list[nn.Module]:
    """Every submodule of this type, in registration order (the module itself excluded)."""
    return [m for m in module.modules() if m is not module and isinstance(m, kind)]
