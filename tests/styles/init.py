"""Chapter 05 solved in other styles: module.apply, tensor methods and explicit fan formulas, manual RNG save."""

import math

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


def _linears(module):
    return [m for m in module.modules() if isinstance(m, nn.Linear)]


def init_normal_(module, std=0.01):
    if std < 0:
        raise ValueError(f"std must be >= 0, got {std}")

    def visit(m):
        if isinstance(m, nn.Linear):
            m.weight.copy_(torch.randn_like(m.weight) * std)
            if m.bias is not None:
                m.bias.zero_()

    with torch.no_grad():
        module.apply(visit)
    return module


def init_constant_(module, value):
    with torch.no_grad():
        for m in _linears(module):
            m.weight.fill_(value)
            if m.bias is not None:
                m.bias.fill_(0.0)
    return module


@torch.no_grad()
def init_by_type_(model):
    for m in model.modules():
        if isinstance(m, nn.Linear):
            fan_out, fan_in = m.weight.shape
            bound = math.sqrt(6.0 / (fan_in + fan_out))
            m.weight.uniform_(-bound, bound)
        elif isinstance(m, nn.Conv2d):
            fan_out = m.weight.shape[0] * m.weight[0, 0].numel()
            m.weight.normal_(0.0, math.sqrt(2.0 / fan_out))
        elif isinstance(m, _BatchNorm):
            if m.weight is not None:
                m.weight.fill_(1.0)
                m.bias.zero_()
            continue
        else:
            continue
        if m.bias is not None:
            m.bias.zero_()
    return model


def my_init_(module):
    with torch.no_grad():
        for m in _linears(module):
            m.weight.uniform_(-10.0, 10.0)
            m.weight[m.weight.abs() < 5] = 0.0
    return module


def seeded_init_(module, seed):
    cpu_state = torch.get_rng_state()
    cuda_states = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
    try:
        torch.manual_seed(seed)
        module.apply(lambda m: m.reset_parameters() if callable(getattr(m, "reset_parameters", None)) else None)
    finally:
        torch.set_rng_state(cpu_state)
        if cuda_states is not None:
            torch.cuda.set_rng_state_all(cuda_states)
    return module
