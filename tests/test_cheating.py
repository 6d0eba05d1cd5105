"""Submissions that try to earn points without solving a kata earn none.

``tests/cheats/<case>.py`` is one attempt: its ``CHAPTER``, ``KATA`` and ``EXPECT``, then code that is
appended to the chapter's reference solution, so every other kata stays correct. ``EXPECT`` says what
must happen:

- ``"nothing"``: the kata scores 0. ``rigged_*``: results whose ``==`` (or ``__torch_function__``) agrees with
  anything; ``library_*``: a kata to write by hand calls torch's own version, also kept in a default argument
  or reached under another name (``F.conv3d`` over a depth of one); ``constant_*``: a result gradcheck alone
  cannot fault;
- ``"tampered"``: the module patches torch or torchkata at import, on top of a real mistake in ``KATA`` (its
  first mutant). The in-process grader shares the process with the submission and cannot resist that (the
  mistake then earns full marks), so the isolated ``torchkata grade DIR`` must flag the chapter ``tampered``
  and score it 0. These cheats never run in this process: their patches would outlive the grading.

Three attacks apply to every chapter and are generated here: a submission that does nothing at all, one that
raises an error of every kind a grader expects from a bad argument, whatever the arguments, and one whose
functions read the grader's expected values out of the caller's stack frames. Each must earn nothing.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

from tests.conftest import CHAPTERS, PROJECT
from torchkata.grading.grade import grade_in_process
from torchkata.grading.results import GradeResult, KataResult
from torchkata.mutants import load_mutants, overlay

CHEATS = PROJECT.root / "tests" / "cheats"
EXPECTATIONS = ("nothing", "tampered")


@dataclass(frozen=True)
class Cheat:
    name: str
    chapter: str
    kata: str
    expect: str
    source: str


def load_cheat(path: Path) -> Cheat:
    """A cheat file's metadata (its CHAPTER, KATA and EXPECT assignments) and its source."""
    source = path.read_text(encoding="utf-8")
    meta = {
        node.targets[0].id: ast.literal_eval(node.value)
        for node in ast.parse(source).body
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
        and node.targets[0].id in ("CHAPTER", "KATA", "EXPECT")
    }
    cheat = Cheat(path.stem, meta["CHAPTER"], meta["KATA"], meta["EXPECT"], source)
    if cheat.expect not in EXPECTATIONS:
        raise ValueError(f"{path}: EXPECT must be one of {EXPECTATIONS}, got {cheat.expect!r}")
    return cheat


CORPUS = [load_cheat(path) for path in sorted(CHEATS.glob("*.py"))]
IN_PROCESS = [cheat for cheat in CORPUS if cheat.expect != "tampered"]
TAMPERING = [cheat for cheat in CORPUS if cheat.expect == "tampered"]
SLUGS = [chapter.slug for chapter in CHAPTERS]


def submission(cheat: Cheat) -> str:
    """The graded chapter module: the reference (with a mistake in the kata when tampering) plus the cheat."""
    base = (PROJECT.solutions / f"{cheat.chapter}.py").read_text(encoding="utf-8")
    if cheat.expect == "tampered":
        mistake = next(m for m in load_mutants(PROJECT.mutants / f"{cheat.chapter}.py") if m.kata == cheat.kata)
        base = overlay(base, mistake)
    return f"{base.rstrip()}\n\n\n# cheat: {cheat.name}\n{cheat.source}"


def kata_outcome(result: GradeResult, chapter: str, kata: str) -> KataResult:
    found = result.chapters[chapter].katas.get(kata)
    assert found is not None and found.max_points > 0, f"no grader test of {chapter}/{kata} ran"
    return found


def test_the_corpus_covers_every_kind_of_cheat():
    assert {cheat.expect for cheat in CORPUS} == set(EXPECTATIONS)
    for cheat in CORPUS:
        assert cheat.chapter in SLUGS, f"{cheat.name}: unknown chapter {cheat.chapter}"
        assert cheat.kata in kata_names(cheat.chapter), f"{cheat.name}: {cheat.kata} is not a kata of {cheat.chapter}"
    chapters = [cheat.chapter for cheat in TAMPERING]
    assert len(chapters) == len(set(chapters)), "tampering cheats share one isolated run: one chapter each"


@pytest.mark.parametrize("cheat", IN_PROCESS, ids=[cheat.name for cheat in IN_PROCESS])
def test_cheat_earns_nothing_in_process(cheat, tmp_path):
    (tmp_path / f"{cheat.chapter}.py").write_text(submission(cheat), encoding="utf-8")
    result = grade_in_process(tmp_path, [cheat.chapter], PROJECT, katas=[cheat.kata])
    kata = kata_outcome(result, cheat.chapter, cheat.kata)
    assert kata.points == 0, f"{cheat.name} earned {kata.points} of {kata.max_points} points with {kata.passed}"


