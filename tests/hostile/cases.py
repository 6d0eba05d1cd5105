"""The hostile submissions: each is a chapter module (solution, starter or a wrong one) with an attack added.

``build_submission`` writes one case as a submission folder: ``modules.py`` with the
attack, the correct ``toy.py``, and any extra files the case brings along
(conftest.py, pytest.ini, a forged results.json, ...).
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from pathlib import Path

from torchkata.course.project import Project
from torchkata.mutants import load_mutants, overlay

LEFTOVER_MARKER = "torchkata-hostile-leftover"
ATTACKED_KATA = "make_stack"


@dataclass(frozen=True)
class Case:
    """One attack. ``where``: "import" (module level) or "kata" (inside make_stack).

    ``base``: "solutions", "starter" or "wrong" (the solution with a real mistake in MLP).
    ``expect``: "zero" (the chapter scores 0), "kata" (make_stack scores 0, every other
    kata full marks) or "full" (the attack achieved nothing, the solution keeps its points).
    """

    attack: str
    where: str
    base: str
    expect: str
    flags: frozenset[str] = frozenset()
    extra_files: dict[str, str] = field(default_factory=dict)


FORGE_FILES = """
import json, os, pathlib
forged = {"points": 43, "max_points": 43, "score": 43, "chapters": {}, "tests": []}
for target in ("results.json", "grade.json", "/autograder/results/results.json", os.path.expanduser("~/results.json"),
               os.path.join(os.path.dirname(__file__), "results.json")):
    try:
        pathlib.Path(target).parent.mkdir(parents=True, exist_ok=True)
        pathlib.Path(target).write_text(json.dumps(forged))
    except OSError:
        pass
"""

CONFTEST = """
import pytest


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    report.outcome = "passed"
    report.longrepr = None
    return report
"""

PATCH_PYTEST = """
import _pytest.reports

_original = _pytest.reports.TestReport.from_item_and_call.__func__


def _forged(cls, item, call):
    report = _original(cls, item, call)
    report.outcome = "passed"
    report.longrepr = None
    return report


_pytest.reports.TestReport.from_item_and_call = classmethod(_forged)
"""

PATCH_TORCHKATA = """
import torchkata.checks
import torchkata.grading.messages
import torchkata.grading.recorder

for _name in ("close", "shape", "check", "equal", "parameter_count", "keys", "dtype", "device",
              "same_objects", "gradcheck", "raises"):
    setattr(torchkata.checks, _name, lambda *args, **kwargs: None)
torchkata.grading.recorder.Recorder.outcomes = lambda self, *a, **k: []
torchkata.grading.messages.failure_message = lambda *args, **kwargs: "passed"
"""

PATCH_TORCH = """
import numpy
import torch

torch.allclose = lambda *args, **kwargs: True
torch.equal = lambda *args, **kwargs: True
torch.testing.assert_close = lambda *args, **kwargs: None
numpy.allclose = lambda *args, **kwargs: True
"""

REMOVE_ASSERTS = """
import ast
import sys
import types


class _NoAsserts(ast.NodeTransformer):
    def visit_Assert(self, node):
        return ast.Pass()


def _codes(code):
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield const
            yield from _codes(const)


for _module in list(sys.modules.values()):
    _file = getattr(_module, "__file__", None) or ""
    if "graders" not in _file and "checks" not in _file:
        continue
    try:
        _tree = ast.fix_missing_locations(_NoAsserts().visit(ast.parse(open(_file).read())))
        _new = {c.co_name: c for c in _codes(compile(_tree, _file, "exec"))}
    except (OSError, SyntaxError, ValueError):
        continue
    for _value in list(vars(_module).values()):
        if isinstance(_value, types.FunctionType) and _value.__code__.co_name in _new:
            try:
                _value.__code__ = _new[_value.__code__.co_name]
            except ValueError:
                pass
"""

WRITE_MARKER = "# written by a hostile submission"
WRITE_FILES = f"""
import os
import sys

targets = {{targets!r}}
for _module in list(sys.modules.values()):
    _file = getattr(_module, "__file__", None) or ""
    if "graders" in _file or _file.endswith(("checks.py", "plugin.py", "recorder.py")):
        targets.append(_file)
for target in targets:
    try:
        with open(target, "a") as handle:
            handle.write("\\n{WRITE_MARKER}\\nraise SystemExit(0)\\n")
    except OSError:
        pass
"""

LEAVE_PROCESSES = f"""
import os
import subprocess
import sys

