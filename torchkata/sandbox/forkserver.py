"""The fork server: imports torch and pytest once, then forks one sandboxed child per chapter run.

Run as ``python -m torchkata.sandbox.forkserver`` by :mod:`torchkata.sandbox.isolated`. It reads one
JSON request on stdin and writes one JSON line per graded chapter on stdout, then
``{"t": "done"}``. It trusts nothing a child does except frames on that child's
channel that carry the run's nonce and name the next test of the run's order.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import json
import os
import random
import re
import secrets
import select
import shutil
import signal
import sys
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torchkata.course.project import Project
from torchkata.grading.limits import Limits
from torchkata.grading.recorder import SKIPPED_WHILE_APPLICABLE, Expected, outcome_of
from torchkata.sandbox import canary, channel
from torchkata.sandbox.staging import ChapterSources, RunDir, Submitted, read_chapter, read_submitted, write_run_dir
from torchkata.sandbox.template import Template

KNOWN_WRONG_CANARIES = 6
WARM_LIBRARIES = frozenset({"torch", "numpy", "sklearn", "scipy"})
OUTPUT_TAIL = 16384
_PR_SET_CHILD_SUBREAPER = 36


def preload_modules(chapters: list[ChapterSources]) -> list[str]:
    """What the graders import at their top level, for the template to load before the first fork."""
    return sorted(_imports([source for chapter in chapters for source in chapter.graders.values()], top=True))


def warm_later(chapters: list[ChapterSources]) -> list[str]:
    """Modules the chapters will import lazily, for the template to load while the first children run.

    Then every later child starts with them: the graders' imports inside functions, the starters'
    imports of well-known libraries (a starter may be a student's work, so no other name it gives
    is imported outside the sandbox), torch's compiler when a chapter uses it, and
    what torch loads to describe a failed comparison (checks.close -> torch.unravel_index -> sympy).
    """
    graders = [source for chapter in chapters for source in chapter.graders.values()]
    starters = [chapter.starter for chapter in chapters if chapter.starter]
    names = _imports(graders, top=False)
    names |= {name for name in _imports(starters, top=True) if name.split(".")[0] in WARM_LIBRARIES}
    if any(re.search(rb"torch\.(compile|export|_dynamo)\b", source) for source in graders):
        names.add("torch._dynamo")
    names.add("torch.fx.experimental.symbolic_shapes")
    return sorted(names)


def _imports(sources: list[bytes], top: bool) -> set[str]:
    """Absolute module names imported by ``sources``: at the top level only, or anywhere."""
    names: set[str] = set()
    for source in sources:
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError):
            continue
        for node in tree.body if top else ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
    return names


@dataclass
class Task:
    """One chapter of one submission: the expected tests, the canaries and what came back so far."""

    submission: str
    chapter: ChapterSources
    submitted: Submitted
    expected: dict[str, Expected]
    plan: canary.CanaryPlan
    order: list[str]
    canaries: set[str]
    results: dict[str, tuple[bool, str]] = field(default_factory=dict)
    flags: dict[str, str] = field(default_factory=dict)
    children: int = 0
    position: int = 0
    deaths_in_first_test: int = 0
    budget_end: float = 0.0

    @property
    def remaining(self) -> list[str]:
        return self.order[self.position :]

    def flag(self, name: str, reason: str) -> None:
        self.flags.setdefault(name, reason)


@dataclass
class Child:
    """A running child process and what it has sent so far."""

    pid: int
    task: Task
    run: RunDir
    nonce: str
    channel_fd: int
    output_fd: int
    deadline: float
    reader: channel.FrameReader = field(default_factory=channel.FrameReader)
    first_position: int = 0
    test_deadline: float = float("inf")
    running: str | None = None
    ended: bool = False
    output_bytes: int = 0
    output_tail: bytes = b""
    killed_for: str = ""


def describe_status(status: int) -> str:
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = f"signal {number}"
        return f"was killed by {name}"
    return f"exited with status {os.WEXITSTATUS(status)}"


class Server:
    """Schedules the chapter runs, at most ``jobs`` children at a time, and reports each chapter.

    Children are forked by ``template`` (see torchkata.sandbox.template), which never saw the request.
    """

    def __init__(self, limits: Limits, jobs: int, out: Any, template: Template) -> None:
        self.template = template
        self.limits = limits
        self.jobs = max(jobs, 1)
        self.out = out
        self.base = Path(tempfile.mkdtemp(prefix="torchkata-grade-"))
        self.children: dict[int, Child] = {}
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

    # -- process plumbing -------------------------------------------------------------

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
        """Kill processes that were handed to us as orphans: whatever a child left running."""
        me = os.getpid()
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) in self.children or int(entry) == self.template.pid:
                continue
            try:
                with open(f"/proc/{entry}/stat", encoding="utf-8", errors="replace") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == me:
                try:
                    os.kill(int(entry), signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def reap(self) -> list[tuple[int, int]]:
        """(pid, status) of every child that has ended, strays included."""
        finished = []
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            finished.append((pid, status))
        return finished

    # -- collection -------------------------------------------------------------------

    def collect(self, chapters: list[ChapterSources]) -> tuple[dict[str, Expected], dict[str, str]]:
        """The expected grader tests, collected in a child that never sees a submission."""
        run = write_run_dir(self.base / "collect", chapters)
        nonce = secrets.token_hex(16)
        deadline = time.monotonic() + self.limits.wall_seconds
        pid, channel_r, output_r = self.fork(run, nonce, [], True)
        reader = channel.FrameReader()
        message: dict[str, Any] | None = None
        done = False
        while not done:
            ready, _, _ = select.select([channel_r, output_r, self.wake_r], [], [], 0.5)
            for fd in ready:
                data = _read_available(fd)
                if fd == channel_r and data:
                    message = _collected(reader, data, nonce) or message
            for finished, _ in self.reap():
                done = done or finished == pid
            if time.monotonic() > deadline:
                _kill_group(pid)
        message = _collected(reader, _read_available(channel_r), nonce) or message
        os.close(channel_r)
        os.close(output_r)
        _kill_group(pid)
        if message is None:
            reason = "collecting the graders failed"
            return {}, {chapter.slug: reason for chapter in chapters}
        expected = {
            item["id"]: Expected(item["test"], item["chapter"], item["kata"], float(item["points"]),
                                 item["visibility"], str(item.get("not_applicable", "")))
            for item in message["expected"]
        }
        return expected, dict(message["errors"])

    # -- tasks ------------------------------------------------------------------------

    def make_task(self, name: str, chapter: ChapterSources, submitted: Submitted,
                  expected: dict[str, Expected]) -> Task:
        """The chapter's real tests in collection order, with its canaries placed at random among them."""
        mine = {nodeid: e for nodeid, e in expected.items() if e.chapter == chapter.slug}
        plan = canary.make_plan(self.rng)
        real = list(mine)
        sampled = self.rng.sample(real, min(KNOWN_WRONG_CANARIES, len(real)))
        wrong = [canary.alias_nodeid(nodeid, chapter.slug, plan.alias) for nodeid in sampled]
        sentinels = plan.sentinel_nodeids("graders/public")
        order = canary.interleave(real, wrong + sentinels, self.rng) if real else []
        return Task(name, chapter, submitted, mine, plan, order, set(wrong) | set(sentinels))

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

    def on_frame(self, child: Child, frame: dict[str, Any]) -> None:
        """Accept one frame: it must carry the nonce and name the next test of the order."""
        task = child.task
        if frame.get("nonce") != child.nonce:
            raise channel.ChannelError("a frame without this run's nonce")
        kind, nodeid = frame.get("t"), frame.get("id")
        if kind == "audit":
            task.flag("tampered", f"the submission reached for the grader: {str(frame.get('what', ''))[:300]}")
            return
        if kind == "end":
            child.ended = True
            return
        if kind == "layers":  # what the child's confinement achieved; sent before its first test only
            if child.running is not None or task.position != child.first_position:
                raise channel.ChannelError("a layers report after the tests began")
            text = json.dumps(frame.get("layers"), sort_keys=True)
            if len(text) <= 4000:
                self.layers[text] = None
            return
        expected_next = task.order[task.position] if task.position < len(task.order) else None
        if nodeid != expected_next:
            raise channel.ChannelError(f"a {kind!r} for {nodeid!r} when the next test is {expected_next!r}")
        if kind == "start":
            child.running = nodeid
            child.test_deadline = time.monotonic() + self.test_limit
            return
        if kind != "result":
            raise channel.ChannelError(f"a frame of unknown kind {kind!r}")
        child.running = None
        child.test_deadline = float("inf")
        task.position += 1
        if frame.get("na"):  # only the collection, which ran no submission, decides what cannot run here
            task.results[nodeid] = (False, SKIPPED_WHILE_APPLICABLE)
            return
        passed, message = bool(frame.get("passed")), str(frame.get("message", ""))[:4000]
        task.results[nodeid] = (passed, message)
        if nodeid in task.canaries and passed:
            task.flag("tampered", f"the canary check {nodeid.split('/', 1)[-1]} passed; it fails in every "
                      "honest run, so this chapter's results cannot be trusted")

    def on_readable(self, child: Child, fd: int) -> None:
        data = _read_available(fd)
        if fd == child.output_fd:
            child.output_bytes += len(data)
            child.output_tail = (child.output_tail + data)[-OUTPUT_TAIL:]
            if child.output_bytes > self.limits.output_mib * 1024 * 1024 and not child.killed_for:
                child.killed_for = f"printed more than the {self.limits.output_mib} MiB output limit"
                _kill_group(child.pid)
            return
        try:
            for frame in child.reader.feed(data):
                self.on_frame(child, frame)
        except channel.ChannelError as error:
            child.task.flag("tampered", f"the result channel carried {error}")
            child.killed_for = child.killed_for or "sent a malformed result"
            _kill_group(child.pid)

    def on_exit(self, child: Child, status: int) -> None:
        _kill_group(child.pid)
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
            how = describe_status(status) + _crash_site(child.output_tail)
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
        outcomes = []
        for nodeid, exp in task.expected.items():
            passed, message = task.results.get(nodeid, (False, "the test did not report a result"))
            outcomes.append(dataclasses.asdict(outcome_of(exp, (passed, _unstage(message)))))
        self.emit({"t": "chapter", "submission": task.submission, "chapter": task.chapter.slug,
                   "outcomes": outcomes, "flags": task.flags})

    def emit(self, message: dict[str, Any]) -> None:
        self.out.write(json.dumps(message) + "\n")
        self.out.flush()

    # -- the loop ---------------------------------------------------------------------

    def run(self, tasks: list[Task]) -> None:
        """Run every task, at most ``jobs`` at a time."""
        self.pending: deque[Task] = deque(tasks)
        while self.pending or self.children:
            while self.pending and len(self.children) < self.jobs:
                self.start(self.pending.popleft())
            fds = {self.wake_r: None}
            for child in self.children.values():
                fds[child.channel_fd] = child
                fds[child.output_fd] = child
            soonest = min(min(c.deadline, c.test_deadline) for c in self.children.values())
            timeout = max(soonest - time.monotonic(), 0) + 0.01
            ready, _, _ = select.select(list(fds), [], [], min(timeout, 1.0))
            for fd in ready:
                if fd == self.wake_r:
                    _read_available(fd)
                elif fds[fd].pid in self.children:
                    self.on_readable(fds[fd], fd)
            now = time.monotonic()
            for child in self.children.values():
                if child.killed_for:
                    continue
                if now > child.deadline:
                    child.killed_for = f"ran past the {self.limits.wall_seconds:g} s wall-clock limit"
                    _kill_group(child.pid)
                elif now > child.test_deadline:
                    child.killed_for = (f"ran past the {self.limits.test_seconds:g} s limit of one test "
                                        "and did not stop when told to")
                    _kill_group(child.pid)
            exited = self.reap()
            for pid, status in exited:
                child = self.children.pop(pid, None)
                if child is not None:
                    self.on_exit(child, status)
            if exited or now > self.next_sweep:
                self.sweep_strays()
                self.next_sweep = now + 1.0

    def close(self) -> None:
        self.template.close()
        for pid in list(self.children):
            _kill_group(pid)
        end = time.monotonic() + 2.0
        while time.monotonic() < end:
            self.sweep_strays()
            self.reap()
            if not _has_children():
                break
            time.sleep(0.02)
        shutil.rmtree(self.base, ignore_errors=True)
        _clear_shared_memory(self.opened)


