"""The grader watched: a PEP 578 audit hook that denies and reports what a submission's own code reaches for.

Installed in each grading child before the submission is imported. An audited event (CPython raises them
for frame and object introspection, tracing, code built at run time, imports, files, sockets, processes and
ctypes) whose origin is the submission is refused with PermissionError and reported to the grading server
through the child's result channel, which marks the chapter ``tampered`` with the event and file:line.

The origin of an event is the innermost frame that is neither an interpreter pseudo-file (``<frozen ...>``)
nor one of the standard library modules a submission could call to do the same thing for it (``inspect``,
``traceback``, ``pathlib``, ``subprocess``...): library code such as torch acting on its own is not the
submission. A file opened outside the allowed folders is the submission's when it is anywhere on the stack,
so ``torch.load("/elsewhere")`` is refused too. What this cannot see is in docs/security.md.
"""

from __future__ import annotations

import builtins
import linecache
import os
import sys
import sysconfig
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from types import FrameType
from typing import Any

# Events refused when they come from the submission.
INTROSPECTION = frozenset({
    "sys._getframe", "sys._current_frames", "sys._current_exceptions", "sys.settrace", "sys.setprofile",
    "sys.addaudithook", "gc.get_objects", "gc.get_referrers", "gc.get_referents", "code.__new__",
    "function.__new__", "exec", "compile",
})
PROCESSES = frozenset({
    "os.system", "os.exec", "os.spawn", "os.posix_spawn", "os.fork", "os.forkpty", "os.kill", "os.killpg",
    "subprocess.Popen", "pty.spawn", "os.putenv", "os.unsetenv",
})
PREFIXES = ("socket.", "ctypes.")
FRAME_ATTRIBUTES = frozenset({"tb_frame", "gi_frame", "cr_frame", "ag_frame", "f_code", "gi_code", "cr_code",
                              "ag_code", "__code__"})
CODE_ATTRIBUTES = frozenset({"__code__", "__defaults__", "__kwdefaults__", "__globals__"})
GRADER_PACKAGES = frozenset({"pytest", "_pytest", "pluggy", "torchkata", "py", "iniconfig"})
# Standard library modules that act for their caller: an event they raise is their caller's.
TRANSPARENT = frozenset({"inspect", "traceback", "pathlib", "subprocess", "os", "pty", "socket", "shutil",
                         "io", "codecs", "glob", "tempfile", "ctypes", "gc", "importlib", "runpy", "pickle",
                         "linecache", "tokenize", "shelve", "dbm", "sqlite3", "mmap", "posixpath", "genericpath"})
RAW_MEMORY_FILES = frozenset({"mem", "pagemap", "map_files"})
QUIET = "refused without a report"
_LINECACHE = linecache.__file__
ALWAYS_READABLE = ("/dev/null", "/dev/zero", "/dev/urandom", "/dev/random", "/proc/self", "/proc/thread-self",
                   "/proc/cpuinfo", "/proc/meminfo", "/sys/", "/etc/", "/usr/", "/lib", "/bin/")


