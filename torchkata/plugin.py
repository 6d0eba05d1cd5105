"""pytest plugin for graders: ``--impl``, the ``impl`` fixture, ``kata``/``points`` markers.

Registered through the ``pytest11`` entry point, so ``pytest graders --impl solutions``
works wherever torchkata is installed. Hooks used:

- ``pytest_addoption``: adds ``--impl DIR`` (``starter`` by default), ``--kata NAME``, and the limits
  of one check, ``--test-timeout SECONDS`` and ``--test-memory MIB`` (also ini options and the
  TORCHKATA_TEST_TIMEOUT / TORCHKATA_TEST_MEMORY variables; 0 turns a limit off).
- ``pytest_configure``: declares the markers and sets up the module cache.
- ``pytest_collection_modifyitems``: checks that every grader names a kata and its points,
  keeps only the ``--kata`` tests when that option is given, gives each grader test
  pytest-timeout's limit (unless ``--timeout`` or its ini says otherwise), limits memory, and
  makes the default traceback short (``--tb=short``) when graders run and no ``--tb`` was chosen.
- ``pytest_runtest_makereport``: attaches chapter, kata, points, visibility and a short
  student-facing message to each report's ``user_properties``; a stub not started or a check
  stopped by the time limit is reported by that message alone.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from torchkata.grading import loader
from torchkata.grading.limits import (
    STUDENT_MEMORY_MIB,
    STUDENT_TEST_SECONDS,
    TEST_MEMORY_ENV,
    TEST_TIMEOUT_ENV,
    env_number,
    limit_memory_softly,
    restore_memory,
)
from torchkata.grading.messages import failure_message

_CACHE = pytest.StashKey[dict[str, Any]]()
_IMPL_DIR = pytest.StashKey[Path]()
_KATAS = pytest.StashKey[dict[str, set[str]]]()  # each chapter's kata names, from its graders' markers
_SHORT = pytest.StashKey[bool]()  # the plugin chose the traceback style: keep reports to the message
_MEMORY = pytest.StashKey[Any]()  # the memory limits to restore at the end


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
    group.addoption(
        "--test-timeout", type=float, default=None, metavar="SECONDS",
        help=f"stop a grader test after this many seconds (default: ${TEST_TIMEOUT_ENV}, the "
        f"torchkata_test_timeout ini option, else {STUDENT_TEST_SECONDS:g}; 0: no limit; --timeout wins)",
    )
    group.addoption(
        "--test-memory", type=float, default=None, metavar="MIB",
        help=f"memory the graded code may allocate, in MiB (default: ${TEST_MEMORY_ENV}, the "
        f"torchkata_test_memory ini option, else {STUDENT_MEMORY_MIB}; 0: no limit)",
    )
    parser.addini("torchkata_test_timeout", "seconds one grader test may run (0: no limit)", default="")
    parser.addini("torchkata_test_memory", "MiB the graded code may allocate (0: no limit)", default="")


def _limit(config: pytest.Config, option: str, ini: str, env: str, default: float) -> float:
    """An option, else its ini value, else its environment variable, else the default."""
    value = config.getoption(option, None)
    if value is None and config.getini(ini):
        try:
            value = float(config.getini(ini))
        except ValueError as error:
            raise pytest.UsageError(f"{ini} must be a number, got {config.getini(ini)!r}") from error
    return max(float(value if value is not None else env_number(env, default)), 0.0)


def per_test_seconds(config: pytest.Config) -> float:
    """The time limit of one grader test, in seconds (0: none)."""
    return _limit(config, "test_timeout", "torchkata_test_timeout", TEST_TIMEOUT_ENV, STUDENT_TEST_SECONDS)


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
    restore_memory(config.stash.get(_MEMORY, None))


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
    katas = config.stash.setdefault(_KATAS, {})
    for item in items:
        if item.get_closest_marker("points") and not item.get_closest_marker("kata"):
            raise pytest.UsageError(f"{item.nodeid} has a points marker but names no kata")
        found = kata_of(item)
        if found is not None:
            katas.setdefault(chapter_of(Path(str(item.path))) or "", set()).add(found[0])
    if katas:
        _limit_graded_tests(config, [item for item in items if kata_of(item) is not None])
    wanted = set(config.getoption("kata", None) or ())
    if wanted:
        kept = [item for item in items if (kata_of(item) or ("",))[0] in wanted]
        dropped = [item for item in items if item not in kept]
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            items[:] = kept


def _limit_graded_tests(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Each grader test under a time limit, the session under a memory limit, tracebacks short by default."""
    seconds = per_test_seconds(config)
    user_timeout = getattr(config, "_env_timeout", None)  # pytest-timeout's --timeout, ini or PYTEST_TIMEOUT
    if seconds > 0 and user_timeout is None and config.pluginmanager.hasplugin("timeout"):
        for item in items:
            if item.get_closest_marker("timeout") is None:
                item.add_marker(pytest.mark.timeout(seconds, method="signal"))
    memory = _limit(config, "test_memory", "torchkata_test_memory", TEST_MEMORY_ENV, STUDENT_MEMORY_MIB)
    if memory > 0 and _MEMORY not in config.stash:
        config.stash[_MEMORY] = limit_memory_softly(int(memory))
    if config.option.tbstyle == "auto":
        config.option.tbstyle = "short"
        config.stash[_SHORT] = True


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

    from torchkata import checks

    checks.CALLED.clear()
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
        from torchkata import checks

        slug = chapter_of(path)
        impl_dir = item.config.stash.get(_IMPL_DIR, None)
        katas = item.config.stash.get(_KATAS, {}).get(slug or "", set())
        message = failure_message(call.excinfo.value, slug, impl_dir, kata, katas, list(checks.CALLED))
        report.user_properties.append(("message", message))
        if item.config.stash.get(_SHORT, False):
            report.longrepr = _short_report(call.excinfo.value, message, slug, impl_dir) or report.longrepr
    return report


def _short_report(error: BaseException, message: str, slug: str | None, impl_dir: Path | None) -> str | None:
    """The report of a failure in the student's code in a few lines: their line, then the message.

    None for a grader's own assertion (pytest's short traceback shows the check that failed).
    """
    if isinstance(error, NotImplementedError) or message.startswith("stopped after "):
        return message
    if slug is None or impl_dir is None:
        return None
    from torchkata.grading.messages import student_line

    path = impl_dir / f"{slug}.py"
    line = student_line(error, path)
    if line is None:
        return None
    try:
        source = path.read_text(encoding="utf-8").splitlines()[line - 1].strip()
    except (OSError, IndexError, UnicodeDecodeError):
        source = ""
    return f"{_relative(path)}:{line}: {source}\n{message}"


def _relative(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
