"""Nothing inherited: a grading child's memory holds no classmate's file and no request.

Each child is forked from the template process, which the fork server starts before it reads its
request. A trusted grader of a toy course searches its own process's memory for every marker of
the class; only its own submission's may be there.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from torchkata.course.project import Project
from torchkata.grading.limits import Limits
from torchkata.sandbox.isolated import grade_submissions

KATA = '''chapter = "toy"
title = "Toy"

[[kata]]
name = "double"
title = "Twice the input"
hints = ["x * 2"]
'''

SUBMISSION = '''"""Toy chapter: one kata."""

import torch

MARKER = "{marker}"


def double(x: torch.Tensor) -> torch.Tensor:
    return x * 2
'''

# Reads every writable mapping of its own process (heap, anonymous memory, data) through /proc/self/mem.
GRADER = '''import re

import pytest

PATTERN = re.compile(rb"classmate-[0-9a-f]{16}")
CHUNK = 1 << 26


def markers_in_memory():
    found = set()
    with open("/proc/self/maps") as maps, open("/proc/self/mem", "rb", buffering=0) as mem:
        for line in maps:
            fields = line.split()
            if not fields[1].startswith("rw") or (len(fields) > 5 and fields[5] in ("[vvar]", "[vsyscall]")):
                continue
            start, end = (int(value, 16) for value in fields[0].split("-"))
            for offset in range(start, end, CHUNK):
                try:
                    mem.seek(offset)
                    data = mem.read(min(CHUNK + 64, end - offset))
                except OSError:
                    continue
                found.update(PATTERN.findall(data))
    return found


@pytest.mark.kata("double")
@pytest.mark.points(1)
def test_no_classmate_in_memory(impl):
    assert impl.double(2) == 4
    others = markers_in_memory() - {impl.MARKER.encode()}
    assert not others, f"this child's memory holds {sorted(others)}"
'''


def make_course(root: Path) -> Project:
    (root / "exercises" / "90_toy").mkdir(parents=True)
    (root / "exercises" / "90_toy" / "kata.toml").write_text(KATA)
    (root / "graders" / "public").mkdir(parents=True)
    (root / "graders" / "public" / "test_toy.py").write_text(GRADER)
    for kind in ("solutions", "starter"):
        (root / kind).mkdir()
        (root / kind / "toy.py").write_text(SUBMISSION.format(marker="classmate-" + "0" * 16))
    return Project(root)


def test_a_grading_child_holds_no_classmate_and_no_request(tmp_path: Path) -> None:
    course = make_course(tmp_path / "course")
    submissions = {}
    for name in ("ada", "bob", "cy"):
        marker = "classmate-" + secrets.token_hex(8)
        folder = tmp_path / "class" / marker  # the request names it: that must not reach a child either
        folder.mkdir(parents=True)
        (folder / "toy.py").write_text(SUBMISSION.format(marker=marker))
        submissions[name] = folder
    results = grade_submissions(submissions, ["toy"], course, Limits(wall_seconds=240, test_seconds=200), jobs=2)
    for name, result in results.items():
        chapter = result.chapters["toy"]
        failures = [failure["message"] for kata in chapter.katas.values() for failure in kata.failed]
        assert chapter.points == chapter.max_points == 1 and not chapter.flags, (name, failures, chapter.flags)
