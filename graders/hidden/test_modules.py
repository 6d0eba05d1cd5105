"""Hidden checks for chapter 03, modules: values against independent computations, gradients."""

import itertools

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from torchkata import checks
from torchkata.graderkit import differential


class AddOne(nn.Module):
    def forward(self, x):
        return x + 1


class Double(nn.Module):
    def forward(self, x):
        return x * 2


def _grads_reach_every_parameter(model: nn.Module, out: torch.Tensor, call: str) -> None:
    checks.tensor(out, call)
    checks.check(isinstance(model, nn.Module) and any(True for _ in model.parameters()),
                 f"{call.split('(x)')[0]} is {checks.describe(model)}; expected an nn.Module with parameters.")
    out.sum().backward()
    missing = [name for name, p in model.named_parameters() if p.grad is None]
    checks.check(
        not missing, f"after {call}.sum().backward(), these parameters got no gradient: {missing}."
    )


@pytest.mark.kata("MLP")
@pytest.mark.points(2)
def test_mlp_matches_linear_relu_linear(impl):
    model = checks.call("MLP(5, 7, 3)", impl.MLP, 5, 7, 3)
    x = torch.randn(4, 5)
    w1 = checks.parameter_of_shape(model, (7, 5), "MLP(5, 7, 3)", allow_transposed=True)
    b1 = checks.parameter_of_shape(model, (7,), "MLP(5, 7, 3)")
    w2 = checks.parameter_of_shape(model, (3, 7), "MLP(5, 7, 3)", allow_transposed=True)
    b2 = checks.parameter_of_shape(model, (3,), "MLP(5, 7, 3)")
    expected = torch.relu(x @ w1.T + b1) @ w2.T + b2
    out = checks.call("MLP(5, 7, 3)(x)", model, x)
    checks.close(
        out, expected, "MLP(5, 7, 3)(x) with x of shape (4, 5)",
        "Expected Linear -> ReLU -> Linear returning logits: is the ReLU missing, or a softmax added?",
        rtol=1e-4, atol=1e-5,
    )


@pytest.mark.kata("MLP")
@pytest.mark.points(1)
def test_mlp_gradients_reach_both_layers(impl):
    model = checks.call("MLP()", impl.MLP)
    out = checks.call("MLP()(x)", model, torch.randn(3, 20))
    _grads_reach_every_parameter(model, out, "MLP()(x)")
    checks.check(
        len(list(model.parameters())) == 4,
        f"MLP() has {len(list(model.parameters()))} parameter tensors; expected 4 "
        "(weight and bias of two Linear layers).",
    )


@pytest.mark.kata("MySequential")
@pytest.mark.points(2)
def test_mysequential_applies_modules_in_order(impl):
    net = checks.call("MySequential(AddOne(), Double())", impl.MySequential, AddOne(), Double())
    x = torch.arange(4.0)
    out = checks.call("MySequential(AddOne(), Double())(x)", net, x)
    checks.close(
        out, (x + 1) * 2, "MySequential(AddOne(), Double())(x) with x = [0, 1, 2, 3]",
        "The modules must run in the order they were given: AddOne first, then Double.",
    )


@pytest.mark.kata("MySequential")
@pytest.mark.points(1)
def test_mysequential_registers_children(impl):
    layers = [nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 4), nn.Tanh(), nn.Linear(4, 2)]
    net = checks.call("MySequential(5 modules)", impl.MySequential, *layers)
    children = list(net.children())
    checks.check(
        len(children) == 5 and all(a is b for a, b in zip(children, layers, strict=True)),
        f"MySequential(5 modules).children() gave {len(children)} modules; expected the 5 given "
        "modules, in order.",
        "Keep the modules as registered children, not in a Python list.",
    )
    checks.parameter_count(net, 6 * 5 + 5 + 5 * 4 + 4 + 4 * 2 + 2, "MySequential(5 modules)")
    x = torch.randn(3, 6)
    out = checks.call("MySequential(5 modules)(x)", net, x)
    checks.close(out, layers[4](torch.tanh(layers[2](torch.relu(layers[0](x))))), "MySequential(5 modules)(x)")
    converted = net.to(torch.float64)
    checks.check(
        all(p.dtype == torch.float64 for p in layers[0].parameters()),
        "MySequential(...).to(torch.float64) left the first layer in float32: "
        "the modules are not registered as children.",
    )
    checks.check(converted is net, "MySequential(...).to(...) should return the module itself.")


