"""Chapter 14 solved in other styles: no autocast in the step, manual clipping, checkpoint_sequential."""

import collections

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint_sequential


def autocast_forward(model, x, device_type="cpu", dtype=torch.bfloat16):
    if dtype not in {torch.float16, torch.bfloat16}:
        raise TypeError(f"unsupported dtype {dtype}")
    with torch.amp.autocast(device_type, dtype=dtype):
        out = model(x)
    return out


def amp_train_step(model, x, y, loss_fn, optimizer, scaler, max_norm=None):
    if max_norm is not None and max_norm <= 0:
        raise ValueError("max_norm must be positive")
    loss = loss_fn(model(x), y)
    scaler.scale(loss).backward()
    if max_norm is not None:
        scaler.unscale_(optimizer)
        params = [p for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
        norm = torch.sqrt(sum(p.grad.pow(2).sum() for p in params))
        factor = torch.clamp(max_norm / (norm + 1e-6), max=1.0)
        for p in params:
            p.grad.mul_(factor)
    scaler.step(optimizer)
    scaler.update()
    model.zero_grad(set_to_none=True)
    return float(loss.detach())


class CheckpointedSequential(nn.Module):
    def __init__(self, *blocks):
        super().__init__()
        if any(not isinstance(b, nn.Module) for b in blocks):
            raise TypeError("blocks must be nn.Module instances")
        for i, b in enumerate(blocks):
            setattr(self, f"block{i}", b)
        self.n = len(blocks)

    def forward(self, x):
        blocks = [getattr(self, f"block{i}") for i in range(self.n)]
        if not blocks:  # checkpoint_sequential cannot split zero blocks into segments
            return x
        return checkpoint_sequential(blocks, self.n, x, use_reentrant=False)


def param_bytes(model):
    if not isinstance(model, nn.Module):
        raise TypeError("model must be a Module")
    out = collections.defaultdict(int)
    seen = set()
    for _, t in [*model.named_parameters(), *model.named_buffers()]:
        if id(t) in seen:
            continue
        seen.add(id(t))
        out[t.dtype] += t.nbytes
    return out
