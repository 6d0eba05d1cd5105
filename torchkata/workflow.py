"""The GitHub Classroom workflow of a student release: one graded step per chapter.

The course is installed once; then each chapter is one
``classroom-resources/autograding-command-grader`` step, which earns its
``max-score`` (the chapter's points) when its command exits 0, that is when
``torchkata grade --classroom`` finds every check of the chapter passing. The
``autograding-grading-reporter`` step reads each step's result from an
``<ID>_RESULTS`` variable and reports the total to Classroom.

The YAML is written as text (no YAML library is needed to make a release);
every scalar is a JSON string, which YAML reads as a double-quoted string.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass

from torchkata.catalog import Chapter

COMMAND_GRADER = "classroom-resources/autograding-command-grader@v1"
REPORTER = "classroom-resources/autograding-grading-reporter@v1"
CHECKOUT = "actions/checkout@v4"
SETUP_PYTHON = "actions/setup-python@v5"
CPU_TORCH_INDEX = "https://download.pytorch.org/whl/cpu"
GRADERS_SECRET = "GRADERS_TOKEN"
HIDDEN_GRADERS_PATH = "graders/hidden"
PYTHON_VERSION = "3.11"
_REPOSITORY = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")


@dataclass(frozen=True)
class GradingStep:
    """One chapter's Classroom step."""

    id: str
    slug: str
    test_name: str
    command: str
    timeout_minutes: int
    max_score: float

    @property
    def results_env(self) -> str:
        """The variable the reporter reads: the step id in upper case, then ``_RESULTS``."""
        return f"{self.id.upper()}_RESULTS"


def check_repository(name: str) -> str:
    """``name`` if it reads as OWNER/NAME on GitHub, else ValueError saying what was expected."""
    if not _REPOSITORY.match(name) or name.endswith((".", "/")):
        raise ValueError(f"--hidden-graders-repo expects OWNER/NAME of a GitHub repository, got {name!r}")
    return name


def chapter_command(slug: str) -> str:
    """The step's command: grade the student's starter/ for one chapter in the sandbox.

    The chapter runs in an isolated child, so code that calls ``os._exit(0)`` or
    rewrites pytest's reports cannot turn the step green: the exit status comes
    from the parent, which reads results only from its own channel. Each check has
    the sandbox's time limit, so a kata that hangs fails its check, not the step.
    ``bash -c`` joins stderr to stdout: the grader action fails a step on any
    stderr output, whatever the exit status; pass or fail must come from the exit
    status alone.
    """
    inner = f"torchkata grade starter --classroom --chapter {shlex.quote(slug)} 2>&1"
    return f'bash -c "{inner}"'


def grading_steps(chapters: Iterable[Chapter], points: dict[str, float], timeout_minutes: int) -> list[GradingStep]:
    """One step per chapter, in course order."""
    if timeout_minutes < 1:
        raise ValueError(f"a step's timeout is a whole number of minutes of at least 1, got {timeout_minutes}")
    return [
        GradingStep(
            id=f"ch{chapter.number:02d}_{chapter.slug}",
            slug=chapter.slug,
            test_name=f"{chapter.number:02d} {chapter.slug}",
            command=chapter_command(chapter.slug),
            timeout_minutes=timeout_minutes,
            max_score=points[chapter.slug],
        )
        for chapter in chapters
    ]


def install_command(torch_index: str | None) -> str:
    """pip install of the course with the pinned versions; ``torch_index`` adds a wheel index (CPU builds)."""
    extra = f" --extra-index-url {shlex.quote(torch_index)}" if torch_index else ""
    return f"python -m pip install -c constraints.txt{extra} -e ."


def _q(text: str) -> str:
    return json.dumps(text)


def _score(value: float) -> str:
    return f"{value:g}"


def _hidden_graders_steps(repository: str, slugs: list[str]) -> list[str]:
    check = (
        f"for slug in {' '.join(slugs)}; do\n"
        "  for file in test_$slug.py cases_$slug.pt; do\n"
        f'    test -f "{HIDDEN_GRADERS_PATH}/$file" || {{ echo "{repository} has no $file '
        f'at its top level: the hidden graders of $slug are missing."; exit 1; }}\n'
        "  done\n"
        "done\n"
    )
    return [
        "      - name: Check out the hidden graders",
        f"        uses: {CHECKOUT}",
        "        with:",
        f"          repository: {_q(repository)}",
        f"          token: {_q('${{ secrets.' + GRADERS_SECRET + ' }}')}",
        f"          path: {_q(HIDDEN_GRADERS_PATH)}",
        "          persist-credentials: false",
        "      - name: Check that every chapter has its hidden graders",
        "        run: |",
        *(f"          {line}" for line in check.splitlines()),
    ]


def _grading_step(step: GradingStep) -> list[str]:
    return [
        f"      - name: {_q(step.test_name)}",
        f"        id: {step.id}",
        f"        uses: {COMMAND_GRADER}",
        "        with:",
        f"          test-name: {_q(step.test_name)}",
        f"          command: {_q(step.command)}",
        f"          timeout: {step.timeout_minutes}",
        f"          max-score: {_score(step.max_score)}",
    ]


def _reporter(steps: list[GradingStep]) -> list[str]:
    env = [f"          {s.results_env}: {_q('${{ steps.' + s.id + '.outputs.result }}')}" for s in steps]
    return [
        "      - name: Autograding Reporter",
        f"        uses: {REPORTER}",
        "        env:",
        *env,
        "        with:",
        f"          runners: {_q(','.join(step.id for step in steps))}",
    ]


def classroom_workflow(
    steps: list[GradingStep], torch_index: str | None = CPU_TORCH_INDEX, hidden_repo: str | None = None
) -> str:
    """The text of .github/workflows/classroom.yml."""
    if not steps:
        raise ValueError("a Classroom workflow needs at least one chapter to grade")
    graders = (
        f"the public checks and the hidden graders of {hidden_repo}" if hidden_repo else "the public checks"
    )
    lines = [
        "# GitHub Classroom autograding, written by `torchkata release`.",
        "# Each chapter is one step that earns the chapter's points when every check",
        f"# of the chapter passes: {graders}.",
        "name: Autograding Tests",
        '"on":',
        "  - push",
        "  - repository_dispatch",
        "  - workflow_dispatch",
        "permissions:",
        "  checks: write",
        "  actions: read",
        "  contents: read",
        "jobs:",
        "  run-autograding-tests:",
        "    runs-on: ubuntu-latest",
        "    if: github.actor != 'github-classroom[bot]'",
        "    steps:",
        "      - name: Check out the submission",
        f"        uses: {CHECKOUT}",
        "      - name: Set up Python",
        f"        uses: {SETUP_PYTHON}",
        "        with:",
        f"          python-version: {_q(PYTHON_VERSION)}",
        "          cache: pip",
        "          cache-dependency-path: constraints.txt",
        "      - name: Install the course once for every chapter",
        f"        run: {_q(install_command(torch_index))}",
    ]
    if hidden_repo:
        lines += _hidden_graders_steps(check_repository(hidden_repo), [step.slug for step in steps])
    for step in steps:
        lines += _grading_step(step)
    lines += _reporter(steps)
    return "\n".join(lines) + "\n"
