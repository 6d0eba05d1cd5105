"""Isolated grading agrees with the in-process path on trusted code and says what went wrong otherwise."""

from __future__ import annotations

import csv
import json
import os
import random
from pathlib import Path

import pytest

from tests.conftest import PROJECT
from torchkata.cli import main
from torchkata.exports.classroom.step import classroom_report
from torchkata.exports.gradebook import failure_rates, write_csv
from torchkata.exports.gradescope.results_json import gradescope_results
from torchkata.grading.grade import grade_in_process
from torchkata.grading.limits import Limits
from torchkata.grading.recorder import HIDDEN_WITHOUT_MESSAGE, public_feedback
from torchkata.grading.results import TestOutcome as Outcome
from torchkata.grading.results import build_result, layers_text
from torchkata.mutants import load_mutants, write_overlay
from torchkata.sandbox import canary, channel, landlock
from torchkata.sandbox.isolated import grade_submissions

SLUG = "modules"
TRUSTED = ("solutions", "starter", "mutant")


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Path], dict]:
    root = tmp_path_factory.mktemp("submissions")
    solution = (PROJECT.solutions / f"{SLUG}.py").read_text()
    mutant = load_mutants(PROJECT.mutants / f"{SLUG}.py")[0]
    texts = {
        "syntax_error": "import torch\n\ndef broken(:\n    pass\n",
        "import_error": solution + "\nimport a_module_that_does_not_exist\n",
    }
    dirs = {"solutions": PROJECT.solutions, "starter": PROJECT.starter,
            "mutant": write_overlay(PROJECT.solutions / f"{SLUG}.py", mutant, root / "mutant")}
    for name, text in texts.items():
        (root / name).mkdir()
        (root / name / f"{SLUG}.py").write_text(text)
    (root / "missing").mkdir()
    (root / "symlink").mkdir()
    (root / "symlink" / f"{SLUG}.py").symlink_to(PROJECT.solutions / f"{SLUG}.py")
    for name in ("missing", "symlink", "syntax_error", "import_error"):
        dirs[name] = root / name
    results = grade_submissions(dirs, [SLUG], PROJECT, Limits(wall_seconds=90, test_seconds=15), jobs=2)
    return dirs, results


@pytest.mark.parametrize("name", TRUSTED)
def test_isolated_agrees_with_in_process(graded, name: str) -> None:
    dirs, results = graded
    isolated, in_process = results[name].to_dict(), grade_in_process(dirs[name], [SLUG], PROJECT).to_dict()
    assert isolated.pop("layers")["isolated"] and not in_process.pop("layers")["isolated"]
    assert isolated == in_process
    assert not results[name].chapters[SLUG].flags


def _messages(results: dict, name: str) -> set[str]:
    return {failure["message"] for kata in results[name].chapters[SLUG].katas.values() for failure in kata.failed}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("syntax_error", f"importing {SLUG}.py failed: {SLUG}.py:3: SyntaxError"),
        ("import_error", "ModuleNotFoundError: No module named 'a_module_that_does_not_exist'"),
        ("missing", f"{SLUG}.py was not found in the submission"),
        ("symlink", f"{SLUG}.py is a symbolic link; submit the file itself."),
    ],
)
def test_a_module_that_cannot_load_fails_its_chapter_with_the_reason(graded, name: str, expected: str) -> None:
    _, results = graded
    chapter = results[name].chapters[SLUG]
    assert chapter.points == 0 and chapter.max_points > 0
    messages = _messages(results, name)
    assert messages and all(expected in message for message in messages), messages
    assert not any("torchkata-grade-" in message for message in messages), "a staged path leaked into a message"


def test_frames_are_read_across_chunks_and_refused_when_malformed() -> None:
    data = channel.encode({"t": "start", "id": "a"}) + channel.encode({"t": "end"})
    reader = channel.FrameReader()
    assert reader.feed(data[:3]) == []
    assert reader.feed(data[3:]) == [{"t": "start", "id": "a"}, {"t": "end"}]
    with pytest.raises(channel.ChannelError, match="bytes; the most allowed"):
        channel.FrameReader().feed((channel.MAX_FRAME + 1).to_bytes(4, "big"))
    with pytest.raises(channel.ChannelError, match="not JSON"):
        channel.FrameReader().feed((3).to_bytes(4, "big") + b"{{{")
    with pytest.raises(channel.ChannelError, match="holding list"):
        channel.FrameReader().feed((2).to_bytes(4, "big") + b"[]")


