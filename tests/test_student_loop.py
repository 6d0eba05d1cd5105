"""The student loop through the command line: check, hint, list, progress and watch.

Each test works on a small copy of the course (chapters 03 modules and 04 parameters) in a
temporary directory, laid out as a student release: starter/, exercises/ and public graders,
no solutions/ (the instructor variant adds graders/hidden).
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import CHAPTERS, PROJECT, engine_env, like_a_terminal
from torchkata.cli import main
from torchkata.course.catalog import find_kata
from torchkata.course.locate import definition_span, todo_location
from torchkata.student import checks as student_checks
from torchkata.student.state import load_state, save_state, state_path
from torchkata.student.watcher import changed_katas

SLUGS = ("modules", "parameters")
WATCH_LIMIT_S = 120  # bound of any wait on a watch process (startup imports torch; a re-check takes < 1 s)

MLP_DONE = '''class MLP(nn.Module):
    """Linear(in_features, hidden) -> ReLU -> Linear(hidden, out_features); returns logits."""

    def __init__(self, in_features: int = 20, hidden: int = 256, out_features: int = 10) -> None:
        super().__init__()
        self.hidden = nn.Linear(in_features, hidden)
        self.output = nn.Linear(hidden, out_features)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.output(F.relu(self.hidden(X)))
'''
MLP_WRONG_OUTPUT = MLP_DONE.replace("nn.Linear(hidden, out_features)", "nn.Linear(hidden, hidden)")
MLP_CRASHES = MLP_DONE.replace("return self.output(F.relu(self.hidden(X)))", "return self.output(relu(self.hidden(X)))")
MLP_SYNTAX_ERROR = MLP_DONE.replace("return self.output(F.relu(self.hidden(X)))", "return self.output(F.relu(X)")


def make_course(root: Path, hidden: bool) -> Path:
    """A course with two chapters; ``hidden`` makes it the instructor's (graders/hidden present)."""
    for slug in SLUGS:
        chapter = next(chapter for chapter in CHAPTERS if chapter.slug == slug)
        shutil.copytree(chapter.directory, root / "exercises" / chapter.directory.name)
        kinds = ("public", "hidden") if hidden else ("public",)
        for kind in kinds:
            (root / "graders" / kind).mkdir(parents=True, exist_ok=True)
            shutil.copy(PROJECT.graders / kind / f"test_{slug}.py", root / "graders" / kind)
        if hidden:  # the hidden graders compare with the reference's recorded cases
            shutil.copy(PROJECT.casebook(slug), root / "graders" / "hidden")
        (root / "starter").mkdir(exist_ok=True)
        shutil.copy(PROJECT.starter / f"{slug}.py", root / "starter")
    return root