@pytest.mark.kata("FixedHiddenMLP")
@pytest.mark.points(2)
def test_fixed_hidden_mlp_constant_is_not_a_parameter(impl):
    model = checks.call("FixedHiddenMLP()", impl.FixedHiddenMLP)
    shapes = sorted(tuple(p.shape) for p in model.parameters())
    checks.check(
        shapes == [(20,), (20, 20)],
        f"FixedHiddenMLP() has parameters of shapes {shapes}; expected only those of one "
        "Linear(20, 20): [(20,), (20, 20)].",
        "The constant random weight must not be an nn.Parameter (use a tensor with "
        "requires_grad=False or a buffer), and the Linear layer is used twice, not duplicated.",
    )


def _constant_weight(model: nn.Module) -> torch.Tensor:
    parameters = {id(p) for p in model.parameters()}
    candidates = [t for t in model.buffers() if tuple(t.shape) == (20, 20)]
    candidates += [
        value for value in vars(model).values()
        if isinstance(value, torch.Tensor) and tuple(value.shape) == (20, 20) and id(value) not in parameters
    ]
    checks.check(
        len(candidates) >= 1,
        "FixedHiddenMLP() holds no (20, 20) constant tensor as a buffer or attribute.",
        "Keep the constant weight on the module, e.g. self.rand_weight = torch.rand(20, 20).",
    )
    return candidates[0]


@pytest.mark.kata("FixedHiddenMLP")
@pytest.mark.points(2)
def test_fixed_hidden_mlp_matches_reference(impl):
    model = checks.call("FixedHiddenMLP()", impl.FixedHiddenMLP)
    constant = _constant_weight(model)
    weight = checks.parameter_of_shape(model, (20, 20), "FixedHiddenMLP()")
    bias = checks.parameter_of_shape(model, (20,), "FixedHiddenMLP()")
    x = torch.rand(2, 20)
    with torch.no_grad():
        h = x @ weight.T + bias
        h = torch.relu(h @ constant + 1)
        h = h @ weight.T + bias
        while h.abs().sum() > 1:
            h = h / 2
        expected = h.sum()
    out = checks.call("FixedHiddenMLP()(x)", model, x)
    checks.close(
        out, expected, "FixedHiddenMLP()(x) with x of shape (2, 20)",
        "linear, relu(X @ W + 1), the same linear again, halve while abs().sum() > 1, sum.",
        rtol=1e-4, atol=1e-6,
    )


@pytest.mark.kata("FixedHiddenMLP")
@pytest.mark.points(1)
def test_fixed_hidden_mlp_constant_gets_no_gradient(impl):
    model = checks.call("FixedHiddenMLP()", impl.FixedHiddenMLP)
    constant = _constant_weight(model)
    out = checks.call("FixedHiddenMLP()(x)", model, torch.rand(2, 20))
    out.backward()
    checks.check(
        not constant.requires_grad and constant.grad is None,
        "after FixedHiddenMLP()(x).backward(), the constant weight has requires_grad="
        f"{constant.requires_grad}; expected a constant that gets no gradient.",
    )
    checks.check(
        all(p.grad is not None for p in model.parameters()),
        "after FixedHiddenMLP()(x).backward() the Linear layer got no gradient.",
    )


@pytest.mark.kata("NestMLP")
@pytest.mark.points(2)
def test_nest_mlp_matches_reference(impl):
    model = checks.call("NestMLP()", impl.NestMLP)
    call = "NestMLP()"
    checks.parameter_count(model, 20 * 64 + 64 + 64 * 32 + 32 + 32 * 16 + 16, call)
    shapes = [(64, 20), (64,), (32, 64), (32,), (16, 32), (16,)]
    p = {shape: checks.parameter_of_shape(model, shape, call, allow_transposed=True) for shape in shapes}
    x = torch.rand(3, 20)
    h = torch.relu(x @ p[(64, 20)].T + p[(64,)])
    h = torch.relu(h @ p[(32, 64)].T + p[(32,)])
    expected = h @ p[(16, 32)].T + p[(16,)]
    checks.close(
        checks.call("NestMLP()(x)", model, x), expected, "NestMLP()(x) with x of shape (3, 20)",
        "Linear(20, 64), ReLU, Linear(64, 32), ReLU inside, then Linear(32, 16) with no ReLU after it.",
        rtol=1e-4, atol=1e-5,
    )


