"""The graders' kit: switch-offs and stand-ins are applied and undone, counts and hook snapshots are right,
the gloo ranks report payloads and every way a rank can fail."""

from __future__ import annotations

import textwrap
import types

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from torchkata import checks
from torchkata.checks import GradingError
from torchkata.graderkit import counting, forbid, hooks, ranks


def _library() -> types.ModuleType:
    """A stand-in for a library module, with two functions and a class."""
    library = types.ModuleType("library")

    def double(x):
        return 2 * x

    def square(x):
        return x * x

    class Layer:
        def forward(self, x):
            return x + 1

    library.double, library.square, library.Layer = double, square, Layer
    return library


def _student(library: types.ModuleType) -> types.ModuleType:
    """A chapter module that imported library.double under a name of its own."""
    student = types.ModuleType("student")
    student.twice = library.double
    student.helper = len
    return student


def _raised(fn, *args) -> tuple[str, str]:
    with pytest.raises(Exception) as caught:
        fn(*args)
    return type(caught.value).__name__, str(caught.value)


class Refused(RuntimeError):
    pass


# ---------------------------------------------------------------- forbid


def test_switched_off_refuses_each_target_by_its_label_and_restores_them():
    library = _library()
    double, square, forward = library.double, library.square, library.Layer.forward
    targets = [(library, "double", "lib.double"), (library, "square"), (library.Layer, "forward", "Layer.forward")]
    with forbid.switched_off(targets, "{name} is off limits here.", Refused):
        assert _raised(library.double, 1) == ("Refused", "lib.double is off limits here.")
        assert _raised(library.square, 1) == ("Refused", "library.square is off limits here.")
        assert _raised(library.Layer().forward, 1) == ("Refused", "Layer.forward is off limits here.")
    assert (library.double, library.square, library.Layer.forward) == (double, square, forward)
    assert library.Layer().forward(1) == 2


def test_switched_off_restores_after_an_error_in_the_block():
    library = _library()
    double = library.double
    with pytest.raises(KeyError), forbid.switched_off([(library, "double")], "off"):
        raise KeyError("inside")
    assert library.double is double


def test_aliases_in_the_student_module_are_refused_too_and_restored():
    library = _library()
    student = _student(library)
    with forbid.switched_off([(library, "double", "lib.double")], "{name} is off.", aliases_in=student):
        assert _raised(student.twice, 1) == ("RuntimeError", "lib.double is off.")
        assert student.helper is len
    assert student.twice is library.double and student.twice(2) == 4


def test_without_aliases_in_a_student_alias_keeps_working():
    library = _library()
    student = _student(library)
    with forbid.switched_off([(library, "double")], "off"):
        assert student.twice(3) == 6


def test_an_alias_of_an_object_under_two_targets_takes_the_last_label():
    library, other = _library(), types.ModuleType("other")
    other.double = library.double
    student = _student(library)
    targets = [(library, "double", "first.double"), (other, "double", "second.double")]
    with forbid.switched_off(targets, "{name}", aliases_in=student):
        assert _raised(student.twice, 1) == ("RuntimeError", "second.double")
        assert _raised(library.double, 1) == ("RuntimeError", "first.double")


def test_a_missing_target_is_an_error_unless_skipped():
    library = _library()
    double = library.double
    with pytest.raises(AttributeError, match="absent"):
        forbid.switched_off([(library, "double"), (library, "absent")], "off")
    assert library.double is double
    with forbid.switched_off([(library, "double"), (library, "absent")], "off", skip_missing=True):
        assert not hasattr(library, "absent")
        assert _raised(library.double, 1)[0] == "RuntimeError"


def test_bad_targets_and_messages_are_clear_errors_that_patch_nothing():
    library = _library()
    double = library.double
    with pytest.raises(TypeError, match=r"a target is \(owner, attribute name\).*got \(<module 'library'>,\)"):
        forbid.switched_off([(library, "double"), (library,)], "off")
    with pytest.raises(ValueError, match=r"the message '\{what\} is off' may hold no placeholder but \{name\}"):
        forbid.switched_off([(library, "double")], "{what} is off")
    assert library.double is double


def test_every_pairs_each_owner_with_each_name_owners_outer():
    first, second = types.ModuleType("first"), types.ModuleType("second")
    assert [tuple(target[:2]) for target in forbid.every([first, second], ("a", "b"))] == [
        (first, "a"), (first, "b"), (second, "a"), (second, "b"),
    ]


