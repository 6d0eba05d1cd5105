"""Hidden checks for chapter 04, parameters: shared tensors, buffers, tied gradients, frozen objects."""

import copy
import itertools
import math

import pytest
import torch
from torch import nn

from torchkata import checks
from torchkata.graderkit import differential


class SharedNet(nn.Module):
    """One Linear(5, 5) used twice, an embedding tied to the output head, BatchNorm and an extra buffer."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(10, 4)
        self.inner = nn.Linear(4, 5)
        self.shared = nn.Linear(5, 5)
        self.again = self.shared
        self.norm = nn.BatchNorm1d(5)
        self.down = nn.Linear(5, 4)
        self.head = nn.Linear(4, 10)
        self.head.weight = self.embed.weight
        self.register_buffer("scale", torch.ones(7, 3))


class Body(nn.Module):
    """Names body.0.weight ... head.body.weight, head.norm.weight: 'body' occurs inside 'head.body'."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 4))
        self.head = nn.ModuleDict({"body": nn.Linear(4, 3), "norm": nn.LayerNorm(3)})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head["norm"](self.head["body"](torch.tanh(self.body(x))))


def _unique_numel(model: nn.Module, trainable_only: bool = False) -> int:
    """Entries of the distinct Parameter objects reachable by any name; buffers excluded."""
    seen: dict[int, nn.Parameter] = {}
    for _, p in model.named_parameters(remove_duplicate=False):
        seen.setdefault(id(p), p)
    return sum(p.numel() for p in seen.values() if p.requires_grad or not trainable_only)


def _expect_int(value: object, call: str) -> None:
    checks.check(
        isinstance(value, int) and not isinstance(value, bool),
        f"{call} returned {checks.describe(value)}; expected a Python int.",
        "Sum p.numel() values (ints); .item() turns a 0-dimensional tensor into a number.",
    )


def _expect_flags(got: dict[str, bool], want: dict[str, bool], call: str, hint: str) -> None:
    """Per-parameter flags agree; the message lists each name that differs."""
    wrong = [f"{name} (got {got.get(name)}, expected {flag})" for name, flag in want.items() if got.get(name) != flag]
    checks.check(not wrong, f"{call} is wrong for: {', '.join(wrong)}.", hint)


# count_parameters ---------------------------------------------------------------------------------


@pytest.mark.kata("count_parameters")
@pytest.mark.points(2)
def test_count_parameters_counts_shared_tensors_once(impl):
    model = SharedNet()
    untouched = copy.deepcopy(model)
    count = checks.call("count_parameters(model with a shared layer and a tied head)", impl.count_parameters, model)
    expected = _unique_numel(untouched)
    _expect_int(count, "count_parameters(model)")
    checks.equal(
        count, expected, "count_parameters(model) for a model that uses one Linear(5, 5) twice and ties "
        "the output head's weight to the embedding",
        "A tensor shared by two layers is learned once: model.parameters() yields it once, "
        "state_dict() and named_parameters(remove_duplicate=False) list it under every name.",
    )


@pytest.mark.kata("count_parameters")
@pytest.mark.points(1)
def test_count_parameters_never_counts_buffers(impl):
    model = nn.Sequential(nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3), nn.Flatten(), nn.Linear(12, 2))
    model.register_buffer("mask", torch.ones(50))
    call = "count_parameters(Sequential(Conv2d(2, 3, 3), BatchNorm2d(3), Flatten(), Linear(12, 2)) with a buffer)"
    checks.equal(
        checks.call(call, impl.count_parameters, model), _unique_numel(model), call,
        "Buffers (running_mean, running_var, num_batches_tracked, registered buffers) are in "
        "state_dict() but are not parameters.",
    )


@pytest.mark.kata("count_parameters")
@pytest.mark.points(2)
def test_count_parameters_trainable_only(impl):
    model = SharedNet()
    model.shared.weight.requires_grad_(False)
    model.norm.requires_grad_(False)
    everything = _unique_numel(model)
    trainable = _unique_numel(model, trainable_only=True)
    checks.equal(
        checks.call("count_parameters(model, trainable_only=True)", impl.count_parameters, model, trainable_only=True),
        trainable, "count_parameters(model, trainable_only=True) with the shared weight and the BatchNorm frozen",
        "With trainable_only, count only the parameters whose requires_grad is True.",
    )
    checks.equal(
        checks.call("count_parameters(model)", impl.count_parameters, model), everything,
        "count_parameters(model) (trainable_only=False) with some parameters frozen",
        "Frozen parameters still count when trainable_only is False.",
    )


