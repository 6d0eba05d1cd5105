"""Running the checks for the student, and remembering each kata's last result in the state file.

A recorded result is keyed by a fingerprint of what decided it: the chapter file under test and
the grader files of the chapter. ``list`` and ``progress`` reuse a result only while its fingerprint
is current, and re-check the rest, so they are instant when nothing changed and never out of date.

Each kata's status also carries its full points, public and hidden checks together: counted from the
hidden graders where this repository has them (collected, never run against the student's code, and
remembered per grader fingerprint), else read from ``graders/points.json`` where a release wrote it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Collection, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torchkata import __version__
from torchkata.course.catalog import Chapter
from torchkata.course.project import Project
from torchkata.student.katas import KataStatus
from torchkata.student.state import load_state, state_path, update_state

if TYPE_CHECKING:
    from torchkata.student.checkrun import CheckLimits

RECORD_FORMAT = "2"  # statuses recorded by an older format are checked again
POINTS_FILE = "points.json"  # in graders/: each chapter's kata points with the hidden checks, for a release


def fingerprint(project: Project, impl_dir: Path, slug: str, visibility: str) -> str:
    """A digest of the chapter file under test and of the grader files that check it."""
    digest = hashlib.sha256(f"{__version__}\0{RECORD_FORMAT}\0{visibility}\0".encode())
    impl_file = impl_dir / f"{slug}.py"
    files = [impl_file, *project.grader_files(slug, "all"), project.graders / POINTS_FILE]
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


def _graders_fingerprint(project: Project, slug: str) -> str:
    digest = hashlib.sha256(f"{__version__}\0".encode())
    for path in project.grader_files(slug, "all"):
        digest.update(f"{path.name}\0".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def known_full_points(project: Project, slugs: Iterable[str]) -> dict[str, dict[str, float]]:
    """Kata points with the hidden checks, for the chapters where they are known without collecting."""
    slugs = list(slugs)
    found: dict[str, dict[str, float]] = {}
    shipped = project.graders / POINTS_FILE
    if shipped.is_file() and not (project.graders / "hidden").is_dir():
        try:
            data = json.loads(shipped.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = {}
        for slug in slugs:
            if isinstance(data, dict) and isinstance(data.get(slug), dict):
                found[slug] = {str(k): float(v) for k, v in data[slug].items()}
        return found
    cached = load_state(state_path(project.root)).get("points", {})
    for slug in slugs:
        entry = cached.get(slug) if isinstance(cached, dict) else None
        if isinstance(entry, dict) and entry.get("fingerprint") == _graders_fingerprint(project, slug):
            found[slug] = dict(entry.get("katas", {}))
    return found


def remember_full_points(project: Project, totals: dict[str, dict[str, float]]) -> None:
    def change(state: dict[str, Any]) -> None:
        points = state.setdefault("points", {})
        for slug, katas in totals.items():
            points[slug] = {"fingerprint": _graders_fingerprint(project, slug), "katas": katas}

    update_state(state_path(project.root), change)


def needs_full_points(project: Project, chapters: Iterable[Chapter], visibility: str) -> bool:
    """True when hidden graders here give the chapters points that are not known yet."""
    if visibility != "public":
        return False
    known = known_full_points(project, [chapter.slug for chapter in chapters])
    return any(chapter.slug not in known and project.grader_files(chapter.slug, "hidden") for chapter in chapters)


def with_full_points(
    statuses: list[KataStatus], totals: dict[str, dict[str, float]], visibility: str
) -> list[KataStatus]:
    """The statuses with each kata's full points filled in where they are known."""
    if visibility == "all":
        return [dataclasses.replace(status, full_points=status.max_points) for status in statuses]
    return [
        dataclasses.replace(status, full_points=totals[status.chapter].get(status.kata, status.max_points))
        if status.chapter in totals else status
        for status in statuses
    ]


def run_checks(
    project: Project,
    impl_dir: Path,
    chapters: Collection[Chapter],
    visibility: str,
    katas: Collection[str] | None = None,
    limits: CheckLimits | None = None,
) -> list[KataStatus]:
    """Check the chapters (only ``katas`` when given) in a limited child, record and return each kata's status.

    KeyboardInterrupt stops the check and propagates; nothing is recorded then.
    """
    from torchkata.student.checkrun import CheckLimits, CheckRun

    fingerprints = {chapter.slug: fingerprint(project, impl_dir, chapter.slug, visibility) for chapter in chapters}
    run = CheckRun(project, impl_dir, list(chapters), visibility, katas, limits or CheckLimits.chosen(),
                   full_points=needs_full_points(project, chapters, visibility))
    return finish_checks(project, impl_dir, visibility, run.wait(), run.totals, fingerprints)


def finish_checks(
    project: Project, impl_dir: Path, visibility: str, statuses: list[KataStatus],
    totals: dict[str, dict[str, float]] | None, fingerprints: dict[str, str],
) -> list[KataStatus]:
    """Fill in the full points (remembering newly counted ones), record the statuses, return them."""
    if totals:
        remember_full_points(project, totals)
    known = known_full_points(project, {status.chapter for status in statuses})
    statuses = with_full_points(statuses, {**known, **(totals or {})}, visibility)
    record(project, impl_dir, visibility, statuses, fingerprints)
    return statuses


def current_statuses(
    project: Project,
    impl_dir: Path,
    chapters: list[Chapter],
    visibility: str,
    on_check: Callable[[Chapter], None] | None = None,
    limits: CheckLimits | None = None,
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
            for status in run_checks(project, impl_dir, [chapter], visibility, stale if partial else None, limits):
                known[(status.chapter, status.kata)] = status
        statuses.extend(known[(chapter.slug, kata.name)] for kata in chapter.katas)
    return statuses
