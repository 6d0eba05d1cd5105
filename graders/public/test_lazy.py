"""Public checks for chapter 06, lazy: shapes, materialised parameters, modes kept, no hook left behind.

The hidden checks add more models and inputs, several example inputs, gradients and bad arguments.
"""

import pytest
import torch
from torch import nn
from torch.nn.parameter import is_lazy

from torchkata import checks
from torchkata.graderkit import hooks


def _lazy_tensors(model: nn.Module) -> list[str]:
    """Names of the parameters and buffers that are still uninitialised."""
    named = [*model.named_parameters(), *model.named_buffers()]
    return [name for name, tensor in named if is_lazy(tensor)]


@pytest.mark.kata("LazyMLP")
@pytest.mark.points(1)
def test_lazy_mlp_output_shape(impl):
    model = checks.call("LazyMLP()", impl.LazyMLP)
    out = checks.call("LazyMLP()(x)", model, torch.randn(2, 20))
    checks.shape(
        out, (2, 10), "LazyMLP()(x) with x of shape (2, 20)",
        "The output layer needs out_features=10 outputs.",
    )


@pytest.mark.kata("materialize")
@pytest.mark.points(1)
def test_materialize_returns_the_initialised_model(impl):
    model = nn.Sequential(nn.LazyLinear(8), nn.ReLU(), nn.LazyLinear(3))
    call = "materialize(Sequential(LazyLinear(8), ReLU(), LazyLinear(3)), x) with x of shape (2, 5)"
    result = checks.call(call, impl.materialize, model, torch.randn(2, 5))
    checks.check(result is model, f"{call} returned {checks.describe(result)}; expected the model itself.")
    left = _lazy_tensors(model)
    checks.check(
        not left, f"after {call}, these tensors are still uninitialised: {left}.",
        "Run the model once on the example inputs: the first call gives lazy layers their shapes.",
    )
    checks.check(
        model.training,
        f"after {call} the model is in eval mode; expected train mode, as it was before the call.",
        "Remember each module's mode before the dry run and restore it afterwards (model.train(was_training)).",
    )


@pytest.mark.kata("lazy_parameter_count")
@pytest.mark.points(1)
def test_lazy_parameter_count_of_a_lazy_mlp(impl):
    model = nn.Sequential(nn.LazyLinear(8), nn.ReLU(), nn.LazyLinear(3))
    call = "lazy_parameter_count(Sequential(LazyLinear(8), ReLU(), LazyLinear(3)), x) with x of shape (2, 5)"
    count = checks.call(call, impl.lazy_parameter_count, model, torch.randn(2, 5))
    checks.check(isinstance(count, int), f"{call} returned {checks.describe(count)}; expected an int.")
    checks.equal(
        int(count), 5 * 8 + 8 + 8 * 3 + 3, call,
        "Uninitialised parameters have no size yet: run the dry run first, then count.",
    )


@pytest.mark.kata("output_shapes")
@pytest.mark.points(1)
def test_output_shapes_of_a_sequential(impl):
    model = nn.Sequential(nn.Linear(20, 8), nn.ReLU(), nn.Linear(8, 3))
    call = "output_shapes(Sequential(Linear(20, 8), ReLU(), Linear(8, 3)), (2, 20))"
    shapes = checks.call(call, impl.output_shapes, model, (2, 20))
    checks.check(
        isinstance(shapes, list) and all(isinstance(entry, tuple) and len(entry) == 2 for entry in shapes),
        f"{call} returned {checks.describe(shapes)}; expected a list of (name, shape) tuples.",
    )
    plain = checks.call(
        f"reading the shapes that {call} returned as tuples of ints",
        lambda: [(str(name), tuple(int(size) for size in shape)) for name, shape in shapes],
    )
    checks.equal(
        plain, [("0", (2, 8)), ("1", (2, 8)), ("2", (2, 3))], call,
        "One (qualified name, output shape) pair per leaf module, in the order they run.",
    )
    left = {where: count for where, count in hooks.hook_counts(model).items() if count}
    checks.check(
        not left, f"after {call}, hooks are still registered: {left}.",
        "Keep every handle that register_forward_hook returns and call handle.remove() in a finally block.",
    )


@pytest.mark.kata("LazyCNN")
@pytest.mark.points(1)
def test_lazy_cnn_output_shape(impl):
    model = checks.call("LazyCNN()", impl.LazyCNN)
    out = checks.call("LazyCNN()(x)", model, torch.randn(2, 1, 28, 28))
    checks.shape(out, (2, 10), "LazyCNN()(x) with x of shape (2, 1, 28, 28)")


@pytest.mark.kata("LazyCNN")
@pytest.mark.points(1)
def test_lazy_cnn_fits_32_by_32_inputs(impl):
    model = checks.call("LazyCNN()", impl.LazyCNN)
    out = checks.call("LazyCNN()(x) with x of shape (2, 1, 32, 32)", model, torch.randn(2, 1, 32, 32))
    checks.shape(
        out, (2, 10), "LazyCNN()(x) with x of shape (2, 1, 32, 32)",
        "A fresh LazyCNN learns its input sizes on the first call: make the head an nn.LazyLinear.",
    )
