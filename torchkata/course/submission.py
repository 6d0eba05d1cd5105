"""Where a submission keeps its chapter files: at its top level, or in starter/ as a course repository does."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

REPOSITORY_FOLDER = "starter"


def chapter_folder(submission: Path, slugs: Iterable[str]) -> Path:
    """``submission`` if it holds any ``<slug>.py``, else its ``starter/`` if that does, else ``submission``."""
    names = [f"{slug}.py" for slug in slugs]
    for folder in (submission, submission / REPOSITORY_FOLDER):
        if any((folder / name).is_file() for name in names):
            return folder
    return submission


def where_text(submission: Path, folder: Path) -> str:
    """How a report names the folder it graded: ``starter/ of SUBMISSION`` or ``SUBMISSION``."""
    return f"{folder.name}/ of {submission}" if folder != submission else str(submission)
