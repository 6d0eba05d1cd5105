"""The student's view of a check: which katas to check, and each kata's state and where to edit it.

Kept free of torch and pytest imports so that ``hint``, ``list`` and ``progress`` start instantly.
"""

from __future__ import annotations

import ast
import difflib
import os
import re
from collections.abc import Collection, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torchkata.course.catalog import Chapter, Kata, find_chapter
from torchkata.course.locate import todo_location
from torchkata.course.source import HINT_PREFIX

if TYPE_CHECKING:
    from torchkata.course.project import Project
    from torchkata.grading.results import GradeResult

DONE = "done"  # every check that ran passes: shown as "public checks pass" (state_label), never as "done"
FAILING = "failing"
NOT_STARTED = "not started"
NO_CHECKS = "no checks"
STATES = (DONE, FAILING, NOT_STARTED, NO_CHECKS)


def state_label(state: str, visibility: str) -> str:
    """A state as the student reads it: passing the public checks is not the whole grade."""
    if state != DONE:
        return state
    return "all checks pass" if visibility == "all" else "public checks pass"


_NOT_STARTED = re.compile(r"^not started: ([\w.]+): ")
_CRASH_AT = re.compile(r"\(at (\w+\.py):(\d+)\)")
_IMPORT_FAILED = re.compile(r"^importing (\w+)\.py failed: ")


@dataclass(frozen=True)
class Target:
    """What to check: some chapters, or one kata of one chapter."""

    chapters: tuple[Chapter, ...]
    kata: Kata | None = None

    @property
    def kata_names(self) -> list[str] | None:
        return [self.kata.name] if self.kata else None


def resolve_targets(names: list[str] | None, chapters: list[Chapter]) -> list[Target]:
    """Each named target (see resolve_target), duplicates dropped; every chapter when none is named."""
    targets: list[Target] = []
    for name in names or [None]:
        target = resolve_target(name, chapters)
        if target not in targets:
            targets.append(target)
    return targets


def resolve_target(name: str | None, chapters: list[Chapter]) -> Target:
    """A chapter (slug, number, directory), a kata name, or ``chapter/kata``; None means every chapter.

    Raises KeyError naming the closest names when nothing matches or a kata name is ambiguous.
    """
    if not name:
        return Target(tuple(chapters))
    try:
        return Target((find_chapter(name, chapters),))
    except KeyError:
        pass
    chapter_part, slash, kata_part = name.replace(".", "/").rpartition("/")
    if slash:
        chapter = find_chapter(chapter_part, chapters)
        return Target((chapter,), chapter.kata(kata_part))
    matches = [(chapter, kata) for chapter in chapters for kata in chapter.katas if kata.name == name]
    if len(matches) == 1:
        return Target((matches[0][0],), matches[0][1])
    if matches:
        options = " or ".join(f"{chapter.slug}/{name}" for chapter, _ in matches)
        raise KeyError(f"{name!r} is a kata of several chapters: say which one, {options}")
    known = [chapter.slug for chapter in chapters] + [kata.name for chapter in chapters for kata in chapter.katas]
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6) or [
        entry for entry in known if entry.lower() == name.lower()
    ]
    suggestion = f"; did you mean {' or '.join(close)}?" if close else "; `torchkata list` shows them all"
    raise KeyError(f"no chapter or kata named {name!r}{suggestion}")


@dataclass(frozen=True)
class KataStatus:
    """One kata's state after a check, in the words a student reads."""

    chapter: str
    kata: str
    state: str
    points: float = 0.0
    max_points: float = 0.0
    checks: int = 0
    failed_checks: int = 0
    message: str = ""
    full_points: float = 0.0  # the kata's points with the hidden checks too; 0 when they are not known here

    @property
    def done(self) -> bool:
        return self.state == DONE

    @property
    def import_error(self) -> bool:
        return bool(_IMPORT_FAILED.match(self.message))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> KataStatus:
        """A status from its dict; TypeError when the dict is not one (an unknown state, say)."""
        if data.get("state") not in STATES:
            raise TypeError(f"unknown kata state {data.get('state')!r}")
        return cls(**{key: data[key] for key in cls.__dataclass_fields__ if key in data})


