"""Student-controlled text made safe to report: plain, capped, and with instructor-only lines redacted.

A failure message can carry what a submission chose to put in it (an exception's text, a repr). Before it
reaches a report it loses terminal escapes and control characters, is capped, and every line (or part of a
line between separators) that matches a distinctive line of the hidden graders or the reference is
replaced, so a submission that reads the grader cannot hand its source out through the feedback.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torchkata.course.project import Project

MESSAGE_CHARS = 1500  # a whole failure message, the grader's own words included
STUDENT_CHARS = 300  # the part a submission wrote: an exception's text, a repr
REDACTED = "[redacted: matches instructor-only source]"
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-_]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_SEPARATORS = re.compile(r"\\n|[|;\t]")
MAX_SECRET_WORDS = 40  # longer secret lines are still found through their own separated parts


def plain(text: str) -> str:
    """Without terminal escape sequences and control characters (newlines and tabs kept)."""
    return _CONTROL.sub("", _ESCAPES.sub("", text))


def cap(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def student_text(text: object, limit: int = STUDENT_CHARS) -> str:
    """What a submission wrote, as it may appear inside a message: plain, on one line, capped."""
    return cap(" ".join(plain(str(text)).split()), limit)


@dataclass(frozen=True)
class Redactor:
    """Replaces the parts of a message that match instructor-only lines of one course."""

    secret_lines: frozenset[str]

    @classmethod
    def of(cls, project: Project) -> Redactor:
        from torchkata.grading.leakscan import SecretIndex

        return cls(frozenset(SecretIndex.of(project).lines))

    def holds_secret(self, line: str) -> bool:
        """True when a secret line stands in ``line``, alone or among other words (at word boundaries)."""
        for part in _SEPARATORS.split(line):
            words = part.split()
            for start in range(len(words)):
                for end in range(start + 1, min(len(words), start + MAX_SECRET_WORDS) + 1):
                    if " ".join(words[start:end]) in self.secret_lines:
                        return True
        return False

    def clean(self, message: str) -> str:
        """The message plain, each line holding a secret redacted, then capped."""
        lines = [REDACTED if self.holds_secret(line) else line for line in plain(message).splitlines()]
        return cap("\n".join(lines), MESSAGE_CHARS)
