"""Realistic mistakes in chapter 03, modules, that the public checks alone must catch."""

import torch
from torch import nn
from torch.nn import functional as F

from torchkata.mutants import mutant


@mutant("FixedHiddenMLP", "the constant weight is made an nn.Parameter, so it is trained and counted")
class FixedHiddenMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.rand_weight = nn.Parameter(torch.rand(20, 20))
        self.linear = nn.Linear(20, 20)

    def forward(self, X):
        X = self.linear(X)
        X = F.relu(X @ self.rand_weight + 1)
        X = self.linear(X)
        while X.abs().sum() > 1:
            X = X / 2
        return X.sum()


@mutant("make_stack", "one module built once and repeated n times (all share their parameters)")
def make_stack(factory, n):
    layer = factory()
    return nn.Sequential(*[layer for _ in range(n)])


@mutant("ResidualBlock", "the skip connection is missing: returns conv2(relu(conv1(X)))")
class ResidualBlock(nn.Module):
    def __init__(self, num_channels):
        super().__init__()
        self.conv1 = nn.Conv2d(num_channels, num_channels, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(num_channels, num_channels, kernel_size=3, padding=1)

    def forward(self, X):
        return self.conv2(F.relu(self.conv1(X)))


@mutant("MLP", "the ReLU between the two layers is missing")
class MLP(nn.Module):
    def __init__(self, in_features=20, hidden=256, out_features=10):
        super().__init__()
        self.hidden = nn.Linear(in_features, hidden)
        self.out = nn.Linear(hidden, out_features)

    def forward(self, X):
        return self.out(self.hidden(X))
