"""Running the checks for the student, and remembering each kata's last result in the state file.

A recorded result is keyed by a fingerprint of what decided it: the chapter file under test and
the grader files that ran. ``list`` and ``progress`` reuse a result only while its fingerprint is
current, and re-check the rest, so they are instant when nothing changed and never out of date.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Iterable
from pathlib import Path
from typing import Any

from torchkata import __version__
from torchkata.catalog import Chapter
from torchkata.project import Project
from torchkata.state import load_state, state_path, update_state
from torchkata.student import KataStatus, statuses_from


def fingerprint(project: Project, impl_dir: Path, slug: str, visibility: str) -> str:
    """A digest of the chapter file under test and of the grader files that check it."""
    digest = hashlib.sha256(f"{__version__}\0{visibility}\0".encode())
    impl_file = impl_dir / f"{slug}.py"
    files = [impl_file, *project.grader_files(slug, "public" if visibility == "public" else "all")]
    for path in files:
        digest.update(f"{path.resolve()}\0".encode())
        try:
            digest.update(path.read_bytes())
        except OSError:
            digest.update(b"\0missing\0")
    return digest.hexdigest()


def _store_key(impl_dir: Path, visibility: str) -> str:
    return f"{visibility} {impl_dir.resolve()}"


def _recorded_entries(state: dict[str, Any], impl_dir: Path, visibility: str) -> dict[str, Any]:
    entries = state.get("checks", {}).get(_store_key(impl_dir, visibility), {})
    return entries if isinstance(entries, dict) else {}


def record(
    project: Project, impl_dir: Path, visibility: str, statuses: Iterable[KataStatus], fingerprints: dict[str, str]
) -> None:
    """Remember these katas' statuses under the fingerprints their chapter had when the check started."""
    statuses = list(statuses)

    def change(state: dict[str, Any]) -> None:
        checks = state.setdefault("checks", {})
        entries = checks.get(_store_key(impl_dir, visibility))
        if not isinstance(entries, dict):
            entries = checks[_store_key(impl_dir, visibility)] = {}
        for status in statuses:
            chapter = entries.get(status.chapter)
            if not isinstance(chapter, dict):
                chapter = entries[status.chapter] = {}
            chapter[status.kata] = {"fingerprint": fingerprints[status.chapter], **status.to_dict()}

    update_state(state_path(project.root), change)


def recorded_statuses(
    project: Project, impl_dir: Path, visibility: str, fingerprints: dict[str, str]
) -> dict[tuple[str, str], KataStatus]:
    """The remembered statuses that are still current, by (chapter, kata)."""
    entries = _recorded_entries(load_state(state_path(project.root)), impl_dir, visibility)
    found: dict[tuple[str, str], KataStatus] = {}
    for slug, current in fingerprints.items():
        chapter = entries.get(slug)
        if not isinstance(chapter, dict):
            continue
        for name, entry in chapter.items():
            if isinstance(entry, dict) and entry.get("fingerprint") == current:
                try:
                    found[(slug, name)] = KataStatus.from_dict(entry)
                except TypeError:
                    continue
    return found


def run_checks(
    project: Project,
    impl_dir: Path,
    chapters: Collection[Chapter],
    visibility: str,
    katas: Collection[str] | None = None,
) -> list[KataStatus]:
    """Check the chapters (only ``katas`` when given) in this process, record and return each kata's status."""
    from torchkata.grade import grade_in_process

    fingerprints = {chapter.slug: fingerprint(project, impl_dir, chapter.slug, visibility) for chapter in chapters}
    result = grade_in_process(
        impl_dir, [chapter.slug for chapter in chapters], project, katas=list(katas) if katas else None,
        visibility=visibility,
    )
    statuses = statuses_from(result, chapters, katas)
    record(project, impl_dir, visibility, statuses, fingerprints)
    return statuses


def current_statuses(
    project: Project,
    impl_dir: Path,
    chapters: list[Chapter],
    visibility: str,
    on_check: Callable[[Chapter], None] | None = None,
) -> list[KataStatus]:
    """Every kata's status: the remembered one where still current, else checked now (chapter by chapter)."""
    fingerprints = {chapter.slug: fingerprint(project, impl_dir, chapter.slug, visibility) for chapter in chapters}
    known = recorded_statuses(project, impl_dir, visibility, fingerprints)
    statuses: list[KataStatus] = []
    for chapter in chapters:
        stale = [kata.name for kata in chapter.katas if (chapter.slug, kata.name) not in known]
        if stale:
            if on_check:
                on_check(chapter)
            partial = len(stale) < len(chapter.katas)
            for status in run_checks(project, impl_dir, [chapter], visibility, stale if partial else None):
                known[(status.chapter, status.kata)] = status
        statuses.extend(known[(chapter.slug, kata.name)] for kata in chapter.katas)
    return statuses
