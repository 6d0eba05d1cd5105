"""Grading a directory of chapter modules with every grader, in this process."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest

from torchkata.course.catalog import Chapter, find_chapter, load_chapters
from torchkata.course.project import Project
from torchkata.grading.recorder import Recorder
from torchkata.grading.results import ChapterResult, GradeResult, build_result
from torchkata.grading.review import review_submission


def runtime_modules() -> list[str]:
    """What every grading run imports: torch, pytest and its default plugins, the grader runtime.

    A process that forks one run after another imports them once first, so each run starts with them.
    """
    import _pytest.config

    return ["numpy", "pytest", "pytest_timeout", "torch", "torchkata.checks", "torchkata.plugin",
            "torchkata.grading.grade", *(f"_pytest.{name}" for name in _pytest.config.default_plugins)]


def pytest_args(
    project: Project,
    impl_dir: Path,
    chapters: list[Chapter],
    katas: list[str] | None = None,
    visibility: str = "all",
    test_seconds: float = 0.0,
    memory_mib: int = 0,
) -> list[str]:
    """Arguments for one pytest run over the chapters' graders against ``impl_dir``.

    ``test_seconds`` and ``memory_mib`` limit each grader test (the plugin's --test-timeout and
    --test-memory); 0, the default, runs trusted code without them.
    """
    files = [str(path) for chapter in chapters for path in project.grader_files(chapter.slug, visibility)]
    return [
        *files,
        *(f"--kata={name}" for name in katas or ()),
        f"--impl={impl_dir}",
        f"--test-timeout={test_seconds:g}",
        f"--test-memory={memory_mib}",
        f"--rootdir={project.root}",
        "--import-mode=importlib",
        "-p",
        "no:cacheprovider",
        # Both plugins run gc.collect() several times per session: seconds with torch loaded.
        "-p",
        "no:unraisableexception",
        "-p",
        "no:threadexception",
        "-q",
        "--no-header",
        "--tb=no",
    ]


def grade_in_process(
    impl_dir: Path | str,
    chapters: list[str] | None = None,
    project: Project | None = None,
    katas: list[str] | None = None,
    visibility: str = "all",
    stop_at_first_failure: bool = False,
    test_seconds: float = 0.0,
    plugins: list[object] | None = None,
) -> GradeResult:
    """Grade ``impl_dir`` in this process: quick and trusting. Use it for trusted code only.

    ``katas`` limits the run to those katas' tests; ``visibility`` picks all, public or hidden graders;
    ``stop_at_first_failure`` ends the run at the first failed test (the rest then count as failed);
    ``test_seconds`` stops a test that runs longer (pytest-timeout's signal method; 0: no limit);
    ``plugins`` are more pytest plugin objects for the run.
    """
    project = project or Project.find()
    selected = select_chapters(project, chapters)
    recorder = Recorder()
    args = pytest_args(project, project.resolve_impl(impl_dir), selected, katas, visibility, test_seconds)
    if stop_at_first_failure:
        args.append("--exitfirst")
    with contextlib.redirect_stdout(io.StringIO()):
        pytest.main(args, plugins=[recorder, *(plugins or [])])
    result = build_result(recorder.outcomes(), {c.slug: [k.name for k in c.katas] for c in selected})
    for slug, error in recorder.collect_errors.items():
        result.chapters.setdefault(slug, ChapterResult(slug)).flags["error"] = error
    result.add_review(review_submission(project.resolve_impl(impl_dir), [chapter.slug for chapter in selected]))
    return result


def select_chapters(project: Project, names: list[str] | None) -> list[Chapter]:
    """The named chapters (all when None), in course order."""
    chapters = load_chapters(project)
    if not names:
        return chapters
    wanted = {find_chapter(name, chapters).slug for name in names}
    return [chapter for chapter in chapters if chapter.slug in wanted]
