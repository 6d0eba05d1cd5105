"""Isolated grading: submissions graded by a fork server in sandboxed children (see forkserver).

``grade_isolated`` grades one directory, ``grade_submissions`` many (one fork server,
``jobs`` chapter runs at a time). Both return the same GradeResult the in-process
path builds, with chapter flags such as ``crashed``, ``timed_out`` and ``tampered``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import torchkata
from torchkata.course.project import Project
from torchkata.grading.grade import select_chapters
from torchkata.grading.hygiene import Redactor
from torchkata.grading.limits import Limits
from torchkata.grading.results import ChapterResult, GradeResult, TestOutcome, build_result
from torchkata.grading.review import review_submission

NO_LANDLOCK = (
    "torchkata: this kernel has no Landlock, so a submission's reads and writes are not confined to its "
    "environment and scratch directory (graders are still read once, before any submission runs)."
)


class GradingError(RuntimeError):
    """The fork server itself failed; no grade was produced."""


def _server_command() -> list[str]:
    return [sys.executable, "-m", "torchkata.sandbox.forkserver"]


def _server_env() -> dict[str, str]:
    """The server's environment: the allow-list its children keep, so /proc/<server>/environ holds no secret."""
    from torchkata.sandbox.child import kept_environment

    env = kept_environment(dict(os.environ))
    env["HOME"] = env["TMPDIR"] = tempfile.gettempdir()
    package_parent = str(Path(torchkata.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = package_parent
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _server_deadline(limits: Limits, tasks: int, jobs: int) -> float:
    """Seconds after which the whole grading is abandoned: each chapter's budget, plus start-up."""
    rounds = -(-tasks // max(jobs, 1))
    return 120.0 + rounds * limits.wall_seconds * 2


def grade_submissions(
    submissions: Mapping[str, Path | str],
    chapters: list[str] | None = None,
    project: Project | None = None,
    limits: Limits | None = None,
    jobs: int = 1,
    on_chapter: Callable[[str, str], None] | None = None,
) -> dict[str, GradeResult]:
    """Grade each named submission directory in isolation; results keyed like ``submissions``."""
    project = project or Project.find()
    limits = limits or Limits()
    selected = select_chapters(project, chapters)
    order = {chapter.slug: [kata.name for kata in chapter.katas] for chapter in selected}
    for name, path in submissions.items():
        if not Path(path).is_dir():
            raise FileNotFoundError(f"submission {name!r}: {path} is not a directory")
    request = {
        "root": str(project.root),
        "chapters": [chapter.slug for chapter in selected],
        "submissions": [[name, str(Path(path).resolve())] for name, path in submissions.items()],
        "limits": limits.to_dict(),
        "jobs": jobs,
    }
    outcomes: dict[str, list[TestOutcome]] = {name: [] for name in submissions}
    flags: dict[str, dict[str, dict[str, str]]] = {name: {} for name in submissions}
    deadline = _server_deadline(limits, len(submissions) * len(selected), jobs)
    redactor = Redactor.of(project)
    active: dict[str, Any] = {}
    for message in _server_messages(request, deadline):
        if message["t"] == "done":
            active = isolation_layers(int(message.get("landlock") or 0), message.get("layers") or [])
            continue
        name, slug = message["submission"], message["chapter"]
        outcomes[name] += [TestOutcome(**{**item, "message": redactor.clean(str(item["message"]))})
                           for item in message["outcomes"]]
        flags[name][slug] = {key: redactor.clean(reason) if isinstance(reason, str) else reason
                             for key, reason in message["flags"].items()}
        if on_chapter:
            on_chapter(name, slug)
    results: dict[str, GradeResult] = {}
    for name, path in submissions.items():
        result = build_result(outcomes[name], order)
        for slug, chapter_flags in flags[name].items():
            result.chapters.setdefault(slug, ChapterResult(slug)).flags.update(chapter_flags)
        result.add_review(review_submission(Path(path), [chapter.slug for chapter in selected]))
        result.layers = dict(active)
        results[name] = result
    return results


def isolation_layers(landlock_abi: int, measured: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Which protections were active in this grading run, for every report (see docs/security.md).

    ``measured``: what each grading child reported its confinement achieved (one dict per distinct
    report). Those values replace the expectations; where children differ, every variant is listed.
    """
    layers: dict[str, Any] = {
        "isolated": True,
        "landlock": landlock_abi,
        "writes": "only to the child's scratch directory" if landlock_abi else "not confined (no Landlock)",
        "signals": "only within the child's sandbox" if landlock_abi >= 6 else "not scoped (Landlock ABI < 6)",
        "audit_hook": True,
        "integrity_check": True,
        "static_review": True,
        "environment": "allow-list",
        "network": "Python sockets refused by the audit hook; no network namespace",
        "measured": bool(measured),
    }
    reports = [report for report in measured or [] if isinstance(report, dict)]
    for key in dict.fromkeys(key for report in reports for key in report):
        values = list(dict.fromkeys(str(report.get(key, "not reported")) for report in reports))
        layers[key] = values[0] if len(values) == 1 else "varied: " + " | ".join(values)
    return layers


def _server_messages(request: dict[str, Any], deadline: float) -> Iterator[dict[str, Any]]:
    """Run a fork server on ``request``; yield its chapter messages; GradingError if it fails to finish."""
    done = False
    with tempfile.TemporaryDirectory(prefix="torchkata-server-") as cwd, tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(
            _server_command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors, cwd=cwd,
            env=_server_env(), text=True,
        )
        timer = _Watchdog(process, deadline)
        try:
            assert process.stdin is not None and process.stdout is not None
            process.stdin.write(json.dumps(request))
            process.stdin.close()
            for line in process.stdout:
                message = json.loads(line)
                if message["t"] == "chapter":
                    yield message
                elif message["t"] == "done":
                    done = True
                    if not message.get("landlock"):
                        print(NO_LANDLOCK, file=sys.stderr)
                    yield message
            process.wait()
        finally:
            timer.cancel()
            if process.poll() is None:
                process.kill()
                process.wait()
        if not done:
            errors.seek(0)
            tail = errors.read().decode("utf-8", errors="replace").strip().splitlines()[-5:]
            raise GradingError(
                f"the grading server stopped before it finished (exit status {process.returncode}): "
                + (" | ".join(tail) or "no message")
            )


def grade_isolated(
    impl_dir: Path | str,
    chapters: list[str] | None = None,
    project: Project | None = None,
    limits: Limits | None = None,
    jobs: int = 1,
) -> GradeResult:
    """Grade one directory of chapter modules in sandboxed children."""
    project = project or Project.find()
    return grade_submissions({"submission": project.resolve_impl(impl_dir)}, chapters, project, limits, jobs)[
        "submission"
    ]


class _Watchdog:
    """Kills the server if it runs past its deadline (a bug in it must not hang the caller)."""

    def __init__(self, process: subprocess.Popen[str], seconds: float) -> None:
        import threading

        self._timer = threading.Timer(seconds, process.kill)
        self._timer.daemon = True
        self._timer.start()

    def cancel(self) -> None:
        self._timer.cancel()