@pytest.fixture(scope="module")
def isolated_results(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One `torchkata grade DIR --json` run (isolated, the default) over every tampering cheat."""
    folder = tmp_path_factory.mktemp("tampering")
    for cheat in TAMPERING:
        (folder / f"{cheat.chapter}.py").write_text(submission(cheat), encoding="utf-8")
    report = folder / "result.json"
    chapters = [arg for cheat in TAMPERING for arg in ("--chapter", cheat.chapter)]
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTEST_", "TORCHKATA"))}
    completed = subprocess.run(
        [sys.executable, "-m", "torchkata", "grade", str(folder), *chapters, "--json", str(report), "-j", "2"],
        cwd=PROJECT.root, env=env, capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    return json.loads(report.read_text())


@pytest.mark.parametrize("cheat", TAMPERING, ids=[cheat.name for cheat in TAMPERING])
def test_tampering_is_caught_by_isolated_grading(cheat, isolated_results):
    chapter = isolated_results["chapters"][cheat.chapter]
    assert chapter.get("tampered"), f"{cheat.name} was not flagged: {sorted(chapter)}"
    assert chapter["points"] == 0 and chapter["katas"][cheat.kata]["points"] == 0 and chapter["max_points"] > 0


# ---------------------------------------------------------------- attacks generated for every chapter

DO_NOTHING = """
from torch import nn as _nn


class _Nothing(_nn.Module):
    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, *args, **kwargs):
        return None


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)
    return _Nothing if name[:1].isupper() else (lambda *args, **kwargs: None)
"""

ALWAYS_REFUSE = """
class _Refusal(ValueError, TypeError, IndexError, KeyError, RuntimeError):
    \"\"\"Matches whatever error a grader expects for a bad argument.\"\"\"


def _refuse(*args, **kwargs):
    raise _Refusal("bad argument")


class _Refuse:
    def __init__(self, *args, **kwargs):
        _refuse()


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)
    return _Refuse if name[:1].isupper() else _refuse
"""

FRAME_THIEF = """

import sys as _sys


def _steal(*args, **kwargs):
    \"\"\"The first local of a grader frame whose name says it holds the expected answer.\"\"\"
    frame = _sys._getframe(1)
    while frame is not None:
        if "graders" in frame.f_code.co_filename:
            for key, value in frame.f_locals.items():
                if "expect" in key or "want" in key or key in ("reference", "truth"):
                    return value.clone() if hasattr(value, "clone") else value
        frame = frame.f_back
    raise RuntimeError("nothing to steal")
"""


NONSENSE = """
class _Anything:
    \"\"\"Every attribute, call, item and operation gives itself back; it equals anything.\"\"\"

    def __init__(self, *args, **kwargs):
        pass

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return self

    def __call__(self, *args, **kwargs):
        return self

    def __getitem__(self, key):
        return self

    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    __hash__ = object.__hash__
    __lt__ = __le__ = __gt__ = __ge__ = __eq__

    def __bool__(self):
        return True

    def __iter__(self):
        return iter(())

    def __len__(self):
        return 0

    def __float__(self):
        return 0.0

    def __int__(self):
        return 0

    __index__ = __int__
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __truediv__ = __rtruediv__ = __call__
    __matmul__ = __rmatmul__ = __pow__ = __neg__ = __abs__ = __call__

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)
    return _Anything if name[:1].isupper() else _Anything()
"""


def kata_names(slug: str) -> list[str]:
    toml = next(PROJECT.exercises.glob(f"*_{slug}/kata.toml"))
    return [kata["name"] for kata in tomllib.loads(toml.read_text())["kata"]]


def function_katas(slug: str) -> list[str]:
    return [name for name in kata_names(slug) if name[:1].islower()]


def attack_module(attack: str, slug: str) -> str:
    if attack == "do_nothing":
        return DO_NOTHING
    if attack == "always_refuse":
        return ALWAYS_REFUSE
    if attack == "nonsense":
        return NONSENSE
    thief = (PROJECT.solutions / f"{slug}.py").read_text(encoding="utf-8") + FRAME_THIEF
    return thief + "".join(f"\n{name} = _steal\n" for name in function_katas(slug))


@cache
def graded_attack(attack: str, tmp_root: Path) -> GradeResult:
    """Every chapter graded in one in-process run against the generated attack."""
    folder = tmp_root / attack
    folder.mkdir()
    for slug in SLUGS:
        (folder / f"{slug}.py").write_text(attack_module(attack, slug), encoding="utf-8")
    # The thief replaces only the function katas: the class katas' checks would just grade the reference again.
    katas = [name for slug in SLUGS for name in function_katas(slug)] if attack == "frame_thief" else None
    return grade_in_process(folder, SLUGS, PROJECT, katas=katas)


@pytest.fixture(scope="module")
def attack_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("attacks")


@pytest.mark.parametrize("slug", SLUGS)
def test_a_submission_that_does_nothing_earns_nothing(slug, attack_root):
    chapter = graded_attack("do_nothing", attack_root).chapters[slug]
    passed = [test for kata in chapter.katas.values() for test in kata.passed]
    assert chapter.max_points > 0 and not passed, f"doing nothing passes {passed}"


@pytest.mark.parametrize("slug", SLUGS)
def test_a_submission_that_rejects_everything_earns_nothing(slug, attack_root):
    """Argument checks pay only a kata that also accepts good arguments."""
    chapter = graded_attack("always_refuse", attack_root).chapters[slug]
    passed = [test for kata in chapter.katas.values() for test in kata.passed]
    assert chapter.max_points > 0 and not passed, f"raising on every call passes {passed}"


@pytest.mark.parametrize("slug", SLUGS)
def test_an_object_that_equals_anything_and_returns_itself_earns_nothing(slug, attack_root):
    chapter = graded_attack("nonsense", attack_root).chapters[slug]
    passed = [test for kata in chapter.katas.values() for test in kata.passed]
    assert chapter.max_points > 0 and not passed, f"an object that equals anything passes {passed}"


@pytest.mark.parametrize("slug", SLUGS)
def test_reading_the_graders_frames_earns_nothing(slug, attack_root):
    chapter = graded_attack("frame_thief", attack_root).chapters[slug]
    stolen = [test for name in function_katas(slug) for test in chapter.katas[name].passed]
    assert not stolen, f"a function returning the grader's own expected value passes {stolen}"
