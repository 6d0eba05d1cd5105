"""Realistic mistakes in chapter 08, io, that the public checks alone must catch."""

import torch

from torchkata.mutants import mutant


@mutant("save_checkpoint", "writes the target file in place with torch.save(checkpoint, path): not atomic")
def save_checkpoint(path, model, optimizer, epoch, scheduler=None, **extra):
    torch.save(
        {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": None if scheduler is None else scheduler.state_dict(),
            "epoch": epoch,
            "extra": dict(extra),
        },
        path,
    )


@mutant("save_checkpoint", "the optimizer state is left out of the checkpoint")
def save_checkpoint(path, model, optimizer, epoch, scheduler=None, **extra):
    import os
    import tempfile

    handle, temporary = tempfile.mkstemp(dir=os.path.dirname(os.fspath(path)) or ".")
    with os.fdopen(handle, "wb") as file:
        torch.save({"model": model.state_dict(), "epoch": epoch, "extra": dict(extra)}, file)
    os.replace(temporary, path)


@mutant("load_checkpoint", "map_location is ignored: torch.load(path, weights_only=True) loads where it was saved")
def load_checkpoint(path, model, optimizer=None, scheduler=None, map_location="cpu"):
    checkpoint = torch.load(path, weights_only=True)
    model.load_state_dict(checkpoint["model"])
    if optimizer is not None:
        optimizer.load_state_dict(checkpoint["optimizer"])
    if scheduler is not None:
        scheduler.load_state_dict(checkpoint["scheduler"])
    return {"epoch": checkpoint["epoch"], **checkpoint["extra"]}


@mutant("load_checkpoint", "returns {'epoch': ..., 'extra': {...}}: the extras nested instead of alongside the epoch")
def load_checkpoint(path, model, optimizer=None, scheduler=None, map_location="cpu"):
    checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    model.load_state_dict(checkpoint["model"])
    if optimizer is not None:
        optimizer.load_state_dict(checkpoint["optimizer"])
    if scheduler is not None:
        scheduler.load_state_dict(checkpoint["scheduler"])
    return {"epoch": checkpoint["epoch"], "extra": checkpoint["extra"]}
