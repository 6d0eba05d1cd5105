"""Chapter 07 solved in other styles."""

import torch
from torch import nn
from torch.nn import functional as F


class CenteredLayer(nn.Module):
    def forward(self, X):
        return X - X.sum() / X.numel()


class MyLinear(nn.Module):
    def __init__(self, in_units, units):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(in_units, units).normal_())
        self.register_parameter("bias", nn.Parameter(torch.zeros(units)))

    def forward(self, X):
        return F.linear(X, self.weight.T, self.bias).clamp(min=0)


class Swish(nn.Module):
    def __init__(self, beta=1.0, learnable=False):
        super().__init__()
        if learnable:
            self.beta = nn.Parameter(torch.full((1,), float(beta)))
        else:
            self.register_buffer("beta", torch.tensor(float(beta)))

    def forward(self, X):
        return X * (self.beta * X).sigmoid()


class MyDropout(nn.Module):
    def __init__(self, p):
        super().__init__()
        if p < 0 or p >= 1:
            raise ValueError("p")
        self.p = p

    def forward(self, X):
        if self.training:
            mask = torch.bernoulli(torch.full_like(X, 1 - self.p))
            return mask * X * (1.0 / (1 - self.p))
        return X.clone()


class SelfAttention(nn.Module):
    def __init__(self, d_model):
        super().__init__()
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=False)

    def forward(self, x, mask=None):
        k, v, q = self.qkv(x).split(x.shape[-1], dim=-1)
        att = torch.einsum("btd,bsd->bts", q, k) * x.shape[-1] ** -0.5
        if mask is not None:
            if not torch.is_tensor(mask) or mask.dtype is not torch.bool:
                raise TypeError("mask must be a bool tensor")
            if mask.dim() not in (2, 3) or mask.shape[-2:] != att.shape[-2:]:
                raise ValueError(f"mask must be (T, T) or (B, T, T), got {tuple(mask.shape)}")
            att = torch.where(mask, att, torch.tensor(float("-inf")))
        return F.softmax(att, dim=2) @ v


class TensorReduction(nn.Module):
    def __init__(self, in_features, out_features):
        super().__init__()
        self.W = nn.Parameter(torch.rand(in_features, in_features, out_features) - 0.5)

    def forward(self, X):
        outer = X.unsqueeze(2) * X.unsqueeze(1)
        return outer.flatten(1) @ self.W.reshape(-1, self.W.shape[-1])


class FourierHalf(nn.Module):
    def forward(self, X):
        n = X.shape[-1]
        return torch.fft.fft(X, dim=-1).narrow(-1, 0, n // 2)


class MyLayerNorm(nn.Module):
    def __init__(self, features, eps=1e-5):
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(features))
        self.beta = nn.Parameter(torch.zeros(features))
        self.eps = eps

    def forward(self, X):
        centered = X - X.mean(-1, keepdim=True)
        var = (centered ** 2).mean(-1, keepdim=True)
        return self.beta + self.gamma * centered * torch.rsqrt(var + self.eps)
