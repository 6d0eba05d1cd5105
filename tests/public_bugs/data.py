"""Realistic mistakes in chapter 10, data, that the public checks alone must catch."""

import torch
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import DataLoader, Dataset, WeightedRandomSampler

from torchkata.mutants import mutant


@mutant("WindowDataset", "the target starts one step early: it repeats the window's last value")
class WindowDataset(Dataset):
    def __init__(self, series, window, horizon=1):
        self.series, self.window, self.horizon = series, window, horizon

    def __len__(self):
        return len(self.series) - self.window - self.horizon + 1

    def __getitem__(self, index):
        split = index + self.window
        return self.series[index:split], self.series[split - 1 : split - 1 + self.horizon]


@mutant("pad_collate", "pad_value is ignored: pad_sequence pads with its default 0")
def pad_collate(batch, pad_value=0):
    sequences = [sequence for sequence, _ in batch]
    lengths = torch.tensor([len(sequence) for sequence in sequences])
    labels = torch.tensor([label for _, label in batch])
    return pad_sequence(sequences, batch_first=True), lengths, labels


@mutant("balanced_loader", "one weight per class handed to the sampler, which then draws class indices, not samples")
def balanced_loader(dataset, labels, batch_size, generator=None):
    labels = torch.as_tensor(labels)
    weights = 1.0 / torch.bincount(labels).double()
    sampler = WeightedRandomSampler(weights, num_samples=len(dataset), replacement=True, generator=generator)
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler)


@mutant("CharDataset", "the target is the input itself, not shifted by one character")
class CharDataset(Dataset):
    def __init__(self, text, seq_len):
        self.seq_len = seq_len
        self.itos = sorted(set(text))
        self.stoi = {char: index for index, char in enumerate(self.itos)}
        self.ids = torch.tensor([self.stoi[char] for char in text], dtype=torch.int64)

    def __len__(self):
        return len(self.ids) - self.seq_len

    def __getitem__(self, index):
        chunk = self.ids[index : index + self.seq_len]
        return chunk, chunk.clone()
