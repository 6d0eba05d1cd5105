"""Chapter 10: data. Datasets, collate functions, samplers and reproducible loaders."""

import os
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import DataLoader, Dataset, WeightedRandomSampler


def _check_index(index: int, length: int) -> int:
    """A non-negative index into a sequence of ``length`` items; IndexError outside it."""
    if not -length <= index < length:
        raise IndexError(f"index {index} is out of range for a dataset of {length} items")
    return index % length


class PairDataset(Dataset):
    """(X[i], y[i]) pairs; ``transform`` (if given) is applied to X[i] each time an item is read.

    X is an (N, ...) tensor and y an (N, ...) tensor with the same N (their other dimensions may
    differ: X (N, D) next to y (N,) is fine), else ValueError. Item i is the tuple (x, y); the
    transform is called on x only, at every read and never while the dataset is built. Indices
    count from the end when negative, like a sequence's; outside [-N, N) they raise IndexError.
    X and y are left as they are.
    """

    def __init__(
        self,
        X: torch.Tensor,
        y: torch.Tensor,
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        # TODO: keep X, y and transform, and raise ValueError naming X and y when their lengths
        #   differ. Apply nothing yet: a random augmentation must differ at every read.
        raise NotImplementedError('PairDataset.__init__: not written yet, see the TODO above this line')

    def __len__(self) -> int:
        # TODO: return the number of samples.
        raise NotImplementedError('PairDataset.__len__: not written yet, see the TODO above this line')

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        # TODO: return (x, y) for this index, with the transform (when set) applied to x only, at
        #   every read.
        raise NotImplementedError('PairDataset.__getitem__: not written yet, see the TODO above this line')


class WindowDataset(Dataset):
    """Sliding windows over a series of shape (N, ...): input window, then the next ``horizon`` steps.

    Item i is (series[i : i + window], series[i + window : i + window + horizon]); there are
    N - window - horizon + 1 items (a series of exactly window + horizon steps gives one). Items are
    tuples of slices: the target has shape (horizon, ...) even when horizon is 1. Negative indices
    count from the end, like a sequence's; an index outside [-len, len) raises IndexError. window or
    horizon below 1, or a series shorter than window + horizon, raise ValueError.
    """

    def __init__(self, series: torch.Tensor, window: int, horizon: int = 1) -> None:
        # TODO: raise ValueError naming the argument unless window >= 1, horizon >= 1 and the series
        #   holds at least window + horizon steps; keep the three values.
        raise NotImplementedError('WindowDataset.__init__: not written yet, see the TODO above this line')

    def __len__(self) -> int:
        # TODO: return how many start positions leave room for a full window AND a full horizon.
        raise NotImplementedError('WindowDataset.__len__: not written yet, see the TODO above this line')

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        # TODO: return (the window starting at index, the horizon steps right after it); an index
        #   past the end raises IndexError, so no short window slips out.
        raise NotImplementedError('WindowDataset.__getitem__: not written yet, see the TODO above this line')


class CharDataset(Dataset):
    """Character-level language modelling: x is seq_len character ids, y the same text shifted by one.

    ``stoi`` maps each character to its id and ``itos`` maps ids back; the vocabulary is the
    sorted unique characters of ``text`` (``itos[i]`` is the character of id i). Items are tuples
    (x, y) of int64 tensors of shape (seq_len,); there is one per start position with a full target
    (len(text) - seq_len of them). Negative indices count from the end, like a sequence's; an index
    outside [-len, len) raises IndexError. seq_len must lie in [1, len(text) - 1], else ValueError.
    """

    def __init__(self, text: str, seq_len: int) -> None:
        # TODO: build the vocabulary (the sorted unique characters) as itos and its inverse stoi,
        #   and encode the whole text once as int64 ids; seq_len must be at least 1 and shorter
        #   than the text (ValueError naming seq_len).
        raise NotImplementedError('CharDataset.__init__: not written yet, see the TODO above this line')

    def __len__(self) -> int:
        # TODO: return how many start positions have seq_len + 1 characters from there on (the input
        #   plus one target).
        raise NotImplementedError('CharDataset.__len__: not written yet, see the TODO above this line')

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        # TODO: return (x, y): seq_len ids from index on, and the same span shifted by one
        #   character; IndexError past the end.
        raise NotImplementedError('CharDataset.__getitem__: not written yet, see the TODO above this line')


def pad_collate(
    batch: Sequence[tuple[torch.Tensor, int | torch.Tensor]], pad_value: float = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Collate (sequence, label) items of different lengths into one padded batch.

    ``batch`` is a list or tuple of items. Sequences have shape (T_i, ...) (the same trailing
    dimensions, T_i may be 0) and labels are ints or 0-d tensors. Returns the tuple
    (padded (B, T_max, ...) of the sequences' dtype, filled with pad_value past each length,
    lengths (B,) int64, labels (B,) as ``torch.as_tensor`` makes them: int64 for ints), all in the
    order of ``batch``. The sequences are left as they are. An empty batch raises ValueError.
    """
    # TODO: return (the sequences padded with pad_value to the longest, batch first, (B, T_max,
    #   ...); each sequence's own length as int64 (B,); the labels as one (B,) tensor).
    raise NotImplementedError('pad_collate: not written yet, see the TODO above this line')


def balanced_loader(
    dataset: Dataset,
    labels: torch.Tensor,
    batch_size: int,
    generator: torch.Generator | None = None,
) -> DataLoader:
    """A DataLoader that draws every class about equally often, whatever the class counts.

    ``labels`` (N,) holds the class of each sample of ``dataset``: non-negative ids, not necessarily
    0..C-1 (ids that no sample has are fine). One epoch draws len(dataset) samples with replacement,
    each with probability proportional to 1 / (count of its class), in batches of ``batch_size`` (the
    last may be short), and every epoch draws anew. When ``generator`` is given every draw comes from
    it: the same generator seed gives the same draws and the global RNGs are left untouched. A
    labels/dataset length mismatch raises ValueError; ``labels`` is left as it is.
    """
    # TODO: return a DataLoader whose sampler draws len(dataset) samples per epoch, with
    #   replacement, so every class is drawn about equally often however rare (each SAMPLE
    #   weighted by the inverse of its class count), using generator for its draws.
    raise NotImplementedError('balanced_loader: not written yet, see the TODO above this line')


class MemmapDataset(Dataset):
    """Rows of a raw binary array file (as written by ``ndarray.tofile``), read lazily.

    The file holds an array of this ``shape`` (a tuple or list, at least one row) and ``dtype`` (a
    NumPy dtype or its name); item i is row i as a tensor of that dtype and of shape shape[1:] (0-d
    for a 1-D file). Negative indices count from the end; an index outside [-len, len) raises
    IndexError. Only the rows asked for are read, so the file may be far larger than memory; the
    file is only read, never written, and nothing is written beside it. A file whose size does not
    match shape and dtype raises ValueError.
    """

    def __init__(self, path: str | os.PathLike, shape: tuple[int, ...], dtype: np.dtype | str) -> None:
        # TODO: check that the file holds exactly prod(shape) items of dtype (ValueError otherwise)
        #   and map it without reading it: rows are read only when asked for, never the whole
        #   file.
        raise NotImplementedError('MemmapDataset.__init__: not written yet, see the TODO above this line')

    def __len__(self) -> int:
        # TODO: return the number of rows.
        raise NotImplementedError('MemmapDataset.__len__: not written yet, see the TODO above this line')

    def __getitem__(self, index: int) -> torch.Tensor:
        # TODO: return row index as a tensor that owns a copy of just that row.
        raise NotImplementedError('MemmapDataset.__getitem__: not written yet, see the TODO above this line')


def seeded_loader(dataset: Dataset, batch_size: int, seed: int, num_workers: int = 0) -> DataLoader:
    """A shuffling DataLoader whose order depends only on ``seed``, never on the global RNG state.

    Every epoch is a fresh shuffle of all the samples in batches of ``batch_size`` (the last may be
    short). The same seed gives the same sequence of epochs whatever the global RNG states, another
    seed another order; workers' NumPy and random streams are seeded from it too. The global RNGs
    (torch, NumPy, random) are left untouched, also while the loader is iterated.
    """
    # TODO: return a shuffling DataLoader whose order depends only on seed (workers seeded from it
    #   too), without touching the global random state.
    raise NotImplementedError('seeded_loader: not written yet, see the TODO above this line')
