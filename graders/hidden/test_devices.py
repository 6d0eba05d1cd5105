"""Hidden checks for chapter 09, devices: every tensor on the right device, on CPU, `meta` and CUDA.

Machines without a GPU check placement with the `meta` device (tensors with a shape and a
dtype but no data); the CUDA checks run where a GPU is present.
"""

import contextlib
from collections import OrderedDict, namedtuple

import pytest
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from torchkata import checks
from torchkata.graderkit import differential

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


# --- differential: every observable against the reference's recorded outcomes on generated cases ---------------

# The reference never runs here: `torchkata build` records its outcomes in cases_devices.pt.


class _CreatedOn(TorchDispatchMode):
    """Records the device type of every tensor an aten op makes while it is active."""

    def __init__(self) -> None:
        super().__init__()
        self.devices: set[str] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for value in out if isinstance(out, tuple | list) else (out,):
            if isinstance(value, torch.Tensor):
                self.devices.add(value.device.type)
        return out


@contextlib.contextmanager
def _machine(cuda: bool, mps: bool, mps_built: bool):
    """Pretend this machine has exactly these accelerators (restored afterwards, also after an error)."""
    current = torch.device("cuda") if cuda else torch.device("mps") if mps else None
    patches = [
        (torch.cuda, "is_available", lambda: cuda),
        (torch.cuda, "device_count", lambda: 1 if cuda else 0),
        (torch.backends.mps, "is_available", lambda: mps),
        (torch.backends.mps, "is_built", lambda: mps_built),
        (torch.accelerator, "is_available", lambda: current is not None),
        (torch.accelerator, "current_accelerator", lambda *args, **kwargs: current),
    ]
    saved = [(owner, name, getattr(owner, name)) for owner, name, _ in patches]
    try:
        for owner, name, value in patches:
            setattr(owner, name, value)
        yield
    finally:
        for owner, name, value in saved:
            setattr(owner, name, value)


def _device_text(value) -> object:
    """A returned device, name-free: its class and its type (a string stays a string)."""
    if isinstance(value, torch.device):
        return ("torch.device", value.type)
    return (type(value).__name__, str(value))


@differential.scenario(
    "best_device",
    cases=lambda st: st.fixed_dictionaries({"cuda": st.booleans(), "mps": st.booleans(), "mps_built": st.booleans()})
    .map(lambda case: {**case, "mps_built": case["mps_built"] or case["mps"]}),
    edge=lambda: [{"cuda": cuda, "mps": mps, "mps_built": built}
                  for cuda in (False, True) for mps in (False, True) for built in (False, True) if built or not mps],
    count=8,
)
def best_device_outcome(impl, cuda, mps, mps_built):
    with _machine(cuda, mps, mps_built):
        return {"result": _device_text(impl.best_device())}


Pair = namedtuple("Pair", ["first", "second"])


def _build(spec):
    """Turn a recorded plain structure into the batch to move: ("Pair", a, b) -> Pair, ("ordered", [...]) ->
    OrderedDict, ("module", n) -> nn.Linear(n, 1); "grad" tensors require grad."""
    if isinstance(spec, tuple) and spec and spec[0] == "Pair":
        return Pair(_build(spec[1]), _build(spec[2]))
    if isinstance(spec, tuple) and spec and spec[0] == "ordered":
        return OrderedDict((key, _build(value)) for key, value in spec[1])
    if isinstance(spec, tuple) and spec and spec[0] == "module":
        return nn.Linear(spec[1], 1)
    if isinstance(spec, tuple) and spec and spec[0] == "grad":
        return spec[1].clone().requires_grad_()
    if isinstance(spec, tuple) and spec and spec[0] == "tuple":
        return tuple(_build(item) for item in spec[1])
    if isinstance(spec, list):
        return [_build(item) for item in spec]
    if isinstance(spec, dict):
        return {key: _build(value) for key, value in spec.items()}
    return spec


