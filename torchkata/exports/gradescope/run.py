"""The Gradescope side of the autograder: grade one submission and write results.json.

``run_autograder`` calls ``python -m torchkata.exports.gradescope.run``. The submission's
chapter modules may sit at its top level or deeper (a student repository keeps
them in ``starter/``); the folder holding the most of them is graded, in
isolation, with every grader the autograder carries (public and hidden).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

VISIBILITIES = ("hidden", "after_due_date", "after_published", "visible")
MAX_DEPTH = 3
SKIPPED_FOLDERS = {"__pycache__", "graders", "torchkata", "node_modules", "site-packages"}


def find_submission_dir(submission: Path, slugs: Sequence[str]) -> tuple[Path, list[str]]:
    """(the folder with the most ``<slug>.py`` files, the slugs found there); shallower folders win ties."""
    if not submission.is_dir():
        raise FileNotFoundError(f"the submission folder {submission} does not exist")
    wanted = {f"{slug}.py" for slug in slugs}
    best: tuple[int, int, str] = (0, 0, str(submission))
    base_depth = len(submission.parts)
    for folder, subfolders, files in os.walk(submission):
        depth = len(Path(folder).parts) - base_depth
        subfolders[:] = sorted(
            name for name in subfolders
            if depth < MAX_DEPTH and not name.startswith(".") and name not in SKIPPED_FOLDERS
        )
        found = len(wanted.intersection(files))
        if (found, -depth) > (best[0], best[1]):
            best = (found, -depth, folder)
    chosen = Path(best[2])
    present = [slug for slug in slugs if (chosen / f"{slug}.py").is_file()]
    return chosen, present


def load_config(path: Path) -> dict[str, Any]:
    """The autograder's settings written by ``torchkata gradescope``; defaults where absent."""
    config: dict[str, Any] = {"hidden_visibility": "hidden", "chapters": None}
    if path.is_file():
        config.update(json.loads(path.read_text(encoding="utf-8")))
    if config["hidden_visibility"] not in VISIBILITIES:
        raise ValueError(f"hidden_visibility in {path} must be one of {', '.join(VISIBILITIES)}, "
                         f"got {config['hidden_visibility']!r}")
    return config


def with_visibility(results: dict[str, Any], hidden_visibility: str) -> dict[str, Any]:
    """The results with every hidden grader test shown to students as ``hidden_visibility`` says."""
    for test in results.get("tests", []):
        if test.get("visibility") == "hidden":
            test["visibility"] = hidden_visibility
    return results


def failed_results(reason: str) -> dict[str, Any]:
    """A results.json for a submission that could not be graded: no points, and why."""
    return {"score": 0.0, "output": f"The autograder could not grade this submission: {reason}", "tests": []}


def grade_submission(submission: Path, config: dict[str, Any]) -> dict[str, Any]:
    """Gradescope's results for ``submission``, graded by the course found from the current directory."""
    from torchkata.course.project import Project
    from torchkata.exports.classroom.step import classroom_report
    from torchkata.exports.gradescope.results_json import gradescope_results
    from torchkata.grading.grade import select_chapters
    from torchkata.sandbox.isolated import grade_isolated

    project = Project.find()
    chapters = select_chapters(project, config.get("chapters"))
    slugs = [chapter.slug for chapter in chapters]
    folder, present = find_submission_dir(submission, slugs)
    started = time.monotonic()
    jobs = max(min(os.cpu_count() or 1, 4), 1)
    result = grade_isolated(folder, slugs, project, jobs=jobs)
    results = with_visibility(gradescope_results(result, time.monotonic() - started), config["hidden_visibility"])
    where = folder.relative_to(submission).as_posix() if folder != submission else "the top level"
    missing = [f"{slug}.py" for slug in slugs if slug not in present]
    note = f"Graded the chapter modules in {where} of the submission."
    if missing:
        note += f" Not found there: {', '.join(missing)}."
    results["output"] = f"{note}\n{results.get('output', '')}".strip()
    print(note)
    print(classroom_report(result, chapters, folder)[0])
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Grade one Gradescope submission into results.json.")
    parser.add_argument("--submission", type=Path, required=True, help="the submission folder")
    parser.add_argument("--results", type=Path, required=True, help="where to write results.json")
    parser.add_argument("--config", type=Path, required=True, help="the autograder's settings (JSON)")
    args = parser.parse_args(argv)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    status = 0
    try:
        results = grade_submission(args.submission, load_config(args.config))
    except Exception as error:  # noqa: BLE001 - whatever failed, Gradescope must get a results.json saying so
        results = failed_results(f"{type(error).__name__}: {error}")
        print(results["output"], file=sys.stderr)
        status = 1
    args.results.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
