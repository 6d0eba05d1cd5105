"""Public checks for chapter 14, amp: dtypes, a scaled step with unscaled clipping, checkpointing, byte counts.

The hidden checks add the exact call order, skipped steps on inf, float16 on CUDA, dropout replay, shared
tensors, the meta device and bad arguments.
"""

import math

import pytest
import torch
from torch import nn

from torchkata import checks


@pytest.mark.kata("autocast_forward")
@pytest.mark.points(1)
def test_autocast_forward_returns_bfloat16_on_cpu(impl):
    model = nn.Linear(8, 4)
    x = torch.randn(3, 8)
    call = "autocast_forward(nn.Linear(8, 4), x) with x of shape (3, 8)"
    out = checks.call(call, impl.autocast_forward, model, x)
    checks.shape(out, (3, 4), call)
    checks.dtype(
        out, torch.bfloat16, call,
        "On CPU, autocast runs nn.Linear in bfloat16: call the model inside "
        "torch.autocast(device_type='cpu', dtype=torch.bfloat16).",
    )
    changed = sorted({str(p.dtype) for p in model.parameters()} - {"torch.float32"})
    checks.check(
        not changed, f"after {call} the model's parameters are {changed}; expected them left in float32.",
        "Don't cast the model or x yourself: run the float32 model inside torch.autocast, which picks each op's "
        "precision.",
    )


@pytest.mark.kata("amp_train_step")
@pytest.mark.points(1)
def test_amp_train_step_returns_loss_and_moves_weights(impl):
    model = nn.Linear(5, 2)
    before = [p.detach().clone() for p in model.parameters()]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10)
    x, y = torch.randn(8, 5), torch.randn(8, 2)
    call = "amp_train_step(nn.Linear(5, 2), x, y, nn.MSELoss(), SGD(lr=0.1), GradScaler('cpu'))"
    loss = checks.call(call, impl.amp_train_step, model, x, y, nn.MSELoss(), optimizer, scaler)
    checks.check(
        isinstance(loss, float),
        f"{call} returned {checks.describe(loss)}; expected the loss as a Python float.",
        "Return loss.item().",
    )
    moved = any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    checks.check(moved, f"after {call} the weights are unchanged; expected one optimizer step.")
    left = [name for name, p in model.named_parameters() if p.grad is not None and p.grad.any()]
    checks.check(
        not left, f"after {call} these gradients are still set: {left}; expected them cleared for the next step.",
        "End the step with optimizer.zero_grad().",
    )


@pytest.mark.kata("amp_train_step")
@pytest.mark.points(1)
def test_amp_train_step_clips_the_unscaled_gradients(impl):
    model = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3))
    x, y = torch.randn(16, 6), torch.randn(16, 3)
    twin = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3))
    twin.load_state_dict(model.state_dict())
    grads = torch.autograd.grad(nn.functional.mse_loss(twin(x), y), list(twin.parameters()))
    max_norm = math.sqrt(sum(float(g.double().pow(2).sum()) for g in grads)) / 4
    before = [p.detach().clone() for p in model.parameters()]
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10)
    call = f"amp_train_step(model, x, y, mse_loss, SGD(lr=1), GradScaler('cpu'), max_norm={max_norm:.4g})"
    checks.call(call, impl.amp_train_step, model, x, y, nn.functional.mse_loss, optimizer, scaler, max_norm)
    moves = [old - p.detach() for old, p in zip(before, model.parameters(), strict=True)]
    step = math.sqrt(sum(float(move.double().pow(2).sum()) for move in moves))
    checks.check(
        abs(step - max_norm) <= 0.05 * max_norm,
        f"{call} moved the parameters by {step:.4g} in norm; with lr = 1 and gradients of norm {4 * max_norm:.4g}, "
        f"clipping to max_norm should move them by {max_norm:.4g}.",
        "Call scaler.unscale_(optimizer) before nn.utils.clip_grad_norm_: clipping the scaled gradients clips the "
        "wrong norm.",
    )


@pytest.mark.kata("CheckpointedSequential")
@pytest.mark.points(1)
def test_checkpointed_sequential_output(impl):
    blocks = [nn.Sequential(nn.Linear(6, 10), nn.Tanh()), nn.Linear(10, 3)]
    call = "CheckpointedSequential(Sequential(Linear(6, 10), Tanh()), Linear(10, 3))"
    model = checks.call(call, impl.CheckpointedSequential, *blocks)
    x = torch.randn(4, 6, requires_grad=True)
    out = checks.call(f"{call}(x)", model, x)
    checks.shape(out, (4, 3), f"{call}(x) with x of shape (4, 6)")
    checks.close(out, blocks[1](blocks[0](x)), f"{call}(x)", "Run the blocks in the order given.")


def _saved_tensor_count(fn, x) -> int:
    """How many tensors autograd saves for backward while fn(x) runs."""
    count = 0

    def pack(tensor):
        nonlocal count
        count += 1
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        fn(x)
    return count


@pytest.mark.kata("CheckpointedSequential")
@pytest.mark.points(1)
def test_checkpointed_sequential_saves_fewer_tensors(impl):
    blocks = [nn.Sequential(nn.Linear(6, 12), nn.Tanh(), nn.Linear(12, 6)), nn.Sequential(nn.Linear(6, 6), nn.GELU())]
    call = "CheckpointedSequential(Sequential(Linear, Tanh, Linear), Sequential(Linear, GELU))"
    model = checks.call(call, impl.CheckpointedSequential, *blocks)
    x = torch.randn(4, 6, requires_grad=True)
    out = checks.call(f"{call}(x)", model, x)
    checks.close(out, blocks[1](blocks[0](x)), f"{call}(x) with x of shape (4, 6)", "Run the blocks in order.")
    plain = _saved_tensor_count(lambda inp: blocks[1](blocks[0](inp)), x)
    checkpointed = checks.call(f"counting the tensors {call}(x) saves", _saved_tensor_count, model, x)
    checks.check(
        checkpointed < plain,
        f"{call}(x) saved {checkpointed} tensors for backward; running the same blocks plainly saves {plain}. "
        "Expected fewer.",
        "Wrap each block call in torch.utils.checkpoint.checkpoint(block, x, use_reentrant=False).",
    )


@pytest.mark.kata("param_bytes")
@pytest.mark.points(1)
def test_param_bytes_of_a_linear_layer(impl):
    result = checks.call("param_bytes(nn.Linear(4, 3))", impl.param_bytes, nn.Linear(4, 3))
    checks.check(isinstance(result, dict), f"param_bytes(nn.Linear(4, 3)) returned {checks.describe(result)}; "
                 "expected a dict mapping each dtype to a number of bytes.")
    checks.equal(
        dict(result), {torch.float32: (4 * 3 + 3) * 4}, "param_bytes(nn.Linear(4, 3))",
        "15 float32 parameters of 4 bytes each: 60 bytes, keyed by torch.float32.",
    )


@pytest.mark.kata("param_bytes")
@pytest.mark.points(1)
def test_param_bytes_counts_buffers(impl):
    model = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))
    call = "param_bytes(Sequential(Linear(4, 3), BatchNorm1d(3)))"
    result = checks.call(call, impl.param_bytes, model)
    checks.check(isinstance(result, dict), f"{call} returned {checks.describe(result)}; expected a dict.")
    checks.equal(
        dict(result), {torch.float32: (15 + 6 + 6) * 4, torch.int64: 8}, call,
        "Buffers count too: BatchNorm's running_mean and running_var (float32) and num_batches_tracked (int64).",
    )