def statuses_from(
    result: GradeResult, chapters: Iterable[Chapter], katas: Collection[str] | None = None
) -> list[KataStatus]:
    """Each checked kata's status in course order (only ``katas`` when given).

    A kata none of whose checks ran (no grader, or every check not applicable here) is NO_CHECKS, never done.
    """
    found: list[KataStatus] = []
    for chapter in chapters:
        graded = result.chapters.get(chapter.slug)
        error = graded.flags.get("error") if graded else None
        for entry in chapter.katas:
            if katas is not None and entry.name not in katas:
                continue
            outcome = graded.katas.get(entry.name) if graded else None
            if outcome is None:
                message = f"the checks of this chapter could not run: {error}" if error else ""
                found.append(KataStatus(chapter.slug, entry.name, FAILING if error else NO_CHECKS, message=message))
                continue
            if outcome.points >= outcome.max_points and not error:
                state = DONE
            elif outcome.not_started:
                state = NOT_STARTED
            else:
                state = FAILING
            message = outcome.failed[0]["message"] if outcome.failed else (str(error) if error else "")
            found.append(
                KataStatus(
                    chapter.slug,
                    entry.name,
                    state,
                    outcome.points,
                    outcome.max_points,
                    len(outcome.passed) + len(outcome.failed),
                    len(outcome.failed),
                    message,
                )
            )
    return found


def shown_path(path: Path) -> str:
    """``path`` relative to the working directory when it lies below it (starter/modules.py), else absolute."""
    try:
        relative = os.path.relpath(path)
    except ValueError:
        return str(path)
    return str(path) if relative.startswith("..") else relative


def _definition_span(tree: ast.Module, qualname: str) -> tuple[int, int] | None:
    """First and last line of a def or class by qualified name (``MLP.forward``)."""
    body: list[ast.stmt] = tree.body
    node: ast.stmt | None = None
    for part in qualname.split("."):
        node = next(
            (
                child
                for child in body
                if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and child.name == part
            ),
            None,
        )
        if node is None:
            return None
        body = node.body
    return (node.lineno, node.end_lineno or node.lineno) if node else None


def _todo_in(path: Path, qualname: str) -> tuple[int, str] | None:
    """(line, hint) of the first TODO inside a nested definition such as ``MLP.forward``."""
    try:
        text = path.read_text(encoding="utf-8")
        span = _definition_span(ast.parse(text), qualname)
    except (OSError, SyntaxError, ValueError):
        return None
    if span is None:
        return None
    lines = text.splitlines()
    for number in range(span[0], span[1] + 1):
        stripped = lines[number - 1].strip()
        if stripped.startswith(HINT_PREFIX):
            return number, stripped[len(HINT_PREFIX) :].strip()
    return None


def _full_todo(path: Path, line: int) -> str:
    """The TODO at ``line`` with its continuation comment lines, as one sentence."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return ""
    parts = [lines[line - 1].strip()[len(HINT_PREFIX) :].strip()]
    for text in lines[line:]:
        stripped = text.strip()
        if not stripped.startswith("#") or stripped.startswith((HINT_PREFIX, "###")):
            break
        parts.append(stripped.lstrip("#").strip())
    return " ".join(part for part in parts if part)


def edit_location(impl_file: Path, status: KataStatus) -> tuple[int, str] | None:
    """(line, TODO text) where the student should look: the crash, the unwritten method, or the kata's TODO."""
    if match := re.search(rf"{re.escape(str(impl_file.resolve()))}:(\d+):", status.message):
        return int(match.group(1)), ""
    if (match := _CRASH_AT.search(status.message)) and match.group(1) == impl_file.name:
        return int(match.group(2)), ""
    found = None
    if (match := _NOT_STARTED.match(status.message)) and "." in match.group(1):
        found = _todo_in(impl_file, match.group(1))
    found = found or todo_location(impl_file, status.kata)
    if found and found[1]:
        return found[0], _full_todo(impl_file, found[0])
    return found


def readable_message(message: str, impl_file: Path) -> str:
    """A failure message with the impl file's absolute path shortened and pytest's phase note dropped."""
    text = message.replace(str(impl_file.resolve()), shown_path(impl_file))
    return text.removesuffix(" (during setup)")


def next_kata(statuses: list[KataStatus]) -> KataStatus | None:
    """The first kata in course order that is not done."""
    return next((status for status in statuses if not status.done), None)


def check_visibility(project: Project, hidden: bool) -> str:
    """``public``, or ``all`` when hidden checks are asked for and this repository has them."""
    if not hidden:
        return "public"
    if not (project.graders / "hidden").is_dir():
        raise FileNotFoundError(
            f"--hidden: {project.graders / 'hidden'} does not exist; hidden checks are only in the "
            "instructor's repository"
        )
    return "all"


def impl_directory(project: Project, value: str) -> Path:
    path = project.resolve_impl(value)
    if not path.is_dir():
        raise FileNotFoundError(f"{value} is not a directory of chapter modules (<chapter>.py files)")
    return path
