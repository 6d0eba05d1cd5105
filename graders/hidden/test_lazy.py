"""Hidden checks for chapter 06, lazy: materialisation, side effects of dry runs, hooks, any input size."""

import math

import pytest
import torch
from torch import nn
from torch.nn.parameter import is_lazy

from torchkata import checks
from torchkata.graderkit import differential, hooks


class GradModeProbe(nn.Module):
    """Identity that records whether autograd was recording when it ran."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[bool] = []

    def forward(self, x):
        self.seen.append(torch.is_grad_enabled())
        return x


class Explode(nn.Module):
    """A layer whose forward always fails."""

    def forward(self, x):
        raise RuntimeError("this layer always fails")


class TwoInputs(nn.Module):
    """forward(a, b) with one lazy layer per input."""

    def __init__(self) -> None:
        super().__init__()
        self.left = nn.LazyLinear(4)
        self.right = nn.LazyLinear(4)

    def forward(self, a, b):
        return self.left(a) + self.right(b)


class SmallConvNet(nn.Module):
    """Nested, named children: features.0 .. features.2, flatten, head (lazy)."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.flatten = nn.Flatten()
        self.head = nn.LazyLinear(5)

    def forward(self, x):
        return self.head(self.flatten(self.features(x)))


def _lazy_tensors(model: nn.Module) -> list[str]:
    named = [*model.named_parameters(), *model.named_buffers()]
    return [name for name, tensor in named if is_lazy(tensor)]


def _modes(model: nn.Module) -> dict[str, bool]:
    return {name or "<model>": module.training for name, module in model.named_modules()}


def _lazy_net() -> nn.Sequential:
    return nn.Sequential(nn.LazyLinear(8), nn.LazyBatchNorm1d(), nn.ReLU(), nn.Dropout(0.5), nn.LazyLinear(3))


def _materialize(impl, model: nn.Module, x: torch.Tensor, call: str = "materialize(model, x)") -> None:
    """Call materialize and require it to have done its job: side checks earn nothing for a no-op."""
    checks.call(call, impl.materialize, model, x)
    left = _lazy_tensors(model)
    checks.check(not left, f"after {call}, these are still uninitialised: {left}.",
                 "Run the model once on the example inputs (under torch.no_grad()).")


# ---------------------------------------------------------------- LazyMLP


@pytest.mark.kata("LazyMLP")
@pytest.mark.points(2)
@pytest.mark.parametrize("in_features", [5, 11])
def test_lazy_mlp_infers_the_input_width(impl, in_features):
    model = checks.call("LazyMLP(8, 3)", impl.LazyMLP, 8, 3)
    checks.check(
        checks.submodules(model, nn.LazyLinear) and _lazy_tensors(model),
        "LazyMLP(8, 3) has no uninitialised parameter before its first call; expected nn.LazyLinear layers.",
        "nn.LazyLinear(out_features) leaves the weight's shape open until data arrives.",
    )
    x = torch.randn(4, in_features)
    call = f"LazyMLP(8, 3)(x) with x of shape (4, {in_features})"
    out = checks.call(call, model, x)
    checks.shape(out, (4, 3), call, "LazyMLP(hidden, out_features) returns out_features scores for any input width.")
    checks.check(not _lazy_tensors(model), f"after {call} these are still uninitialised: {_lazy_tensors(model)}.")
    w1 = checks.parameter_of_shape(model, (8, in_features), "LazyMLP(8, 3) after its first call")
    b1 = checks.parameter_of_shape(model, (8,), "LazyMLP(8, 3) after its first call")
    w2 = checks.parameter_of_shape(model, (3, 8), "LazyMLP(8, 3) after its first call")
    b2 = checks.parameter_of_shape(model, (3,), "LazyMLP(8, 3) after its first call")
    expected = torch.relu(x @ w1.T + b1) @ w2.T + b2
    checks.close(out, expected, call, "Expected LazyLinear -> ReLU -> LazyLinear returning logits.", 1e-4, 1e-5)


