"""Mutants of solutions/io.py: real mistakes the chapter 08 graders must catch."""

import os
import tempfile
from pathlib import Path

import torch

from torchkata.mutants import mutant


@mutant("save_tensors", "the values saved as a list, so the names are lost")
def save_tensors(path, tensors):
    if not isinstance(tensors, dict):
        raise TypeError("tensors must be a dict")
    torch.save(list(tensors.values()), path)


@mutant("save_tensors", "no check that the values are tensors")
def save_tensors(path, tensors):
    torch.save(dict(tensors), path)


@mutant("load_tensors", "loaded with weights_only=False")
def load_tensors(path):
    return torch.load(path, weights_only=False)


@mutant("load_tensors", "only the values returned, not the names")
def load_tensors(path):
    return list(torch.load(path, weights_only=True).values())


@mutant("save_checkpoint", "torch.save of the model and optimizer objects instead of their state_dicts")
def save_checkpoint(path, model, optimizer, epoch, scheduler=None, **extra):
    checkpoint = {"model": model, "optimizer": optimizer, "scheduler": scheduler, "epoch": epoch, "extra": extra}
    temporary = f"{path}.tmp"
    torch.save(checkpoint, temporary)
    os.replace(temporary, path)


@mutant("save_checkpoint", "the optimizer state left out")
def save_checkpoint(path, model, optimizer, epoch, scheduler=None, **extra):
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
        raise ValueError(f"bad epoch {epoch!r}")
    checkpoint = {
        "model": model.state_dict(),
        "scheduler": None if scheduler is None else scheduler.state_dict(),
        "epoch": epoch,
        "extra": extra,
    }
    temporary = f"{path}.tmp"
    torch.save(checkpoint, temporary)
    os.replace(temporary, path)


@mutant("save_checkpoint", "the target file written in place")
def save_checkpoint(path, model, optimizer, epoch, scheduler=None, **extra):
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
        raise ValueError(f"bad epoch {epoch!r}")
    checkpoint = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": None if scheduler is None else scheduler.state_dict(),
        "epoch": epoch,
        "extra": extra,
    }
    torch.save(checkpoint, path)


@mutant("save_checkpoint", "the temporary file copied onto the target instead of os.replace")
def save_checkpoint(path, model, optimizer, epoch, scheduler=None, **extra):
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
        raise ValueError(f"bad epoch {epoch!r}")
    checkpoint = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": None if scheduler is None else scheduler.state_dict(),
        "epoch": epoch,
        "extra": extra,
    }
    import shutil  # the overlay keeps only the reference module's imports

    temporary = f"{path}.tmp"
    torch.save(checkpoint, temporary)
    shutil.copyfile(temporary, path)
    os.remove(temporary)


@mutant("save_checkpoint", "the temporary file in the system temp directory, not next to the target")
def save_checkpoint(path, model, optimizer, epoch, scheduler=None, **extra):
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
        raise ValueError(f"bad epoch {epoch!r}")
    checkpoint = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": None if scheduler is None else scheduler.state_dict(),
        "epoch": epoch,
        "extra": extra,
    }
    handle, temporary = tempfile.mkstemp(suffix=".tmp")
    os.close(handle)
    torch.save(checkpoint, temporary)
    os.replace(temporary, path)


@mutant("save_checkpoint", "epoch not checked")
def save_checkpoint(path, model, optimizer, epoch, scheduler=None, **extra):
    checkpoint = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": None if scheduler is None else scheduler.state_dict(),
        "epoch": epoch,
        "extra": extra,
    }
    temporary = Path(path).with_name(Path(path).name + ".tmp")
    torch.save(checkpoint, temporary)
    os.replace(temporary, path)


@mutant("load_checkpoint", "loaded without map_location")
def load_checkpoint(path, model, optimizer=None, scheduler=None, map_location="cpu"):
    checkpoint = torch.load(path, weights_only=True)
    model.load_state_dict(checkpoint["model"])
    if optimizer is not None:
        optimizer.load_state_dict(checkpoint["optimizer"])
    if scheduler is not None:
        scheduler.load_state_dict(checkpoint["scheduler"])
    return {"epoch": checkpoint["epoch"], **checkpoint["extra"]}


@mutant("load_checkpoint", "map_location hard-coded to 'cpu'")
def load_checkpoint(path, model, optimizer=None, scheduler=None, map_location="cpu"):
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(checkpoint["model"])
    if optimizer is not None:
        optimizer.load_state_dict(checkpoint["optimizer"])
    if scheduler is not None:
        scheduler.load_state_dict(checkpoint["scheduler"])
    return {"epoch": checkpoint["epoch"], **checkpoint["extra"]}


