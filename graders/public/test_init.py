"""Public checks for chapter 05, init: zero biases, spreads, in-place updates, seeds that leave the global RNG alone.

The hidden checks add distribution tests, more module types, CUDA generators and bad arguments.
"""

import pytest
import torch
from torch import nn

from torchkata import checks


def _zero_biases(model: nn.Module, call: str) -> None:
    for name, p in model.named_parameters():
        if name.endswith("bias"):
            checks.close(
                p.detach(), torch.zeros_like(p), f"{name} after {call}", "Biases are set to exactly 0.", rtol=0, atol=0
            )


@pytest.mark.kata("init_normal_")
@pytest.mark.points(1)
def test_init_normal_small_weights_and_zero_biases(impl):
    net = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 16))
    call = "init_normal_(Sequential(Linear(64, 32), ReLU(), Linear(32, 16)))"
    before = list(net.parameters())
    returned = checks.call(call, impl.init_normal_, net)
    checks.check(returned is net, f"{call} returned {checks.describe(returned)}; expected the module it was given.")
    checks.same_objects(
        before, list(net.parameters()), call,
        "Initialise in place (nn.init.normal_(m.weight, ...)): an optimizer built earlier holds the old objects.",
    )
    _zero_biases(net, call)
    weights = torch.cat([net[0].weight.detach().flatten(), net[2].weight.detach().flatten()])
    std = weights.std().item()
    checks.check(
        0.008 < std < 0.012,
        f"after {call} the weights have standard deviation {std:.4g}; expected about 0.01 (the default std).",
        "nn.init.normal_(m.weight, mean=0.0, std=std) for every nn.Linear m.",
    )


@pytest.mark.kata("init_constant_")
@pytest.mark.points(1)
def test_init_constant_ones(impl):
    layer = nn.Linear(3, 4)
    call = "init_constant_(Linear(3, 4), 1)"
    checks.call(call, impl.init_constant_, layer, 1)
    checks.close(layer.weight.detach(), torch.ones(4, 3), f"weight after {call}", "Every weight entry equals value.")
    _zero_biases(layer, call)


@pytest.mark.kata("init_by_type_")
@pytest.mark.points(1)
def test_init_by_type_batch_norm_and_biases(impl):
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(), nn.Linear(8, 2))
    with torch.no_grad():
        model[1].weight.uniform_(0.5, 1.5)
        model[1].bias.uniform_(-1.0, 1.0)
    call = "init_by_type_(Sequential(Conv2d(3, 8, 3), BatchNorm2d(8), ReLU(), Flatten(), Linear(8, 2)))"
    checks.call(call, impl.init_by_type_, model)
    checks.close(
        model[1].weight.detach(), torch.ones(8), f"the BatchNorm2d weight after {call}",
        "BatchNorm starts as the identity: weight 1, bias 0.",
    )
    _zero_biases(model, call)


@pytest.mark.kata("init_by_type_")
@pytest.mark.points(1)
def test_init_by_type_spreads(impl):
    model = nn.Sequential(nn.Conv2d(4, 32, 3), nn.ReLU(), nn.Flatten(), nn.Linear(200, 300))
    call = "init_by_type_(Sequential(Conv2d(4, 32, 3), ReLU(), Flatten(), Linear(200, 300)))"
    checks.call(call, impl.init_by_type_, model)
    conv_std = model[0].weight.detach().std().item()
    want = (2 / (32 * 3 * 3)) ** 0.5  # kaiming normal, fan_out = out_channels * kernel area
    checks.check(
        0.85 * want < conv_std < 1.15 * want,
        f"after {call} the Conv2d weights have standard deviation {conv_std:.4g}; expected about {want:.4g}, "
        "kaiming normal with mode='fan_out' (fan_out = 32 * 3 * 3).",
        "nn.init.kaiming_normal_(m.weight, mode='fan_out', nonlinearity='relu'): the default mode is fan_in.",
    )
    bound = (6 / (200 + 300)) ** 0.5
    linear = model[3].weight.detach()
    checks.check(
        linear.abs().max().item() <= bound and linear.abs().max().item() > 0.9 * bound,
        f"after {call} the Linear weights lie within +-{linear.abs().max().item():.4g}; expected xavier uniform, "
        f"within +-{bound:.4g} = sqrt(6 / (fan_in + fan_out)) and filling that range.",
        "nn.init.xavier_uniform_(m.weight).",
    )


@pytest.mark.kata("my_init_")
@pytest.mark.points(1)
def test_my_init_keeps_only_large_weights(impl):
    layer = nn.Linear(40, 50)
    call = "my_init_(Linear(40, 50))"
    checks.call(call, impl.my_init_, layer)
    w = layer.weight.detach()
    kept = w[w != 0].abs()
    checks.check(
        0 < kept.numel() < w.numel() and kept.min().item() >= 5 and kept.max().item() <= 10,
        f"after {call}, {kept.numel()} of {w.numel()} weights are non-zero, with magnitudes "
        f"{kept.min().item() if kept.numel() else 0:.3g} to {kept.max().item() if kept.numel() else 0:.3g}; "
        "expected about half of them non-zero, all with magnitudes between 5 and 10.",
        "Draw from U(-10, 10), then zero the entries whose magnitude is below 5.",
    )


@pytest.mark.kata("seeded_init_")
@pytest.mark.points(1)
def test_seeded_init_same_seed_same_weights(impl):
    torch.manual_seed(1)
    first = nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 2))
    torch.manual_seed(2)
    second = nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 2))
    checks.call("seeded_init_(first, 42)", impl.seeded_init_, first, 42)
    torch.rand(10)
    checks.call("seeded_init_(second, 42)", impl.seeded_init_, second, 42)
    for (name, a), b in zip(first.named_parameters(), second.parameters(), strict=True):
        checks.close(
            b.detach(), a.detach(), f"{name} of two models after seeded_init_(model, 42)",
            "Seed a random generator with seed, then re-initialise: the same seed must give the same weights.",
        )


@pytest.mark.kata("seeded_init_")
@pytest.mark.points(1)
def test_seeded_init_leaves_the_global_rng_alone(impl):
    model = nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 2))
    other = nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 2))
    torch.manual_seed(5)
    state = torch.get_rng_state()
    checks.call("seeded_init_(model, 42)", impl.seeded_init_, model, 42)
    checks.check(
        torch.equal(torch.get_rng_state(), state),
        "seeded_init_(model, 42) changed the global random state; expected it untouched (the caller's own "
        "draws must not depend on the call).",
        "Seed inside torch.random.fork_rng() (it restores the global state on exit), not torch.manual_seed alone.",
    )
    checks.call("seeded_init_(other, 42)", impl.seeded_init_, other, 42)
    for (name, a), b in zip(model.named_parameters(), other.parameters(), strict=True):
        checks.close(b.detach(), a.detach(), f"{name} of two differently built models after seeded_init_(model, 42)")
