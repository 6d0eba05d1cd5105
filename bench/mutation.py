"""Mutation testing of the solution regions, with the graders as the test suite.

    python bench/mutation.py [CHAPTER ...] [-j N] [--limit N] [--timeout S] [--out DIR]

Every mutant comes from cosmic-ray's own mutation operators (``cosmic_ray.plugins``: binary,
comparison and unary operator replacement, number replacement, True/False, and/or, ``not``
added to conditions, zero-iteration loops, break/continue, exception replacement), applied with
``cosmic_ray.mutating.mutate_code`` to ``solutions/<slug>.py``; only those whose span lies inside
a ``### BEGIN SOLUTION`` / ``### END SOLUTION`` region are kept. The operators that need a
variable named per run (VariableReplacer, VariableInserter: random values) are left out.

A mutant is killed when the chapter's public and hidden graders lose at least one point on it,
or the run crashes or passes its time limit. The runner is ours, because cosmic-ray's own
(``cosmic-ray exec``) starts ``pytest`` in a fresh process per mutant and edits the file in
place: importing torch each time made it about 4.8 s a mutant here (31 mutants of tensors in
150 s; about four hours for all chapters), and a run stopped midway left the solution mutated.
This one imports torch and pytest once, grades the reference once per chapter (full marks
required, which also warms the lazy imports), then forks one child per mutant: the child writes
the mutated chapter to a temporary directory and runs the graders in process against it (as
``torchkata.grading.grade.grade_in_process``), stopping at the first lost point. Each child has its own
session and process group, a memory limit and a wall-clock limit; the group is killed when the
child ends or its time is up. All 16 chapters (2,823 mutants, 18 of them listed as equivalent)
took 605 s with ``-j 2`` on this 2-core machine when it was quiet, 2,251 s when it was shared
(load average about 10).

Why cosmic-ray and not mutmut (both tried, on chapter tensors): mutmut 3.8.1's own runner was
quick (218 mutants of the whole file in 58 s, forked per mutant), but only with a shim: it
compiles every mutant of a function into one trampolined file that picks the active mutant by
module name, and the graders load the chapter as ``torchkata_impl_<slug>``, so unpatched it
stopped with "tests recorded trampoline hits but none match any mutant key". Its generator
also skips every decorated function, which here means both optimizer ``step`` methods of
chapter optim (``@torch.no_grad()``), and a single mutant's source is reachable only through
its internal ``create_mutations``. cosmic-ray's operators are public plugins that turn
(operator, occurrence) into a whole mutated module, exactly what ``--impl DIR`` loads, and
they reach decorated functions. Its price: many mutants per operator (each ``+`` becomes twelve
other operators, most of which fail at once on tensors), and no argument-removal mutants.

Mutants inside the f-string of a raised exception's message are left out: they change only its
wording, which no kata's contract fixes (it names the exception type and what the message names).

Each chapter prints one line ``CHAPTER: killed K of N non-equivalent mutants (P%)``; the
survivors (line, function, operator, diff and the entry to paste into the equivalent list once
reviewed), the crashes and the time-outs go to ``build/mutation/<slug>.txt``. Mutants listed
in ``tests/mutation/equivalent.toml`` are left out of N. ``--limit N`` keeps N mutants per
chapter, spread evenly over the file. It is a benchmark: it exits 0 whatever the score.
"""

from __future__ import annotations

import argparse
import ast
import builtins
import contextlib
import difflib
import importlib
import json
import os
import shutil
import signal
import sys
import tempfile
import time
import tomllib
import traceback
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: the course's own torchkata first
    sys.path.insert(0, str(ROOT))

import pytest  # noqa: E402

from torchkata.course.catalog import Chapter  # noqa: E402
from torchkata.course.project import Project  # noqa: E402
from torchkata.course.source import Region, find_regions  # noqa: E402
from torchkata.grading.grade import pytest_args, select_chapters  # noqa: E402
from torchkata.grading.limits import Limits, apply_rlimits  # noqa: E402
from torchkata.grading.recorder import Recorder  # noqa: E402

