"""Grader files pass in any order: a chapter's hidden file before its public one, its tests shuffled.

A grader that leans on state another test left behind (an import done first, a patched module, a seed)
passes in the usual order and fails in another: the reference must get every point in both.
"""

from __future__ import annotations

import contextlib
import io
import random

import pytest

from tests.conftest import CHAPTERS, PROJECT
from torchkata.grade import pytest_args, select_chapters
from torchkata.recorder import Recorder
from torchkata.results import build_result

SLUGS = [chapter.slug for chapter in CHAPTERS]


class Shuffled:
    """Runs the collected tests in a seeded random order (after the plugin's own ordering)."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        random.Random(self.seed).shuffle(items)


def hidden_first_shuffled(slug: str, seed: int):
    chapters = select_chapters(PROJECT, [slug])
    args = pytest_args(PROJECT, PROJECT.solutions, chapters)
    files = [arg for arg in args if arg.endswith(".py")]
    options = [arg for arg in args if not arg.endswith(".py")]
    recorder = Recorder()
    with contextlib.redirect_stdout(io.StringIO()):
        pytest.main([*reversed(files), *options], plugins=[recorder, Shuffled(seed)])
    return build_result(recorder.outcomes())


@pytest.mark.parametrize("slug", SLUGS)
def test_the_reference_gets_every_point_with_hidden_graders_first_and_tests_shuffled(slug):
    result = hidden_first_shuffled(slug, seed=sum(map(ord, slug)))
    chapter = result.chapters[slug]
    failed = [f"{kata.name}: {f['test']}: {f['message']}" for kata in chapter.katas.values() for f in kata.failed]
    assert chapter.max_points > 0 and not failed, "\n".join(failed)