@pytest.mark.kata("NestMLP")
@pytest.mark.points(1)
def test_nest_mlp_is_nested(impl):
    model = checks.call("NestMLP()", impl.NestMLP)
    nested = [child for child in model.children() if len(list(child.children())) >= 2]
    checks.check(
        nested,
        f"NestMLP() has direct children {[type(c).__name__ for c in model.children()]}; expected "
        "one of them to be a block of its own (an nn.Sequential holding the first four layers).",
    )


@pytest.mark.kata("Parallel")
@pytest.mark.points(2)
def test_parallel_concatenates_last_dim(impl):
    net1, net2 = nn.Linear(20, 5), nn.Linear(20, 7)
    model = checks.call("Parallel(net1, net2)", impl.Parallel, net1, net2)
    x = torch.rand(2, 3, 20)
    expected = torch.cat([net1(x), net2(x)], dim=-1)
    checks.close(
        checks.call("Parallel(net1, net2)(x)", model, x), expected,
        "Parallel(Linear(20, 5), Linear(20, 7))(x) with x of shape (2, 3, 20)",
        "Concatenate along the last dimension: torch.cat((net1(X), net2(X)), dim=-1).",
    )


@pytest.mark.kata("Parallel")
@pytest.mark.points(1)
def test_parallel_registers_both_networks(impl):
    model = checks.call("Parallel(net1, net2)", impl.Parallel, nn.Linear(20, 5), nn.Linear(20, 7))
    checks.parameter_count(
        model, 20 * 5 + 5 + 20 * 7 + 7, "Parallel(Linear(20, 5), Linear(20, 7))",
        "Both networks must be child modules so their parameters are trained.",
    )


@pytest.mark.kata("make_stack")
@pytest.mark.points(2)
def test_make_stack_blocks_are_independent(impl):
    calls = []

    def factory():
        calls.append(1)
        return nn.Linear(4, 4)

    stack = checks.call("make_stack(factory, 3)", impl.make_stack, factory, 3)
    checks.check(
        len(calls) == 3,
        f"make_stack(factory, 3) called factory() {len(calls)} times; expected 3 (one per block).",
        "Calling factory() once and repeating that module shares its parameters between blocks.",
    )
    blocks = list(stack)
    checks.check(
        len({id(block) for block in blocks}) == 3,
        "make_stack(factory, 3) holds the same module object more than once; expected 3 distinct blocks.",
    )
    checks.parameter_count(stack, 3 * (16 + 4), "make_stack(lambda: nn.Linear(4, 4), 3)")
    x = torch.randn(2, 4)
    expected = blocks[2](blocks[1](blocks[0](x)))
    checks.close(checks.call("make_stack(...)(x)", stack, x), expected, "make_stack(factory, 3)(x)")


@pytest.mark.kata("ConfigurableMLP")
@pytest.mark.points(1)
def test_configurable_mlp_parameter_count(impl):
    call = "ConfigurableMLP(10, [32, 16], 3)"
    model = checks.call(call, impl.ConfigurableMLP, 10, [32, 16], 3)
    checks.parameter_count(
        model, 10 * 32 + 32 + 32 * 16 + 16 + 16 * 3 + 3, call,
        "Keep the layers in nn.Sequential or nn.ModuleList: a Python list hides them.",
    )


@pytest.mark.kata("ConfigurableMLP")
@pytest.mark.points(2)
@pytest.mark.parametrize(
    "activation, fn",
    [("relu", torch.relu), ("tanh", torch.tanh), ("gelu", F.gelu)],
)
def test_configurable_mlp_activation(impl, activation, fn):
    call = f"ConfigurableMLP(10, [32], 3, activation={activation!r})"
    model = checks.call(call, impl.ConfigurableMLP, 10, [32], 3, activation=activation)
    w1 = checks.parameter_of_shape(model, (32, 10), call, allow_transposed=True)
    b1 = checks.parameter_of_shape(model, (32,), call)
    w2 = checks.parameter_of_shape(model, (3, 32), call, allow_transposed=True)
    b2 = checks.parameter_of_shape(model, (3,), call)
    x = torch.randn(5, 10)
    expected = fn(x @ w1.T + b1) @ w2.T + b2
    checks.close(checks.call(f"{call}(x)", model, x), expected, f"{call}(x)", rtol=1e-4, atol=1e-5)


