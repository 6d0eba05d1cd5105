"""Public checks for chapter 03, modules: shapes, parameter counts and outputs computed from the layers.

The hidden checks add other sizes, registration order, gradients, every ConfigurableMLP option and bad arguments.
"""

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from torchkata import checks


@pytest.mark.kata("MLP")
@pytest.mark.points(1)
def test_mlp_output_shape(impl):
    model = checks.call("MLP()", impl.MLP)
    x = torch.randn(2, 20)
    out = checks.call("MLP()(x)", model, x)
    checks.shape(
        out, (2, 10), "MLP()(x) with x of shape (2, 20)", "Is the output layer missing or the wrong size?"
    )


@pytest.mark.kata("MLP")
@pytest.mark.points(1)
def test_mlp_parameter_count(impl):
    model = checks.call("MLP()", impl.MLP)
    checks.parameter_count(
        model, 20 * 256 + 256 + 256 * 10 + 10, "MLP()",
        "Linear(20, 256) and Linear(256, 10) hold 7,946 parameters; layers kept in a plain "
        "Python list are invisible to nn.Module.",
    )


@pytest.mark.kata("MLP")
@pytest.mark.points(1)
def test_mlp_values(impl):
    model = checks.call("MLP()", impl.MLP)
    w1 = checks.parameter_of_shape(model, (256, 20), "MLP()", allow_transposed=True)
    b1 = checks.parameter_of_shape(model, (256,), "MLP()")
    w2 = checks.parameter_of_shape(model, (10, 256), "MLP()", allow_transposed=True)
    b2 = checks.parameter_of_shape(model, (10,), "MLP()")
    x = torch.randn(3, 20)
    out = checks.call("MLP()(x)", model, x)
    with torch.no_grad():
        expected = F.relu(x @ w1.T + b1) @ w2.T + b2
    checks.close(
        out, expected, "MLP()(x) with x of shape (3, 20)", "Linear -> ReLU -> Linear: is the ReLU missing?",
        rtol=1e-4, atol=1e-5,
    )


@pytest.mark.kata("MySequential")
@pytest.mark.points(1)
def test_mysequential_state_dict_keys(impl):
    net = checks.call(
        "MySequential(Linear(20, 8), ReLU(), Linear(8, 4))",
        impl.MySequential, nn.Linear(20, 8), nn.ReLU(), nn.Linear(8, 4),
    )
    checks.keys(
        net, ["0.weight", "0.bias", "2.weight", "2.bias"],
        "MySequential(Linear(20, 8), ReLU(), Linear(8, 4))",
        "Register each module under its position with self.add_module(str(i), module).",
    )


@pytest.mark.kata("FixedHiddenMLP")
@pytest.mark.points(1)
def test_fixed_hidden_mlp_returns_scalar(impl):
    model = checks.call("FixedHiddenMLP()", impl.FixedHiddenMLP)
    out = checks.call("FixedHiddenMLP()(x)", model, torch.rand(2, 20))
    checks.shape(out, (), "FixedHiddenMLP()(x) with x of shape (2, 20)", "forward ends with X.sum().")


@pytest.mark.kata("FixedHiddenMLP")
@pytest.mark.points(1)
def test_fixed_hidden_mlp_trains_only_the_linear_layer(impl):
    model = checks.call("FixedHiddenMLP()", impl.FixedHiddenMLP)
    checks.parameter_count(
        model, 20 * 20 + 20, "FixedHiddenMLP()",
        "Only the Linear(20, 20) is trained: keep the constant weight as a buffer (register_buffer) or a "
        "plain tensor, not an nn.Parameter.",
    )


@pytest.mark.kata("NestMLP")
@pytest.mark.points(1)
def test_nest_mlp_output_shape(impl):
    model = checks.call("NestMLP()", impl.NestMLP)
    out = checks.call("NestMLP()(x)", model, torch.rand(2, 20))
    checks.shape(out, (2, 16), "NestMLP()(x) with x of shape (2, 20)")


@pytest.mark.kata("Parallel")
@pytest.mark.points(1)
def test_parallel_output_shape(impl):
    model = checks.call("Parallel(Linear(20, 5), Linear(20, 7))", impl.Parallel, nn.Linear(20, 5), nn.Linear(20, 7))
    out = checks.call("Parallel(...)(x)", model, torch.rand(2, 20))
    checks.shape(
        out, (2, 12), "Parallel(Linear(20, 5), Linear(20, 7))(x) with x of shape (2, 20)",
        "Concatenate along the last dimension (dim=-1), not the batch dimension.",
    )


@pytest.mark.kata("make_stack")
@pytest.mark.points(1)
def test_make_stack_length(impl):
    stack = checks.call("make_stack(lambda: nn.Linear(4, 4), 3)", impl.make_stack, lambda: nn.Linear(4, 4), 3)
    checks.check(
        isinstance(stack, nn.Sequential) and len(stack) == 3,
        f"make_stack(lambda: nn.Linear(4, 4), 3) returned {checks.describe(stack)}; "
        "expected an nn.Sequential of 3 modules.",
    )
    checks.parameter_count(
        stack, 3 * (4 * 4 + 4), "make_stack(lambda: nn.Linear(4, 4), 3)",
        "Call factory() once per layer: one instance repeated shares its parameters with itself.",
    )


@pytest.mark.kata("ConfigurableMLP")
@pytest.mark.points(1)
def test_configurable_mlp_shape(impl):
    model = checks.call("ConfigurableMLP(10, [32, 16], 3)", impl.ConfigurableMLP, 10, [32, 16], 3)
    out = checks.call("ConfigurableMLP(10, [32, 16], 3)(x)", model, torch.randn(4, 10))
    checks.shape(out, (4, 3), "ConfigurableMLP(10, [32, 16], 3)(x) with x of shape (4, 10)")


@pytest.mark.kata("ResidualBlock")
@pytest.mark.points(1)
def test_residual_block_shape(impl):
    block = checks.call("ResidualBlock(3)", impl.ResidualBlock, 3)
    out = checks.call("ResidualBlock(3)(x)", block, torch.randn(2, 3, 8, 8))
    checks.shape(
        out, (2, 3, 8, 8), "ResidualBlock(3)(x) with x of shape (2, 3, 8, 8)",
        "Both 3x3 convolutions need padding=1 to keep the height and width.",
    )


@pytest.mark.kata("ResidualBlock")
@pytest.mark.points(1)
def test_residual_block_values(impl):
    block = checks.call("ResidualBlock(3)", impl.ResidualBlock, 3)
    convs = checks.submodules(block, nn.Conv2d)
    checks.check(
        len(convs) == 2,
        f"ResidualBlock(3) holds {len(convs)} nn.Conv2d modules; expected two 3x3 convolutions.",
    )
    x = torch.randn(2, 3, 8, 8)
    out = checks.call("ResidualBlock(3)(x)", block, x)
    with torch.no_grad():
        expected = x + convs[1](F.relu(convs[0](x)))
    checks.close(
        out, expected, "ResidualBlock(3)(x) with x of shape (2, 3, 8, 8)",
        "Expected X + conv2(relu(conv1(X))): is the skip connection (+ X) missing?", rtol=1e-4, atol=1e-5,
    )
