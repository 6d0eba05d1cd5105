"""Mutants of solutions/amp.py: real mistakes the chapter 14 graders must catch."""

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from torchkata.mutants import mutant


@mutant("autocast_forward", "the model and input cast to bfloat16 instead of using autocast")
def autocast_forward(model, x, device_type="cpu", dtype=torch.bfloat16):
    return model.to(dtype)(x.to(dtype))


@mutant("autocast_forward", "the dtype argument ignored (always bfloat16)")
def autocast_forward(model, x, device_type="cpu", dtype=torch.bfloat16):
    with torch.autocast(device_type=device_type, dtype=torch.bfloat16):
        return model(x)


@mutant("autocast_forward", "autocast hard-coded to 'cuda', so nothing changes on CPU")
def autocast_forward(model, x, device_type="cpu", dtype=torch.bfloat16):
    with torch.autocast(device_type="cuda", dtype=dtype, enabled=torch.cuda.is_available()):
        return model(x)


@mutant("autocast_forward", "the output cast back to float32")
def autocast_forward(model, x, device_type="cpu", dtype=torch.bfloat16):
    with torch.autocast(device_type=device_type, dtype=dtype):
        return model(x).float()


@mutant("amp_train_step", "clipping before unscale_ (clips the scaled gradients)")
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


@mutant("amp_train_step", "optimizer.step() instead of scaler.step(optimizer)")
def amp_train_step(model, x, y, loss_fn, optimizer, scaler, max_norm=None):
    with torch.autocast(device_type=x.device.type):
        loss = loss_fn(model(x), y)
    scaler.scale(loss).backward()
    if max_norm is not None:
        scaler.unscale_(optimizer)
        nn.utils.clip_grad_norm_(model.parameters(), max_norm)
    optimizer.step()
    scaler.update()
    optimizer.zero_grad()
    return loss.item()


@mutant("amp_train_step", "scaler.update() never called")
def amp_train_step(model, x, y, loss_fn, optimizer, scaler, max_norm=None):
    with torch.autocast(device_type=x.device.type):
        loss = loss_fn(model(x), y)
    scaler.scale(loss).backward()
    if max_norm is not None:
        scaler.unscale_(optimizer)
        nn.utils.clip_grad_norm_(model.parameters(), max_norm)
    scaler.step(optimizer)
    optimizer.zero_grad()
    return loss.item()


@mutant("amp_train_step", "the loss not scaled before backward")
def amp_train_step(model, x, y, loss_fn, optimizer, scaler, max_norm=None):
    with torch.autocast(device_type=x.device.type):
        loss = loss_fn(model(x), y)
    loss.backward()
    if max_norm is not None:
        scaler.unscale_(optimizer)
        nn.utils.clip_grad_norm_(model.parameters(), max_norm)
    scaler.step(optimizer)
    scaler.update()
    optimizer.zero_grad()
    return loss.item()


@mutant("amp_train_step", "zero_grad at the start instead of after the step (gradients left behind)")
def amp_train_step(model, x, y, loss_fn, optimizer, scaler, max_norm=None):
    optimizer.zero_grad()
    with torch.autocast(device_type=x.device.type):
        loss = loss_fn(model(x), y)
    scaler.scale(loss).backward()
    if max_norm is not None:
        scaler.unscale_(optimizer)
        nn.utils.clip_grad_norm_(model.parameters(), max_norm)
    scaler.step(optimizer)
    scaler.update()
    return loss.item()


@mutant("amp_train_step", "returns the scaled loss")
def amp_train_step(model, x, y, loss_fn, optimizer, scaler, max_norm=None):
    with torch.autocast(device_type=x.device.type):
        loss = loss_fn(model(x), y)
    scaled = scaler.scale(loss)
    scaled.backward()
    if max_norm is not None:
        scaler.unscale_(optimizer)
        nn.utils.clip_grad_norm_(model.parameters(), max_norm)
    scaler.step(optimizer)
    scaler.update()
    optimizer.zero_grad()
    return scaled.item()


@mutant("amp_train_step", "per-parameter clipping instead of the global norm")
def amp_train_step(model, x, y, loss_fn, optimizer, scaler, max_norm=None):
    with torch.autocast(device_type=x.device.type):
        loss = loss_fn(model(x), y)
    scaler.scale(loss).backward()
    if max_norm is not None:
        scaler.unscale_(optimizer)
        for p in model.parameters():
            nn.utils.clip_grad_norm_([p], max_norm)
    scaler.step(optimizer)
    scaler.update()
    optimizer.zero_grad()
    return loss.item()


@mutant("CheckpointedSequential", "checkpoint not applied (blocks run plainly)")
class CheckpointedSequential(nn.Module):
    def __init__(self, *blocks):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return x


@mutant("CheckpointedSequential", "reentrant checkpoint (use_reentrant=True): no gradients when x needs none")
class CheckpointedSequential(nn.Module):
    def __init__(self, *blocks):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x):
        for block in self.blocks:
            x = checkpoint(block, x, use_reentrant=True)
        return x


@mutant("CheckpointedSequential", "preserve_rng_state=False: dropout recomputed with another mask")
class CheckpointedSequential(nn.Module):
    def __init__(self, *blocks):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x):
        for block in self.blocks:
            x = checkpoint(block, x, use_reentrant=False, preserve_rng_state=False)
        return x


@mutant("CheckpointedSequential", "blocks kept in a plain Python list")
class CheckpointedSequential(nn.Module):
    def __init__(self, *blocks):
        super().__init__()
        self.blocks = list(blocks)

    def forward(self, x):
        for block in self.blocks:
            x = checkpoint(block, x, use_reentrant=False)
        return x


@mutant("CheckpointedSequential", "forward under torch.no_grad() to save memory")
class CheckpointedSequential(nn.Module):
    def __init__(self, *blocks):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x):
        with torch.no_grad():
            for block in self.blocks:
                x = block(x)
        return x


@mutant("param_bytes", "buffers left out")
def param_bytes(model):
    totals = {}
    for tensor in model.parameters():
        totals[tensor.dtype] = totals.get(tensor.dtype, 0) + tensor.numel() * tensor.element_size()
    return totals


@mutant("param_bytes", "numel counted instead of bytes")
def param_bytes(model):
    totals = {}
    for tensor in [*model.parameters(), *model.buffers()]:
        totals[tensor.dtype] = totals.get(tensor.dtype, 0) + tensor.numel()
    return totals


@mutant("param_bytes", "every element assumed to take 4 bytes")
def param_bytes(model):
    totals = {}
    for tensor in [*model.parameters(), *model.buffers()]:
        totals[tensor.dtype] = totals.get(tensor.dtype, 0) + tensor.numel() * 4
    return totals


@mutant("param_bytes", "summed over state_dict(): tied tensors twice, non-persistent buffers missed")
def param_bytes(model):
    totals = {}
    for tensor in model.state_dict().values():
        totals[tensor.dtype] = totals.get(tensor.dtype, 0) + tensor.numel() * tensor.element_size()
    return totals


@mutant("param_bytes", "each submodule's own tensors summed, so shared modules count twice")
def param_bytes(model):
    totals = {}
    for module in model.modules():
        for tensor in [*module.parameters(recurse=False), *module.buffers(recurse=False)]:
            totals[tensor.dtype] = totals.get(tensor.dtype, 0) + tensor.numel() * tensor.element_size()
    return totals
