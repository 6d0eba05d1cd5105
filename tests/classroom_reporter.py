"""How GitHub Classroom's grading reporter reads and scores results, restated in Python for the tests.

The source restated is ``classroom-resources/autograding-grading-reporter`` at tag ``v1`` (the code a
workflow's ``uses: classroom-resources/autograding-grading-reporter@v1`` runs; ``dist/main.js`` bundles
these files):

- ``src/main.js``: ``core.getInput("runners").split(",")``; for each runner the variable
  ``process.env[`${runner.trim().toUpperCase()}_RESULTS`]`` is decoded with ``Buffer.from(v, "base64")``
  and ``JSON.parse``d. Any error fails the step, with "The runners input must be a comma-separated list of
  strings." when the input does not match ``^([a-zA-Z0-9]+,)*[a-zA-Z0-9]+$``. After reporting, the step
  fails when a runner's ``status`` is ``fail`` ("Some tests failed."), else when one is ``error``.
- ``src/console-results.js``: walks ``results.tests`` of every runner (so an object without ``tests``
  throws), compares each test's ``status`` with ``pass`` and ``error`` and prints `` - line N`` unless
  ``line_no`` is 0; ``src/helpers/test-helpers.js`` gives the log's per-runner score as
  ``passed tests / all tests * max_score``.
- ``src/notify-classroom.js``: skips a runner whose ``max_score`` is falsy; otherwise adds its
  ``max_score`` to ``maxPoints`` and each test's ``score`` to ``totalPoints``, in order. Nothing is
  reported when ``maxPoints`` is 0; else the notice ``Points {totalPoints}/{maxPoints}`` titled
  "Autograding complete", which Classroom records.

Also here: GitHub's ``$GITHUB_OUTPUT`` file (``name=value`` lines) and the one expression form the
release's workflow gives the reporter's variables, ``${{ steps.ID.outputs.NAME || 'fallback' }}``.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

RUNNERS = re.compile(r"^([a-zA-Z0-9]+,)*[a-zA-Z0-9]+$")
STATUSES = ("pass", "fail", "error")
_EXPRESSION = re.compile(r"^\$\{\{ steps\.([\w-]+)\.outputs\.([\w-]+) \|\| '([^']*)' \}\}$")


class ReporterError(Exception):
    """The reporter step would fail before reporting any points."""


@dataclass(frozen=True)
class Report:
    """What the reporter does with the runners' results."""

    notice: str | None  # "Points X/Y", the text Classroom records; None when nothing is reported
    total: float
    maximum: float
    failed: str | None  # the step's failure message, if it fails
    log_scores: dict[str, float]  # the log's per-runner scores (by passed tests, not points)


def js_number(value: float) -> str:
    """A number as JavaScript's template strings print it (``698``, ``2.5``)."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def decode(runners: str, env: Mapping[str, str]) -> list[tuple[str, dict[str, Any]]]:
    """main.js: each runner's results object, or ReporterError as the step would fail."""
    try:
        found = []
        for runner in runners.split(","):
            encoded = env[f"{runner.strip().upper()}_RESULTS"]
            found.append((runner, json.loads(base64.b64decode(encoded, validate=True).decode("utf-8"))))
        for _, results in found:
            check_results(results)
        return found
    except (KeyError, ValueError, TypeError) as error:
        if not RUNNERS.match(runners):
            raise ReporterError("The runners input must be a comma-separated list of strings.") from error
        raise ReporterError(str(error)) from error


def check_results(results: dict[str, Any]) -> None:
    """What console-results.js and notify-classroom.js need of one results object, else ValueError."""
    tests = results.get("tests")
    if not isinstance(tests, list) or not tests:
        raise ValueError("a results object needs a non-empty list of tests (the log divides by their number)")
    if results.get("status") not in STATUSES or not isinstance(results.get("max_score"), int | float):
        raise ValueError(f"bad status or max_score: {results.get('status')!r}, {results.get('max_score')!r}")
    for test in tests:
        if test.get("status") not in STATUSES or not isinstance(test.get("score"), int | float):
            raise ValueError(f"bad test {test.get('name')!r}: status {test.get('status')!r}")
        if not isinstance(test.get("line_no"), int) or not isinstance(test.get("name"), str):
            raise ValueError(f"bad test {test.get('name')!r}: line_no {test.get('line_no')!r}")


def report(runner_results: list[tuple[str, dict[str, Any]]]) -> Report:
    """notify-classroom.js's notice, main.js's verdict and test-helpers.js's log scores."""
    total = maximum = 0.0
    for _, results in runner_results:
        if not results["max_score"]:
            continue
        maximum += results["max_score"]
        for test in results["tests"]:
            total += test["score"]
    notice = f"Points {js_number(total)}/{js_number(maximum)}" if maximum else None
    statuses = [results["status"] for _, results in runner_results]
    failed = "Some tests failed." if "fail" in statuses else "Some tests errored." if "error" in statuses else None
    log_scores = {
        runner: sum(t["status"] == "pass" for t in results["tests"]) / len(results["tests"]) * results["max_score"]
        for runner, results in runner_results
    }
    return Report(notice, total, maximum, failed, log_scores)


def github_outputs(text: str) -> dict[str, str]:
    """A step's outputs from what it wrote to ``$GITHUB_OUTPUT`` (``name=value`` lines; the last one wins)."""
    outputs: dict[str, str] = {}
    for line in text.splitlines():
        if line.strip():
            name, equals, value = line.partition("=")
            if not equals or "<<" in name:
                raise ValueError(f"not a name=value line: {line[:80]!r}")
            outputs[name] = value
    return outputs


def evaluate(expression: str, steps: Mapping[str, Mapping[str, str]]) -> str:
    """``${{ steps.ID.outputs.NAME || 'fallback' }}`` with the steps' outputs (a missing output is empty)."""
    match = _EXPRESSION.match(expression)
    if not match:
        raise ValueError(f"an expression the model does not evaluate: {expression[:80]!r}")
    step, name, fallback = match.groups()
    return steps.get(step, {}).get(name) or fallback


def reporter_env(reporter_step: dict[str, Any], steps: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    """The variables the workflow gives the reporter step, with the given steps' outputs."""
    return {name: evaluate(value, steps) for name, value in reporter_step["env"].items()}


def reporter_report(reporter_step: dict[str, Any], steps: Mapping[str, Mapping[str, str]]) -> Report:
    """The reporter step of a workflow, run on the given steps' outputs."""
    return report(decode(reporter_step["with"]["runners"], reporter_env(reporter_step, steps)))