@pytest.mark.kata("LazyMLP")
@pytest.mark.points(1)
def test_lazy_mlp_default_sizes_and_gradients(impl):
    model = checks.call("LazyMLP()", impl.LazyMLP)
    out = checks.call("LazyMLP()(x)", model, torch.randn(3, 20))
    checks.parameter_count(model, 20 * 256 + 256 + 256 * 10 + 10, "LazyMLP() after a call on x of shape (3, 20)")
    out.sum().backward()
    missing = [name for name, p in model.named_parameters() if p.grad is None]
    checks.check(not missing, f"after LazyMLP()(x).sum().backward() these parameters got no gradient: {missing}.")


# ---------------------------------------------------------------- materialize


@pytest.mark.kata("materialize")
@pytest.mark.points(2)
@pytest.mark.parametrize("in_features", [5, 11])
def test_materialize_initialises_every_lazy_tensor(impl, in_features):
    model = _lazy_net()
    call = f"materialize(model, x) with x of shape (4, {in_features})"
    result = checks.call(call, impl.materialize, model, torch.randn(4, in_features))
    checks.check(result is model, f"{call} returned {checks.describe(result)}; expected the model itself.")
    left = _lazy_tensors(model)
    checks.check(not left, f"after {call} these parameters or buffers are still uninitialised: {left}.")
    checks.parameter_of_shape(model, (8, in_features), f"the model after {call}")
    checks.parameter_count(model, in_features * 8 + 8 + 2 * 8 + 8 * 3 + 3, f"the model after {call}")


@pytest.mark.kata("materialize")
@pytest.mark.points(1)
def test_materialize_runs_under_no_grad(impl):
    probe = GradModeProbe()
    model = nn.Sequential(nn.LazyLinear(4), probe)
    checks.call("materialize(model, x)", impl.materialize, model, torch.randn(2, 3, requires_grad=True))
    checks.check(
        probe.seen and not any(probe.seen),
        f"during materialize(model, x) autograd was recording ({probe.seen}); expected the dry run "
        "inside torch.no_grad().",
    )
    checks.check(torch.is_grad_enabled(), "after materialize(model, x) autograd is left switched off.")
    checks.check(
        all(p.grad is None for p in model.parameters()),
        "after materialize(model, x) some parameters hold a gradient; a dry run computes none.",
    )


@pytest.mark.kata("materialize")
@pytest.mark.points(1)
def test_materialized_model_still_trains(impl):
    model = _lazy_net()
    _materialize(impl, model, torch.randn(4, 6))
    x = torch.randn(4, 6)
    out = checks.call("model(x) then .sum().backward() after materialize(model, x)", lambda: model(x).sum().backward())
    missing = [name for name, p in model.named_parameters() if p.grad is None]
    checks.check(
        out is None and not missing,
        f"after materialize(model, x), a training step left these parameters without a gradient: {missing}.",
        "Parameters created under torch.inference_mode() cannot take part in autograd: use torch.no_grad().",
    )


@pytest.mark.kata("materialize")
@pytest.mark.points(1)
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_materialize_keeps_the_mode(impl, training):
    model = _lazy_net().train(training)
    before = _modes(model)
    _materialize(impl, model, torch.randn(4, 6))
    after = _modes(model)
    changed = [name for name in before if before[name] != after[name]]
    mode = "train" if training else "eval"
    checks.check(
        not changed,
        f"materialize(model, x) on a model in {mode} mode changed the mode of {changed}; expected "
        "every module's mode unchanged.",
        "Remember each module's .training flag before the dry run and put it back afterwards.",
    )


@pytest.mark.kata("materialize")
@pytest.mark.points(1)
def test_materialize_leaves_batchnorm_statistics_untouched(impl):
    model = _lazy_net().train()
    checks.call("materialize(model, x)", impl.materialize, model, torch.randn(4, 6) * 3 + 5)
    norm = checks.submodules(model, nn.BatchNorm1d)[0]
    checks.close(
        norm.running_mean, torch.zeros(8), "the BatchNorm running_mean after materialize(model, x) on a model in "
        "train mode", "A dry run in train mode updates BatchNorm statistics: run it in eval mode.",
    )
    checks.check(
        int(norm.num_batches_tracked) == 0,
        f"after materialize(model, x) BatchNorm counted {int(norm.num_batches_tracked)} batch(es); expected 0.",
        "A dry run in train mode updates BatchNorm statistics: run it in eval mode.",
    )