def test_canaries_are_interleaved_after_the_first_real_test() -> None:
    real = [f"r{i}" for i in range(20)]
    order = canary.interleave(real, ["c1", "c2", "c3"], random.Random(3))
    assert [item for item in order if item.startswith("r")] == real
    assert order[0] == "r0" and sorted(item for item in order if item.startswith("c")) == ["c1", "c2", "c3"]
    plan = canary.make_plan(random.Random(4))
    assert canary.alias_nodeid(f"graders/hidden/test_{SLUG}.py::test_x[a-b]", SLUG, plan.alias) == (
        f"graders/hidden/test_{plan.alias}.py::test_x[a-b]"
    )
    compile(plan.sentinel_source, "sentinels", "exec")
    assert len(plan.sentinel_nodeids("graders/public")) == len(canary.SENTINEL_BODIES)


def test_hidden_feedback_keeps_the_graders_message_not_its_source() -> None:
    explained = "the output layer is missing\nassert 256 == 10\n +  where 256 = len(out)"
    assert public_feedback(explained, "hidden") == "the output layer is missing"
    assert public_feedback("assert len(out) == 10", "hidden") == HIDDEN_WITHOUT_MESSAGE
    assert public_feedback(explained, "public") == explained
    assert public_feedback("", "hidden") == ""


def test_limits_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="wall_seconds must be positive"):
        Limits(wall_seconds=0)
    assert Limits.from_dict(Limits(memory_mib=5).to_dict()) == Limits(memory_mib=5)


@pytest.mark.skipif(landlock.abi_version() < 1, reason="this kernel has no Landlock")
def test_landlock_lets_a_child_write_only_where_it_is_allowed(tmp_path: Path) -> None:
    allowed, outside = tmp_path / "allowed", tmp_path / "outside.txt"
    allowed.mkdir()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            landlock.restrict_writes([allowed])
            (allowed / "ok.txt").write_text("ok")
            try:
                outside.write_text("breach")
                os.write(write, b"breach")
            except PermissionError:
                os.write(write, b"denied")
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    assert os.read(read, 16) == b"denied"
    os.close(read)
    assert (allowed / "ok.txt").read_text() == "ok" and not outside.exists()


def _result(tampered: bool = False):
    outcomes = [
        Outcome("public/test_m.py::test_a", "m", "A", 1.0, "public", True),
        Outcome("hidden/test_m.py::test_b", "m", "A", 2.0, "hidden", False, "A() returned 1; expected 2."),
        Outcome("public/test_n.py::test_c", "n", "C", 1.0, "public", True),
    ]
    result = build_result(outcomes, {"m": ["A"], "n": ["C"]})
    if tampered:
        result.chapters["m"].flags["tampered"] = "a canary check passed"
    return result


def test_gradescope_results_name_every_test_and_hide_the_hidden_ones() -> None:
    data = gradescope_results(_result(), execution_time=1.5)
    assert (data["score"], data["max_score"], data["execution_time"]) == (2.0, 4.0, 1.5)
    by_name = {test["name"]: test for test in data["tests"]}
    hidden = by_name["m / A / hidden/test_m.py::test_b"]
    assert hidden == {"name": "m / A / hidden/test_m.py::test_b", "score": 0.0, "max_score": 2.0, "status": "failed",
                      "output": "A() returned 1; expected 2.", "tags": ["m", "A"], "visibility": "hidden"}
    assert by_name["n / C / public/test_n.py::test_c"]["visibility"] == "visible"
    assert sum(test["score"] for test in data["tests"]) == data["score"]
    tampered = gradescope_results(_result(tampered=True))
    assert tampered["score"] == 1.0 and "m: tampered: a canary check passed" in tampered["output"]
    assert all(test["score"] == 0 for test in tampered["tests"] if test["name"].startswith("m /"))


