"""The student loop tells the truth: runaway code is stopped in every path, and failures teach.

Through the command line on a small copy of the course (see tests/test_student_loop.py): an endless
loop under ``check``, ``watch`` and plain ``pytest``, Ctrl-C, known torch errors told in the course's
words, several targets in one ``check``, and the public points shown beside the full points.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import CHAPTERS, PROJECT, engine_env, like_a_terminal
from tests.test_student_loop import MLP_DONE, WatchProcess, kata_row, make_course, run_cli, write_kata
from torchkata.checks import describe
from torchkata.grading.messages import failure_message

MLP_ENDLESS = MLP_DONE.replace(
    "        return self.output(F.relu(self.hidden(X)))", "        while True:\n            pass"
)
# A loop that swallows pytest-timeout's exception: only the parent's kill stops it.
MLP_STUBBORN = MLP_DONE.replace(
    "        return self.output(F.relu(self.hidden(X)))",
    "        while True:\n            try:\n                while True:\n                    pass\n"
    "            except BaseException:\n                pass",
)


@pytest.fixture
def course(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A student release of chapters 03 and 04, made the working directory (as in test_student_loop)."""
    root = make_course(tmp_path / "course", hidden=False)
    monkeypatch.delenv("TORCHKATA_ROOT", raising=False)
    monkeypatch.setenv("COLUMNS", "120")
    monkeypatch.chdir(root)
    return root


@pytest.fixture
def watch(course: Path) -> Iterator[Callable[..., WatchProcess]]:
    started: list[WatchProcess] = []

    def start(*args: str) -> WatchProcess:
        started.append(WatchProcess(course, *args))
        return started[-1]

    yield start
    for process in started:
        process.stop()


def loop_line(path: Path) -> int:
    return next(n for n, text in enumerate(path.read_text().splitlines(), 1) if text.strip() == "while True:")


def copy_chapter(root: Path, slug: str, source: str) -> Path:
    """Add chapter ``slug`` to the course at ``root`` with ``source`` as the student's file."""
    chapter = next(chapter for chapter in CHAPTERS if chapter.slug == slug)
    shutil.copytree(chapter.directory, root / "exercises" / chapter.directory.name)
    shutil.copy(PROJECT.graders / "public" / f"test_{slug}.py", root / "graders" / "public")
    path = root / "starter" / f"{slug}.py"
    path.write_text(source)
    return path


# check


def test_check_stops_an_endless_loop_and_checks_the_rest(course: Path, capsys) -> None:
    path = write_kata(course, "MLP", MLP_ENDLESS)
    started = time.monotonic()
    status, out, _ = run_cli(capsys, "check", "modules", "--test-timeout", "2")
    assert status == 1
    assert time.monotonic() - started < 120
    row = kata_row(out, "MLP")
    assert "failing" in row and f"starter/modules.py:{loop_line(path)}" in row
    assert f"stopped after 2 s (at modules.py:{loop_line(path)}): an endless loop?" in out
    assert "not started" in kata_row(out, "MySequential"), "the katas after the loop were not checked"


def test_check_kills_a_loop_that_ignores_the_limit_and_checks_the_rest(course: Path, capsys) -> None:
    write_kata(course, "MLP", MLP_STUBBORN)
    status, out, _ = run_cli(capsys, "check", "MLP", "MySequential", "--test-timeout", "1")
    assert status == 1
    assert "stopped after 1 s: an endless loop?" in out and "did not stop when told to" in out
    assert "not started" in kata_row(out, "MySequential")


def test_check_limits_memory_and_checks_the_rest(course: Path, capsys) -> None:
    greedy = MLP_DONE.replace(
        "        return self.output(F.relu(self.hidden(X)))", "        return torch.empty(10**11) + X.sum()"
    )
    write_kata(course, "MLP", greedy)
    status, out, _ = run_cli(capsys, "check", "MLP", "MySequential", "--test-memory", "512")
    assert status == 1
    assert "ran out of the memory a check may use (it asked for 373 GiB at once)" in out
    assert "not started" in kata_row(out, "MySequential")


def test_check_survives_code_that_ends_its_process(course: Path, capsys) -> None:
    quitter = MLP_DONE.replace("        return self.output(F.relu(self.hidden(X)))", "        os._exit(3)")
    write_kata(course, "MLP", "import os\n\n\n" + quitter)
    status, out, _ = run_cli(capsys, "check", "MLP", "MySequential")
    assert status == 1
    assert "the check exited with status 3" in kata_row(out, "MLP") + out
    assert "not started" in kata_row(out, "MySequential")


