"""One chapter of one submission: its test order with canaries, the frames its children may send, its report.

The fork server trusts nothing a child does except frames on that child's channel that carry the run's
nonce and name the next test of the run's order (:func:`accept_frame`); a test that never reported has
failed (:func:`chapter_message`).
"""

from __future__ import annotations

import dataclasses
import json
import random
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torchkata.grading.recorder import SKIPPED_WHILE_APPLICABLE, Expected, outcome_of
from torchkata.sandbox import canary, channel
from torchkata.sandbox.staging import ChapterSources, RunDir, Submitted

KNOWN_WRONG_CANARIES = 6


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


def make_task(rng: random.Random, name: str, chapter: ChapterSources, submitted: Submitted,
              expected: dict[str, Expected]) -> Task:
    """The chapter's real tests in collection order, with its canaries placed at random among them."""
    mine = {nodeid: e for nodeid, e in expected.items() if e.chapter == chapter.slug}
    plan = canary.make_plan(rng)
    real = list(mine)
    sampled = rng.sample(real, min(KNOWN_WRONG_CANARIES, len(real)))
    wrong = [canary.alias_nodeid(nodeid, chapter.slug, plan.alias) for nodeid in sampled]
    sentinels = plan.sentinel_nodeids("graders/public")
    order = canary.interleave(real, wrong + sentinels, rng) if real else []
    return Task(name, chapter, submitted, mine, plan, order, set(wrong) | set(sentinels))


def accept_frame(child: Child, frame: dict[str, Any], test_limit: float, layers: dict[str, None]) -> None:
    """Accept one frame: it must carry the nonce and name the next test of the order.

    ``layers`` gathers each distinct report of what a child's confinement achieved, as sorted JSON.
    """
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
            layers[text] = None
        return
    expected_next = task.order[task.position] if task.position < len(task.order) else None
    if nodeid != expected_next:
        raise channel.ChannelError(f"a {kind!r} for {nodeid!r} when the next test is {expected_next!r}")
    if kind == "start":
        child.running = nodeid
        child.test_deadline = time.monotonic() + test_limit
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


def chapter_message(task: Task) -> dict[str, Any]:
    """The chapter's report: every expected test's outcome (one that never reported has failed)."""
    outcomes = []
    for nodeid, exp in task.expected.items():
        passed, message = task.results.get(nodeid, (False, "the test did not report a result"))
        outcomes.append(dataclasses.asdict(outcome_of(exp, (passed, _unstage(message)))))
    return {"t": "chapter", "submission": task.submission, "chapter": task.chapter.slug,
            "outcomes": outcomes, "flags": task.flags}


_STAGED_PREFIX = str(Path(tempfile.gettempdir()) / "torchkata-grade-")


def _unstage(message: str) -> str:
    """Staged paths in a message as the student knows them: ``/tmp/.../impl/modules.py`` -> ``modules.py``."""
    return re.sub(re.escape(_STAGED_PREFIX) + r"[^/\s]*/run\d+/(impl|graders)/", "", message)


_FRAME = re.compile(rb'File "[^"\n]*/impl/(\w+)\.py", line (\d{1,7})')


def crash_site(tail: bytes) -> str:
    """From a dying child's last output, the chapter module's line it died in: `` (at modules.py:12)``.

    The output is the submission's to write, so only a file name and a line number are taken from it.
    """
    found = _FRAME.findall(tail)
    if not found:
        return ""
    slug, line = found[-1]
    return f" (at {slug.decode()}.py:{int(line)})"
