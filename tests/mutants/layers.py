"""Mutants of solutions/layers.py: real mistakes the chapter 07 graders must catch."""

import math

import torch
from torch import nn

from torchkata.mutants import mutant


@mutant("CenteredLayer", "the mean taken per column (dim=0) instead of over every entry")
class CenteredLayer(nn.Module):
    def forward(self, X):
        return X - X.mean(dim=0)


@mutant("CenteredLayer", "the mean taken with .item(): no gradient through it")
class CenteredLayer(nn.Module):
    def forward(self, X):
        return X - X.mean().item()


@mutant("MyLinear", "the weight kept as a plain tensor")
class MyLinear(nn.Module):
    def __init__(self, in_units, units):
        super().__init__()
        self.weight = torch.randn(in_units, units)
        self.bias = nn.Parameter(torch.randn(units))

    def forward(self, X):
        return torch.relu(X @ self.weight + self.bias)


@mutant("MyLinear", "the ReLU is missing")
class MyLinear(nn.Module):
    def __init__(self, in_units, units):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(in_units, units))
        self.bias = nn.Parameter(torch.randn(units))

    def forward(self, X):
        return X @ self.weight + self.bias


@mutant("MyLinear", "the weight stored as (units, in_units), like nn.Linear")
class MyLinear(nn.Module):
    def __init__(self, in_units, units):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(units, in_units))
        self.bias = nn.Parameter(torch.randn(units))

    def forward(self, X):
        return torch.relu(X @ self.weight.T + self.bias)


@mutant("Swish", "beta always an nn.Parameter")
class Swish(nn.Module):
    def __init__(self, beta=1.0, learnable=False):
        super().__init__()
        self.beta = nn.Parameter(torch.tensor(float(beta)))

    def forward(self, X):
        return X * torch.sigmoid(self.beta * X)


@mutant("Swish", "beta ignored inside the sigmoid")
class Swish(nn.Module):
    def __init__(self, beta=1.0, learnable=False):
        super().__init__()
        self.beta = nn.Parameter(torch.tensor(float(beta))) if learnable else float(beta)

    def forward(self, X):
        return X * torch.sigmoid(X)


@mutant("Swish", "a learnable beta kept as a plain tensor")
class Swish(nn.Module):
    def __init__(self, beta=1.0, learnable=False):
        super().__init__()
        self.beta = torch.tensor(float(beta), requires_grad=learnable)

    def forward(self, X):
        return X * torch.sigmoid(self.beta * X)


@mutant("MyDropout", "no 1/(1-p) scale on the kept entries")
class MyDropout(nn.Module):
    def __init__(self, p):
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(p)
        self.p = p

    def forward(self, X):
        if not self.training:
            return X
        return X * (torch.rand_like(X) >= self.p)


@mutant("MyDropout", "dropout active in eval mode")
class MyDropout(nn.Module):
    def __init__(self, p):
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(p)
        self.p = p

    def forward(self, X):
        return X * (torch.rand_like(X) >= self.p) / (1 - self.p)


@mutant("MyDropout", "p used as the probability of keeping")
class MyDropout(nn.Module):
    def __init__(self, p):
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(p)
        self.p = p

    def forward(self, X):
        if not self.training:
            return X
        return X * (torch.rand_like(X) < self.p) / self.p


@mutant("MyDropout", "p = 1 accepted (division by zero)")
class MyDropout(nn.Module):
    def __init__(self, p):
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(p)
        self.p = p

    def forward(self, X):
        if not self.training:
            return X
        return X * (torch.rand_like(X) >= self.p) / (1 - self.p)


@mutant("MyDropout", "one mask value per row instead of per entry")
class MyDropout(nn.Module):
    def __init__(self, p):
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(p)
        self.p = p

    def forward(self, X):
        if not self.training:
            return X
        return X * (torch.rand(X.shape[0], 1) >= self.p) / (1 - self.p)


@mutant("MyDropout", "the input zeroed in place")
class MyDropout(nn.Module):
    def __init__(self, p):
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(p)
        self.p = p

    def forward(self, X):
        if not self.training:
            return X
        return X.mul_(torch.rand_like(X) >= self.p).div_(1 - self.p)


@mutant("SelfAttention", "scores not scaled by sqrt(D)")
class SelfAttention(nn.Module):
    def __init__(self, d_model):
        super().__init__()
        self.query = nn.Linear(d_model, d_model)
        self.key = nn.Linear(d_model, d_model)
        self.value = nn.Linear(d_model, d_model)

    def forward(self, x, mask=None):
        scores = self.query(x) @ self.key(x).transpose(-2, -1)
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        return torch.softmax(scores, dim=-1) @ self.value(x)


@mutant("SelfAttention", "softmax over the query dim")
class SelfAttention(nn.Module):
    def __init__(self, d_model):
        super().__init__()
        self.query = nn.Linear(d_model, d_model)
        self.key = nn.Linear(d_model, d_model)
        self.value = nn.Linear(d_model, d_model)

    def forward(self, x, mask=None):
        scores = self.query(x) @ self.key(x).transpose(-2, -1) / math.sqrt(x.shape[-1])
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        return torch.softmax(scores, dim=1) @ self.value(x)


