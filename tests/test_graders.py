"""The graders are graded: reference full marks, starter zero, every mutant caught, stable results."""

from __future__ import annotations

import contextlib
import io
import random
from functools import cache

import pytest

from tests.conftest import CHAPTERS, PROJECT
from torchkata.grading.grade import grade_in_process, pytest_args, select_chapters
from torchkata.grading.recorder import Recorder
from torchkata.grading.results import GradeResult, build_result
from torchkata.mutants import Mutant, load_mutants, write_overlay
from torchkata.sandbox.canary import KNOWN_WRONG_SOURCE

SLUGS = [chapter.slug for chapter in CHAPTERS]


def _mutants() -> list[Mutant]:
    found = []
    for slug in SLUGS:
        path = PROJECT.mutants / f"{slug}.py"
        if path.is_file():
            found.extend(load_mutants(path))
    return found


MUTANTS = _mutants()


class Shuffled:
    """Runs the collected tests in a seeded random order (after the plugin's own ordering)."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        random.Random(self.seed).shuffle(items)


@cache
def reference(slug: str) -> GradeResult:
    """The reference graded with the chapter's hidden file first and its tests shuffled.

    Grader files must pass in any order: one that leans on state another test left behind (an import
    done first, a patched module, a seed) passes in the usual order and fails in another.
    """
    args = pytest_args(PROJECT, PROJECT.solutions, select_chapters(PROJECT, [slug]))
    files = [arg for arg in args if arg.endswith(".py")]
    recorder = Recorder()
    with contextlib.redirect_stdout(io.StringIO()):
        pytest.main([*reversed(files), *(arg for arg in args if not arg.endswith(".py"))],
                     plugins=[recorder, Shuffled(sum(map(ord, slug)))])
    chapter = next(c for c in CHAPTERS if c.slug == slug)
    return build_result(recorder.outcomes(), {slug: [kata.name for kata in chapter.katas]})


def _failures(result: GradeResult) -> list[str]:
    return [
        f"{kata.name}: {failure['test']}: {failure['message']}"
        for chapter in result.chapters.values()
        for kata in chapter.katas.values()
        for failure in kata.failed
    ]


@pytest.mark.parametrize("slug", SLUGS)
def test_reference_gets_every_point(slug):
    result = reference(slug)
    assert result.max_points > 0, f"chapter {slug} has no graded tests"
    assert not result.chapters[slug].flags, result.chapters[slug].flags
    assert result.points == result.max_points, "\n".join(_failures(result))


@pytest.mark.parametrize("slug", SLUGS)
def test_every_kata_is_graded_publicly_and_hidden(slug):
    chapter = next(c for c in CHAPTERS if c.slug == slug)
    katas = reference(slug).chapters[slug].katas
    for kata in chapter.katas:
        assert kata.name in katas, f"kata {kata.name} of {slug} has no grader test"
        seen = {outcome.visibility for outcome in katas[kata.name].outcomes}
        assert seen == {"public", "hidden"}, f"{kata.name} is graded only by {seen} checks"
    assert set(katas) <= {kata.name for kata in chapter.katas}, "a grader names a kata kata.toml lacks"


@pytest.mark.parametrize("slug", SLUGS)
def test_starter_gets_no_point(slug):
    result = grade_in_process(PROJECT.starter, [slug], PROJECT)
    passed = [outcome.test for outcome in result.outcomes() if outcome.passed]
    assert not passed, f"grader tests that pass on the untouched starter: {passed}"
    assert result.points == 0
    messages = {outcome.message.split(":")[0] for outcome in result.outcomes()}
    assert messages == {"not started"}, f"the starter should fail as 'not started', got {messages}"


@pytest.mark.parametrize("slug", SLUGS)
def test_every_chapter_has_five_mutants(slug):
    assert len([m for m in MUTANTS if m.slug == slug]) >= 5


@pytest.mark.parametrize("item", MUTANTS, ids=[f"{m.slug}-{m.kata}-{m.line}" for m in MUTANTS])
def test_mutant_loses_points_on_its_kata(item, tmp_path):
    impl_dir = write_overlay(PROJECT.solutions / f"{item.slug}.py", item, tmp_path)
    # Only the broken kata's graders run (the reference test already covers the others), up to the first failure.
    result = grade_in_process(impl_dir, [item.slug], PROJECT, katas=[item.kata], stop_at_first_failure=True)
    kata = result.chapters[item.slug].katas[item.kata]
    assert kata.points < kata.max_points, f"the graders miss the mistake: {item.mistake}"


@pytest.mark.parametrize("slug", SLUGS)
def test_two_runs_agree(slug, tmp_path):
    mutants = [m for m in MUTANTS if m.slug == slug]
    impl_dir = write_overlay(PROJECT.solutions / f"{slug}.py", mutants[0], tmp_path) if mutants else PROJECT.solutions
    first = grade_in_process(impl_dir, [slug], PROJECT)
    second = grade_in_process(impl_dir, [slug], PROJECT)
    assert first.to_dict() == second.to_dict()


@pytest.mark.parametrize("slug", SLUGS)
def test_canary_module_gets_no_point(slug, tmp_path):
    (tmp_path / f"{slug}.py").write_bytes(KNOWN_WRONG_SOURCE)
    result = grade_in_process(tmp_path, [slug], PROJECT)
    passed = [outcome.test for outcome in result.outcomes() if outcome.passed]
    assert result.max_points > 0 and not passed, f"grader tests that pass on the canaries' module: {passed}"


@pytest.mark.parametrize("slug", SLUGS)
def test_every_grader_test_names_its_kata_and_points(slug):
    """A test without markers would silently not count; one without points would count 1."""
    import ast

    for path in PROJECT.grader_files(slug):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                marks = {
                    d.func.attr for d in node.decorator_list
                    if isinstance(d, ast.Call) and isinstance(d.func, ast.Attribute)
                }
                assert {"kata", "points"} <= marks, f"{path.name}::{node.name} lacks a kata or points marker"