@pytest.mark.kata("count_parameters")
@pytest.mark.points(1)
def test_count_parameters_of_a_large_meta_model(impl):
    with torch.device("meta"):
        model = nn.Sequential(nn.Linear(4096, 4096), nn.ReLU(), nn.Linear(4096, 1000))
    call = "count_parameters(Sequential(Linear(4096, 4096), ReLU(), Linear(4096, 1000)) on the meta device)"
    count = checks.call(call, impl.count_parameters, model)
    _expect_int(count, call)
    checks.equal(count, 4096 * 4096 + 4096 + 4096 * 1000 + 1000, call, "Count with p.numel(); no values are needed.")


@pytest.mark.kata("count_parameters")
@pytest.mark.points(1)
def test_count_parameters_rejects_a_non_module(impl):
    call = "count_parameters(Linear(3, 2))"  # a valid model first: rejecting everything earns nothing
    checks.equal(checks.call(call, impl.count_parameters, nn.Linear(3, 2)), 8, call)
    checks.raises(
        TypeError, lambda: impl.count_parameters([torch.zeros(3)]), "count_parameters([tensor])",
        "A model that is not an nn.Module raises TypeError naming the argument.",
    )


# parameter_table ----------------------------------------------------------------------------------


def _expect_table(got: object, want: list[tuple], call: str, hint: str) -> None:
    """The tables agree; the message shows the first row that differs."""
    checks.check(
        isinstance(got, list), f"{call} returned {checks.describe(got)}; expected a list of {len(want)} rows.", hint
    )
    for index, (row, expected) in enumerate(zip(got, want, strict=False)):
        # A namedtuple row is fine; checks.equal then refuses any item whose == could be rigged.
        checks.equal(tuple(row) if isinstance(row, tuple) else row, expected, f"{call}: row {index}", hint)
    checks.check(
        len(got) == len(want),
        f"{call} returned {len(got)} rows; expected {len(want)}, one per named_parameters() entry "
        f"({[row[0] for row in want]}).",
        hint,
    )


def _expected_table(model: nn.Module) -> list[tuple[str, tuple[int, ...], int, bool]]:
    return [(name, tuple(int(d) for d in p.shape), int(p.numel()), bool(p.requires_grad))
            for name, p in model.named_parameters()]


@pytest.mark.kata("parameter_table")
@pytest.mark.points(2)
def test_parameter_table_matches_named_parameters(impl):
    model = nn.Sequential(
        nn.Conv2d(3, 4, (3, 2)), nn.BatchNorm2d(4), nn.ReLU(),
        nn.Sequential(nn.Flatten(), nn.Linear(8, 5, bias=False)), nn.LayerNorm(5),
    )
    model[1].requires_grad_(False)
    table = checks.call("parameter_table(nested model)", impl.parameter_table, model)
    _expect_table(
        table, _expected_table(model),
        "parameter_table(Sequential(Conv2d, BatchNorm2d (frozen), ReLU, Sequential(Flatten, Linear), LayerNorm))",
        "Rows (name, shape, numel, requires_grad) in named_parameters() order, without buffers, with the "
        "frozen BatchNorm's requires_grad False.",
    )


@pytest.mark.kata("parameter_table")
@pytest.mark.points(1)
def test_parameter_table_row_types(impl):
    layer = nn.Linear(6, 3)
    table = checks.call("parameter_table(Linear(6, 3))", impl.parameter_table, layer)
    checks.check(
        isinstance(table, list) and len(table) == 2,
        f"parameter_table(Linear(6, 3)) returned {checks.describe(table)}; expected a list of 2 rows.",
    )
    # Rows of the right types earn nothing unless they are the right rows.
    _expect_table(table, _expected_table(layer), "parameter_table(Linear(6, 3))", "One row per parameter.")
    for row in table:
        checks.check(
            isinstance(row, tuple) and len(row) == 4,
            f"parameter_table(Linear(6, 3)) has the row {checks.describe(row)}; expected a tuple of 4.",
        )
        name, shape, numel, requires_grad = row
        good = (
            isinstance(name, str)
            and isinstance(shape, tuple)
            and all(isinstance(d, int) for d in shape)
            and isinstance(numel, int) and not isinstance(numel, bool)
            and isinstance(requires_grad, bool)
        )
        checks.check(
            good,
            f"parameter_table(Linear(6, 3)) has the row {row!r}; expected (str, tuple of ints, int, bool).",
            "Use tuple(p.shape), p.numel() (an int) and p.requires_grad (a bool).",
        )


