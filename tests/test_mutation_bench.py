"""bench/mutation.py's plumbing on a tiny fake chapter: regions only, killed and surviving mutants,
the equivalent list, and children that hang or crash. No real chapter runs here."""

from __future__ import annotations

import importlib.util
import os
import sys
import textwrap
import time
from pathlib import Path
from types import ModuleType

import pytest

from torchkata.course.project import Project
from torchkata.grading.grade import select_chapters

BENCH = Path(__file__).resolve().parent.parent / "bench" / "mutation.py"

SOLUTION = '''\
"""A fake chapter with one solution region."""


def clamp(x: int) -> int:
    """x, or 0 when x is negative."""
    floor = 0
    ### BEGIN SOLUTION
    # TODO: the largest of x, 0 and 0
    return max(x, 0, 0)
    ### END SOLUTION


def helper(x: int) -> int:
    return x - 1
'''

# clamp(-5) < 1: max(x, 1, 0) and max(x, 0, 1) lose a point; max(x, -1, 0) and max(x, 0, -1) survive.
GRADER = '''\
import pytest


@pytest.mark.kata("clamp")
@pytest.mark.points(1)
def test_clamp_keeps_positive(impl):
    assert impl.clamp(3) == 3


@pytest.mark.kata("clamp")
@pytest.mark.points(1)
def test_clamp_lowers_negative(impl):
    assert impl.clamp(-5) < 1
'''


MUTATED = ["return max(x, 1, 0)", "return max(x, -1, 0)", "return max(x, 0, 1)", "return max(x, 0, -1)"]


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_mutation", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def fake(tmp_path: Path) -> Project:
    (tmp_path / "exercises" / "01_fake").mkdir(parents=True)
    (tmp_path / "exercises" / "01_fake" / "kata.toml").write_text('chapter = "fake"\n\n[[kata]]\nname = "clamp"\n')
    (tmp_path / "solutions").mkdir()
    (tmp_path / "solutions" / "fake.py").write_text(SOLUTION)
    (tmp_path / "graders" / "public").mkdir(parents=True)
    (tmp_path / "graders" / "public" / "test_fake.py").write_text(GRADER)
    return Project(tmp_path)


def _cosmic_ray() -> None:
    """Skip where the optional tool is missing: CI's dev extra does not install it."""
    pytest.importorskip("cosmic_ray", reason="cosmic-ray is not installed (pip install -e .[mutation])")


def test_mutants_come_only_from_the_region(bench):
    _cosmic_ray()
    mutants = bench.generate("fake", SOLUTION)
    assert [(m.line, m.function, m.operator, m.original) for m in mutants] == [
        (9, "clamp", "core/NumberReplacer", "return max(x, 0, 0)")
    ] * 4
    assert sorted(m.mutated for m in mutants) == sorted(MUTATED)


def test_an_error_message_is_not_mutated_but_its_condition_is(bench):
    _cosmic_ray()
    solution = SOLUTION.replace(
        "    return max(x, 0, 0)",
        '    if x > 99:\n        raise ValueError(f"x must be at most 99, got {x + 0}")\n    return max(x, 0, 0)',
    )
    mutated = {m.mutated for m in bench.generate("fake", solution)}
    assert "if x > 98:" in mutated and "if x >= 99:" in mutated
    assert not [text for text in mutated if "raise" in text]
    assert sorted(text for text in mutated if "return" in text) == sorted(MUTATED)


def test_killed_surviving_and_equivalent_mutants_are_counted(bench, fake, tmp_path):
    _cosmic_ray()
    (listed,) = [m for m in bench.generate("fake", SOLUTION) if m.mutated == "return max(x, -1, 0)"]
    equivalent_file = tmp_path / "equivalent.toml"
    equivalent_file.write_text(bench.toml_entry(listed).replace("WHY it behaves", "0 is larger: it behaves"))
    equivalent = bench.load_equivalent(equivalent_file)
    (chapter,) = select_chapters(fake, ["fake"])
    score = bench.score_chapter(fake, chapter, equivalent, jobs=2, timeout_s=20)
    outcomes = {m.mutated: o.status for m, o in zip(score.mutants, score.outcomes, strict=True)}
    assert outcomes == {
        "return max(x, 1, 0)": "killed",
        "return max(x, 0, 1)": "killed",
        "return max(x, 0, -1)": "survived",
    }
    assert [m.mutated for m in score.equivalent] == ["return max(x, -1, 0)"]
    assert score.line() == "fake: killed 2 of 3 non-equivalent mutants (66.7%)"
    assert bench.stale_entries(equivalent, [score]) == []
    text = bench.report(score, fake, equivalent_file)
    assert "survivor 1: line 9, clamp, core/NumberReplacer" in text and "+    return max(x, 0, -1)" in text
    assert "1 left out as equivalent" in text


def test_equivalent_entries_need_every_field(bench, tmp_path):
    listed = tmp_path / "equivalent.toml"
    listed.write_text('[[mutant]]\nchapter = "fake"\nfunction = "clamp"\n')
    with pytest.raises(ValueError, match="lacks"):
        bench.load_equivalent(listed)
    assert bench.load_equivalent(tmp_path / "absent.toml") == []


def test_the_equivalent_list_of_the_course_parses(bench):
    for entry in bench.load_equivalent(bench.EQUIVALENT):
        assert entry["reason"].strip() and "WHY" not in entry["reason"], entry


def test_hanging_and_crashing_children_are_killed(bench, fake, tmp_path):
    import torch  # noqa: F401 - as in the bench, children start with torch loaded (the plugin needs it)

    (chapter,) = select_chapters(fake, ["fake"])
    marker = tmp_path / "grandchild.pid"
    hangs = SOLUTION + textwrap.dedent(
        f"""
        import subprocess, time
        _sleeper = subprocess.Popen(["sleep", "60"])
        open({str(marker)!r}, "w").write(str(_sleeper.pid))
        while True:
            time.sleep(0.05)
        """
    )
    crashes = SOLUTION + "\nimport os\nos._exit(3)\n"
    started = time.monotonic()
    found = dict(bench.run_sources(fake, chapter, [hangs, crashes, SOLUTION], jobs=2, limit_s=2.0))
    assert time.monotonic() - started < 15
    assert [found[i].status for i in range(3)] == ["timeout", "crashed", "survived"], found
    assert "status 3" in found[1].detail
    sleeper = int(marker.read_text())
    for _ in range(50):  # the killed group's sleep is reaped by init soon after
        if not Path(f"/proc/{sleeper}").exists() or "Z" in Path(f"/proc/{sleeper}/stat").read_text().split()[2]:
            break
        time.sleep(0.05)
    else:
        os.kill(sleeper, 9)
        pytest.fail("the hanging child's subprocess outlived its time limit")


def test_spread_takes_mutants_evenly(bench):
    assert bench.spread(list(range(10)), 3) == [0, 3, 6]
    assert bench.spread(list(range(4)), None) == [0, 1, 2, 3]
    assert bench.spread(list(range(4)), 0) == []