def _summary(value, original):
    """What a moved batch holds, name-free and loadable: containers tagged by type, leaves by identity."""
    if isinstance(original, torch.Tensor):
        if not isinstance(value, torch.Tensor):
            return ("not a tensor", type(value).__name__)
        return ("tensor", value, value.requires_grad)
    if isinstance(original, nn.Module):
        return ("module", value is original, [p.device.type for p in original.parameters()])
    if isinstance(original, tuple) and hasattr(original, "_fields"):
        kind = type(value).__name__ if isinstance(value, tuple) else f"not a tuple: {type(value).__name__}"
        items = list(value) if isinstance(value, tuple) else []
        return ("namedtuple " + kind, [_summary(v, o) for v, o in zip(items, original, strict=False)], len(items))
    if isinstance(original, dict):
        if not isinstance(value, dict):
            return ("not a dict", type(value).__name__)
        return (type(value).__name__, [(key, _summary(value[key], original[key]) if key in value else "missing")
                                       for key in original], list(value))
    if isinstance(original, list | tuple):
        if type(value) is not type(original):
            return ("not a " + type(original).__name__, type(value).__name__)
        return (type(value).__name__, [_summary(v, o) for v, o in zip(value, original, strict=False)], len(value))
    return ("as is", value is original)


def _leaves(st):
    return st.one_of(
        st.sampled_from((torch.float32, torch.float64, torch.float16, torch.int64, torch.bool)).flatmap(
            lambda dtype: differential.tensors(st, dtype=dtype, max_dims=2, max_side=3, low=0, high=3)),
        differential.tensors(st, max_dims=2, max_side=3).map(lambda t: ("grad", t)),
        st.integers(-3, 3), st.floats(-2, 2, allow_nan=False), st.sampled_from(("", "label", "x")), st.none(),
        st.sampled_from((torch.float32, torch.int64)), st.integers(1, 3).map(lambda n: ("module", n)),
    )


def _batches(st):
    keys = st.sampled_from(("x", "y", "mask", "meta"))
    return st.recursive(_leaves(st), lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.lists(inner, max_size=3).map(lambda items: ("tuple", items)),
        st.dictionaries(keys, inner, max_size=3),
        st.lists(st.tuples(keys, inner), max_size=3, unique_by=lambda kv: kv[0]).map(lambda kv: ("ordered", kv)),
        st.tuples(inner, inner).map(lambda ab: ("Pair", ab[0], ab[1])),
    ), max_leaves=6)


@differential.scenario(
    "to_device",
    cases=lambda st: st.fixed_dictionaries({"batch": _batches(st), "device": st.sampled_from(("meta", "cpu")),
                                            "as_object": st.booleans()}),
    edge=lambda: [
        {"batch": {"text": "abc", "ids": torch.arange(3), "x": ("grad", torch.ones(2, 2))}, "device": "meta",
         "as_object": False},
        {"batch": ("Pair", torch.zeros(2, dtype=torch.float64), ("ordered", [("b", [torch.ones(1)]), ("a", None)])),
         "device": "meta", "as_object": True},
        {"batch": [("module", 2), torch.ones(1, dtype=torch.float16), ("tuple", [])], "device": "meta",
         "as_object": False},
        {"batch": torch.ones(2, dtype=torch.int64), "device": "cpu", "as_object": True},
        {"batch": "just a string", "device": "meta", "as_object": False},
    ],
    count=40,
)
def to_device_outcome(impl, batch, device, as_object):
    original = _build(batch)
    before = _summary(original, original)
    moved = impl.to_device(original, torch.device(device) if as_object else device)
    return {"result": _summary(moved, original), "the batch after the call": _summary(original, original),
            "the batch unchanged": _summary(original, original) == before}