def test_switch_off_lasts_until_monkeypatch_undoes_it():
    library = _library()
    student = _student(library)
    double = library.double
    patch = pytest.MonkeyPatch()
    forbid.switch_off(patch, [(library, "double")], "{name} is switched off", aliases_in=student)
    assert _raised(library.double, 1) == ("RuntimeError", "library.double is switched off")
    assert _raised(student.twice, 1) == ("RuntimeError", "library.double is switched off")
    patch.undo()
    assert library.double is double and student.twice is double


def test_replacements_put_any_stand_in_in_place():
    library = _library()
    student = _student(library)
    fake = object()
    with forbid.patched(forbid.replacements([(library, "double")], lambda label: fake, aliases_in=student)):
        assert library.double is fake and student.twice is fake
    assert student.twice is library.double


def test_switched_off_works_on_torch_functions_and_a_real_alias():
    student = types.ModuleType("student")
    student.relu = F.relu
    with forbid.switched_off([(F, "relu", "F.relu")], "{name} is off limits", aliases_in=student):
        assert _raised(F.relu, torch.ones(1)) == ("RuntimeError", "F.relu is off limits")
        assert _raised(student.relu, torch.ones(1)) == ("RuntimeError", "F.relu is off limits")
    assert student.relu is F.relu and F.relu(torch.tensor([-1.0])).item() == 0.0


# ---------------------------------------------------------------- counting


def _rowwise(x: torch.Tensor) -> torch.Tensor:
    return torch.stack([row.sum() for row in x])


def test_torch_calls_grow_with_a_python_loop_and_not_without():
    small, large = torch.randn(3, 4), torch.randn(30, 4)
    assert counting.torch_calls(torch.sum, small, dim=1) == counting.torch_calls(torch.sum, large, dim=1) == 1
    assert counting.torch_calls(_rowwise, large) > counting.torch_calls(_rowwise, small) + 20


def test_torch_calls_counts_tensor_methods_and_stops_counting_after():
    counter = counting.TorchCallCounter()
    x = torch.ones(2)
    with counter:
        (x + 1).mul(2).sum()
    calls = counter.calls
    assert calls == 3
    x + 1
    assert counter.calls == calls


# ---------------------------------------------------------------- hooks


def test_hook_counts_count_module_parameter_and_global_hooks():
    model = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
    assert not any(hooks.hook_counts(model).values())
    handles = [
        model[0].register_forward_hook(lambda module, inputs, output: None),
        model[0].weight.register_hook(lambda grad: grad),
        nn.modules.module.register_module_forward_pre_hook(lambda module, inputs: None),
    ]
    try:
        left = {where: count for where, count in hooks.hook_counts(model).items() if count}
        assert left == {
            "0._forward_hooks": 1, "parameter 0.weight (tensor hooks)": 1, "global _global_forward_pre_hooks": 1,
        }
    finally:
        for handle in handles:
            handle.remove()
    assert not any(hooks.hook_counts(model).values())


def test_new_hooks_name_the_registries_that_gained_a_hook():
    model = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
    before = hooks.hook_keys(model)
    handle = model[1].register_forward_hook(lambda module, inputs, output: None)
    assert hooks.new_hooks(before, model) == ["1._forward_hooks"]
    handle.remove()
    assert hooks.new_hooks(before, model) == []


def test_new_hooks_allow_fewer_hooks_and_flag_a_patched_forward():
    model = nn.Sequential(nn.Linear(2, 2))
    model[0].register_forward_pre_hook(lambda module, inputs: None).remove()
    own = model.register_forward_hook(lambda module, inputs, output: None)
    before = hooks.hook_keys(model)
    own.remove()
    assert hooks.new_hooks(before, model) == []
    model[0].forward = lambda x: x
    assert hooks.new_hooks(before, model) == ["0.forward attribute"]


# ---------------------------------------------------------------- ranks

needs_fork_gloo = pytest.mark.skipif(not ranks.can_fork_gloo(), reason=ranks.NEEDS_FORK_GLOO)


@pytest.fixture
def impl(tmp_path) -> types.ModuleType:
    """A chapter module on disk, as the ranks load it."""
    path = tmp_path / "chapter.py"
    path.write_text(textwrap.dedent('''
        import torch
        import torch.distributed as dist

        def total(value):
            tensor = torch.tensor([float(value)])
            dist.all_reduce(tensor)
            return tensor

        def todo():
            raise NotImplementedError("todo")
    '''))
    module = types.ModuleType("torchkata_impl_chapter")
    module.__file__ = str(path)
    return module