def test_classroom_report_exits_zero_only_at_full_marks() -> None:
    text, status = classroom_report(_result())
    lines = text.splitlines()
    assert status == 1 and lines[0].startswith("01 m  starter/m.py")
    assert lines[-1] == "FAIL: some checks do not pass yet."
    assert lines[1].split() == ["failing", "A", "1/3", "starter/m.py", "(1", "of", "2", "checks", "fail)"]
    assert lines[2].strip() == "A() returned 1; expected 2." and "Points: 2 / 4," in text
    tampered = classroom_report(_result(tampered=True))[0]
    assert "m: tampered: a canary check passed" in tampered and "Points: 1 / 4," in tampered
    assert "1 of 2 katas pass all their checks: 1/4 points" in tampered
    full = build_result([Outcome("public/test_n.py::test_c", "n", "C", 1.0, "public", True)], {"n": ["C"]})
    text, status = classroom_report(full)
    assert status == 0 and text.splitlines()[1].split() == ["public", "checks", "pass", "C", "1/1"]
    assert layers_text(full.layers) in text
    assert text.splitlines()[-2:] == ["Points: 1 / 1, the total GitHub Classroom records.", "PASS: every check passes."]


def test_gradebook_writes_points_per_chapter_and_kata_and_ranks_failures(tmp_path: Path) -> None:
    results = {"ada": _result(), "bob": _result(tampered=True)}
    path = tmp_path / "grades.csv"
    write_csv(results, path)
    rows = list(csv.reader(path.open()))
    assert rows[0] == ["submission", "points", "max_points", "m", "m/A", "n", "n/C", "flags", "review"]
    assert rows[1] == ["ada", "2", "4", "1", "1", "1", "1", "", ""]
    assert rows[2] == ["bob", "1", "4", "0", "0", "1", "1", "m tampered: a canary check passed", ""]
    worst = failure_rates(results)[0]
    assert (worst.test, worst.failed, worst.graded, worst.rate) == ("hidden/test_m.py::test_b", 2, 2, 1.0)


def test_grade_classroom_exits_zero_only_for_a_full_chapter(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["grade", "solutions", "--chapter", SLUG, "--classroom", "--in-process"]) == 0
    assert capsys.readouterr().out.rstrip().endswith("PASS: every check passes.")
    assert main(["grade", "starter", "--chapter", SLUG, "--classroom", "--in-process"]) == 1
    assert "FAIL: some checks do not pass yet." in capsys.readouterr().out


def test_grade_all_writes_the_csv_and_the_reports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name, source in (("ada", PROJECT.solutions), ("bob", PROJECT.starter)):
        (tmp_path / "class" / name).mkdir(parents=True)
        (tmp_path / "class" / name / f"{SLUG}.py").write_text((source / f"{SLUG}.py").read_text())
    status = main(["grade-all", str(tmp_path / "class"), "-j", "2", "--chapter", SLUG,
                   "--csv", str(tmp_path / "grades.csv"), "--json-dir", str(tmp_path / "json")])
    assert status == 0
    rows = {row["submission"]: row for row in csv.DictReader((tmp_path / "grades.csv").open())}
    assert rows["ada"]["points"] == rows["ada"]["max_points"] and rows["bob"]["points"] == "0"
    assert json.loads((tmp_path / "json" / "ada.json").read_text())["points"] == float(rows["ada"]["points"])
    assert "checks that fail most often" in capsys.readouterr().out
    gradescope = tmp_path / "results.json"
    assert main(["grade", str(tmp_path / "class" / "ada"), "--chapter", SLUG, "--gradescope", str(gradescope)]) == 0
    assert json.loads(gradescope.read_text())["score"] == float(rows["ada"]["points"])


def test_a_solved_starter_is_not_mistaken_for_tampering(tmp_path: Path) -> None:
    """In a student's repository starter/ is their work: the canaries must not rely on it being unsolved."""
    import shutil

    from torchkata.course.project import Project

    for part in ("exercises", "graders"):
        shutil.copytree(PROJECT.root / part, tmp_path / part)
    (tmp_path / "starter").mkdir()
    shutil.copy(PROJECT.solutions / f"{SLUG}.py", tmp_path / "starter" / f"{SLUG}.py")
    course = Project(tmp_path)
    results = grade_submissions({"done": course.starter}, [SLUG], course, Limits(wall_seconds=90, test_seconds=15))
    chapter = results["done"].chapters[SLUG]
    assert not chapter.flags and chapter.points == chapter.max_points > 0


