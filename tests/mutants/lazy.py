"""Mutants of solutions/lazy.py: real mistakes the chapter 06 graders must catch."""

import torch
from torch import nn

from torchkata.mutants import mutant


@mutant("LazyMLP", "the first layer is a fixed nn.Linear(20, hidden)")
class LazyMLP(nn.Module):
    def __init__(self, hidden=256, out_features=10):
        super().__init__()
        self.hidden = nn.Linear(20, hidden)
        self.out = nn.LazyLinear(out_features)

    def forward(self, X):
        return self.out(torch.relu(self.hidden(X)))


@mutant("LazyMLP", "the ReLU between the layers is missing")
class LazyMLP(nn.Module):
    def __init__(self, hidden=256, out_features=10):
        super().__init__()
        self.hidden = nn.LazyLinear(hidden)
        self.out = nn.LazyLinear(out_features)

    def forward(self, X):
        return self.out(self.hidden(X))


@mutant("LazyMLP", "out_features ignored: always 10 outputs")
class LazyMLP(nn.Module):
    def __init__(self, hidden=256, out_features=10):
        super().__init__()
        self.hidden = nn.LazyLinear(hidden)
        self.out = nn.LazyLinear(10)

    def forward(self, X):
        return self.out(torch.relu(self.hidden(X)))


@mutant("materialize", "the model left in eval mode after the dry run")
def materialize(model, *example_inputs):
    model.eval()
    with torch.no_grad():
        model(*example_inputs)
    return model


@mutant("materialize", "the dry run records a graph (no torch.no_grad)")
def materialize(model, *example_inputs):
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        model(*example_inputs)
    finally:
        for module, training in modes:
            module.training = training
    return model


@mutant("materialize", "the dry run under torch.inference_mode: parameters become inference tensors")
def materialize(model, *example_inputs):
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        with torch.inference_mode():
            model(*example_inputs)
    finally:
        for module, training in modes:
            module.training = training
    return model


@mutant("materialize", "the dry run in train mode updates BatchNorm statistics")
def materialize(model, *example_inputs):
    with torch.no_grad():
        model(*example_inputs)
    return model


@mutant("materialize", "the mode is not restored when the dry run raises")
def materialize(model, *example_inputs):
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    with torch.no_grad():
        model(*example_inputs)
    for module, training in modes:
        module.training = training
    return model


@mutant("materialize", "train(previous) on the root only: children keep eval mode")
def materialize(model, *example_inputs):
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(*example_inputs)
    finally:
        model.training = was_training
    return model


@mutant("materialize", "only the first example input passed to the model")
def materialize(model, *example_inputs):
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        with torch.no_grad():
            model(example_inputs[0])
    finally:
        for module, training in modes:
            module.training = training
    return model


@mutant("lazy_parameter_count", "counting parameters before the dry run")
def lazy_parameter_count(model, *example_inputs):
    count = sum(p.numel() for p in model.parameters())
    if example_inputs:
        materialize(model, *example_inputs)
    return count


@mutant("lazy_parameter_count", "uninitialised parameters skipped instead of materialised")
def lazy_parameter_count(model, *example_inputs):
    return sum(p.numel() for p in model.parameters() if not is_lazy(p))


@mutant("lazy_parameter_count", "buffers counted too (state_dict entries)")
def lazy_parameter_count(model, *example_inputs):
    if any(is_lazy(p) for p in model.parameters()):
        materialize(model, *example_inputs)
    return sum(t.numel() for t in model.state_dict().values())


@mutant("lazy_parameter_count", "a shared layer counted once per use")
def lazy_parameter_count(model, *example_inputs):
    if any(is_lazy(p) for p in model.parameters()):
        materialize(model, *example_inputs)
    return sum(p.numel() for _, p in model.named_parameters(remove_duplicate=False))


@mutant("output_shapes", "hooks left registered")
def output_shapes(model, input_shape):
    shapes = []
    for name, module in model.named_modules():
        if next(module.children(), None) is None:
            module.register_forward_hook(lambda m, i, o, name=name: shapes.append((name, tuple(o.shape))))
    with torch.no_grad():
        model(torch.zeros(tuple(input_shape)))
    return shapes


@mutant("output_shapes", "hooks not removed when the forward pass raises")
def output_shapes(model, input_shape):
    shapes = []
    handles = [
        module.register_forward_hook(lambda m, i, o, name=name: shapes.append((name, tuple(o.shape))))
        for name, module in model.named_modules()
        if next(module.children(), None) is None
    ]
    with torch.no_grad():
        model(torch.zeros(tuple(input_shape)))
    for handle in handles:
        handle.remove()
    return shapes


@mutant("output_shapes", "containers listed too, not only leaves")
def output_shapes(model, input_shape):
    shapes = []
    handles = [
        module.register_forward_hook(lambda m, i, o, name=name: shapes.append((name, tuple(o.shape))))
        for name, module in model.named_modules()
    ]
    try:
        with torch.no_grad():
            model(torch.zeros(tuple(input_shape)))
    finally:
        for handle in handles:
            handle.remove()
    return shapes


@mutant("output_shapes", "the input shape recorded instead of the output shape")
def output_shapes(model, input_shape):
    shapes = []
    handles = [
        module.register_forward_hook(lambda m, i, o, name=name: shapes.append((name, tuple(i[0].shape))))
        for name, module in model.named_modules()
        if next(module.children(), None) is None
    ]
    try:
        with torch.no_grad():
            model(torch.zeros(tuple(input_shape)))
    finally:
        for handle in handles:
            handle.remove()
    return shapes


@mutant("output_shapes", "only the direct children (named_children), not the nested leaves")
def output_shapes(model, input_shape):
    shapes = []
    handles = [
        module.register_forward_hook(lambda m, i, o, name=name: shapes.append((name, tuple(o.shape))))
        for name, module in model.named_children()
    ]
    try:
        with torch.no_grad():
            model(torch.zeros(tuple(input_shape)))
    finally:
        for handle in handles:
            handle.remove()
    return shapes


@mutant("LazyCNN", "a fixed Linear(32 * 7 * 7, num_classes) head")
class LazyCNN(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 32, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
        )
        self.head = nn.Linear(32 * 7 * 7, num_classes)

    def forward(self, X):
        return self.head(self.features(X))


@mutant("LazyCNN", "num_classes ignored: always 10 outputs")
class LazyCNN(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.features = nn.Sequential(
            nn.LazyConv2d(16, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
        )
        self.head = nn.LazyLinear(10)

    def forward(self, X):
        return self.head(self.features(X))


@mutant("LazyCNN", "no Flatten before the lazy head")
class LazyCNN(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.features = nn.Sequential(
            nn.LazyConv2d(16, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.head = nn.LazyLinear(num_classes)

    def forward(self, X):
        return self.head(self.features(X))
