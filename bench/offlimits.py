"""What the cheat defences cost, against anchors measured in this run.

    python bench/offlimits.py [--repeats 200] [--chapters SLUG ...]

1. The reference solution's from-scratch ``conv2d`` and ``max_pool2d`` (chapter 15), called plainly (the
   anchor) and inside ``graderkit.offlimits.ops_switched_off`` (the dispatch mode the cnn graders add so
   that no alias reaches torch's kernels): the ratio is the mode's overhead on the student's call.
2. Grading the reference of a few chapters in process (the anchor) against grading the three attacks of
   tests/test_cheating.py (do nothing, reject everything, read the grader's frames) on the same chapters.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.test_cheating import attack_module, function_katas  # noqa: E402
from torchkata.course.project import Project  # noqa: E402
from torchkata.graderkit import offlimits  # noqa: E402
from torchkata.grading import loader  # noqa: E402
from torchkata.grading.grade import grade_in_process  # noqa: E402


def per_call(fn, repeats: int) -> float:
    """Median seconds of one call of ``fn`` over ``repeats`` calls, after a warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def switched_off(fn):
    def run():
        with offlimits.ops_switched_off(offlimits.CONVOLUTION_OPS + offlimits.MAX_POOL_OPS, "{name} is off"):
            return fn()

    return run


def bench_calls(project: Project, repeats: int) -> None:
    cnn = loader.load_module(project.solutions, "cnn")
    x, weight, bias = torch.randn(2, 3, 16, 16), torch.randn(8, 3, 3, 3), torch.randn(8)
    calls = {
        "conv2d (2, 3, 16, 16) * (8, 3, 3, 3)": lambda: cnn.conv2d(x, weight, bias, 1, 1),
        "max_pool2d (2, 3, 16, 16), 2": lambda: cnn.max_pool2d(x, 2),
    }
    for name, fn in calls.items():
        plain, guarded = per_call(fn, repeats), per_call(switched_off(fn), repeats)
        print(f"{name:40s} plain {plain * 1e6:8.1f} us   ops switched off {guarded * 1e6:8.1f} us   "
              f"ratio {guarded / plain:5.2f}")


def bench_attacks(project: Project, chapters: list[str]) -> None:
    started = time.perf_counter()
    grade_in_process(project.solutions, chapters, project)
    anchor = time.perf_counter() - started
    print(f"grading the reference of {', '.join(chapters)} in process: {anchor:.2f} s (anchor)")
    for attack in ("do_nothing", "always_refuse", "frame_thief"):
        with tempfile.TemporaryDirectory() as folder:
            for slug in chapters:
                (Path(folder) / f"{slug}.py").write_text(attack_module(attack, slug), encoding="utf-8")
            started = time.perf_counter()
            result = grade_in_process(folder, chapters, project)
            seconds = time.perf_counter() - started
        attacked = [
            kata for slug in chapters for name, kata in result.chapters[slug].katas.items()
            if attack != "frame_thief" or name in function_katas(slug)  # the thief leaves classes to the reference
        ]
        earned = sum(kata.points for kata in attacked)
        print(f"  {attack:14s} {seconds:6.2f} s   ratio {seconds / anchor:5.2f}   "
              f"points on the attacked katas {earned:g} of {sum(kata.max_points for kata in attacked):g}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--chapters", nargs="*", default=["tensors", "parameters", "cnn"])
    args = parser.parse_args()
    torch.set_num_threads(1)
    project = Project(ROOT)
    grade_in_process(project.solutions, ["modules"], project)  # warm imports before anything is timed
    bench_calls(project, args.repeats)
    bench_attacks(project, args.chapters)


if __name__ == "__main__":
    main()
