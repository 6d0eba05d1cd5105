"""Chapter 08: io. Save and load tensors, checkpoints and models so that nothing is lost or unsafe."""

import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

PathLike = str | os.PathLike[str]


def save_tensors(path: PathLike, tensors: dict[str, torch.Tensor]) -> None:
    """Write a dict of named tensors to ``path``; it reloads with ``torch.load(path, weights_only=True)``.

    The file holds a dict with the same names and tensors (values, shapes and dtypes as they are).
    ``tensors`` must be a dict mapping str names to tensors: anything else raises TypeError naming
    ``tensors`` before anything is written (a file already at ``path`` stays as it was).
    """
    ### BEGIN SOLUTION
    # TODO: raise TypeError naming tensors and the bad entry unless tensors maps str names to
    #   tensors; then save a plain dict of them to path, so the names come back with the
    #   tensors.
    if not isinstance(tensors, Mapping):
        raise TypeError(f"tensors must be a dict of str -> Tensor, got {type(tensors).__name__}")
    for name, value in tensors.items():
        if not isinstance(name, str) or not isinstance(value, torch.Tensor):
            raise TypeError(
                f"tensors must map str names to Tensors; entry {name!r} holds {type(value).__name__}"
            )
    torch.save(dict(tensors), path)
    ### END SOLUTION


def load_tensors(path: PathLike) -> dict[str, torch.Tensor]:
    """The dict of named tensors stored at ``path``, loaded with ``weights_only=True``.

    Names, values, shapes and dtypes come back as they were saved. A file that holds anything but
    tensors and plain containers (pickled code, say) is refused with the error torch.load raises
    with weights_only=True (pickle.UnpicklingError), and nothing in it runs.
    """
    ### BEGIN SOLUTION
    # TODO: return the dict saved at path, read with the safe loader that accepts tensors and plain
    #   containers but refuses to run code hidden in the file.
    return torch.load(path, weights_only=True)
    ### END SOLUTION


def save_checkpoint(
    path: PathLike,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    epoch: int,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    **extra: Any,
) -> None:
    """Atomically write a checkpoint holding state_dicts only, plus ``epoch`` and ``extra``.

    Either the old file at ``path`` or the complete new one exists, never a half-written file.
    The checkpoint loads with ``torch.load(path, weights_only=True)`` and holds model.state_dict(),
    optimizer.state_dict(), scheduler.state_dict() when a scheduler is given, epoch and every
    extra value under its name. ``epoch`` must be a non-negative int (a bool is not): TypeError or
    ValueError naming it, before anything is written. When writing fails (an extra value that
    cannot be saved, a full disk) the error propagates, the old file at ``path`` is untouched and
    no temporary file is left behind. The model, optimizer and scheduler are left as they were
    (values, modes of every submodule).
    """
    ### BEGIN SOLUTION
    # TODO: raise TypeError or ValueError naming epoch unless it is a non-negative int. Save the
    #   model's, the optimizer's and the scheduler's (or None) state_dicts, the epoch and the
    #   extras as plain data, atomically: either the old file or the complete new one exists at
    #   path, and a failed write leaves no temporary file behind.
    if isinstance(epoch, bool) or not isinstance(epoch, int):
        raise TypeError(f"epoch must be an int, got {type(epoch).__name__}")
    if epoch < 0:
        raise ValueError(f"epoch must be >= 0, got {epoch}")
    checkpoint = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": None if scheduler is None else scheduler.state_dict(),
        "epoch": epoch,
        "extra": dict(extra),
    }
    target = Path(path)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            torch.save(checkpoint, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    ### END SOLUTION


def load_checkpoint(
    path: PathLike,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    map_location: str | torch.device = "cpu",
) -> dict[str, Any]:
    """Restore model (and optimizer, scheduler) in place from a save_checkpoint file.

    Returns a new dict ``{"epoch": epoch, **extra}``. Loads with ``weights_only=True`` and passes
    ``map_location`` on to torch.load (a checkpoint saved on a GPU loads on a CPU-only machine).
    The model is loaded strictly: a missing, unexpected or mis-shaped key raises. A scheduler given
    for a checkpoint saved without one raises ValueError. The modes of the model's submodules are
    left as they were; continuing training after the load takes the same steps as never stopping.
    """
    ### BEGIN SOLUTION
    # TODO: load the checkpoint safely onto map_location, restore the model strictly (a missing or
    #   unexpected key raises), and the optimizer and scheduler when they are given; return
    #   {'epoch': epoch, **extra}.
    checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    model.load_state_dict(checkpoint["model"])
    if optimizer is not None:
        optimizer.load_state_dict(checkpoint["optimizer"])
    if scheduler is not None:
        if checkpoint["scheduler"] is None:
            raise ValueError(f"scheduler was given but the checkpoint {path} holds no scheduler state")
        scheduler.load_state_dict(checkpoint["scheduler"])
    return {"epoch": checkpoint["epoch"], **checkpoint["extra"]}
    ### END SOLUTION


def reuse_layers_(
    src_state_dict: Mapping[str, torch.Tensor], dst_model: nn.Module, prefixes: Iterable[str]
) -> list[str]:
    """Copy into ``dst_model``, in place, the entries of ``src_state_dict`` whose key starts with a prefix.

    Returns the keys copied, a list in ``src_state_dict`` order. ``prefixes`` is any iterable of
    str (a list, a tuple, a generator) or a single str; a key is selected when
    ``key.startswith(prefix)`` for one of them (plain string prefixes: "1" also selects "10.weight").
    Buffers are copied too. Every selected key is checked before anything is copied: a key that
    dst_model lacks, or whose shape differs, raises ValueError naming it and leaves dst_model
    unchanged. Values are copied into the existing tensors, so the Parameter objects, their
    requires_grad and their .grad stay; src_state_dict is left unchanged and shares no memory
    with dst_model afterwards.
    """
    ### BEGIN SOLUTION
    # TODO: copy, in place, the entries of src_state_dict whose keys start with one of the prefixes
    #   into dst_model (the same Parameter objects keep the new values); a key missing from
    #   dst_model or of another shape is a ValueError naming it. Return the keys copied.
    prefixes = (prefixes,) if isinstance(prefixes, str) else tuple(prefixes)
    destination = dst_model.state_dict()
    keys = [key for key in src_state_dict if key.startswith(prefixes)]
    for key in keys:
        if key not in destination:
            raise ValueError(f"src_state_dict key {key!r} has no counterpart in dst_model")
        if destination[key].shape != src_state_dict[key].shape:
            raise ValueError(
                f"src_state_dict[{key!r}] has shape {tuple(src_state_dict[key].shape)}, "
                f"dst_model expects {tuple(destination[key].shape)}"
            )
    with torch.no_grad():
        for key in keys:
            destination[key].copy_(src_state_dict[key])
    return keys
    ### END SOLUTION


def export_for_inference(model: nn.Module, example_input: torch.Tensor, path: PathLike) -> None:
    """Write ``model``, in eval mode, to a file that loads and runs without the model's Python class.

    The file loads with torch.export.load (or torch.jit.load) and, on inputs of example_input's
    shape and dtype, gives what the model gives in eval mode. The model is left as it was: its
    parameters and buffers, and the train/eval mode of every submodule (a model whose submodules
    are in different modes gets each one's mode back).
    """
    ### BEGIN SOLUTION
    # TODO: write to path a program of the model in eval mode that loads and runs without the
    #   model's Python class; afterwards every submodule is back in its own previous mode.
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        program = torch.export.export(model, (example_input,))
    finally:
        for module, training in modes:
            module.training = training
    torch.export.save(program, path)
    ### END SOLUTION
