"""Hidden checks for chapter 05, init: distributions by statistics, exact constants, the same objects,
other modules untouched, and seeds that neither depend on nor disturb the global RNG."""

import math

import pytest
import torch
from torch import nn

from torchkata import checks
from torchkata.graderkit import differential

ONE_SIGMA = math.erf(1 / math.sqrt(2))  # P(|z| < 1) for a normal, 0.683; a uniform of equal std gives 0.577


class Gain(nn.Module):
    """A custom module with a parameter of its own; no initialiser here should touch it."""

    def __init__(self) -> None:
        super().__init__()
        self.gain = nn.Parameter(torch.randn(5))


def _weights(model: nn.Module, kind: type[nn.Module]) -> list[torch.Tensor]:
    return [m.weight.detach() for m in model.modules() if isinstance(m, kind)]


def _within(value: float, low: float, high: float, what: str, call: str, hint: str | None = None) -> None:
    checks.check(
        low <= value <= high, f"after {call}, {what} is {value:.4g}; expected between {low:.4g} and {high:.4g}.", hint
    )


def _normal_stats(w: torch.Tensor, std: float, what: str, call: str, hint: str, rel: float = 0.05) -> None:
    """w looks like N(0, std): mean, spread and the share within one std."""
    w = w.flatten().double()
    _within(w.mean().item(), -5 * std / math.sqrt(w.numel()), 5 * std / math.sqrt(w.numel()),
            f"the mean of {what}", call, hint)
    _within(w.std().item(), std * (1 - rel), std * (1 + rel), f"the standard deviation of {what}", call, hint)
    share = (w.abs() < std).double().mean().item()
    _within(share, ONE_SIGMA - 0.035, ONE_SIGMA + 0.035, f"the share of {what} within one std of 0", call,
            "A normal distribution puts 68% of its values within one standard deviation; draw with normal_.")


def _snapshot(model: nn.Module) -> list[tuple[str, nn.Parameter, torch.Tensor]]:
    return [(name, p, p.detach().clone()) for name, p in model.named_parameters()]


def _expect_unchanged(snapshot, names: tuple[str, ...], call: str, hint: str) -> None:
    for name, p, before in snapshot:
        if name.startswith(names):
            checks.close(p.detach(), before, f"{name} after {call} (a module it should leave alone)", hint)


def _expect_in_place(snapshot, model: nn.Module, optimizer: torch.optim.Optimizer, call: str) -> None:
    hint = "Change the existing tensors in place (nn.init.*_ or copy_ under no_grad); don't assign new nn.Parameters."
    checks.same_objects([p for _, p, _ in snapshot], list(model.parameters()), call, hint)
    held = optimizer.param_groups[0]["params"]
    checks.same_objects(held, list(model.parameters()), f"{call} (compared with an optimizer built before)", hint)


def _zero_biases(model: nn.Module, kinds: tuple[type[nn.Module], ...], call: str) -> None:
    for name, m in model.named_modules():
        if isinstance(m, kinds) and m.bias is not None:
            checks.close(m.bias.detach(), torch.zeros_like(m.bias), f"{name}.bias after {call}",
                         "Biases are set to exactly zero.", rtol=0, atol=0)


def _perturb(*modules: nn.Module) -> None:
    with torch.no_grad():
        for module in modules:
            for p in module.parameters():
                p.uniform_(-3.0, 3.0)


# init_normal_ -------------------------------------------------------------------------------------


@pytest.mark.kata("init_normal_")
@pytest.mark.points(2)
def test_init_normal_distribution(impl):
    model = nn.Sequential(nn.Linear(100, 120), nn.ReLU(), nn.Sequential(nn.Linear(120, 80)))
    call = "init_normal_(model, std=0.5) for a model with Linear(100, 120) and a nested Linear(120, 80)"
    checks.call(call, impl.init_normal_, model, std=0.5)
    hint = "Every nn.Linear inside (module.modules() reaches nested ones): nn.init.normal_(m.weight, 0.0, std)."
    first, second = _weights(model, nn.Linear)
    _within(first.std().item(), 0.475, 0.525, "the std of Linear(100, 120).weight", call, hint)
    _within(second.std().item(), 0.475, 0.525, "the std of the nested Linear(120, 80).weight", call, hint)
    _normal_stats(torch.cat([first.flatten(), second.flatten()]), 0.5, "the Linear weights", call, hint, rel=0.03)
    _zero_biases(model, (nn.Linear,), call)


@pytest.mark.kata("init_normal_")
@pytest.mark.points(1)
def test_init_normal_default_std(impl):
    layer = nn.Linear(200, 100)
    call = "init_normal_(Linear(200, 100))"
    returned = checks.call(call, impl.init_normal_, layer)
    checks.check(returned is layer, f"{call} returned {checks.describe(returned)}; expected the module itself.")
    _normal_stats(layer.weight.detach(), 0.01, "the weights", call, "The default std is 0.01.")
    _zero_biases(layer, (nn.Linear,), call)


