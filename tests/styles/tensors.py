"""Chapter 01 solved in other styles."""

import torch
import torch.nn.functional as F


def from_numpy_shared(a):
    return torch.as_tensor(a)

def from_numpy_copy(a):
    return torch.from_numpy(a).clone()

def flatten_batch(x):
    return torch.flatten(x, start_dim=1) if x.dim() > 1 else x.unsqueeze(1)

def pairwise_sq_dists(x, y):
    return torch.cdist(x, y) ** 2

def batch_matvec(A, v):
    return torch.einsum("bnm,bm->bn", A, v)

def one_hot(labels, num_classes):
    if ((labels < 0) | (labels >= num_classes)).any():
        raise ValueError(f"labels out of range: {labels}")
    return F.one_hot(labels, num_classes).to(torch.float32)

def standardize(x, dim):
    mean = x.mean(dim, keepdim=True)
    std = x.std(dim, keepdim=True, unbiased=False)
    constant = (x == x.select(dim, 0).unsqueeze(dim)).all(dim, keepdim=True)
    return torch.where(constant, 0.0, (x - mean) / std).to(x.dtype)
