"""The GitHub Classroom workflow of a student release: one grading run, then the reporter.

The course is installed once; one step runs ``torchkata grade`` over every chapter, isolated as it always
is, prints the student's table and writes, per chapter, the reporter's results object as a step output
(see :mod:`torchkata.exports.classroom.results`). ``autograding-grading-reporter`` reads each chapter's object from
``<RUNNER>_RESULTS`` and reports the points to Classroom: the sum of every check's points, the total
``torchkata grade`` computes. A chapter without an output (the step was stopped, the course did not install,
its checks did not collect) gets an error object worth its points, written here, so every chapter counts in
the maximum whatever happened.

The YAML is written as text (no YAML library is needed to make a release);
every scalar is a JSON string, which YAML reads as a double-quoted string.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass

from torchkata.course.catalog import Chapter
from torchkata.exports.classroom.results import NO_RESULT, encode, error_results, results_env, runner_id

REPORTER = "classroom-resources/autograding-grading-reporter@v1"
CHECKOUT = "actions/checkout@v4"
SETUP_PYTHON = "actions/setup-python@v5"
CPU_TORCH_INDEX = "https://download.pytorch.org/whl/cpu"
GRADERS_SECRET = "GRADERS_TOKEN"
HIDDEN_GRADERS_PATH = "graders/hidden"
PYTHON_VERSION = "3.11"
GRADE_STEP_ID = "grade"
STEP_TIMEOUT_MINUTES = 20
GRADE_COMMAND = 'torchkata grade starter --classroom --classroom-outputs "$GITHUB_OUTPUT"'
_REPOSITORY = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")


@dataclass(frozen=True)
class Runner:
    """One chapter as the reporter sees it: a runner id, and the points its error object is worth."""

    id: str
    slug: str
    max_score: float

    @property
    def results_env(self) -> str:
        """The variable the reporter reads: the runner id in upper case, then ``_RESULTS``."""
        return results_env(self.id)

    @property
    def fallback(self) -> str:
        """Base64 of the error results object the reporter gets when the grading step wrote none."""
        return encode(error_results(f"{self.slug}: grading", NO_RESULT, self.max_score))


def check_repository(name: str) -> str:
    """``name`` if it reads as OWNER/NAME on GitHub, else ValueError saying what was expected."""
    if not _REPOSITORY.match(name) or name.endswith((".", "/")):
        raise ValueError(f"--hidden-graders-repo expects OWNER/NAME of a GitHub repository, got {name!r}")
    return name


def classroom_runners(chapters: Iterable[Chapter], points: dict[str, float]) -> list[Runner]:
    """One runner per chapter, in course order; ``points``: each chapter's, with the graders Classroom runs."""
    return [Runner(runner_id(chapter), chapter.slug, points[chapter.slug]) for chapter in chapters]


def install_command(torch_index: str | None) -> str:
    """pip install of the course with the pinned versions; ``torch_index`` adds a wheel index (CPU builds)."""
    extra = f" --extra-index-url {shlex.quote(torch_index)}" if torch_index else ""
    return f"python -m pip install -c constraints.txt{extra} -e ."


def _q(text: str) -> str:
    return json.dumps(text)


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


def _grading_step(timeout_minutes: int) -> list[str]:
    return [
        "      - name: Grade every chapter",
        f"        id: {GRADE_STEP_ID}",
        f"        timeout-minutes: {timeout_minutes}",
        f"        run: {_q(GRADE_COMMAND)}",
    ]


def reporter_input(runner: Runner) -> str:
    """The expression the reporter's ``<RUNNER>_RESULTS`` holds: the step's output, else the error object."""
    return f"${{{{ steps.{GRADE_STEP_ID}.outputs.{runner.id} || '{runner.fallback}' }}}}"


def _reporter(runners: list[Runner]) -> list[str]:
    env = [f"          {runner.results_env}: {_q(reporter_input(runner))}" for runner in runners]
    return [
        "      - name: Autograding Reporter",
        f"        if: {_q('${{ !cancelled() }}')}",
        f"        uses: {REPORTER}",
        "        env:",
        *env,
        "        with:",
        f"          runners: {_q(','.join(runner.id for runner in runners))}",
    ]


def classroom_workflow(
    runners: list[Runner],
    torch_index: str | None = CPU_TORCH_INDEX,
    hidden_repo: str | None = None,
    timeout_minutes: int = STEP_TIMEOUT_MINUTES,
) -> str:
    """The text of .github/workflows/classroom.yml; ``timeout_minutes`` bounds the grading step."""
    if timeout_minutes < 1:
        raise ValueError(f"a step's timeout is a whole number of minutes of at least 1, got {timeout_minutes}")
    if not runners:
        raise ValueError("a Classroom workflow needs at least one chapter to grade")
    graders = (
        f"the public checks and the hidden graders of {hidden_repo}" if hidden_repo else "the public checks"
    )
    lines = [
        "# GitHub Classroom autograding, written by `torchkata release`.",
        f"# One step grades every chapter with {graders};",
        "# each check earns its points, and the reporter sends their sum to Classroom.",
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
        lines += _hidden_graders_steps(check_repository(hidden_repo), [runner.slug for runner in runners])
    lines += _grading_step(timeout_minutes)
    lines += _reporter(runners)
    return "\n".join(lines) + "\n"
