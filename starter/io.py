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
    """Write a dict of named tensors to ``path``; it reloads with ``torch.load(path, weights_only=True)``."""
    # TODO: check that tensors is a dict mapping str names to torch.Tensor values (raise
    #   TypeError naming "tensors" and the bad entry otherwise), then torch.save a plain dict
    #   of them to path, so the names come back with the tensors.
    raise NotImplementedError('save_tensors: not written yet, see the TODO above this line')


def load_tensors(path: PathLike) -> dict[str, torch.Tensor]:
    """The dict of named tensors stored at ``path``, loaded with ``weights_only=True``."""
    # TODO: torch.load(path, weights_only=True): the safe unpickler that accepts tensors and
    #   plain containers but refuses to run code hidden in the file.
    raise NotImplementedError('load_tensors: not written yet, see the TODO above this line')


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
    """
    # TODO: check epoch (a non-negative int: TypeError/ValueError naming "epoch"). Build a dict
    #   of plain data: model.state_dict(), optimizer.state_dict(), the scheduler's state_dict()
    #   (or None), epoch and extra. torch.save it into a temporary file in the same directory
    #   (tempfile.mkstemp(dir=...)), then publish it with os.replace(temporary, path); if
    #   anything fails, delete the temporary file and re-raise.
    raise NotImplementedError('save_checkpoint: not written yet, see the TODO above this line')


def load_checkpoint(
    path: PathLike,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    map_location: str | torch.device = "cpu",
) -> dict[str, Any]:
    """Restore model (and optimizer, scheduler) in place from a save_checkpoint file.

    Returns ``{"epoch": epoch, **extra}``.
    """
    # TODO: torch.load(path, map_location=map_location, weights_only=True), then call
    #   load_state_dict on the model (strict, so a missing key raises), the optimizer and the
    #   scheduler when they are given; return {"epoch": ..., **extra}.
    raise NotImplementedError('load_checkpoint: not written yet, see the TODO above this line')


def reuse_layers_(
    src_state_dict: Mapping[str, torch.Tensor], dst_model: nn.Module, prefixes: Iterable[str]
) -> list[str]:
    """Copy into ``dst_model``, in place, the entries of ``src_state_dict`` whose key starts with a prefix.

    Returns the keys copied, in ``src_state_dict`` order.
    """
    # TODO: select the keys of src_state_dict that start with one of the prefixes
    #   (str.startswith accepts a tuple). Check each against dst_model.state_dict() (ValueError
    #   naming the key when it is missing or its shape differs), then copy_ the values into the
    #   destination tensors under torch.no_grad(), so the Parameter objects stay the same.
    raise NotImplementedError('reuse_layers_: not written yet, see the TODO above this line')


def export_for_inference(model: nn.Module, example_input: torch.Tensor, path: PathLike) -> None:
    """Write ``model``, in eval mode, to a file that loads and runs without the model's Python class."""
    # TODO: put the model in eval mode (dropout off, batch norm on its running statistics),
    #   capture it with torch.export.export(model, (example_input,)) and write the program
    #   with torch.export.save(program, path). Give the model its previous mode back.
    raise NotImplementedError('export_for_inference: not written yet, see the TODO above this line')