EQUIVALENT = ROOT / "tests" / "mutation" / "equivalent.toml"
OUT = ROOT / "build" / "mutation"
MIN_LIMIT_S = 15.0
LIMIT_FACTOR = 6.0
MEMORY_MIB = 4096
POLL_S = 0.02
_PR_SET_PDEATHSIG = 1
# Children load only the grader plugin (scanning every installed plugin costs each run ~50 ms).
CHILD_PYTEST_ARGS = ("-p", "torchkata.plugin", "-p", "no:pastebin")


@dataclass(frozen=True)
class Mutant:
    """One mutant of a chapter's solution module, inside one solution region."""

    slug: str
    function: str
    operator: str
    occurrence: int
    line: int
    original: str
    mutated: str
    source: str

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        """What identifies the mutant across unrelated edits: no line numbers, no occurrence counts."""
        return (self.slug, self.function, self.operator, self.original, self.mutated)


@dataclass(frozen=True)
class Outcome:
    """What the graders did with one mutant: killed (a lost point), crashed, timeout or survived."""

    status: str
    detail: str = ""
    seconds: float = 0.0

    @property
    def killed(self) -> bool:
        return self.status != "survived"


@dataclass
class ChapterScore:
    """The mutants of one chapter, their outcomes and those left out as equivalent."""

    slug: str
    mutants: list[Mutant]
    outcomes: list[Outcome]
    equivalent: list[Mutant] = field(default_factory=list)
    limit_s: float = 0.0
    kinds: dict[str, int] = field(default_factory=dict)  # how many equivalent mutants of each listed kind

    @property
    def killed(self) -> int:
        return sum(outcome.killed for outcome in self.outcomes)

    @property
    def total(self) -> int:
        return len(self.outcomes)

    def line(self) -> str:
        """``CHAPTER: killed K of N non-equivalent mutants (P%)``; P is 100.0 when N is 0."""
        percent = 100.0 * self.killed / self.total if self.total else 100.0
        return f"{self.slug}: killed {self.killed} of {self.total} non-equivalent mutants ({percent:.1f}%)"


# -- mutant generation (cosmic-ray) ------------------------------------------------------------


def tool_version() -> str:
    from importlib.metadata import version

    return f"cosmic-ray {version('cosmic-ray')}"


def tool_operators() -> list[tuple[str, Any]]:
    """cosmic-ray's operators that take no arguments, by name, as ``cosmic-ray init`` builds them."""
    import cosmic_ray.plugins

    found = []
    for name in cosmic_ray.plugins.operator_names():
        operator_class = cosmic_ray.plugins.get_operator(name)
        if not operator_class.arguments():
            found.append((name, operator_class()))
    return found


def region_of(regions: Sequence[Region], first: int, last: int) -> Region | None:
    """The region whose code lines hold lines ``first`` to ``last``, if any."""
    for region in regions:
        if region.begin < first and last < region.end:
            return region
    return None


def changed_lines(original: str, mutated: str) -> tuple[int, str, str]:
    """First changed line (1-based) and the changed lines' stripped text before and after."""
    before, after = original.splitlines(), mutated.splitlines()
    matcher = difflib.SequenceMatcher(a=before, b=after, autojunk=False)
    changes = [op for op in matcher.get_opcodes() if op[0] != "equal"]
    first = changes[0][1]
    old = [text.strip() for _, i1, i2, _, _ in changes for text in before[i1:i2]]
    new = [text.strip() for _, _, _, j1, j2 in changes for text in after[j1:j2]]
    return first + 1, "\n".join(old), "\n".join(new)


Position = tuple[int, int]


def message_spans(text: str) -> list[tuple[Position, Position]]:
    """Where the f-strings of raised exceptions' messages are: ``raise ValueError(f"... {n - 1}")``.

    A mutant inside one changes only the wording of an error message. A kata's contract names the
    exception type and, at most, the arguments its message must name; the wording is free, so such
    a mutant cannot be told apart from the reference by any check that keeps correct styles passing.
    """
    spans = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
            for argument in node.exc.args:
                for part in ast.walk(argument):
                    if isinstance(part, ast.JoinedStr) and part.end_lineno is not None:
                        spans.append(((part.lineno, part.col_offset), (part.end_lineno, part.end_col_offset or 0)))
    return spans