@pytest.mark.kata("parameter_table")
@pytest.mark.points(1)
def test_parameter_table_lists_shared_tensors_once(impl):
    model = SharedNet()
    table = checks.call("parameter_table(model with shared layers)", impl.parameter_table, model)
    _expect_table(
        table, _expected_table(model), "parameter_table(model with one Linear used twice and a tied head)",
        "named_parameters() lists a shared tensor once, under its first name.",
    )


# TiedMLP ------------------------------------------------------------------------------------------


def _tied_parameters(model: nn.Module, dim: int, call: str) -> list[dict[str, torch.Tensor]]:
    """Every consistent assignment of the model's parameters, found by shape, to the network's roles."""
    by_shape: dict[tuple[int, ...], list[nn.Parameter]] = {}
    for p in model.parameters():
        by_shape.setdefault(tuple(p.shape), []).append(p)
    expected = {(dim, 4): 1, (dim, dim): 1, (dim,): 2, (1, dim): 1, (1,): 1}
    found = {shape: len(found) for shape, found in by_shape.items()}
    checks.check(
        found == expected,
        f"{call} has parameters of shapes {sorted(found.items())} (shape: how many); expected "
        f"{sorted(expected.items())}.",
        "The shared Linear(dim, dim) must be one layer used twice: a second layer (or a copy) adds "
        "another weight and bias that train separately.",
    )
    w1, ws, wo, bo = by_shape[(dim, 4)][0], by_shape[(dim, dim)][0], by_shape[(1, dim)][0], by_shape[(1,)][0]
    return [
        {"w1": w1, "b1": b1, "ws": ws, "bs": bs, "wo": wo, "bo": bo}
        for b1, bs in itertools.permutations(by_shape[(dim,)])
    ]


def _tied_forward(p: dict[str, torch.Tensor], x: torch.Tensor, second: dict[str, torch.Tensor] | None = None):
    """Linear, ReLU, shared, ReLU, shared (or ``second``'s copy of it), ReLU, Linear."""
    second = second or p
    h = torch.relu(x @ p["w1"].T + p["b1"])
    h = torch.relu(h @ p["ws"].T + p["bs"])
    h = torch.relu(h @ second["ws"].T + second["bs"])
    return h @ p["wo"].T + p["bo"]


def _best_assignment(model, dim, x, out, call):
    candidates = _tied_parameters(model, dim, call)
    with torch.no_grad():
        return min(candidates, key=lambda p: (_tied_forward(p, x) - out).abs().max().item())


@pytest.mark.kata("TiedMLP")
@pytest.mark.points(1)
def test_tied_mlp_shares_one_layer(impl):
    model = checks.call("TiedMLP(5)", impl.TiedMLP, 5)
    _tied_parameters(model, 5, "TiedMLP(5)")
    checks.parameter_count(model, 4 * 5 + 5 + 5 * 5 + 5 + 5 + 1, "TiedMLP(5)")


@pytest.mark.kata("TiedMLP")
@pytest.mark.points(2)
@pytest.mark.parametrize("dim", [5, 8])
def test_tied_mlp_matches_reference(impl, dim):
    call = f"TiedMLP({dim})"
    model = checks.call(call, impl.TiedMLP, dim)
    with torch.no_grad():
        for p in model.parameters():
            p.uniform_(-0.8, 0.8)
    x = torch.randn(6, 4)
    out = checks.call(f"{call}(x)", model, x)
    checks.shape(out, (6, 1), f"{call}(x) with x of shape (6, 4)")
    best = _best_assignment(model, dim, x, out.detach(), call)
    with torch.no_grad():
        expected = _tied_forward(best, x)
    checks.close(
        out.detach(), expected, f"{call}(x) with x of shape (6, 4)",
        "Expected Linear(4, dim), ReLU, shared Linear(dim, dim), ReLU, the same layer again, ReLU, "
        "Linear(dim, 1).", rtol=1e-4, atol=1e-5,
    )


