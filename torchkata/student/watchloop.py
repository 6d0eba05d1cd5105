"""The watch's loop: saves come in from a watcher thread while a check runs in its own child.

The main thread waits on two things at once: the running check's pipe and a pipe the watcher
thread writes to when files change. So a save is noticed while a check still runs (and stops
it: the new code is what matters), a finished check is reported at once, and Ctrl-C stops both.
"""

from __future__ import annotations

import os
import queue
import select
import sys
import threading
import time
from pathlib import Path

from torchkata.course.catalog import Chapter
from torchkata.student.katas import shown_path
from torchkata.student.watcher import WatchSession, saved_chapters

DEBOUNCE_MS = 400  # longest a burst of writes (one save) is gathered into one re-check
STEP_MS = 50  # quiet time after the last write before re-checking
POLL_S = 0.2  # how often the loop wakes up to honour --timeout

Changes = set[tuple[object, str]]


class SaveWatcher:
    """watchfiles in a thread: each batch of changes to ``.py`` files of ``impl_dir`` goes to a queue."""

    def __init__(self, impl_dir: Path) -> None:
        self.impl_dir = impl_dir
        self.batches: queue.Queue[Changes] = queue.Queue()
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._watch, name="torchkata-watch", daemon=True)
        self.thread.start()

    def _watch(self) -> None:
        from watchfiles import Change, watch

        def wanted(change: Change, path: str) -> bool:
            return change != Change.deleted and path.endswith(".py")

        for changes in watch(
            self.impl_dir,
            watch_filter=wanted,
            debounce=DEBOUNCE_MS,
            step=STEP_MS,
            stop_event=self.stopped,
            recursive=False,
            raise_interrupt=False,
        ):
            self.batches.put(changes)
            try:
                os.write(self.wake_w, b".")
            except OSError:
                return

    def drain(self) -> list[Changes]:
        """The batches that arrived since the last call."""
        try:
            while os.read(self.wake_r, 4096):
                pass
        except BlockingIOError:
            pass
        found = []
        while not self.batches.empty():
            found.append(self.batches.get_nowait())
        return found

    def close(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=2)
        for fd in (self.wake_r, self.wake_w):
            os.close(fd)


def _on_save(session: WatchSession, chapter: Chapter, waiting: list[Chapter]) -> None:
    """A save of ``chapter``: stop a check of the same chapter (it checks old code) and check again."""
    if session.kata and chapter.slug != session.kata.chapter:
        session.console.print(f"{chapter.module_name} saved: not {session.kata.name}'s file, not checked.", style="dim")
        return
    active = session.active
    if active is not None and active.chapter.slug == chapter.slug and not active.initial:
        session.cancel()
        elapsed = time.perf_counter() - active.started
        saved = shown_path(session.impl_dir / chapter.module_name)
        session.console.print(
            f"[{time.strftime('%H:%M:%S')}] {saved} saved again: stopped the check still running after "
            f"{elapsed:.1f} s; checking the new version.",
            style="yellow",
        )
    elif active is not None and active.initial and active.chapter.slug == chapter.slug:
        session.cancel()
        session.console.print(
            f"{chapter.module_name} saved: stopped the first check; checking the new version.", style="yellow"
        )
        session.begin(chapter, initial=True)
        return
    elif active is not None:
        if chapter not in waiting:
            waiting.append(chapter)
        return
    session.begin(chapter)


def watch_saves(session: WatchSession, first: Chapter, max_runs: int | None, timeout: float | None) -> int:
    """Check ``first``, then re-check on every save until ``max_runs`` re-checks or ``timeout`` s of watching."""
    watcher = SaveWatcher(session.impl_dir)
    deadline: float | None = None
    waiting: list[Chapter] = []
    try:
        session.begin(first, initial=True)
        while True:
            fds = [watcher.wake_r]
            if session.active is not None and session.active.run.fileno() >= 0:
                fds.append(session.active.run.fileno())
            select.select(fds, [], [], POLL_S)
            finished = session.poll()
            if finished is not None and finished.initial:
                deadline = time.monotonic() + timeout if timeout else float("inf")
                where = shown_path(session.impl_dir)
                session.console.print(f"Watching {where}/ for saves (Ctrl-C to stop).", style="bold")
            elif finished is not None and max_runs is not None and session.runs >= max_runs:
                return 0
            for changes in watcher.drain():
                for chapter in saved_chapters(changes, session.impl_dir, session.chapters):
                    _on_save(session, chapter, waiting)
            if session.active is None and waiting:
                session.begin(waiting.pop(0))
            if deadline is not None and time.monotonic() >= deadline:
                session.cancel()
                if max_runs is not None:
                    session.console.print(
                        f"Stopped after {timeout:g} s of watching with {session.runs} of {max_runs} re-checks."
                    )
                    return 1
                session.console.print(f"Stopped after {timeout:g} s of watching.")
                return 0
    finally:
        watcher.close()


def run_watch(session: WatchSession, first: Chapter, max_runs: int | None, timeout: float | None) -> int:
    """Check ``first`` (or the named kata), then watch; Ctrl-C stops cleanly at any point.

    Exit status: 0 when stopped by Ctrl-C, after ``max_runs`` re-checks, or at ``timeout``
    without ``max_runs``; 1 when ``timeout`` came before ``max_runs`` re-checks.
    """
    try:
        return watch_saves(session, first, max_runs, timeout)
    except KeyboardInterrupt:
        active = session.active
        if active is not None:
            session.cancel()
            what = ", ".join(active.katas) if active.katas else active.chapter.slug
            session.console.print(f"Interrupted (Ctrl-C): stopped the check of {what} before it finished.")
        session.interrupted = True
        session.console.print("Stopped watching.")
        return 0
    finally:
        session.cancel()
        sys.stdout.flush()
