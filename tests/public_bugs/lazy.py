"""Realistic mistakes in chapter 06, lazy, that the public checks alone must catch."""

import torch
from torch import nn

from torchkata.mutants import mutant


@mutant("materialize", "switches the model to eval mode for the dry run and never switches it back")
def materialize(model, *example_inputs):
    model.eval()
    with torch.no_grad():
        model(*example_inputs)
    return model


@mutant("output_shapes", "the forward hooks are never removed")
def output_shapes(model, input_shape):
    shapes = []
    for name, module in model.named_modules():
        if not list(module.children()):
            module.register_forward_hook(lambda m, i, o, name=name: shapes.append((name, tuple(o.shape))))
    with torch.no_grad():
        model(torch.zeros(input_shape))
    return shapes


@mutant("LazyCNN", "a fixed Linear(32 * 7 * 7, ...) head only fits 28x28 inputs")
class LazyCNN(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.features = nn.Sequential(
            nn.LazyConv2d(16, kernel_size=3, padding=1),
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
