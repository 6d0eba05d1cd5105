"""Mutants of solutions/data.py: real mistakes the chapter 10 graders must catch."""

import numpy as np
import torch
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import DataLoader, Dataset, WeightedRandomSampler

from torchkata.mutants import mutant


@mutant("PairDataset", "the transform applied to the label as well")
class PairDataset(Dataset):
    def __init__(self, X, y, transform=None):
        if len(X) != len(y):
            raise ValueError("X and y differ in length")
        self.X, self.y, self.transform = X, y, transform

    def __len__(self):
        return len(self.X)

    def __getitem__(self, index):
        x, y = self.X[index], self.y[index]
        if self.transform is not None:
            x, y = self.transform(x), self.transform(y)
        return x, y


@mutant("PairDataset", "the transform applied once to all of X when the dataset is built")
class PairDataset(Dataset):
    def __init__(self, X, y, transform=None):
        if len(X) != len(y):
            raise ValueError("X and y differ in length")
        self.X = transform(X) if transform is not None else X
        self.y = y

    def __len__(self):
        return len(self.X)

    def __getitem__(self, index):
        return self.X[index], self.y[index]


@mutant("PairDataset", "no check that X and y have the same length")
class PairDataset(Dataset):
    def __init__(self, X, y, transform=None):
        self.X, self.y, self.transform = X, y, transform

    def __len__(self):
        return len(self.X)

    def __getitem__(self, index):
        x = self.X[index]
        return (self.transform(x) if self.transform is not None else x), self.y[index]


@mutant("WindowDataset", "window count off by one (N - window - horizon + 2)")
class WindowDataset(Dataset):
    def __init__(self, series, window, horizon=1):
        if window < 1 or horizon < 1 or len(series) < window + horizon:
            raise ValueError("bad window or horizon")
        self.series, self.window, self.horizon = series, window, horizon

    def __len__(self):
        return len(self.series) - self.window - self.horizon + 2

    def __getitem__(self, index):
        if not 0 <= index < len(self):
            raise IndexError(index)
        split = index + self.window
        return self.series[index:split], self.series[split : split + self.horizon]


@mutant("WindowDataset", "the target starts on the last step of the window")
class WindowDataset(Dataset):
    def __init__(self, series, window, horizon=1):
        if window < 1 or horizon < 1 or len(series) < window + horizon:
            raise ValueError("bad window or horizon")
        self.series, self.window, self.horizon = series, window, horizon

    def __len__(self):
        return len(self.series) - self.window - self.horizon + 1

    def __getitem__(self, index):
        if not 0 <= index < len(self):
            raise IndexError(index)
        split = index + self.window
        return self.series[index:split], self.series[split - 1 : split - 1 + self.horizon]


@mutant("WindowDataset", "the horizon ignored: the target is always the next single step")
class WindowDataset(Dataset):
    def __init__(self, series, window, horizon=1):
        if window < 1 or horizon < 1 or len(series) < window + horizon:
            raise ValueError("bad window or horizon")
        self.series, self.window, self.horizon = series, window, horizon

    def __len__(self):
        return len(self.series) - self.window - self.horizon + 1

    def __getitem__(self, index):
        if not 0 <= index < len(self):
            raise IndexError(index)
        split = index + self.window
        return self.series[index:split], self.series[split : split + 1]


@mutant("CharDataset", "vocabulary in order of first appearance instead of sorted")
class CharDataset(Dataset):
    def __init__(self, text, seq_len):
        if seq_len < 1 or seq_len >= len(text):
            raise ValueError("bad seq_len")
        self.seq_len = seq_len
        self.itos = list(dict.fromkeys(text))
        self.stoi = {char: index for index, char in enumerate(self.itos)}
        self.ids = torch.tensor([self.stoi[char] for char in text])

    def __len__(self):
        return len(self.ids) - self.seq_len

    def __getitem__(self, index):
        if not 0 <= index < len(self):
            raise IndexError(index)
        return self.ids[index : index + self.seq_len], self.ids[index + 1 : index + self.seq_len + 1]


