"""Short, student-readable descriptions of values for failure messages: a shape and dtype, never a dump.

``checks.describe`` is this module's :func:`describe`; graders call it through ``checks``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import nn

from torchkata.grading.hygiene import student_text

_SHOWN_ITEMS = 4  # entries of a container a description names before "..."


def shape_text(shape: Iterable[int]) -> str:
    """(2, 3) for any shape-like value; (5,) for one dimension."""
    dims = tuple(int(d) for d in shape)
    return f"({dims[0]},)" if len(dims) == 1 else f"({', '.join(map(str, dims))})"


def describe(value: Any) -> str:
    """A short, student-readable summary of a value."""
    if isinstance(value, torch.Tensor):
        text = f"a tensor of shape {shape_text(value.shape)}, dtype {str(value.dtype)[6:]}"
        return text if value.device.type == "cpu" else f"{text}, on {value.device}"
    if isinstance(value, nn.Module):
        return f"a {type(value).__name__} module"
    if type(value).__repr__ is object.__repr__:
        return f"a {type(value).__name__} object"  # the default repr holds an address that changes per run
    if isinstance(value, Mapping | list | tuple | set | frozenset) and not _short_plain(value):
        return _container_text(value)
    return student_text(repr(value), 80)


def _short_plain(value: Any) -> bool:
    """True for a container of plain values whose repr reads in one short line."""
    return foreign_type(value) is None and len(repr(value)) <= 80


def _item_text(value: Any) -> str:
    """An entry of a container, briefly: ``tensor (3, 4) float32``."""
    if isinstance(value, torch.Tensor):
        return f"tensor {shape_text(value.shape)} {str(value.dtype)[6:]}"
    return student_text(describe(value), 60)


def _container_text(value: Any) -> str:
    """A container by its keys or length and the first entries' summaries, never a dump of its contents."""
    kind = type(value).__name__
    if isinstance(value, Mapping):
        keys = [student_text(repr(key), 40) for key in list(value)[: _SHOWN_ITEMS * 2]]
        more = ", ..." if len(value) > len(keys) else ""
        text = f"a {kind} with keys [{', '.join(keys)}{more}]"
        first = list(value.items())[:_SHOWN_ITEMS]
        shown = [f"{student_text(repr(key), 40)}: {_item_text(item)}" for key, item in first]
    else:
        text = f"a {kind} of {len(value)}"
        shown = [_item_text(item) for item in list(value)[:_SHOWN_ITEMS]]
    if not shown:
        return text
    more = ", ..." if len(value) > len(shown) else ""
    return f"{text} ({'; '.join(shown)}{more})"


_PLAIN_TYPES = (int, float, bool, str, bytes, type(None), tuple, list, dict, set, frozenset)
_TORCH_VALUE_TYPES = (torch.dtype, torch.device, torch.Size)


def foreign_type(value: Any) -> type | None:
    """The first type in ``value`` that is not a built-in value type (whose == a submission could rig)."""
    kind = type(value)
    if kind in _TORCH_VALUE_TYPES:
        return None
    if kind not in _PLAIN_TYPES:
        return kind
    if kind is dict:
        items: Iterable[Any] = [*value.keys(), *value.values()]
    elif kind in (tuple, list, set, frozenset):
        items = value
    else:
        return None
    for item in items:
        found = foreign_type(item)
        if found is not None:
            return found
    return None
