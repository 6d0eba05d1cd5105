"""The failure every grader check raises: ``torchkata.checks.GradingError``, a message for the student."""

from __future__ import annotations


class GradingError(AssertionError):
    """A grader check that failed; its message is meant for the student."""


# Graders, tracebacks and pickles know it by the name they import it under.
GradingError.__module__ = "torchkata.checks"


def fail(text: str, hint: str | None = None) -> GradingError:
    """The failure to raise: ``text``, then the likely mistake on a line of its own."""
    return GradingError(f"{text}\n{hint}" if hint else text)