@pytest.mark.kata("init_normal_")
@pytest.mark.points(1)
def test_init_normal_only_linear_layers(impl):
    model = nn.Sequential(nn.Linear(10, 20), nn.LayerNorm(20), nn.Linear(20, 6, bias=False), nn.Conv2d(2, 3, 3), Gain())
    _perturb(model[1], model[3], model[4])
    snapshot = _snapshot(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    call = "init_normal_(Sequential(Linear, LayerNorm, Linear(bias=False), Conv2d, custom), std=0.2)"
    checks.call(call, impl.init_normal_, model, std=0.2)
    _expect_in_place(snapshot, model, optimizer, call)
    _expect_unchanged(
        snapshot, ("1.", "3.", "4."), call, "Only nn.Linear layers are initialised; others keep their values."
    )
    _zero_biases(model, (nn.Linear,), call)
    _within(model[2].weight.detach().std().item(), 0.15, 0.25, "the std of Linear(20, 6, bias=False).weight", call)


@pytest.mark.kata("init_normal_")
@pytest.mark.points(1)
def test_init_normal_rejects_negative_std(impl):
    layer = nn.Linear(3, 3)
    returned = checks.call("init_normal_(Linear(3, 3), std=0.5)", impl.init_normal_, layer, std=0.5)
    checks.check(returned is layer, f"init_normal_(Linear(3, 3), std=0.5) returned {checks.describe(returned)}; "
                 "expected the module itself (a valid std is accepted).")
    checks.raises(
        ValueError, lambda: impl.init_normal_(nn.Linear(3, 3), std=-1.0), "init_normal_(Linear(3, 3), std=-1.0)",
        "A negative std is a bad argument: raise ValueError naming std.",
    )


# init_constant_ -----------------------------------------------------------------------------------


@pytest.mark.kata("init_constant_")
@pytest.mark.points(2)
@pytest.mark.parametrize("value", [0.42, -2.5])
def test_init_constant_value(impl, value):
    model = nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Sequential(nn.Linear(7, 3), nn.Linear(3, 2, bias=False)))
    call = f"init_constant_(nested model with three Linear layers, {value})"
    checks.call(call, impl.init_constant_, model, value)
    for name, m in model.named_modules():
        if isinstance(m, nn.Linear):
            checks.close(m.weight.detach(), torch.full_like(m.weight, value), f"{name}.weight after {call}",
                         "nn.init.constant_(m.weight, value) for every nn.Linear, nested ones too.")
    _zero_biases(model, (nn.Linear,), call)


@pytest.mark.kata("init_constant_")
@pytest.mark.points(1)
def test_init_constant_in_place_and_only_linear(impl):
    model = nn.Sequential(nn.Embedding(6, 4), nn.Linear(4, 4), nn.LayerNorm(4), Gain())
    _perturb(model[2])
    snapshot = _snapshot(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    call = "init_constant_(Sequential(Embedding, Linear, LayerNorm, custom), 3.0)"
    checks.call(call, impl.init_constant_, model, 3.0)
    _expect_in_place(snapshot, model, optimizer, call)
    _expect_unchanged(snapshot, ("0.", "2.", "3."), call, "Only nn.Linear layers get the constant.")
    checks.close(model[1].weight.detach(), torch.full((4, 4), 3.0), f"1.weight after {call}")


# init_by_type_ ------------------------------------------------------------------------------------


def _typed_model() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(8, 64, 3), nn.BatchNorm2d(64), nn.Conv2d(32, 8, (3, 5)), nn.LayerNorm(6),
        nn.Linear(200, 100), nn.BatchNorm1d(100), nn.Linear(30, 300), nn.Embedding(5, 3), Gain(),
    )


@pytest.mark.kata("init_by_type_")
@pytest.mark.points(2)
def test_init_by_type_xavier_uniform_for_linear(impl):
    model = _typed_model()
    call = "init_by_type_(model)"
    checks.call(call, impl.init_by_type_, model)
    hint = "nn.Linear: nn.init.xavier_uniform_(m.weight), i.e. U(-a, a) with a = sqrt(6 / (fan_in + fan_out))."
    for index, fan_in, fan_out in ((4, 200, 100), (6, 30, 300)):
        w = model[index].weight.detach().double()
        bound = math.sqrt(6 / (fan_in + fan_out))
        what = f"Linear({fan_in}, {fan_out}).weight"
        _within(w.abs().max().item(), 0.95 * bound, bound * (1 + 1e-6), f"the largest |entry| of {what}", call, hint)
        _within(w.std().item(), 0.95 * bound / math.sqrt(3), 1.05 * bound / math.sqrt(3), f"the std of {what}",
                call, hint)
        _within(w.mean().item(), -0.05 * bound, 0.05 * bound, f"the mean of {what}", call, hint)
    _zero_biases(model, (nn.Linear,), call)


