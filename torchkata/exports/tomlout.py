"""Writing the small TOML documents the exports need (tomllib reads TOML but cannot write it)."""

from __future__ import annotations

import json
from typing import Any

Scalar = str | int | float | bool


def _value(value: Any, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, list | tuple):
        if not value:
            return "[]"
        return "[\n" + "".join(f"    {_value(item, where)},\n" for item in value) + "]"
    raise TypeError(f"{where}: cannot write {type(value).__name__} values to TOML")


def _key(name: str) -> str:
    bare = name.replace("-", "").replace("_", "").isalnum() and name.isascii()
    return name if bare else json.dumps(name)


def dumps(document: dict[str, Any]) -> str:
    """TOML text for nested dicts of strings, numbers, booleans and lists of those."""
    out: list[str] = []

    def table(path: list[str], data: dict[str, Any]) -> None:
        values = {k: v for k, v in data.items() if not isinstance(v, dict)}
        tables = {k: v for k, v in data.items() if isinstance(v, dict)}
        if path and (values or not tables):
            out.append(f"[{'.'.join(_key(part) for part in path)}]")
        for name, value in values.items():
            out.append(f"{_key(name)} = {_value(value, '.'.join([*path, name]))}")
        if path and (values or not tables):
            out.append("")
        for name, sub in tables.items():
            table([*path, name], sub)

    table([], document)
    return "\n".join(out).rstrip("\n") + "\n"
