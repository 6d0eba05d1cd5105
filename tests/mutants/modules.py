"""Mutants of solutions/modules.py: real mistakes the chapter 03 graders must catch."""

import torch
from torch import nn
from torch.nn import functional as F

from torchkata.mutants import mutant


@mutant("MLP", "the ReLU between the two layers is missing")
class MLP(nn.Module):
    def __init__(self, in_features=20, hidden=256, out_features=10):
        super().__init__()
        self.hidden = nn.Linear(in_features, hidden)
        self.out = nn.Linear(hidden, out_features)

    def forward(self, X):
        return self.out(self.hidden(X))


@mutant("MLP", "softmax applied to the logits")
class MLP(nn.Module):
    def __init__(self, in_features=20, hidden=256, out_features=10):
        super().__init__()
        self.hidden = nn.Linear(in_features, hidden)
        self.out = nn.Linear(hidden, out_features)

    def forward(self, X):
        return F.softmax(self.out(F.relu(self.hidden(X))), dim=-1)


@mutant("MySequential", "modules kept in a plain Python list")
class MySequential(nn.Module):
    def __init__(self, *modules):
        super().__init__()
        self.layers = list(modules)

    def forward(self, X):
        for module in self.layers:
            X = module(X)
        return X


@mutant("MySequential", "modules applied in reverse order")
class MySequential(nn.Module):
    def __init__(self, *modules):
        super().__init__()
        for index, module in enumerate(modules):
            self.add_module(str(index), module)

    def forward(self, X):
        for module in reversed(list(self.children())):
            X = module(X)
        return X


@mutant("FixedHiddenMLP", "the fixed weight made an nn.Parameter")
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


@mutant("FixedHiddenMLP", "a second Linear instead of reusing the first")
class FixedHiddenMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.rand_weight = torch.rand(20, 20)
        self.linear = nn.Linear(20, 20)
        self.linear2 = nn.Linear(20, 20)

    def forward(self, X):
        X = self.linear(X)
        X = F.relu(X @ self.rand_weight + 1)
        X = self.linear2(X)
        while X.abs().sum() > 1:
            X = X / 2
        return X.sum()


@mutant("NestMLP", "a ReLU after the head")
class NestMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU())
        self.linear = nn.Linear(32, 16)

    def forward(self, X):
        return F.relu(self.linear(self.net(X)))


@mutant("Parallel", "outputs concatenated along the batch dimension")
class Parallel(nn.Module):
    def __init__(self, net1, net2):
        super().__init__()
        self.net1 = net1
        self.net2 = net2

    def forward(self, X):
        return torch.cat((self.net1(X), self.net2(X)), dim=0)


@mutant("make_stack", "one instance repeated n times")
def make_stack(factory, n):
    block = factory()
    return nn.Sequential(*([block] * n))


@mutant("ConfigurableMLP", "hidden layers kept in a Python list")
class ConfigurableMLP(nn.Module):
    def __init__(self, input_size, hidden_sizes, output_size, activation="relu", dropout=0.0,
                 batch_norm=False):
        super().__init__()
        if activation not in _ACTIVATIONS:
            raise ValueError(activation)
        self.layers = []
        width = input_size
        for size in hidden_sizes:
            self.layers.append(nn.Linear(width, size))
            if batch_norm:
                self.layers.append(nn.BatchNorm1d(size))
            self.layers.append(_ACTIVATIONS[activation]())
            if dropout > 0:
                self.layers.append(nn.Dropout(dropout))
            width = size
        self.head = nn.Linear(width, output_size)

    def forward(self, X):
        for layer in self.layers:
            X = layer(X)
        return self.head(X)


@mutant("ConfigurableMLP", "the activation argument ignored (always ReLU)")
class ConfigurableMLP(nn.Module):
    def __init__(self, input_size, hidden_sizes, output_size, activation="relu", dropout=0.0,
                 batch_norm=False):
        super().__init__()
        if activation not in _ACTIVATIONS:
            raise ValueError(activation)
        layers = []
        width = input_size
        for size in hidden_sizes:
            layers.append(nn.Linear(width, size))
            if batch_norm:
                layers.append(nn.BatchNorm1d(size))
            layers.append(nn.ReLU())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = size
        layers.append(nn.Linear(width, output_size))
        self.layers = nn.Sequential(*layers)

    def forward(self, X):
        return self.layers(X)


@mutant("ConfigurableMLP", "batch norm placed after the activation")
class ConfigurableMLP(nn.Module):
    def __init__(self, input_size, hidden_sizes, output_size, activation="relu", dropout=0.0,
                 batch_norm=False):
        super().__init__()
        if activation not in _ACTIVATIONS:
            raise ValueError(activation)
        layers = []
        width = input_size
        for size in hidden_sizes:
            layers.append(nn.Linear(width, size))
            layers.append(_ACTIVATIONS[activation]())
            if batch_norm:
                layers.append(nn.BatchNorm1d(size))
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = size
        layers.append(nn.Linear(width, output_size))
        self.layers = nn.Sequential(*layers)

    def forward(self, X):
        return self.layers(X)


@mutant("ResidualBlock", "no skip connection")
class ResidualBlock(nn.Module):
    def __init__(self, num_channels):
        super().__init__()
        self.conv1 = nn.Conv2d(num_channels, num_channels, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(num_channels, num_channels, kernel_size=3, padding=1)

    def forward(self, X):
        return self.conv2(F.relu(self.conv1(X)))


@mutant("ResidualBlock", "the ReLU between the convolutions is missing")
class ResidualBlock(nn.Module):
    def __init__(self, num_channels):
        super().__init__()
        self.conv1 = nn.Conv2d(num_channels, num_channels, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(num_channels, num_channels, kernel_size=3, padding=1)

    def forward(self, X):
        return X + self.conv2(self.conv1(X))
