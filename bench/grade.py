"""Benchmark: isolated grading against its floor, plain pytest in one process, measured in one run.

Prints the wall time of ``pytest graders --impl solutions`` (the floor: every grader,
one process, no isolation), of ``torchkata grade solutions`` (isolated: fork server,
one sandboxed child per chapter, canaries, chapters in parallel by default), their ratio
(goal: within 1.3x), the same with ``-j 1`` (one chapter at a time), and the throughput of
``torchkata grade-all`` over 20 submissions with ``-j 2``.

    python bench/grade.py [--repeat 3] [--submissions 20] [--jobs 2]

Each command runs ``--repeat`` times, the three alternating; medians are reported.
It is a benchmark, not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def timed(command: list[str]) -> float:
    """Wall seconds of one run of ``command`` in the course root (its output is dropped)."""
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - started


def runs(seconds: list[float]) -> str:
    return ", ".join(f"{value:.2f}" for value in seconds)


def make_class(folder: Path, count: int) -> Path:
    """``count`` submissions: alternately the reference solutions and the untouched starter."""
    for index in range(count):
        source = ROOT / ("solutions" if index % 2 == 0 else "starter")
        shutil.copytree(source, folder / f"student{index:02d}", ignore=shutil.ignore_patterns("__pycache__"))
    return folder


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--submissions", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    python = sys.executable
    floor_command = [python, "-m", "pytest", "graders", "--impl", "solutions", "-q", "-p", "no:cacheprovider"]
    grade_command = [python, "-m", "torchkata", "grade", "solutions"]
    serial_command = [*grade_command, "-j", "1"]
    floors, grades, serials = [], [], []
    for _ in range(args.repeat):
        floors.append(timed(floor_command))
        grades.append(timed(grade_command))
        serials.append(timed(serial_command))
    floor, grade, serial = (statistics.median(times) for times in (floors, grades, serials))
    with tempfile.TemporaryDirectory(prefix="torchkata-bench-") as temp:
        folder = make_class(Path(temp) / "class", args.submissions)
        command = [python, "-m", "torchkata", "grade-all", str(folder), "-j", str(args.jobs),
                   "--csv", str(Path(temp) / "grades.csv")]
        class_seconds = timed(command)
    chapters = len([path for path in (ROOT / "exercises").iterdir() if path.is_dir() and path.name[:2].isdigit()])
    print(f"machine: {os.cpu_count()} CPUs; {chapters} chapters; medians of {args.repeat} runs")
    print(f"floor    pytest graders --impl solutions   {floor:7.2f} s   (runs: {runs(floors)})")
    print(f"isolated torchkata grade solutions         {grade:7.2f} s   (runs: {runs(grades)})")
    print(f"ratio    isolated / floor                  {grade / floor:7.2f} x (goal: <= 1.30)")
    print(f"isolated, one chapter at a time (-j 1)     {serial:7.2f} s   (runs: {runs(serials)}; "
          f"ratio {serial / floor:.2f} x)")
    print(
        f"grade-all {args.submissions} submissions -j {args.jobs}         {class_seconds:7.2f} s   "
        f"({args.submissions / class_seconds * 60:.1f} submissions/min, {class_seconds / args.submissions:.2f} s each)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