@pytest.mark.kata("materialize")
@pytest.mark.points(1)
def test_materialize_restores_the_mode_when_forward_raises(impl):
    _materialize(impl, _lazy_net(), torch.randn(4, 6), "materialize(model, x) on a model that works")
    model = nn.Sequential(nn.LazyLinear(4), nn.Dropout(0.1), Explode()).train()
    checks.raises(
        RuntimeError, lambda: impl.materialize(model, torch.randn(2, 3)),
        "materialize(model, x) with a model whose forward raises RuntimeError",
        "Let the error propagate.",
    )
    left_in_eval = [name for name, training in _modes(model).items() if not training]
    checks.check(
        not left_in_eval,
        f"after materialize(model, x) raised, {left_in_eval} were left in eval mode; expected train mode.",
        "Restore the modes in a finally block.",
    )


@pytest.mark.kata("materialize")
@pytest.mark.points(1)
def test_materialize_passes_every_example_input(impl):
    model = TwoInputs()
    checks.call("materialize(TwoInputs(), a, b)", impl.materialize, model, torch.randn(2, 3), torch.randn(2, 7))
    checks.check(not _lazy_tensors(model), "after materialize(TwoInputs(), a, b) some parameters are uninitialised.")
    shapes = sorted(tuple(p.shape) for p in model.parameters() if p.dim() == 2)
    checks.equal(
        shapes, [(4, 3), (4, 7)], "materialize(TwoInputs(), a, b) with a (2, 3) and b (2, 7): weight shapes",
        "Pass every example input to the model: model(*example_inputs).",
    )
    checks.raises(
        (ValueError, TypeError), lambda: impl.materialize(_lazy_net()),
        "materialize(model) with no example input",
    )


# ---------------------------------------------------------------- lazy_parameter_count


@pytest.mark.kata("lazy_parameter_count")
@pytest.mark.points(2)
@pytest.mark.parametrize("in_features", [4, 9])
def test_lazy_parameter_count_after_the_dry_run(impl, in_features):
    shared = nn.Linear(6, 6)
    model = nn.Sequential(
        nn.LazyLinear(6), nn.LazyBatchNorm1d(), nn.ReLU(), shared, nn.ReLU(), shared, nn.LazyLinear(2)
    )
    call = f"lazy_parameter_count(model, x) with x of shape (3, {in_features})"
    count = checks.call(call, impl.lazy_parameter_count, model, torch.randn(3, in_features))
    expected = (in_features * 6 + 6) + 2 * 6 + (6 * 6 + 6) + (6 * 2 + 2)
    checks.check(
        isinstance(count, int) and not isinstance(count, bool),
        f"{call} returned {checks.describe(count)}; expected a Python int.",
    )
    checks.equal(
        int(count), expected, call,
        "Materialise first, then count every parameter once (a shared layer once, buffers never).",
    )


@pytest.mark.kata("lazy_parameter_count")
@pytest.mark.points(1)
def test_lazy_parameter_count_of_an_initialised_model(impl):
    model = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))
    call = "lazy_parameter_count(Sequential(Linear(4, 3), BatchNorm1d(3))) with no example input"
    count = checks.call(call, impl.lazy_parameter_count, model)
    checks.check(isinstance(count, int), f"{call} returned {checks.describe(count)}; expected an int.")
    checks.equal(
        int(count), 4 * 3 + 3 + 2 * 3, call,
        "A model without lazy parameters needs no dry run; buffers are not parameters.",
    )


# ---------------------------------------------------------------- output_shapes


def _reference_shapes(model: nn.Module, input_shape: tuple[int, ...]) -> list[tuple[str, tuple[int, ...]]]:
    seen: list[tuple[str, tuple[int, ...]]] = []
    handles = [
        module.register_forward_hook(lambda m, i, o, name=name: seen.append((name, tuple(o.shape))))
        for name, module in model.named_modules()
        if not list(module.children())
    ]
    try:
        with torch.no_grad():
            model(torch.zeros(input_shape))
    finally:
        for handle in handles:
            handle.remove()
    return seen


