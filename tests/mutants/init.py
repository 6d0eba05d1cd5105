"""Mutants of solutions/init.py: real mistakes the chapter 05 graders must catch."""

import torch
from torch import nn

from torchkata.mutants import mutant


@mutant("init_normal_", "bias drawn from the normal too")
def init_normal_(module, std=0.01):
    if std < 0:
        raise ValueError("std")
    for m in module.modules():
        if isinstance(m, nn.Linear):
            for p in m.parameters(recurse=False):
                nn.init.normal_(p, mean=0.0, std=std)
    return module


@mutant("init_normal_", "a new nn.Parameter assigned")
def init_normal_(module, std=0.01):
    if std < 0:
        raise ValueError("std")
    for m in module.modules():
        if isinstance(m, nn.Linear):
            m.weight = nn.Parameter(torch.randn_like(m.weight) * std)
            if m.bias is not None:
                m.bias = nn.Parameter(torch.zeros_like(m.bias))
    return module


@mutant("init_normal_", "std ignored (always 0.01)")
def init_normal_(module, std=0.01):
    if std < 0:
        raise ValueError("std")
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, mean=0.0, std=0.01)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return module


@mutant("init_normal_", "only the module itself, not the Linear layers inside it")
def init_normal_(module, std=0.01):
    if std < 0:
        raise ValueError("std")
    if isinstance(module, nn.Linear):
        nn.init.normal_(module.weight, mean=0.0, std=std)
        nn.init.zeros_(module.bias)
    return module


@mutant("init_normal_", "a uniform of the same std instead of a normal")
def init_normal_(module, std=0.01):
    if std < 0:
        raise ValueError("std")
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.uniform_(m.weight, -std * 3**0.5, std * 3**0.5)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return module


@mutant("init_normal_", "every parameter named weight drawn, LayerNorm and Conv2d too")
def init_normal_(module, std=0.01):
    if std < 0:
        raise ValueError("std")
    for name, p in module.named_parameters():
        if name.endswith("weight"):
            nn.init.normal_(p, mean=0.0, std=std)
        elif name.endswith("bias"):
            nn.init.zeros_(p)
    return module


@mutant("init_normal_", "negative std passed on to torch (RuntimeError, not ValueError)")
def init_normal_(module, std=0.01):
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, mean=0.0, std=std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return module


@mutant("init_normal_", "the module not returned")
def init_normal_(module, std=0.01):
    if std < 0:
        raise ValueError("std")
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, mean=0.0, std=std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


@mutant("init_constant_", "bias set to the value too")
def init_constant_(module, value):
    for m in module.modules():
        if isinstance(m, nn.Linear):
            for p in m.parameters(recurse=False):
                nn.init.constant_(p, value)
    return module


@mutant("init_constant_", "bias left at its default")
def init_constant_(module, value):
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.constant_(m.weight, value)
    return module


@mutant("init_constant_", "a new nn.Parameter assigned")
def init_constant_(module, value):
    for m in module.modules():
        if isinstance(m, nn.Linear):
            m.weight = nn.Parameter(torch.full_like(m.weight, value))
            if m.bias is not None:
                m.bias = nn.Parameter(torch.zeros_like(m.bias))
    return module


@mutant("init_constant_", "every weight set, Embedding and LayerNorm too")
def init_constant_(module, value):
    for name, p in module.named_parameters():
        with torch.no_grad():
            p.fill_(value if name.endswith("weight") else 0.0)
    return module


@mutant("init_by_type_", "kaiming with fan_in")
def init_by_type_(model):
    for m in model.modules():
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
        elif isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
        elif isinstance(m, BATCH_NORMS):
            nn.init.ones_(m.weight)
        else:
            continue
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    return model


@mutant("init_by_type_", "kaiming_uniform instead of kaiming_normal")
def init_by_type_(model):
    for m in model.modules():
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
        elif isinstance(m, nn.Conv2d):
            nn.init.kaiming_uniform_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, BATCH_NORMS):
            nn.init.ones_(m.weight)
        else:
            continue
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    return model