@pytest.mark.kata("TiedMLP")
@pytest.mark.points(3)
def test_tied_mlp_gradient_is_the_sum_of_both_uses(impl):
    dim = 6
    model = checks.call(f"TiedMLP({dim})", impl.TiedMLP, dim)
    with torch.no_grad():
        for p in model.parameters():
            p.uniform_(-0.8, 0.8)
    x = torch.randn(8, 4)
    weights = torch.randn(8, 1)
    out = checks.call(f"TiedMLP({dim})(x)", model, x)
    best = _best_assignment(model, dim, x, out.detach(), f"TiedMLP({dim})")
    (out * weights).sum().backward()

    # The same network with the two uses of the shared layer as separate, independent copies.
    first = {key: value.detach().clone().requires_grad_() for key, value in best.items()}
    second = {key: first[key].detach().clone().requires_grad_() for key in ("ws", "bs")}
    (_tied_forward(first, x, second) * weights).sum().backward()
    for key, role in (("ws", "weight"), ("bs", "bias")):
        uses = (first[key].grad, second[key].grad)
        got = best[key].grad
        checks.check(
            got is not None,
            f"after TiedMLP({dim})(x).backward() the shared layer's {role} has no gradient.",
        )
        checks.close(
            got, uses[0] + uses[1], f"the gradient of the shared layer's {role} in TiedMLP({dim})",
            "It must be the sum of the gradients of both uses: call the same layer (with its own "
            "Parameters, not detached or copied ones) twice in forward.", rtol=1e-4, atol=1e-5,
        )


# freeze_ ------------------------------------------------------------------------------------------


@pytest.mark.kata("freeze_")
@pytest.mark.points(3)
def test_freeze_with_an_optimizer_built_before(impl):
    net = Body()
    before = dict(net.named_parameters())
    values = {name: p.detach().clone() for name, p in before.items()}
    optimizer = torch.optim.SGD(net.parameters(), lr=0.5)
    call = "freeze_(model, ['body', 'head.norm'])"
    frozen = checks.call(call, impl.freeze_, net, ["body", "head.norm"])
    checks.same_objects(
        list(before.values()), list(net.parameters()), call,
        "Freeze the existing Parameters with p.requires_grad_(False); a new Parameter is unknown to "
        "the optimizer that was built before.",
    )
    should_freeze = {name for name in before if name.startswith(("body", "head.norm"))}
    flags = {name: p.requires_grad for name, p in before.items()}
    _expect_flags(
        flags, {name: name not in should_freeze for name in before},
        f"requires_grad of each parameter after {call}",
        "Freeze exactly the parameters whose names start with one of the prefixes (any of them); "
        "'head.body.weight' does not start with 'body'.",
    )
    checks.equal(frozen, len(should_freeze), f"the number returned by {call}", "Count the frozen tensors.")

    loss = (net(torch.randn(5, 3)) * torch.randn(5, 3)).sum()
    loss.backward()
    optimizer.step()
    moved = {name: not torch.equal(p.detach(), values[name]) for name, p in before.items()}
    _expect_flags(
        moved, {name: name not in should_freeze for name in before},
        f"whether an SGD step (optimizer built before {call}) changed each parameter",
        "The optimizer holds the original Parameter objects: their own requires_grad must be False.",
    )


@pytest.mark.kata("freeze_")
@pytest.mark.points(1)
def test_freeze_returns_the_count_and_no_prefix_freezes_nothing(impl):
    net = Body()
    call = "freeze_(model, [])"
    checks.equal(checks.call(call, impl.freeze_, net, []), 0, call, "No prefixes, nothing frozen: return 0.")
    checks.check(
        all(p.requires_grad for p in net.parameters()), f"{call} froze parameters; expected none frozen."
    )
    call = "freeze_(model, ('head',))"
    frozen = checks.call(call, impl.freeze_, net, ("head",))
    _expect_int(frozen, call)
    checks.equal(frozen, 4, call, "head.body.weight, head.body.bias, head.norm.weight, head.norm.bias: 4 tensors.")


@pytest.mark.kata("freeze_")
@pytest.mark.points(1)
def test_freeze_rejects_a_prefix_that_is_not_a_string(impl):
    call = "freeze_(model, ['body.0'])"  # a valid prefix first: rejecting everything earns nothing
    checks.equal(checks.call(call, impl.freeze_, Body(), ["body.0"]), 2, call)
    checks.raises(
        TypeError, lambda: impl.freeze_(Body(), [3]), "freeze_(model, [3])",
        "A prefix that is not a string raises TypeError.",
    )


# grad_norms ---------------------------------------------------------------------------------------


