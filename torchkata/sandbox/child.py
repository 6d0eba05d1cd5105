"""The grading child: what runs after the fork, until its own ``_exit``.

It cuts itself off (own session, stdio to the parent's bounded pipe, no other
inherited descriptors), limits itself (resource limits; its own network namespace;
no capabilities, and uid nobody where the environment allows; Landlock: reads only
of the environment and its run directory, writes only to its scratch directory, no
signals outside its sandbox), then runs pytest on the staged graders with our
plugins only. Once the graders are loaded, a second Landlock ruleset makes them
unreadable. Results leave test by test through the channel descriptor as frames
carrying the run's nonce; the first frame says which layers took effect.
"""

from __future__ import annotations

import ctypes
import faulthandler
import os
import signal
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import pytest

from torchkata.graderkit.differential import preload_casebooks
from torchkata.grading.limits import Limits, apply_rlimits
from torchkata.grading.recorder import Recorder
from torchkata.sandbox import channel, confine
from torchkata.sandbox.integrity import Snapshot, watched_modules
from torchkata.sandbox.staging import RunDir

_PR_SET_PDEATHSIG = 1
# Bound now, before any submission code can replace the module attributes.
_exit = os._exit
_kill = os.kill
_getpid = os.getpid


@dataclass
class ChildSpec:
    """Everything a child needs; built by the parent before the fork."""

    run: RunDir
    nonce: str
    limits: Limits
    channel_fd: int
    output_fd: int
    order: list[str] = field(default_factory=list)
    collect_only: bool = False
    threads: int = 1
    submission: str = ""  # the staged chapter module the audit hook watches
    protected: list[str] = field(default_factory=list)  # folders it may never open: course, submissions, runs


def pytest_args(spec: ChildSpec) -> list[str]:
    """pytest's command line in the child: our ini, our rootdir, our plugins, nothing from elsewhere."""
    args = [str(path) for path in spec.run.grader_files()]
    args += [
        f"--impl={spec.run.impl}",
        f"--rootdir={spec.run.root}",
        "-c",
        str(spec.run.ini),
        "--noconftest",
        "--import-mode=importlib",
        "-p",
        "torchkata.plugin",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:unraisableexception",
        "-p",
        "no:threadexception",
        "-p",
        "no:pastebin",
        # No capture: output goes straight to the parent's bounded pipe, not to files the child fills.
        "--capture=no",
        "-q",
        "--no-header",
        "--tb=no",
        "--test-memory=0",  # the child's own resource limits bound its memory
        "-o",
        "console_output_style=classic",
    ]
    if spec.collect_only:
        return [*args, "--collect-only"]
    return [*args, "-p", "pytest_timeout", f"--timeout={spec.limits.test_seconds:g}", "--timeout-method=signal"]


class ChannelReporter(Recorder):
    """Runs the tests in the parent's order and sends each one's outcome as soon as it is known."""

    def __init__(self, spec: ChildSpec, layers: dict[str, str] | None = None) -> None:
        super().__init__()
        self.spec = spec
        self.layers = dict(layers or {})
        self.snapshot: Snapshot | None = None
        self.changes_reported = False

    def send(self, kind: str, **fields: Any) -> None:
        channel.send(self.spec.channel_fd, {"nonce": self.spec.nonce, "t": kind, **fields})

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        super().pytest_collection_finish(session)
        graders = {id(item.module): item.module for item in session.items if getattr(item, "module", None)}
        self.snapshot = Snapshot(watched_modules(), graders.values())  # before the submission is imported
        preload_casebooks(graders.values())  # read now: the graders folder is sealed next
        run = self.spec.run
        self.layers["graders_after_load"] = confine.seal_graders(run.root, run.graders,
                                                                 [Path(p) for p in self.spec.protected])
        self.send("layers", layers=self.layers)

    def _check_integrity(self) -> None:
        changed = self.snapshot.changed() if self.snapshot is not None and not self.changes_reported else []
        if changed:
            self.changes_reported = True
            self.send("audit", what=f"changed the grader's code: {', '.join(changed[:5])}")

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        by_id = {item.nodeid: item for item in items}
        kept = [by_id[nodeid] for nodeid in self.spec.order if nodeid in by_id]
        wanted = set(self.spec.order)
        dropped = [item for item in items if item.nodeid not in wanted]
        if dropped:
            config.hook.pytest_deselected(items=dropped)
        items[:] = kept

    def pytest_runtest_logstart(self, nodeid: str) -> None:
        self.send("start", id=nodeid)

    def pytest_runtest_logfinish(self, nodeid: str) -> None:
        self._check_integrity()
        if nodeid in self.expected and self.expected[nodeid].not_applicable:
            self.send("result", id=nodeid, na=True)
            return
        passed, message = self.results.get(nodeid, (False, "the test reported no outcome"))
        self.send("result", id=nodeid, passed=passed, message=message)

    def pytest_sessionfinish(self) -> None:
        self.send("end")