def in_message(spans: list[tuple[Position, Position]], start: Position, end: Position) -> bool:
    return any(first <= start and end <= last for first, last in spans)


def generate(slug: str, text: str, path: Path = Path("<solution>")) -> list[Mutant]:
    """Every cosmic-ray mutant of ``text`` inside a solution region and outside an error message, in line order."""
    from cosmic_ray.ast import ast_nodes, get_ast
    from cosmic_ray.mutating import mutate_code

    regions = find_regions(text, path)
    messages = message_spans(text)
    nodes = list(ast_nodes(get_ast(text)))
    found: list[Mutant] = []
    for name, operator in tool_operators():
        positions = [span for node in nodes for span in operator.mutation_positions(node)]
        for occurrence, (start, end) in enumerate(positions):
            region = region_of(regions, start[0], end[0])
            if region is None or in_message(messages, tuple(start), tuple(end)):
                continue
            source = mutate_code(text, operator, occurrence)
            if source is None or source == text:
                continue
            line, before, after = changed_lines(text, source)
            found.append(Mutant(slug, region.owner, name, occurrence, line, before, after, source))
    return sorted(found, key=lambda m: (m.line, m.operator, m.occurrence))


def spread(mutants: list[Mutant], limit: int | None) -> list[Mutant]:
    """At most ``limit`` mutants, taken evenly over the list (all of them when limit is None)."""
    if limit is None or limit >= len(mutants):
        return mutants
    if limit <= 0:
        return []
    return [mutants[index * len(mutants) // limit] for index in range(limit)]


# -- the equivalent list -----------------------------------------------------------------------

# Why a listed mutant is left out of N (tests/mutation/equivalent.toml says more).
KINDS = frozenset({"equivalent", "free choice", "out of reach"})


def load_equivalent(path: Path) -> list[dict[str, str]]:
    """The reviewed equivalent mutants: ``[[mutant]]`` tables with the key fields and a reason."""
    if not path.is_file():
        return []
    entries = tomllib.loads(path.read_text(encoding="utf-8")).get("mutant", [])
    for entry in entries:
        missing = {"chapter", "function", "operator", "line", "mutant", "reason"} - set(entry)
        if missing:
            raise ValueError(f"{path}: an entry lacks {sorted(missing)}: {entry}")
        if entry.setdefault("kind", "equivalent") not in KINDS:
            raise ValueError(f"{path}: kind {entry['kind']!r} is none of {sorted(KINDS)}: {entry}")
    return entries


def entry_key(entry: dict[str, str]) -> tuple[str, str, str, str, str]:
    return (entry["chapter"], entry["function"], entry["operator"], entry["line"], entry["mutant"])


def toml_entry(mutant: Mutant) -> str:
    """The equivalent-list entry for ``mutant``, to paste in once it is reviewed as equivalent."""
    fields = {
        "chapter": mutant.slug,
        "function": mutant.function,
        "operator": mutant.operator,
        "line": mutant.original,
        "mutant": mutant.mutated,
        "reason": "WHY it behaves like the reference for every valid input",
    }
    body = "\n".join(f"{name} = {json.dumps(value)}" for name, value in fields.items())
    return f"[[mutant]]\n{body}"


# -- the runner --------------------------------------------------------------------------------


class StopAtLostPoint:
    """A pytest plugin that ends the session once a graded test has failed: a point is lost."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.session: pytest.Session | None = None

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        self.session = session

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        expected = self.recorder.expected.get(report.nodeid)
        if report.failed and expected is not None and expected.points > 0 and self.session is not None:
            # shouldfail, as --maxfail does: shouldstop would make pytest format a long KeyboardInterrupt report
            self.session.shouldfail = f"{expected.test} lost {expected.points:g} points"


def grade(project: Project, chapter: Chapter, impl_dir: Path, basetemp: Path) -> Outcome:
    """Run the chapter's graders on ``impl_dir`` in this process; killed at the first lost point."""
    recorder = Recorder()
    args = [*pytest_args(project, impl_dir, [chapter]), f"--basetemp={basetemp}", *CHILD_PYTEST_ARGS]
    pytest.main(args, plugins=[recorder, StopAtLostPoint(recorder)])
    for slug, error in recorder.collect_errors.items():
        return Outcome("killed", f"collection of {slug} failed: {error}")
    for nodeid, (passed, message) in recorder.results.items():
        expected = recorder.expected[nodeid]
        if not passed and expected.points > 0:
            return Outcome("killed", f"{expected.test}: {message.splitlines()[0] if message else ''}")
    missing = [exp.test for nodeid, exp in recorder.expected.items()
               if nodeid not in recorder.results and not exp.not_applicable]
    if missing:
        return Outcome("killed", f"{missing[0]} did not report")
    if not recorder.expected:
        return Outcome("killed", "no graded test was collected")
    return Outcome("survived")


def _define_testing_exception() -> None:
    """cosmic-ray's ExceptionReplacer writes ``except CosmicRayTestingException:``; make the name resolve."""
    with contextlib.suppress(ImportError):
        from cosmic_ray.exceptions import CosmicRayTestingException

        builtins.CosmicRayTestingException = CosmicRayTestingException  # type: ignore[attr-defined]


def _child(project: Project, chapter: Chapter, source: str, scratch: Path) -> NoReturn:
    """The forked child: own session, limits, output to a file; writes result.json, then exits."""
    code = 70
    try:
        os.setsid()
        with contextlib.suppress(OSError, AttributeError):
            import ctypes

            ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        for number in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD):
            signal.signal(number, signal.SIG_DFL)
        output = os.open(scratch / "output.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        os.dup2(output, 1)
        os.dup2(output, 2)
        sys.dont_write_bytecode = True
        os.environ.update(TMPDIR=str(scratch), PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
        tempfile.tempdir = None
        os.chdir(scratch)
        apply_rlimits(Limits(wall_seconds=600.0, memory_mib=MEMORY_MIB), 1)
        _define_testing_exception()
        impl_dir = scratch / "impl"
        impl_dir.mkdir()
        (impl_dir / f"{chapter.slug}.py").write_text(source, encoding="utf-8")
        outcome = grade(project, chapter, impl_dir, scratch / "basetemp")
        (scratch / "result.json").write_text(json.dumps([outcome.status, outcome.detail]), encoding="utf-8")
        code = 0
    except BaseException:  # noqa: BLE001 - the parent reports a crash with the output's last line
        traceback.print_exc()
    finally:
        os._exit(code)


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _last_output_line(scratch: Path) -> str:
    try:
        lines = (scratch / "output.txt").read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return ""
    return lines[-1][:200] if lines else ""


def _finish(scratch: Path, status: int, seconds: float, timed_out: bool, limit_s: float) -> Outcome:
    """The outcome of a child that has ended (or been killed at its time limit)."""
    if timed_out:
        return Outcome("timeout", f"still running after {limit_s:.0f} s", seconds)
    try:
        state, detail = json.loads((scratch / "result.json").read_text(encoding="utf-8"))
        return Outcome(state, detail, seconds)
    except (OSError, ValueError):
        how = f"signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status) else f"status {os.WEXITSTATUS(status)}"
        return Outcome("crashed", f"the run ended with {how}: {_last_output_line(scratch)}", seconds)


def run_sources(
    project: Project, chapter: Chapter, sources: Sequence[str], jobs: int, limit_s: float
) -> Iterator[tuple[int, Outcome]]:
    """Grade each source as the chapter's module in a forked child, ``jobs`` at a time.

    Yields (index, outcome) as the children end, in any order.
    """
    base = Path(tempfile.mkdtemp(prefix="torchkata-mutation-"))
    running: dict[int, tuple[int, Path, float]] = {}
    queue = list(enumerate(sources))[::-1]
    try:
        while queue or running:
            while queue and len(running) < max(jobs, 1):
                index, source = queue.pop()
                scratch = base / str(index)
                scratch.mkdir()
                sys.stdout.flush()
                sys.stderr.flush()
                pid = os.fork()
                if pid == 0:
                    _child(project, chapter, source, scratch)
                running[pid] = (index, scratch, time.monotonic())
            yield from _reap(running, limit_s)
            time.sleep(POLL_S)
    finally:
        for pid in running:
            _kill_group(pid)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        shutil.rmtree(base, ignore_errors=True)


def _reap(running: dict[int, tuple[int, Path, float]], limit_s: float) -> Iterator[tuple[int, Outcome]]:
    """The children that ended or ran out of time, removed from ``running``, with their outcomes."""
    for pid, (index, scratch, started) in list(running.items()):
        elapsed = time.monotonic() - started
        done, status = os.waitpid(pid, os.WNOHANG)
        timed_out = not done and elapsed > limit_s
        if timed_out:
            _kill_group(pid)
            _, status = os.waitpid(pid, 0)
        elif not done:
            continue
        _kill_group(pid)  # what the child started (DataLoader workers, subprocesses) ends with it
        del running[pid]
        outcome = _finish(scratch, status, elapsed, timed_out, limit_s)
        shutil.rmtree(scratch, ignore_errors=True)
        yield index, outcome


def warm_imports(project: Project, chapter: Chapter) -> None:
    """Import, once in the parent, what every child would import lazily: the graders' imports
    inside functions and, for graders of torchkata.checks, what torch loads to describe a failed
    comparison (sympy, through checks.close -> torch.unravel_index), as the fork server does."""
    names: set[str] = set()
    for path in project.grader_files(chapter.slug):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
    if any(name.split(".")[0] == "torchkata" for name in names):
        names.add("torch.fx.experimental.symbolic_shapes")
    for name in sorted(names):
        with contextlib.suppress(Exception):
            importlib.import_module(name)


def calibrate(project: Project, chapter: Chapter, text: str) -> float:
    """Grade the reference in process (warm-up) and in a child; its time sets the mutants' limit.

    Raises RuntimeError when the reference itself loses a point: then no mutant can be judged.
    """
    from torchkata.grading.grade import grade_in_process

    warm_imports(project, chapter)
    result = grade_in_process(project.solutions, [chapter.slug], project)
    if result.points != result.max_points or result.max_points == 0:
        raise RuntimeError(f"{chapter.slug}: the reference gets {result.points:g} of {result.max_points:g} points")
    started = time.monotonic()
    ((_, outcome),) = list(run_sources(project, chapter, [text], 1, 600.0))
    if outcome.killed:
        raise RuntimeError(f"{chapter.slug}: the reference, forked, is {outcome.status}: {outcome.detail}")
    return time.monotonic() - started


# -- one chapter, the report -------------------------------------------------------------------


def progress(text: str) -> None:
    """One overwritten status line on a terminal's stderr; nothing in a log."""
    if sys.stderr.isatty():
        print(f"\r\033[K{text}", end="", file=sys.stderr, flush=True)


def score_chapter(
    project: Project,
    chapter: Chapter,
    equivalent: list[dict[str, str]],
    jobs: int = 1,
    limit: int | None = None,
    timeout_s: float | None = None,
) -> ChapterScore:
    """Generate, filter and run the chapter's mutants; the equivalent ones are not run."""
    path = project.solutions / f"{chapter.slug}.py"
    text = path.read_text(encoding="utf-8")
    keys = {entry_key(entry): entry["kind"] for entry in equivalent}
    mutants = spread(generate(chapter.slug, text, path), limit)
    kept = [mutant for mutant in mutants if mutant.key not in keys]
    reference_s = calibrate(project, chapter, text)  # also when --timeout is given: full marks first
    limit_s = timeout_s or max(MIN_LIMIT_S, LIMIT_FACTOR * reference_s)
    outcomes: list[Outcome | None] = [None] * len(kept)
    with contextlib.closing(run_sources(project, chapter, [m.source for m in kept], jobs, limit_s)) as results:
        for count, (index, outcome) in enumerate(results, start=1):  # closing: Ctrl-C still kills children
            outcomes[index] = outcome
            progress(f"{chapter.slug}: {count}/{len(kept)} mutants graded")
    progress("")
    done = [outcome for outcome in outcomes if outcome is not None]
    equivalents = [mutant for mutant in mutants if mutant.key in keys]
    kinds: dict[str, int] = {}
    for mutant in equivalents:
        kinds[keys[mutant.key]] = kinds.get(keys[mutant.key], 0) + 1
    return ChapterScore(chapter.slug, kept, done, equivalents, limit_s, dict(sorted(kinds.items())))


def diff_of(mutant: Mutant, original: str, path: str) -> str:
    lines = difflib.unified_diff(
        original.splitlines(), mutant.source.splitlines(), f"a/{path}", f"b/{path}", n=2, lineterm=""
    )
    return "\n".join(lines)


def report(score: ChapterScore, project: Project, equivalent_path: Path) -> str:
    """The survivors file's text: the score, the counts, then every survivor, crash and time-out."""
    path = f"solutions/{score.slug}.py"
    original = (project.solutions / f"{score.slug}.py").read_text(encoding="utf-8")
    by_status: dict[str, list[tuple[Mutant, Outcome]]] = {}
    for mutant, outcome in zip(score.mutants, score.outcomes, strict=True):
        by_status.setdefault(outcome.status, []).append((mutant, outcome))
    counts = ", ".join(f"{len(items)} {status}" for status, items in sorted(by_status.items()))
    parts = [
        score.line(),
        f"mutants of the solution regions of {path}, generated by {tool_version()}; time limit {score.limit_s:.0f} s",
        f"outcomes: {counts or 'none'}; {len(score.equivalent)} left out as equivalent ({equivalent_path})"
        + (": " + ", ".join(f"{count} {kind}" for kind, count in score.kinds.items()) if score.kinds else ""),
    ]
    for status, title in (("survived", "survivor"), ("timeout", "time-out"), ("crashed", "crash")):
        for number, (mutant, outcome) in enumerate(by_status.get(status, []), start=1):
            parts.append(f"\n=== {title} {number}: line {mutant.line}, {mutant.function}, {mutant.operator}")
            if outcome.detail:
                parts.append(outcome.detail)
            parts.append(diff_of(mutant, original, path))
            if status == "survived":
                parts.append("# once reviewed as truly equivalent, this entry excludes it:\n" + toml_entry(mutant))
    return "\n".join(parts) + "\n"


def stale_entries(
    equivalent: list[dict[str, str]], scores: list[ChapterScore]
) -> list[dict[str, str]]:
    """Entries of the run chapters that no longer match any generated mutant."""
    slugs = {score.slug for score in scores}
    seen = {mutant.key for score in scores for mutant in score.equivalent}
    return [e for e in equivalent if e["chapter"] in slugs and entry_key(e) not in seen]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("chapters", nargs="*", metavar="CHAPTER", help="chapters to mutate (default: all)")
    parser.add_argument("-j", "--jobs", type=int, default=1, help="mutants graded at a time (default 1)")
    parser.add_argument("--limit", type=int, default=None, help="at most N mutants per chapter, spread evenly")
    parser.add_argument("--timeout", type=float, default=None, help="seconds per mutant (default: from the reference)")
    parser.add_argument("--out", type=Path, default=OUT, help=f"survivors folder (default {OUT.relative_to(ROOT)})")
    parser.add_argument("--equivalent", type=Path, default=EQUIVALENT, help="the reviewed equivalent mutants")
    parser.add_argument("--root", type=Path, default=ROOT, help="the course root (default: this repository)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    project = Project(args.root.resolve())
    equivalent = load_equivalent(args.equivalent)
    import torch

    torch.set_num_threads(1)  # forked children must not inherit a busy thread pool
    args.out.mkdir(parents=True, exist_ok=True)
    scores: list[ChapterScore] = []
    for chapter in select_chapters(project, args.chapters or None):
        score = score_chapter(project, chapter, equivalent, args.jobs, args.limit, args.timeout)
        (args.out / f"{chapter.slug}.txt").write_text(report(score, project, args.equivalent), encoding="utf-8")
        print(score.line(), flush=True)
        scores.append(score)
    killed, total = sum(s.killed for s in scores), sum(s.total for s in scores)
    elapsed = time.monotonic() - started
    print(f"total: killed {killed} of {total} in {elapsed:.0f} s; survivors in {args.out}/<chapter>.txt")
    stale = [] if args.limit is not None else stale_entries(equivalent, scores)
    for entry in stale:
        print(f"stale equivalent entry (matches no mutant): {entry['chapter']} {entry['function']}: {entry['line']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
