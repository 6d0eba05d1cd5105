"""Realistic mistakes in chapter 04, parameters, that the public checks alone must catch."""

from torch import nn
from torch.nn import functional as F

from torchkata.mutants import mutant


@mutant("count_parameters", "counts module by module, so a parameter shared by two modules is counted twice")
def count_parameters(model, trainable_only=False):
    total = 0
    for module in model.modules():
        for p in module.parameters(recurse=False):
            if p.requires_grad or not trainable_only:
                total += p.numel()
    return total


@mutant("TiedMLP", "the shared layer is applied once instead of twice")
class TiedMLP(nn.Module):
    def __init__(self, dim=8):
        super().__init__()
        self.first = nn.Linear(4, dim)
        self.shared = nn.Linear(dim, dim)
        self.last = nn.Linear(dim, 1)

    def forward(self, X):
        X = F.relu(self.first(X))
        X = F.relu(self.shared(X))
        return self.last(X)


@mutant("count_parameters", "trainable_only is ignored: frozen parameters are counted too")
def count_parameters(model, trainable_only=False):
    return sum(p.numel() for p in model.parameters())