def test_grade_all_and_grade_take_chapter_files_from_starter_as_a_repository_keeps_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "class" / "flat").mkdir(parents=True)
    (tmp_path / "class" / "flat" / f"{SLUG}.py").write_text((PROJECT.solutions / f"{SLUG}.py").read_text())
    (tmp_path / "class" / "repo" / "starter").mkdir(parents=True)
    (tmp_path / "class" / "repo" / "README.md").write_text("a collected Classroom repository")
    (tmp_path / "class" / "repo" / "starter" / f"{SLUG}.py").write_text((PROJECT.solutions / f"{SLUG}.py").read_text())
    status = main(["grade-all", str(tmp_path / "class"), "-j", "2", "--chapter", SLUG,
                   "--csv", str(tmp_path / "grades.csv")])
    assert status == 0
    out = capsys.readouterr().out
    assert "1 of 2 submissions keep their chapter files in starter/ (graded from there): repo" in out
    rows = {row["submission"]: row for row in csv.DictReader((tmp_path / "grades.csv").open())}
    assert rows["repo"]["points"] == rows["repo"]["max_points"] == rows["flat"]["points"] != "0"
    assert main(["grade", str(tmp_path / "class" / "repo"), "--chapter", SLUG, "--in-process"]) == 0
    captured = capsys.readouterr()
    assert f"Grading the chapter files in starter/ of {tmp_path / 'class' / 'repo'}." in captured.err
    assert "Every kata passes." in captured.out


def test_what_grading_left_in_shared_memory_is_removed(tmp_path: Path) -> None:
    import time

    from torchkata.sandbox.processes import clear_shared_memory as _clear_shared_memory

    before = tmp_path / "before"
    before.write_text("an older file")
    os.utime(before, (time.time() - 600, time.time() - 600))
    started = time.time()
    (tmp_path / "left").write_text("left behind")
    (tmp_path / "folder").mkdir()
    _clear_shared_memory(started - 1, tmp_path)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["before"]


def test_a_grading_child_keeps_only_allow_listed_variables() -> None:
    from torchkata.sandbox.child import kept_environment

    kept = kept_environment({"PATH": "/bin", "LC_ALL": "C", "GITHUB_TOKEN": "secret", "AWS_SECRET_ACCESS_KEY": "x",
                             "GRADERS_TOKEN": "y", "PYTHONPATH": "/elsewhere"})
    assert kept == {"PATH": "/bin", "LC_ALL": "C"}


def test_a_standard_library_caller_is_seen_under_either_stdlib_root(tmp_path: Path) -> None:
    """In a virtual environment stdlib and platstdlib differ; socket.py must be the caller's whatever their order."""
    import socket

    from torchkata.sandbox.audit import Watch

    watch = Watch(tmp_path / "modules.py", tmp_path, lambda what: None)
    for order in (watch.stdlib, tuple(reversed(watch.stdlib))):
        watch.stdlib = order
        assert watch._transparent(socket.__file__) and watch._transparent(os.__file__)
        assert not watch._transparent(pytest.__file__)


