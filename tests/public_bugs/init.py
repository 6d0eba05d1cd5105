"""Realistic mistakes in chapter 05, init, that the public checks alone must catch."""

import torch
from torch import nn

from torchkata.mutants import mutant


@mutant("init_by_type_", "kaiming_normal_ with its default mode, fan_in, where fan_out is asked")
def init_by_type_(model):
    for m in model.modules():
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d | nn.BatchNorm3d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    return model


@mutant("seeded_init_", "seeds the global RNG with torch.manual_seed, changing the caller's random stream")
def seeded_init_(module, seed):
    torch.manual_seed(seed)
    for m in module.modules():
        if hasattr(m, "reset_parameters"):
            m.reset_parameters()
    return module


@mutant("init_normal_", "assigns new nn.Parameter objects instead of initialising the existing ones in place")
def init_normal_(module, std=0.01):
    for m in module.modules():
        if isinstance(m, nn.Linear):
            m.weight = nn.Parameter(torch.randn_like(m.weight) * std)
            m.bias = nn.Parameter(torch.zeros_like(m.bias))
    return module