@pytest.mark.kata("ConfigurableMLP")
@pytest.mark.points(1)
def test_configurable_mlp_rejects_unknown_activation(impl):
    call = "ConfigurableMLP(10, [32], 3, activation='tanh')"
    model = checks.call(call, impl.ConfigurableMLP, 10, [32], 3, activation="tanh")
    checks.shape(checks.call(f"{call}(x)", model, torch.randn(2, 10)), (2, 3), f"{call}(x) with x of shape (2, 10)",
                 "A known activation is accepted: a kata that rejects everything earns nothing here.")
    checks.raises(
        ValueError,
        lambda: impl.ConfigurableMLP(10, [32], 3, activation="sigmoidal"),
        "ConfigurableMLP(10, [32], 3, activation='sigmoidal')",
        "Unknown activations should raise ValueError naming the bad value.",
    )


@pytest.mark.kata("ConfigurableMLP")
@pytest.mark.points(2)
def test_configurable_mlp_batch_norm_and_dropout(impl):
    call = "ConfigurableMLP(10, [32, 16], 3, dropout=0.5, batch_norm=True)"
    model = checks.call(call, impl.ConfigurableMLP, 10, [32, 16], 3, dropout=0.5, batch_norm=True)
    norms = checks.submodules(model, nn.BatchNorm1d)
    checks.check(
        [m.num_features for m in norms] == [32, 16],
        f"{call} has BatchNorm1d layers of sizes {[m.num_features for m in norms]}; expected [32, 16].",
    )
    checks.parameter_count(model, 931 + 2 * (32 + 16), call)
    x = torch.randn(8, 10)
    model.train()
    first, second = model(x), model(x)
    checks.check(
        not torch.equal(first, second),
        f"{call} in train mode gave the same output twice; expected dropout to make them differ.",
    )
    model.eval()
    checks.close(model(x), model(x), f"{call} in eval mode, called twice")


@pytest.mark.kata("ConfigurableMLP")
@pytest.mark.points(1)
def test_configurable_mlp_layer_order(impl):
    call = "ConfigurableMLP(6, [12], 2, batch_norm=True)"
    model = checks.call(call, impl.ConfigurableMLP, 6, [12], 2, batch_norm=True)
    linears = checks.submodules(model, nn.Linear)
    norm = checks.submodules(model, nn.BatchNorm1d)
    checks.check(len(linears) == 2 and len(norm) == 1, f"{call} should hold 2 Linear and 1 BatchNorm1d.")
    with torch.no_grad():
        norm[0].weight.uniform_(0.5, 2.0)
        norm[0].bias.uniform_(-1.0, 1.0)
    model.train()
    x = torch.randn(16, 6)
    h = linears[0](x)
    h = (h - h.mean(0)) / torch.sqrt(h.var(0, unbiased=False) + norm[0].eps) * norm[0].weight + norm[0].bias
    expected = linears[1](torch.relu(h))
    checks.close(
        checks.call(f"{call}(x)", model, x), expected, f"{call}(x) in train mode",
        "Each hidden layer is Linear -> BatchNorm1d -> activation: normalise before the ReLU.",
        rtol=1e-4, atol=1e-5,
    )


@pytest.mark.kata("ResidualBlock")
@pytest.mark.points(2)
def test_residual_block_matches_reference(impl):
    block = checks.call("ResidualBlock(4)", impl.ResidualBlock, 4)
    convs = checks.submodules(block, nn.Conv2d)
    checks.check(len(convs) == 2, f"ResidualBlock(4) holds {len(convs)} Conv2d layers; expected 2.")
    checks.parameter_count(block, 2 * (4 * 4 * 9 + 4), "ResidualBlock(4)")
    x = torch.randn(2, 4, 6, 6)
    out = checks.call("ResidualBlock(4)(x)", block, x)
    checks.shape(out, (2, 4, 6, 6), "ResidualBlock(4)(x) with x of shape (2, 4, 6, 6)")
    candidates = [
        x + second(torch.relu(first(x))) for first, second in itertools.permutations(convs)
    ]
    best = min(candidates, key=lambda c: (c - out).abs().max().item())
    checks.close(
        out, best.detach(), "ResidualBlock(4)(x)",
        "Expected X + conv2(relu(conv1(X))): is the skip connection or the ReLU missing?",
        rtol=1e-4, atol=1e-5,
    )


