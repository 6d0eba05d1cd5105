"""The engine's layout: packages by job, small modules, the layers kept (docs/architecture.md)."""

from __future__ import annotations

import importlib
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT, engine_env

ENGINE = ROOT / "torchkata"
MAX_LINES = 300
# Modules allowed over MAX_LINES, each with its reason. None today: split a module that grows past it.
OVER_THE_LIMIT: dict[str, str] = {}
PACKAGES = {"commands", "course", "exports", "graderkit", "grading", "sandbox", "student", "templates"}
# The only modules beside the packages: the command line, and names that code outside the engine imports.
TOP_LEVEL = {
    "__init__.py": "the package: its version",
    "__main__.py": "python -m torchkata",
    "cli.py": "the torchkata command (the console script)",
    "optional.py": "which extra brings an optional dependency, for the command line",
    "plugin.py": "the pytest11 entry point `torchkata = torchkata.plugin`, registered by every install",
    "checks.py": "what graders import (`from torchkata import checks`): course content instructors copy",
    "mutants.py": "what tests/mutants/<slug>.py import (`from torchkata.mutants import mutant`)",
    "nbgrade.py": "what the cells of nbgrader notebooks already handed out import",
}


def _modules() -> list[Path]:
    return sorted(path for path in ENGINE.rglob("*.py") if "__pycache__" not in path.parts)


def test_no_engine_module_is_over_300_lines() -> None:
    too_long = {}
    for path in _modules():
        name = path.relative_to(ROOT).as_posix()
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MAX_LINES and name not in OVER_THE_LIMIT:
            too_long[name] = lines
    assert not too_long, f"modules over {MAX_LINES} lines (split them by job): {too_long}"
    assert all((ROOT / name).is_file() for name in OVER_THE_LIMIT), "an exception names a module that is gone"


def test_the_engine_is_packages_by_job_and_a_few_named_modules() -> None:
    folders = {path.name for path in ENGINE.iterdir() if path.is_dir() and path.name != "__pycache__"}
    assert folders == PACKAGES
    modules = {path.name for path in ENGINE.glob("*.py")}
    assert modules == set(TOP_LEVEL), "a new module belongs in the package of its job (docs/architecture.md)"
    for package in PACKAGES - {"templates"}:
        for folder in [ENGINE / package, *(p for p in (ENGINE / package).rglob("*") if p.is_dir())]:
            if folder.name != "__pycache__" and any(folder.glob("*.py")):
                assert (folder / "__init__.py").is_file(), f"{folder} is not a package"


@pytest.mark.parametrize("name", [
    "torchkata.plugin", "torchkata.checks", "torchkata.mutants", "torchkata.nbgrade",
    "torchkata.graderkit.differential", "torchkata.graderkit.counting", "torchkata.graderkit.errors",
    "torchkata.graderkit.forbid", "torchkata.graderkit.hooks", "torchkata.graderkit.loading",
    "torchkata.graderkit.offlimits", "torchkata.graderkit.ranks",
])
def test_the_names_outside_code_imports_still_import(name: str) -> None:
    importlib.import_module(name)


def test_the_graders_api_keeps_its_names() -> None:
    from torchkata import checks
    from torchkata.graderkit import differential

    assert checks.GradingError.__module__ == "torchkata.checks"
    for name in ("call", "close", "keys", "parameter_count", "parameter_of_shape", "same_objects", "submodules",
                 "unique_parameters", "describe", "GradingError"):
        assert callable(getattr(checks, name)), name
    for name in ("scenario", "tensors", "attempt", "RAISED", "is_raised", "raised", "fill_by_shape_",
                 "parameter_shapes", "modes", "compare", "load_casebook", "preload_casebooks"):
        assert hasattr(differential, name), name


def test_the_layers_hold() -> None:
    """The contracts in pyproject.toml ([tool.importlinter]); tox runs `lint-imports` too."""
    pytest.importorskip("importlinter", reason="import-linter is in the dev extra (pip install -e .[dev])")
    command = shutil.which("lint-imports")
    if command is None:
        pytest.skip("lint-imports is not on PATH")
    done = subprocess.run([command], cwd=ROOT, env=engine_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
