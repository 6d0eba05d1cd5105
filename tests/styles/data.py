"""Chapter 10 solved in other styles: TensorDataset subclass, narrow(), list itos, manual padding, row memmaps."""

import math
import os
import random

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, RandomSampler, TensorDataset, WeightedRandomSampler


class PairDataset(TensorDataset):
    def __init__(self, X, y, transform=None):
        if X.shape[0] != y.shape[0]:
            raise ValueError(f"X and y must hold as many samples: X has {X.shape[0]}, y has {y.shape[0]}")
        super().__init__(X, y)
        self.transform = transform

    def __getitem__(self, index):
        x, y = super().__getitem__(index)
        return (x if self.transform is None else self.transform(x)), y


class WindowDataset(Dataset):
    def __init__(self, series, window, horizon=1):
        for name, value in (("window", window), ("horizon", horizon)):
            if value < 1:
                raise ValueError(f"{name} must be at least 1, got {value}")
        if series.shape[0] < window + horizon:
            raise ValueError(f"series of length {series.shape[0]} is shorter than window + horizon")
        self.series, self.window, self.horizon = series, window, horizon

    def __len__(self):
        return self.series.shape[0] - (self.window + self.horizon) + 1

    def __getitem__(self, index):
        start = range(len(self))[index]  # IndexError past the end, negatives count from the end
        chunk = self.series.narrow(0, start, self.window + self.horizon)
        return chunk[: self.window], chunk[self.window :]


class CharDataset(Dataset):
    def __init__(self, text, seq_len):
        if not 1 <= seq_len < len(text):
            raise ValueError(f"seq_len must be in [1, len(text)), got {seq_len}")
        self.itos = sorted(set(text))
        self.stoi = {ch: i for i, ch in enumerate(self.itos)}
        codes = np.searchsorted(np.array(self.itos), np.array(list(text)))
        self.ids = torch.from_numpy(codes.astype(np.int64))
        self.seq_len = seq_len

    def __len__(self):
        return self.ids.numel() - self.seq_len

    def __getitem__(self, index):
        start = range(len(self))[index]
        chunk = self.ids[start : start + self.seq_len + 1]
        return chunk[:-1], chunk[1:]


def pad_collate(batch, pad_value=0):
    if len(batch) == 0:
        raise ValueError("pad_collate got an empty batch")
    sequences, labels = zip(*batch, strict=True)
    longest = max(s.shape[0] for s in sequences)
    padded = sequences[0].new_full((len(sequences), longest, *sequences[0].shape[1:]), pad_value)
    for row, sequence in enumerate(sequences):
        padded[row, : sequence.shape[0]] = sequence
    lengths = torch.tensor([s.shape[0] for s in sequences], dtype=torch.int64)
    return padded, lengths, torch.stack(list(map(torch.as_tensor, labels)))


def balanced_loader(dataset, labels, batch_size, generator=None):
    if len(labels) != len(dataset):
        raise ValueError(f"labels has {len(labels)} entries but the dataset {len(dataset)} samples")
    _, inverse, counts = torch.unique(labels, return_inverse=True, return_counts=True)
    weights = len(labels) / counts[inverse].double()
    sampler = WeightedRandomSampler(weights.tolist(), len(dataset), replacement=True, generator=generator)
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler)


class MemmapDataset(Dataset):
    def __init__(self, path, shape, dtype):
        self.path, self.shape, self.dtype = os.fspath(path), tuple(shape), np.dtype(dtype)
        self.row_shape = self.shape[1:]
        self.row_bytes = math.prod(self.row_shape) * self.dtype.itemsize
        size = os.stat(self.path).st_size
        if size != self.shape[0] * self.row_bytes:
            raise ValueError(f"{self.path} holds {size} bytes; shape {self.shape} of {self.dtype} needs more or fewer")

    def __len__(self):
        return self.shape[0]

    def __getitem__(self, index):
        row = range(len(self))[index]
        view = np.memmap(
            self.path, dtype=self.dtype, mode="r", offset=row * self.row_bytes, shape=self.row_shape or (1,)
        )
        return torch.tensor(np.asarray(view)).reshape(self.row_shape)


def _seed_worker_numpy_and_random(worker_id):
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


def seeded_loader(dataset, batch_size, seed, num_workers=0):
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=RandomSampler(dataset, generator=generator),
        num_workers=num_workers,
        generator=generator,
        worker_init_fn=_seed_worker_numpy_and_random,
    )
