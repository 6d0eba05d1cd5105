"""The course catalogue: chapters and katas as exercises/NN_slug/kata.toml describe them."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from torchkata.course.project import Project


@dataclass(frozen=True)
class Kata:
    """One kata: a top-level name in the chapter module that students implement."""

    name: str
    title: str
    hints: tuple[str, ...]
    chapter: str


@dataclass(frozen=True)
class Chapter:
    """One chapter: exercises/NN_slug with its instructions and katas."""

    number: int
    slug: str
    title: str
    directory: Path
    katas: tuple[Kata, ...] = field(default=())

    @property
    def module_name(self) -> str:
        return f"{self.slug}.py"

    def kata(self, name: str) -> Kata:
        for kata in self.katas:
            if kata.name == name:
                return kata
        raise KeyError(f"chapter {self.slug!r} has no kata {name!r}")


def _read_chapter(directory: Path) -> Chapter:
    number_text, _, slug = directory.name.partition("_")
    meta_path = directory / "kata.toml"
    try:
        meta = tomllib.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ValueError(f"cannot read {meta_path}: {error}") from error
    katas = tuple(
        Kata(
            name=entry["name"],
            title=entry.get("title", entry["name"]),
            hints=tuple(entry.get("hints", ())),
            chapter=slug,
        )
        for entry in meta.get("kata", [])
    )
    return Chapter(
        number=int(number_text),
        slug=slug,
        title=meta.get("title", slug),
        directory=directory,
        katas=katas,
    )


def load_chapters(project: Project | None = None) -> list[Chapter]:
    """Every chapter of the course, in course order."""
    project = project or Project.find()
    directories = sorted(
        path for path in project.exercises.iterdir() if path.is_dir() and path.name[:2].isdigit()
    )
    return [_read_chapter(path) for path in directories]


def find_chapter(name: str, chapters: list[Chapter]) -> Chapter:
    """A chapter by slug ("modules"), number ("3", "03") or directory name ("03_modules")."""
    for chapter in chapters:
        if name in (chapter.slug, chapter.directory.name) or (
            name.isdigit() and int(name) == chapter.number
        ):
            return chapter
    known = ", ".join(chapter.slug for chapter in chapters)
    raise KeyError(f"no chapter {name!r}; the chapters are: {known}")


def find_kata(name: str, chapters: list[Chapter]) -> Kata:
    """A kata by its name, in any chapter."""
    for chapter in chapters:
        for kata in chapter.katas:
            if kata.name == name:
                return kata
    raise KeyError(f"no kata named {name!r}; `torchkata list` shows them all")