@pytest.mark.kata("ResidualBlock")
@pytest.mark.points(1)
def test_residual_block_skip_connection(impl):
    block = checks.call("ResidualBlock(3)", impl.ResidualBlock, 3)
    with torch.no_grad():
        for p in block.parameters():
            p.zero_()
    x = torch.randn(1, 3, 5, 5)
    checks.close(
        checks.call("ResidualBlock(3)(x)", block, x), x,
        "ResidualBlock(3)(x) with every weight and bias set to zero",
        "With zero convolutions the block must return its input: add X back (the skip connection).",
    )


@pytest.mark.kata("ResidualBlock")
@pytest.mark.points(1)
def test_residual_block_gradients(impl):
    block = checks.call("ResidualBlock(3)", impl.ResidualBlock, 3)
    x = torch.randn(2, 3, 5, 5, requires_grad=True)
    out = checks.call("ResidualBlock(3)(x)", block, x)
    _grads_reach_every_parameter(block, out, "ResidualBlock(3)(x)")


# --- differential: every observable against the reference's recorded outcomes on generated cases ---------------
#
# A module the student builds is compared name-free: its parameters are filled with values that depend only on
# their shape (transpose-invariant, so a weight kept as (in, out) and used as X @ W agrees with nn.Linear's
# (out, in)), shapes are compared as sorted sets, gradients as sorted (shape, norm) pairs.


def _fill_(module: nn.Module) -> nn.Module:
    """Shape-only values; a 2-D parameter of shape (b, a) gets the transpose of the (a, b) fill."""
    with torch.no_grad():
        for p in module.parameters():
            shape = tuple(p.shape)
            if len(shape) == 2 and shape[0] < shape[1]:
                p.copy_(_shape_values(shape[::-1]).T.to(p.dtype))
            else:
                p.copy_(_shape_values(shape).to(p.dtype))
    return module


def _shape_values(shape: tuple[int, ...]) -> torch.Tensor:
    n = 1
    for side in shape:
        n *= side
    return (torch.sin(torch.arange(n, dtype=torch.float64) * 0.7 + n + len(shape)) * 0.5).reshape(shape)


def _shapes(module: nn.Module) -> list[tuple[int, ...]]:
    """Parameter shapes, each sorted (orientation-free), each shared tensor once."""
    return sorted(tuple(sorted(p.shape)) for p in module.parameters())


def _grad_summary(module: nn.Module) -> list[tuple[tuple[int, ...], float]]:
    """(orientation-free shape, gradient norm or -1 when it has none) of every parameter, sorted."""
    return sorted((tuple(sorted(p.shape)), -1.0 if p.grad is None else float(p.grad.double().norm()))
                  for p in module.parameters())


def _forward_and_backward(model: nn.Module, x: torch.Tensor) -> dict:
    """The output for x and, for a generated upstream gradient, x's gradient and the parameters'."""
    upstream = None
    leaf = x.clone().requires_grad_(True)
    out = model(leaf)
    observed = {"output": out.detach() if isinstance(out, torch.Tensor) else out}
    if isinstance(out, torch.Tensor) and out.requires_grad:
        # A private generator: the student's initialisation may draw from the global RNG in any order.
        generator = torch.Generator().manual_seed(17)
        upstream = torch.randn(tuple(out.shape), dtype=torch.float64, generator=generator).to(out.dtype)
        out.backward(upstream)
        observed["x gradient"] = leaf.grad
    observed["parameter gradients"] = _grad_summary(model)
    return observed


def _batch(st, features: int, dtype=torch.float32, max_batch: int = 3, three_d: bool = True):
    shapes = st.tuples(st.integers(0, max_batch)).map(lambda b: (b[0], features))
    if three_d:
        shapes = st.one_of(shapes, st.tuples(st.integers(1, 2), st.integers(1, 3)).map(
            lambda bt: (bt[0], bt[1], features)))
    return differential.tensors(st, shape=shapes, dtype=dtype, low=-2, high=2)