@pytest.fixture
def course(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A student release of the two chapters, made the working directory."""
    root = make_course(tmp_path / "course", hidden=False)
    monkeypatch.delenv("TORCHKATA_ROOT", raising=False)
    monkeypatch.setenv("COLUMNS", "120")
    monkeypatch.chdir(root)
    return root


def write_kata(root: Path, name: str, source: str) -> Path:
    """Replace the top-level definition ``name`` in starter/modules.py with ``source``."""
    path = root / "starter" / "modules.py"
    span = definition_span(path, name)
    assert span is not None, f"{name} not found in {path}"
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[: span[0] - 1]) + source + "".join(lines[span[1] :]))
    return path


def todo_line(root: Path, name: str) -> int:
    found = todo_location(root / "starter" / "modules.py", name)
    assert found is not None
    return found[0]


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def kata_row(output: str, name: str) -> str:
    """The line of a check report or list that starts with the kata's state and name."""
    rows = [line for line in output.splitlines() if re.search(rf"^\s+(\w+(?: \w+)*)\s+{re.escape(name)}\s", line)]
    assert rows, f"no row for {name} in:\n{output}"
    return rows[0]


# check


def test_check_untouched_starter_says_not_started_with_the_todo_line(course: Path, capsys) -> None:
    status, out, _ = run_cli(capsys, "check", "modules")
    assert status == 1
    chapter = next(chapter for chapter in CHAPTERS if chapter.slug == "modules")
    for kata in chapter.katas:
        assert "not started" in kata_row(out, kata.name)
    assert f"starter/modules.py:{todo_line(course, 'MLP')}" in kata_row(out, "MLP")
    assert "Next: MLP (modules)" in out
    assert "TODO: build two fully connected layers" in out
    assert "Traceback" not in out and "NotImplementedError" not in out


def test_check_failing_kata_shows_the_call_the_shapes_and_where_to_edit(course: Path, capsys) -> None:
    write_kata(course, "MLP", MLP_WRONG_OUTPUT)
    status, out, _ = run_cli(capsys, "check", "MLP")
    assert status == 1
    assert "failing" in kata_row(out, "MLP")
    assert f"starter/modules.py:{definition_span(course / 'starter' / 'modules.py', 'MLP')[0]}" in out
    assert "MLP()(x) with x of shape (2, 20) returned shape (2, 256); expected (2, 10)." in out
    assert "MySequential" not in out, "checking one kata reported others"


def test_check_a_crash_names_its_line(course: Path, capsys) -> None:
    path = write_kata(course, "MLP", MLP_CRASHES)
    line = next(n for n, text in enumerate(path.read_text().splitlines(), 1) if "relu(self.hidden(X))" in text)
    status, out, _ = run_cli(capsys, "check", "MLP")
    assert status == 1
    assert "NameError: name 'relu' is not defined" in out
    assert f"starter/modules.py:{line}" in kata_row(out, "MLP")


def test_check_a_syntax_error_is_shown_once_with_its_line(course: Path, capsys) -> None:
    path = write_kata(course, "MLP", MLP_SYNTAX_ERROR)
    line = next(n for n, text in enumerate(path.read_text().splitlines(), 1) if "F.relu(X)" in text)
    status, out, _ = run_cli(capsys, "check", "modules")
    assert status == 1
    assert "starter/modules.py does not import" in out
    assert f"starter/modules.py:{line}: SyntaxError" in out
    assert "return self.output(F.relu(X)" in out
    assert out.count("SyntaxError") == 1
    assert "Traceback" not in out and str(course) not in out


def test_check_a_half_written_kata_points_at_the_method_still_to_write(course: Path, capsys) -> None:
    half = MLP_DONE.replace(
        "        return self.output(F.relu(self.hidden(X)))",
        "        # TODO: apply the layers\n        raise NotImplementedError('MLP.forward: not written yet')",
    )
    path = write_kata(course, "MLP", half)
    line = next(n for n, text in enumerate(path.read_text().splitlines(), 1) if "TODO: apply the layers" in text)
    status, out, _ = run_cli(capsys, "check", "MLP")
    assert status == 1
    row = kata_row(out, "MLP")
    assert "failing" in row and "(2 of 3 checks fail)" in row, "the parameter count already passes"
    assert f"starter/modules.py:{line}" in row
    assert "not started: MLP.forward" in out and "TODO: apply the layers" in out
    assert "Traceback" not in out


def test_check_a_kata_without_checks_is_not_done(course: Path, capsys) -> None:
    toml = next((course / "exercises").glob("03_*")) / "kata.toml"
    toml.write_text(toml.read_text() + '\n[[kata]]\nname = "Unchecked"\ntitle = "No grader checks it"\n')
    shutil.copy(PROJECT.solutions / "modules.py", course / "starter" / "modules.py")
    status, out, _ = run_cli(capsys, "check", "modules")
    assert status == 1
    assert "no checks" in kata_row(out, "Unchecked")
    assert "8 of 9 katas pass their public checks" in out


def test_check_exits_0_only_when_every_checked_kata_passes(course: Path, capsys) -> None:
    write_kata(course, "MLP", MLP_DONE)
    status, out, _ = run_cli(capsys, "check", "MLP")
    assert status == 0 and "public checks pass" in kata_row(out, "MLP")
    status, out, _ = run_cli(capsys, "check", "modules")
    assert status == 1 and "public checks pass" in kata_row(out, "MLP") and "Next: MySequential (modules)" in out
    shutil.copy(PROJECT.solutions / "modules.py", course / "starter" / "modules.py")
    status, out, _ = run_cli(capsys, "check", "03")
    assert status == 0
    assert "8 of 8 katas pass their public checks" in out and "Every kata here passes its public checks" in out
    assert not re.search(r"\bdone\b", out), "passing the public checks is not the whole grade"


def test_check_hidden_adds_the_hidden_checks_in_the_instructor_repository(tmp_path: Path, monkeypatch, capsys) -> None:
    root = make_course(tmp_path / "instructor", hidden=True)
    monkeypatch.chdir(root)
    shutil.copy(PROJECT.solutions / "modules.py", root / "starter" / "modules.py")
    _, public, _ = run_cli(capsys, "check", "MLP")
    status, both, _ = run_cli(capsys, "check", "MLP", "--hidden")
    assert status == 0, both
    assert "(public checks; " in public and "(public and hidden checks)" in both
    max_public = float(re.search(r"(\d+)/(\d+)", kata_row(public, "MLP")).group(2))
    max_both = float(re.search(r"(\d+)/(\d+)", kata_row(both, "MLP")).group(2))
    assert max_both > max_public


def test_check_hidden_in_a_student_release_is_a_clear_error(course: Path, capsys) -> None:
    status, out, err = run_cli(capsys, "check", "modules", "--hidden")
    assert status == 2 and out == ""
    assert "hidden checks are only in the instructor's repository" in err


@pytest.mark.parametrize(
    ("target", "expected"),
    [("mlp", "did you mean MLP?"), ("nothing_like_it", "`torchkata list` shows them all"),
     ("modules/Nope", "chapter 'modules' has no kata 'Nope'")],
)
def test_check_unknown_target_exits_2_and_suggests(course: Path, capsys, target: str, expected: str) -> None:
    status, out, err = run_cli(capsys, "check", target)
    assert status == 2 and out == ""
    assert expected in err


def test_check_as_a_command_in_a_fresh_process(course: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "torchkata", "check", "modules"], cwd=course, capture_output=True, text=True,
        timeout=300, env=engine_env(),
    )
    assert done.returncode == 1, done.stderr
    assert "not started" in kata_row(done.stdout, "MLP")
    assert "\x1b[" not in done.stdout, "colour codes in output that is not a terminal"