SLEEPER = [sys.executable, "-c", "import time; time.sleep(300)", {LEFTOVER_MARKER!r}]
subprocess.Popen(SLEEPER, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
if os.fork() == 0:
    try:
        os.setsid()
        if os.fork() == 0:
            os.execv(sys.executable, SLEEPER)
    finally:
        os._exit(0)
"""

INFINITE_LOOP = """
import signal

for _number in (signal.SIGALRM, signal.SIGTERM, signal.SIGINT, signal.SIGXCPU, signal.SIGVTALRM, signal.SIGPROF):
    signal.signal(_number, signal.SIG_IGN)
signal.setitimer(signal.ITIMER_REAL, 0)
while True:
    pass
"""

MEMORY_BOMB = """
blocks = []
while True:
    blocks.append(bytearray(64 << 20))
"""

OUTPUT_FLOOD = """
import os
import sys

line = "flood " * 2000 + "\\n"
while True:
    sys.stdout.write(line)
    os.write(2, line.encode())
"""

SEGFAULT = """
import faulthandler

faulthandler._sigsegv()
"""

READ_MEMORY = """
import ctypes

ctypes.string_at(0)
"""

READ_OWN_MEMORY = """
with open("/proc/self/mem", "rb") as _memory:
    _memory.seek(4096)
    _memory.read(16)
"""

# Reaching for the grader from inside the process: each is refused by the audit hook or seen by the
# integrity check, and marks the chapter tampered.
FIND_REPORTER_WITH_GC = """
import gc

for _object in gc.get_objects():
    if type(_object).__name__ == "ChannelReporter":
        _object.results = {}
"""

WALK_THE_STACK = """
import sys

_frame = sys._getframe(1)
while _frame is not None:
    _found = _frame.f_locals.get("nonce")
    _frame = _frame.f_back
"""

STACK_THROUGH_INSPECT = """
import inspect

for _info in inspect.stack():
    _config = _info.frame.f_locals.get("config")
"""

SWAP_TEST_CODE = """
import sys


def _passes(*args, **kwargs):
    return None


for _name, _module in list(sys.modules.items()):
    if "test_modules" in _name:
        for _value in list(vars(_module).values()):
            if callable(_value) and getattr(_value, "__name__", "").startswith("test_"):
                _value.__code__ = _passes.__code__
"""

PATCH_REPORTS_BY_NAME = """
import sys

_reports = sys.modules["_pytest.reports"]
_original = _reports.TestReport.from_item_and_call.__func__


def _forged(cls, item, call):
    report = _original(cls, item, call)
    report.outcome = "passed"
    report.longrepr = None
    return report


_reports.TestReport.from_item_and_call = classmethod(_forged)
"""

READ_THE_REFERENCE = """
import sys

for _folder in sys.path:
    try:
        exec(open(_folder + "/solutions/modules.py").read())
    except OSError:
        pass
"""

READ_STAGED_GRADERS = """
from pathlib import Path

_hidden = (Path(__file__).resolve().parent.parent / "graders" / "hidden" / "test_modules.py").read_text()
"""

READ_PARENT_ENVIRONMENT = """
import os

_secrets = open(f"/proc/{os.getppid()}/environ", "rb").read()
"""

CONNECT_OUT = """
import socket

socket.create_connection(("127.0.0.1", 9), timeout=1)
"""

# Reads below Python raise no audit event (torch opens the file in C++): only Landlock's read rules stop them.
# The kata returns the right answer only if the read succeeded, as a kata copied from the file would.
READ_THE_REFERENCE_BELOW_PYTHON = """
import os
import torch

_reference = next(path for path in {targets!r} if path.endswith("solutions/modules.py"))
torch.from_file(_reference, False, os.stat(_reference).st_size, dtype=torch.uint8)
"""

READ_STAGED_GRADERS_BELOW_PYTHON = """
import os
from pathlib import Path

import torch

_hidden = str(Path(__file__).resolve().parent.parent / "graders" / "hidden" / "test_modules.py")
torch.from_file(_hidden, False, os.stat(_hidden).st_size, dtype=torch.uint8)
"""

LEAVE_SHARED_MEMORY = """
open("/dev/shm/torchkata-hostile-note", "w").write("left behind")
"""

KILL_GRADER = """
import os
import signal

_parent = os.getppid()
for _kill in (lambda: os.kill(_parent, signal.SIGKILL), lambda: os.killpg(os.getpgid(_parent), signal.SIGKILL)):
    try:
        _kill()
    except OSError:
        pass
"""

FORGE_CHANNEL = """
import json
import os
import struct


def _frame(message):
    body = json.dumps(message).encode()
    return struct.pack(">I", len(body)) + body


for _fd in range(3, 256):
    for _kind in ("start", "result"):
        try:
            os.write(_fd, _frame({"nonce": "0" * 32, "t": _kind, "id": "forged", "passed": True}))
        except OSError:
            pass
"""

CASES: dict[str, Case] = {
    "exit_at_import": Case("import os\nos._exit(0)", "import", "solutions", "zero", frozenset({"crashed"})),
    "exit_in_kata": Case("import os\nos._exit(0)", "kata", "solutions", "kata", frozenset({"crashed"})),
    "sys_exit_at_import": Case("import sys\nsys.exit(0)", "import", "solutions", "zero"),
    "sys_exit_in_kata": Case("import sys\nsys.exit(0)", "kata", "solutions", "kata"),
    "forged_results_file": Case(FORGE_FILES, "import", "starter", "zero",
                                extra_files={"results.json": '{"score": 43, "points": 43}'}),
    "conftest_and_friends": Case("", "import", "starter", "zero", extra_files={
        "conftest.py": CONFTEST,
        "pytest.ini": "[pytest]\naddopts = -p conftest\n",
        "sitecustomize.py": "import os\nos.environ['FORGED'] = '1'\n",
        "forged.pth": "import sitecustomize\n",
        "__init__.py": "",
    }),
    "patch_pytest": Case(PATCH_PYTEST, "import", "starter", "zero", frozenset({"tampered"})),
    "patch_torchkata": Case(PATCH_TORCHKATA, "import", "wrong", "zero", frozenset({"tampered"})),
    "patch_torch_numpy": Case(PATCH_TORCH, "import", "wrong", "zero", frozenset({"tampered"})),
    "remove_asserts": Case(REMOVE_ASSERTS, "import", "wrong", "zero", frozenset({"tampered"})),
    "forge_channel": Case(FORGE_CHANNEL, "import", "starter", "zero", frozenset({"tampered"})),
    "write_files": Case(WRITE_FILES, "import", "solutions", "zero", frozenset({"tampered"})),
    "leave_processes": Case(LEAVE_PROCESSES, "import", "solutions", "zero", frozenset({"tampered"})),
    "kill_grader": Case(KILL_GRADER, "import", "solutions", "zero", frozenset({"tampered"})),
    "infinite_loop_ignoring_signals": Case(INFINITE_LOOP, "kata", "solutions", "kata", frozenset({"timed_out"})),
    "memory_bomb": Case(MEMORY_BOMB, "kata", "solutions", "kata"),
    "output_flood": Case(OUTPUT_FLOOD, "kata", "solutions", "kata", frozenset({"crashed"})),
    "segfault": Case(SEGFAULT, "kata", "solutions", "kata", frozenset({"crashed"})),
    "read_memory": Case(READ_MEMORY, "kata", "solutions", "zero", frozenset({"tampered"})),
    "read_own_memory": Case(READ_OWN_MEMORY, "kata", "solutions", "zero", frozenset({"tampered"})),
    "find_reporter_with_gc": Case(FIND_REPORTER_WITH_GC, "kata", "starter", "zero", frozenset({"tampered"})),
    "walk_the_stack": Case(WALK_THE_STACK, "kata", "starter", "zero", frozenset({"tampered"})),
    "stack_through_inspect": Case(STACK_THROUGH_INSPECT, "kata", "starter", "zero", frozenset({"tampered"})),
    "swap_test_code": Case(SWAP_TEST_CODE, "import", "starter", "zero", frozenset({"tampered"})),
    "patch_reports_by_name": Case(PATCH_REPORTS_BY_NAME, "import", "starter", "zero", frozenset({"tampered"})),
    "read_the_reference": Case(READ_THE_REFERENCE, "import", "starter", "zero", frozenset({"tampered"})),
    "read_staged_graders": Case(READ_STAGED_GRADERS, "kata", "solutions", "zero", frozenset({"tampered"})),
    "read_parent_environment": Case(READ_PARENT_ENVIRONMENT, "kata", "solutions", "zero",
                                    frozenset({"tampered"})),
    "connect_out": Case(CONNECT_OUT, "kata", "solutions", "zero", frozenset({"tampered"})),
    "read_the_reference_below_python": Case(READ_THE_REFERENCE_BELOW_PYTHON, "kata", "solutions", "kata"),
    "read_staged_graders_below_python": Case(READ_STAGED_GRADERS_BELOW_PYTHON, "kata", "solutions", "kata"),
    "leave_shared_memory": Case(LEAVE_SHARED_MEMORY, "kata", "solutions", "zero", frozenset({"tampered"})),
}


def base_source(project: Project, base: str) -> str:
    if base == "wrong":
        mutant = next(m for m in load_mutants(project.root / "tests" / "mutants" / "modules.py") if m.kata == "MLP")
        return overlay((project.solutions / "modules.py").read_text(), mutant)
    return (getattr(project, base) / "modules.py").read_text()


def with_attack(source: str, case: Case, targets: list[str]) -> str:
    attack = case.attack.replace("{targets!r}", repr(targets))
    if case.where == "import":
        return f"{source.rstrip()}\n\n\n# attack\n{attack}\n"
    body = textwrap.indent(attack.strip(), "    ")
    return (
        f"{source.rstrip()}\n\n\n_honest_{ATTACKED_KATA} = {ATTACKED_KATA}\n\n\n"
        f"def {ATTACKED_KATA}(*args, **kwargs):\n{body}\n    return _honest_{ATTACKED_KATA}(*args, **kwargs)\n"
    )


def build_submission(
    name: str, case: Case, repository: Project, course: Project, folder: Path, targets: list[str]
) -> Path:
    """Write the case as ``folder/<name>/``: the attacked modules.py, a correct toy.py, its extra files."""
    directory = folder / name
    directory.mkdir(parents=True)
    (directory / "modules.py").write_text(with_attack(base_source(repository, case.base), case, targets))
    (directory / "toy.py").write_text((course.solutions / "toy.py").read_text())
    for file_name, text in case.extra_files.items():
        (directory / file_name).write_text(text)
    return directory
