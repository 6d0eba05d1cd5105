"""pytest plugin for graders: ``--impl``, the ``impl`` fixture, ``kata``/``points`` markers.

Registered through the ``pytest11`` entry point, so ``pytest graders --impl solutions``
works wherever torchkata is installed. Hooks used:

- ``pytest_addoption``: adds ``--impl DIR`` (``starter`` by default) and ``--kata NAME``.
- ``pytest_configure``: declares the markers and sets up the module cache.
- ``pytest_collection_modifyitems``: checks that every grader names a kata and its points,
  and keeps only the ``--kata`` tests when that option is given.
- ``pytest_runtest_makereport``: attaches chapter, kata, points, visibility and a short
  student-facing message to each report's ``user_properties``.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from torchkata import loader
from torchkata.messages import failure_message

_CACHE = pytest.StashKey[dict[str, Any]]()
_IMPL_DIR = pytest.StashKey[Path]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("torchkata", "torchkata graders")
    group.addoption(
        "--impl",
        default="starter",
        help="directory holding the chapter modules under test (<slug>.py): "
        "'starter' (default), 'solutions', or any path such as a submission",
    )
    group.addoption(
        "--kata",
        action="append",
        default=[],
        metavar="NAME",
        help="run only the grader tests of this kata (repeatable)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "kata(name): the kata a grader test checks")
    config.addinivalue_line("markers", "points(n): what passing this grader test is worth")
    config.stash[_CACHE] = {}
    value = config.getoption("impl", "starter")
    path = Path(value)
    if not path.is_dir() and not path.is_absolute():
        candidate = config.rootpath / path
        path = candidate if candidate.is_dir() else path
    config.stash[_IMPL_DIR] = path.resolve()


def pytest_unconfigure(config: pytest.Config) -> None:
    for slug in config.stash.get(_CACHE, {}):
        loader.unload(slug)


def chapter_of(path: Path) -> str | None:
    """The chapter slug of a grader file (test_<slug>.py), None for other files."""
    name = path.stem
    return name[len("test_") :] if name.startswith("test_") else None


def visibility_of(path: Path) -> str:
    return "hidden" if "hidden" in path.parts else "public"


def kata_of(item: pytest.Item) -> tuple[str, float] | None:
    kata = item.get_closest_marker("kata")
    if kata is None:
        return None
    points = item.get_closest_marker("points")
    return kata.args[0], float(points.args[0]) if points else 1.0


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("points") and not item.get_closest_marker("kata"):
            raise pytest.UsageError(f"{item.nodeid} has a points marker but names no kata")
    wanted = set(config.getoption("kata", None) or ())
    if wanted:
        kept = [item for item in items if (kata_of(item) or ("",))[0] in wanted]
        dropped = [item for item in items if item not in kept]
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            items[:] = kept


@pytest.fixture
def impl(request: pytest.FixtureRequest) -> ModuleType:
    """The chapter module under test, loaded once per session from ``--impl``."""
    slug = chapter_of(Path(str(request.node.path)))
    if slug is None:
        raise pytest.UsageError("the impl fixture is only for grader files named test_<slug>.py")
    cache = request.config.stash[_CACHE]
    if slug not in cache:
        try:
            cache[slug] = loader.load_module(request.config.stash[_IMPL_DIR], slug)
        except loader.ImplLoadError as error:
            cache[slug] = error
    found = cache[slug]
    if isinstance(found, loader.ImplLoadError):
        pytest.fail(str(found), pytrace=False)
    return found


@pytest.fixture(autouse=True)
def _graded_test_state(request: pytest.FixtureRequest) -> Iterator[None]:
    """Seed every RNG and use one thread for a grader test; undo global torch settings a kata may change."""
    if request.node.get_closest_marker("kata") is None:
        yield
        return
    import numpy as np
    import torch

    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    grad_enabled = torch.is_grad_enabled()
    default_dtype = torch.get_default_dtype()
    threads = torch.get_num_threads()
    # Tiny models run many times slower on several threads of a busy machine; one is steady.
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_grad_enabled(grad_enabled)
        torch.set_default_dtype(default_dtype)
        torch.set_num_threads(threads)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    found = kata_of(item)
    if found is None:
        return report
    kata, points = found
    path = Path(str(item.path))
    if call.when == "call" or report.failed or report.skipped:
        props = dict(report.user_properties)
        if "kata" not in props:
            report.user_properties.extend(
                [
                    ("chapter", chapter_of(path)),
                    ("kata", kata),
                    ("points", points),
                    ("visibility", visibility_of(path)),
                ]
            )
    if report.failed and call.excinfo is not None:
        impl_dir = item.config.stash.get(_IMPL_DIR, None)
        report.user_properties.append(
            ("message", failure_message(call.excinfo.value, chapter_of(path), impl_dir))
        )
    return report