def test_check_ctrl_c_says_it_was_interrupted(course: Path) -> None:
    write_kata(course, "MLP", MLP_ENDLESS)
    process = subprocess.Popen(
        [sys.executable, "-m", "torchkata", "check", "MLP", "--test-timeout", "600"],
        cwd=course,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=engine_env(),
        start_new_session=True,
        preexec_fn=like_a_terminal,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not _has_grandchild(process.pid):
            time.sleep(0.2)
        time.sleep(3)  # the child is in the loop by now
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, output
    assert "Interrupted (Ctrl-C)" in output and "did not report" not in output and "Traceback" not in output


def _has_grandchild(pid: int) -> bool:
    """True once the check has forked its child (a process whose parent is ``pid``)."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "stat").read_text().rsplit(")", 1)[1].split()[1] == str(pid):
                    return True
            except (OSError, IndexError):
                continue
    return False


def test_check_takes_several_targets(course: Path, capsys) -> None:
    write_kata(course, "MLP", MLP_DONE)
    status, out, _ = run_cli(capsys, "check", "MLP", "parameters", "MLP")
    assert status == 1
    assert "public checks pass" in kata_row(out, "MLP") and out.count(" MLP ") == 1
    assert "MySequential" not in out
    assert re.search(r"^03 modules", out, re.M) and re.search(r"^04 parameters", out, re.M)
    parameters = next(chapter for chapter in CHAPTERS if chapter.slug == "parameters")
    for kata in parameters.katas:
        kata_row(out, kata.name)


def test_check_shows_public_points_beside_the_full_points(tmp_path: Path, monkeypatch, capsys) -> None:
    root = make_course(tmp_path / "instructor", hidden=True)
    monkeypatch.chdir(root)
    write_kata(root, "MLP", MLP_DONE)
    status, out, _ = run_cli(capsys, "check", "MLP")
    assert status == 0
    assert re.search(r"public checks pass\s+MLP\s+3/3 of \d+", out), out
    assert "points in all with the hidden checks" in out and "done" not in out
    status, out, _ = run_cli(capsys, "list")
    assert "in all" in out and re.search(r"^\s+MLP\s+public checks pass\s+3/3\s+\d+$", out, re.M), out


# watch


def test_watch_a_save_stops_a_stuck_check_and_checks_the_new_code(course: Path, watch) -> None:
    process: WatchProcess = watch("MLP", "--max-runs", "1", "--timeout", "300", "--test-timeout", "600")
    process.wait_for(r"^Watching starter/")
    write_kata(course, "MLP", MLP_ENDLESS)
    time.sleep(4)  # the check of the endless loop is under way
    write_kata(course, "MLP", MLP_DONE)
    stopped = process.wait_for(r"saved again: stopped the check still running")
    assert "saved: checked" not in stopped, "the stuck check reported"
    report = process.wait_for(r"the watch stays on MLP")
    assert re.search(r"^\s+public checks pass\s+MLP\s", report, re.M), report
    status, _ = process.finish()
    assert status == 0


def test_watch_reports_an_endless_loop_and_keeps_watching(course: Path, watch) -> None:
    process: WatchProcess = watch("MLP", "--max-runs", "2", "--timeout", "300", "--test-timeout", "2")
    process.wait_for(r"^Watching starter/")
    write_kata(course, "MLP", MLP_ENDLESS)
    report = process.wait_for(r"^modules: \d+ of 8 katas pass")
    assert "stopped after 2 s" in report and "an endless loop?" in report
    write_kata(course, "MLP", MLP_DONE)
    report = process.wait_for(r"the watch stays on MLP")
    assert re.search(r"^\s+public checks pass\s+MLP\s", report, re.M), report
    assert process.finish()[0] == 0


# plain pytest


def _pytest(course: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "graders/public/test_modules.py",
            "--impl",
            "starter",
            "-p",
            "no:cacheprovider",
            *args,
        ],
        cwd=course,
        capture_output=True,
        text=True,
        timeout=300,
        env=engine_env(),
    )


def test_plain_pytest_stops_an_endless_loop_in_a_few_lines(course: Path) -> None:
    path = write_kata(course, "MLP", MLP_ENDLESS)
    done = _pytest(course, "-q", "--test-timeout", "2")
    assert done.returncode == 1
    assert f"stopped after 2 s (at modules.py:{loop_line(path)}): an endless loop?" in done.stdout
    assert "not started: MySequential" in done.stdout
    assert "checks.py" not in done.stdout and "def " not in done.stdout
    assert len(done.stdout.splitlines()) < 40, done.stdout


@pytest.mark.parametrize(
    ("args", "env", "seconds"),
    [
        ((), {"TORCHKATA_TEST_TIMEOUT": "2"}, 2),
        (("-o", "torchkata_test_timeout=3"), {}, 3),
        (("--test-timeout", "60", "--timeout", "2"), {}, 2),  # pytest-timeout's own option wins
    ],
)
def test_plain_pytest_limit_comes_from_env_ini_or_timeout(course: Path, args, env, seconds) -> None:
    write_kata(course, "MLP", MLP_ENDLESS)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "graders/public/test_modules.py",
            "--impl",
            "starter",
            "-p",
            "no:cacheprovider",
            "-q",
            "--kata",
            "MLP",
            *args,
        ],
        cwd=course,
        capture_output=True,
        text=True,
        timeout=300,
        env=engine_env(**env),
    )
    assert f"stopped after {seconds:g} s" in done.stdout, done.stdout


def test_plain_pytest_shows_a_crash_as_the_students_line_and_the_message(course: Path) -> None:
    path = write_kata(course, "MLP", MLP_DONE.replace("F.relu(self.hidden(X))", "relu(self.hidden(X))"))
    line = next(n for n, text in enumerate(path.read_text().splitlines(), 1) if "relu(self.hidden(X))" in text)
    done = _pytest(course, "-q", "--kata", "MLP")
    assert f"starter/modules.py:{line}: return self.output(relu(self.hidden(X)))" in done.stdout
    assert "raised NameError: name 'relu' is not defined" in done.stdout
    assert "site-packages" not in done.stdout and "direct cause" not in done.stdout


def test_plain_pytest_keeps_the_users_traceback_choice(course: Path) -> None:
    done = _pytest(course, "-q", "--tb=long", "--kata", "MLP")
    assert "def test_mlp" in done.stdout, "--tb=long was overridden"


# messages


def test_gradscaler_misuse_is_explained_at_the_optimizer_step_line(course: Path, capsys) -> None:
    source = (PROJECT.solutions / "amp.py").read_text()
    source = source.replace("    scaler.step(optimizer)\n", "    optimizer.step()\n")
    path = copy_chapter(course, "amp", source)
    line = next(n for n, text in enumerate(path.read_text().splitlines(), 1) if text.strip() == "optimizer.step()")
    status, out, _ = run_cli(capsys, "check", "amp/amp_train_step")
    assert status == 1
    assert "scaler.update() found no scaler.step(optimizer)" in out and "No inf checks" not in out
    assert f"starter/amp.py:{line}" in kata_row(out, "amp_train_step")


def test_a_checkpoint_that_will_not_load_blames_save_checkpoint_in_plain_words(course: Path, capsys) -> None:
    source = (PROJECT.solutions / "io.py").read_text()
    assert '"model": model.state_dict(),' in source
    copy_chapter(course, "io", source.replace('"model": model.state_dict(),', '"model": model,'))
    status, out, _ = run_cli(capsys, "check", "io/load_checkpoint")
    assert status == 1
    message = out[out.index("load_checkpoint") :]
    assert "refused the file: it holds a Sequential object" in message
    assert "written by your save_checkpoint" in message
    assert "\x1b" not in out and "[1m" not in out and "add_safe_globals" not in out
    assert "weights_only=False is not the fix" in message


def test_containers_are_described_by_keys_and_shapes() -> None:
    import torch

    text = describe({"head": torch.zeros(300, 400)})
    assert text.startswith("a dict with keys ['head']") and "(300, 400)" in text and "0." not in text
    assert describe([torch.ones(2)] * 9).startswith("a list of 9 (tensor (2,) float32")
    assert describe({"a": 1}) == "{'a': 1}"


def test_file_line_is_the_innermost_frame_of_the_students_file(tmp_path: Path) -> None:
    from torchkata import checks

    (tmp_path / "ctx.py").write_text(
        "class Timer:\n    def __init__(self):\n        self.x = 1\n\n    def __enter__(self):\n        return self\n\n"
        "    def __exit__(self, *exc):\n        return 1 / 0\n"
    )
    sys.path.insert(0, str(tmp_path))
    try:
        import ctx  # type: ignore[import-not-found]

        def use() -> None:
            with ctx.Timer():
                pass

        with pytest.raises(AssertionError) as info:
            checks.call("with Timer(): pass", use)
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("ctx", None)
    message = failure_message(info.value, "ctx", tmp_path, "Timer", {"Timer"})
    assert message.endswith("(at ctx.py:9)"), message


def test_nbgrader_cells_stop_an_endless_loop() -> None:
    from torchkata.exports.nbgrader.worker import grade_request

    source = (PROJECT.solutions / "modules.py").read_text()
    start = source.index("class MLP(")
    end = source.index("\nclass ", start + 1)
    request = {
        "chapter": "modules",
        "kata": "MLP",
        "kata_timeout": 120,
        "test_timeout": 2,
        "source": source[:start] + MLP_ENDLESS + source[end:],
    }
    reply = grade_request(PROJECT.root, request)
    messages = [outcome["message"] for outcome in reply["outcomes"] if not outcome["passed"]]
    assert any("stopped after 2 s" in message and "an endless loop?" in message for message in messages), reply
