"""What a grading run reads from disk, read once into memory; and the run directories written from it.

The submission's ``<slug>.py`` files, the graders and the starters are read before
any untrusted code runs, so nothing a child writes can change what later chapters
or later submissions are graded with. Each child gets a fresh directory.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from torchkata.course.project import Project
from torchkata.sandbox.canary import KNOWN_WRONG_SOURCE, CanaryPlan

MAX_SOURCE_BYTES = 1024 * 1024
GRADER_DIR = "graders"


@dataclass(frozen=True)
class Submitted:
    """One chapter module of a submission: its bytes, or why it cannot be graded."""

    slug: str
    source: bytes | None
    problem: str = ""


@dataclass(frozen=True)
class ChapterSources:
    """A chapter's grader files (by visibility), its starter (whose imports the server warms) and casebook."""

    slug: str
    graders: dict[str, bytes]
    starter: bytes | None
    casebook: bytes | None = None


def read_submitted(directory: Path, slug: str) -> Submitted:
    """``directory/<slug>.py`` if it is a plain file of sensible size; nothing else of the directory."""
    path = directory / f"{slug}.py"
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return Submitted(slug, None, f"{slug}.py was not found in the submission: chapter '{slug}' is "
                         f"graded from a file named {slug}.py.")
    except OSError as error:
        return Submitted(slug, None, f"{slug}.py cannot be read: {error.strerror}.")
    if stat.S_ISLNK(info.st_mode):
        return Submitted(slug, None, f"{slug}.py is a symbolic link; submit the file itself.")
    if not stat.S_ISREG(info.st_mode):
        return Submitted(slug, None, f"{slug}.py is not a regular file.")
    if info.st_size > MAX_SOURCE_BYTES:
        return Submitted(slug, None, f"{slug}.py holds {info.st_size:,} bytes; the most graded is "
                         f"{MAX_SOURCE_BYTES:,}.")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd, "rb") as handle:
            return Submitted(slug, handle.read(MAX_SOURCE_BYTES + 1))
    except OSError as error:
        return Submitted(slug, None, f"{slug}.py cannot be read: {error.strerror}.")


def read_chapter(project: Project, slug: str) -> ChapterSources:
    graders = {path.parent.name: path.read_bytes() for path in project.grader_files(slug)}
    starter = project.starter / f"{slug}.py"
    casebook = project.casebook(slug)
    return ChapterSources(slug, graders, starter.read_bytes() if starter.is_file() else None,
                          casebook.read_bytes() if casebook.is_file() and "hidden" in graders else None)


@dataclass(frozen=True)
class RunDir:
    """A child's directory: graders and impl to read, scratch to write, the ini pytest reads."""

    root: Path

    @property
    def ini(self) -> Path:
        return self.root / "pytest.ini"

    @property
    def impl(self) -> Path:
        return self.root / "impl"

    @property
    def scratch(self) -> Path:
        return self.root / "scratch"

    @property
    def graders(self) -> Path:
        return self.root / GRADER_DIR

    def grader_files(self) -> list[Path]:
        """Public graders first, as the in-process run orders them, then hidden."""
        rank = {"public": 0, "hidden": 1}
        return sorted(self.graders.glob("*/test_*.py"), key=lambda path: (rank.get(path.parent.name, 2), path.name))


def _write(path: Path, data: bytes | str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)


def write_run_dir(
    root: Path,
    chapters: list[ChapterSources],
    submitted: Submitted | None = None,
    canary: CanaryPlan | None = None,
) -> RunDir:
    """Lay out a fresh run directory at ``root`` (which must not exist)."""
    run = RunDir(root)
    root.mkdir(parents=True)
    _write(run.ini, "[pytest]\n")
    run.impl.mkdir()
    (run.scratch / "tmp").mkdir(parents=True)
    for chapter in chapters:
        for visibility, source in chapter.graders.items():
            _write(run.graders / visibility / f"test_{chapter.slug}.py", source)
        if chapter.casebook is not None:
            _write(run.graders / "hidden" / f"cases_{chapter.slug}.pt", chapter.casebook)
    if submitted is not None and submitted.source is not None:
        _write(run.impl / f"{submitted.slug}.py", submitted.source)
    if canary is not None:
        (chapter,) = chapters
        for visibility, source in chapter.graders.items():
            _write(run.graders / visibility / f"test_{canary.alias}.py", source)
        _write(run.impl / f"{canary.alias}.py", KNOWN_WRONG_SOURCE)
        _write(run.graders / "public" / f"test_{canary.sentinel_stem}.py", canary.sentinel_source)
    return run
