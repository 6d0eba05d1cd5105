"""How quick the student loop is, against the floor of importing torch, all measured in this run.

    python bench/check.py [--repeats 3] [--saves 5]

Prints the wall time of `python -c "import torch"` (the floor: every fresh torchkata process pays
it), of `torchkata check modules`, of starting `torchkata watch modules`, and of a re-check in
watch mode from the moment a file is saved to the moment its result is printed, each with its
ratio to the floor. It runs on a copy of the course in a temporary directory, so the working tree
and its .torchkata/ state are left alone.
"""

from __future__ import annotations

import argparse
import queue
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHAPTER = "modules"
LIMIT_S = 300


def course_copy(directory: Path) -> Path:
    """The course's exercises, graders and starter, copied into ``directory``."""
    for part in ("exercises", "graders", "starter"):
        shutil.copytree(ROOT / part, directory / part, ignore=shutil.ignore_patterns("__pycache__"))
    return directory


def wall_time(command: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=LIMIT_S)
    return time.perf_counter() - started


def median_time(command: list[str], cwd: Path, repeats: int) -> float:
    return statistics.median(wall_time(command, cwd) for _ in range(repeats))


class Watch:
    """``torchkata watch`` in a subprocess; waits on its output lines with a time limit."""

    def __init__(self, course: Path, saves: int) -> None:
        command = [sys.executable, "-m", "torchkata", "watch", CHAPTER, "--max-runs", str(saves),
                   "--timeout", str(LIMIT_S)]
        self.process = subprocess.Popen(
            command, cwd=course, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def wait_for(self, pattern: str) -> float:
        """Seconds until a line matching ``pattern`` is printed."""
        started = time.perf_counter()
        while (line := self.lines.get(timeout=LIMIT_S)) is not None:
            if re.search(pattern, line):
                return time.perf_counter() - started
        raise RuntimeError(f"torchkata watch ended before printing {pattern!r}")

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=30)


def watch_times(course: Path, saves: int) -> tuple[float, list[float]]:
    """(start-up until watching, [save -> result printed] for each save)."""
    path = course / "starter" / f"{CHAPTER}.py"
    original = path.read_text(encoding="utf-8")
    watch = Watch(course, saves)
    try:
        startup = watch.wait_for(r"^Watching ")
        rechecks = []
        for number in range(saves):
            edited = original.replace("class MLP(nn.Module):\n", f"class MLP(nn.Module):\n    # edit {number}\n", 1)
            started = time.perf_counter()
            path.write_text(edited, encoding="utf-8")
            watch.wait_for(r"saved: checked ")
            rechecks.append(time.perf_counter() - started)
            watch.wait_for(rf"^{CHAPTER}: \d+ of \d+ katas pass")
            time.sleep(0.3)  # keep saves apart, as a person's are
        return startup, rechecks
    finally:
        watch.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs of each command; the median is shown")
    parser.add_argument("--saves", type=int, default=5, help="saves in watch mode; the median re-check is shown")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="torchkata-bench-") as directory:
        course = course_copy(Path(directory))
        floor = median_time([sys.executable, "-c", "import torch"], course, args.repeats)
        check = median_time([sys.executable, "-m", "torchkata", "check", CHAPTER], course, args.repeats)
        startup, rechecks = watch_times(course, args.saves)
    rows = [
        ('python -c "import torch" (floor)', floor),
        (f"torchkata check {CHAPTER}", check),
        (f"torchkata watch {CHAPTER}: start-up", startup),
        (f"watch: save -> result (median of {len(rechecks)})", statistics.median(rechecks)),
        ("watch: save -> result (slowest)", max(rechecks)),
    ]
    print(f"{'what':<44} {'seconds':>8} {'x floor':>8}")
    for name, seconds in rows:
        print(f"{name:<44} {seconds:8.2f} {seconds / floor:8.2f}")


if __name__ == "__main__":
    main()