class CollectReporter(Recorder):
    """Sends the collected grader tests (kata, points, visibility) and collection errors."""

    def __init__(self, spec: ChildSpec) -> None:
        super().__init__()
        self.spec = spec

    def pytest_sessionfinish(self) -> None:
        expected = [
            {"id": nodeid, "test": e.test, "chapter": e.chapter, "kata": e.kata, "points": e.points,
             "visibility": e.visibility, "not_applicable": e.not_applicable}
            for nodeid, e in self.expected.items()
        ]
        channel.send(
            self.spec.channel_fd,
            {"nonce": self.spec.nonce, "t": "collected", "expected": expected, "errors": self.collect_errors},
        )


def _die_with_parent() -> None:
    """SIGKILL this child if the fork server dies, so no run outlives a crashed grader."""
    try:
        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _own_descriptors(spec: ChildSpec) -> None:
    """stdin from /dev/null, stdout and stderr to the output pipe, every other descriptor closed."""
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(spec.output_fd, 1)
    os.dup2(spec.output_fd, 2)
    keep = spec.channel_fd
    os.closerange(3, keep)
    os.closerange(keep + 1, max(os.sysconf("SC_OPEN_MAX"), 1 << 16))
    os.set_inheritable(keep, False)


# The only variables a grading child keeps: nothing the grader's caller set (tokens, paths) reaches it.
ENVIRONMENT_KEPT = ("PATH", "LANG", "LANGUAGE", "TZ", "TERM", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                    "OPENBLAS_NUM_THREADS", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "CUDA_VISIBLE_DEVICES",
                    "NVIDIA_VISIBLE_DEVICES", "LD_LIBRARY_PATH")
ENVIRONMENT_KEPT_PREFIXES = ("LC_",)


def kept_environment(environ: dict[str, str]) -> dict[str, str]:
    """The allow-listed part of an environment."""
    return {key: value for key, value in environ.items()
            if key in ENVIRONMENT_KEPT or key.startswith(ENVIRONMENT_KEPT_PREFIXES)}


def _own_environment(spec: ChildSpec) -> None:
    kept = kept_environment(dict(os.environ))
    os.environ.clear()
    os.environ.update(kept)
    home = spec.run.scratch
    os.environ.update(
        PYTEST_DISABLE_PLUGIN_AUTOLOAD="1",
        TMPDIR=str(home / "tmp"),
        HOME=str(home),
    )
    tempfile.tempdir = None
    sys.dont_write_bytecode = True
    os.chdir(home)


def _isolate(spec: ChildSpec) -> dict[str, str]:
    """Cut the child off and confine it; returns what each layer achieved (see confine.confine)."""
    os.setsid()
    _die_with_parent()
    signal.set_wakeup_fd(-1)
    for number in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGALRM):
        signal.signal(number, signal.SIG_DFL)
    _own_descriptors(spec)
    sys.stdout = os.fdopen(1, "w", buffering=1, closefd=False)
    sys.stderr = os.fdopen(2, "w", buffering=1, closefd=False)
    faulthandler.enable(sys.stderr)
    _own_environment(spec)
    apply_rlimits(spec.limits, os.cpu_count() or 1)
    writable = [spec.run.scratch, Path(os.devnull), Path("/dev/shm")]
    layers = confine.confine(spec.run.root, [path for path in writable if path.exists()],
                             [Path(p) for p in spec.protected])
    import torch

    torch.set_num_threads(max(spec.threads, 1))
    return layers


def _watch(spec: ChildSpec) -> None:
    """The audit hook, before the submission is imported: what it refuses reaches the server at once."""
    import torchkata
    from torchkata.sandbox import audit

    send, fd, nonce = channel.send, spec.channel_fd, spec.nonce  # bound now, out of the submission's reach
    allowed = [Path(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)]
    allowed += [Path(p) for p in sys.path if "site-packages" in p or "dist-packages" in p]
    allowed.append(Path(torchkata.__file__).resolve().parent)
    watch = audit.Watch(Path(spec.submission).resolve(), spec.run.root.resolve(),
                        lambda what: send(fd, {"nonce": nonce, "t": "audit", "what": what}), allowed,
                        [Path(p) for p in spec.protected])
    audit.install(watch)


def run_child(spec: ChildSpec) -> NoReturn:
    """The whole life of a forked child; never returns to the caller's code."""
    code = 70
    try:
        layers = _isolate(spec)
        if spec.submission and not spec.collect_only:
            _watch(spec)
        reporter = CollectReporter(spec) if spec.collect_only else ChannelReporter(spec, layers)
        pytest.main(pytest_args(spec), plugins=[reporter])
        code = 0
    except BaseException:  # noqa: BLE001 - the parent learns from the channel, not from here
        code = 70
    finally:
        _exit(code)
        _kill(_getpid(), signal.SIGKILL)  # only reached if _exit was somehow neutralised
    raise AssertionError("unreachable")
