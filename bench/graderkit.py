"""Benchmark: the graders that use torchkata.graderkit against the same graders before the kit, in one run.

    python bench/graderkit.py [--base REV] [--this REV] [--repeat 5] [--chapter cnn ...]

For every chapter whose graders import ``torchkata.graderkit`` (or the named ones), grades
``solutions/`` in process (every check of the chapter does its full work on a correct submission)
with a git worktree of ``--base`` (default: the commit before the first grader used the kit) and
with ``--this`` (a revision; default: this working tree). Each round runs a fresh process per tree,
the two alternating which goes first, and takes the best of three grades after a warm-up. Prints
the median seconds per chapter, the ratio this / base (goal: 1.00 within noise), and what importing
the kit costs a process that has torch loaded, against grading one chapter. It asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KIT = "torchkata.graderkit"

# Run in a child with the tree first on sys.path: one warm-up grade of each chapter, then one timed.
CHILD = """
import json, sys, time
from pathlib import Path
from torchkata.grading.grade import grade_in_process
from torchkata.course.project import Project
project = Project(Path.cwd())
seconds = {}
for slug in sys.argv[1:]:
    grade_in_process(project.solutions, [slug], project)
    runs = []
    for _ in range(3):
        started = time.perf_counter()
        result = grade_in_process(project.solutions, [slug], project)
        runs.append(time.perf_counter() - started)
        assert result.points == result.max_points, f"{slug}: the reference lost points"
    seconds[slug] = min(runs)
print(json.dumps(seconds))
"""

IMPORT_COST = """
import time, torch, torchkata.checks, pytest
started = time.perf_counter()
import torchkata.graderkit.counting, torchkata.graderkit.errors, torchkata.graderkit.forbid
import torchkata.graderkit.hooks, torchkata.graderkit.loading, torchkata.graderkit.ranks
print(time.perf_counter() - started)
"""


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True, text=True).stdout.strip()


def default_base() -> str:
    """The parent of the first commit that made a grader import the kit."""
    commits = git("log", "--format=%H", f"-S{KIT}", "--", "graders").splitlines()
    if not commits:
        raise SystemExit("no committed grader uses torchkata.graderkit yet: name a --base revision")
    return f"{commits[-1]}^"


def kit_chapters() -> list[str]:
    found = {path.stem[len("test_"):] for path in (ROOT / "graders").glob("*/test_*.py") if KIT in path.read_text()}
    return sorted(found)


def run_child(tree: Path, code: str, *args: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run([sys.executable, "-c", code, *args], cwd=tree, env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"grading in {tree} failed:\n{done.stderr[-2000:]}")
    return done.stdout.strip().splitlines()[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", help="the revision to compare with (default: before the first grader used the kit)")
    parser.add_argument("--this", help="the revision to measure (default: this working tree)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--chapter", action="append", help="a chapter to grade (repeatable; default: the kit's users)")
    args = parser.parse_args()
    base = args.base or default_base()
    chapters = args.chapter or kit_chapters()
    times: dict[str, dict[str, list[float]]] = {"base": {}, "this": {}}
    with tempfile.TemporaryDirectory(prefix="graderkit-bench-") as scratch:
        trees = {"base": Path(scratch) / "base", "this": Path(scratch) / "this" if args.this else ROOT}
        revisions = {"base": base, "this": args.this}
        added = []
        try:
            for label, revision in revisions.items():
                if revision:
                    git("worktree", "add", "--detach", str(trees[label]), revision)
                    added.append(trees[label])
            for round_ in range(args.repeat):
                order = list(trees.items())
                for label, tree in order if round_ % 2 == 0 else order[::-1]:
                    for slug, seconds in json.loads(run_child(tree, CHILD, *chapters)).items():
                        times[label].setdefault(slug, []).append(seconds)
            kit = statistics.median(float(run_child(trees["this"], IMPORT_COST)) for _ in range(args.repeat))
        finally:
            for tree in added:
                git("worktree", "remove", "--force", str(tree))
    this = git("rev-parse", "--short", args.this) if args.this else "the working tree"
    print(f"solutions/ graded in process, median of {args.repeat} rounds (best of 3 grades each); "
          f"base = {git('rev-parse', '--short', base)}, this = {this}")
    print(f"{'chapter':<12} {'base s':>8} {'this s':>8} {'this/base':>10}")
    ratios = []
    for slug in chapters:
        before, after = statistics.median(times["base"][slug]), statistics.median(times["this"][slug])
        ratios.append(after / before)
        print(f"{slug:<12} {before:>8.3f} {after:>8.3f} {after / before:>10.3f}")
    print(f"{'geomean':<12} {'':>8} {'':>8} {statistics.geometric_mean(ratios):>10.3f}")
    chapter = statistics.median(statistics.median(times["this"][slug]) for slug in chapters)
    share = kit / chapter
    print(f"importing the kit with torch loaded: {kit * 1000:.1f} ms, {share:.4f} of a median chapter's grading")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
