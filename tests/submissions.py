"""Submissions the Classroom tests and the release bench grade: the reference, and the reference with one kata
left as the starter has it."""

from __future__ import annotations

import shutil
from pathlib import Path

from torchkata.course.locate import definition_span
from torchkata.course.project import Project


def _definition(path: Path, name: str) -> tuple[list[str], int, int]:
    span = definition_span(path, name)
    if span is None:
        raise KeyError(f"{path} has no top-level definition {name!r}")
    return path.read_text(encoding="utf-8").splitlines(keepends=True), span[0] - 1, span[1]


def reference(project: Project, folder: Path, slugs: list[str]) -> Path:
    """``folder`` holding the reference's ``<slug>.py`` of each chapter."""
    folder.mkdir(parents=True, exist_ok=True)
    for slug in slugs:
        shutil.copy(project.solutions / f"{slug}.py", folder / f"{slug}.py")
    return folder


def all_but_one(project: Project, folder: Path, slugs: list[str], slug: str = "modules", kata: str = "MLP") -> Path:
    """The reference, except that ``kata`` of chapter ``slug`` is the starter's stub."""
    reference(project, folder, slugs)
    lines, start, end = _definition(project.solutions / f"{slug}.py", kata)
    stub, stub_start, stub_end = _definition(project.starter / f"{slug}.py", kata)
    (folder / f"{slug}.py").write_text("".join([*lines[:start], *stub[stub_start:stub_end], *lines[end:]]))
    return folder
