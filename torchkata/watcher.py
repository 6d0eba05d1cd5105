"""Watch mode: one process that imports torch once and re-checks the kata being edited on every save.

On a save of ``<chapter>.py`` it re-checks the kata named on the command line or, without one,
the first kata of that chapter that is not done yet, plus any kata whose definition the save
changed (so breaking a finished kata shows at once). It never moves on by itself: once a kata
passes, the next one is only suggested.
"""

from __future__ import annotations

import ast
import contextlib
import signal
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.text import Text

from torchkata.catalog import Chapter, Kata
from torchkata.project import Project
from torchkata.student import NOT_STARTED, KataStatus, shown_path
from torchkata.student_checks import fingerprint, recorded_statuses, run_checks
from torchkata.student_view import import_error_block, kata_lines, next_text, visibility_text

DEBOUNCE_MS = 400  # longest a burst of writes (one save) is gathered into one re-check
STEP_MS = 50  # quiet time after the last write before re-checking
POLL_MS = 200  # how often the loop wakes up to honour --timeout


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
class WatchSession:
    """What the watch knows between saves: each checked kata's status and the file text it was checked on."""

    project: Project
    impl_dir: Path
    chapters: list[Chapter]
    visibility: str
    console: Console
    kata: Kata | None = None
    known: dict[str, dict[str, KataStatus]] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)
    runs: int = 0
    interrupted: threading.Event = field(default_factory=threading.Event)

    def _read(self, chapter: Chapter) -> str:
        try:
            return (self.impl_dir / chapter.module_name).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return ""

    def check(self, chapter: Chapter, katas: list[str] | None) -> list[KataStatus]:
        """Check ``katas`` (all when None) of the chapter and remember the results."""
        text = self._read(chapter)
        statuses = run_checks(self.project, self.impl_dir, [chapter], self.visibility, katas)
        if self.interrupted.is_set():
            raise KeyboardInterrupt
        self.known.setdefault(chapter.slug, {}).update({status.kata: status for status in statuses})
        self.texts[chapter.slug] = text
        return statuses

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
            self.console.print(kata_lines(status, self.impl_dir, width))
        done = sum(status.done for status in self.known.get(chapter.slug, {}).values())
        self.console.print(
            f"{chapter.slug}: {done} of {len(chapter.katas)} katas done ({visibility_text(self.visibility)}).",
            style="dim",
        )
        if focus is None or not self.known[chapter.slug].get(focus, KataStatus("", "", NOT_STARTED)).done:
            return
        upcoming = self.suggestion(chapter, focus)
        if upcoming is None:
            self.console.print(f"Every kata of {chapter.slug} passes.", style="green")
            return
        self.console.print(next_text(upcoming, self.impl_dir, suggestion=True))
        how = f"`torchkata watch {upcoming.kata}`" if self.kata else f"save {shown_path(impl_file)} after editing it"
        self.console.print(f"  the watch stays on {focus} until you move on: {how} to check it.", style="dim")

    def on_save(self, chapter: Chapter) -> None:
        """Re-check what a save of the chapter's file calls for, and print the result."""
        katas = self.katas_to_check(chapter)
        focus = self.focus(chapter) if chapter.slug in self.known or self.kata else None
        started = time.perf_counter()
        statuses = self.check(chapter, katas)
        elapsed = time.perf_counter() - started
        self.runs += 1
        what = ", ".join(katas) if katas else f"every kata of {chapter.slug}"
        saved = shown_path(self.impl_dir / chapter.module_name)
        heading = f"[{time.strftime('%H:%M:%S')}] {saved} saved: checked {what} in {elapsed:.2f} s"
        self.report(chapter, statuses, heading, focus)


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


def _changes(impl_dir: Path) -> Iterator[set[tuple[object, str]]]:
    """watchfiles' batches of changes in ``impl_dir``, and an empty set every POLL_MS when nothing changed."""
    from watchfiles import Change, watch

    def wanted(change: Change, path: str) -> bool:
        return change != Change.deleted and path.endswith(".py")

    yield from watch(
        impl_dir, watch_filter=wanted, debounce=DEBOUNCE_MS, step=STEP_MS, rust_timeout=POLL_MS,
        yield_on_timeout=True, recursive=False,
    )


@contextlib.contextmanager
def interrupt_flag() -> Iterator[threading.Event]:
    """While inside, Ctrl-C sets the flag as well as raising KeyboardInterrupt.

    pytest catches KeyboardInterrupt raised during a check and returns normally; the flag lets
    the watch notice and stop instead of printing the half-run check.
    """
    interrupted = threading.Event()
    previous = signal.getsignal(signal.SIGINT)

    def on_interrupt(signum: int, frame: object) -> None:
        interrupted.set()
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_interrupt)
    try:
        yield interrupted
    finally:
        signal.signal(signal.SIGINT, previous)


def _watch_saves(session: WatchSession, max_runs: int | None, timeout: float | None) -> int:
    """Re-check on every save until ``max_runs`` re-checks or ``timeout`` seconds of watching."""
    deadline: float | None = None
    for changes in _changes(session.impl_dir):
        if deadline is None:
            deadline = time.monotonic() + timeout if timeout else float("inf")
            where = shown_path(session.impl_dir)
            session.console.print(f"Watching {where}/ for saves (Ctrl-C to stop).", style="bold")
        for chapter in saved_chapters(changes, session.impl_dir, session.chapters):
            if session.kata and chapter.slug != session.kata.chapter:
                session.console.print(
                    f"{chapter.module_name} saved: not {session.kata.name}'s file, not checked.", style="dim"
                )
                continue
            session.on_save(chapter)
            if max_runs is not None and session.runs >= max_runs:
                return 0
        if time.monotonic() >= deadline:
            if max_runs is not None:
                session.console.print(
                    f"Stopped after {timeout:g} s of watching with {session.runs} of {max_runs} re-checks."
                )
                return 1
            session.console.print(f"Stopped after {timeout:g} s of watching.")
            return 0
    return 0


def run_watch(session: WatchSession, first: Chapter, max_runs: int | None, timeout: float | None) -> int:
    """Check ``first`` (or the named kata), then watch; Ctrl-C stops cleanly at any point.

    Exit status: 0 when stopped by Ctrl-C, after ``max_runs`` re-checks, or at ``timeout``
    without ``max_runs``; 1 when ``timeout`` came before ``max_runs`` re-checks.
    """
    with interrupt_flag() as interrupted:
        session.interrupted = interrupted
        try:
            statuses = session.check(first, [session.kata.name] if session.kata else None)
            focus = session.focus(first) if session.kata else None
            session.report(first, statuses, f"{first.number:02d} {first.slug}", focus)
            return _watch_saves(session, max_runs, timeout)
        except KeyboardInterrupt:
            session.console.print("Stopped watching.")
            return 0
        finally:
            sys.stdout.flush()
