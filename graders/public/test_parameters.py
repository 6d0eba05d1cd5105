"""Public checks for chapter 04, parameters: counts, table rows, tied weights, frozen flags, norms.

The hidden checks add more models, trainable-only counts, gradients through the tied layer and bad arguments.
"""

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from torchkata import checks


@pytest.mark.kata("count_parameters")
@pytest.mark.points(1)
def test_count_parameters_linear_and_batch_norm(impl):
    model = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6))
    count = checks.call("count_parameters(Sequential(Linear(4, 6), BatchNorm1d(6)))", impl.count_parameters, model)
    checks.equal(
        count, 4 * 6 + 6 + 6 + 6, "count_parameters(Sequential(Linear(4, 6), BatchNorm1d(6)))",
        "Linear(4, 6) holds 30 numbers and BatchNorm1d(6) a weight and a bias of 6 each; its running "
        "statistics are buffers, not parameters.",
    )


@pytest.mark.kata("count_parameters")
@pytest.mark.points(1)
def test_count_parameters_counts_a_shared_weight_once(impl):
    encoder, decoder = nn.Linear(4, 4), nn.Linear(4, 4)
    decoder.weight = encoder.weight  # weight tying: one Parameter in two modules
    model = nn.Sequential(encoder, nn.Tanh(), decoder)
    call = "count_parameters(Sequential(encoder, Tanh(), decoder)) with decoder.weight = encoder.weight"
    count = checks.call(call, impl.count_parameters, model)
    checks.equal(
        count, 4 * 4 + 4 + 4, call,
        "A tied weight is one Parameter: count it once (model.parameters() already skips repeats).",
    )


@pytest.mark.kata("count_parameters")
@pytest.mark.points(1)
def test_count_parameters_trainable_only(impl):
    model = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 2))
    model[0].weight.requires_grad_(False)
    call = "count_parameters(Sequential(Linear(4, 6), ReLU(), Linear(6, 2)), trainable_only=True), first weight frozen"
    count = checks.call(call, impl.count_parameters, model, trainable_only=True)
    checks.equal(count, 6 + 6 * 2 + 2, call, "With trainable_only, count only the parameters with requires_grad=True.")


@pytest.mark.kata("parameter_table")
@pytest.mark.points(1)
def test_parameter_table_of_a_linear_layer(impl):
    layer = nn.Linear(3, 2)
    table = checks.call("parameter_table(Linear(3, 2))", impl.parameter_table, layer)
    if isinstance(table, list):  # a row may be any tuple, a namedtuple too; its items are still checked
        table = [tuple(row) if isinstance(row, tuple) else row for row in table]
    checks.equal(
        table, [("weight", (2, 3), 6, True), ("bias", (2,), 2, True)], "parameter_table(Linear(3, 2))",
        "One tuple (name, shape, numel, requires_grad) per parameter, in named_parameters() order.",
    )


@pytest.mark.kata("TiedMLP")
@pytest.mark.points(1)
def test_tied_mlp_output_shape(impl):
    model = checks.call("TiedMLP()", impl.TiedMLP)
    out = checks.call("TiedMLP()(x)", model, torch.randn(3, 4))
    checks.shape(out, (3, 1), "TiedMLP()(x) with x of shape (3, 4)", "The last layer is Linear(dim, 1).")


@pytest.mark.kata("TiedMLP")
@pytest.mark.points(1)
def test_tied_mlp_parameter_count(impl):
    model = checks.call("TiedMLP()", impl.TiedMLP)
    checks.parameter_count(
        model, 4 * 8 + 8 + 8 * 8 + 8 + 8 + 1, "TiedMLP()",
        "Linear(4, 8), one shared Linear(8, 8) and Linear(8, 1) hold 121 parameters; a second "
        "Linear(8, 8) would add 72 more.",
    )


@pytest.mark.kata("TiedMLP")
@pytest.mark.points(1)
def test_tied_mlp_applies_the_shared_layer_twice(impl):
    model = checks.call("TiedMLP()", impl.TiedMLP)
    first = checks.parameter_of_shape(model, (8, 4), "TiedMLP()", allow_transposed=True)
    shared = checks.parameter_of_shape(model, (8, 8), "TiedMLP()")
    last = checks.parameter_of_shape(model, (1, 8), "TiedMLP()", allow_transposed=True)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 1:
                p.zero_()  # with every bias 0, the output depends only on the three weights
    x = torch.randn(5, 4)
    out = checks.call("TiedMLP()(x)", model, x)
    with torch.no_grad():
        hidden = F.relu(x @ first.T)
        expected = F.relu(F.relu(hidden @ shared.T) @ shared.T) @ last.T
    checks.close(
        out, expected, "TiedMLP()(x) with x of shape (5, 4) and every bias set to 0",
        "Linear(4, 8), ReLU, the shared layer, ReLU, the same shared layer again, ReLU, Linear(8, 1).",
        rtol=1e-4, atol=1e-5,
    )


@pytest.mark.kata("freeze_")
@pytest.mark.points(1)
def test_freeze_first_layer(impl):
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    call = "freeze_(Sequential(Linear(3, 4), ReLU(), Linear(4, 2)), ['0.'])"
    frozen = checks.call(call, impl.freeze_, net, ["0."])
    checks.equal(frozen, 2, call, "Two tensors match the prefix '0.': 0.weight and 0.bias.")
    flags = {name: p.requires_grad for name, p in net.named_parameters()}
    checks.equal(
        flags, {"0.weight": False, "0.bias": False, "2.weight": True, "2.bias": True},
        f"requires_grad of each parameter after {call}",
        "Set requires_grad on the Parameter objects themselves: p.requires_grad_(False).",
    )


@pytest.mark.kata("grad_norms")
@pytest.mark.points(1)
def test_grad_norms_of_a_linear_layer(impl):
    layer = nn.Linear(3, 2)
    (layer(torch.randn(5, 3)) * 3).sum().backward()
    expected = {name: torch.linalg.vector_norm(p.grad) for name, p in layer.named_parameters()}
    norms = checks.call("grad_norms(Linear(3, 2))", impl.grad_norms, layer)
    checks.check(
        isinstance(norms, dict) and set(norms) == {"weight", "bias"},
        f"grad_norms(Linear(3, 2)) returned {checks.describe(norms)}; expected a dict with keys 'weight' and 'bias'.",
    )
    for name, want in expected.items():
        value = norms[name]
        checks.check(
            isinstance(value, float),
            f"grad_norms(Linear(3, 2))[{name!r}] is {checks.describe(value)}; expected a Python float.",
            "Turn the 0-dimensional norm tensor into a number with .item().",
        )
        checks.close(
            torch.tensor(value), want, f"grad_norms(Linear(3, 2))[{name!r}]",
            "Take the norm of p.grad, not of the parameter p.", rtol=1e-5,
        )
