"""Benchmark: the instructor's exports against anchors measured in the same run.

- ``torchkata release`` against collecting every grader with pytest (the release's
  own floor: it collects the graders to count each chapter's points);
- the Classroom workflow's grading step (one ``torchkata grade`` over every chapter that writes the
  reporter's results objects), run as the runner runs it on a release with the reference solutions
  copied in, against one ``torchkata grade`` of the same files (isolated, as the step grades) and one
  ``torchkata grade --in-process``; it also prints the points the reporter would send Classroom;
- Gradescope's ``run_autograder`` in a fake /autograder against ``torchkata grade`` of
  the same submission (the cost of the autograder's wrapper).

    python bench/release.py [--chapter modules --chapter tensors] [--repeat 1]

Each timing is the median of ``--repeat`` runs. It is a benchmark, not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.classroom_reporter import github_outputs, reporter_report  # noqa: E402 - the reporter's model
from tests.venvs import make_venv  # noqa: E402 - the test venv helper, from the repository root
from torchkata.exports.classroom.workflow import GRADE_STEP_ID, REPORTER  # noqa: E402


def timed(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - started


def median(repeat: int, measure: Callable[[int], float]) -> float:
    return statistics.median(measure(index) for index in range(repeat))


def chapter_args(chapters: list[str]) -> list[str]:
    return [arg for slug in chapters for arg in ("--chapter", slug)]


def bench_release(work: Path, chapters: list[str], repeat: int) -> tuple[float, float, Path]:
    collect = [sys.executable, "-m", "pytest", "graders", "--collect-only", "-q", "-p", "no:cacheprovider"]
    anchor = median(repeat, lambda i: timed(collect, ROOT))
    release = [sys.executable, "-m", "torchkata", "release", *chapter_args(chapters)]
    spent = median(repeat, lambda i: timed([*release, str(work / f"release{i}")], ROOT))
    return anchor, spent, work / "release0"


def release_command_env(release: Path, work: Path) -> dict[str, str]:
    """PATH with a `torchkata` that runs the release's own engine (this environment's may be another copy)."""
    shim = work / "shim"
    shim.mkdir(exist_ok=True)
    script = shim / "torchkata"
    script.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m torchkata "$@"\n')
    script.chmod(0o755)
    return {**os.environ, "PATH": f"{shim}{os.pathsep}{os.environ.get('PATH', '')}", "GITHUB_OUTPUT": str(work / "out")}


def bench_classroom(release: Path, work: Path, repeat: int) -> tuple[float, float, float, str]:
    for module in (release / "starter").glob("*.py"):
        shutil.copy(ROOT / "solutions" / module.name, module)
    data = yaml.safe_load((release / ".github/workflows/classroom.yml").read_text())
    (job,) = data["jobs"].values()
    (grade,) = [step for step in job["steps"] if step.get("id") == GRADE_STEP_ID]
    (reporter,) = [step for step in job["steps"] if step.get("uses", "").startswith(REPORTER.split("@")[0])]
    env = release_command_env(release, work)
    one_run = [sys.executable, "-m", "torchkata", "grade", "starter"]
    isolated = median(repeat, lambda i: timed(one_run, release))
    in_process = median(repeat, lambda i: timed([*one_run, "--in-process"], release))

    def step(index: int) -> float:
        Path(env["GITHUB_OUTPUT"]).write_text("")
        return timed(["bash", "-e", "-c", grade["run"]], release, env)

    spent = median(repeat, step)
    outputs = github_outputs(Path(env["GITHUB_OUTPUT"]).read_text())
    notice = reporter_report(reporter, {GRADE_STEP_ID: outputs}).notice or "no notice"
    return spent, isolated, in_process, notice


def bench_gradescope(work: Path, chapters: list[str], repeat: int) -> tuple[float, float, float]:
    root = work / "autograder"
    bundle = work / "autograder.zip"
    subprocess.run([sys.executable, "-m", "torchkata", "gradescope", str(bundle), *chapter_args(chapters)],
                   cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    with zipfile.ZipFile(bundle) as archive:
        archive.extractall(root / "source")
    run_autograder = root / "source" / "run_autograder"
    run_autograder.chmod(0o755)
    make_venv(root / "venv")  # sees this environment's pinned packages: nothing is downloaded
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "TORCHKATA_TORCH_INDEX": "", "TORCHKATA_PYTHON": sys.executable,
           "TORCHKATA_VENV_OPTIONS": "--without-pip", "PIP_NO_BUILD_ISOLATION": "0"}
    setup = timed(["bash", str(root / "source" / "setup.sh")], root, env)
    submission = root / "submission"
    submission.mkdir()
    for path in (ROOT / "solutions").glob("*.py"):
        shutil.copy(path, submission / path.name)
    grade = [sys.executable, "-m", "torchkata", "grade", str(submission), *chapter_args(chapters)]
    anchor = median(repeat, lambda i: timed(grade, ROOT))
    spent = median(repeat, lambda i: timed([str(run_autograder)], root, env))
    return setup, anchor, spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chapter", action="append", default=[], help="only this chapter (repeatable)")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="torchkata-bench-") as folder:
        work = Path(folder)
        anchor, spent, release = bench_release(work, args.chapter, args.repeat)
        print(f"release      {spent:7.1f} s   collecting the graders {anchor:7.1f} s   ratio {spent / anchor:5.2f}")
        spent, isolated, in_process, notice = bench_classroom(release, work, args.repeat)
        print(f"classroom    {spent:7.1f} s   (one grading step)   torchkata grade {isolated:7.1f} s   "
              f"ratio {spent / isolated:5.2f}   one in-process grade {in_process:7.1f} s   "
              f"ratio {spent / in_process:5.2f}   reporter: {notice}")
        setup, anchor, spent = bench_gradescope(work, args.chapter, args.repeat)
        print(f"gradescope   {spent:7.1f} s   torchkata grade {anchor:7.1f} s   ratio {spent / anchor:5.2f}   "
              f"(setup.sh once: {setup:.1f} s)")


if __name__ == "__main__":
    main()