def _sum_of_ranks(module, rank, world_size):
    return {"rank": rank, "world_size": world_size, "module": module.__name__, "total": module.total(rank + 1)}


@needs_fork_gloo
def test_run_ranks_returns_every_rank_payload_after_a_collective(impl):
    results = ranks.run_ranks(impl, _sum_of_ranks, "total(rank + 1)", world_size=3)
    assert [r["rank"] for r in results] == [0, 1, 2]
    assert {r["world_size"] for r in results} == {3}
    assert {r["module"] for r in results} == {"torchkata_rank_impl_chapter"}
    assert all(torch.equal(r["total"], torch.tensor([6.0])) for r in results)


@needs_fork_gloo
def test_run_ranks_not_started_is_not_implemented(impl):
    with pytest.raises(NotImplementedError, match="todo"):
        ranks.run_ranks(impl, lambda module, rank, world_size: module.todo(), "todo()")


@needs_fork_gloo
def test_run_ranks_names_the_rank_that_raised(impl):
    def scenario(module, rank, world_size):
        if rank == 1:
            raise ValueError("bad shard")
        return rank

    with pytest.raises(GradingError) as caught:
        ranks.run_ranks(impl, scenario, "shard(...)")
    assert str(caught.value) == "shard(...) on 2 gloo processes failed: rank 1: ValueError: bad shard"


@needs_fork_gloo
def test_run_ranks_stops_a_hung_rank_at_the_deadline(impl):
    def scenario(module, rank, world_size):
        import time

        if rank == 1:
            time.sleep(30)
        return rank

    with pytest.raises(GradingError) as caught:
        ranks.run_ranks(impl, scenario, "step()", deadline_s=1.5)
    assert str(caught.value) == (
        "step() on 2 gloo processes failed: rank 1: no result within 1.5 s: the rank hung (stuck in a collective?)"
    )


@needs_fork_gloo
def test_run_ranks_reports_ranks_that_died_with_their_exit_codes(impl):
    def scenario(module, rank, world_size):
        import os
        import time

        time.sleep(0.5 * (1 - rank))  # rank 0 holds the rendezvous store: it leaves last
        os._exit(3 + rank)

    with pytest.raises(GradingError) as caught:
        ranks.run_ranks(impl, scenario, "step()")
    assert str(caught.value) == (
        "step() on 2 gloo processes failed: rank 0: the process died without a result (exit code 3); "
        "rank 1: the process died without a result (exit code 4)"
    )


@needs_fork_gloo
def test_run_ranks_words_failures_as_asked(impl):
    def hang(module, rank, world_size):
        import time

        if rank == 1:
            time.sleep(30)
        return rank

    def die(module, rank, world_size):
        import os
        import time

        time.sleep(0.5 * (1 - rank))
        os._exit(1)

    words = {"hung": "hung after {deadline_s:g} s", "died": "died"}
    with pytest.raises(GradingError, match=r"failed: rank 1: hung after 1 s$"):
        ranks.run_ranks(impl, hang, "step()", deadline_s=1, **words)
    with pytest.raises(GradingError, match=r"failed: rank 0: died; rank 1: died$"):
        ranks.run_ranks(impl, die, "step()", **words)


# ---------------------------------------------------------------- checks.gradcheck(fast_mode=True)


class _WrongBackward(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x**2

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * x  # should be 2 * x


def test_gradcheck_fast_mode_passes_a_right_gradient_and_fails_a_wrong_one():
    x = torch.randn(6, dtype=torch.float64, requires_grad=True)
    checks.gradcheck(lambda t: (t**2).sin(), (x,), "f(x)", fast_mode=True)
    with pytest.raises(GradingError, match=r"^Square.apply\(x\): gradients do not match finite differences \("):
        checks.gradcheck(_WrongBackward.apply, (x,), "Square.apply(x)", "d(x^2)/dx = 2x", fast_mode=True)


@pytest.mark.parametrize("second_order", [False, True])
@pytest.mark.parametrize("fast_mode", [False, True])
def test_gradcheck_hands_fast_mode_to_torch(monkeypatch, fast_mode, second_order):
    seen = {}

    def record(fn, inputs, **kwargs):
        seen.update(kwargs)
        return True

    monkeypatch.setattr(torch.autograd, "gradgradcheck" if second_order else "gradcheck", record)
    x = torch.randn(2, dtype=torch.float64, requires_grad=True)
    checks.gradcheck(torch.sin, (x,), "sin(x)", second_order=second_order, fast_mode=fast_mode)
    assert seen["fast_mode"] is fast_mode