class _CpuTable(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("table", torch.zeros(3))


def _model(layers):
    """A Sequential of (kind, where) layers: "linear"/"norm"/"relu"/"table"; where in {"cpu", "meta", "split"}."""
    built = []
    for kind, where in layers:
        layer = {"linear": lambda: nn.Linear(2, 2), "norm": lambda: nn.BatchNorm1d(2), "relu": nn.ReLU,
                 "table": _CpuTable}[kind]()
        if where == "meta":
            layer.to("meta")
        elif where == "split":
            for name, buffer in list(layer.named_buffers(recurse=False)):
                setattr(layer, name, buffer.to("meta"))
        built.append(layer)
    return nn.Sequential(*built)


@differential.scenario(
    "module_devices",
    cases=lambda st: st.fixed_dictionaries({"layers": st.lists(st.tuples(
        st.sampled_from(("linear", "norm", "relu", "table")), st.sampled_from(("cpu", "meta", "split"))),
        max_size=3)}),
    edge=lambda: [{"layers": []}, {"layers": [("relu", "cpu")]}, {"layers": [("norm", "split")]},
                  {"layers": [("relu", "cpu"), ("table", "split")]},
                  {"layers": [("linear", "cpu"), ("linear", "meta")]}],
    count=30,
)
def module_devices_outcome(impl, layers):
    model = _model(layers)
    before = [(name, t.device.type) for name, t in [*model.named_parameters(), *model.named_buffers()]]
    result = impl.module_devices(model)
    return {
        "type of the result": type(result).__name__,
        "devices": sorted(str(d) for d in result) if isinstance(result, set) else None,
        "every item a torch.device": isinstance(result, set) and all(type(d) is torch.device for d in result),
        "the model unchanged": before == [(name, t.device.type)
                                          for name, t in [*model.named_parameters(), *model.named_buffers()]],
    }


@differential.scenario(
    "RunningMean",
    cases=lambda st: st.fixed_dictionaries({
        "num_features": st.integers(-1, 4),
        "momentum": st.sampled_from((0.1, 0.5, 1.0, 0.0, 1.5, -0.2, 0.25)),
        "dtype": st.sampled_from((torch.float32, torch.float64)),
        "on_meta": st.booleans(),
        "steps": st.lists(st.tuples(st.booleans(), st.integers(1, 4)), min_size=1, max_size=3),
    }),
    edge=lambda: [
        {"num_features": 3, "momentum": 1.0, "dtype": torch.float32, "on_meta": False,
         "steps": [(True, 2), (False, 1)]},
        {"num_features": 0, "momentum": 0.1, "dtype": torch.float32, "on_meta": False, "steps": [(True, 1)]},
        {"num_features": 2, "momentum": 0.0, "dtype": torch.float32, "on_meta": False, "steps": [(True, 1)]},
        {"num_features": 2.5, "momentum": 0.1, "dtype": torch.float32, "on_meta": False, "steps": [(True, 1)]},
        {"num_features": 2, "momentum": 0.3, "dtype": torch.float64, "on_meta": True, "steps": [(True, 3), (False, 2)]},
        {"num_features": 1, "momentum": 0.5, "dtype": torch.float32, "on_meta": False,
         "steps": [(True, 1), (True, 4), (False, 2), (True, 2)]},
    ],
    count=30,
)
def running_mean_outcome(impl, num_features, momentum, dtype, on_meta, steps):
    module = impl.RunningMean(num_features, momentum=momentum)
    module.to(dtype=dtype, device="meta" if on_meta else "cpu")
    observed = {"parameters": differential.parameter_shapes(module),
                "state_dict": sorted(((tuple(v.shape), v.dtype, v.device.type) for v in module.state_dict().values()),
                                     key=str),
                "buffers": [b.detach().clone() for b in module.buffers()], "steps": []}
    for training, rows in steps:
        module.train(training)
        x = (torch.randn(rows, num_features, dtype=dtype) * 2 + 1).to("meta" if on_meta else "cpu").requires_grad_()
        upstream = torch.randn(rows, num_features, dtype=dtype).to(x.device)
        with _CreatedOn() as created:
            out = module(x)
        out.backward(upstream)
        observed["steps"].append({
            "output": out.detach(), "x.grad": x.grad, "tensors created on": sorted(created.devices),
            "buffers": [(b.detach(), b.requires_grad, b.grad_fn is None) for b in module.buffers()],
            "mode": module.training,
        })
    return observed


@differential.scenario(
    "causal_mask",
    cases=lambda st: st.fixed_dictionaries({
        "shape": st.lists(st.integers(0, 5), min_size=0, max_size=4).map(tuple),
        "dtype": st.sampled_from((torch.float32, torch.float16, torch.int64)),
        "on_meta": st.booleans(),
    }),
    edge=lambda: [{"shape": (4, 2), "dtype": torch.float32, "on_meta": False},
                  {"shape": (1, 3), "dtype": torch.float32, "on_meta": True},
                  {"shape": (2, 0, 3), "dtype": torch.float32, "on_meta": False},
                  {"shape": (3,), "dtype": torch.float32, "on_meta": False},
                  {"shape": (), "dtype": torch.float32, "on_meta": False},
                  {"shape": (2, 5, 3, 4), "dtype": torch.int64, "on_meta": True}],
    count=30,
)
def causal_mask_outcome(impl, shape, dtype, on_meta):
    x = torch.ones(shape, dtype=dtype, device="meta" if on_meta else "cpu")
    with _CreatedOn() as created:
        mask = impl.causal_mask(x)
    return {"result": mask, "tensors created on": sorted(created.devices), "x after the call": x}


_OPTIMIZERS = {
    "sgd_momentum": lambda params: torch.optim.SGD(params, lr=0.1, momentum=0.9, nesterov=True),
    "sgd": lambda params: torch.optim.SGD(params, lr=0.1),
    "adam": lambda params: torch.optim.Adam(params, lr=0.01),
    "adamw_amsgrad": lambda params: torch.optim.AdamW(params, lr=0.01, amsgrad=True),
    "rmsprop": lambda params: torch.optim.RMSprop(params, lr=0.01, momentum=0.5, centered=True),
    "adagrad": lambda params: torch.optim.Adagrad(params, lr=0.1),
    "asgd": lambda params: torch.optim.ASGD(params, lr=0.01),
    "rprop": lambda params: torch.optim.Rprop(params, lr=0.01),
    "nadam": lambda params: torch.optim.NAdam(params, lr=0.01),
}


def _state(optimizer, params):
    return [sorted(((key, value) for key, value in optimizer.state[p].items()), key=lambda kv: kv[0])
            if p in optimizer.state else None for p in params]


@differential.scenario(
    "optimizer_to_",
    cases=lambda st: st.fixed_dictionaries({
        "kind": st.sampled_from(sorted(_OPTIMIZERS)),
        "groups": st.lists(st.lists(st.integers(1, 3), min_size=1, max_size=2), min_size=1, max_size=3),
        "frozen": st.booleans(), "steps": st.integers(0, 2),
        "device": st.sampled_from(("meta", "cpu")), "as_object": st.booleans(),
    }),
    edge=lambda: [
        {"kind": "adam", "groups": [[2], [3, 1]], "frozen": True, "steps": 2, "device": "meta", "as_object": False},
        {"kind": "sgd", "groups": [[2]], "frozen": False, "steps": 1, "device": "meta", "as_object": True},
        {"kind": "adam", "groups": [[2]], "frozen": False, "steps": 0, "device": "meta", "as_object": False},
        {"kind": "rmsprop", "groups": [[1], [2], [3]], "frozen": False, "steps": 1, "device": "cpu", "as_object": True},
    ],
    count=30,
)
def optimizer_to_outcome(impl, kind, groups, frozen, steps, device, as_object):
    grouped = [[torch.randn(size, requires_grad=True) for size in sizes] for sizes in groups]
    params = [p for group in grouped for p in group]
    optimizer = _OPTIMIZERS[kind]([{"params": group} for group in grouped])
    for _ in range(steps):
        optimizer.zero_grad()
        sum((p * p).sum() for p in (params[1:] if frozen else params)).backward()
        optimizer.step()
    settings = [{key: value for key, value in group.items() if key != "params"} for group in optimizer.param_groups]
    before = [p.detach().clone() for p in params]
    result = impl.optimizer_to_(optimizer, torch.device(device) if as_object else device)
    return {
        "result": result,
        "state per parameter": _state(optimizer, params),
        "parameters after the call": [(p.detach(), p.device.type, p.requires_grad) for p in params],
        "parameters unchanged": all(torch.equal(a, p.detach()) for a, p in zip(before, params, strict=True)),
        "param_groups settings unchanged": settings == [
            {key: value for key, value in group.items() if key != "params"} for group in optimizer.param_groups],
        "param_groups hold the same parameters": [[id(p) for p in g["params"]] for g in optimizer.param_groups] == [
            [id(p) for p in group] for group in grouped],
    }


@pytest.mark.kata("best_device")
@pytest.mark.points(1)
def test_best_device_agrees_with_the_reference_on_every_machine(impl):
    best_device_outcome.check(impl)


@pytest.mark.kata("to_device")
@pytest.mark.points(2)
def test_to_device_agrees_with_the_reference_on_generated_batches(impl):
    to_device_outcome.check(impl)


@pytest.mark.kata("module_devices")
@pytest.mark.points(1)
def test_module_devices_agrees_with_the_reference_on_generated_models(impl):
    module_devices_outcome.check(impl)


@pytest.mark.kata("RunningMean")
@pytest.mark.points(2)
def test_running_mean_agrees_with_the_reference_on_generated_cases(impl):
    running_mean_outcome.check(impl)


@pytest.mark.kata("causal_mask")
@pytest.mark.points(1)
def test_causal_mask_agrees_with_the_reference_on_generated_inputs(impl):
    causal_mask_outcome.check(impl)


@pytest.mark.kata("optimizer_to_")
@pytest.mark.points(2)
def test_optimizer_to_agrees_with_the_reference_on_generated_optimizers(impl):
    optimizer_to_outcome.check(impl)