@mutant("init_by_type_", "xavier_normal instead of xavier_uniform")
def init_by_type_(model):
    for m in model.modules():
        if isinstance(m, nn.Linear):
            nn.init.xavier_normal_(m.weight)
        elif isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, BATCH_NORMS):
            nn.init.ones_(m.weight)
        else:
            continue
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    return model


@mutant("init_by_type_", "BatchNorm re-initialised as if Linear (normal weight)")
def init_by_type_(model):
    for m in model.modules():
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
        elif isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, BATCH_NORMS):
            nn.init.normal_(m.weight, 0.0, 0.01)
        else:
            continue
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    return model


@mutant("init_by_type_", "every other module reset to its default")
def init_by_type_(model):
    for m in model.modules():
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
        elif isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, BATCH_NORMS):
            nn.init.ones_(m.weight)
        elif hasattr(m, "reset_parameters"):
            m.reset_parameters()
            continue
        else:
            continue
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    return model


@mutant("init_by_type_", "conv biases left at their defaults")
def init_by_type_(model):
    for m in model.modules():
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias) if m.bias is not None else None
        elif isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, BATCH_NORMS):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    return model


@mutant("init_by_type_", "a missing bias (bias=False) not handled")
def init_by_type_(model):
    for m in model.modules():
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(m.bias)
        elif isinstance(m, BATCH_NORMS):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    return model


@mutant("my_init_", "zeroing the large weights instead of the small ones")
def my_init_(module):
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.uniform_(m.weight, -10.0, 10.0)
            with torch.no_grad():
                m.weight.mul_(m.weight.abs() < 5)
    return module


@mutant("my_init_", "no zeroing at all")
def my_init_(module):
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.uniform_(m.weight, -10.0, 10.0)
    return module


@mutant("my_init_", "mask on the signed weight (every negative weight zeroed)")
def my_init_(module):
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.uniform_(m.weight, -10.0, 10.0)
            with torch.no_grad():
                m.weight.mul_(m.weight >= 5)
    return module


@mutant("my_init_", "a new nn.Parameter assigned")
def my_init_(module):
    for m in module.modules():
        if isinstance(m, nn.Linear):
            w = torch.empty_like(m.weight).uniform_(-10.0, 10.0)
            m.weight = nn.Parameter(w * (w.abs() >= 5))
    return module


@mutant("my_init_", "biases zeroed as well")
def my_init_(module):
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.uniform_(m.weight, -10.0, 10.0)
            nn.init.zeros_(m.bias)
            with torch.no_grad():
                m.weight.mul_(m.weight.abs() >= 5)
    return module


@mutant("seeded_init_", "seeded through the global seed (torch.manual_seed without fork_rng)")
def seeded_init_(module, seed):
    torch.manual_seed(seed)
    for m in module.modules():
        if hasattr(m, "reset_parameters"):
            m.reset_parameters()
    return module


@mutant("seeded_init_", "fork_rng without seeding (draws depend on the global state)")
def seeded_init_(module, seed):
    with torch.random.fork_rng(devices=[]):
        for m in module.modules():
            if hasattr(m, "reset_parameters"):
                m.reset_parameters()
    return module


@mutant("seeded_init_", "the seed restarted for every layer (layers of one shape identical)")
def seeded_init_(module, seed):
    with torch.random.fork_rng(devices=[]):
        for m in module.modules():
            if hasattr(m, "reset_parameters"):
                torch.manual_seed(seed)
                m.reset_parameters()
    return module


@mutant("seeded_init_", "a new nn.Parameter assigned")
def seeded_init_(module, seed):
    generator = torch.Generator().manual_seed(seed)
    for m in module.modules():
        for name, p in list(m.named_parameters(recurse=False)):
            bound = p[0].numel() ** -0.5 if p.dim() > 1 else 0.1
            fresh = torch.empty_like(p).uniform_(-bound, bound, generator=generator)
            setattr(m, name, nn.Parameter(fresh))
    return module


@mutant("seeded_init_", "only Linear layers re-initialised (Conv2d keeps its old weights)")
def seeded_init_(module, seed):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for m in module.modules():
            if isinstance(m, nn.Linear):
                m.reset_parameters()
    return module