def _mlp_cases(st):
    sizes = st.tuples(st.integers(1, 5), st.integers(1, 6), st.integers(1, 4)).filter(
        lambda s: s[0] != s[1] and s[1] != s[2])
    return sizes.flatmap(lambda s: st.fixed_dictionaries({
        "sizes": st.just(s), "dtype": st.sampled_from((torch.float32, torch.float64)),
        "x": _batch(st, s[0])}))


@differential.scenario(
    "MLP",
    cases=_mlp_cases,
    edge=lambda: [{"sizes": None, "dtype": torch.float32, "x": torch.ones(2, 20)},
                  {"sizes": (3, 5, 2), "dtype": torch.float64, "x": torch.ones(0, 3)},
                  {"sizes": (2, 4, 1), "dtype": torch.float32, "x": torch.ones(2, 3, 2)}],
    count=20,
)
def mlp_outcome(impl, sizes, dtype, x):
    model = impl.MLP() if sizes is None else impl.MLP(*sizes)
    shapes = _shapes(model)
    _fill_(model).to(dtype)
    return {"parameter shapes": shapes, **_forward_and_backward(model, x.to(dtype))}


class _AddOne(nn.Module):
    def forward(self, x):
        return x + 1


class _Double(nn.Module):
    def forward(self, x):
        return x * 2


SEQUENCE_PARTS = {
    "linear": lambda: nn.Linear(3, 3), "relu": nn.ReLU, "tanh": nn.Tanh, "add one": _AddOne, "double": _Double,
    "dropout": lambda: nn.Dropout(0.5),
}


@differential.scenario(
    "MySequential",
    cases=lambda st: st.fixed_dictionaries({
        "parts": st.lists(st.sampled_from(sorted(SEQUENCE_PARTS)), max_size=4),
        "x": _batch(st, 3)}),
    edge=lambda: [{"parts": [], "x": torch.ones(2, 3)},
                  {"parts": ["add one", "double"], "x": torch.arange(6.0).reshape(2, 3)},
                  {"parts": ["linear", "relu", "linear"], "x": torch.ones(0, 3)}],
    count=20,
)
def my_sequential_outcome(impl, parts, x):
    torch.manual_seed(5)
    modules = [SEQUENCE_PARTS[part]() for part in parts]
    net = impl.MySequential(*modules)
    children = list(net.children())
    observed = {
        "state_dict keys": list(net.state_dict()),
        "children are the given modules, in order": len(children) == len(modules) and all(
            a is b for a, b in zip(children, modules, strict=False)),
        "named modules": [name for name, _ in net.named_modules()],
    }
    net.eval()
    observed["eval() reaches every module"] = [m.training for m in modules]
    observed["eval output"] = net(x)
    net.train()
    observed["train output"] = net(x)
    observed[".to(float64) returns the module"] = net.to(torch.float64) is net
    observed["parameter dtypes after .to(float64)"] = [p.dtype for m in modules for p in m.parameters()]
    return observed


def _constant_of(model: nn.Module) -> torch.Tensor | None:
    parameters = {id(p) for p in model.parameters()}
    found = [t for t in model.buffers() if tuple(t.shape) == (20, 20)]
    found += [v for v in vars(model).values()
              if isinstance(v, torch.Tensor) and tuple(v.shape) == (20, 20) and id(v) not in parameters]
    return found[0] if found else None


@differential.scenario(
    "FixedHiddenMLP",
    cases=lambda st: st.fixed_dictionaries({"x": _batch(st, 20, max_batch=3, three_d=False),
                                            "scale": st.sampled_from((0.01, 0.3, 1.0, 5.0))}),
    edge=lambda: [{"x": torch.zeros(0, 20), "scale": 1.0}, {"x": torch.ones(1, 20), "scale": 0.0},
                  {"x": torch.ones(3, 20), "scale": 50.0}],
    count=15,
)
def fixed_hidden_mlp_outcome(impl, x, scale):
    model = impl.FixedHiddenMLP()
    constant = _constant_of(model)
    observed = {"parameter shapes": _shapes(model), "a (20, 20) constant is kept": constant is not None}
    if constant is None:
        return observed
    observed["constant drawn from [0, 1)"] = bool(((constant >= 0) & (constant < 1)).all())
    observed["constant requires grad"] = constant.requires_grad
    with torch.no_grad():
        constant.copy_(_shape_values((20, 20)).abs().to(constant.dtype))
    _fill_(model)
    observed.update(_forward_and_backward(model, x * scale))
    observed["constant gets no gradient"] = constant.grad is None
    return observed


