"""Chapter 06 solved in other styles."""

import torch
from torch import nn
from torch.nn.modules.module import register_module_forward_hook


class LazyMLP(nn.Sequential):
    def __init__(self, hidden=256, out_features=10):
        super().__init__(nn.LazyLinear(hidden), nn.ReLU(), nn.Linear(hidden, out_features))


def materialize(model, *example_inputs):
    if not isinstance(model, nn.Module):
        raise TypeError(f"materialize needs an nn.Module, got {type(model).__name__}")
    if not example_inputs:
        raise ValueError("materialize needs at least one example input")
    was = {name: module.training for name, module in model.named_modules()}
    model.train(False)
    try:
        with torch.no_grad():
            model(*example_inputs)
    finally:
        for name, module in model.named_modules():
            module.training = was[name]
    return model


def lazy_parameter_count(model, *example_inputs):
    probe = model
    if any(isinstance(p, nn.parameter.UninitializedParameter) for p in probe.parameters()):
        materialize(probe, *example_inputs)
    seen = {}
    for p in probe.parameters():
        seen[id(p)] = p.numel()
    return int(sum(seen.values()))


def output_shapes(model, input_shape):
    names = {id(m): n for n, m in model.named_modules() if len(list(m.children())) == 0}
    result = []

    def hook(module, inputs, output):
        if id(module) in names:
            result.append((names[id(module)], torch.Size(output.shape)))

    shape = tuple(input_shape)
    if any(type(size) is not int or size < 1 for size in shape):
        raise ValueError(f"output_shapes needs positive sizes, got {input_shape}")
    was = {name: module.training for name, module in model.named_modules()}
    handle = register_module_forward_hook(hook)
    model.train(False)
    try:
        with torch.no_grad():
            model(torch.zeros(*shape))
    finally:
        handle.remove()
        for name, module in model.named_modules():
            module.training = was[name]
    return result


class LazyCNN(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.c1 = nn.Conv2d(1, 8, 5, padding=2)
        self.c2 = nn.Conv2d(8, 16, 3)
        self.fc = nn.LazyLinear(64)
        self.out = nn.Linear(64, num_classes)

    def forward(self, x):
        x = nn.functional.max_pool2d(torch.relu(self.c1(x)), 2)
        x = nn.functional.max_pool2d(torch.relu(self.c2(x)), 2)
        return self.out(torch.relu(self.fc(torch.flatten(x, 1))))
