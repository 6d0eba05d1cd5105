"""Watch mode: one process that imports torch once and re-checks the kata being edited on every save.

On a save of ``<chapter>.py`` it re-checks the kata named on the command line or, without one,
the first kata of that chapter that is not done yet, plus any kata whose definition the save
changed (so breaking a finished kata shows at once). It never moves on by itself: once a kata
passes, the next one is only suggested.

Each check runs in a forked child (:mod:`torchkata.student.checkrun`): the watch starts it and goes on
watching, so a save while a check still runs (an endless loop, say) stops that check and starts
the new one. The loop itself is in :mod:`torchkata.student.watchloop`.
"""

from __future__ import annotations

import ast
import time
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.text import Text

from torchkata.course.catalog import Chapter, Kata
from torchkata.course.project import Project
from torchkata.student.checkrun import CheckLimits, CheckRun
from torchkata.student.checks import fingerprint, finish_checks, needs_full_points, recorded_statuses
from torchkata.student.katas import NOT_STARTED, KataStatus, shown_path
from torchkata.student.view import import_error_block, kata_lines, next_text, passed_text


def _kata_parts(text: str, names: set[str]) -> tuple[dict[str, str], str] | None:
    """Each kata's top-level definition source, and the rest of the module; None when it does not parse."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return None
    lines = text.splitlines(keepends=True)
    sources: dict[str, str] = {}
    rest: list[str] = []
    cursor = 0
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and node.name in names:
            start = min([node.lineno, *(decorator.lineno for decorator in node.decorator_list)]) - 1
            end = node.end_lineno or node.lineno
            rest.extend(lines[cursor:start])
            rest.append(f"<kata {node.name}>\n")
            sources[node.name] = "".join(lines[start:end])
            cursor = end
    rest.extend(lines[cursor:])
    return sources, "".join(rest)


def changed_katas(old: str, new: str, names: list[str]) -> set[str] | None:
    """The katas whose definitions differ between two versions of a chapter file.

    None when something outside the katas changed (imports, helpers) or either version does not
    parse: then any kata may be affected.
    """
    before, after = _kata_parts(old, set(names)), _kata_parts(new, set(names))
    if before is None or after is None or before[1] != after[1]:
        return None
    return {name for name in names if before[0].get(name) != after[0].get(name)}


@dataclass
class Active:
    """The check running now: its chapter, katas, the file text it checks and how to report it."""

    chapter: Chapter
    katas: list[str] | None
    run: CheckRun
    text: str
    fingerprints: dict[str, str]
    focus: str | None
    initial: bool
    started: float = field(default_factory=time.perf_counter)


@dataclass
class WatchSession:
    """What the watch knows between saves: each checked kata's status and the file text it was checked on."""

    project: Project
    impl_dir: Path
    chapters: list[Chapter]
    visibility: str
    console: Console
    kata: Kata | None = None
    limits: CheckLimits = field(default_factory=CheckLimits)
    known: dict[str, dict[str, KataStatus]] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)
    runs: int = 0
    active: Active | None = None
    interrupted: bool = False  # stopped by Ctrl-C

    def _read(self, chapter: Chapter) -> str:
        try:
            return (self.impl_dir / chapter.module_name).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return ""

    def begin(self, chapter: Chapter, initial: bool = False) -> None:
        """Start checking what a save of the chapter calls for (at start: the named kata or the chapter)."""
        if initial:
            katas = [self.kata.name] if self.kata else None
            focus = self.focus(chapter) if self.kata else None
        else:
            katas = self.katas_to_check(chapter)
            focus = self.focus(chapter) if chapter.slug in self.known or self.kata else None
        text = self._read(chapter)
        prints = {chapter.slug: fingerprint(self.project, self.impl_dir, chapter.slug, self.visibility)}
        run = CheckRun(self.project, self.impl_dir, [chapter], self.visibility, katas, self.limits,
                       full_points=needs_full_points(self.project, [chapter], self.visibility))
        self.active = Active(chapter, katas, run, text, prints, focus, initial)

    def cancel(self) -> Active | None:
        """Stop the running check, if any; the one stopped."""
        active, self.active = self.active, None
        if active is not None:
            active.run.stop()
        return active

    def poll(self) -> Active | None:
        """Report the running check if it has finished; the finished one, else None."""
        active = self.active
        if active is None or not active.run.step():
            return None
        self.active = None
        statuses = finish_checks(self.project, self.impl_dir, self.visibility, active.run.results(),
                                 active.run.totals, active.fingerprints)
        chapter = active.chapter
        self.known.setdefault(chapter.slug, {}).update({status.kata: status for status in statuses})
        self.texts[chapter.slug] = active.text
        if active.initial:
            self.report(chapter, statuses, f"{chapter.number:02d} {chapter.slug}", active.focus)
            return active
        self.runs += 1
        elapsed = time.perf_counter() - active.started
        what = ", ".join(active.katas) if active.katas else f"every kata of {chapter.slug}"
        saved = shown_path(self.impl_dir / chapter.module_name)
        heading = f"[{time.strftime('%H:%M:%S')}] {saved} saved: checked {what} in {elapsed:.2f} s"
        self.report(chapter, statuses, heading, active.focus)
        return active

    def focus(self, chapter: Chapter) -> str | None:
        """The named kata, else the chapter's first kata not known to be done."""
        if self.kata:
            return self.kata.name
        known = self.known.get(chapter.slug, {})
        return next((kata.name for kata in chapter.katas if not (kata.name in known and known[kata.name].done)), None)

    def katas_to_check(self, chapter: Chapter) -> list[str] | None:
        """What a save of the chapter file calls for; None means the whole chapter."""
        if self.kata:
            return [self.kata.name]
        if chapter.slug not in self.known:
            return None
        names = [kata.name for kata in chapter.katas]
        changed = changed_katas(self.texts.get(chapter.slug, ""), self._read(chapter), names)
        if changed is None:
            return None
        focus = self.focus(chapter)
        ordered = [name for name in names if name == focus or name in changed]
        return ordered or None

    def suggestion(self, chapter: Chapter, after: str) -> KataStatus | None:
        """The kata to suggest once ``after`` passes: the named kata's successor, else the first not done."""
        names = [kata.name for kata in chapter.katas]
        known = self.known.get(chapter.slug, {})
        candidates = names[names.index(after) + 1 :] if self.kata else names
        for name in candidates:
            status = known.get(name)
            if status is None or not status.done:
                return status or KataStatus(chapter.slug, name, NOT_STARTED)
        return None

    def report(self, chapter: Chapter, statuses: list[KataStatus], heading: str, focus: str | None) -> None:
        """The re-checked katas, the chapter's count, and a suggestion once the focused kata passes."""
        impl_file = self.impl_dir / chapter.module_name
        self.console.print(Text(heading, style="bold"))
        block = import_error_block(statuses, impl_file)
        if block:
            self.console.print(block)
        width = max((len(status.kata) for status in statuses), default=8)
        for status in statuses:
            self.console.print(kata_lines(status, self.impl_dir, width, self.visibility))
        done = sum(status.done for status in self.known.get(chapter.slug, {}).values())
        self.console.print(f"{chapter.slug}: {passed_text(done, len(chapter.katas), self.visibility)}.", style="dim")
        if focus is None or not self.known[chapter.slug].get(focus, KataStatus("", "", NOT_STARTED)).done:
            return
        upcoming = self.suggestion(chapter, focus)
        if upcoming is None:
            which = "every check" if self.visibility == "all" else "its public checks"
            self.console.print(f"Every kata of {chapter.slug} passes {which}.", style="green")
            return
        self.console.print(next_text(upcoming, self.impl_dir, suggestion=True, visibility=self.visibility))
        how = f"`torchkata watch {upcoming.kata}`" if self.kata else f"save {shown_path(impl_file)} after editing it"
        self.console.print(f"  the watch stays on {focus} until you move on: {how} to check it.", style="dim")


def start_chapter(session: WatchSession, named: Chapter | None) -> Chapter:
    """The chapter to check at start: the named one, else the first with a kata not recorded as done."""
    if named is not None:
        return named
    project, impl_dir, visibility = session.project, session.impl_dir, session.visibility
    prints = {chapter.slug: fingerprint(project, impl_dir, chapter.slug, visibility) for chapter in session.chapters}
    recorded = recorded_statuses(project, impl_dir, visibility, prints)
    for chapter in session.chapters:
        if any(not (status := recorded.get((chapter.slug, kata.name))) or not status.done for kata in chapter.katas):
            return chapter
    return session.chapters[0]


def saved_chapters(changes: set[tuple[object, str]], impl_dir: Path, chapters: list[Chapter]) -> list[Chapter]:
    """Chapters whose file in ``impl_dir`` was written (and still exists), in course order."""
    names = {Path(path).name for _, path in changes if Path(path).parent.resolve() == impl_dir.resolve()}
    return [
        chapter for chapter in chapters if chapter.module_name in names and (impl_dir / chapter.module_name).is_file()
    ]
