"""Recording the reference's outcomes on generated cases, for the differential checks of the hidden graders.

Runs in the build (``torchkata build``), never in a process that grades student code: the hidden grader
module is imported for its scenarios, the cases are generated with hypothesis (derandomized, so a build
gives the same cases every time), the reference solution is loaded and run on each, and
``graders/hidden/cases_<slug>.pt`` keeps the cases, sorted smallest first, with each outcome serialized.
A digest of what the file was made from tells ``torchkata build --check`` when it is stale.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import torch

from torchkata.course.project import Project
from torchkata.graderkit.differential import (
    CASEBOOK_FORMAT,
    Scenario,
    casebook_path,
    encode,
    read_casebook,
    scenarios_in,
)
from torchkata.grading import loader


def hidden_grader(project: Project, slug: str) -> Path:
    return project.graders / "hidden" / f"test_{slug}.py"


def digest(project: Project, slug: str) -> str:
    """What the recorded outcomes depend on: the reference, the hidden grader, torch and hypothesis."""
    import hypothesis

    parts = [
        (project.solutions / f"{slug}.py").read_bytes(),
        hidden_grader(project, slug).read_bytes(),
        torch.__version__.encode(),
        hypothesis.__version__.encode(),
    ]
    return hashlib.sha256(b"\0".join(parts)).hexdigest()


def import_grader(path: Path) -> ModuleType:
    """The grader file as a module of its own name (pytest is not running: nothing is collected)."""
    name = f"torchkata_casebook_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop(name, None)
    return module


def _key(case: dict[str, Any]) -> str:
    """Identifies a case, to drop duplicates."""
    return hashlib.sha256(encode(case)).hexdigest()


def size(value: Any) -> int:
    """How big a case is, to try the smallest first: tensor entries, sequence lengths, int magnitudes."""
    if isinstance(value, torch.Tensor):
        return value.numel() + value.dim()
    if isinstance(value, dict):
        return sum(size(item) for item in value.values())
    if isinstance(value, list | tuple):
        return len(value) + sum(size(item) for item in value)
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return min(abs(value), 1000)
    return 1


def generate(scenario: Scenario) -> list[dict[str, Any]]:
    """The edge cases and ``count`` generated ones, without duplicates, smallest first."""
    found: list[dict[str, Any]] = list(scenario.edge() if scenario.edge else [])
    if scenario.cases is not None:
        from hypothesis import HealthCheck, Phase, given, settings
        from hypothesis import strategies as st

        @settings(derandomize=True, database=None, max_examples=scenario.count, deadline=None,
                  phases=[Phase.generate], suppress_health_check=list(HealthCheck))
        @given(scenario.cases(st))
        def collect(case: dict[str, Any]) -> None:
            found.append(case)

        collect()
    unique: dict[str, dict[str, Any]] = {}
    for case in found:
        unique.setdefault(_key(case), case)
    return sorted(unique.values(), key=size)


def record(scenario: Scenario, reference: ModuleType) -> dict[str, Any]:
    """The scenario's cases and the reference's serialized outcome on each."""
    cases = generate(scenario)
    outcomes = []
    for index, case in enumerate(cases):
        outcome = scenario.outcome(reference, case, index)
        outcomes.append(encode(outcome))
    return {"kata": scenario.kata, "cases": cases, "outcomes": outcomes}


def build_casebook(project: Project, slug: str) -> Path | None:
    """Write the chapter's casebook; None when its hidden grader declares no scenario."""
    grader = hidden_grader(project, slug)
    if not grader.is_file():
        return None
    scenarios = scenarios_in(import_grader(grader))
    path = casebook_path(grader.parent, slug)
    if not scenarios:
        path.unlink(missing_ok=True)
        return None
    reference = loader.load_module(project.solutions, slug)
    try:
        book = {s.name: record(s, reference) for s in scenarios}
    finally:
        loader.unload(slug)
    torch.save({"format": CASEBOOK_FORMAT, "digest": digest(project, slug), "scenarios": book}, path,
               _use_new_zipfile_serialization=False)
    return path


def is_stale(project: Project, slug: str) -> bool:
    """True when the casebook is missing or was made from another reference, grader, torch or hypothesis.

    A grader that declares no scenario needs no casebook: reading its text is enough to tell.
    """
    grader = hidden_grader(project, slug)
    if not grader.is_file():
        return False
    path = casebook_path(grader.parent, slug)
    declares = "differential.scenario(" in grader.read_text(encoding="utf-8")
    if not path.is_file():
        return declares
    try:
        stored = read_casebook(path).get("digest")
    except Exception:  # noqa: BLE001 - an unreadable casebook is a stale one
        return True
    return stored != digest(project, slug)
