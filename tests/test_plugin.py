"""The grader plugin through pytester: --impl, markers, messages, failures that stay per chapter."""

from __future__ import annotations

import textwrap

import numpy  # noqa: F401  (imported once here: pytester's inline runs drop modules they import)
import pytest
import torch  # noqa: F401

from torchkata.grading.recorder import Recorder

GRADER = textwrap.dedent(
    """
    import pytest

    @pytest.mark.kata("add")
    @pytest.mark.points(2)
    def test_add(impl):
        assert impl.add(2, 3) == 5, f"add(2, 3) returned {impl.add(2, 3)!r}; expected 5."

    @pytest.mark.kata("add")
    def test_add_negative(impl):
        assert impl.add(-1, 1) == 0
    """
)

OTHER_GRADER = textwrap.dedent(
    """
    import pytest

    @pytest.mark.kata("name")
    @pytest.mark.points(1)
    def test_name(impl):
        assert impl.name() == "kata"
    """
)


@pytest.fixture
def course(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(**{"graders/public/test_arith": GRADER, "graders/hidden/test_words": OTHER_GRADER})
    pytester.makepyfile(**{"good/arith": "def add(a, b):\n    return a + b\n"})
    pytester.makepyfile(**{"good/words": "def name():\n    return 'kata'\n"})
    return pytester


def _outcomes(pytester: pytest.Pytester, *args: str) -> dict[str, tuple[bool, str, float]]:
    recorder = Recorder()
    pytester.inline_run("graders", "--import-mode=importlib", *args, plugins=[recorder])
    return {o.test: (o.passed, o.message, o.points) for o in recorder.outcomes()}


def test_impl_option_loads_the_chapter_module_from_the_directory(course):
    result = course.runpytest_subprocess("graders", "--impl", "good", "--import-mode=importlib")
    result.assert_outcomes(passed=3)


def test_markers_give_kata_points_and_visibility(course):
    outcomes = _outcomes(course, "--impl=good")
    assert outcomes == {
        "public/test_arith.py::test_add": (True, "", 2.0),
        "public/test_arith.py::test_add_negative": (True, "", 1.0),
        "hidden/test_words.py::test_name": (True, "", 1.0),
    }


def test_missing_module_fails_its_chapter_only_with_one_clear_message(course):
    course.makepyfile(**{"partial/words": "def name():\n    return 'kata'\n"})
    outcomes = _outcomes(course, "--impl=partial")
    assert outcomes["hidden/test_words.py::test_name"][0] is True
    for test in ("public/test_arith.py::test_add", "public/test_arith.py::test_add_negative"):
        passed, message, _ = outcomes[test]
        assert not passed
        assert "arith.py was not found" in message and "named arith.py" in message


def test_syntax_error_names_the_line(course):
    course.makepyfile(**{"broken/arith": "def add(a, b):\n    return a +\n", "broken/words": "def name(): return 'x'"})
    outcomes = _outcomes(course, "--impl=broken")
    passed, message, _ = outcomes["public/test_arith.py::test_add"]
    assert not passed
    assert "SyntaxError" in message and "arith.py:2" in message


def test_import_error_names_the_exception_and_line(course):
    course.makepyfile(**{"crash/arith": "X = 1\nraise RuntimeError('boom at import')\n"})
    passed, message, _ = _outcomes(course, "--impl=crash")["public/test_arith.py::test_add"]
    assert not passed
    assert "RuntimeError: boom at import" in message and "arith.py:2" in message


def test_not_implemented_reads_as_not_started(course):
    course.makepyfile(**{"stub/arith": "def add(a, b):\n    raise NotImplementedError('add: not written yet')\n"})
    passed, message, _ = _outcomes(course, "--impl=stub")["public/test_arith.py::test_add"]
    assert (passed, message) == (False, "not started: add: not written yet")


def test_missing_name_is_explained(course):
    course.makepyfile(**{"empty/arith": "VALUE = 1\n"})
    passed, message, _ = _outcomes(course, "--impl=empty")["public/test_arith.py::test_add"]
    assert not passed
    assert message.startswith("arith.py defines no 'add'")


def test_skip_raised_during_a_test_counts_as_failed(course):
    course.makepyfile(**{"skipper/arith": "import pytest\ndef add(a, b):\n    pytest.skip('no thanks')\n"})
    passed, message, _ = _outcomes(course, "--impl=skipper")["public/test_arith.py::test_add"]
    assert not passed and "skipped" in message


def test_skipif_marker_makes_a_test_not_applicable(pytester):
    pytester.makepyfile(
        **{
            "graders/public/test_arith": GRADER
            + '\n@pytest.mark.skipif(True, reason="needs CUDA")\n@pytest.mark.kata("add")\n'
            "def test_add_cuda(impl):\n    assert False\n",
            "good/arith": "def add(a, b):\n    return a + b\n",
        }
    )
    recorder = Recorder()
    pytester.inline_run("graders", "--import-mode=importlib", "--impl=good", plugins=[recorder])
    skipped = [o for o in recorder.outcomes() if o.not_applicable]
    assert [(o.test, o.not_applicable) for o in skipped] == [("public/test_arith.py::test_add_cuda", "needs CUDA")]
    assert all(o.passed for o in recorder.outcomes() if not o.not_applicable)


def test_points_without_kata_is_a_usage_error(pytester):
    pytester.makepyfile(
        **{"graders/public/test_arith": "import pytest\n\n@pytest.mark.points(1)\ndef test_x(impl):\n    pass\n"}
    )
    result = pytester.runpytest_subprocess("graders", "--import-mode=importlib")
    result.stderr.fnmatch_lines(["*has a points marker but names no kata*"])
    assert result.ret != 0


def test_impl_fixture_outside_a_grader_file_is_refused(pytester):
    pytester.makepyfile(**{"graders/public/check_things": "def test_x(impl):\n    pass\n"})
    result = pytester.runpytest_subprocess("graders/public/check_things.py", "--import-mode=importlib")
    result.stdout.fnmatch_lines(["*only for grader files named test_<slug>.py*"])


def test_kata_option_keeps_only_that_katas_tests(course):
    outcomes = _outcomes(course, "--impl=good", "--kata=name")
    assert list(outcomes) == ["hidden/test_words.py::test_name"]
