"""Realistic student mistakes (tests/public_bugs/<slug>.py) that the public checks alone must catch.

A student's `torchkata check` runs the public graders only. Each file here holds mistakes a student makes
while following the docstrings and the chapter README (same format as tests/mutants/); every one must
cost its kata at least one public point, so `check` never reports a kata done while its central
behaviour is broken.
"""

from __future__ import annotations

import pytest

from tests.conftest import CHAPTERS, PROJECT
from torchkata.grading.grade import grade_in_process
from torchkata.mutants import Mutant, load_mutants, write_overlay

BUGS_DIR = PROJECT.root / "tests" / "public_bugs"
SLUGS = [chapter.slug for chapter in CHAPTERS]


def _bugs() -> list[Mutant]:
    found = []
    for slug in SLUGS:
        path = BUGS_DIR / f"{slug}.py"
        if path.is_file():
            found.extend(load_mutants(path))
    return found


BUGS = _bugs()


@pytest.mark.parametrize("slug", SLUGS)
def test_every_chapter_has_public_bugs(slug):
    assert len([bug for bug in BUGS if bug.slug == slug]) >= 2, f"tests/public_bugs/{slug}.py lists fewer than 2"


def test_every_bug_names_a_kata_of_its_chapter():
    katas = {chapter.slug: {kata.name for kata in chapter.katas} for chapter in CHAPTERS}
    for bug in BUGS:
        assert bug.kata in katas.get(bug.slug, set()), f"{bug.id} names unknown kata {bug.kata}"


@pytest.mark.parametrize("item", BUGS, ids=[f"{b.slug}-{b.kata}-{b.line}" for b in BUGS])
def test_public_checks_catch_the_bug(item, tmp_path):
    impl_dir = write_overlay(PROJECT.solutions / f"{item.slug}.py", item, tmp_path)
    result = grade_in_process(
        impl_dir, [item.slug], PROJECT, katas=[item.kata], visibility="public", stop_at_first_failure=True
    )
    kata = result.chapters[item.slug].katas[item.kata]
    assert kata.max_points > 0, f"{item.kata} has no public check"
    assert kata.points < kata.max_points, f"the public checks miss the mistake: {item.mistake}"