@pytest.mark.kata("init_by_type_")
@pytest.mark.points(3)
def test_init_by_type_kaiming_normal_fan_out_for_conv(impl):
    model = _typed_model()
    call = "init_by_type_(model)"
    checks.call(call, impl.init_by_type_, model)
    for index, shape in ((0, (64, 8, 3, 3)), (2, (8, 32, 3, 5))):
        out_channels, in_channels, kh, kw = shape
        fan_out, fan_in = out_channels * kh * kw, in_channels * kh * kw
        std = math.sqrt(2 / fan_out)
        what = f"Conv2d({in_channels}, {out_channels}, {(kh, kw)}).weight"
        hint = (
            f"kaiming_normal_ with mode='fan_out' and nonlinearity='relu' gives std sqrt(2 / fan_out) = {std:.4g}, "
            f"fan_out = {out_channels}*{kh}*{kw}; mode='fan_in' would give {math.sqrt(2 / fan_in):.4g}."
        )
        _normal_stats(model[index].weight.detach(), std, what, call, hint, rel=0.08)
    _zero_biases(model, (nn.Conv2d,), call)


@pytest.mark.kata("init_by_type_")
@pytest.mark.points(1)
def test_init_by_type_batch_norm_weight_one_bias_zero(impl):
    model = _typed_model()
    _perturb(model[1], model[5])
    call = "init_by_type_(model) with BatchNorm2d(64) and BatchNorm1d(100) perturbed first"
    checks.call(call, impl.init_by_type_, model)
    for index in (1, 5):
        norm = model[index]
        checks.close(norm.weight.detach(), torch.ones_like(norm.weight), f"{index}.weight ({type(norm).__name__})"
                     f" after {call}", "BatchNorm: nn.init.ones_(weight), nn.init.zeros_(bias).")
        checks.close(norm.bias.detach(), torch.zeros_like(norm.bias), f"{index}.bias ({type(norm).__name__})"
                     f" after {call}", "BatchNorm: nn.init.ones_(weight), nn.init.zeros_(bias).")


