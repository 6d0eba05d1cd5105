"""Realistic mistakes in chapter 01, tensors, that the public checks alone must catch.

Each definition is appended to solutions/tensors.py (see tests/mutants/), so it sees that module's imports.
"""

import torch

from torchkata.mutants import mutant


@mutant("standardize", "the sample std (x.std divides by n - 1), and 0 / 0 = NaN on a constant slice")
def standardize(x, dim):
    return (x - x.mean(dim, keepdim=True)) / x.std(dim, keepdim=True)


@mutant("pairwise_sq_dists", "a Python loop over the rows of x (the README says the graders count torch calls)")
def pairwise_sq_dists(x, y):
    rows = []
    for i in range(x.shape[0]):
        rows.append(((x[i] - y) ** 2).sum(dim=1))
    return torch.stack(rows)


@mutant("flatten_batch", "x.view fails on a non-contiguous x (the README says it must still work)")
def flatten_batch(x):
    return x.view(x.shape[0], -1)


@mutant("one_hot", "rows of torch.eye(num_classes) picked by the labels, no range check (a label of -1 wraps around)")
def one_hot(labels, num_classes):
    return torch.eye(num_classes)[labels]


@mutant("from_numpy_copy", "the copy is forced to float32, so an int64 or float64 array changes dtype")
def from_numpy_copy(a):
    return torch.tensor(a, dtype=torch.float32)
