"""Realistic mistakes in chapter 09, devices, that the public checks alone must catch."""

import torch
from torch import nn

from torchkata.mutants import mutant


@mutant("causal_mask", "torch.ones(T, T) without device=x.device: the mask is always on the CPU")
def causal_mask(x):
    steps = x.shape[1]
    return torch.tril(torch.ones(steps, steps, dtype=torch.bool))


@mutant("best_device", "asks only for CUDA: an Apple GPU (MPS) is never chosen")
def best_device():
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@mutant("RunningMean", "the momentum is applied the wrong way round: 0.9 of the new mean, 0.1 of the old")
class RunningMean(nn.Module):
    def __init__(self, num_features, momentum=0.1):
        super().__init__()
        self.momentum = momentum
        self.register_buffer("running_mean", torch.zeros(num_features))

    def forward(self, x):
        if self.training:
            with torch.no_grad():
                self.running_mean.mul_(self.momentum).add_(x.mean(0), alpha=1 - self.momentum)
        return x - self.running_mean


@mutant("to_device", "every sequence comes back as a list: a tuple inside the batch loses its type")
def to_device(obj, device):
    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if isinstance(obj, dict):
        return {key: to_device(value, device) for key, value in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_device(value, device) for value in obj]
    return obj