# hint


def test_hint_reveals_one_more_hint_each_time_and_remembers(course: Path, capsys) -> None:
    kata = find_kata("MLP", CHAPTERS)
    total = len(kata.hints)
    assert total >= 2
    for asked in range(1, total + 2):
        status, out, _ = run_cli(capsys, "hint", "MLP")
        shown = min(asked, total)
        assert status == 0
        assert f"hint {shown}/{total}: {kata.hints[shown - 1]}" in out
        assert f"hint {shown + 1}/{total}" not in out
        assert load_state(state_path(course))["hints"]["modules/MLP"] == shown
    assert "That was the last hint" in out
    assert f"starter/modules.py:{todo_line(course, 'MLP')}" in out
    status, out, _ = run_cli(capsys, "hint", "MLP", "--reset")
    assert status == 0 and f"hint 1/{total}" in out and f"hint 2/{total}" not in out


def test_hint_never_mentions_solutions(course: Path, capsys) -> None:
    assert not (course / "solutions").exists()
    for chapter in CHAPTERS:
        for kata in chapter.katas:
            assert not any("solutions" in hint for hint in kata.hints), f"{chapter.slug}/{kata.name}"
    for chapter in (chapter for chapter in CHAPTERS if chapter.slug in SLUGS):
        for kata in chapter.katas:
            for _ in range(len(kata.hints) + 1):
                status, out, err = run_cli(capsys, "hint", f"{chapter.slug}/{kata.name}")
                assert status == 0, err
                assert "solutions" not in out + err


def test_hint_bad_names_exit_2(course: Path, capsys) -> None:
    status, out, err = run_cli(capsys, "hint", "modules")
    assert status == 2 and "is a chapter; ask for a hint on one of its katas: MLP, MySequential" in err
    status, out, err = run_cli(capsys, "hint", "NoSuchKata")
    assert status == 2 and "no chapter or kata named 'NoSuchKata'" in err
    assert not state_path(course).exists(), "a failed hint wrote the state file"