@mutant("load_checkpoint", "strict=False hides missing keys")
def load_checkpoint(path, model, optimizer=None, scheduler=None, map_location="cpu"):
    checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    model.load_state_dict(checkpoint["model"], strict=False)
    if optimizer is not None:
        optimizer.load_state_dict(checkpoint["optimizer"])
    if scheduler is not None:
        scheduler.load_state_dict(checkpoint["scheduler"])
    return {"epoch": checkpoint["epoch"], **checkpoint["extra"]}


@mutant("load_checkpoint", "the optimizer state not restored")
def load_checkpoint(path, model, optimizer=None, scheduler=None, map_location="cpu"):
    checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    model.load_state_dict(checkpoint["model"])
    if scheduler is not None:
        scheduler.load_state_dict(checkpoint["scheduler"])
    return {"epoch": checkpoint["epoch"], **checkpoint["extra"]}


@mutant("load_checkpoint", "the scheduler not restored")
def load_checkpoint(path, model, optimizer=None, scheduler=None, map_location="cpu"):
    checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    model.load_state_dict(checkpoint["model"])
    if optimizer is not None:
        optimizer.load_state_dict(checkpoint["optimizer"])
    return {"epoch": checkpoint["epoch"], **checkpoint["extra"]}


@mutant("load_checkpoint", "loaded with weights_only=False")
def load_checkpoint(path, model, optimizer=None, scheduler=None, map_location="cpu"):
    checkpoint = torch.load(path, map_location=map_location, weights_only=False)
    model.load_state_dict(checkpoint["model"])
    if optimizer is not None:
        optimizer.load_state_dict(checkpoint["optimizer"])
    if scheduler is not None:
        scheduler.load_state_dict(checkpoint["scheduler"])
    return {"epoch": checkpoint["epoch"], **checkpoint["extra"]}


@mutant("load_checkpoint", "the extra values not returned")
def load_checkpoint(path, model, optimizer=None, scheduler=None, map_location="cpu"):
    checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    model.load_state_dict(checkpoint["model"])
    if optimizer is not None:
        optimizer.load_state_dict(checkpoint["optimizer"])
    if scheduler is not None:
        scheduler.load_state_dict(checkpoint["scheduler"])
    return {"epoch": checkpoint["epoch"]}


@mutant("reuse_layers_", "the prefixes ignored: every matching key copied")
def reuse_layers_(src_state_dict, dst_model, prefixes):
    destination = dst_model.state_dict()
    keys = [key for key in src_state_dict if key in destination and destination[key].shape == src_state_dict[key].shape]
    with torch.no_grad():
        for key in keys:
            destination[key].copy_(src_state_dict[key])
    return keys


@mutant("reuse_layers_", "load_state_dict(assign=True) replaces the parameters with the source tensors")
def reuse_layers_(src_state_dict, dst_model, prefixes):
    selected = {key: value for key, value in src_state_dict.items() if key.startswith(tuple(prefixes))}
    dst_model.load_state_dict(selected, strict=False, assign=True)
    return list(selected)


@mutant("reuse_layers_", "every key of the source returned, not the copied ones")
def reuse_layers_(src_state_dict, dst_model, prefixes):
    destination = dst_model.state_dict()
    with torch.no_grad():
        for key, value in src_state_dict.items():
            if key.startswith(tuple(prefixes)):
                destination[key].copy_(value)
    return list(src_state_dict)


@mutant("reuse_layers_", "only parameters copied, buffers (batch norm statistics) left behind")
def reuse_layers_(src_state_dict, dst_model, prefixes):
    parameters = dict(dst_model.named_parameters())
    keys = [key for key in src_state_dict if key.startswith(tuple(prefixes)) and key in parameters]
    with torch.no_grad():
        for key in keys:
            parameters[key].copy_(src_state_dict[key])
    return keys


@mutant("export_for_inference", "torch.save of the model object")
def export_for_inference(model, example_input, path):
    model.eval()
    torch.save(model, path)


@mutant("export_for_inference", "only the state_dict saved")
def export_for_inference(model, example_input, path):
    torch.save(model.state_dict(), path)


@mutant("export_for_inference", "exported in train mode (dropout on, batch statistics)")
def export_for_inference(model, example_input, path):
    torch.export.save(torch.export.export(model, (example_input,)), path)


@mutant("export_for_inference", "model.train(was_training) afterwards: submodules in another mode lose theirs")
def export_for_inference(model, example_input, path):
    was_training = model.training
    model.eval()
    try:
        program = torch.export.export(model, (example_input,))
    finally:
        model.train(was_training)
    torch.export.save(program, path)