@differential.scenario(
    "NestMLP",
    cases=lambda st: st.fixed_dictionaries({"x": _batch(st, 20), "dtype": st.sampled_from((torch.float32,
                                                                                          torch.float64))}),
    edge=lambda: [{"x": torch.zeros(0, 20), "dtype": torch.float32}, {"x": torch.ones(1, 2, 20),
                                                                      "dtype": torch.float64}],
    count=12,
)
def nest_mlp_outcome(impl, x, dtype):
    model = impl.NestMLP()
    shapes = _shapes(model)
    _fill_(model).to(dtype)
    return {"parameter shapes": shapes, **_forward_and_backward(model, x.to(dtype))}


def _branch(kind: str, out: int) -> nn.Module:
    if kind == "linear":
        return nn.Linear(4, out)
    if kind == "mlp with dropout":
        return nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Dropout(0.5), nn.Linear(3, out))
    return nn.Sequential(nn.Linear(4, out), nn.BatchNorm1d(out) if out else nn.Identity())


@differential.scenario(
    "Parallel",
    cases=lambda st: st.fixed_dictionaries({
        "branches": st.tuples(st.sampled_from(("linear", "mlp with dropout")), st.integers(1, 3),
                              st.sampled_from(("linear", "mlp with dropout")), st.integers(1, 3)),
        "x": _batch(st, 4)}),
    edge=lambda: [{"branches": ("linear", 2, "linear", 3), "x": torch.ones(2, 5, 4)},
                  {"branches": ("linear", 1, "mlp with dropout", 2), "x": torch.ones(0, 4)}],
    count=15,
)
def parallel_outcome(impl, branches, x):
    torch.manual_seed(3)
    net1, net2 = _branch(branches[0], branches[1]), _branch(branches[2], branches[3])
    model = impl.Parallel(net1, net2)
    observed = {"parameter shapes": _shapes(model)}
    model.eval()
    observed["eval() reaches both networks"] = [m.training for m in (*net1.modules(), *net2.modules())]
    observed.update(_forward_and_backward(model, x))
    model.train()
    torch.manual_seed(4)
    observed["train output"] = model(x)
    model.to(torch.float64)
    observed["parameter dtypes after .to(float64)"] = [p.dtype for p in (*net1.parameters(), *net2.parameters())]
    return observed


@differential.scenario(
    "make_stack",
    cases=lambda st: st.fixed_dictionaries({"n": st.integers(1, 4), "x": _batch(st, 3)}),
    edge=lambda: [{"n": 1, "x": torch.ones(2, 3)}, {"n": 0, "x": torch.ones(2, 3)},
                  {"n": -1, "x": torch.ones(2, 3)},
                  {"n": True, "x": torch.ones(2, 3)}, {"n": 2.0, "x": torch.ones(2, 3)}],
    count=10,
)
def make_stack_outcome(impl, n, x):
    torch.manual_seed(9)
    built: list[nn.Module] = []

    def factory() -> nn.Module:
        built.append(nn.Sequential(nn.Linear(3, 3), nn.Tanh()))
        return built[-1]

    stack = impl.make_stack(factory, n)
    blocks = list(stack.children()) if isinstance(stack, nn.Module) else []
    unique = {id(p): p for p in stack.parameters()} if isinstance(stack, nn.Module) else {}
    return {
        "an nn.Sequential": isinstance(stack, nn.Sequential),
        "factory calls": len(built),
        "block i is the i-th module built": len(blocks) == len(built) and all(
            a is b for a, b in zip(blocks, built, strict=False)),
        "distinct parameters": sum(p.numel() for p in unique.values()),
        "output": stack(x) if isinstance(stack, nn.Sequential) else None,
    }


