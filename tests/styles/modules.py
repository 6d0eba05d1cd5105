"""Chapter 03 solved in other styles: raw parameters, ModuleList, _modules, functional calls."""

import torch
from torch import nn
from torch.nn import functional as F


class MLP(nn.Module):
    def __init__(self, in_features=20, hidden=256, out_features=10):
        super().__init__()
        self.w_in = nn.Parameter(torch.randn(in_features, hidden) * 0.1)
        self.b_in = nn.Parameter(torch.zeros(hidden))
        self.w_out = nn.Parameter(torch.randn(hidden, out_features) * 0.1)
        self.b_out = nn.Parameter(torch.zeros(out_features))

    def forward(self, X):
        return torch.clamp(X @ self.w_in + self.b_in, min=0) @ self.w_out + self.b_out


class MySequential(nn.Module):
    def __init__(self, *args):
        super().__init__()
        for idx, module in enumerate(args):
            self._modules[str(idx)] = module

    def forward(self, X):
        for block in self._modules.values():
            X = block(X)
        return X


class FixedHiddenMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.rand_weight = torch.rand((20, 20), requires_grad=False)
        self.linear = nn.Linear(20, 20)

    def forward(self, X):
        X = self.linear(X)
        X = F.relu(torch.mm(X, self.rand_weight) + 1)
        X = self.linear(X)
        while X.abs().sum() > 1:
            X /= 2
        return X.sum()


class NestMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU())
        self.head = nn.Linear(32, 16)

    def forward(self, X):
        return self.head(self.body(X))


class Parallel(nn.Module):
    def __init__(self, net1, net2):
        super().__init__()
        self.branches = nn.ModuleList([net1, net2])

    def forward(self, X):
        return torch.cat([branch(X) for branch in self.branches], dim=X.dim() - 1)


def make_stack(factory, n):
    if type(n) is not int or n < 1:
        raise ValueError("n must be a positive int")
    stack = nn.Sequential()
    for i in range(n):
        stack.add_module(f"block{i}", factory())
    return stack


class ConfigurableMLP(nn.Module):
    def __init__(self, input_size, hidden_sizes, output_size, activation="relu", dropout=0.0, batch_norm=False):
        super().__init__()
        functions = {"relu": F.relu, "tanh": torch.tanh, "gelu": F.gelu}
        if activation not in functions:
            raise ValueError(f"unknown activation {activation}")
        self.act = functions[activation]
        sizes = [input_size, *hidden_sizes]
        self.linears = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes, sizes[1:], strict=False))
        self.norms = nn.ModuleList(nn.BatchNorm1d(b) if batch_norm else nn.Identity() for b in hidden_sizes)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(sizes[-1], output_size)

    def forward(self, X):
        for linear, norm in zip(self.linears, self.norms, strict=True):
            X = self.drop(self.act(norm(linear(X))))
        return self.out(X)


class ResidualBlock(nn.Module):
    def __init__(self, num_channels):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(num_channels, num_channels, 3, padding=1),
            nn.ReLU(inplace=False),
            nn.Conv2d(num_channels, num_channels, 3, padding=1),
        )

    def forward(self, X):
        return self.body(X) + X
