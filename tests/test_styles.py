"""Correct solutions written in other styles (tests/styles/<slug>.py) get every point."""

from __future__ import annotations

import pytest

from tests.conftest import PROJECT
from torchkata.grading.grade import grade_in_process

STYLES = sorted(path.stem for path in (PROJECT.root / "tests" / "styles").glob("*.py"))


@pytest.mark.parametrize("slug", STYLES)
def test_other_styles_get_full_marks(slug):
    result = grade_in_process(PROJECT.root / "tests" / "styles", [slug], PROJECT)
    failures = [f"{o.test}: {o.message}" for o in result.outcomes() if not o.passed]
    assert result.max_points > 0 and not failures, "\n".join(failures)
