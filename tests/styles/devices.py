"""Chapter 09 solved in other styles: a preference loop, singledispatch, arange comparisons, lerp_ on a named buffer."""

import copy
import functools
import itertools

import torch
from torch import nn


def best_device():
    for kind, available in (("cuda", torch.cuda.is_available), ("mps", torch.backends.mps.is_available)):
        if available():
            return torch.device(kind)
    return torch.device("cpu")


@functools.singledispatch
def to_device(obj, device):
    return obj


@to_device.register
def _(obj: torch.Tensor, device):
    return obj.to(device)


@to_device.register
def _(obj: dict, device):
    moved = copy.copy(obj)  # keeps the dict's type, a defaultdict's factory included
    for key in moved:
        moved[key] = to_device(moved[key], device)
    return moved


@to_device.register
def _(obj: list, device):
    return type(obj)(to_device(item, device) for item in obj)


@to_device.register
def _(obj: tuple, device):
    items = [to_device(item, device) for item in obj]
    return obj._make(items) if hasattr(obj, "_fields") else type(obj)(items)


def module_devices(model):
    return {tensor.device for tensor in itertools.chain(model.parameters(), model.buffers())}


class RunningMean(nn.Module):
    def __init__(self, num_features, momentum=0.1):
        super().__init__()
        if isinstance(num_features, bool) or not isinstance(num_features, int) or num_features < 1:
            raise ValueError(f"num_features must be a positive int, got {num_features!r}")
        if not 0 < momentum <= 1:
            raise ValueError(f"momentum must lie in (0, 1], got {momentum!r}")
        self.momentum = momentum
        self.register_buffer("mean", torch.zeros(num_features))

    def forward(self, x):
        if self.training:
            self.mean.lerp_(x.detach().mean(dim=0), self.momentum)
        return x - self.mean


def causal_mask(x):
    if x.dim() < 2:
        raise ValueError(f"x must have shape (B, T, ...), got {tuple(x.shape)}")
    positions = torch.arange(x.shape[1], device=x.device)
    return positions.unsqueeze(1) >= positions.unsqueeze(0)


def optimizer_to_(optimizer, device):
    for param, state in optimizer.state.items():
        optimizer.state[param] = {
            key: value.to(device) if isinstance(value, torch.Tensor) else value for key, value in state.items()
        }