def test_hint_survives_a_corrupt_state_file_and_keeps_it(course: Path, capsys) -> None:
    path = state_path(course)
    path.parent.mkdir()
    path.write_text("{not json")
    status, out, err = run_cli(capsys, "hint", "MLP")
    assert status == 0 and "hint 1/" in out
    assert "could not be read" in err
    assert path.with_name("state.json.corrupt").read_text() == "{not json"
    assert json.loads(path.read_text())["hints"] == {"modules/MLP": 1}


def test_state_write_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / ".torchkata" / "state.json"
    save_state(path, {"hints": {"modules/MLP": 2}, "checks": {}})
    before = path.read_text()

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(json, "dump", fail)
    with pytest.raises(OSError):
        save_state(path, {"hints": {"modules/MLP": 3}, "checks": {}})
    assert path.read_text() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["state.json"], "a temporary file was left behind"


def test_hint_starts_without_importing_torch(course: Path) -> None:
    code = (
        "import sys; from torchkata.cli import main; status = main(['hint', 'MLP']); "
        "print('torch' in sys.modules); sys.exit(status)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=course, capture_output=True, text=True, timeout=60, env=engine_env()
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("False")


# list and progress


def test_list_shows_each_kata_state_points_bars_and_the_next_kata(course: Path, capsys) -> None:
    write_kata(course, "MLP", MLP_DONE)
    status, out, _ = run_cli(capsys, "list")
    assert status == 0
    assert re.search(r"^\s+MLP\s+public checks pass\s+3/3$", out, re.M), out
    assert re.search(r"^\s+MySequential\s+not started\s+0/\d+$", out, re.M), out
    assert re.search(r"^03 modules\s+#+-+\s+\d+%\s+1/8\s+3/\d+$", out, re.M), out
    assert re.search(r"^04 parameters\s+-+\s+0%\s+0/\d+", out, re.M), out
    assert re.search(r"^overall\s+#+-+\s+\d+%\s+1/\d+", out, re.M), out
    assert f"Next: MySequential (modules) in starter/modules.py:{todo_line(course, 'MySequential')}" in out
    status, out, _ = run_cli(capsys, "progress")
    assert status == 0
    assert re.search(r"^03 modules\s+#+-+", out, re.M) and re.search(r"^overall", out, re.M)
    assert not re.search(r"^\s+MLP\s+public checks pass", out, re.M), "progress lists katas"
    assert "Next: MySequential (modules)" in out


def test_list_reuses_recorded_results_until_a_file_changes(course: Path, capsys, monkeypatch) -> None:
    run_cli(capsys, "check")
    calls: list[list[str]] = []
    real = student_checks.run_checks

    def spy(project, impl_dir, chapters, *args, **kwargs):
        calls.append([chapter.slug for chapter in chapters])
        return real(project, impl_dir, chapters, *args, **kwargs)

    monkeypatch.setattr(student_checks, "run_checks", spy)
    status, out, _ = run_cli(capsys, "list")
    assert status == 0 and calls == [], "list re-ran checks that nothing had invalidated"
    assert re.search(r"^\s+MLP\s+not started", out, re.M), out
    write_kata(course, "MLP", MLP_DONE)
    status, out, _ = run_cli(capsys, "list")
    assert calls == [["modules"]], "list should re-check the changed chapter, and only it"
    assert re.search(r"^\s+MLP\s+public checks pass", out, re.M), out


# watch


class WatchProcess:
    """``torchkata watch`` in a subprocess, its output read line by line with a bound on every wait."""

    def __init__(self, root: Path, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "torchkata", "watch", *args], cwd=root, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, start_new_session=True, preexec_fn=like_a_terminal,
            env=engine_env(COLUMNS="120"),
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def wait_for(self, pattern: str, limit: float = WATCH_LIMIT_S) -> str:
        """Output from the last match on, up to the first line matching ``pattern``."""
        start = len(self.seen)
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                break
            if line is None:
                break
            self.seen.append(line)
            if re.search(pattern, line):
                return "".join(self.seen[start:])
        raise AssertionError(f"no line matching {pattern!r} within {limit} s; output:\n{''.join(self.seen)}")

    def finish(self, limit: float = WATCH_LIMIT_S) -> tuple[int, str]:
        status = self.process.wait(timeout=limit)
        while (line := self.lines.get(timeout=limit)) is not None:
            self.seen.append(line)
        return status, "".join(self.seen)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)


