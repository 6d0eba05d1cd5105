"""The assertion helpers fail with messages that name the call, the result and the expectation."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from torchkata import checks
from torchkata.checks import GradingError


def _message(fn, *args, **kwargs) -> str:
    with pytest.raises(GradingError) as caught:
        fn(*args, **kwargs)
    return str(caught.value)


def test_shape_message_names_call_both_shapes_and_hint():
    text = _message(
        checks.shape, torch.zeros(2, 256), (2, 10), "MLP()(x) with x of shape (2, 20)", "Is the output layer missing?"
    )
    assert text == (
        "MLP()(x) with x of shape (2, 20) returned shape (2, 256); expected (2, 10).\nIs the output layer missing?"
    )


def test_non_tensor_results_are_described():
    assert _message(checks.shape, [1, 2], (2,), "f(x)") == "f(x) returned [1, 2]; expected a torch.Tensor."


def test_dtype_and_device():
    assert "returned dtype torch.int64; expected torch.float32" in _message(
        checks.dtype, torch.zeros(2, dtype=torch.long), torch.float32, "one_hot(labels, 3)"
    )
    assert "on meta; expected it on cpu" in _message(checks.device, torch.zeros(2, device="meta"), "cpu", "f(x)")
    checks.device(torch.zeros(1), torch.device("cpu"), "f(x)")


def test_close_reports_the_worst_entry():
    got = torch.tensor([[1.0, 2.0], [3.0, 4.5]])
    text = _message(checks.close, got, torch.tensor([[1.0, 2.0], [3.0, 4.0]]), "f(x)")
    assert "largest error 0.5 at index (1, 1), got 4.5, expected 4" in text


def test_close_flags_nan_and_dtype_and_passes_within_tolerance():
    assert "returned nan at index (1,)" in _message(
        checks.close, torch.tensor([0.0, float("nan")]), torch.tensor([0.0, 1.0]), "standardize(x, 0)"
    )
    assert "dtype torch.float64; expected torch.float32" in _message(
        checks.close, torch.zeros(2, dtype=torch.float64), torch.zeros(2), "f(x)"
    )
    checks.close(torch.tensor([1.0 + 1e-7]), torch.tensor([1.0]), "f(x)")


def test_close_counts_integer_mismatches():
    text = _message(checks.close, torch.tensor([1, 2, 3]), torch.tensor([1, 0, 0]), "f(x)")
    assert "2 of 3 entries differ; at index (1,) got 2, expected 0" in text


def test_call_wraps_crashes_but_lets_not_implemented_through():
    def crash():
        raise RuntimeError("mat1 and mat2 shapes cannot be multiplied")

    assert _message(checks.call, "MLP()(x)", crash) == (
        "MLP()(x) raised RuntimeError: mat1 and mat2 shapes cannot be multiplied"
    )
    with pytest.raises(NotImplementedError):
        checks.call("stub()", lambda: (_ for _ in ()).throw(NotImplementedError("stub")))
    assert checks.call("add", lambda a, b: a + b, 1, b=2) == 3


def test_raises():
    assert isinstance(checks.raises(ValueError, lambda: int("x"), "int('x')"), ValueError)
    assert "returned 3; expected it to raise ValueError" in _message(checks.raises, ValueError, lambda: 3, "f()")
    assert "raised KeyError: 'k'; expected ValueError or TypeError" in _message(
        checks.raises, (ValueError, TypeError), lambda: {}["k"], "f()"
    )


def test_parameter_count_counts_shared_parameters_once():
    shared = nn.Linear(3, 3)
    checks.parameter_count(nn.Sequential(shared, shared), 12, "tied")
    assert "has 12 parameters; expected 24" in _message(checks.parameter_count, nn.Sequential(shared, shared), 24, "t")


def test_parameter_of_shape_and_submodules():
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    assert checks.parameter_of_shape(model, (3, 4), "m") is model[0].weight
    assert "found 0 among its parameter shapes" in _message(checks.parameter_of_shape, model, (9, 9), "m")
    assert checks.submodules(model, nn.Linear) == [model[0], model[2]]


def test_same_objects_and_keys():
    a, b = nn.Parameter(torch.zeros(1)), nn.Parameter(torch.zeros(1))
    checks.same_objects([a, b], [a, b], "init_(m)")
    assert "1 of 2 parameter objects were replaced" in _message(checks.same_objects, [a, b], [a, a], "init_(m)")
    text = _message(checks.keys, nn.Linear(2, 2), ["0.weight", "weight"], "MySequential(...)")
    assert "missing ['0.weight']" in text and "unexpected ['bias']" in text


def test_gradcheck_explains_a_wrong_backward():
    class Wrong(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            return grad * x

    x = torch.randn(3, dtype=torch.float64, requires_grad=True)
    checks.gradcheck(lambda t: t * t, (x,), "square(x)")
    assert "gradients do not match finite differences" in _message(checks.gradcheck, Wrong.apply, (x,), "Square")


def test_equal_refuses_values_with_a_rigged_eq():
    class AlwaysEqual(int):
        def __eq__(self, other):
            return True

        def __ne__(self, other):
            return False

    assert "holds a AlwaysEqual" in _message(checks.equal, AlwaysEqual(3), 7946, "count_parameters(m)")
    assert "holds a AlwaysEqual" in _message(checks.equal, [AlwaysEqual(1)], [2], "f()")
    assert "returned True; expected 1" in _message(checks.equal, True, 1, "f()")
    checks.equal({"a": (1, 2.5, None)}, {"a": (1, 2.5, None)}, "f()")
    checks.equal(torch.Size([2, 3]), torch.Size([2, 3]), "x.shape")


def test_tensor_subclasses_cannot_rig_comparisons():
    class Agreeable(torch.Tensor):
        @classmethod
        def __torch_function__(cls, func, types, args=(), kwargs=None):
            if func in (torch.equal, torch.allclose):
                return True
            return super().__torch_function__(func, types, args, kwargs or {})

    fake = torch.zeros(3).as_subclass(Agreeable)
    assert "returned a Agreeable; expected a plain torch.Tensor" in _message(checks.close, fake, torch.ones(3), "f(x)")
    checks.close(nn.Parameter(torch.ones(3)), torch.ones(3), "layer.weight")


def test_descriptions_do_not_change_between_runs():
    class Opaque:
        pass

    assert checks.describe(Opaque()) == "a Opaque object"
    assert checks.describe(nn.ReLU()) == "a ReLU module"
    assert checks.describe("x" * 100).endswith("...") and len(checks.describe("x" * 100)) == 80