@pytest.mark.kata("output_shapes")
@pytest.mark.points(2)
@pytest.mark.parametrize("input_shape", [(2, 1, 8, 8), (3, 1, 12, 12)])
def test_output_shapes_of_nested_leaves(impl, input_shape):
    call = f"output_shapes(SmallConvNet(), {input_shape})"
    shapes = checks.call(call, impl.output_shapes, SmallConvNet(), input_shape)
    expected = _reference_shapes(SmallConvNet(), input_shape)
    checks.check(
        isinstance(shapes, list) and all(isinstance(entry, tuple) and len(entry) == 2 for entry in shapes),
        f"{call} returned {checks.describe(shapes)}; expected a list of (name, shape) tuples.",
    )
    checks.equal(
        [str(name) for name, _ in shapes], [name for name, _ in expected], f"{call}: the names",
        "Leaf modules only (no containers), named as model.named_modules() names them, in call order.",
    )
    checks.equal(
        checks.call(
            f"reading the shapes that {call} returned as tuples of ints",
            lambda: [tuple(int(size) for size in shape) for _, shape in shapes],
        ),
        [shape for _, shape in expected], f"{call}: the shapes",
        "Record each leaf's output shape (the hook's third argument), not its input.",
    )


@pytest.mark.kata("output_shapes")
@pytest.mark.points(2)
def test_output_shapes_leaves_no_hook_behind(impl):
    model = SmallConvNet()
    before = hooks.hook_keys(model)
    checks.call("output_shapes(SmallConvNet(), (2, 1, 8, 8))", impl.output_shapes, model, (2, 1, 8, 8))
    leftover = hooks.new_hooks(before, model)
    checks.check(
        not leftover,
        f"after output_shapes(SmallConvNet(), (2, 1, 8, 8)) these hook registries still hold new hooks: {leftover}.",
        "Keep the handle of every hook you register and call handle.remove() on each.",
    )
    call = "output_shapes(model, (2, 1, 8, 8)) called a second time"
    again = checks.call(call, impl.output_shapes, model, (2, 1, 8, 8))
    checks.equal(len(again), 5, f"{call}: the number of entries", "Hooks left from the first call record shapes twice.")


@pytest.mark.kata("output_shapes")
@pytest.mark.points(1)
def test_output_shapes_removes_hooks_when_forward_raises(impl):
    working = "output_shapes(Sequential(Linear(4, 3), ReLU()), (2, 4))"
    shapes = checks.call(working, impl.output_shapes, nn.Sequential(nn.Linear(4, 3), nn.ReLU()), (2, 4))
    checks.check(isinstance(shapes, list) and all(isinstance(e, tuple) and len(e) == 2 for e in shapes),
                 f"{working} returned {checks.describe(shapes)}; expected a list of (name, shape) tuples.")
    checks.equal([(name, tuple(shape)) for name, shape in shapes], [("0", (2, 3)), ("1", (2, 3))], working,
                 "A model that works is traced first.")
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), Explode())
    before = hooks.hook_keys(model)
    checks.raises(
        RuntimeError, lambda: impl.output_shapes(model, (2, 4)),
        "output_shapes(model, (2, 4)) with a model whose last layer raises RuntimeError",
        "Let the error propagate.",
    )
    leftover = hooks.new_hooks(before, model)
    checks.check(
        not leftover,
        f"after output_shapes(model, (2, 4)) raised, these hook registries still hold hooks: {leftover}.",
        "Remove the hooks in a finally block so that they go also when the forward pass fails.",
    )


# ---------------------------------------------------------------- LazyCNN


@pytest.mark.kata("LazyCNN")
@pytest.mark.points(2)
@pytest.mark.parametrize("size, num_classes", [(28, 10), (32, 10), (32, 7)])
def test_lazy_cnn_accepts_any_image_size(impl, size, num_classes):
    model = checks.call(f"LazyCNN({num_classes})", impl.LazyCNN, num_classes)
    call = f"LazyCNN({num_classes})(x) with x of shape (3, 1, {size}, {size})"
    out = checks.call(call, model, torch.randn(3, 1, size, size))
    checks.shape(
        out, (3, num_classes), call,
        "The head gives num_classes scores per image; a fixed in_features (e.g. Linear(64 * 7 * 7, ...)) fits one "
        "image size only: flatten, then nn.LazyLinear(num_classes).",
    )
    checks.check(not _lazy_tensors(model), f"after {call} these are still uninitialised: {_lazy_tensors(model)}.")


