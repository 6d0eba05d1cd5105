"""The fork server's scheduler: at most ``jobs`` chapter runs at a time, each child watched and reported.

Children are forked by the template (:mod:`torchkata.sandbox.template`), which never saw the request.
What a child may send is :func:`torchkata.sandbox.tasks.accept_frame`'s to decide; the system calls
are :mod:`torchkata.sandbox.processes`'.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import select
import shutil
import signal
import tempfile
import time
from collections import deque
from pathlib import Path
from typing import Any

from torchkata.grading.limits import Limits
from torchkata.grading.recorder import Expected
from torchkata.sandbox import channel, processes
from torchkata.sandbox.collect import collect as collect_graders
from torchkata.sandbox.processes import describe_status, kill_group, read_available, reap
from torchkata.sandbox.staging import ChapterSources, RunDir, Submitted, write_run_dir
from torchkata.sandbox.tasks import Child, Task, accept_frame, chapter_message, crash_site, make_task
from torchkata.sandbox.template import Template

OUTPUT_TAIL = 16384


class Server:
    """Schedules the chapter runs, at most ``jobs`` children at a time, and reports each chapter."""

    def __init__(self, limits: Limits, jobs: int, out: Any, template: Template) -> None:
        self.template = template
        self.limits = limits
        self.jobs = max(jobs, 1)
        self.out = out
        self.base = Path(tempfile.mkdtemp(prefix="torchkata-grade-"))
        self.children: dict[int, Child] = {}
        self.pending: deque[Task] = deque()
        self.rng = random.Random(secrets.randbits(64))
        self.threads = max((os.cpu_count() or 1) // self.jobs, 1)
        self.landlock = 0
        self.layers: dict[str, None] = {}  # each distinct "layers" report of a child, as sorted JSON
        self.started = 0
        self.opened = time.time()
        self.protected: list[str] = [str(self.base)]  # and the course, the submissions' folders (serve)
        self.next_sweep = 0.0
        # pytest-timeout stops a slow test itself; the parent steps in only when that fails.
        self.test_limit = limits.test_seconds + max(2.0, limits.test_seconds / 2)
        self.wake_r, self.wake_w = os.pipe()
        for fd in (self.wake_r, self.wake_w):
            os.set_blocking(fd, False)

    def install(self) -> None:
        from torchkata.sandbox import landlock

        self.landlock = landlock.abi_version()
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.set_wakeup_fd(self.wake_w, warn_on_full_buffer=False)

    def fork(self, run: RunDir, nonce: str, order: list[str], collect_only: bool,
             submission: str = "") -> tuple[int, int, int]:
        """Fork a child for ``run``; returns its pid and the read ends of its channel and output pipes.

        ``submission`` is the staged chapter module the child's audit hook watches (none when collecting).
        """
        from torchkata.sandbox.child import ChildSpec

        channel_r, channel_w = os.pipe()
        output_r, output_w = os.pipe()
        spec = ChildSpec(run, nonce, self.limits, channel_w, output_w, order, collect_only, self.threads,
                         submission, self.protected)
        try:
            pid = self.template.fork(spec, (channel_w, output_w))
        finally:
            os.close(channel_w)
            os.close(output_w)
        for fd in (channel_r, output_r):
            os.set_blocking(fd, False)
        return pid, channel_r, output_r

    def sweep_strays(self) -> None:
        """Kill whatever a child left running (orphans handed to us), never a child or the template."""
        processes.sweep_strays({*self.children, self.template.pid})

    def collect(self, chapters: list[ChapterSources]) -> tuple[dict[str, Expected], dict[str, str]]:
        """The expected grader tests, collected in a child that never sees a submission."""
        return collect_graders(chapters, self.base, self.limits, self.fork, self.wake_r)

    def make_task(self, name: str, chapter: ChapterSources, submitted: Submitted,
                  expected: dict[str, Expected]) -> Task:
        return make_task(self.rng, name, chapter, submitted, expected)

    def start(self, task: Task) -> None:
        now = time.monotonic()
        if task.children == 0:
            task.budget_end = now + 2 * self.limits.wall_seconds
        task.children += 1
        self.started += 1
        run = write_run_dir(self.base / f"run{self.started}", [task.chapter], task.submitted, task.plan)
        nonce = secrets.token_hex(16)
        deadline = min(now + self.limits.wall_seconds, task.budget_end)
        staged = run.impl / f"{task.submitted.slug}.py"
        pid, channel_r, output_r = self.fork(run, nonce, task.remaining, False, str(staged))
        self.children[pid] = Child(pid, task, run, nonce, channel_r, output_r, deadline, first_position=task.position)

    def on_readable(self, child: Child, fd: int) -> None:
        data = read_available(fd)
        if fd == child.output_fd:
            child.output_bytes += len(data)
            child.output_tail = (child.output_tail + data)[-OUTPUT_TAIL:]
            if child.output_bytes > self.limits.output_mib * 1024 * 1024 and not child.killed_for:
                child.killed_for = f"printed more than the {self.limits.output_mib} MiB output limit"
                kill_group(child.pid)
            return
        try:
            for frame in child.reader.feed(data):
                accept_frame(child, frame, self.test_limit, self.layers)
        except channel.ChannelError as error:
            child.task.flag("tampered", f"the result channel carried {error}")
            child.killed_for = child.killed_for or "sent a malformed result"
            kill_group(child.pid)

    def on_exit(self, child: Child, status: int) -> None:
        kill_group(child.pid)
        for fd in (child.channel_fd, child.output_fd):
            self.on_readable(child, fd)
            os.close(fd)
        shutil.rmtree(child.run.root, ignore_errors=True)
        task = child.task
        if not task.remaining:
            self.finish(task)
            return
        if child.killed_for:
            how = child.killed_for
        elif child.ended:
            how = "ended its session without running every test"
        else:
            how = describe_status(status) + crash_site(child.output_tail)
        if child.killed_for.startswith("ran past"):
            task.flag("timed_out", f"the chapter's process {how}")
        else:
            task.flag("crashed", f"the chapter's process {how}")
        consumed = child.running is not None and task.remaining[0] == child.running
        if consumed:
            task.results[child.running] = (False, f"the chapter's process {how} while this test ran")
            task.position += 1
        first_test = task.position - child.first_position <= 1
        task.deaths_in_first_test = task.deaths_in_first_test + 1 if first_test else 0
        progressed = task.position > child.first_position
        if task.remaining and self.may_restart(task, progressed):
            self.pending.appendleft(task)
            return
        for nodeid in task.remaining:
            task.results[nodeid] = (False, f"not run: the chapter's process {how}")
        task.position = len(task.order)
        self.finish(task)

    def may_restart(self, task: Task, progressed: bool) -> bool:
        """Run the rest of the chapter in a fresh child, if the dead one got somewhere and time remains.

        Two children in a row that die in their first test (an exit or crash at import) end it.
        """
        return (
            progressed
            and "tampered" not in task.flags
            and task.children <= self.limits.restarts
            and task.deaths_in_first_test < 2
            and time.monotonic() < task.budget_end
        )

    def finish(self, task: Task) -> None:
        """Report the chapter: every expected test's outcome (one that never reported has failed)."""
        self.emit(chapter_message(task))

    def emit(self, message: dict[str, Any]) -> None:
        self.out.write(json.dumps(message) + "\n")
        self.out.flush()

    def run(self, tasks: list[Task]) -> None:
        """Run every task, at most ``jobs`` at a time."""
        self.pending = deque(tasks)
        while self.pending or self.children:
            while self.pending and len(self.children) < self.jobs:
                self.start(self.pending.popleft())
            self.wait_and_read()
            now = time.monotonic()
            self.enforce_deadlines(now)
            exited = reap()
            for pid, status in exited:
                child = self.children.pop(pid, None)
                if child is not None:
                    self.on_exit(child, status)
            if exited or now > self.next_sweep:
                self.sweep_strays()
                self.next_sweep = now + 1.0

    def wait_and_read(self) -> None:
        """Wait for output, a frame, a child's end (SIGCHLD wakes the loop) or the soonest deadline."""
        fds: dict[int, Child | None] = {self.wake_r: None}
        for child in self.children.values():
            fds[child.channel_fd] = child
            fds[child.output_fd] = child
        soonest = min(min(c.deadline, c.test_deadline) for c in self.children.values())
        timeout = max(soonest - time.monotonic(), 0) + 0.01
        ready, _, _ = select.select(list(fds), [], [], min(timeout, 1.0))
        for fd in ready:
            owner = fds[fd]
            if owner is None:
                read_available(fd)
            elif owner.pid in self.children:
                self.on_readable(owner, fd)

    def enforce_deadlines(self, now: float) -> None:
        """Kill each child past its wall clock, or past one test's limit that pytest-timeout did not stop."""
        for child in self.children.values():
            if child.killed_for:
                continue
            if now > child.deadline:
                child.killed_for = f"ran past the {self.limits.wall_seconds:g} s wall-clock limit"
                kill_group(child.pid)
            elif now > child.test_deadline:
                child.killed_for = (f"ran past the {self.limits.test_seconds:g} s limit of one test "
                                    "and did not stop when told to")
                kill_group(child.pid)

    def close(self) -> None:
        self.template.close()
        for pid in list(self.children):
            kill_group(pid)
        end = time.monotonic() + 2.0
        while time.monotonic() < end:
            self.sweep_strays()
            reap()
            if not processes.has_children():
                break
            time.sleep(0.02)
        shutil.rmtree(self.base, ignore_errors=True)
        processes.clear_shared_memory(self.opened)