@mutant("CharDataset", "one item too many: the last target is one character short")
class CharDataset(Dataset):
    def __init__(self, text, seq_len):
        if seq_len < 1 or seq_len >= len(text):
            raise ValueError("bad seq_len")
        self.seq_len = seq_len
        self.itos = sorted(set(text))
        self.stoi = {char: index for index, char in enumerate(self.itos)}
        self.ids = torch.tensor([self.stoi[char] for char in text])

    def __len__(self):
        return len(self.ids) - self.seq_len + 1

    def __getitem__(self, index):
        if not 0 <= index < len(self):
            raise IndexError(index)
        return self.ids[index : index + self.seq_len], self.ids[index + 1 : index + self.seq_len + 1]


@mutant("CharDataset", "the target is the input itself, not shifted by one")
class CharDataset(Dataset):
    def __init__(self, text, seq_len):
        if seq_len < 1 or seq_len >= len(text):
            raise ValueError("bad seq_len")
        self.seq_len = seq_len
        self.itos = sorted(set(text))
        self.stoi = {char: index for index, char in enumerate(self.itos)}
        self.ids = torch.tensor([self.stoi[char] for char in text])

    def __len__(self):
        return len(self.ids) - self.seq_len

    def __getitem__(self, index):
        if not 0 <= index < len(self):
            raise IndexError(index)
        x = self.ids[index : index + self.seq_len]
        return x, x.clone()


@mutant("pad_collate", "pad_value ignored: always pads with zeros")
def pad_collate(batch, pad_value=0):
    if not batch:
        raise ValueError("empty batch")
    sequences = [sequence for sequence, _ in batch]
    lengths = torch.tensor([len(sequence) for sequence in sequences])
    labels = torch.stack([torch.as_tensor(label) for _, label in batch])
    return pad_sequence(sequences, batch_first=True), lengths, labels


@mutant("pad_collate", "lengths measured after padding (every length is T_max)")
def pad_collate(batch, pad_value=0):
    if not batch:
        raise ValueError("empty batch")
    padded = pad_sequence([sequence for sequence, _ in batch], batch_first=True, padding_value=pad_value)
    lengths = torch.full((len(batch),), padded.shape[1])
    labels = torch.stack([torch.as_tensor(label) for _, label in batch])
    return padded, lengths, labels


@mutant("pad_collate", "time-major output: pad_sequence without batch_first=True")
def pad_collate(batch, pad_value=0):
    if not batch:
        raise ValueError("empty batch")
    sequences = [sequence for sequence, _ in batch]
    lengths = torch.tensor([len(sequence) for sequence in sequences])
    labels = torch.stack([torch.as_tensor(label) for _, label in batch])
    return pad_sequence(sequences, padding_value=pad_value), lengths, labels


@mutant("pad_collate", "batch sorted by length, labels left in the original order")
def pad_collate(batch, pad_value=0):
    if not batch:
        raise ValueError("empty batch")
    sequences = sorted((sequence for sequence, _ in batch), key=len, reverse=True)
    lengths = torch.tensor([len(sequence) for sequence in sequences])
    labels = torch.stack([torch.as_tensor(label) for _, label in batch])
    return pad_sequence(sequences, batch_first=True, padding_value=pad_value), lengths, labels


@mutant("balanced_loader", "sampler weights per class instead of per sample")
def balanced_loader(dataset, labels, batch_size, generator=None):
    labels = torch.as_tensor(labels)
    if len(labels) != len(dataset):
        raise ValueError("labels and dataset differ in length")
    class_weights = 1.0 / torch.bincount(labels).double()
    sampler = WeightedRandomSampler(class_weights, num_samples=len(dataset), replacement=True, generator=generator)
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler)


@mutant("balanced_loader", "samples weighted by their class count instead of its inverse")
def balanced_loader(dataset, labels, batch_size, generator=None):
    labels = torch.as_tensor(labels)
    if len(labels) != len(dataset):
        raise ValueError("labels and dataset differ in length")
    weights = torch.bincount(labels)[labels].double()
    sampler = WeightedRandomSampler(weights, num_samples=len(dataset), replacement=True, generator=generator)
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler)


