"""Chapter 04 solved in other styles: a walk over _parameters, namedtuple rows, nn.Sequential reuse, loops."""

import math
from collections import OrderedDict, namedtuple

from torch import nn

Row = namedtuple("Row", "name shape numel requires_grad")


def count_parameters(model, trainable_only=False):
    if not isinstance(model, nn.Module):
        raise TypeError(f"count_parameters expects an nn.Module, got {type(model).__name__}")
    unique = {}
    for module in model.modules():
        for param in module._parameters.values():
            if param is not None:
                unique[id(param)] = param
    return sum(p.numel() for p in unique.values() if p.requires_grad or not trainable_only)


def parameter_table(model):
    def rows():
        for name, param in model.named_parameters():
            yield Row(name, param.size(), param.numel(), param.requires_grad)

    return list(rows())


class TiedMLP(nn.Module):
    def __init__(self, dim=8):
        super().__init__()
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
            raise ValueError(f"dim must be a positive int, got {dim!r}")
        shared = nn.Linear(dim, dim)
        self.net = nn.Sequential(
            nn.Linear(4, dim), nn.ReLU(), shared, nn.ReLU(), shared, nn.ReLU(), nn.Linear(dim, 1)
        )

    def forward(self, X):
        return self.net(X)


def freeze_(model, prefixes):
    prefixes = [prefixes] if isinstance(prefixes, str) else list(prefixes)
    for prefix in prefixes:
        if not isinstance(prefix, str):
            raise TypeError(f"prefixes must be strings, got {prefix!r}")
    frozen = 0
    for name, param in model.named_parameters():
        if any(name.startswith(prefix) for prefix in prefixes):
            param.requires_grad = False
            frozen += 1
    return frozen


def grad_norms(model):
    norms = OrderedDict()
    for name, param in model.named_parameters():
        if param.grad is None:
            norms[name] = None
        else:
            norms[name] = math.sqrt(sum(v * v for v in param.grad.double().flatten().tolist()))
    return norms
