"""Where a course repository keeps its parts, found from any directory inside it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ROOT_ENV = "TORCHKATA_ROOT"


def _looks_like_root(path: Path) -> bool:
    return (path / "exercises").is_dir() and (path / "graders").is_dir()


def find_root(start: Path | None = None) -> Path:
    """The course root: $TORCHKATA_ROOT, else the nearest parent holding exercises/ and graders/."""
    if os.environ.get(ROOT_ENV):
        return Path(os.environ[ROOT_ENV]).resolve()
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if _looks_like_root(candidate):
            return candidate
    package_parent = Path(__file__).resolve().parents[2]  # torchkata/course/project.py -> the checkout
    if _looks_like_root(package_parent):
        return package_parent
    raise FileNotFoundError(
        f"no torchkata course found from {here}: expected a directory holding "
        f"exercises/ and graders/ (or set {ROOT_ENV})"
    )


@dataclass(frozen=True)
class Project:
    """Paths of one course repository."""

    root: Path

    @classmethod
    def find(cls, start: Path | None = None) -> Project:
        return cls(find_root(start))

    @property
    def exercises(self) -> Path:
        return self.root / "exercises"

    @property
    def solutions(self) -> Path:
        return self.root / "solutions"

    @property
    def starter(self) -> Path:
        return self.root / "starter"

    @property
    def graders(self) -> Path:
        return self.root / "graders"

    @property
    def mutants(self) -> Path:
        return self.root / "tests" / "mutants"

    def grader_files(self, slug: str, visibility: str = "all") -> list[Path]:
        """The chapter's grader files that exist here, public first; ``visibility``: all, public or hidden."""
        if visibility not in ("all", "public", "hidden"):
            raise ValueError(f"visibility must be 'all', 'public' or 'hidden', got {visibility!r}")
        kinds = ("public", "hidden") if visibility == "all" else (visibility,)
        names = [self.graders / kind / f"test_{slug}.py" for kind in kinds]
        return [path for path in names if path.is_file()]

    def casebook(self, slug: str) -> Path:
        """The reference's recorded outcomes for the chapter's differential checks (``torchkata build``)."""
        return self.graders / "hidden" / f"cases_{slug}.pt"

    def resolve_impl(self, value: str | os.PathLike[str]) -> Path:
        """An --impl value as a directory: a path as given, else one of the course's own."""
        path = Path(value)
        if path.is_dir() or path.is_absolute():
            return path.resolve()
        return (self.root / path).resolve()
