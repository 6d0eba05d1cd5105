"""Chapter 08 solved in other styles: file objects, NamedTemporaryFile, other checkpoint keys, TorchScript export."""

import collections
import os
import tempfile
from pathlib import Path

import torch


def save_tensors(path, tensors):
    if not isinstance(tensors, dict):
        raise TypeError(f"tensors must be a dict, got {type(tensors).__name__}")
    bad = [key for key, value in tensors.items() if not isinstance(key, str) or not isinstance(value, torch.Tensor)]
    if bad:
        raise TypeError(f"tensors must map str names to tensors; bad entries: {bad}")
    with open(path, "wb") as file:
        torch.save(collections.OrderedDict(tensors), file)


def load_tensors(path):
    with open(path, "rb") as file:
        return torch.load(file, weights_only=True)


def save_checkpoint(path, model, optimizer, epoch, scheduler=None, **extra):
    if isinstance(epoch, bool) or not isinstance(epoch, int):
        raise TypeError(f"epoch must be an int, got {epoch!r}")
    if epoch < 0:
        raise ValueError(f"epoch must be >= 0, got {epoch}")
    payload = {
        "weights": model.state_dict(),
        "optim": optimizer.state_dict(),
        "sched": None if scheduler is None else scheduler.state_dict(),
        "meta": {"epoch": epoch, **extra},
    }
    target = Path(path)
    with tempfile.NamedTemporaryFile(dir=target.parent, prefix=f".{target.name}.", delete=False) as handle:
        temporary = handle.name
        try:
            torch.save(payload, handle)
            handle.flush()
            os.fsync(handle.fileno())
        except BaseException:
            handle.close()
            os.unlink(temporary)
            raise
    os.replace(temporary, target)


def load_checkpoint(path, model, optimizer=None, scheduler=None, map_location="cpu"):
    payload = torch.load(path, map_location=map_location, weights_only=True)
    model.load_state_dict(payload["weights"], strict=True)
    for owner, key in ((optimizer, "optim"), (scheduler, "sched")):
        if owner is not None:
            owner.load_state_dict(payload[key])
    return dict(payload["meta"])


def reuse_layers_(src_state_dict, dst_model, prefixes):
    prefixes = (prefixes,) if isinstance(prefixes, str) else tuple(prefixes)
    selected = {key: value for key, value in src_state_dict.items() if key.startswith(prefixes)}
    destination = dst_model.state_dict()
    for key, value in selected.items():
        if key not in destination:
            raise ValueError(f"{key} is not in the destination model")
        if destination[key].shape != value.shape:
            wanted = tuple(destination[key].shape)
            raise ValueError(f"{key} has shape {tuple(value.shape)}; the destination has {wanted}")
    dst_model.load_state_dict(selected, strict=False)
    return list(selected)


def export_for_inference(model, example_input, path):
    training = {name: module.training for name, module in model.named_modules()}
    model.eval()
    try:
        traced = torch.jit.trace(model, (example_input,))
        torch.jit.save(traced, os.fspath(path))
    finally:
        for name, module in model.named_modules():
            module.train(training[name])