@pytest.mark.kata("LazyCNN")
@pytest.mark.points(1)
def test_lazy_cnn_is_a_conv_stack_with_a_lazy_head(impl):
    model = checks.call("LazyCNN()", impl.LazyCNN)
    checks.check(
        checks.submodules(model, nn.Conv2d),
        "LazyCNN() holds no nn.Conv2d (or nn.LazyConv2d) layer; expected a convolutional stack.",
    )
    checks.check(
        checks.submodules(model, nn.LazyLinear),
        "LazyCNN() holds no nn.LazyLinear before its first call; expected the head to be one.",
    )
    model.eval()
    x = torch.randn(3, 1, 32, 32)
    out = checks.call("LazyCNN()(x)", model, x)
    checks.close(
        checks.call("LazyCNN()(x[2:])", model, x[2:]), out[2:].detach(),
        "LazyCNN() in eval mode: model(x[2:]) against model(x)[2:]", "Each image's logits depend on that image only.",
        1e-4, 1e-5,
    )
    model.train()
    checks.call("LazyCNN()(x)", model, x).sum().backward()
    missing = [name for name, p in model.named_parameters() if p.grad is None]
    checks.check(not missing, f"after LazyCNN()(x).sum().backward() these parameters got no gradient: {missing}.")


# --- differential: every observable against the reference's recorded outcomes on generated cases ---------------


class Twice(nn.Module):
    """One leaf (a Linear(w, w)) called twice, inside a module that also computes on its own."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.inner = nn.Linear(width, width)

    def forward(self, x):
        return self.inner(torch.tanh(self.inner(x))) * 2


_WIDTH = 3
_PARTS = {
    "lazylinear": lambda: nn.LazyLinear(_WIDTH),
    "linear": lambda: nn.Linear(_WIDTH, _WIDTH),
    "lazybn": nn.LazyBatchNorm1d,
    "bn": lambda: nn.BatchNorm1d(_WIDTH),
    "dropout": lambda: nn.Dropout(0.5),
    "relu": nn.ReLU,
    "twice": lambda: Twice(_WIDTH),
    "nested": lambda: nn.Sequential(nn.Linear(_WIDTH, _WIDTH), nn.Sequential(nn.Tanh(), nn.Dropout(0.2))),
}


def _model_specs(st, parts=tuple(_PARTS)):
    return st.fixed_dictionaries({
        "parts": st.lists(st.sampled_from(parts), min_size=1, max_size=5),
        "modes": st.lists(st.booleans(), min_size=1, max_size=8)})


def _model(spec: dict) -> nn.Sequential:
    """The parts after a LazyLinear(3) that takes any input width; each module's mode from spec['modes']."""
    model = nn.Sequential(nn.LazyLinear(_WIDTH), *[_PARTS[part]() for part in spec["parts"]])
    for module, training in zip(model.modules(), spec["modes"] * 4, strict=False):
        module.training = training
    return model


def _buffers(model: nn.Module) -> dict[str, torch.Tensor]:
    return {name: b.detach().clone() for name, b in model.named_buffers() if not is_lazy(b)}


def _trains(model: nn.Module, x: torch.Tensor) -> list[str]:
    """After the call: a training step works, and which parameters got no gradient."""
    model.train()
    model(x).sum().backward()
    return [name for name, p in model.named_parameters() if p.grad is None]