def _in_a_child(body) -> dict:
    """Run ``body()`` in a forked child; what it returns (a JSON-able dict) comes back through a pipe."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read)
            os.write(write, json.dumps(body()).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as handle:
        data = handle.read()
    os.waitpid(pid, 0)
    return json.loads(data or b"{}")


def _can_read(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            handle.read(1)
        return True
    except PermissionError:
        return False


def _can_list(folder: Path) -> bool:
    try:
        os.listdir(folder)
        return True
    except PermissionError:
        return False


@pytest.mark.skipif(landlock.abi_version() < 1, reason="this kernel has no Landlock")
def test_a_confined_child_reads_only_its_environment_and_run_and_loses_the_graders(tmp_path: Path) -> None:
    from torchkata.sandbox import confine

    course, run = tmp_path / "course", tmp_path / "run"
    for path in (course / "solutions" / "modules.py", run / "graders" / "hidden" / "test_modules.py",
                 run / "impl" / "modules.py", run / "scratch" / "note.txt"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x = 1\n")
    parent = os.getpid()

    def body() -> dict:
        layers = confine.confine(run, [run / "scratch"], [course])
        grader = run / "graders" / "hidden" / "test_modules.py"
        seen = {"layers": layers, "environ": _can_read(Path(f"/proc/{parent}/environ")),
                "own_status": _can_read(Path("/proc/self/status")), "stdlib": _can_read(Path(os.__file__)),
                "engine": _can_read(Path(confine.__file__)), "graders": _can_read(grader),
                "solutions": _can_read(course / "solutions" / "modules.py"), "tmp": _can_list(tmp_path)}
        seen["sealed"] = confine.seal_graders(run, run / "graders", [course])
        seen["graders_after"] = _can_read(grader)
        seen["impl_after"] = _can_read(run / "impl" / "modules.py")
        seen["scratch_after"] = _can_read(run / "scratch" / "note.txt")
        return seen

    seen = _in_a_child(body)
    assert seen["layers"]["reads"].startswith("only the environment"), seen
    assert seen["own_status"] and seen["stdlib"] and seen["engine"] and seen["graders"], seen
    assert not seen["environ"] and not seen["solutions"] and not seen["tmp"], seen
    assert seen["sealed"] == "unreadable once loaded (Landlock)" and not seen["graders_after"], seen
    assert seen["impl_after"] and seen["scratch_after"], seen


def test_a_child_in_its_own_network_namespace_reaches_only_its_own_loopback() -> None:
    import socket

    from torchkata.sandbox import confine

    with socket.create_server(("127.0.0.1", 0)) as outside:
        port = outside.getsockname()[1]

        def body() -> dict:
            made = confine.own_network_namespace()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=2).close()
                reached_outside = True
            except OSError:
                reached_outside = False
            with socket.create_server(("127.0.0.1", 0)) as inside:
                socket.create_connection(inside.getsockname(), timeout=2).close()
            return {"made": made, "reached_outside": reached_outside}

        seen = _in_a_child(body)
    if not seen.get("made"):
        pytest.skip("no network namespace can be made here (neither as root nor in a user namespace)")
    assert seen == {"made": "own network namespace: loopback only", "reached_outside": False}


def test_uid_nobody_only_where_every_needed_folder_can_be_entered(tmp_path: Path) -> None:
    """By the mode bits alone (as the kernel checks a uid without capabilities), owner, group or other."""
    from torchkata.sandbox.confine import unreachable_by

    closed, open_ = tmp_path / "closed", tmp_path / "open"
    for folder in (closed / "env", open_ / "env"):
        folder.mkdir(parents=True)
    closed.chmod(0o600)
    try:
        assert unreachable_by(os.getuid(), os.getgid(), [open_ / "env"]) is None
        assert unreachable_by(os.getuid(), os.getgid(), [open_ / "env", closed / "env"]) == closed
    finally:
        closed.chmod(0o700)


def test_the_layers_measured_in_the_children_reach_every_report(graded) -> None:
    from torchkata.sandbox.isolated import isolation_layers

    _, results = graded
    layers = results["solutions"].layers
    assert layers["measured"] and {"reads", "graders_after_load", "network", "uid", "capabilities"} <= set(layers)
    if landlock.abi_version() >= 1:
        assert layers["graders_after_load"] == "unreadable once loaded (Landlock)", layers
    text = layers_text(layers)
    assert text.count("\n") == 1 and f"graders: {layers['graders_after_load']}" in text
    mixed = isolation_layers(7, [{"uid": "dropped to 65534 (nobody)"}, {"uid": "kept root: /root"}])
    assert mixed["uid"] == "varied: dropped to 65534 (nobody) | kept root: /root"
    assert not isolation_layers(7, [])["measured"] and "\n" not in layers_text(isolation_layers(7, []))


@pytest.mark.skipif(landlock.abi_version() < 4, reason="Landlock confines TCP from ABI 4")
def test_without_a_namespace_landlock_keeps_tcp_to_ephemeral_ports() -> None:
    """The fallback where no network namespace can be made: gloo's ephemeral ports work, port 9 does not."""
    import socket

    from torchkata.sandbox.confine import ephemeral_ports

    def body() -> dict:
        landlock.restrict(tcp_ports=list(ephemeral_ports()))
        with socket.create_server(("127.0.0.1", 0)) as listener:
            socket.create_connection(listener.getsockname(), timeout=2).close()
        try:
            socket.create_connection(("127.0.0.1", 9), timeout=2).close()
            outcome = "connected"
        except PermissionError:
            outcome = "refused by Landlock"
        except OSError as error:
            outcome = type(error).__name__
        return {"port_9": outcome}

    assert _in_a_child(body) == {"port_9": "refused by Landlock"}