class PartlyUsed(nn.Module):
    """One unused layer and one frozen layer: their parameters get no gradient."""

    def __init__(self) -> None:
        super().__init__()
        self.first = nn.Linear(3, 4)
        self.frozen = nn.Linear(4, 4)
        self.frozen.requires_grad_(False)
        self.unused = nn.Linear(2, 2)
        self.last = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.last(torch.tanh(self.frozen(torch.tanh(self.first(x)))))


def _grads(model: nn.Module) -> dict[str, torch.Tensor | None]:
    """A copy of every parameter's gradient, taken before the call; the norms are computed after it."""
    return {name: None if p.grad is None else p.grad.clone() for name, p in model.named_parameters()}


def _expect_norms(norms: object, grads: dict[str, torch.Tensor | None]) -> None:
    expected = {name: None if grad is None else torch.linalg.vector_norm(grad).item() for name, grad in grads.items()}
    checks.check(
        isinstance(norms, dict) and list(norms) == list(expected),
        f"grad_norms(model) returned keys {list(norms) if isinstance(norms, dict) else checks.describe(norms)}; "
        f"expected every parameter name in named_parameters() order: {list(expected)}.",
    )
    for name, want in expected.items():
        got = norms[name]
        call = f"grad_norms(model)[{name!r}]"
        if want is None:
            checks.check(
                got is None, f"{call} is {got!r}; expected None, since that parameter has no gradient.",
                "p.grad is None for frozen and unused parameters: report None, not 0.",
            )
            continue
        checks.check(isinstance(got, float), f"{call} is {checks.describe(got)}; expected a Python float.")
        checks.close(
            torch.tensor(got, dtype=torch.float64), torch.tensor(want, dtype=torch.float64), call,
            "The L2 norm of the gradient p.grad (square root of the sum of squares), not of the parameter.",
            rtol=1e-5, atol=1e-6,
        )


@pytest.mark.kata("grad_norms")
@pytest.mark.points(3)
def test_grad_norms_match_vector_norm(impl):
    model = PartlyUsed()
    (model(torch.randn(7, 3)) * 20).sum().backward()
    grads = _grads(model)
    norms = checks.call("grad_norms(model)", impl.grad_norms, model)
    _expect_norms(norms, grads)


@pytest.mark.kata("grad_norms")
@pytest.mark.points(1)
def test_grad_norms_leave_the_gradients_alone(impl):
    model = PartlyUsed()
    (model(torch.randn(4, 3)) ** 2).sum().backward()
    grads = _grads(model)
    norms = checks.call("grad_norms(model)", impl.grad_norms, model)
    for name, p in model.named_parameters():
        if grads[name] is not None:
            checks.check(
                p.grad is not None and torch.equal(p.grad, grads[name]),
                f"after grad_norms(model), the gradient of {name} changed; expected it untouched.",
                "Read p.grad; don't zero or modify it.",
            )
    _expect_norms(norms, grads)  # leaving the gradients alone earns nothing without the norms


@pytest.mark.kata("grad_norms")
@pytest.mark.points(1)
def test_grad_norms_after_zero_grad(impl):
    model = PartlyUsed()
    model(torch.randn(4, 3)).sum().backward()
    model.zero_grad(set_to_none=True)
    norms = checks.call("grad_norms(model) after zero_grad()", impl.grad_norms, model)
    names = [name for name, _ in model.named_parameters()]
    checks.check(
        isinstance(norms, dict) and list(norms) == names,
        f"grad_norms(model) after zero_grad() returned {checks.describe(norms)}; expected the keys {names}.",
        "Every parameter gets an entry, also those without a gradient.",
    )
    wrong = {name: value for name, value in norms.items() if value is not None}
    checks.check(
        not wrong, f"grad_norms(model) after zero_grad() gave {wrong}; expected None for every parameter.",
        "After zero_grad() every p.grad is None: report None, not 0.",
    )


# --- differential: every observable against the reference's recorded outcomes on generated cases ---------------


