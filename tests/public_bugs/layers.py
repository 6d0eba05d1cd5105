"""Realistic mistakes in chapter 07, layers, that the public checks alone must catch."""

import math

import torch
from torch import nn

from torchkata.mutants import mutant


@mutant("SelfAttention", "softmax over dim=1, the queries, instead of the keys (dim=-1)")
class SelfAttention(nn.Module):
    def __init__(self, d_model):
        super().__init__()
        self.query = nn.Linear(d_model, d_model)
        self.key = nn.Linear(d_model, d_model)
        self.value = nn.Linear(d_model, d_model)

    def forward(self, x, mask=None):
        q, k, v = self.query(x), self.key(x), self.value(x)
        scores = q @ k.transpose(-2, -1) / math.sqrt(x.shape[-1])
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        return torch.softmax(scores, dim=1) @ v


@mutant("SelfAttention", "the scores are not scaled by sqrt(D)")
class SelfAttention(nn.Module):
    def __init__(self, d_model):
        super().__init__()
        self.query = nn.Linear(d_model, d_model)
        self.key = nn.Linear(d_model, d_model)
        self.value = nn.Linear(d_model, d_model)

    def forward(self, x, mask=None):
        q, k, v = self.query(x), self.key(x), self.value(x)
        scores = q @ k.transpose(-2, -1)
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        return torch.softmax(scores, dim=-1) @ v


@mutant("MyDropout", "train mode drops entries without the 1 / (1 - p) scale")
class MyDropout(nn.Module):
    def __init__(self, p):
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"p must be in [0, 1), got {p}")
        self.p = p

    def forward(self, X):
        if not self.training:
            return X
        return X * (torch.rand_like(X) >= self.p)


@mutant("MyLayerNorm", "the unbiased variance (divides by n - 1) where LayerNorm uses the biased one")
class MyLayerNorm(nn.Module):
    def __init__(self, features, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(features))
        self.bias = nn.Parameter(torch.zeros(features))

    def forward(self, X):
        mean = X.mean(dim=-1, keepdim=True)
        var = X.var(dim=-1, keepdim=True)
        return (X - mean) / torch.sqrt(var + self.eps) * self.weight + self.bias


@mutant("Swish", "beta is kept as a plain float even when learnable=True, so it is never trained")
class Swish(nn.Module):
    def __init__(self, beta=1.0, learnable=False):
        super().__init__()
        self.beta = float(beta)

    def forward(self, X):
        return X * torch.sigmoid(self.beta * X)
