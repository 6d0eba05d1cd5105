"""Collecting the graders: the expected tests, found in a child that never sees a submission."""

from __future__ import annotations

import os
import secrets
import select
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from torchkata.grading.limits import Limits
from torchkata.grading.recorder import Expected
from torchkata.sandbox import channel
from torchkata.sandbox.processes import kill_group, read_available, reap
from torchkata.sandbox.staging import ChapterSources, RunDir, write_run_dir

# fork(run, nonce, order, collect_only) -> (pid, channel read end, output read end)
Fork = Callable[[RunDir, str, list[str], bool], tuple[int, int, int]]


def collect(chapters: list[ChapterSources], base: Path, limits: Limits, fork: Fork,
            wake_fd: int) -> tuple[dict[str, Expected], dict[str, str]]:
    """The expected grader tests by node id, and each chapter that failed to collect with the reason."""
    run = write_run_dir(base / "collect", chapters)
    nonce = secrets.token_hex(16)
    deadline = time.monotonic() + limits.wall_seconds
    pid, channel_r, output_r = fork(run, nonce, [], True)
    reader = channel.FrameReader()
    message: dict[str, Any] | None = None
    done = False
    while not done:
        ready, _, _ = select.select([channel_r, output_r, wake_fd], [], [], 0.5)
        for fd in ready:
            data = read_available(fd)
            if fd == channel_r and data:
                message = _collected(reader, data, nonce) or message
        for finished, _ in reap():
            done = done or finished == pid
        if time.monotonic() > deadline:
            kill_group(pid)
    message = _collected(reader, read_available(channel_r), nonce) or message
    os.close(channel_r)
    os.close(output_r)
    kill_group(pid)
    if message is None:
        reason = "collecting the graders failed"
        return {}, {chapter.slug: reason for chapter in chapters}
    expected = {
        item["id"]: Expected(item["test"], item["chapter"], item["kata"], float(item["points"]),
                             item["visibility"], str(item.get("not_applicable", "")))
        for item in message["expected"]
    }
    return expected, dict(message["errors"])


def _collected(reader: channel.FrameReader, data: bytes, nonce: str) -> dict[str, Any] | None:
    """The collector's message among the frames ``data`` completes, if it is there."""
    try:
        frames = reader.feed(data)
    except channel.ChannelError:
        return None
    found = [f for f in frames if f.get("nonce") == nonce and f.get("t") == "collected"]
    return found[-1] if found else None