@pytest.mark.kata("init_by_type_")
@pytest.mark.points(2)
def test_init_by_type_leaves_other_modules_alone(impl):
    model = _typed_model()
    _perturb(model[3], model[7], model[8])
    snapshot = _snapshot(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    call = "init_by_type_(model with LayerNorm, Embedding and a custom module)"
    checks.call(call, impl.init_by_type_, model)
    _expect_in_place(snapshot, model, optimizer, call)
    _expect_unchanged(
        snapshot, ("3.", "7.", "8."), call,
        "Only Linear, Conv2d and BatchNorm layers are initialised; every other module keeps its values.",
    )
    _zero_biases(model, (nn.Linear, nn.Conv2d), call)  # leaving every module alone earns nothing


@pytest.mark.kata("init_by_type_")
@pytest.mark.points(1)
def test_init_by_type_layers_without_bias(impl):
    model = nn.Sequential(nn.Conv2d(4, 16, 3, bias=False), nn.BatchNorm2d(16), nn.Linear(50, 50, bias=False))
    call = "init_by_type_(Sequential(Conv2d(4, 16, 3, bias=False), BatchNorm2d(16), Linear(50, 50, bias=False)))"
    checks.call(call, impl.init_by_type_, model)
    bound = math.sqrt(6 / 100)
    _within(model[2].weight.detach().abs().max().item(), 0.9 * bound, bound * (1 + 1e-6),
            "the largest |entry| of Linear(50, 50, bias=False).weight", call, "xavier_uniform_ for every nn.Linear.")


# my_init_ -----------------------------------------------------------------------------------------


@pytest.mark.kata("my_init_")
@pytest.mark.points(2)
def test_my_init_distribution(impl):
    model = nn.Sequential(nn.Linear(100, 100), nn.ReLU(), nn.Sequential(nn.Linear(100, 50)))
    call = "my_init_(model with Linear(100, 100) and a nested Linear(100, 50))"
    checks.call(call, impl.my_init_, model)
    hint = "Draw U(-10, 10) with nn.init.uniform_, then multiply by the mask (w.abs() >= 5): small entries become 0."
    weights = _weights(model, nn.Linear)
    for w, name in zip(weights, ("Linear(100, 100)", "nested Linear(100, 50)"), strict=True):
        _within((w == 0).double().mean().item(), 0.44, 0.56, f"the share of zeros in {name}.weight", call, hint)
    w = torch.cat([t.flatten() for t in weights]).double()
    kept = w[w != 0]
    _within(kept.abs().min().item(), 5.0, 5.05, "the smallest non-zero |weight|", call, hint)
    _within(kept.abs().max().item(), 9.95, 10.0, "the largest |weight|", call, hint)
    _within(kept.abs().mean().item(), 7.4, 7.6, "the mean |weight| of the non-zero weights", call, hint)
    _within((kept > 0).double().mean().item(), 0.47, 0.53, "the share of positive non-zero weights", call, hint)


@pytest.mark.kata("my_init_")
@pytest.mark.points(1)
def test_my_init_in_place_biases_kept(impl):
    model = nn.Sequential(nn.Linear(20, 30), nn.LayerNorm(30), Gain())
    _perturb(model[1], model[2])
    snapshot = _snapshot(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    call = "my_init_(Sequential(Linear(20, 30), LayerNorm(30), custom))"
    checks.call(call, impl.my_init_, model)
    _expect_in_place(snapshot, model, optimizer, call)
    _expect_unchanged(
        snapshot, ("0.bias", "1.", "2."), call, "my_init_ changes Linear weights only; biases keep their values."
    )
    checks.check(
        (model[0].weight.detach().abs() >= 5).any(), f"after {call} no Linear weight has magnitude 5 or more."
    )


# seeded_init_ -------------------------------------------------------------------------------------


def _seeded_model() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(2, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(16, 6), nn.Linear(6, 6),
        nn.Linear(6, 6),
    )


def _matrices(model: nn.Module) -> list[tuple[str, torch.Tensor]]:
    return [(name, p.detach().clone()) for name, p in model.named_parameters() if p.dim() >= 2]


@pytest.mark.kata("seeded_init_")
@pytest.mark.points(2)
def test_seeded_init_reproducible_whatever_the_global_state(impl):
    torch.manual_seed(1)
    first = _seeded_model()
    torch.manual_seed(2)
    second = _seeded_model()
    torch.manual_seed(5)
    checks.call("seeded_init_(first, 123)", impl.seeded_init_, first, 123)
    torch.manual_seed(77)
    torch.randn(100)
    checks.call("seeded_init_(second, 123)", impl.seeded_init_, second, 123)
    for (name, a), b in zip(first.named_parameters(), second.parameters(), strict=True):
        checks.close(
            b.detach(), a.detach(), f"{name} of two models seeded with 123 under different global RNG states",
            "Draw from an RNG seeded with seed (torch.random.fork_rng() + torch.manual_seed(seed), or a "
            "torch.Generator), so the global RNG state does not matter. Conv2d layers count too.",
        )


@pytest.mark.kata("seeded_init_")
@pytest.mark.points(2)
def test_seeded_init_leaves_the_global_rng_alone(impl):
    model = _seeded_model()
    before = _matrices(model)
    torch.manual_seed(3)
    expected_next = torch.rand(5)
    torch.manual_seed(3)
    state = torch.get_rng_state()
    checks.call("seeded_init_(model, 9)", impl.seeded_init_, model, 9)
    after = _matrices(model)
    changed = [name for (name, old), (_, new) in zip(before, after, strict=True) if not torch.equal(old, new)]
    checks.check(changed, "seeded_init_(model, 9) changed no weight; expected every layer re-initialised.")
    hint = (
        "torch.manual_seed(seed) resets the global RNG for everyone; fork it (torch.random.fork_rng) or use a "
        "torch.Generator."
    )
    checks.check(
        torch.equal(torch.get_rng_state(), state),
        "after seeded_init_(model, 9), torch.get_rng_state() differs from before the call; expected the global "
        "RNG untouched.", hint,
    )
    checks.close(torch.rand(5), expected_next, "torch.rand(5) right after seeded_init_(model, 9)", hint)


@pytest.mark.kata("seeded_init_")
@pytest.mark.points(1)
def test_seeded_init_seeds_and_layers_differ(impl):
    model = _seeded_model()
    checks.call("seeded_init_(model, 1)", impl.seeded_init_, model, 1)
    one = _matrices(model)
    checks.call("seeded_init_(model, 2)", impl.seeded_init_, model, 2)
    two = _matrices(model)
    for (name, a), (_, b) in zip(one, two, strict=True):
        checks.check(
            not torch.equal(a, b),
            f"{name} is the same after seeded_init_(model, 1) and seeded_init_(model, 2); expected another seed "
            "to give other weights.",
        )
        checks.check(
            a.unique().numel() > a.numel() // 2,
            f"after seeded_init_(model, 1), {name} holds only {a.unique().numel()} distinct values among "
            f"{a.numel()}; expected random weights.", "Re-run each layer's random initialisation (reset_parameters()).",
        )
    layers = dict(one)
    checks.check(
        not torch.equal(layers["5.weight"], layers["6.weight"]),
        "after seeded_init_(model, 1), two Linear(6, 6) layers have identical weights; expected different ones.",
        "Seed once for the whole module, not once per layer: reseeding makes every layer of one shape identical.",
    )


@pytest.mark.kata("seeded_init_")
@pytest.mark.points(1)
def test_seeded_init_in_place(impl):
    model = _seeded_model()
    snapshot = _snapshot(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    call = "seeded_init_(model, 4)"
    returned = checks.call(call, impl.seeded_init_, model, 4)
    checks.check(returned is model, f"{call} returned {checks.describe(returned)}; expected the module itself.")
    _expect_in_place(snapshot, model, optimizer, call)
    changed = [name for name, p, before in snapshot if p.dim() >= 2 and not torch.equal(p.detach(), before)]
    checks.check(changed, f"{call} changed no weight; expected every layer re-initialised.")


@pytest.mark.kata("seeded_init_")
@pytest.mark.points(1)
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_seeded_init_on_cuda(impl):
    device = torch.device("cuda")
    torch.manual_seed(1)
    first = _seeded_model().to(device)
    torch.manual_seed(2)
    second = _seeded_model().to(device)
    state = torch.cuda.get_rng_state()
    checks.call("seeded_init_(first on cuda, 8)", impl.seeded_init_, first, 8)
    checks.check(
        torch.equal(torch.cuda.get_rng_state(), state),
        "after seeded_init_(model on cuda, 8) the CUDA RNG state differs; expected it untouched.",
        "fork_rng(devices=[...]) must include the CUDA device the model lives on.",
    )
    torch.rand(10, device=device)
    checks.call("seeded_init_(second on cuda, 8)", impl.seeded_init_, second, 8)
    for (name, a), b in zip(first.named_parameters(), second.parameters(), strict=True):
        checks.close(b.detach().cpu(), a.detach().cpu(), f"{name} of two CUDA models seeded with 8")


# --- differential: every observable against the reference's recorded outcomes on generated cases ---------------
#
# Random draws differ between correct styles (another visiting order, randn_like * std instead of normal_), so
# drawn values are observed through properties with wide margins (bounds, exact zeros, pooled statistics of
# large layers); everything the contract fixes exactly (zero biases, constants, untouched modules and buffers,
# the same objects, dtypes and devices, errors, the global RNG, a single layer's seeded values) is compared as is.


class Broken(nn.Module):
    """A module whose reset_parameters fails."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.ones(2))

    def reset_parameters(self) -> None:
        raise RuntimeError("this layer cannot be reset")


_LAYERS = {
    "linear": lambda: nn.Linear(3, 4),
    "linear_nobias": lambda: nn.Linear(4, 3, bias=False),
    "conv2d": lambda: nn.Conv2d(2, 3, 3),
    "conv2d_nobias": lambda: nn.Conv2d(3, 2, (1, 2), bias=False),
    "conv1d": lambda: nn.Conv1d(2, 3, 2),
    "bn1d": lambda: nn.BatchNorm1d(4),
    "bn2d": lambda: nn.BatchNorm2d(3),
    "bn_noaffine": lambda: nn.BatchNorm1d(3, affine=False),
    "layernorm": lambda: nn.LayerNorm(4),
    "embedding": lambda: nn.Embedding(5, 3),
    "gain": Gain,
    "nested": lambda: nn.Sequential(nn.Linear(2, 3), nn.Sequential(nn.Tanh(), nn.Linear(3, 2))),
    "relu": nn.ReLU,
    "big_linear": lambda: nn.Linear(40, 60),
    "big_conv": lambda: nn.Conv2d(16, 32, 3),
}
_SMALL = tuple(kind for kind in _LAYERS if not kind.startswith("big"))
_RANDOM_KINDS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Embedding)


def _init_specs(st, kinds=_SMALL, devices=("cpu",)):
    return st.fixed_dictionaries({
        "kinds": st.lists(st.sampled_from(kinds), min_size=1, max_size=4),
        "big": st.sampled_from(((), ("big_linear",), ("big_conv",), ("big_linear", "big_conv"))),
        "single": st.booleans(), "double": st.booleans(), "device": st.sampled_from(devices)})


def _spec(*kinds, big=(), single=False, double=False, device="cpu"):
    return {"kinds": list(kinds), "big": tuple(big), "single": single, "double": double, "device": device}


def _build(spec: dict) -> nn.Module:
    kinds = [*spec["kinds"], *spec["big"]]
    layers = [_LAYERS[kind]() for kind in kinds]
    module = layers[0] if spec["single"] and len(layers) == 1 else nn.Sequential(*layers)
    with torch.no_grad():  # values no initialiser gives, so that untouched tensors are recognised
        for name, tensor in module.state_dict(keep_vars=True).items():
            if tensor.is_floating_point():
                tensor.copy_(torch.randn_like(tensor) * 1.5 + 0.25)
                if "running_var" in name:
                    tensor.abs_().add_(0.1)
            elif "num_batches_tracked" in name:
                tensor.fill_(7)
    if spec["double"]:
        module.double()
    # Built on the CPU, then moved: random ops on meta tensors import torch._dynamo (seconds).
    return module.to(spec["device"])


def _tensors_of(module: nn.Module, kinds) -> dict[str, list[str]]:
    """Names of the direct parameters of the submodules of the given types, by their role (weight, bias)."""
    names: dict[str, list[str]] = {"weight": [], "bias": []}
    for prefix, sub in module.named_modules():
        if isinstance(sub, kinds):
            for pname, _ in sub.named_parameters(recurse=False):
                names.setdefault(pname, []).append(f"{prefix}.{pname}" if prefix else pname)
    return names


def _state(module: nn.Module) -> dict[str, torch.Tensor]:
    return dict(module.state_dict(keep_vars=True))


def _layout(module: nn.Module) -> dict[str, str]:
    """Dtype, device and shape of every parameter and buffer."""
    return {name: f"{str(t.dtype)[6:]} {t.device.type} {tuple(t.shape)}" for name, t in _state(module).items()}


def _outcome_common(module, result, before_objects, before_values, untouched) -> dict:
    """What every initialiser must keep: the module returned, the same objects, dtypes and devices, and the
    values of the tensors it has no business changing."""
    after = _state(module)
    return {
        "returned the module": result is module if not isinstance(result, dict) else result,
        "the same Parameter objects": [id(p) for p in module.parameters()] == before_objects,
        "dtype, device and shape of every tensor": _layout(module),
        "untouched tensors kept their values": all(
            before_values[name].device.type == "meta" or torch.equal(after[name].detach(), before_values[name])
            for name in untouched),
    }


def _pooled(module: nn.Module, names: list[str], scale: dict[str, float] | None = None) -> torch.Tensor:
    state = _state(module)
    parts = [state[name].detach().double().flatten() / (scale or {}).get(name, 1.0) for name in names]
    return torch.cat(parts) if parts else torch.zeros(0, dtype=torch.float64)


def _looks_normal(z: torch.Tensor) -> dict[str, bool | None]:
    """Wide-margin tests that z (already divided by the expected std) is N(0, 1); None where too few values."""
    if z.device.type == "meta" or z.numel() < 400:
        return {"mean near 0": None, "std near 1": None, "68% within one std": None}
    n = z.numel()
    return {"mean near 0": abs(z.mean().item()) < 6 / n**0.5, "std near 1": 0.85 < z.std().item() < 1.15,
            "68% within one std": 0.61 < (z.abs() < 1).double().mean().item() < 0.75}


def _snapshot_for(module):
    return [id(p) for p in module.parameters()], {name: t.detach().clone() for name, t in _state(module).items()}


@differential.scenario(
    "init_normal_",
    cases=lambda st: st.fixed_dictionaries({"spec": _init_specs(st),
                                            "std": st.sampled_from((0.0, 0.01, 0.3, 1.0, 2.5, -0.5, -1e-3))}),
    edge=lambda: [
        {"spec": _spec("linear", single=True), "std": 0.0},
        {"spec": _spec("nested", "linear_nobias", big=("big_linear",)), "std": 0.05},
        {"spec": _spec("linear", "conv2d", "layernorm", "gain", "bn1d", big=("big_linear",)), "std": 2.0},
        {"spec": _spec("linear", "embedding", double=True, big=("big_linear",)), "std": 1.0},
        {"spec": _spec("linear", "gain"), "std": -1.0},
        {"spec": _spec("relu", single=True), "std": 0.5},
    ],
    count=30,
)
def init_normal_outcome(impl, spec, std):
    module = _build(spec)
    objects, before = _snapshot_for(module)
    roles = _tensors_of(module, nn.Linear)
    untouched = [name for name in before if name not in roles["weight"] + roles["bias"]]
    result = differential.attempt(impl.init_normal_, module, std=std)
    outcome = _outcome_common(module, result, objects, before, untouched)
    state = _state(module)
    outcome["Linear biases"] = {name: state[name].detach() for name in roles["bias"]}
    weights = _pooled(module, roles["weight"])
    outcome["Linear weights, when std is 0"] = weights if std == 0 else None
    outcome["Linear weights look like N(0, std)"] = _looks_normal(weights / std) if std > 0 else None
    return outcome


@differential.scenario(
    "init_constant_",
    cases=lambda st: st.fixed_dictionaries({"spec": _init_specs(st, devices=("cpu", "meta")),
                                            "value": st.one_of(st.floats(-5, 5, width=32), st.integers(-3, 3))}),
    edge=lambda: [
        {"spec": _spec("linear", single=True), "value": 0.0},
        {"spec": _spec("nested", "linear_nobias", "embedding", "layernorm", "gain"), "value": -2.5},
        {"spec": _spec("linear", "bn1d", double=True), "value": 3},
        {"spec": _spec("linear", "conv2d", device="meta"), "value": 1.5},
        {"spec": _spec("relu", single=True), "value": 1.0},
    ],
    count=25,
)
def init_constant_outcome(impl, spec, value):
    module = _build(spec)
    objects, before = _snapshot_for(module)
    roles = _tensors_of(module, nn.Linear)
    untouched = [name for name in before if name not in roles["weight"] + roles["bias"]]
    result = differential.attempt(impl.init_constant_, module, value)
    outcome = _outcome_common(module, result, objects, before, untouched)
    state = _state(module)
    outcome["Linear weights and biases"] = {name: state[name].detach() for name in roles["weight"] + roles["bias"]}
    return outcome


_BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


@differential.scenario(
    "init_by_type_",
    cases=lambda st: st.fixed_dictionaries({"spec": _init_specs(st)}),
    edge=lambda: [
        {"spec": _spec("linear", single=True)},
        {"spec": _spec("bn_noaffine", "bn1d", "bn2d", "conv1d", "layernorm", "embedding", "gain")},
        {"spec": _spec("linear_nobias", "conv2d_nobias", big=("big_linear", "big_conv"))},
        {"spec": _spec("nested", "conv2d", big=("big_conv",), double=True)},
    ],
    count=30,
)
def init_by_type_outcome(impl, spec):
    module = _build(spec)
    objects, before = _snapshot_for(module)
    linear, conv, norm = (_tensors_of(module, kind) for kind in (nn.Linear, nn.Conv2d, _BATCH_NORMS))
    drawn = linear["weight"] + conv["weight"]
    set_exactly = linear["bias"] + conv["bias"] + norm["weight"] + norm["bias"]
    untouched = [name for name in before if name not in drawn + set_exactly]
    result = differential.attempt(impl.init_by_type_, module)
    outcome = _outcome_common(module, result, objects, before, untouched)
    state = _state(module)
    outcome["biases, BatchNorm weights"] = {name: state[name].detach() for name in set_exactly}
    if spec["device"] != "meta":
        bounds = {}
        for name in linear["weight"]:
            fan_out, fan_in = state[name].shape
            bounds[name] = math.sqrt(6 / (fan_in + fan_out))
        u = _pooled(module, linear["weight"], bounds)  # xavier_uniform: U(-1, 1) once divided by its bound
        outcome["Linear weights within the Xavier bound"] = bool((u.abs() <= 1 + 1e-6).all())
        outcome["Linear weights spread like U(-bound, bound)"] = (
            None if u.numel() < 400 else (0.95 < u.abs().max().item() and 0.52 < u.std().item() < 0.63))
        stds = {name: math.sqrt(2 / (state[name].shape[0] * state[name][0, 0].numel())) for name in conv["weight"]}
        outcome["Conv2d weights look like N(0, 2 / fan_out)"] = _looks_normal(_pooled(module, conv["weight"], stds))
    return outcome


@differential.scenario(
    "my_init_",
    cases=lambda st: st.fixed_dictionaries({"spec": _init_specs(st)}),
    edge=lambda: [
        {"spec": _spec("linear", single=True)},
        {"spec": _spec("nested", "linear_nobias", "embedding", "layernorm", "gain", big=("big_linear",))},
        {"spec": _spec("linear", "conv2d", double=True, big=("big_linear",))},
    ],
    count=25,
)
def my_init_outcome(impl, spec):
    module = _build(spec)
    objects, before = _snapshot_for(module)
    roles = _tensors_of(module, nn.Linear)
    untouched = [name for name in before if name not in roles["weight"]]
    result = differential.attempt(impl.my_init_, module)
    outcome = _outcome_common(module, result, objects, before, untouched)
    if spec["device"] != "meta":
        w = _pooled(module, roles["weight"])
        kept = w[w != 0]
        outcome["every weight 0 or 5 <= |w| <= 10"] = bool(((kept.abs() >= 5) & (kept.abs() <= 10)).all())
        outcome["about half the weights zero, the rest spread over 5..10 of both signs"] = None if w.numel() < 400 \
            else (0.4 < (w == 0).double().mean().item() < 0.6 and 7.0 < kept.abs().mean().item() < 8.0
                  and 0.4 < (kept > 0).double().mean().item() < 0.6)
    return outcome


def _seed_specs(st):
    return st.fixed_dictionaries({
        "kinds": st.lists(st.sampled_from(_SMALL), min_size=1, max_size=4),
        "big": st.just(()), "single": st.booleans(), "double": st.booleans(), "device": st.just("cpu")})


@differential.scenario(
    "seeded_init_",
    cases=lambda st: st.fixed_dictionaries({"spec": _seed_specs(st), "seed": st.integers(0, 2**31),
                                            "broken": st.sampled_from((False,) * 5 + (True,))}),
    edge=lambda: [
        {"spec": _spec("linear", single=True), "seed": 0, "broken": False},
        {"spec": _spec("relu", "conv2d", "gain"), "seed": 7, "broken": False},
        {"spec": _spec("bn_noaffine", "bn1d", "layernorm", "gain", "relu"), "seed": 3, "broken": False},
        {"spec": _spec("linear", "linear", "conv2d", "embedding", "bn2d"), "seed": 11, "broken": False},
        {"spec": _spec("linear", "bn1d"), "seed": 5, "broken": True},
    ],
    count=25,
)
def seeded_init_outcome(impl, spec, seed, broken):
    module = _build(spec)
    if broken:
        module = nn.Sequential(module, Broken())
    objects, before = _snapshot_for(module)
    random_modules = [sub for sub in module.modules() if isinstance(sub, _RANDOM_KINDS)]
    random_names = sum((names for names in _tensors_of(module, _RANDOM_KINDS).values()), [])
    fixed = [name for name in before if name not in random_names]
    torch.manual_seed(seed + 1)
    rng = torch.get_rng_state()
    result = differential.attempt(impl.seeded_init_, module, seed)
    if broken:  # which layers were reset before the failure depends on the visiting order: not observed
        return {"result": result, "global RNG state unchanged": torch.equal(torch.get_rng_state(), rng)}
    outcome = _outcome_common(module, result, objects, before, [])
    outcome["global RNG state unchanged"] = torch.equal(torch.get_rng_state(), rng)
    state = {name: t.detach().clone() for name, t in _state(module).items()}
    # Tensors that reset_parameters sets without drawing (BatchNorm, LayerNorm, custom modules): exactly.
    outcome["tensors set without a random draw"] = {name: state[name] for name in fixed}
    # Drawn tensors: exactly where one layer draws (no visiting order to agree on), else as properties.
    outcome["drawn tensors of a single random layer"] = (
        {name: state[name] for name in random_names} if len(random_modules) == 1 else None)
    if not random_names:
        return outcome
    weights = [state[name] for name in random_names if state[name].numel() > 1]
    # Seeded once for the whole module: two layers of one shape get different draws.
    outcome["drawn tensors of one shape all differ"] = all(
        not (a.shape == b.shape and torch.equal(a, b)) for i, a in enumerate(weights) for b in weights[i + 1:])
    torch.manual_seed(seed + 99)
    torch.rand(17)
    differential.attempt(impl.seeded_init_, module, seed)
    outcome["the same seed again, another global state: the same tensors"] = all(
        torch.equal(t.detach(), state[name]) for name, t in _state(module).items())
    differential.attempt(impl.seeded_init_, module, seed + 1)
    outcome["another seed: other drawn tensors"] = [
        not torch.equal(_state(module)[name].detach(), state[name]) for name in random_names
        if state[name].numel() > 1]
    outcome["drawn tensors changed from before the call"] = [
        not torch.equal(state[name], before[name]) for name in random_names if state[name].numel() > 1]
    return outcome


@pytest.mark.kata("init_normal_")
@pytest.mark.points(2)
def test_init_normal_agrees_with_the_reference_on_generated_models(impl):
    init_normal_outcome.check(impl)


@pytest.mark.kata("init_constant_")
@pytest.mark.points(2)
def test_init_constant_agrees_with_the_reference_on_generated_models(impl):
    init_constant_outcome.check(impl)


@pytest.mark.kata("init_by_type_")
@pytest.mark.points(2)
def test_init_by_type_agrees_with_the_reference_on_generated_models(impl):
    init_by_type_outcome.check(impl)


@pytest.mark.kata("my_init_")
@pytest.mark.points(2)
def test_my_init_agrees_with_the_reference_on_generated_models(impl):
    my_init_outcome.check(impl)


@pytest.mark.kata("seeded_init_")
@pytest.mark.points(2)
def test_seeded_init_agrees_with_the_reference_on_generated_models(impl):
    seeded_init_outcome.check(impl)