class Watch:
    """What the hook needs: the submission's file, the folders it may open, and where to report."""

    def __init__(self, submission: Path, run_dir: Path, report: Callable[[str], None],
                 allowed: Iterable[Path] = (), protected: Iterable[Path] = ()) -> None:
        self.submission = str(submission)
        self.run_dir = str(run_dir)
        self.report = report
        self.allowed = tuple(sorted({str(path) for path in allowed}))
        self.protected = tuple(sorted({str(path) for path in protected}))
        paths = sysconfig.get_paths()
        # Longest first: in a virtual environment platstdlib (the venv) and stdlib (the base) differ.
        self.stdlib = tuple(sorted({paths["stdlib"], paths["platstdlib"]}, key=len, reverse=True))
        self._inside = threading.local()  # per thread: another thread's event is never skipped
        self.found: list[str] = []

    @property
    def busy(self) -> bool:
        """True while this thread is inside the hook (its own frame reads raise events too)."""
        return getattr(self._inside, "busy", False)

    @busy.setter
    def busy(self, value: bool) -> None:
        self._inside.busy = value

    # -- where an event comes from --------------------------------------------------------------------

    def _transparent(self, filename: str) -> bool:
        if filename.startswith("<"):
            return True
        root = next((root for root in self.stdlib if filename.startswith(root.rstrip("/") + "/")), None)
        if root is None:
            return False
        module = filename[len(root):].strip("/").split("/")[0].removesuffix(".py")
        return module in TRANSPARENT

    def origin(self, frame: FrameType | None) -> FrameType | None:
        """The submission's frame if the event is the submission's own doing, else None."""
        while frame is not None:
            filename = frame.f_code.co_filename
            if filename == self.submission:
                return frame
            if not self._transparent(filename):
                return None
            frame = frame.f_back
        return None

    def on_stack(self, frame: FrameType | None) -> FrameType | None:
        while frame is not None:
            if frame.f_code.co_filename == self.submission:
                return frame
            frame = frame.f_back
        return None

    # -- what is refused ------------------------------------------------------------------------------

    def refused_path(self, path: str, direct: bool) -> bool:
        """Whether opening ``path`` is refused: always under a protected folder (the staged graders, the
        course, the other submissions, other runs, another process, shared memory), and anywhere outside
        the allowed folders when the submission opens it itself rather than through a library."""
        full = os.path.abspath(path)
        if _under(full, (os.path.join(self.run_dir, "graders"),)) or _raw_memory(full):
            return True
        if _under(full, (self.run_dir, *self.allowed)) or any(part.endswith((".dist-info", ".egg-info"))
                                                              for part in full.split(os.sep)):
            return False
        if _under(full, (*self.protected, "/dev/shm")) or (
                full.startswith("/proc/") and not full.startswith(ALWAYS_READABLE)):
            return True
        return direct and not full.startswith(ALWAYS_READABLE)

    def _grader_source_for_a_traceback(self, path: str, frame: FrameType | None) -> bool:
        """A library formatting a stack (torch records one when it defers a CUDA seed) reads every frame's
        source through linecache, the grader's too: refused, but not the submission's doing."""
        if not _under(os.path.abspath(path), (os.path.join(self.run_dir, "graders"),)):
            return False
        while frame is not None and frame.f_code.co_filename != self.submission:
            if frame.f_code.co_filename == _LINECACHE:
                return True
            frame = frame.f_back
        return False

    def refusal(self, event: str, args: tuple[Any, ...], frame: FrameType | None) -> tuple[str, FrameType] | None:
        """(what was refused, the submission's frame) for an event to refuse; None to let it happen."""
        if event == "open":
            path = args[0]
            if isinstance(path, int) or path is None:
                return None
            found = self.on_stack(frame)
            text = os.fsdecode(path)
            direct = self.origin(frame) is not None
            if found is not None and self.refused_path(text, direct):
                if not direct and self._grader_source_for_a_traceback(text, frame):
                    return QUIET, found
                return f"opened {text} (outside its run directory)", found
            return None
        if event == "import":
            top = str(args[0]).split(".")[0]
            if top in GRADER_PACKAGES or top.startswith("test_"):
                found = self.origin(frame)
                return (f"imported {args[0]} (the grader's own code)", found) if found else None
            return None
        if event == "object.__getattr__":
            if args[1] not in FRAME_ATTRIBUTES:
                return None
            found = self.origin(frame)
            return (f"read .{args[1]} (frames and code of the grader)", found) if found else None
        if event == "object.__setattr__":
            target, name = args[0], args[1]
            module = str(getattr(target, "__module__", "") or "").split(".")[0]
            if name not in CODE_ATTRIBUTES and module not in GRADER_PACKAGES:
                return None
            found = self.origin(frame)
            owner = getattr(target, "__qualname__", type(target).__name__)
            return (f"set .{name} of {owner}", found) if found else None
        if event == "compile" and len(args) > 1 and str(args[1]) == self.submission:
            return None  # the submission's own module being compiled at import
        if event == "exec" and not str(getattr(args[0], "co_filename", "<")).startswith("<"):
            return None  # a module's code from its file, as importing runs it
        if event in INTROSPECTION or event in PROCESSES or event.startswith(PREFIXES):
            found = self.origin(frame)
            return (f"called {event}", found) if found else None
        return None

    def __call__(self, event: str, args: tuple[Any, ...]) -> None:
        if self.busy:
            return
        if not (event in INTROSPECTION or event in PROCESSES or event.startswith(PREFIXES)
                or event in ("open", "import", "object.__getattr__", "object.__setattr__")):
            return
        self.busy = True
        try:
            refused = self.refusal(event, args, sys._getframe(1))
            if refused is None:
                return
            what, frame = refused
            if what is QUIET:
                raise PermissionError("grading refused this: the grader's source is not readable")
            evidence = f"{what} at {Path(self.submission).name}:{frame.f_lineno}"
            self.found.append(evidence)
            self.report(evidence)
        finally:
            self.busy = False
        raise PermissionError(f"grading refused this: {evidence}")


def _raw_memory(path: str) -> bool:
    """``/proc/<any>/mem``, ``pagemap`` or ``map_files``: a process's memory read (or written) as a file."""
    parts = path.split(os.sep)
    return len(parts) >= 4 and parts[1] == "proc" and parts[3] in RAW_MEMORY_FILES


def _under(path: str, roots: Iterable[str]) -> bool:
    return any(path == root or path.startswith(root.rstrip(os.sep) + os.sep) for root in roots)


def guarded_import(watch: Watch, original: Callable[..., Any]) -> Callable[..., Any]:
    """``__import__`` that refuses the grader's packages to the submission, also when already imported."""

    def __import__(name: str, globals: dict[str, Any] | None = None, *args: Any, **kwargs: Any) -> Any:  # noqa: A001,A002
        if globals is not None and globals.get("__file__") == watch.submission and not watch.busy:
            top = name.split(".")[0]
            if top in GRADER_PACKAGES or top.startswith("test_"):
                line = sys._getframe(1).f_lineno
                evidence = f"imported {name} (the grader's own code) at {Path(watch.submission).name}:{line}"
                watch.found.append(evidence)
                watch.report(evidence)
                raise PermissionError(f"grading refused this: {evidence}")
        return original(name, globals, *args, **kwargs)

    return __import__


def install(watch: Watch) -> None:
    """Watch the rest of this process's life (an audit hook cannot be removed)."""
    sys.addaudithook(watch)
    builtins.__import__ = guarded_import(watch, builtins.__import__)
