"""Mutants of solutions/tensors.py: real mistakes the chapter 01 graders must catch.

Each definition is appended to the reference module, so it sees only that module's imports
(math, numpy as np, torch).
"""

import numpy as np
import torch

from torchkata.mutants import mutant


@mutant("from_numpy_shared", "torch.tensor(a) copies where sharing is asked")
def from_numpy_shared(a):
    return torch.tensor(a)


@mutant("from_numpy_shared", ".float() after from_numpy copies every non-float32 array")
def from_numpy_shared(a):
    return torch.from_numpy(a).float()


@mutant("from_numpy_shared", "a contiguous copy of the array is wrapped instead of the array itself")
def from_numpy_shared(a):
    return torch.from_numpy(np.ascontiguousarray(a, dtype=a.dtype).copy())


@mutant("from_numpy_copy", "torch.from_numpy(a) shares the array's memory")
def from_numpy_copy(a):
    return torch.from_numpy(a)


@mutant("from_numpy_copy", "the copy is forced to float32")
def from_numpy_copy(a):
    return torch.tensor(a, dtype=torch.float32)


@mutant("flatten_batch", "x.view fails on non-contiguous input")
def flatten_batch(x):
    return x.view(x.shape[0], -1)


@mutant("flatten_batch", "a copy instead of a view")
def flatten_batch(x):
    return x.reshape(x.shape[0], -1).clone()


@mutant("flatten_batch", "the batch dimension flattened too")
def flatten_batch(x):
    return x.flatten()


@mutant("flatten_batch", "the dimensions permuted before flattening")
def flatten_batch(x):
    return x.transpose(-1, -2).reshape(x.shape[0], -1) if x.dim() > 2 else x.reshape(x.shape[0], -1)


@mutant("pairwise_sq_dists", "the cross term of the distance is not doubled")
def pairwise_sq_dists(x, y):
    return ((x * x).sum(1, keepdim=True) + (y * y).sum(1) - x @ y.T).clamp_min(0)


@mutant("pairwise_sq_dists", "distances instead of squared distances")
def pairwise_sq_dists(x, y):
    return ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1).sqrt()


@mutant("pairwise_sq_dists", "a Python loop over the rows of x")
def pairwise_sq_dists(x, y):
    return torch.stack([((row - y) ** 2).sum(-1) for row in x])


@mutant("pairwise_sq_dists", "computed in NumPy and wrapped again, cutting the graph")
def pairwise_sq_dists(x, y):
    a, b = x.detach().numpy(), y.detach().numpy()
    return torch.from_numpy(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))


@mutant("batch_matvec", "contracts over the wrong axis of A (A^T v)")
def batch_matvec(A, v):
    return torch.einsum("bnm,bn->bm", A, v)


@mutant("batch_matvec", "the first matrix used for every batch element")
def batch_matvec(A, v):
    return v @ A[0].T


@mutant("one_hot", "returns int64 (torch.nn.functional.one_hot without .float())")
def one_hot(labels, num_classes):
    if (labels < 0).any() or (labels >= num_classes).any():
        raise ValueError("labels out of range")
    return torch.nn.functional.one_hot(labels, num_classes)


@mutant("one_hot", "no range check: out-of-range labels raise RuntimeError instead of ValueError")
def one_hot(labels, num_classes):
    return torch.nn.functional.one_hot(labels, num_classes).float()


@mutant("one_hot", "num_classes ignored, the width taken from the largest label")
def one_hot(labels, num_classes):
    if (labels < 0).any() or (labels >= num_classes).any():
        raise ValueError("labels out of range")
    return torch.nn.functional.one_hot(labels).float()


@mutant("one_hot", "only labels above the range rejected, negative ones slip through")
def one_hot(labels, num_classes):
    if (labels >= num_classes).any():
        raise ValueError("labels out of range")
    return torch.eye(num_classes)[labels]


@mutant("standardize", "std over the wrong dim (the whole tensor)")
def standardize(x, dim):
    centered = x - x.mean(dim=dim, keepdim=True)
    std = x.std(correction=0)
    return torch.where(std > 0, centered / std, torch.zeros_like(centered))


@mutant("standardize", "the sample std (n - 1) instead of the population std")
def standardize(x, dim):
    centered = x - x.mean(dim=dim, keepdim=True)
    std = x.std(dim=dim, keepdim=True)
    return torch.where(std > 0, centered / std, torch.zeros_like(centered))


@mutant("standardize", "NaN on a constant slice (0 / 0)")
def standardize(x, dim):
    return (x - x.mean(dim=dim, keepdim=True)) / x.std(dim=dim, keepdim=True, correction=0)


@mutant("standardize", "x standardised in place")
def standardize(x, dim):
    std = x.std(dim=dim, keepdim=True, correction=0)
    x.sub_(x.mean(dim=dim, keepdim=True))
    return torch.where(std > 0, x / std, torch.zeros_like(x))
