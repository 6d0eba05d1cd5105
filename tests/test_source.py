"""solutions -> starter: regions, hints, the generated stubs and the drift check."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from torchkata.course.source import SourceError, build, find_regions, make_starter

SOLUTION = textwrap.dedent(
    '''\
    import torch


    def double(x: torch.Tensor) -> torch.Tensor:
        """Twice x."""
        ### BEGIN SOLUTION
        # TODO: multiply by two
        #   (a new tensor, not in place)
        return x * 2
        ### END SOLUTION


    class Box:
        def size(self) -> int:
            ### BEGIN SOLUTION
            # TODO: the number three
            return 3
            ### END SOLUTION
    '''
)


def test_regions_know_their_kata_and_hint():
    regions = find_regions(SOLUTION)
    assert [(r.owner, r.kata) for r in regions] == [("double", "double"), ("Box.size", "Box")]
    assert regions[0].hint == ("# TODO: multiply by two", "#   (a new tensor, not in place)")
    assert regions[0].body == ("    return x * 2",)


def test_starter_keeps_hints_and_raises_naming_the_kata():
    starter = make_starter(SOLUTION)
    assert "return x * 2" not in starter and "return 3" not in starter
    assert "BEGIN SOLUTION" not in starter
    assert "    # TODO: multiply by two\n    #   (a new tensor, not in place)\n" in starter
    assert "        raise NotImplementedError('Box.size: not written yet, see the TODO above this line')" in starter
    namespace: dict = {}
    exec(compile(starter, "starter.py", "exec"), namespace)
    with pytest.raises(NotImplementedError, match="double"):
        namespace["double"](1)


@pytest.mark.parametrize(
    "text, problem",
    [
        ("def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION\n", "must open with"),
        ("def f():\n    ### BEGIN SOLUTION\n    # TODO: x\n    return 1\n", "never closed"),
        ("def f():\n    # TODO: x\n    return 1\n    ### END SOLUTION\n", "without"),
        ("### BEGIN SOLUTION\n# TODO: x\nX = 1\n### END SOLUTION\n", "inside a def or class"),
        (
            "def f():\n    ### BEGIN SOLUTION\n    # TODO: x\n    ### BEGIN SOLUTION\n    pass\n    ### END SOLUTION\n",
            "inside another region",
        ),
        ("def f(:\n    pass\n", "broken.py:1"),
    ],
)
def test_malformed_regions_are_reported_with_their_line(text, problem):
    with pytest.raises(SourceError, match=problem):
        make_starter(text, Path("broken.py"))


def _course(tmp_path: Path) -> tuple[Path, Path]:
    solutions, starter = tmp_path / "solutions", tmp_path / "starter"
    solutions.mkdir()
    (solutions / "basics.py").write_text(SOLUTION)
    return solutions, starter


def test_build_writes_then_reports_nothing_to_do(tmp_path):
    solutions, starter = _course(tmp_path)
    assert build(solutions, starter) == [starter / "basics.py"]
    assert build(solutions, starter, check=True) == []
    assert (starter / "basics.py").read_text() == make_starter(SOLUTION)


def test_build_check_finds_edits_and_orphans_without_writing(tmp_path):
    solutions, starter = _course(tmp_path)
    build(solutions, starter)
    (starter / "basics.py").write_text("edited by hand\n")
    (starter / "orphan.py").write_text("")
    assert build(solutions, starter, check=True) == [starter / "basics.py", starter / "orphan.py"]
    assert (starter / "basics.py").read_text() == "edited by hand\n"
    build(solutions, starter, only=["basics"])
    assert (starter / "orphan.py").exists(), "a build of named chapters leaves other files alone"
    build(solutions, starter)
    assert not (starter / "orphan.py").exists()


def test_build_check_command_names_the_stale_file(tmp_path):
    solutions, starter = _course(tmp_path)
    (tmp_path / "exercises").mkdir()
    (tmp_path / "graders").mkdir()
    build(solutions, starter)
    (starter / "basics.py").write_text("stale\n")
    command = [sys.executable, "-m", "torchkata", "build", "--check"]
    stale = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert stale.returncode == 1
    assert "starter/basics.py" in stale.stdout
    subprocess.run([sys.executable, "-m", "torchkata", "build"], cwd=tmp_path, check=True, timeout=60)
    fresh = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert fresh.returncode == 0, fresh.stdout


def test_the_course_starter_is_generated_from_its_solutions(project):
    assert build(project.solutions, project.starter, check=True) == []


def test_build_without_solutions_refuses_and_keeps_the_starter(tmp_path):
    starter = tmp_path / "starter"
    starter.mkdir()
    (starter / "modules.py").write_text("student work\n")
    with pytest.raises(SourceError, match="no solution modules"):
        build(tmp_path / "solutions", starter)
    assert (starter / "modules.py").read_text() == "student work\n"