@pytest.fixture
def watch(course: Path) -> Iterator[type[WatchProcess]]:
    started: list[WatchProcess] = []

    def start(*args: str) -> WatchProcess:
        process = WatchProcess(course, *args)
        started.append(process)
        return process

    yield start  # type: ignore[misc]
    for process in started:
        process.stop()


def test_watch_rechecks_the_named_kata_on_save_and_stays_on_it(course: Path, watch) -> None:
    process = watch("MLP", "--max-runs", "2", "--timeout", str(WATCH_LIMIT_S))
    process.wait_for(r"^Watching starter/")
    write_kata(course, "MLP", MLP_DONE)
    saved = process.wait_for(r"saved: checked MLP in [\d.]+ s")
    report = process.wait_for(r"the watch stays on MLP")
    assert re.search(r"^\s+public checks pass\s+MLP\s", report, re.M), report
    assert "Suggested next: MySequential (modules)" in report
    assert "torchkata watch MySequential" in report
    write_kata(course, "MySequential", "class MySequential:\n    pass\n")
    saved = process.wait_for(r"saved: checked")
    assert "checked MLP in" in saved, "the watch moved past MLP by itself"
    status, output = process.finish()
    assert status == 0
    assert "checked MySequential" not in output and "Traceback" not in output


def test_watch_checks_the_first_kata_not_done_and_what_the_save_changed(course: Path, watch) -> None:
    process = watch("--max-runs", "2", "--timeout", str(WATCH_LIMIT_S))
    start = process.wait_for(r"^Watching starter/")
    assert "not started" in kata_row(start, "MLP")
    write_kata(course, "MLP", MLP_WRONG_OUTPUT)
    process.wait_for(r"saved: checked MLP in")
    report = process.wait_for(r"^modules: \d+ of 8 katas pass their public checks")
    assert "returned shape (2, 256); expected (2, 10)" in report
    write_kata(course, "MLP", MLP_DONE)
    process.wait_for(r"saved: checked MLP in")
    report = process.wait_for(r"the watch stays on MLP")
    assert "Suggested next: MySequential (modules)" in report
    status, output = process.finish()
    assert status == 0 and "checked MySequential" not in output


def test_watch_stops_cleanly_on_ctrl_c(course: Path, watch) -> None:
    process = watch()
    process.wait_for(r"^Watching starter/")
    process.process.send_signal(signal.SIGINT)
    status, output = process.finish()
    assert status == 0
    assert "Stopped watching." in output and "Traceback" not in output


def test_watch_stops_cleanly_on_ctrl_c_during_its_first_check(course: Path, watch) -> None:
    process = watch("modules")
    process.wait_for(r"^Checking chapter modules")
    time.sleep(0.2)  # well inside the first check, which imports torch
    process.process.send_signal(signal.SIGINT)
    status, output = process.finish()
    assert status == 0
    assert "Stopped watching." in output and "Traceback" not in output
    assert "Watching starter/" not in output and "not started" not in output, "an interrupted check was reported"


def test_watch_timeout_before_max_runs_exits_1(course: Path, watch) -> None:
    process = watch("modules", "--max-runs", "1", "--timeout", "1")
    status, output = process.finish()
    assert status == 1
    assert "Stopped after 1 s of watching with 0 of 1 re-checks." in output


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("def a():\n    return 1\n\ndef b():\n    return 2\n", "def a():\n    return 1\n\ndef b():\n    return 3\n",
         {"b"}),
        ("def a():\n    return 1\n", "def a():\n    return 1\n", set()),
        ("import torch\ndef a():\n    return 1\n", "import numpy\ndef a():\n    return 1\n", None),
        ("def a():\n    return 1\n", "def a(:\n    return 1\n", None),
    ],
)
def test_changed_katas(old: str, new: str, expected: set[str] | None) -> None:
    assert changed_katas(old, new, ["a", "b"]) == expected