@differential.scenario(
    "LazyMLP",
    cases=lambda st: st.fixed_dictionaries({
        "hidden": st.integers(1, 6), "out_features": st.integers(1, 5),
        "lead": st.lists(st.integers(0, 3), min_size=1, max_size=2), "width": st.integers(1, 6),
        "upstream": differential.tensors(st, shape=(3, 3, 5), low=-2, high=2)}),
    edge=lambda: [{"hidden": 4, "out_features": 3, "lead": [0], "width": 5, "upstream": torch.ones(3, 3, 5)},
                  {"hidden": 1, "out_features": 1, "lead": [1], "width": 1, "upstream": torch.ones(3, 3, 5)},
                  {"hidden": 3, "out_features": 2, "lead": [2, 3], "width": 4, "upstream": torch.ones(3, 3, 5)}],
    count=20,
    tolerances={torch.float32: (1e-4, 1e-5)},
)
def lazy_mlp_outcome(impl, hidden, out_features, lead, width, upstream):
    model = impl.LazyMLP(hidden, out_features)
    lazy_before = bool(_lazy_tensors(model))
    x = torch.linspace(-2.0, 2.0, math.prod(lead) * width).reshape(*lead, width)
    first = model(x)
    differential.fill_by_shape_(model)
    out = model(x)
    g = upstream[tuple(slice(0, n) for n in lead)][..., :out_features] if len(lead) == 2 else \
        upstream[0, : lead[0], :out_features]
    (out * g).sum().backward()
    by_shape: dict[tuple[int, ...], list[torch.Tensor]] = {}
    for p in model.parameters():
        by_shape.setdefault(tuple(p.shape), []).append(p.grad if p.grad is not None else torch.zeros_like(p))
    return {"uninitialised parameters before the first call": lazy_before,
            "shape of the first output": tuple(first.shape),
            "output with weights set by shape": out.detach(),
            "parameter shapes": differential.parameter_shapes(model),
            "gradients by shape (sum, sum of squares)": {
                str(shape): (torch.stack(found).sum(0), torch.stack(found).pow(2).sum(0))
                for shape, found in sorted(by_shape.items())}}


@differential.scenario(
    "materialize",
    cases=lambda st: st.fixed_dictionaries({
        "spec": _model_specs(st), "width": st.integers(1, 5), "batch": st.integers(1, 3),
        "how": st.sampled_from(("one",) * 6 + ("two", "none", "explode", "list"))}),
    edge=lambda: [
        {"spec": {"parts": ["lazybn", "dropout", "lazylinear"], "modes": [True]}, "width": 4, "batch": 2, "how": "one"},
        {"spec": {"parts": ["lazybn", "relu", "nested"], "modes": [True, False, True, False]}, "width": 3,
         "batch": 1, "how": "one"},
        {"spec": {"parts": ["bn", "twice"], "modes": [False, True]}, "width": 2, "batch": 3, "how": "one"},
        {"spec": {"parts": ["dropout"], "modes": [True, False]}, "width": 2, "batch": 2, "how": "explode"},
        {"spec": {"parts": ["relu"], "modes": [True]}, "width": 2, "batch": 2, "how": "two"},
        {"spec": {"parts": ["relu"], "modes": [True]}, "width": 2, "batch": 2, "how": "none"},
    ],
    count=25,
)
def materialize_outcome(impl, spec, width, batch, how):
    if how == "two":
        model, inputs = TwoInputs(), (torch.randn(batch, width) + 1, torch.randn(batch, width + 2))
    else:
        model = _model(spec)
        if how == "explode":
            model.append(Explode())
        inputs = () if how == "none" else (torch.randn(batch, width) * 3 + 2,)
    argument = list(model.parameters()) if how == "list" else model
    before = _buffers(model)
    result = differential.attempt(impl.materialize, argument, *inputs)
    outcome = {
        "returned the model": result if isinstance(result, dict) else result is model,
        "modes after the call": _modes(model),
        "autograd enabled after the call": torch.is_grad_enabled(),
        "buffers": {name: b for name, b in model.named_buffers() if not is_lazy(b)},
        "buffers that existed before kept their values": all(
            torch.equal(b, before[name]) for name, b in _buffers(model).items() if name in before),
        "uninitialised after the call": _lazy_tensors(model),
        "parameters holding a gradient": [name for name, p in model.named_parameters() if p.grad is not None],
    }
    if not _lazy_tensors(model):
        outcome["parameters"] = {name: p.detach() for name, p in model.named_parameters()}
        outcome["requires_grad"] = {name: p.requires_grad for name, p in model.named_parameters()}
        if how not in ("explode", "two"):
            x = inputs[0]  # two samples at least: BatchNorm in train mode needs them
            outcome["parameters without a gradient after a training step"] = _trains(model, torch.cat([x, x + 1]))
    return outcome