def _clear_shared_memory(since: float, folder: Path = Path("/dev/shm")) -> None:
    """Remove what this user left in shared memory while grading ran: no file outlives the run."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        try:
            info = entry.stat(follow_symlinks=False)
            if info.st_uid == os.getuid() and info.st_mtime >= since:
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path, ignore_errors=True)
                else:
                    os.unlink(entry.path)
        except OSError:
            continue


def _collected(reader: channel.FrameReader, data: bytes, nonce: str) -> dict[str, Any] | None:
    """The collector's message among the frames ``data`` completes, if it is there."""
    try:
        frames = reader.feed(data)
    except channel.ChannelError:
        return None
    found = [f for f in frames if f.get("nonce") == nonce and f.get("t") == "collected"]
    return found[-1] if found else None


def _import_quietly(name: str) -> None:
    try:
        importlib.import_module(name)
    except Exception:  # noqa: BLE001 - only a speed-up
        pass


def _has_children() -> bool:
    me = str(os.getpid())
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="utf-8", errors="replace") as handle:
                    if handle.read().rsplit(")", 1)[1].split()[1] == me:
                        return True
            except OSError:
                continue
    return False


_STAGED_PREFIX = str(Path(tempfile.gettempdir()) / "torchkata-grade-")


def _unstage(message: str) -> str:
    """Staged paths in a message as the student knows them: ``/tmp/.../impl/modules.py`` -> ``modules.py``."""
    return re.sub(re.escape(_STAGED_PREFIX) + r"[^/\s]*/run\d+/(impl|graders)/", "", message)


