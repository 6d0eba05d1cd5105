"""Public checks for chapter 14, amp: dtypes, shapes, a training step that moves the weights."""

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
