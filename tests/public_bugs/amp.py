"""Realistic mistakes in chapter 14, amp, that the public checks alone must catch."""

import torch
from torch import nn

from torchkata.mutants import mutant


@mutant("amp_train_step", "clips the gradients before scaler.unscale_, so max_norm is compared with scaled gradients")
def amp_train_step(model, x, y, loss_fn, optimizer, scaler, max_norm=None):
    with torch.autocast(device_type=x.device.type):
        loss = loss_fn(model(x), y)
    scaler.scale(loss).backward()
    if max_norm is not None:
        nn.utils.clip_grad_norm_(model.parameters(), max_norm)
        scaler.unscale_(optimizer)
    scaler.step(optimizer)
    scaler.update()
    optimizer.zero_grad()
    return loss.item()


@mutant("amp_train_step", "optimizer.step() instead of scaler.step(optimizer): the step uses the scaled gradients")
def amp_train_step(model, x, y, loss_fn, optimizer, scaler, max_norm=None):
    with torch.autocast(device_type=x.device.type):
        loss = loss_fn(model(x), y)
    scaler.scale(loss).backward()
    optimizer.step()
    scaler.update()
    optimizer.zero_grad()
    return loss.item()


@mutant("CheckpointedSequential", "runs the blocks plainly: torch.utils.checkpoint is never applied")
class CheckpointedSequential(nn.Module):
    def __init__(self, *blocks):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return x


@mutant("param_bytes", "counts the parameters only; buffers (BatchNorm's running statistics) are left out")
def param_bytes(model):
    totals = {}
    for tensor in model.parameters():
        totals[tensor.dtype] = totals.get(tensor.dtype, 0) + tensor.numel() * tensor.element_size()
    return totals


@mutant("autocast_forward", "casts the model to the low-precision dtype instead of using autocast: the model changes")
def autocast_forward(model, x, device_type="cpu", dtype=torch.bfloat16):
    return model.to(dtype)(x.to(dtype))
