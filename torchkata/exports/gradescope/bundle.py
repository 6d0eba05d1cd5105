"""The Gradescope autograder zip: setup.sh, run_autograder and the course without its solutions.

At the zip's root (Gradescope's /autograder/source): ``setup.sh`` installs the
pinned environment into /autograder/venv; ``run_autograder`` grades
/autograder/submission through :mod:`torchkata.exports.gradescope.run` and writes
/autograder/results/results.json. Beside them: the engine, ``pyproject.toml``,
``constraints.txt``, ``exercises/``, ``starter/`` (the canaries' known-wrong
modules), ``graders/public/`` and ``graders/hidden/``, and ``autograder.json``
(the settings). The solutions, mutants and other-style solutions stay out; the
zip is scanned for them before it is moved into place.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from torchkata.course.catalog import Chapter
from torchkata.course.project import Project
from torchkata.exports.classroom.workflow import CPU_TORCH_INDEX
from torchkata.exports.gradescope.run import VISIBILITIES
from torchkata.exports.release import check_starter_in_sync, template
from torchkata.grading.grade import select_chapters
from torchkata.grading.leakscan import SecretIndex

EXECUTABLES = ("setup.sh", "run_autograder")
# A fixed timestamp makes the same course give the same zip, byte for byte.
ZIP_TIME = (1980, 1, 1, 0, 0, 0)
SKIPPED = {"__pycache__", ".pytest_cache"}


@dataclass(frozen=True)
class Autograder:
    path: Path
    chapters: list[str]
    files: int


def _tree(folder: Path, prefix: str) -> Iterator[tuple[str, Path]]:
    for path in sorted(folder.rglob("*")):
        parts = path.relative_to(folder).parts
        if path.is_file() and not SKIPPED.intersection(parts) and path.suffix != ".pyc":
            yield f"{prefix}/{'/'.join(parts)}", path


def bundle_files(project: Project, chapters: list[Chapter]) -> Iterator[tuple[str, Path]]:
    """(name in the zip, file on disk) of every course file the autograder carries."""
    yield "pyproject.toml", project.root / "pyproject.toml"
    yield "constraints.txt", project.root / "constraints.txt"
    yield from _tree(project.root / "torchkata", "torchkata")
    for chapter in chapters:
        yield from _tree(chapter.directory, f"exercises/{chapter.directory.name}")
        starter = project.starter / chapter.module_name
        if not starter.is_file():
            raise FileNotFoundError(f"{starter} is missing: run `torchkata build`")
        yield f"starter/{chapter.module_name}", starter
        hidden = project.grader_files(chapter.slug, "hidden")
        if not hidden:
            raise FileNotFoundError(
                f"chapter {chapter.slug} has no hidden graders (graders/hidden/test_{chapter.slug}.py)"
            )
        for path in project.grader_files(chapter.slug):
            yield f"graders/{path.parent.name}/{path.name}", path
        casebook = project.casebook(chapter.slug)
        if casebook.is_file():
            yield f"graders/hidden/{casebook.name}", casebook
    for kind in ("public", "hidden"):
        for path in sorted((project.graders / kind).glob("*.py")):
            if not path.name.startswith("test_"):
                yield f"graders/{kind}/{path.name}", path


def generated_files(chapters: list[Chapter], points: float, hidden_visibility: str,
                    torch_index: str | None) -> dict[str, str]:
    """setup.sh, run_autograder, README.md and autograder.json, as text."""
    index = torch_index or ""
    return {
        "setup.sh": template("gradescope_setup.sh", torch_index=index, torch_index_text=index or "none"),
        "run_autograder": template("gradescope_run_autograder"),
        "README.md": template(
            "gradescope_README.md",
            title="torchkata",
            hidden_visibility=hidden_visibility,
            chapter_list=", ".join(chapter.slug for chapter in chapters),
            total_points=f"{points:g}",
        ),
        "autograder.json": json.dumps(
            {"chapters": [chapter.slug for chapter in chapters], "hidden_visibility": hidden_visibility}, indent=2
        ) + "\n",
    }


def _add(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, ZIP_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    mode = 0o755 if name in EXECUTABLES else 0o644
    info.external_attr = (0o100000 | mode) << 16
    archive.writestr(info, data)


def build_gradescope_zip(
    project: Project,
    out: Path,
    chapters: list[str] | None = None,
    hidden_visibility: str = "hidden",
    torch_index: str | None = CPU_TORCH_INDEX,
    overwrite: bool = False,
) -> Autograder:
    """Write the autograder zip to ``out``; an existing file is replaced only with ``overwrite``."""
    from torchkata.grading.points import chapter_points

    if out.suffix != ".zip":
        raise ValueError(f"{out} should end in .zip: Gradescope takes the autograder as a zip file")
    if out.exists() and (out.is_dir() or not overwrite):
        raise ValueError(f"{out} already exists; pass --force to replace it")
    if hidden_visibility not in VISIBILITIES:
        raise ValueError(f"hidden visibility must be one of {', '.join(VISIBILITIES)}, got {hidden_visibility!r}")
    selected = select_chapters(project, chapters)
    check_starter_in_sync(project, selected)
    total = sum(chapter_points(project, selected).values())
    files = dict(bundle_files(project, selected))
    out.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{out.name}-", suffix=".zip", dir=out.parent)
    os.close(handle)
    try:
        with zipfile.ZipFile(temporary, "w") as archive:
            for name, text in generated_files(selected, total, hidden_visibility, torch_index).items():
                _add(archive, name, text.encode("utf-8"))
            for name, path in files.items():
                _add(archive, name, path.read_bytes())
            count = len(archive.namelist())
        leaks = SecretIndex.of(project, hidden_graders=False).scan(Path(temporary))
        if leaks:
            listed = "\n  ".join(str(leak) for leak in leaks[:20])
            raise ValueError(f"the autograder would carry solutions, so nothing was written:\n  {listed}")
        os.chmod(temporary, 0o644)
        os.replace(temporary, out)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return Autograder(out, [chapter.slug for chapter in selected], count)
