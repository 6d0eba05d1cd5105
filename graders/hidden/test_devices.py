"""Hidden checks for chapter 09, devices: every tensor on the right device, on CPU, `meta` and CUDA.

Machines without a GPU check placement with the `meta` device (tensors with a shape and a
dtype but no data); the CUDA checks run where a GPU is present.
"""

from collections import OrderedDict, namedtuple

import pytest
import torch
from torch import nn

from torchkata import checks

NO_CUDA = not torch.cuda.is_available()
NO_CUDA_REASON = "needs a CUDA GPU; this machine has none"

Batch = namedtuple("Batch", ["inputs", "targets"])


def _accelerators(monkeypatch, cuda: bool, mps: bool) -> None:
    """Pretend this machine has exactly these accelerators, whichever API the student asks."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1 if cuda else 0)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    monkeypatch.setattr(torch.backends.mps, "is_built", lambda: mps)
    current = torch.device("cuda") if cuda else torch.device("mps") if mps else None
    monkeypatch.setattr(torch.accelerator, "is_available", lambda: current is not None)
    monkeypatch.setattr(torch.accelerator, "current_accelerator", lambda *args, **kwargs: current)


# ---------------------------------------------------------------- best_device


@pytest.mark.kata("best_device")
@pytest.mark.points(2)
def test_best_device_prefers_cuda_then_mps(impl, monkeypatch):
    scenarios = [(True, True, "cuda"), (True, False, "cuda"), (False, True, "mps"), (False, False, "cpu")]
    for cuda, mps, expected in scenarios:
        _accelerators(monkeypatch, cuda, mps)
        device = checks.call("best_device()", impl.best_device)
        checks.check(
            isinstance(device, torch.device) and device.type == expected,
            f"best_device() with CUDA {'available' if cuda else 'absent'} and MPS {'available' if mps else 'absent'} "
            f"returned {checks.describe(device)}; expected torch.device({expected!r}).",
            "Check torch.cuda.is_available() first, then torch.backends.mps.is_available(), else the CPU.",
        )


@pytest.mark.kata("best_device")
@pytest.mark.points(1)
def test_best_device_returns_a_torch_device(impl, monkeypatch):
    _accelerators(monkeypatch, cuda=True, mps=False)
    device = checks.call("best_device()", impl.best_device)
    checks.check(
        isinstance(device, torch.device),
        f"best_device() returned {checks.describe(device)}; expected a torch.device object.",
        "Wrap the name: torch.device('cuda').",
    )


@pytest.mark.skipif(NO_CUDA, reason=NO_CUDA_REASON)
@pytest.mark.kata("best_device")
@pytest.mark.points(1)
def test_best_device_on_a_cuda_machine(impl):
    device = checks.call("best_device()", impl.best_device)
    checks.check(
        isinstance(device, torch.device) and device.type == "cuda",
        f"best_device() on a machine with CUDA returned {checks.describe(device)}; expected torch.device('cuda').",
    )


# ---------------------------------------------------------------- to_device


def _nested_batch() -> dict:
    return {
        "batch": Batch(inputs=torch.randn(2, 3), targets=[torch.arange(2), (torch.ones(1, dtype=torch.bool), "label")]),
        "config": {"step": 3, "name": "run-1", "scale": torch.tensor(0.5, dtype=torch.float64)},
        "nothing": None,
        "pairs": [torch.zeros(2, 2), 1.5],
    }


@pytest.mark.kata("to_device")
@pytest.mark.points(3)
def test_to_device_moves_nested_tensors_and_keeps_the_rest(impl):
    batch = _nested_batch()
    moved = checks.call("to_device(nested_batch, 'meta')", impl.to_device, batch, "meta")

    def compare(original, result, where: str) -> None:
        if isinstance(original, torch.Tensor):
            checks.device(result, "meta", where, "Keep what tensor.to(device) returns: it does not move in place.")
            checks.check(
                result.shape == original.shape and result.dtype == original.dtype,
                f"{where} is {checks.describe(result)}; expected {checks.describe(original)} on meta.",
            )
            return
        checks.check(
            type(result) is type(original),
            f"{where} is {checks.describe(result)}; expected a {type(original).__name__} like the input.",
            "Rebuild each container with its own type; a namedtuple needs type(obj)(*items).",
        )
        if isinstance(original, dict):
            checks.equal(list(result), list(original), f"the keys of {where}")
            for key in original:
                compare(original[key], result[key], f"{where}[{key!r}]")
        elif isinstance(original, list | tuple):
            checks.equal(len(result), len(original), f"len({where})")
            for index, (a, b) in enumerate(zip(original, result, strict=True)):
                compare(a, b, f"{where}[{index}]")
        else:
            checks.check(result is original, f"{where} is {result!r}; expected the very same object {original!r}.")

    compare(batch, moved, "to_device(nested_batch, 'meta')")


@pytest.mark.kata("to_device")
@pytest.mark.points(1)
def test_to_device_keeps_ordered_dicts_and_namedtuple_fields(impl):
    ordered = OrderedDict([("b", torch.ones(2)), ("a", Batch(torch.zeros(1), None))])
    call = "to_device(OrderedDict(...), torch.device('meta'))"
    moved = checks.call(call, impl.to_device, ordered, torch.device("meta"))
    checks.check(
        type(moved) is OrderedDict and list(moved) == ["b", "a"],
        f"to_device(OrderedDict(b=..., a=...), meta) returned {checks.describe(moved)}; "
        "expected an OrderedDict with keys in the order b, a.",
    )
    checks.check(
        isinstance(moved["a"], Batch) and moved["a"].targets is None,
        f"to_device(...)['a'] is {checks.describe(moved['a'])}; expected Batch(inputs=<meta tensor>, targets=None).",
    )
    checks.device(moved["a"].inputs, "meta", "to_device(...)['a'].inputs")


@pytest.mark.kata("to_device")
@pytest.mark.points(1)
def test_to_device_leaves_its_input_alone(impl):
    batch = _nested_batch()
    tensors = [batch["batch"].inputs, batch["pairs"][0], batch["config"]["scale"]]
    moved = checks.call("to_device(nested_batch, 'meta')", impl.to_device, batch, "meta")
    now = [batch["batch"].inputs, batch["pairs"][0], batch["config"]["scale"]]
    checks.check(isinstance(moved, dict), f"to_device(nested_batch, 'meta') returned {checks.describe(moved)}; "
                 "expected a dict like its input.")
    checks.device(moved["config"]["scale"], "meta", "to_device(nested_batch, 'meta')['config']['scale']",
                  "Leaving the input alone earns nothing unless the copy is moved.")
    checks.check(
        all(a is b and b.device.type == "cpu" for a, b in zip(tensors, now, strict=True)),
        "after to_device(nested_batch, 'meta'), the input's own containers hold other tensors than before.",
        "Return new containers; do not write into the ones you were given.",
    )


@pytest.mark.skipif(NO_CUDA, reason=NO_CUDA_REASON)
@pytest.mark.kata("to_device")
@pytest.mark.points(1)
def test_to_device_round_trip_through_cuda(impl):
    batch = _nested_batch()
    there = checks.call("to_device(nested_batch, 'cuda')", impl.to_device, batch, "cuda")
    checks.device(there["batch"].inputs, "cuda", "to_device(nested_batch, 'cuda')['batch'].inputs")
    back = checks.call("to_device(..., 'cpu')", impl.to_device, there, "cpu")
    checks.close(back["batch"].inputs, batch["batch"].inputs, "to_device(to_device(batch, 'cuda'), 'cpu')")


# ---------------------------------------------------------------- module_devices


class _BufferOnly(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("table", torch.zeros(3, device="meta"))


@pytest.mark.kata("module_devices")
@pytest.mark.points(2)
def test_module_devices_sees_parameters_and_buffers(impl):
    split = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    split[1].to("meta")
    checks.equal(
        checks.call("module_devices(model)", impl.module_devices, split),
        {torch.device("cpu"), torch.device("meta")},
        "module_devices(model) with the first layer on cpu and the second on meta",
    )
    norm = nn.BatchNorm1d(3)
    norm.running_var = norm.running_var.to("meta")
    checks.equal(
        checks.call("module_devices(norm)", impl.module_devices, norm),
        {torch.device("cpu"), torch.device("meta")},
        "module_devices(BatchNorm1d(3)) with its parameters on cpu and one buffer on meta",
        "Buffers count too: iterate over model.buffers() as well as model.parameters().",
    )
    checks.equal(
        checks.call("module_devices(buffer_only)", impl.module_devices, _BufferOnly()),
        {torch.device("meta")},
        "module_devices(module) for a module holding only a buffer on meta",
    )


@pytest.mark.kata("module_devices")
@pytest.mark.points(1)
def test_module_devices_of_a_module_without_tensors(impl):
    devices = checks.call("module_devices(nn.ReLU())", impl.module_devices, nn.ReLU())
    checks.check(
        isinstance(devices, set) and not devices,
        f"module_devices(nn.ReLU()) returned {checks.describe(devices)}; expected an empty set.",
    )


@pytest.mark.skipif(NO_CUDA, reason=NO_CUDA_REASON)
@pytest.mark.kata("module_devices")
@pytest.mark.points(1)
def test_module_devices_across_cpu_and_cuda(impl):
    split = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    split[0].cuda()
    devices = checks.call("module_devices(model)", impl.module_devices, split)
    checks.equal(
        {device.type for device in devices} if isinstance(devices, set) else devices,
        {"cpu", "cuda"},
        "the device types of module_devices(model) with one layer on cuda",
    )


# ---------------------------------------------------------------- RunningMean


def _running_buffer(module: nn.Module, features: int, call: str) -> torch.Tensor:
    found = [b for b in module.buffers() if tuple(b.shape) == (features,) and b.is_floating_point()]
    checks.check(
        len(found) == 1,
        f"{call} has {len(found)} floating-point buffers of shape ({features},); expected one, the running mean.",
        "Keep the running mean with self.register_buffer(...): a plain attribute is no buffer.",
    )
    return found[0]


@pytest.mark.kata("RunningMean")
@pytest.mark.points(2)
def test_running_mean_update_rule(impl):
    call = "RunningMean(5, momentum=0.3)"
    module = checks.call(call, impl.RunningMean, 5, momentum=0.3)
    module.train()
    running = torch.zeros(5)
    generator = torch.Generator().manual_seed(1)
    for rows in (4, 7, 3):
        x = 2 * torch.randn(rows, 5, generator=generator) + torch.arange(5.0)
        running = 0.7 * running + 0.3 * x.mean(0)
        out = checks.call(f"{call}(x) in train mode", module, x)
        checks.close(
            out, x - running, f"{call}(x) in train mode, batch of shape ({rows}, 5)",
            "Update running_mean = (1 - momentum) * running_mean + momentum * x.mean(0), then return x - running_mean.",
            rtol=1e-5, atol=1e-5,
        )
    checks.close(_running_buffer(module, 5, call).detach(), running, f"the running mean of {call} after 3 batches")


@pytest.mark.kata("RunningMean")
@pytest.mark.points(1)
def test_running_mean_is_frozen_in_eval_mode(impl):
    module = checks.call("RunningMean(3)", impl.RunningMean, 3)
    module.train()
    checks.call("RunningMean(3)(x)", module, torch.randn(6, 3) + 4)
    before = _running_buffer(module, 3, "RunningMean(3)").detach().clone()
    module.eval()
    x = torch.randn(5, 3)
    out = checks.call("RunningMean(3).eval()(x)", module, x)
    checks.close(
        _running_buffer(module, 3, "RunningMean(3)").detach(), before,
        "the running mean after a forward in eval mode", "Update the running mean only when self.training is True.",
    )
    checks.close(out, x - before, "RunningMean(3).eval()(x)")


@pytest.mark.kata("RunningMean")
@pytest.mark.points(1)
def test_running_mean_buffer_follows_the_module(impl):
    module = checks.call("RunningMean(4)", impl.RunningMean, 4)
    checks.check(
        any(tuple(v.shape) == (4,) for v in module.state_dict().values()),
        f"RunningMean(4).state_dict() has keys {list(module.state_dict())}; expected the running mean in it.",
        "A registered buffer is saved with the model; a plain tensor attribute is not.",
    )
    module.double()
    checks.dtype(_running_buffer(module, 4, "RunningMean(4).double()"), torch.float64, "the buffer after .double()")
    module.to("meta")
    checks.device(_running_buffer(module, 4, "RunningMean(4).to('meta')"), "meta", "the buffer after .to('meta')")


@pytest.mark.kata("RunningMean")
@pytest.mark.points(2)
def test_running_mean_on_meta_creates_everything_there(impl):
    module = checks.call("RunningMean(4)", impl.RunningMean, 4).to("meta")
    module.train()
    for mode in ("train", "eval"):
        module.train(mode == "train")
        x = torch.randn(3, 4, device="meta")
        out = checks.call(f"RunningMean(4).to('meta')(x) in {mode} mode, x on meta", module, x)
        checks.device(
            out, "meta", f"RunningMean(4).to('meta')(x) in {mode} mode",
            "Create any tensor you need on x.device (or from x itself), never on the default CPU.",
        )
        checks.shape(out, (3, 4), f"RunningMean(4).to('meta')(x) in {mode} mode")
        for name, buffer in module.named_buffers():
            checks.device(buffer, "meta", f"buffer {name!r} after a forward in {mode} mode on meta")


@pytest.mark.kata("RunningMean")
@pytest.mark.points(1)
def test_running_mean_buffer_holds_no_graph(impl):
    module = checks.call("RunningMean(3)", impl.RunningMean, 3)
    module.train()
    first = torch.randn(4, 3, requires_grad=True)
    checks.call("RunningMean(3)(x).sum().backward()", lambda: module(first).sum().backward())
    buffer = _running_buffer(module, 3, "RunningMean(3)")
    checks.check(
        not buffer.requires_grad and buffer.grad_fn is None,
        "after RunningMean(3)(x) with x requiring grad, the running mean is part of the autograd graph.",
        "Update the buffer under torch.no_grad() (or from x.detach()).",
    )
    second = torch.randn(4, 3, requires_grad=True)
    checks.call("a second RunningMean(3)(x).sum().backward()", lambda: module(second).sum().backward())
    checks.close(second.grad, torch.ones(4, 3), "the gradient of RunningMean(3)(x).sum() with respect to x")


@pytest.mark.kata("RunningMean")
@pytest.mark.points(1)
def test_running_mean_rejects_bad_arguments(impl):
    module = checks.call("RunningMean(4)", impl.RunningMean, 4)  # a kata that rejects everything earns nothing
    checks.shape(checks.call("RunningMean(4)(x)", module, torch.randn(3, 4)), (3, 4), "RunningMean(4)(x)")
    for args, kwargs, text in [((0,), {}, "RunningMean(0)"), ((4,), {"momentum": 0.0}, "RunningMean(4, momentum=0.0)"),
                               ((4,), {"momentum": 1.5}, "RunningMean(4, momentum=1.5)")]:
        checks.raises(
            (ValueError, TypeError), lambda args=args, kwargs=kwargs: impl.RunningMean(*args, **kwargs), text,
            "num_features must be a positive int and momentum in (0, 1]; raise ValueError naming the argument.",
        )


@pytest.mark.skipif(NO_CUDA, reason=NO_CUDA_REASON)
@pytest.mark.kata("RunningMean")
@pytest.mark.points(1)
def test_running_mean_on_cuda(impl):
    module = checks.call("RunningMean(3)", impl.RunningMean, 3).cuda()
    module.train()
    x = torch.randn(5, 3)
    out = checks.call("RunningMean(3).cuda()(x.cuda())", module, x.cuda())
    checks.device(out, "cuda", "RunningMean(3).cuda()(x.cuda())")
    checks.close(out.cpu(), x - 0.1 * x.mean(0), "RunningMean(3).cuda()(x.cuda())", rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------- causal_mask


def _lower_triangle(steps: int) -> torch.Tensor:
    positions = torch.arange(steps)
    return positions[:, None] >= positions[None, :]


@pytest.mark.kata("causal_mask")
@pytest.mark.points(2)
def test_causal_mask_values_for_several_shapes(impl):
    for shape in [(2, 5, 3), (1, 7), (3, 4, 2, 6)]:
        call = f"causal_mask(x) with x of shape {checks.shape_text(shape)}"
        mask = checks.call(call, impl.causal_mask, torch.randn(shape))
        checks.dtype(mask, torch.bool, call, "Return a bool mask: True where attending is allowed.")
        checks.close(
            mask, _lower_triangle(shape[1]), call,
            "T is x.shape[1]; row i may attend to every j <= i, the diagonal included.",
        )


@pytest.mark.kata("causal_mask")
@pytest.mark.points(2)
def test_causal_mask_lives_on_the_input_device(impl):
    x = torch.empty(2, 6, 4, device="meta")
    mask = checks.call("causal_mask(x) with x on meta", impl.causal_mask, x)
    checks.device(
        mask, "meta", "causal_mask(x) with x of shape (2, 6, 4) on meta",
        "Create the mask with device=x.device: torch.ones(T, T) alone lands on the CPU.",
    )
    checks.shape(mask, (6, 6), "causal_mask(x) with x of shape (2, 6, 4) on meta")
    checks.dtype(mask, torch.bool, "causal_mask(x) with x on meta")


@pytest.mark.kata("causal_mask")
@pytest.mark.points(1)
def test_causal_mask_rejects_a_1d_input(impl):
    mask = checks.call("causal_mask(x) with x of shape (2, 3)", impl.causal_mask, torch.randn(2, 3))
    checks.shape(mask, (3, 3), "causal_mask(x) with x of shape (2, 3)", "A valid x is accepted first.")
    checks.raises(
        ValueError, lambda: impl.causal_mask(torch.randn(5)), "causal_mask(x) with x of shape (5,)",
        "x must have shape (B, T, ...); raise ValueError naming x.",
    )


@pytest.mark.skipif(NO_CUDA, reason=NO_CUDA_REASON)
@pytest.mark.kata("causal_mask")
@pytest.mark.points(1)
def test_causal_mask_on_cuda(impl):
    mask = checks.call("causal_mask(x.cuda())", impl.causal_mask, torch.randn(2, 5, 3, device="cuda"))
    checks.device(mask, "cuda", "causal_mask(x) with x on cuda")
    checks.close(mask.cpu(), _lower_triangle(5), "causal_mask(x) with x on cuda")


# ---------------------------------------------------------------- optimizer_to_


def _stepped(optimizer_factory, steps: int = 2) -> tuple[nn.Module, torch.optim.Optimizer]:
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    optimizer = optimizer_factory(model.parameters())
    for _ in range(steps):
        optimizer.zero_grad()
        model(torch.randn(5, 3)).pow(2).mean().backward()
        optimizer.step()
    return model, optimizer


def _state_summary(optimizer: torch.optim.Optimizer) -> dict:
    return {
        (index, key): (tuple(value.shape), value.dtype) if isinstance(value, torch.Tensor) else value
        for index, state in enumerate(optimizer.state.values())
        for key, value in state.items()
    }


@pytest.mark.kata("optimizer_to_")
@pytest.mark.points(2)
def test_optimizer_to_moves_every_adam_state_tensor(impl):
    model, optimizer = _stepped(lambda params: torch.optim.Adam(params, lr=0.01))
    before = _state_summary(optimizer)
    groups = [{k: v for k, v in group.items() if k != "params"} for group in optimizer.param_groups]
    checks.call("optimizer_to_(adam, torch.device('meta'))", impl.optimizer_to_, optimizer, torch.device("meta"))
    checks.equal(_state_summary(optimizer), before, "the state shapes and dtypes after optimizer_to_(adam, meta)")
    for parameter in model.parameters():
        state = optimizer.state[parameter]
        checks.check(state, "after optimizer_to_(adam, meta), the state is no longer found under its parameter.")
        for key, value in state.items():
            checks.device(
                value, "meta", f"Adam's state[{key!r}] after optimizer_to_(adam, torch.device('meta'))",
                "Move every tensor in the state, the step counts included, and store the moved tensor back.",
            )
    checks.equal(
        [{k: v for k, v in group.items() if k != "params"} for group in optimizer.param_groups], groups,
        "the param_groups settings after optimizer_to_(adam, meta)",
    )


@pytest.mark.kata("optimizer_to_")
@pytest.mark.points(1)
def test_optimizer_to_moves_sgd_momentum_buffers(impl):
    _, with_momentum = _stepped(lambda params: torch.optim.SGD(params, lr=0.1, momentum=0.9))
    checks.call("optimizer_to_(sgd_with_momentum, 'meta')", impl.optimizer_to_, with_momentum, "meta")
    buffers = [s.get("momentum_buffer") for s in with_momentum.state.values()]
    checks.check(len(buffers) == 4, f"SGD with momentum holds state for {len(buffers)} parameters; expected 4.")
    for index, buffer in enumerate(buffers):
        checks.device(buffer, "meta", f"SGD's momentum_buffer {index} after optimizer_to_(sgd, 'meta')")
    _, plain = _stepped(lambda params: torch.optim.SGD(params, lr=0.1))
    before = _state_summary(plain)
    checks.call("optimizer_to_(sgd_without_momentum, 'meta')", impl.optimizer_to_, plain, "meta")
    checks.equal(_state_summary(plain), before, "the state of SGD without momentum (no tensors) after optimizer_to_")


@pytest.mark.skipif(NO_CUDA, reason=NO_CUDA_REASON)
@pytest.mark.kata("optimizer_to_")
@pytest.mark.points(1)
def test_optimizer_to_cuda_then_step(impl):
    model, optimizer = _stepped(lambda params: torch.optim.Adam(params, lr=0.01))
    expected = {key: value.clone() for key, value in optimizer.state[next(model.parameters())].items()}
    model.cuda()
    checks.call("optimizer_to_(adam, 'cuda')", impl.optimizer_to_, optimizer, "cuda")
    state = optimizer.state[next(model.parameters())]
    for key, value in expected.items():
        checks.device(state[key], "cuda", f"Adam's state[{key!r}] after optimizer_to_(adam, 'cuda')")
        checks.close(state[key].cpu(), value, f"Adam's state[{key!r}] after optimizer_to_(adam, 'cuda')")
    model(torch.randn(5, 3, device="cuda")).pow(2).mean().backward()
    checks.call("adam.step() after optimizer_to_(adam, 'cuda')", optimizer.step)