class _Net(nn.Module):
    """A model generated from plain options: a Linear chain, a layer used twice, a head tied to an
    embedding, a BatchNorm with buffers, a parameter of the root itself (0-dim when root == 1), an
    unused layer. Names such as ``head.body.weight`` make prefixes interesting."""

    def __init__(self, widths, share, tie, norm, root, unused) -> None:
        super().__init__()
        if root:
            values = torch.linspace(0.5, 1.5, root)
            self.scale = nn.Parameter(values.reshape(()) if root == 1 else values)
        layers: list[nn.Module] = []
        for a, b in zip(widths, widths[1:], strict=False):
            layers += [nn.Linear(a, b), nn.Tanh()]
        if share:
            square = nn.Linear(widths[-1], widths[-1])
            layers += [square, nn.Tanh(), square, nn.Tanh()]
        self.body = nn.Sequential(*layers)
        head: dict[str, nn.Module] = {"body": nn.Linear(widths[-1], 2)}
        if norm:
            head["norm"] = nn.BatchNorm1d(widths[-1])
        self.head = nn.ModuleDict(head)
        if tie:
            self.embed = nn.Embedding(2, widths[-1])
            self.head["body"].weight = self.embed.weight
        if unused:
            self.unused = nn.Linear(2, 3)
        self.register_buffer("mask", torch.ones(3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if hasattr(self, "scale"):
            x = x * self.scale.sum()
        h = self.body(x)
        if "norm" in self.head:
            h = self.head["norm"](h)
        out = self.head["body"](h)
        if hasattr(self, "embed"):
            out = out + self.embed(torch.zeros(1, dtype=torch.long, device=x.device)).sum()
        return out


def _net_specs(st):
    return st.fixed_dictionaries({
        "widths": st.lists(st.integers(1, 4), min_size=1, max_size=4),
        "share": st.booleans(), "tie": st.booleans(), "norm": st.booleans(),
        "root": st.integers(0, 3), "unused": st.booleans(),
        "frozen": st.lists(st.booleans(), max_size=8),
        "double": st.booleans(),
    })


_EDGE_SPEC = {"widths": [3], "share": False, "tie": False, "norm": False, "root": 0, "unused": False,
              "frozen": [], "double": False}
_FULL_SPEC = {"widths": [3, 4], "share": True, "tie": True, "norm": True, "root": 1, "unused": True,
              "frozen": [False, True, False, False, True], "double": False}


def _build(spec: dict, device: str = "cpu") -> _Net:
    model = _Net(spec["widths"], spec["share"], spec["tie"], spec["norm"], spec["root"], spec["unused"])
    if spec["double"]:
        model.double()
    model.to(device)  # built on the CPU: random ops on meta tensors import torch._dynamo (seconds)
    for p, frozen in zip(model.parameters(), spec["frozen"], strict=False):
        p.requires_grad_(not frozen)
    return model


def _flags(model: nn.Module) -> dict[str, bool]:
    return {name: p.requires_grad for name, p in model.named_parameters()}


def _values(model: nn.Module) -> dict[str, torch.Tensor]:
    return {name: t.detach().clone() for name, t in model.state_dict(keep_vars=True).items()}


def _argument(kind: str, model: nn.Module):
    """What is passed as the model: the model, or something that is not an nn.Module."""
    return {"model": model, "list": list(model.parameters()), "tensor": torch.zeros(3), "none": None}[kind]


@differential.scenario(
    "count_parameters",
    cases=lambda st: st.fixed_dictionaries({
        "spec": _net_specs(st), "trainable_only": st.booleans(),
        "device": st.sampled_from(("cpu", "meta")), "argument": st.sampled_from(("model",) * 6 + ("list", "tensor"))}),
    edge=lambda: [
        {"spec": _EDGE_SPEC, "trainable_only": False, "device": "cpu", "argument": "model"},
        {"spec": {**_FULL_SPEC, "frozen": [True] * 9}, "trainable_only": True, "device": "cpu", "argument": "model"},
        {"spec": _FULL_SPEC, "trainable_only": True, "device": "meta", "argument": "model"},
        {"spec": _FULL_SPEC, "trainable_only": False, "device": "cpu", "argument": "list"},
        {"spec": _EDGE_SPEC, "trainable_only": False, "device": "cpu", "argument": "none"},
    ],
    count=30,
)
def count_parameters_outcome(impl, spec, trainable_only, device, argument):
    model = _build(spec, device)
    before = _values(model) if device == "cpu" else None
    count = differential.attempt(impl.count_parameters, _argument(argument, model), trainable_only=trainable_only)
    return {"result": count, "requires_grad after the call": _flags(model),
            "values unchanged": before is None or all(
                torch.equal(t, before[name]) for name, t in _values(model).items())}


def _rows(table):
    """The table with namedtuple rows and torch.Size shapes read as the plain tuples they are."""
    if type(table) is not list:
        return table
    rows = []
    for row in table:
        if isinstance(row, tuple):
            row = tuple(row)
            if len(row) == 4 and isinstance(row[1], tuple):
                row = (row[0], tuple(row[1]), row[2], row[3])
        rows.append(row)
    return rows


@differential.scenario(
    "parameter_table",
    cases=lambda st: st.fixed_dictionaries({"spec": _net_specs(st), "device": st.sampled_from(("cpu", "meta"))}),
    edge=lambda: [{"spec": _EDGE_SPEC, "device": "cpu"}, {"spec": _FULL_SPEC, "device": "cpu"},
                  {"spec": {**_FULL_SPEC, "frozen": [True] * 9, "root": 3}, "device": "meta"}],
    count=25,
)
def parameter_table_outcome(impl, spec, device):
    model = _build(spec, device)
    table = impl.parameter_table(model)
    return {"result": _rows(table), "requires_grad after the call": _flags(model)}


@differential.scenario(
    "TiedMLP",
    cases=lambda st: st.fixed_dictionaries({
        "dim": st.integers(1, 6), "batch": st.integers(0, 4), "double": st.booleans(),
        "upstream": differential.tensors(st, shape=(4, 1), low=-2, high=2)}),
    edge=lambda: [
        {"dim": 1, "batch": 1, "double": False, "upstream": torch.ones(4, 1)},
        {"dim": 8, "batch": 0, "double": False, "upstream": torch.ones(4, 1)},
        {"dim": 0, "batch": 2, "double": False, "upstream": torch.ones(4, 1)},
        {"dim": -3, "batch": 2, "double": False, "upstream": torch.ones(4, 1)},
        {"dim": 2.5, "batch": 2, "double": False, "upstream": torch.ones(4, 1)},
    ],
    count=20,
    tolerances={torch.float32: (1e-4, 1e-5)},
)
def tied_mlp_outcome(impl, dim, batch, double, upstream):
    model = impl.TiedMLP(dim)
    differential.fill_by_shape_(model)
    with torch.no_grad():
        for p in model.parameters():
            if p.shape == (1,):
                p.sub_(1.0)  # the output bias (by shape, so any style agrees) negative: logits of both signs
    dtype = torch.float64 if double else torch.float32
    model.to(dtype)
    x = torch.linspace(-2.0, 2.0, batch * 4, dtype=dtype).reshape(batch, 4) * torch.tensor([1.0, -0.5, 0.7, -1.3],
                                                                                               dtype=dtype)
    out = model(x)
    (out * upstream[:batch].to(dtype)).sum().backward()
    by_shape: dict[tuple[int, ...], list[torch.Tensor]] = {}
    for p in model.parameters():
        by_shape.setdefault(tuple(p.shape), []).append(p.grad if p.grad is not None else torch.zeros_like(p))
    # Two parameters of one shape (the biases of Linear(4, dim) and of the shared layer) have no order
    # that holds in every style: compare the sum and the sum of squares of their gradients.
    grads = {str(shape): (torch.stack(found).sum(0), torch.stack(found).pow(2).sum(0))
             for shape, found in sorted(by_shape.items())}
    return {"output": out.detach(), "parameter shapes": differential.parameter_shapes(model),
            "parameter entries": sum(p.numel() for p in model.parameters()),
            "gradients by shape (sum, sum of squares)": grads,
            "parameters without a gradient": sum(p.grad is None for p in model.parameters())}


def _prefixes(kind: str, names: list):
    if kind == "str":
        return names[0] if names else ""
    if kind == "tuple":
        return tuple(names)
    if kind == "generator":
        return (name for name in names)
    return list(names)


_PREFIX_POOL = ("body", "body.0", "body.1", "head", "head.body", "head.norm", "head.norm.weight", "embed",
                "scale", "", "b", "unused.bias", "body.0.weight", "missing")


@differential.scenario(
    "freeze_",
    cases=lambda st: st.fixed_dictionaries({
        "spec": _net_specs(st),
        "prefixes": st.lists(st.sampled_from(_PREFIX_POOL), max_size=3),
        "kind": st.sampled_from(("list", "tuple", "str", "generator")),
        "bad": st.sampled_from((None,) * 5 + (3, 1.5))}),
    edge=lambda: [
        {"spec": _FULL_SPEC, "prefixes": [], "kind": "list", "bad": None},
        {"spec": _FULL_SPEC, "prefixes": ["body"], "kind": "str", "bad": None},
        {"spec": _FULL_SPEC, "prefixes": ["head", "body.0"], "kind": "generator", "bad": None},
        {"spec": _FULL_SPEC, "prefixes": [""], "kind": "tuple", "bad": None},
        {"spec": _FULL_SPEC, "prefixes": ["body", "head"], "kind": "list", "bad": 3},
    ],
    count=30,
)
def freeze_outcome(impl, spec, prefixes, kind, bad):
    model = _build(spec)
    originals = dict(model.named_parameters())
    before = _values(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    names = list(prefixes) + ([bad] if bad is not None else [])
    frozen = differential.attempt(impl.freeze_, model, _prefixes(kind, names))
    # What an optimizer built before the call does now: frozen parameters take no gradient, so no step.
    model.train()
    x = torch.linspace(-1.0, 1.0, 3 * spec["widths"][0], dtype=torch.float64 if spec["double"] else torch.float32)
    out = model(x.reshape(3, -1))
    if out.requires_grad:
        out.pow(2).sum().backward()
    optimizer.step()
    return {"result": frozen,
            "requires_grad of the original Parameters": {name: p.requires_grad for name, p in originals.items()},
            "the same Parameter objects": [id(p) for p in model.parameters()] == [id(p) for p in originals.values()],
            "changed by a step of an optimizer built before": {
                name: not torch.equal(p.detach(), before[name]) for name, p in originals.items()}}


@differential.scenario(
    "grad_norms",
    cases=lambda st: st.fixed_dictionaries({
        "spec": _net_specs(st), "after": st.sampled_from(("backward", "backward", "zeros", "none", "nothing")),
        "scale": st.floats(0.5, 8.0)}),
    edge=lambda: [{"spec": _FULL_SPEC, "after": "backward", "scale": 1.0},
                  {"spec": _FULL_SPEC, "after": "zeros", "scale": 1.0},
                  {"spec": _FULL_SPEC, "after": "none", "scale": 1.0},
                  {"spec": {**_FULL_SPEC, "double": True, "frozen": []}, "after": "backward", "scale": 8.0}],
    count=25,
    tolerances={torch.float32: (1e-3, 1e-4), torch.float64: (1e-4, 1e-6)},
)
def grad_norms_outcome(impl, spec, after, scale):
    model = _build(spec)
    dtype = torch.float64 if spec["double"] else torch.float32
    x = torch.linspace(-1.0, 1.0, 3 * spec["widths"][0], dtype=dtype).reshape(3, -1)
    out = model(x)
    if after != "nothing" and out.requires_grad:
        (out * scale).pow(2).sum().backward()
    if after in ("zeros", "none"):
        model.zero_grad(set_to_none=after == "none")
    grads = {name: None if p.grad is None else p.grad.clone() for name, p in model.named_parameters()}
    norms = impl.grad_norms(model)
    if type(norms) is not dict and isinstance(norms, dict):
        norms = dict(norms)  # an OrderedDict is a dict too
    if type(norms) is not dict:
        return {"result": norms}
    # Types exactly, values with a tolerance: float32 gradients differ in their last bits between thread counts.
    return {"result types": {str(name): type(value).__name__ for name, value in norms.items()},
            "key order": [str(name) for name in norms],
            "norms": torch.tensor([value if type(value) is float else math.nan for value in norms.values()],
                                  dtype=torch.float64),
            "grads after the call": {name: None if p.grad is None else p.grad for name, p in model.named_parameters()},
            "grads unchanged": all((p.grad is None) == (grads[name] is None) and (
                p.grad is None or torch.equal(p.grad, grads[name])) for name, p in model.named_parameters())}


@pytest.mark.kata("count_parameters")
@pytest.mark.points(2)
def test_count_parameters_agrees_with_the_reference_on_generated_models(impl):
    count_parameters_outcome.check(impl)


@pytest.mark.kata("parameter_table")
@pytest.mark.points(2)
def test_parameter_table_agrees_with_the_reference_on_generated_models(impl):
    parameter_table_outcome.check(impl)


@pytest.mark.kata("TiedMLP")
@pytest.mark.points(2)
def test_tied_mlp_agrees_with_the_reference_on_generated_cases(impl):
    tied_mlp_outcome.check(impl)


@pytest.mark.kata("freeze_")
@pytest.mark.points(2)
def test_freeze_agrees_with_the_reference_on_generated_models(impl):
    freeze_outcome.check(impl)


@pytest.mark.kata("grad_norms")
@pytest.mark.points(2)
def test_grad_norms_agrees_with_the_reference_on_generated_models(impl):
    grad_norms_outcome.check(impl)