@mutant("balanced_loader", "the generator is not passed to the sampler")
def balanced_loader(dataset, labels, batch_size, generator=None):
    labels = torch.as_tensor(labels)
    if len(labels) != len(dataset):
        raise ValueError("labels and dataset differ in length")
    weights = 1.0 / torch.bincount(labels)[labels].double()
    sampler = WeightedRandomSampler(weights, num_samples=len(dataset), replacement=True)
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler)


@mutant("balanced_loader", "sampling without replacement, so every epoch is the unbalanced dataset")
def balanced_loader(dataset, labels, batch_size, generator=None):
    labels = torch.as_tensor(labels)
    if len(labels) != len(dataset):
        raise ValueError("labels and dataset differ in length")
    weights = 1.0 / torch.bincount(labels)[labels].double()
    sampler = WeightedRandomSampler(weights, num_samples=len(dataset), replacement=False, generator=generator)
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler)


@mutant("MemmapDataset", "the whole file read with np.fromfile")
class MemmapDataset(Dataset):
    def __init__(self, path, shape, dtype):
        self.array = np.fromfile(path, dtype=dtype).reshape(shape)

    def __len__(self):
        return self.array.shape[0]

    def __getitem__(self, index):
        return torch.from_numpy(self.array[index].copy())


@mutant("MemmapDataset", "the memmap copied into one tensor when the dataset is built")
class MemmapDataset(Dataset):
    def __init__(self, path, shape, dtype):
        expected = int(np.prod(shape)) * np.dtype(dtype).itemsize
        if os.path.getsize(path) != expected:
            raise ValueError(f"shape {shape} does not match the file")
        self.data = torch.from_numpy(np.array(np.memmap(path, dtype=dtype, mode="r", shape=tuple(shape))))

    def __len__(self):
        return len(self.data)

    def __getitem__(self, index):
        return self.data[index]


@mutant("MemmapDataset", "the memmap opened with mode 'w+', which overwrites the file with zeros")
class MemmapDataset(Dataset):
    def __init__(self, path, shape, dtype):
        self.array = np.memmap(path, dtype=dtype, mode="w+", shape=tuple(shape))

    def __len__(self):
        return self.array.shape[0]

    def __getitem__(self, index):
        return torch.from_numpy(np.array(self.array[index]))


@mutant("MemmapDataset", "no check that the file matches shape and dtype")
class MemmapDataset(Dataset):
    def __init__(self, path, shape, dtype):
        self.array = np.memmap(path, dtype=dtype, mode="r", shape=tuple(shape))

    def __len__(self):
        return self.array.shape[0]

    def __getitem__(self, index):
        return torch.from_numpy(np.array(self.array[index]))


@mutant("seeded_loader", "the seed ignored: shuffled by the global RNG")
def seeded_loader(dataset, batch_size, seed, num_workers=0):
    return DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=num_workers)


@mutant("seeded_loader", "torch.manual_seed(seed) on the global RNG instead of a generator")
def seeded_loader(dataset, batch_size, seed, num_workers=0):
    torch.manual_seed(seed)
    return DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=num_workers)


@mutant("seeded_loader", "every worker seeded with the same seed")
def seeded_loader(dataset, batch_size, seed, num_workers=0):
    import random

    def same_seed_everywhere(worker_id):
        np.random.seed(seed)
        random.seed(seed)

    generator = torch.Generator().manual_seed(seed)
    return DataLoader(
        dataset, batch_size=batch_size, shuffle=True, num_workers=num_workers, generator=generator,
        worker_init_fn=same_seed_everywhere,
    )


@mutant("seeded_loader", "num_workers not passed on to the DataLoader")
def seeded_loader(dataset, batch_size, seed, num_workers=0):
    return DataLoader(dataset, batch_size=batch_size, shuffle=True, generator=torch.Generator().manual_seed(seed))


@mutant("seeded_loader", "no shuffling: the seed only seeds the workers")
def seeded_loader(dataset, batch_size, seed, num_workers=0):
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(dataset, batch_size=batch_size, num_workers=num_workers, generator=generator)