@differential.scenario(
    "ConfigurableMLP",
    cases=lambda st: st.fixed_dictionaries({
        "input_size": st.integers(1, 4),
        "hidden_sizes": st.lists(st.integers(1, 5), max_size=3).flatmap(
            lambda sizes: st.sampled_from((sizes, tuple(sizes)))),
        "output_size": st.integers(1, 3),
        "activation": st.sampled_from(("relu", "tanh", "gelu", "sigmoidal")),
        "dropout": st.sampled_from((0.0, 0.5)),
        "batch_norm": st.booleans(),
        "train": st.booleans(),
        "batch": st.integers(2, 4)}),
    edge=lambda: [
        {"input_size": 3, "hidden_sizes": [], "output_size": 2, "activation": "relu", "dropout": 0.0,
         "batch_norm": False, "train": True, "batch": 2},
        {"input_size": 3, "hidden_sizes": (4, 2), "output_size": 2, "activation": "tanh", "dropout": 0.5,
         "batch_norm": True, "train": True, "batch": 3},
        {"input_size": 3, "hidden_sizes": [4], "output_size": 2, "activation": "Relu", "dropout": 0.0,
         "batch_norm": False, "train": False, "batch": 2},
    ],
    count=25,
)
def configurable_mlp_outcome(impl, input_size, hidden_sizes, output_size, activation, dropout, batch_norm, train,
                             batch):
    model = impl.ConfigurableMLP(input_size, hidden_sizes, output_size, activation=activation, dropout=dropout,
                                 batch_norm=batch_norm)
    shapes = _shapes(model)
    _fill_(model)
    x = torch.randn(batch, input_size)
    model.train(train)
    torch.manual_seed(21)
    observed = {"parameter shapes": shapes, **_forward_and_backward(model, x)}
    observed["buffers after the call"] = sorted((tuple(b.shape), float(b.double().sum())) for b in model.buffers())
    model.eval()
    observed["every submodule in eval after .eval()"] = not any(m.training for m in model.modules())
    observed["eval output"] = model(x)
    return observed


@differential.scenario(
    "ResidualBlock",
    cases=lambda st: st.tuples(st.integers(0, 2), st.integers(1, 3), st.integers(1, 4), st.integers(1, 4)).flatmap(
        lambda s: st.fixed_dictionaries({"x": differential.tensors(st, shape=s, low=-2, high=2),
                                         "dtype": st.sampled_from((torch.float32, torch.float64))})),
    edge=lambda: [{"x": torch.ones(1, 2, 1, 1), "dtype": torch.float32},
                  {"x": torch.ones(0, 3, 4, 4), "dtype": torch.float64}],
    count=15,
    tolerances={torch.float32: (1e-4, 1e-4)},
)
def residual_block_outcome(impl, x, dtype):
    block = impl.ResidualBlock(x.shape[1])
    shapes = _shapes(block)
    _fill_(block).to(dtype)
    x = x.to(dtype)
    plain = x.clone()
    observed = {"parameter shapes": shapes, "output without grad": block(plain), "x after the call": plain}
    observed.update(_forward_and_backward(block, x))
    return observed


@pytest.mark.kata("MLP")
@pytest.mark.points(2)
def test_mlp_agrees_with_the_reference_on_generated_cases(impl):
    mlp_outcome.check(impl)


@pytest.mark.kata("MySequential")
@pytest.mark.points(2)
def test_mysequential_agrees_with_the_reference_on_generated_cases(impl):
    my_sequential_outcome.check(impl)


@pytest.mark.kata("FixedHiddenMLP")
@pytest.mark.points(2)
def test_fixed_hidden_mlp_agrees_with_the_reference_on_generated_cases(impl):
    fixed_hidden_mlp_outcome.check(impl)


@pytest.mark.kata("NestMLP")
@pytest.mark.points(1)
def test_nest_mlp_agrees_with_the_reference_on_generated_cases(impl):
    nest_mlp_outcome.check(impl)


@pytest.mark.kata("Parallel")
@pytest.mark.points(2)
def test_parallel_agrees_with_the_reference_on_generated_cases(impl):
    parallel_outcome.check(impl)


@pytest.mark.kata("make_stack")
@pytest.mark.points(2)
def test_make_stack_agrees_with_the_reference_on_generated_cases(impl):
    make_stack_outcome.check(impl)


@pytest.mark.kata("ConfigurableMLP")
@pytest.mark.points(2)
def test_configurable_mlp_agrees_with_the_reference_on_generated_cases(impl):
    configurable_mlp_outcome.check(impl)


@pytest.mark.kata("ResidualBlock")
@pytest.mark.points(2)
def test_residual_block_agrees_with_the_reference_on_generated_cases(impl):
    residual_block_outcome.check(impl)
