"""Public checks for chapter 09, devices: placement on the CPU and the `meta` device, the running mean's update.

The hidden checks add nested containers, named tuples, CUDA where present, dtypes, modes and bad arguments.
"""

import pytest
import torch
from torch import nn

from torchkata import checks


def _no_accelerator(monkeypatch) -> None:
    """Pretend this machine has neither CUDA nor MPS, whatever it really has."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    monkeypatch.setattr(torch.accelerator, "is_available", lambda: False)
    monkeypatch.setattr(torch.accelerator, "current_accelerator", lambda *args, **kwargs: None)


@pytest.mark.kata("best_device")
@pytest.mark.points(1)
def test_best_device_falls_back_to_cpu(impl, monkeypatch):
    _no_accelerator(monkeypatch)
    device = checks.call("best_device()", impl.best_device)
    checks.check(
        isinstance(device, torch.device) and device.type == "cpu",
        f"best_device() without CUDA or MPS returned {checks.describe(device)}; expected torch.device('cpu').",
        "Return a torch.device object, not a string." if isinstance(device, str)
        else "Ask torch.cuda.is_available() and torch.backends.mps.is_available(); fall back to the CPU.",
    )


@pytest.mark.kata("best_device")
@pytest.mark.points(1)
def test_best_device_picks_mps_without_cuda(impl, monkeypatch):
    _no_accelerator(monkeypatch)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    monkeypatch.setattr(torch.accelerator, "is_available", lambda: True)
    monkeypatch.setattr(torch.accelerator, "current_accelerator", lambda *args, **kwargs: torch.device("mps"))
    device = checks.call("best_device()", impl.best_device)
    checks.check(
        isinstance(device, torch.device) and device.type == "mps",
        f"best_device() on a machine with an Apple GPU (MPS) and no CUDA returned {checks.describe(device)}; "
        "expected torch.device('mps').",
        "After CUDA, ask torch.backends.mps.is_available() before falling back to the CPU.",
    )


@pytest.mark.kata("to_device")
@pytest.mark.points(1)
def test_to_device_moves_a_dict_of_tensors(impl):
    batch = {"x": torch.randn(2, 3), "y": torch.arange(2), "pair": (torch.ones(2), "label")}
    moved = checks.call("to_device({'x': ..., 'y': ..., 'pair': (...)}, 'meta')", impl.to_device, batch, "meta")
    checks.check(
        type(moved) is dict and sorted(moved) == ["pair", "x", "y"],
        f"to_device(batch, 'meta') returned {checks.describe(moved)}; expected a dict with keys pair, x, y.",
    )
    pair = moved["pair"]
    checks.check(
        type(pair) is tuple and len(pair) == 2 and pair[1] == "label",
        f"to_device(batch, 'meta')['pair'] is {checks.describe(pair)}; expected the tuple (tensor on meta, 'label').",
        "Rebuild each container with its own type (a tuple stays a tuple); other values stay as they are.",
    )
    checks.device(pair[0], "meta", "to_device(batch, 'meta')['pair'][0]")
    for key, value in (("x", batch["x"]), ("y", batch["y"])):
        call = f"to_device(batch, 'meta')[{key!r}]"
        checks.device(moved[key], "meta", call, "Keep the tensor that .to(device) returns: it does not move in place.")
        checks.shape(moved[key], value.shape, call)


@pytest.mark.kata("module_devices")
@pytest.mark.points(1)
def test_module_devices_of_a_cpu_model(impl):
    devices = checks.call("module_devices(nn.Linear(3, 2))", impl.module_devices, nn.Linear(3, 2))
    checks.equal(devices, {torch.device("cpu")}, "module_devices(nn.Linear(3, 2))")


@pytest.mark.kata("RunningMean")
@pytest.mark.points(1)
def test_running_mean_registers_a_buffer(impl):
    module = checks.call("RunningMean(4)", impl.RunningMean, 4)
    buffers = [b for b in module.buffers() if tuple(b.shape) == (4,)]
    checks.check(
        len(buffers) == 1,
        f"RunningMean(4) has {len(buffers)} buffers of shape (4,); expected one, the running mean.",
        "Keep it with self.register_buffer('running_mean', torch.zeros(num_features)).",
    )
    x = torch.randn(3, 4)
    out = checks.call("RunningMean(4)(x)", module, x)
    checks.shape(out, (3, 4), "RunningMean(4)(x) with x of shape (3, 4)")
    want = 0.1 * x.mean(0)  # (1 - momentum) * 0 + momentum * x.mean(0)
    checks.close(
        buffers[0], want, "the running mean after one RunningMean(4)(x) in train mode",
        "running_mean = (1 - momentum) * running_mean + momentum * x.mean(0), with momentum = 0.1.",
    )
    checks.close(out, x - want, "RunningMean(4)(x) with x of shape (3, 4)", "Return x - running_mean.")


@pytest.mark.kata("causal_mask")
@pytest.mark.points(1)
def test_causal_mask_is_lower_triangular(impl):
    x = torch.randn(2, 4, 3)
    mask = checks.call("causal_mask(x)", impl.causal_mask, x)
    steps = torch.arange(4)
    checks.close(
        mask, steps[:, None] >= steps[None, :], "causal_mask(x) with x of shape (2, 4, 3)",
        "Row i may attend to columns j <= i: a bool lower triangle, diagonal included.",
    )
    on_meta = torch.empty(2, 4, 3, device="meta")
    mask = checks.call("causal_mask(x) with x on the meta device", impl.causal_mask, on_meta)
    checks.device(
        mask, "meta", "causal_mask(x) with x of shape (2, 4, 3) on the meta device",
        "Make the mask on x's device: torch.ones(T, T, dtype=torch.bool, device=x.device).",
    )


@pytest.mark.kata("optimizer_to_")
@pytest.mark.points(1)
def test_optimizer_to_moves_adam_state(impl):
    model = nn.Linear(3, 2)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    model(torch.randn(4, 3)).sum().backward()
    optimizer.step()
    checks.call("optimizer_to_(adam, 'meta')", impl.optimizer_to_, optimizer, "meta")
    for index, state in enumerate(optimizer.state.values()):
        for key, value in state.items():
            checks.device(
                value, "meta", f"after optimizer_to_(adam, 'meta'), state[{index}][{key!r}]",
                "Store value.to(device) back into the state dict: .to does not move in place.",
            )