@differential.scenario(
    "lazy_parameter_count",
    cases=lambda st: st.fixed_dictionaries({
        "spec": _model_specs(st), "width": st.integers(1, 5), "share": st.booleans(),
        "inputs": st.sampled_from((True, True, False)), "prebuilt": st.booleans()}),
    edge=lambda: [
        {"spec": {"parts": ["lazybn", "linear"], "modes": [True]}, "width": 4, "share": True, "inputs": True,
         "prebuilt": False},
        {"spec": {"parts": ["bn"], "modes": [True]}, "width": 2, "share": False, "inputs": False, "prebuilt": True},
        {"spec": {"parts": ["lazylinear"], "modes": [True]}, "width": 2, "share": False, "inputs": False,
         "prebuilt": False},
    ],
    count=20,
)
def lazy_parameter_count_outcome(impl, spec, width, share, inputs, prebuilt):
    model = _model(spec)
    if share:
        shared = nn.Linear(_WIDTH, _WIDTH)
        model.extend([shared, nn.Tanh(), shared])
    x = torch.randn(3, width) * 2 + 1
    if prebuilt:  # materialised already: nothing lazy left, no example input needed
        modes = [(m, m.training) for m in model.modules()]
        model.eval()
        with torch.no_grad():
            model(x)
        for m, training in modes:
            m.training = training
    before = _buffers(model)
    count = differential.attempt(impl.lazy_parameter_count, model, *((x,) if inputs else ()))
    return {"result": count, "modes after the call": _modes(model),
            "autograd enabled after the call": torch.is_grad_enabled(),
            "uninitialised after the call": _lazy_tensors(model),
            "buffers that existed before kept their values": all(
                torch.equal(b, before[name]) for name, b in _buffers(model).items() if name in before),
            "buffers": {name: b for name, b in model.named_buffers() if not is_lazy(b)}}


def _entries(shapes):
    """The result with namedtuple entries and torch.Size shapes read as the plain tuples they are."""
    if type(shapes) is not list:
        return shapes
    return [(entry[0], tuple(entry[1]) if isinstance(entry[1], tuple) else entry[1])
            if isinstance(entry, tuple) and len(entry) == 2 else entry for entry in shapes]


_SHAPE_PARTS = tuple(part for part in _PARTS if not part.startswith("lazy")) + ("conv",)


def _shape_model(spec: dict, channels: bool) -> nn.Module:
    if channels:
        model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.BatchNorm2d(2), nn.MaxPool2d(2), nn.Flatten(),
                              nn.Linear(8, _WIDTH))
    else:
        model = nn.Sequential(nn.Linear(2, _WIDTH))
    for part in spec["parts"]:
        model.append(_PARTS[part]() if part != "conv" else nn.Sequential(
            nn.Unflatten(1, (1, _WIDTH)), nn.Conv1d(1, 2, 2), nn.Flatten()))
        if part == "conv":
            model.append(nn.LazyLinear(_WIDTH) if spec["modes"][0] else nn.Linear(2 * (_WIDTH - 1), _WIDTH))
    for module, training in zip(model.modules(), spec["modes"] * 4, strict=False):
        module.training = training
    return model