_FRAME = re.compile(rb'File "[^"\n]*/impl/(\w+)\.py", line (\d{1,7})')


def _crash_site(tail: bytes) -> str:
    """From a dying child's last output, the chapter module's line it died in: `` (at modules.py:12)``.

    The output is the submission's to write, so only a file name and a line number are taken from it.
    """
    found = _FRAME.findall(tail)
    if not found:
        return ""
    slug, line = found[-1]
    return f" (at {slug.decode()}.py:{int(line)})"


def _read_available(fd: int) -> bytes:
    chunks = []
    while True:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            break
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks)


def _kill_group(pid: int) -> None:
    """SIGKILL the child's process group (it leads its own session), and the child itself."""
    for target in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        try:
            target()
        except (ProcessLookupError, PermissionError):
            pass


def become_subreaper() -> None:
    """Orphans of our descendants become our children, so none outlives the grading (and the template's
    children are ours to reap)."""
    try:
        import ctypes

        ctypes.CDLL(None).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def serve(request: dict[str, Any], out: Any, template: Template) -> None:
    """Grade every submission of ``request`` (root, chapters, submissions, limits, jobs), reporting to ``out``.

    Everything the children could touch (submissions, graders, starters) is read before the first fork.
    """
    project = Project(Path(request["root"]))
    limits = Limits.from_dict(request.get("limits", {}))
    slugs: list[str] = list(request["chapters"])
    chapters = [read_chapter(project, slug) for slug in slugs]
    submissions = [
        (name, {slug: read_submitted(Path(path), slug) for slug in slugs}) for name, path in request["submissions"]
    ]
    server = Server(limits, int(request.get("jobs", 1)), out, template)
    # The folders holding the submissions, not each one: a child must not learn its classmates' names.
    holders = sorted({str(Path(path).resolve().parent) for _, path in request["submissions"]})
    server.protected += [str(project.root.resolve()), *holders]
    try:
        server.install()
        template.warm(preload_modules(chapters))
        expected, errors = server.collect(chapters)
        tasks = []
        for name, files in submissions:
            for chapter in chapters:
                submitted = files[chapter.slug]
                task = server.make_task(name, chapter, submitted, expected)
                if chapter.slug in errors:
                    task.flag("error", errors[chapter.slug])
                if submitted.source is None:
                    for nodeid in task.expected:
                        task.results[nodeid] = (False, submitted.problem)
                    server.finish(task)
                elif not task.order:
                    server.finish(task)
                else:
                    tasks.append(task)
        if len(tasks) > server.jobs:
            template.warm(warm_later(chapters), later=True)
        server.run(tasks)
        measured = [json.loads(text) for text in server.layers]
        server.emit({"t": "done", "landlock": server.landlock, "layers": measured})
    finally:
        server.close()


def main() -> int:
    become_subreaper()
    template = Template.start()  # before the request is read: no child inherits it
    request = json.loads(sys.stdin.read())
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # stray prints (ours or a library's) never reach the result stream
    serve(request, out, template)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