@mutant("SelfAttention", "the mask read the wrong way round (True = blocked)")
class SelfAttention(nn.Module):
    def __init__(self, d_model):
        super().__init__()
        self.query = nn.Linear(d_model, d_model)
        self.key = nn.Linear(d_model, d_model)
        self.value = nn.Linear(d_model, d_model)

    def forward(self, x, mask=None):
        scores = self.query(x) @ self.key(x).transpose(-2, -1) / math.sqrt(x.shape[-1])
        if mask is not None:
            scores = scores.masked_fill(mask & ~torch.eye(x.shape[1], dtype=torch.bool), float("-inf"))
        return torch.softmax(scores, dim=-1) @ self.value(x)


@mutant("SelfAttention", "the mask applied after the softmax (weights no longer sum to 1)")
class SelfAttention(nn.Module):
    def __init__(self, d_model):
        super().__init__()
        self.query = nn.Linear(d_model, d_model)
        self.key = nn.Linear(d_model, d_model)
        self.value = nn.Linear(d_model, d_model)

    def forward(self, x, mask=None):
        weights = torch.softmax(self.query(x) @ self.key(x).transpose(-2, -1) / math.sqrt(x.shape[-1]), dim=-1)
        if mask is not None:
            weights = weights * mask
        return weights @ self.value(x)


@mutant("SelfAttention", "a (B, T, T) mask reduced to the first sequence's pattern")
class SelfAttention(nn.Module):
    def __init__(self, d_model):
        super().__init__()
        self.query = nn.Linear(d_model, d_model)
        self.key = nn.Linear(d_model, d_model)
        self.value = nn.Linear(d_model, d_model)

    def forward(self, x, mask=None):
        scores = self.query(x) @ self.key(x).transpose(-2, -1) / math.sqrt(x.shape[-1])
        if mask is not None:
            scores = scores.masked_fill(~mask.reshape(-1, *mask.shape[-2:])[0], float("-inf"))
        return torch.softmax(scores, dim=-1) @ self.value(x)


@mutant("TensorReduction", "W indices swapped: the output index contracted with x")
class TensorReduction(nn.Module):
    def __init__(self, in_features, out_features):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(in_features, in_features, out_features) / in_features)

    def forward(self, X):
        return torch.einsum("bi,bj,kij->bk", X, X, self.weight)


@mutant("TensorReduction", "x used once: a plain linear map summed over j")
class TensorReduction(nn.Module):
    def __init__(self, in_features, out_features):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(in_features, in_features, out_features) / in_features)

    def forward(self, X):
        return torch.einsum("bi,ijk->bk", X, self.weight)


@mutant("TensorReduction", "the weight stored as (out, in, in)")
class TensorReduction(nn.Module):
    def __init__(self, in_features, out_features):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features, in_features) / in_features)

    def forward(self, X):
        return torch.einsum("bi,bj,kij->bk", X, X, self.weight)


@mutant("FourierHalf", "torch.fft.rfft: n // 2 + 1 coefficients")
class FourierHalf(nn.Module):
    def forward(self, X):
        return torch.fft.rfft(X)


@mutant("FourierHalf", "(n + 1) // 2 coefficients for odd n")
class FourierHalf(nn.Module):
    def forward(self, X):
        return torch.fft.fft(X)[..., : (X.shape[-1] + 1) // 2]


@mutant("FourierHalf", "the FFT taken along the first dim")
class FourierHalf(nn.Module):
    def forward(self, X):
        return torch.fft.fft(X, dim=0)[..., : X.shape[-1] // 2]


@mutant("FourierHalf", "NumPy's FFT: the result is cut off from autograd")
class FourierHalf(nn.Module):
    def forward(self, X):
        import numpy as np

        return torch.from_numpy(np.fft.fft(X.detach().numpy())[..., : X.shape[-1] // 2].astype(np.complex64))


@mutant("FourierHalf", "only the magnitudes returned")
class FourierHalf(nn.Module):
    def forward(self, X):
        return torch.fft.fft(X)[..., : X.shape[-1] // 2].abs()


@mutant("MyLayerNorm", "the unbiased variance")
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


@mutant("MyLayerNorm", "eps added to the standard deviation instead of the variance")
class MyLayerNorm(nn.Module):
    def __init__(self, features, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(features))
        self.bias = nn.Parameter(torch.zeros(features))

    def forward(self, X):
        mean = X.mean(dim=-1, keepdim=True)
        std = X.std(dim=-1, unbiased=False, keepdim=True)
        return (X - mean) / (std + self.eps) * self.weight + self.bias


@mutant("MyLayerNorm", "the weight and bias kept as plain tensors")
class MyLayerNorm(nn.Module):
    def __init__(self, features, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = torch.ones(features)
        self.bias = torch.zeros(features)

    def forward(self, X):
        mean = X.mean(dim=-1, keepdim=True)
        var = X.var(dim=-1, unbiased=False, keepdim=True)
        return (X - mean) / torch.sqrt(var + self.eps) * self.weight + self.bias


@mutant("MyLayerNorm", "normalised over the batch dim (batch norm)")
class MyLayerNorm(nn.Module):
    def __init__(self, features, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(features))
        self.bias = nn.Parameter(torch.zeros(features))

    def forward(self, X):
        mean = X.mean(dim=0, keepdim=True)
        var = X.var(dim=0, unbiased=False, keepdim=True)
        return (X - mean) / torch.sqrt(var + self.eps) * self.weight + self.bias
