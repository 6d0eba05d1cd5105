"""Output for a GitHub Classroom ``autograding-command-grader`` step.

Such a step awards its points when its command exits 0, and shows the command's
output to the student. ``classroom_report`` gives the text and the exit status:
0 only when every graded chapter has full marks and no flag.
"""

from __future__ import annotations

from torchkata.gradescope import flag_text
from torchkata.results import GradeResult, layers_text, not_applicable_text


def classroom_report(result: GradeResult) -> tuple[str, int]:
    """(text for the student, exit status) for the chapters in ``result``."""
    lines: list[str] = []
    complete = bool(result.chapters)
    for slug, chapter in result.chapters.items():
        flags = flag_text(chapter)
        full = chapter.points == chapter.max_points and chapter.max_points > 0 and not chapter.flags
        complete = complete and full
        lines.append(f"{slug}: {chapter.points:g} / {chapter.max_points:g} points" + (f" ({flags})" if flags else ""))
        for kata in chapter.katas.values():
            mark = "ok  " if kata.points == kata.max_points else "FAIL"
            lines.append(f"  {mark} {kata.name}: {kata.points:g} / {kata.max_points:g}")
            for failure in kata.failed:
                first = (failure["message"].splitlines() or [""])[0]
                lines.append(f"       {failure['test']}: {first}")
    lines += [f"review {line}" for line in result.review_lines()]
    skipped = not_applicable_text(result.not_applicable())
    if skipped:
        lines.append(skipped)
    lines.append(layers_text(result.layers))
    lines.append("PASS: every check passes." if complete else "FAIL: some checks do not pass yet.")
    return "\n".join(lines), 0 if complete else 1
