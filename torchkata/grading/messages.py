"""Short, student-facing text for an exception raised while grading.

The text names the innermost line of the student's chapter file in the failure's traceback (``(at
modules.py:12)``), explains known torch errors in the course's words (:mod:`torchkata.grading.explain`), and says so
when the fault lies in another kata of the chapter (load_checkpoint failing on the file save_checkpoint wrote).
"""

from __future__ import annotations

import re
import traceback
from collections.abc import Collection
from pathlib import Path

from torchkata.course.locate import definition_at
from torchkata.grading.explain import chain, explain
from torchkata.grading.hygiene import cap, plain, student_text
from torchkata.grading.loader import MODULE_PREFIX

_MISSING = re.compile(rf"module '{MODULE_PREFIX}(\w+)' has no attribute '(\w+)'")
_TIMEOUT = re.compile(r"^Timeout \(>([\d.]+)s\)? from pytest-timeout")  # its wording changed across versions
MAX_CHARS = 2000


def student_line(error: BaseException, student_file: Path) -> int | None:
    """The innermost line of ``student_file`` in the tracebacks of ``error``'s chain (the deepest cause first)."""
    target = student_file.resolve()
    for found in reversed(chain(error)):
        lines = [
            frame.lineno
            for frame in traceback.extract_tb(found.__traceback__)
            if Path(frame.filename).resolve() == target
        ]
        if lines and lines[-1] is not None:
            return lines[-1]
    return None


def timeout_text(seconds: str, where: str = "") -> str:
    """``stopped after 10 s (at modules.py:12): an endless loop? ...``; ``where`` is `` (at file:line)`` or empty."""
    return (
        f"stopped after {float(seconds):g} s{where}: an endless loop? Each check may run {float(seconds):g} s "
        "(--test-timeout, TORCHKATA_TEST_TIMEOUT)."
    )


def _other_kata(
    line: int | None, student_file: Path | None, kata: str | None, katas: Collection[str], slug: str
) -> str:
    """A note when ``line`` lies in another kata of the chapter than the one checked."""
    if line is None or student_file is None or kata is None:
        return ""
    owner = definition_at(student_file, line)
    if owner is None or owner == kata or owner not in katas:
        return ""
    return (
        f"\nThe error is inside {owner} ({slug}.py:{line}), another kata of this chapter that {kata}'s "
        f"check uses: make {owner} pass first."
    )


def failure_message(
    error: BaseException,
    slug: str | None,
    impl_dir: Path | None,
    kata: str | None = None,
    katas: Collection[str] = (),
    called: Collection[str] = (),
) -> str:
    """What went wrong, in one or a few lines, without grader source code.

    ``kata`` is the kata whose check failed, ``katas`` every kata of its chapter, ``called`` the names of the
    student's functions the check called before it failed (see checks.call).
    """
    student_file = impl_dir / f"{slug}.py" if slug is not None and impl_dir is not None else None
    line = student_line(error, student_file) if student_file is not None else None
    explained = explain(error, student_file)
    if explained is not None and explained.line is not None:
        line = explained.line
    where = f" (at {slug}.py:{line})" if line is not None else ""
    note = _other_kata(line, student_file, kata, katas, slug or "")
    if explained is not None and explained.about_a_file and not note:
        writers = [name for name in called if name in katas and name != kata]
        if writers:
            note = (
                f"\nThe file was written by your {writers[-1]}, another kata of this chapter: make "
                f"{writers[-1]} pass first."
            )
    if isinstance(error, NotImplementedError):
        text = f"not started: {error}" if str(error) else "not started"
    elif (timeout := _TIMEOUT.match(str(getattr(error, "msg", "") or error))) is not None:
        text = timeout_text(timeout.group(1), where)
    elif isinstance(error, AttributeError) and (match := _MISSING.search(str(error))):
        text = (
            f"{match.group(1)}.py defines no {match.group(2)!r}: add it with the name and signature the exercise gives."
        )
    elif explained is not None and explained.error is error:  # torch's own error, not a grader's message
        text = f"{student_text(type(error).__name__, 80)}: {explained.text}{where}"
    elif isinstance(error, AssertionError) or type(error).__name__ in {"Failed", "Exit"}:
        text = plain(str(getattr(error, "msg", None) or error)) or type(error).__name__
        if error.__cause__ is not None:  # a crash that checks.call reported: say where it happened
            text += where
    else:
        text = f"{student_text(type(error).__name__, 80)}: {student_text(error)}{where}"
    return cap(text + note, MAX_CHARS)