@differential.scenario(
    "output_shapes",
    cases=lambda st: st.fixed_dictionaries({
        "spec": _model_specs(st, _SHAPE_PARTS), "batch": st.integers(1, 3), "channels": st.booleans(),
        "kind": st.sampled_from(("tuple", "tuple", "list", "size")),
        "bad": st.sampled_from((None,) * 6 + (0, -1, 2.0)), "explode": st.sampled_from((False,) * 5 + (True,))}),
    edge=lambda: [
        {"spec": {"parts": ["bn", "twice"], "modes": [True]}, "batch": 1, "channels": False, "kind": "tuple",
         "bad": None, "explode": False},
        {"spec": {"parts": ["nested", "dropout", "bn"], "modes": [True, False]}, "batch": 2, "channels": True,
         "kind": "list", "bad": None, "explode": False},
        {"spec": {"parts": ["bn"], "modes": [False, True]}, "batch": 2, "channels": False, "kind": "size",
         "bad": None, "explode": True},
        {"spec": {"parts": ["relu"], "modes": [True]}, "batch": 2, "channels": False, "kind": "tuple", "bad": 0,
         "explode": False},
    ],
    count=30,
)
def output_shapes_outcome(impl, spec, batch, channels, kind, bad, explode):
    model = _shape_model(spec, channels)
    if explode:
        model.append(Explode())
    shape = [batch, 1, 4, 4] if channels else [batch, 2]
    if bad is not None:
        shape[-1] = bad
    argument = {"tuple": tuple, "list": list, "size": torch.Size}[kind](shape) if bad is None else tuple(shape)
    before_hooks = hooks.hook_counts(model)
    before = _buffers(model)
    lazy = bool(_lazy_tensors(model))
    result = differential.attempt(impl.output_shapes, model, argument)
    return {"result": _entries(result), "modes after the call": _modes(model),
            "autograd enabled after the call": torch.is_grad_enabled(),
            "hooks left": {name: count for name, count in hooks.hook_counts(model).items()
                           if count != before_hooks.get(name, 0)},
            "buffers kept their values": lazy or all(
                torch.equal(b, before[name]) for name, b in _buffers(model).items() if name in before)}


@differential.scenario(
    "LazyCNN",
    cases=lambda st: st.fixed_dictionaries({
        "num_classes": st.integers(1, 12), "batch": st.integers(0, 3), "height": st.integers(16, 33),
        "width": st.integers(16, 33)}),
    edge=lambda: [{"num_classes": 10, "batch": 2, "height": 28, "width": 28},
                  {"num_classes": 10, "batch": 2, "height": 32, "width": 32},
                  {"num_classes": 3, "batch": 0, "height": 28, "width": 28},
                  {"num_classes": 1, "batch": 1, "height": 16, "width": 16},
                  {"num_classes": 4, "batch": 3, "height": 17, "width": 30}],
    count=12,
)
def lazy_cnn_outcome(impl, num_classes, batch, height, width):
    model = impl.LazyCNN(num_classes)
    lazy_before = bool(_lazy_tensors(model))
    convs = bool(checks.submodules(model, nn.Conv2d))
    x = torch.randn(batch, 1, height, width)
    out = model(x)
    outcome = {"uninitialised parameters before the first call": lazy_before, "has Conv2d layers": convs,
               "output shape": tuple(out.shape), "output dtype": out.dtype,
               "uninitialised after the first call": bool(_lazy_tensors(model)),
               "rows sum to 1 (probabilities, not logits)": bool(
                   batch and num_classes > 1 and torch.allclose(out.detach().sum(1), torch.ones(batch), atol=1e-4))}
    if batch:
        model.eval()
        with torch.no_grad():
            whole, part = model(x), model(x[-1:])
        outcome["each image's logits depend on that image only"] = bool(torch.allclose(part, whole[-1:], 1e-4, 1e-5))
        model.train()
        model(x).sum().backward()
        outcome["parameters without a gradient"] = sum(p.grad is None for p in model.parameters())
    return outcome


@pytest.mark.kata("LazyMLP")
@pytest.mark.points(2)
def test_lazy_mlp_agrees_with_the_reference_on_generated_cases(impl):
    lazy_mlp_outcome.check(impl)


@pytest.mark.kata("materialize")
@pytest.mark.points(2)
def test_materialize_agrees_with_the_reference_on_generated_models(impl):
    materialize_outcome.check(impl)


@pytest.mark.kata("lazy_parameter_count")
@pytest.mark.points(2)
def test_lazy_parameter_count_agrees_with_the_reference_on_generated_models(impl):
    lazy_parameter_count_outcome.check(impl)


@pytest.mark.kata("output_shapes")
@pytest.mark.points(2)
def test_output_shapes_agrees_with_the_reference_on_generated_models(impl):
    output_shapes_outcome.check(impl)


@pytest.mark.kata("LazyCNN")
@pytest.mark.points(2)
def test_lazy_cnn_agrees_with_the_reference_on_generated_cases(impl):
    lazy_cnn_outcome.check(impl)
