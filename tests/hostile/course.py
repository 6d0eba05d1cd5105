"""A small course for the hostile corpus: chapter 03 (modules) as the repository has it, and a toy chapter.

The toy chapter is graded right after modules in every case, to show that an attack
on one chapter leaves the next one graded by the real graders.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from torchkata.course.project import Project

TOY_SOLUTION = '''"""Toy chapter: one kata."""

import torch


def double(x: torch.Tensor) -> torch.Tensor:
    return x * 2
'''

TOY_STARTER = '''"""Toy chapter: one kata."""

import torch


def double(x: torch.Tensor) -> torch.Tensor:
    raise NotImplementedError("double: not written yet")
'''

TOY_GRADER = '''import pytest
import torch

from torchkata import checks


@pytest.mark.kata("double")
@pytest.mark.points({points})
def test_double_{visibility}(impl):
    x = torch.arange(4.0)
    checks.close(checks.call("double(x)", impl.double, x), x * 2, "double(x) with x = [0, 1, 2, 3]")
'''

TOY_KATA = '''chapter = "toy"
title = "Toy"

[[kata]]
name = "double"
title = "Twice the input"
hints = ["x * 2"]
'''


def make_course(source: Project, root: Path) -> Project:
    """A course at ``root`` holding ``source``'s chapter 03 and the toy chapter 90."""
    (root / "exercises").mkdir(parents=True)
    shutil.copytree(source.exercises / "03_modules", root / "exercises" / "03_modules")
    (root / "exercises" / "90_toy").mkdir()
    (root / "exercises" / "90_toy" / "kata.toml").write_text(TOY_KATA)
    for visibility, points in (("public", 1), ("hidden", 2)):
        (root / "graders" / visibility).mkdir(parents=True)
        shutil.copy(source.graders / visibility / "test_modules.py", root / "graders" / visibility)
        if visibility == "hidden" and source.casebook("modules").is_file():
            shutil.copy(source.casebook("modules"), root / "graders" / visibility)
        text = TOY_GRADER.format(points=points, visibility=visibility)
        (root / "graders" / visibility / "test_toy.py").write_text(text)
    for kind, toy in (("solutions", TOY_SOLUTION), ("starter", TOY_STARTER)):
        (root / kind).mkdir()
        shutil.copy(getattr(source, kind) / "modules.py", root / kind / "modules.py")
        (root / kind / "toy.py").write_text(toy)
    return Project(root)


def tree_digest(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root``, by relative path (the state an attack must not change)."""
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }
