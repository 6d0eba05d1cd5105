"""Hidden checks for chapter 14, amp: autocast precision, the scaler's call order, checkpointing, byte counts."""

import copy
import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from torchkata import checks
from torchkata.graderkit import differential

SCALE = 2.0**10
LR = 0.1
HAS_CUDA = torch.cuda.is_available()
NEEDS_CUDA = "needs a CUDA GPU; torch.cuda.is_available() is False here"


# ---------------------------------------------------------------- autocast_forward


class LinearThenCrossEntropy(nn.Module):
    """A Linear layer followed by a cross-entropy against fixed labels (autocast keeps the loss in float32)."""

    def __init__(self, in_features: int, classes: int, batch: int) -> None:
        super().__init__()
        self.linear = nn.Linear(in_features, classes)
        self.register_buffer("labels", torch.arange(batch) % classes)

    def forward(self, x):
        return F.cross_entropy(self.linear(x), self.labels)


@pytest.mark.kata("autocast_forward")
@pytest.mark.points(2)
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bfloat16", "float16"])
def test_autocast_forward_matches_low_precision_linear(impl, dtype):
    model = nn.Sequential(nn.Linear(7, 5), nn.ReLU(), nn.Linear(5, 3))
    reference = copy.deepcopy(model)
    x = torch.randn(6, 7)
    call = f"autocast_forward(model, x, 'cpu', {dtype}) with a Linear-ReLU-Linear model"
    out = checks.call(call, impl.autocast_forward, model, x, "cpu", dtype)
    # Computed after the call, so the student's code cannot read it from this frame.
    with torch.no_grad():
        h = F.relu(F.linear(x.to(dtype), reference[0].weight.to(dtype), reference[0].bias.to(dtype)))
        expected = F.linear(h, reference[2].weight.to(dtype), reference[2].bias.to(dtype))
    checks.close(
        out, expected, call, "Use the dtype argument: torch.autocast(device_type=device_type, dtype=dtype).",
        rtol=2e-2, atol=2e-2,
    )


class AutocastProbe(nn.Module):
    """A Linear layer that notes whether autocast was on, and in which dtype, while its forward ran."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(3, 2)
        self.seen: list[tuple[bool, torch.dtype]] = []

    def forward(self, x):
        self.seen.append((torch.is_autocast_enabled("cpu"), torch.get_autocast_dtype("cpu")))
        return self.linear(x)


@pytest.mark.kata("autocast_forward")
@pytest.mark.points(2)
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bfloat16", "float16"])
def test_autocast_forward_runs_the_model_under_autocast(impl, dtype):
    probe = AutocastProbe()
    call = f"autocast_forward(model, x, 'cpu', {dtype})"
    checks.call(call, impl.autocast_forward, probe, torch.randn(4, 3), "cpu", dtype)
    checks.check(
        probe.seen == [(True, dtype)],
        f"during {call} the model's forward saw (autocast enabled, dtype) = {probe.seen}; expected "
        f"[(True, {dtype})], one call.",
        "Call the model once, inside torch.autocast(device_type=device_type, dtype=dtype); casting the result "
        "afterwards is not the same thing.",
    )


@pytest.mark.kata("autocast_forward")
@pytest.mark.points(2)
def test_autocast_forward_leaves_the_model_in_float32(impl):
    model = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 2))
    x = torch.randn(5, 4)
    call = "autocast_forward(model, x)"
    out = checks.call(call, impl.autocast_forward, model, x)
    dtypes = sorted({str(p.dtype) for p in model.parameters()})
    checks.check(
        dtypes == ["torch.float32"],
        f"after {call} the model's parameters have dtypes {dtypes}; expected them left in float32.",
        "Autocast casts per op inside the context; never convert the model with .to(torch.bfloat16).",
    )
    checks.tensor(out, call)
    checks.check(out.grad_fn is not None, f"{call} returned a tensor without a graph; expected one to train on.")
    out.float().sum().backward()
    grads = [p.grad for p in model.parameters()]
    checks.check(
        all(g is not None and g.dtype == torch.float32 for g in grads),
        f"after {call}.float().sum().backward() the gradients are "
        f"{[None if g is None else str(g.dtype) for g in grads]}; expected float32 gradients on every parameter.",
    )


@pytest.mark.kata("autocast_forward")
@pytest.mark.points(1)
def test_autocast_forward_keeps_losses_in_float32(impl):
    model = LinearThenCrossEntropy(6, 4, batch=5)
    x = torch.randn(5, 6)
    call = "autocast_forward(model, x) with a model returning F.cross_entropy(linear(x), labels)"
    out = checks.call(call, impl.autocast_forward, model, x)
    checks.dtype(
        out, torch.float32, call,
        "Under autocast, cross_entropy runs in float32; a bfloat16 result means the model or x were cast by hand.",
    )
    expected = F.cross_entropy(model.linear(x), model.labels)
    checks.close(out, expected.detach(), call, rtol=3e-2, atol=3e-2)


@pytest.mark.kata("autocast_forward")
@pytest.mark.points(1)
def test_autocast_forward_does_not_leak_autocast(impl):
    call = "autocast_forward(nn.Linear(3, 3), x)"
    out = checks.call(call, impl.autocast_forward, nn.Linear(3, 3), torch.randn(2, 3))
    checks.dtype(out, torch.bfloat16, call, "The default dtype is torch.bfloat16: a Linear under autocast returns it.")
    after = nn.Linear(3, 3)(torch.randn(2, 3))
    checks.check(
        not torch.is_autocast_enabled("cpu") and after.dtype == torch.float32,
        f"after autocast_forward(...) returned, nn.Linear ran in {after.dtype}; expected float32 again.",
        "Use `with torch.autocast(...):` so autocast ends when the call returns.",
    )


@pytest.mark.kata("autocast_forward")
@pytest.mark.points(1)
def test_autocast_forward_rejects_a_full_precision_dtype(impl):
    error = checks.raises(
        (ValueError, TypeError),
        lambda: impl.autocast_forward(nn.Linear(2, 2), torch.randn(1, 2), "cpu", torch.float64),
        "autocast_forward(model, x, 'cpu', torch.float64)",
        "Only torch.float16 and torch.bfloat16 are autocast dtypes.",
    )
    checks.check(
        "dtype" in str(error),
        f"autocast_forward(model, x, 'cpu', torch.float64) raised {error!r}; expected a message naming dtype.",
    )


@pytest.mark.kata("autocast_forward")
@pytest.mark.points(1)
@pytest.mark.skipif(not HAS_CUDA, reason=NEEDS_CUDA)
def test_autocast_forward_float16_on_cuda(impl):
    model = nn.Linear(8, 4).cuda()
    x = torch.randn(3, 8, device="cuda")
    call = "autocast_forward(nn.Linear(8, 4).cuda(), x, 'cuda', torch.float16)"
    out = checks.call(call, impl.autocast_forward, model, x, "cuda", torch.float16)
    checks.device(out, "cuda", call)
    checks.close(out, (x @ model.weight.T + model.bias).half().detach(), call, rtol=1e-2, atol=1e-2)
    loss = checks.call(
        "autocast_forward(cross-entropy model, x, 'cuda', torch.float16)",
        impl.autocast_forward, LinearThenCrossEntropy(8, 4, 3).cuda(), x, "cuda", torch.float16,
    )
    checks.dtype(loss, torch.float32, "autocast_forward(cross-entropy model, x, 'cuda', torch.float16)")


# ---------------------------------------------------------------- amp_train_step


class StepLog:
    """What happened during one amp_train_step, in order."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self.inside_scaler_step = False
        self.grads_at_step: list[torch.Tensor | None] | None = None

    def add(self, event: str) -> None:
        if not (event == "backward" and self.events and self.events[-1] == "backward"):
            self.events.append(event)


class RecordingScaler(torch.amp.GradScaler):
    """A real CPU GradScaler that logs scale, unscale_, step and update."""

    def __init__(self, log: StepLog, init_scale: float = SCALE) -> None:
        super().__init__("cpu", init_scale=init_scale, growth_interval=1)
        self.log = log

    def scale(self, outputs):
        self.log.add("scaler.scale")
        return super().scale(outputs)

    def unscale_(self, optimizer):
        if not self.log.inside_scaler_step:
            self.log.add("scaler.unscale_")
        return super().unscale_(optimizer)

    def step(self, optimizer, *args, **kwargs):
        self.log.add("scaler.step")
        self.log.inside_scaler_step = True
        try:
            return super().step(optimizer, *args, **kwargs)
        finally:
            self.log.inside_scaler_step = False

    def update(self, new_scale=None):
        self.log.add("scaler.update")
        return super().update(new_scale)


class RecordingSGD(torch.optim.SGD):
    """Plain SGD that logs each step and the gradients it stepped with."""

    def __init__(self, params, log: StepLog) -> None:
        super().__init__(params, lr=LR)
        self.log = log

    def step(self, closure=None):
        self.log.add("optimizer.step" if self.log.inside_scaler_step else "optimizer.step outside scaler.step")
        self.log.grads_at_step = [
            None if p.grad is None else p.grad.detach().clone() for group in self.param_groups for p in group["params"]
        ]
        return super().step(closure)


def _model(in_features: int, out_features: int) -> nn.Module:
    return nn.Sequential(nn.Linear(in_features, 8), nn.Tanh(), nn.Linear(8, out_features))


def _true_gradients(model, x, y, loss_fn):
    """Loss and float32 gradients of an untouched copy of the model, without autocast or scaling."""
    twin = copy.deepcopy(model)
    loss = loss_fn(twin(x), y)
    return loss.item(), [g.detach() for g in torch.autograd.grad(loss, list(twin.parameters()))]


def _clipped(grads, max_norm):
    total = torch.sqrt(sum((g.double() ** 2).sum() for g in grads)).item()
    coef = min(1.0, max_norm / (total + 1e-6))
    return [g * coef for g in grads]


def _global_norm(grads) -> float:
    return math.sqrt(sum(float((g.double() ** 2).sum()) for g in grads))


def _loosely_close(actual, expected, call, hint=None, tolerance=0.03):
    """Relative error in norm: with smooth activations bfloat16 autocast moves gradients by under 1%.

    Every mistake checked with it (scaled gradients, clipping the wrong norm, a missed step) is off by 50% or more.
    """
    checks.shape(actual, expected.shape, call, hint)
    checks.dtype(actual, expected.dtype, call, hint)
    error = float((actual.detach().double() - expected.double()).norm())
    size = float(expected.double().norm())
    checks.check(
        error <= tolerance * size + 1e-6,
        f"{call} returned wrong values: relative error {error / max(size, 1e-12):.3g} in norm "
        f"(norm {float(actual.detach().double().norm()):.4g}, expected {size:.4g}; tolerance {tolerance:g}).",
        hint,
    )


def _run_step(impl, model, x, y, loss_fn, max_norm=None, init_scale=SCALE):
    log = StepLog()
    for p in model.parameters():
        p.register_hook(lambda grad: log.add("backward"))
    optimizer = RecordingSGD(model.parameters(), log)
    scaler = RecordingScaler(log, init_scale)
    call = f"amp_train_step(model, x, y, loss_fn, SGD(lr={LR}), GradScaler('cpu', init_scale={init_scale:g}), "
    call += f"max_norm={max_norm if max_norm is None else round(max_norm, 4)})"
    loss = checks.call(call, impl.amp_train_step, model, x, y, loss_fn, optimizer, scaler, max_norm)
    return log, scaler, loss, call


CONFIGS = [((16, 6, 3), nn.MSELoss()), ((12, 5, 4), nn.CrossEntropyLoss())]


def _data(batch, features, outputs, loss_fn):
    x = torch.randn(batch, features)
    if isinstance(loss_fn, nn.CrossEntropyLoss):
        return x, torch.randint(0, outputs, (batch,))
    return x, torch.randn(batch, outputs)


@pytest.mark.kata("amp_train_step")
@pytest.mark.points(3)
@pytest.mark.parametrize("sizes, loss_fn", CONFIGS, ids=["mse", "cross_entropy"])
def test_amp_train_step_steps_with_unscaled_gradients(impl, sizes, loss_fn):
    batch, features, outputs = sizes
    model = _model(features, outputs)
    x, y = _data(batch, features, outputs, loss_fn)
    want_loss, grads = _true_gradients(model, x, y, loss_fn)
    before = [p.detach().clone() for p in model.parameters()]
    log, _, loss, call = _run_step(impl, model, x, y, loss_fn)
    checks.check(log.grads_at_step is not None, f"{call} never stepped the optimizer.", "Call scaler.step(optimizer).")
    for got, want in zip(log.grads_at_step, grads, strict=True):
        _loosely_close(
            got, want, f"the gradients the optimizer stepped with in {call}",
            f"Expected the true (unscaled) gradients; a factor of {SCALE:g} means optimizer.step ran on scaled "
            "gradients: step through scaler.step(optimizer), which unscales them first.",
        )
    for p, old, g in zip(model.parameters(), before, grads, strict=True):
        _loosely_close(p.detach(), old - LR * g, f"the parameters after {call}", "One SGD step: p - lr * grad.")
    checks.check(
        isinstance(loss, float) and math.isclose(loss, want_loss, rel_tol=3e-2, abs_tol=1e-3),
        f"{call} returned {checks.describe(loss)}; expected the unscaled loss {want_loss:.4f} as a float.",
        "Return loss.item() of the loss before scaling, not of scaler.scale(loss).",
    )


@pytest.mark.kata("amp_train_step")
@pytest.mark.points(3)
def test_amp_train_step_clips_unscaled_gradients(impl):
    model = _model(6, 3)
    x, y = torch.randn(16, 6), torch.randn(16, 3)
    _, grads = _true_gradients(model, x, y, F.mse_loss)
    max_norm = _global_norm(grads) / 4
    log, _, _, call = _run_step(impl, model, x, y, F.mse_loss, max_norm)
    checks.check(log.grads_at_step is not None, f"{call} never stepped the optimizer.", "Call scaler.step(optimizer).")
    got_norm = _global_norm([g for g in log.grads_at_step if g is not None])
    hint = (
        f"The optimizer saw gradients of total norm {got_norm:.4g}; expected max_norm = {max_norm:.4g}. "
        "Call scaler.unscale_(optimizer) before clip_grad_norm_: clipping scaled gradients clips the wrong norm."
    )
    for got, want in zip(log.grads_at_step, _clipped(grads, max_norm), strict=True):
        _loosely_close(got, want, f"the gradients the optimizer stepped with in {call}", hint)


@pytest.mark.kata("amp_train_step")
@pytest.mark.points(2)
@pytest.mark.parametrize("clip", [False, True], ids=["no_clipping", "clipping"])
def test_amp_train_step_call_order(impl, clip):
    model = _model(5, 2)
    x, y = torch.randn(8, 5), torch.randn(8, 2)
    log, _, _, call = _run_step(impl, model, x, y, F.mse_loss, 0.5 if clip else None)
    expected = ["scaler.scale", "backward", "scaler.unscale_", "scaler.step", "optimizer.step", "scaler.update"]
    got = log.events if clip else [event for event in log.events if event != "scaler.unscale_"]
    if not clip:
        expected.remove("scaler.unscale_")
    checks.check(
        got == expected,
        f"{call} made the calls {log.events}; expected {expected}.",
        "Scale the loss, backward, unscale_ (before clipping), then scaler.step(optimizer) (not optimizer.step), "
        "then scaler.update().",
    )
    leftover = [p.grad for p in model.parameters() if p.grad is not None and bool(p.grad.abs().sum() > 0)]
    checks.check(
        not leftover,
        f"after {call}, {len(leftover)} parameters still hold gradients; expected them cleared.",
        "Finish with optimizer.zero_grad() so the next step starts from zero.",
    )


@pytest.mark.kata("amp_train_step")
@pytest.mark.points(2)
def test_amp_train_step_skips_the_step_on_inf_and_updates_the_scale(impl):
    model = _model(4, 2)
    x, y = torch.randn(8, 4), torch.randn(8, 2)

    def exploding_loss(out, target):
        return F.mse_loss(out, target) * float("inf")

    before = [p.detach().clone() for p in model.parameters()]
    _, scaler, _, call = _run_step(impl, model, x, y, exploding_loss)
    unchanged = all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    checks.check(
        unchanged,
        f"{call} with a loss of inf changed the weights; expected the step to be skipped.",
        "scaler.step(optimizer) skips the step when a gradient is inf/NaN; optimizer.step() does not.",
    )
    checks.check(
        scaler.get_scale() == SCALE / 2,
        f"after {call} with inf gradients the scale is {scaler.get_scale():g}; expected it halved to {SCALE / 2:g}.",
        "Call scaler.update() after scaler.step(optimizer): it lowers the scale after an overflow.",
    )
    model2 = _model(4, 2)
    _, scaler, _, call = _run_step(impl, model2, x, y, F.mse_loss)
    checks.check(
        scaler.get_scale() == SCALE * 2,
        f"after {call} (growth_interval=1) the scale is {scaler.get_scale():g}; expected it doubled to "
        f"{SCALE * 2:g}.",
        "Call scaler.update() once per step.",
    )


@pytest.mark.kata("amp_train_step")
@pytest.mark.points(1)
def test_amp_train_step_rejects_a_negative_max_norm(impl):
    model = nn.Linear(3, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    scaler = torch.amp.GradScaler("cpu")
    error = checks.raises(
        ValueError,
        lambda: impl.amp_train_step(model, torch.randn(2, 3), torch.randn(2, 1), F.mse_loss, optimizer, scaler, -1.0),
        "amp_train_step(..., max_norm=-1.0)",
    )
    checks.check("max_norm" in str(error), f"amp_train_step(..., max_norm=-1.0) raised {error!r}; expected a "
                 "message naming max_norm.")


@pytest.mark.kata("amp_train_step")
@pytest.mark.points(2)
@pytest.mark.skipif(not HAS_CUDA, reason=NEEDS_CUDA)
def test_amp_train_step_float16_on_cuda(impl):
    model = _model(6, 3).cuda()
    x, y = torch.randn(16, 6, device="cuda"), torch.randn(16, 3, device="cuda")
    _, grads = _true_gradients(model, x, y, F.mse_loss)
    max_norm = _global_norm(grads) / 4
    before = [p.detach().clone() for p in model.parameters()]
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    scaler = torch.amp.GradScaler("cuda", init_scale=SCALE, growth_interval=1)
    call = "amp_train_step(model.cuda(), x, y, F.mse_loss, SGD, GradScaler('cuda'), max_norm) on CUDA"
    checks.call(call, impl.amp_train_step, model, x, y, F.mse_loss, optimizer, scaler, max_norm)
    for p, old, g in zip(model.parameters(), before, _clipped(grads, max_norm), strict=True):
        _loosely_close(p.detach(), old - LR * g, f"the parameters after {call}")
    checks.check(scaler.get_scale() == SCALE * 2, f"after {call} the scale is {scaler.get_scale():g}; expected "
                 f"{SCALE * 2:g} (scaler.update() after a good step).")


# ---------------------------------------------------------------- CheckpointedSequential


def _blocks(width: int = 6):
    return [
        nn.Sequential(nn.Linear(width, 12), nn.Tanh(), nn.Linear(12, width)),
        nn.Sequential(nn.Linear(width, width), nn.GELU()),
        nn.Linear(width, 4),
    ]


def _plain(blocks, x):
    for block in blocks:
        x = block(x)
    return x


def _saved_tensor_count(fn, x) -> int:
    count = 0

    def pack(tensor):
        nonlocal count
        count += 1
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        fn(x)
    return count


@pytest.mark.kata("CheckpointedSequential")
@pytest.mark.points(2)
@pytest.mark.parametrize("width", [6, 9])
def test_checkpointed_sequential_same_outputs_and_gradients(impl, width):
    blocks = _blocks(width)
    model = checks.call("CheckpointedSequential(*blocks)", impl.CheckpointedSequential, *blocks)
    params = [p for block in blocks for p in block.parameters()]
    checks.parameter_count(
        model, sum(p.numel() for p in params), "CheckpointedSequential(*blocks)",
        "Keep the blocks in an nn.ModuleList (or as attributes) so their parameters are registered.",
    )
    x = torch.randn(5, width, requires_grad=True)
    expected = _plain(blocks, x)
    want = torch.autograd.grad(expected.square().sum(), [x, *params])
    out = checks.call("CheckpointedSequential(*blocks)(x)", model, x)
    checks.close(out, expected.detach(), f"CheckpointedSequential(*blocks)(x) with x of shape (5, {width})",
                 rtol=1e-5, atol=1e-6)
    checks.check(out.requires_grad, "CheckpointedSequential(*blocks)(x) returned a tensor without a graph.",
                 "Don't run the blocks under torch.no_grad(): checkpointing recomputes, it does not skip gradients.")
    got = checks.call("torch.autograd.grad(model(x).square().sum(), [x, *params])",
                      torch.autograd.grad, out.square().sum(), [x, *params])
    for index, (g, w) in enumerate(zip(got, want, strict=True)):
        name = "x" if index == 0 else f"parameter {index - 1}"
        checks.close(g, w, f"the gradient of {name} through CheckpointedSequential(*blocks)", rtol=1e-4, atol=1e-6)


@pytest.mark.kata("CheckpointedSequential")
@pytest.mark.points(2)
def test_checkpointed_sequential_saves_fewer_tensors(impl):
    blocks = _blocks()
    model = checks.call("CheckpointedSequential(*blocks)", impl.CheckpointedSequential, *blocks)
    x = torch.randn(4, 6, requires_grad=True)
    out = checks.call("CheckpointedSequential(*blocks)(x)", model, x)
    checks.close(out, _plain(blocks, x).detach(), "CheckpointedSequential(*blocks)(x)",
                 "Saving nothing earns nothing: the blocks still have to run.", rtol=1e-5, atol=1e-6)
    plain = _saved_tensor_count(lambda inp: _plain(blocks, inp), x)
    checkpointed = checks.call(
        "counting saved tensors of CheckpointedSequential(*blocks)(x)", _saved_tensor_count, model, x
    )
    checks.check(
        checkpointed < plain,
        f"CheckpointedSequential(*blocks)(x) saved {checkpointed} tensors for backward; running the same blocks "
        f"plainly saves {plain}. Expected fewer.",
        "Wrap each block call in torch.utils.checkpoint.checkpoint(block, x, use_reentrant=False).",
    )


@pytest.mark.kata("CheckpointedSequential")
@pytest.mark.points(2)
def test_checkpointed_sequential_parameters_get_gradients_without_input_grad(impl):
    blocks = _blocks()
    params = [p for block in blocks for p in block.parameters()]
    model = checks.call("CheckpointedSequential(*blocks)", impl.CheckpointedSequential, *blocks)
    x = torch.randn(4, 6)
    want = torch.autograd.grad(_plain(blocks, x).sum(), params)
    out = checks.call("CheckpointedSequential(*blocks)(x) with x.requires_grad False", model, x)
    checks.tensor(out, "CheckpointedSequential(*blocks)(x)")
    checks.check(out.requires_grad, "CheckpointedSequential(*blocks)(x) with an input that needs no gradient "
                 "returned a tensor without a graph; the parameters will never learn.",
                 "use_reentrant=True drops the graph when no input requires grad: pass use_reentrant=False.")
    out.sum().backward()
    for index, (p, w) in enumerate(zip(params, want, strict=True)):
        checks.check(p.grad is not None, f"after CheckpointedSequential(*blocks)(x).sum().backward() parameter "
                     f"{index} has no gradient.", "Pass use_reentrant=False to checkpoint.")
        checks.close(p.grad, w, f"the gradient of parameter {index}", rtol=1e-4, atol=1e-6)


@pytest.mark.kata("CheckpointedSequential")
@pytest.mark.points(1)
def test_checkpointed_sequential_replays_dropout(impl):
    blocks = [nn.Sequential(nn.Linear(6, 16), nn.Dropout(0.5), nn.Tanh()), nn.Linear(16, 3)]
    params = [p for block in blocks for p in block.parameters()]
    model = checks.call("CheckpointedSequential(*blocks)", impl.CheckpointedSequential, *blocks)
    model.train()
    x = torch.randn(8, 6)
    torch.manual_seed(7)
    expected = _plain(blocks, x)
    want = torch.autograd.grad(expected.sum(), params)
    torch.manual_seed(7)
    out = checks.call("CheckpointedSequential(*blocks)(x) in train mode", model, x)
    checks.close(out, expected.detach(), "CheckpointedSequential(*blocks with Dropout)(x) after torch.manual_seed(7)")
    got = torch.autograd.grad(out.sum(), params)
    for index, (g, w) in enumerate(zip(got, want, strict=True)):
        checks.close(
            g, w, f"the gradient of parameter {index} through a block with Dropout",
            "The recomputation in backward must draw the same dropout mask: keep checkpoint's default "
            "preserve_rng_state=True.", rtol=1e-4, atol=1e-6,
        )


# ---------------------------------------------------------------- param_bytes


def _byte_counts(impl, model, call):
    """param_bytes(model) as a plain dict (a defaultdict or other dict subclass is fine)."""
    result = checks.call(call, impl.param_bytes, model)
    checks.check(isinstance(result, dict), f"{call} returned {checks.describe(result)}; expected a dict mapping "
                 "each dtype to a number of bytes.")
    return dict(result)


class TiedEncoder(nn.Module):
    """Two Linear layers tied to one weight, one Linear used twice, and a non-persistent buffer."""

    def __init__(self, features: int, code: int) -> None:
        super().__init__()
        self.encoder = nn.Linear(features, code, bias=False)
        self.twin = nn.Linear(features, code, bias=False)
        self.twin.weight = self.encoder.weight
        self.mixer = nn.Linear(code, code, bias=False)
        self.mixer_again = self.mixer
        self.register_buffer("mask", torch.ones(features, dtype=torch.int32), persistent=False)

    def forward(self, x):
        x = x * self.mask
        return self.mixer_again(self.mixer(self.encoder(x) + self.twin(x)))


@pytest.mark.kata("param_bytes")
@pytest.mark.points(2)
@pytest.mark.parametrize("features", [4, 7])
def test_param_bytes_counts_every_dtype_and_buffer(impl, features):
    model = nn.Sequential(nn.Linear(features, 8), nn.BatchNorm1d(8), nn.Linear(8, 3).to(torch.float16))
    call = f"param_bytes(Sequential(Linear({features}, 8), BatchNorm1d(8), Linear(8, 3).half()))"
    result = _byte_counts(impl, model, call)
    expected = {
        # Linear weight and bias, BatchNorm weight, bias, running_mean, running_var: 4 bytes each.
        torch.float32: 4 * (features * 8 + 8 + 4 * 8),
        torch.int64: 8,  # BatchNorm's num_batches_tracked
        torch.float16: 2 * (8 * 3 + 3),
    }
    checks.equal(
        result, expected, call,
        "Count buffers too (BatchNorm's running statistics and its int64 counter), at t.element_size() bytes "
        "per element of each tensor's own dtype.",
    )
    checks.check(
        all(type(value) is int for value in result.values()),
        f"{call} returned values of types {sorted({type(v).__name__ for v in result.values()})}; expected ints.",
    )


@pytest.mark.kata("param_bytes")
@pytest.mark.points(2)
def test_param_bytes_counts_shared_tensors_once(impl):
    model = TiedEncoder(6, 3)
    call = "param_bytes(TiedEncoder(6, 3)) with a tied weight, a Linear used twice and a non-persistent buffer"
    result = _byte_counts(impl, model, call)
    expected = {torch.float32: 4 * (6 * 3 + 3 * 3), torch.int32: 4 * 6}
    checks.equal(
        result, expected, call,
        "A module reached twice holds its tensors once: iterate model.parameters() and model.buffers(), which skip "
        "duplicates, rather than state_dict() or every submodule's own parameters.",
    )


@pytest.mark.kata("param_bytes")
@pytest.mark.points(1)
def test_param_bytes_on_the_meta_device(impl):
    model = nn.Linear(4096, 2048, device="meta", dtype=torch.bfloat16)
    call = "param_bytes(nn.Linear(4096, 2048, device='meta', dtype=torch.bfloat16))"
    checks.equal(_byte_counts(impl, model, call), {torch.bfloat16: 2 * (4096 * 2048 + 2048)}, call,
                 "Count from shapes and dtypes (numel() * element_size()): no memory has to be read.")


@pytest.mark.kata("param_bytes")
@pytest.mark.points(1)
def test_param_bytes_rejects_a_tensor(impl):
    error = checks.raises(TypeError, lambda: impl.param_bytes(torch.zeros(3)), "param_bytes(torch.zeros(3))",
                          "param_bytes takes an nn.Module.")
    checks.check("model" in str(error), f"param_bytes(torch.zeros(3)) raised {error!r}; expected a message naming "
                 "model.")


# ---------------------------------------------------------------- differential: every observable against the reference
#
# The reference's outcomes on generated cases are recorded by `torchkata build` in cases_amp.pt. Models, blocks,
# optimizers and scalers are built inside each observation from plain case values and filled by shape; compared
# are the results (values, dtypes), the model after the call (parameter dtypes, modes, gradients), the scaler's
# scale, the global RNG and what is raised for bad arguments.


def _grads(module: nn.Module) -> list:
    return [p.grad for p in module.parameters()]


@differential.scenario(
    "autocast_forward",
    cases=lambda st: st.fixed_dictionaries({
        "x": differential.tensors(st, shape=st.integers(0, 3).map(lambda b: (b, 4))),
        "dtype": st.sampled_from((torch.bfloat16, torch.bfloat16, torch.float16, torch.float32, torch.float64)),
        "device_type": st.sampled_from(("cpu", "cpu", "cpu", 0)),
        "mixed_modes": st.booleans(),
        "upstream": st.sampled_from((1.0, -2.0)),
    }),
    edge=lambda: [
        {"x": torch.zeros(0, 4), "dtype": torch.bfloat16, "device_type": "cpu", "mixed_modes": True, "upstream": 1.0},
        {"x": torch.ones(2, 4), "dtype": torch.float16, "device_type": "cpu", "mixed_modes": False, "upstream": 1.0},
        {"x": torch.ones(2, 4), "dtype": torch.float32, "device_type": "cpu", "mixed_modes": False, "upstream": 1.0},
        {"x": torch.ones(2, 4), "dtype": torch.bfloat16, "device_type": None, "mixed_modes": False, "upstream": 1.0},
    ],
    count=20,
)
def autocast_forward_outcome(impl, x, dtype, device_type, mixed_modes, upstream):
    model = differential.fill_by_shape_(nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Dropout(0.3), nn.Linear(6, 3)))
    model.train()
    if mixed_modes:
        model[2].eval()
    before = x.clone()
    out = impl.autocast_forward(model, x, device_type, dtype)
    outcome = {"result": out, "x unchanged": torch.equal(before, x), "modes after the call": differential.modes(model),
               "parameter dtypes after the call": [p.dtype for p in model.parameters()],
               "autocast enabled after the call": torch.is_autocast_enabled("cpu"),
               "requires grad": isinstance(out, torch.Tensor) and out.requires_grad}
    if outcome["requires grad"]:
        (out.float() * upstream).sum().backward()
        outcome["parameter grads after backward"] = _grads(model)
    return outcome


@differential.scenario(
    "amp_train_step",
    cases=lambda st: st.integers(1, 4).flatmap(lambda b: st.fixed_dictionaries({
        "x": differential.tensors(st, shape=(b, 3), low=-2, high=2),
        "targets": differential.tensors(st, shape=(b, 2), low=-1, high=1),
        "loss": st.sampled_from(("mse", "cross_entropy")),
        "max_norm": st.sampled_from((None, None, 0.05, 1.0, 100.0, 0.0, -1.0)),
        "log2_scale": st.sampled_from((4, 10, 16)),
        "poisoned_step": st.sampled_from((None, None, 0, 1)),
    })),
    edge=lambda: [
        {"x": torch.ones(2, 3), "targets": torch.zeros(2, 2), "loss": "mse", "max_norm": 0.0, "log2_scale": 10,
         "poisoned_step": None},
        {"x": torch.ones(2, 3), "targets": torch.zeros(2, 2), "loss": "mse", "max_norm": 0.01, "log2_scale": 16,
         "poisoned_step": 0},
        {"x": torch.ones(1, 3), "targets": torch.ones(1, 2), "loss": "cross_entropy", "max_norm": None,
         "log2_scale": 4, "poisoned_step": 1},
    ],
    count=20,
    # bfloat16 autocast moves the loss and the gradients by well under 1%; every mistake checked moves them more.
    tolerances={torch.float32: (1e-2, 1e-4), torch.float64: (3e-2, 1e-3)},
)
def amp_train_step_outcome(impl, x, targets, loss, max_norm, log2_scale, poisoned_step):
    model = differential.fill_by_shape_(nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 2)))
    model[0].bias.requires_grad_(False)  # frozen: never a gradient
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**log2_scale, growth_interval=1)
    loss_fn = nn.MSELoss() if loss == "mse" else nn.CrossEntropyLoss()
    y = targets if loss == "mse" else targets.argmax(dim=1)
    outcome: dict = {"returned": [], "returned type": [], "parameters after each step": [], "scale after each step": [],
                     "grads after each step": []}
    for step in range(2):
        inputs = x.clone()
        if poisoned_step == step:
            inputs[0, 0] = float("inf")
        returned = impl.amp_train_step(model, inputs, y, loss_fn, optimizer, scaler, max_norm)
        outcome["returned type"].append(type(returned).__name__)
        outcome["returned"].append(torch.tensor(float(returned), dtype=torch.float64))
        outcome["parameters after each step"].append([p.detach().clone() for p in model.parameters()])
        outcome["scale after each step"].append(float(scaler.get_scale()))
        outcome["grads after each step"].append(_grads(model))
    return outcome


_BLOCK_KINDS = ("mlp", "gelu", "dropout", "mlp")


def _block(kind: str):
    if kind == "function":
        return torch.tanh
    block = {"mlp": lambda: nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 4)),
             "gelu": lambda: nn.Sequential(nn.Linear(4, 4), nn.GELU()),
             "dropout": lambda: nn.Dropout(0.5)}[kind]()
    return differential.fill_by_shape_(block)


@differential.scenario(
    "CheckpointedSequential",
    cases=lambda st: st.integers(0, 3).flatmap(lambda b: st.fixed_dictionaries({
        "kinds": st.lists(st.sampled_from(_BLOCK_KINDS + ("function",)), max_size=3),
        "x": differential.tensors(st, shape=(b, 4)),
        "x_requires_grad": st.booleans(),
        "training": st.booleans(),
        "upstream": differential.tensors(st, shape=(b, 4)),
    })),
    edge=lambda: [
        {"kinds": [], "x": torch.ones(2, 4), "x_requires_grad": True, "training": True, "upstream": torch.ones(2, 4)},
        {"kinds": ["mlp", "dropout", "gelu"], "x": torch.ones(3, 4), "x_requires_grad": False, "training": True,
         "upstream": torch.ones(3, 4)},
        {"kinds": ["mlp", "function"], "x": torch.ones(1, 4), "x_requires_grad": True, "training": True,
         "upstream": torch.ones(1, 4)},
        {"kinds": ["gelu"], "x": torch.zeros(0, 4), "x_requires_grad": True, "training": False,
         "upstream": torch.zeros(0, 4)},
    ],
    count=25,
    tolerances={torch.float32: (1e-5, 1e-6)},
)
def checkpointed_sequential_outcome(impl, kinds, x, x_requires_grad, training, upstream):
    blocks = [_block(kind) for kind in kinds]
    model = impl.CheckpointedSequential(*blocks)
    model.train(training)
    x = x.clone().requires_grad_(x_requires_grad)
    out = model(x)
    outcome = {"output": out, "parameter shapes": differential.parameter_shapes(model),
               "modes of the blocks": [differential.modes(block) for block in blocks],
               "output requires grad": out.requires_grad}
    if out.requires_grad:
        (out * upstream).sum().backward()
    outcome["x.grad"] = x.grad
    outcome["grads of each block"] = [_grads(block) for block in blocks]
    outcome["global RNG afterwards"] = torch.rand(3)
    return outcome


class _Mixed(nn.Module):
    """float64 and float16 layers, a frozen parameter, BatchNorm buffers (one int64), a non-persistent buffer."""

    def __init__(self):
        super().__init__()
        self.wide = nn.Linear(3, 4).double()
        self.half = nn.Linear(4, 2).half()
        self.norm = nn.BatchNorm1d(2)
        self.norm.weight.requires_grad_(False)
        self.register_buffer("mask", torch.ones(5, dtype=torch.int32), persistent=False)


class _Shared(nn.Module):
    """One layer reachable under two names and a weight tied into a second layer."""

    def __init__(self):
        super().__init__()
        self.encoder = nn.Linear(4, 4)
        self.again = self.encoder
        self.decoder = nn.Linear(4, 4, bias=False)
        self.decoder.weight = self.encoder.weight


def _sized_model(kind: str):
    return {"mixed": _Mixed, "shared": _Shared, "no parameters": nn.ReLU,
            "meta": lambda: nn.Linear(5, 3, device="meta"), "a state_dict": lambda: nn.Linear(2, 2).state_dict(),
            "empty sequential": nn.Sequential}[kind]()


@differential.scenario(
    "param_bytes",
    edge=lambda: [{"kind": kind} for kind in ("mixed", "shared", "no parameters", "meta", "a state_dict",
                                               "empty sequential")],
)
def param_bytes_outcome(impl, kind):
    model = _sized_model(kind)
    result = impl.param_bytes(model)
    if isinstance(result, dict):  # dtype keys are compared as they are, sorted by name
        result = sorted(result.items(), key=lambda item: str(item[0]))
    return {"bytes per dtype": result}


@pytest.mark.kata("autocast_forward")
@pytest.mark.points(2)
def test_autocast_forward_agrees_with_the_reference_on_generated_cases(impl):
    autocast_forward_outcome.check(impl)


@pytest.mark.kata("amp_train_step")
@pytest.mark.points(2)
def test_amp_train_step_agrees_with_the_reference_on_generated_cases(impl):
    amp_train_step_outcome.check(impl)


@pytest.mark.kata("CheckpointedSequential")
@pytest.mark.points(2)
def test_checkpointed_sequential_agrees_with_the_reference_on_generated_cases(impl):
    checkpointed_sequential_outcome.check(impl)


@pytest.mark.kata("param_bytes")
@pytest.mark.points(2)
def test_param_bytes_agrees_with_the_reference_on_generated_cases(impl):
    param_bytes_outcome.check(impl)
