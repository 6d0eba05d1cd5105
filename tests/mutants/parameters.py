"""Mutants of solutions/parameters.py: real mistakes the chapter 04 graders must catch."""

import torch
from torch import nn
from torch.nn import functional as F

from torchkata.mutants import mutant


@mutant("count_parameters", "shared parameters counted once per name")
def count_parameters(model, trainable_only=False):
    return sum(
        p.numel() for _, p in model.named_parameters(remove_duplicate=False) if p.requires_grad or not trainable_only
    )


@mutant("count_parameters", "buffers counted (everything in the state_dict)")
def count_parameters(model, trainable_only=False):
    return sum(t.numel() for t in model.state_dict().values())


@mutant("count_parameters", "buffers added to the parameters")
def count_parameters(model, trainable_only=False):
    params = sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
    return params + sum(b.numel() for b in model.buffers())


@mutant("count_parameters", "trainable_only ignored")
def count_parameters(model, trainable_only=False):
    return sum(p.numel() for p in model.parameters())


@mutant("count_parameters", "parameter tensors counted instead of their entries")
def count_parameters(model, trainable_only=False):
    return len([p for p in model.parameters() if p.requires_grad or not trainable_only])


@mutant("count_parameters", "returns a tensor instead of an int")
def count_parameters(model, trainable_only=False):
    if not isinstance(model, nn.Module):
        raise TypeError("model")
    kept = [p for p in model.parameters() if p.requires_grad or not trainable_only]
    return torch.tensor([p.numel() for p in kept]).sum()


@mutant("parameter_table", "rows taken from the state_dict (buffers listed, requires_grad lost)")
def parameter_table(model):
    return [(name, tuple(t.shape), t.numel(), t.requires_grad) for name, t in model.state_dict().items()]


@mutant("parameter_table", "rows sorted by name")
def parameter_table(model):
    return sorted((name, tuple(p.shape), p.numel(), p.requires_grad) for name, p in model.named_parameters())


@mutant("parameter_table", "shape kept as a list")
def parameter_table(model):
    return [(name, list(p.shape), p.numel(), p.requires_grad) for name, p in model.named_parameters()]


@mutant("parameter_table", "numel taken as the first dimension")
def parameter_table(model):
    return [(name, tuple(p.shape), p.shape[0], p.requires_grad) for name, p in model.named_parameters()]


@mutant("parameter_table", "a shared parameter listed under every name")
def parameter_table(model):
    return [
        (name, tuple(p.shape), p.numel(), p.requires_grad)
        for name, p in model.named_parameters(remove_duplicate=False)
    ]


@mutant("TiedMLP", "two separate Linear(dim, dim) layers instead of one shared layer")
class TiedMLP(nn.Module):
    def __init__(self, dim=8):
        super().__init__()
        self.first = nn.Linear(4, dim)
        self.middle1 = nn.Linear(dim, dim)
        self.middle2 = nn.Linear(dim, dim)
        self.last = nn.Linear(dim, 1)

    def forward(self, X):
        return self.last(F.relu(self.middle2(F.relu(self.middle1(F.relu(self.first(X)))))))


@mutant("TiedMLP", "the shared layer's values copied into a second layer (equal at first, trained apart)")
class TiedMLP(nn.Module):
    def __init__(self, dim=8):
        super().__init__()
        self.first = nn.Linear(4, dim)
        self.shared = nn.Linear(dim, dim)
        self.copy = nn.Linear(dim, dim)
        self.copy.load_state_dict(self.shared.state_dict())
        self.last = nn.Linear(dim, 1)

    def forward(self, X):
        return self.last(F.relu(self.copy(F.relu(self.shared(F.relu(self.first(X)))))))


@mutant("TiedMLP", "second use through detached weights (its gradient is lost)")
class TiedMLP(nn.Module):
    def __init__(self, dim=8):
        super().__init__()
        self.first = nn.Linear(4, dim)
        self.shared = nn.Linear(dim, dim)
        self.last = nn.Linear(dim, 1)

    def forward(self, X):
        X = F.relu(self.shared(F.relu(self.first(X))))
        X = F.relu(F.linear(X, self.shared.weight.detach(), self.shared.bias.detach()))
        return self.last(X)


@mutant("TiedMLP", "the ReLU between the two shared uses is missing")
class TiedMLP(nn.Module):
    def __init__(self, dim=8):
        super().__init__()
        self.first = nn.Linear(4, dim)
        self.shared = nn.Linear(dim, dim)
        self.last = nn.Linear(dim, 1)

    def forward(self, X):
        return self.last(F.relu(self.shared(self.shared(F.relu(self.first(X))))))


@mutant("TiedMLP", "the shared layer used only once")
class TiedMLP(nn.Module):
    def __init__(self, dim=8):
        super().__init__()
        self.first = nn.Linear(4, dim)
        self.shared = nn.Linear(dim, dim)
        self.last = nn.Linear(dim, 1)

    def forward(self, X):
        return self.last(F.relu(self.shared(F.relu(self.first(X)))))


@mutant("freeze_", "requires_grad cleared on p.detach(), a new tensor")
def freeze_(model, prefixes):
    frozen = 0
    for name, p in model.named_parameters():
        if name.startswith(tuple(prefixes)):
            p.detach().requires_grad_(False)
            frozen += 1
    return frozen


@mutant("freeze_", "requires_grad set on the module attribute")
def freeze_(model, prefixes):
    frozen = 0
    for name, module in model.named_modules():
        if name and name.startswith(tuple(prefixes)):
            module.requires_grad = False
            frozen += len(list(module.parameters(recurse=False)))
    return frozen


@mutant("freeze_", "each matching Parameter replaced by a new frozen one")
def freeze_(model, prefixes):
    frozen = 0
    for module_name, module in model.named_modules():
        for name, p in list(module.named_parameters(recurse=False)):
            full = f"{module_name}.{name}" if module_name else name
            if full.startswith(tuple(prefixes)):
                setattr(module, name, nn.Parameter(p.detach().clone(), requires_grad=False))
                frozen += 1
    return frozen


@mutant("freeze_", "prefix matched anywhere in the name")
def freeze_(model, prefixes):
    frozen = 0
    for name, p in model.named_parameters():
        if any(prefix in name for prefix in prefixes):
            p.requires_grad_(False)
            frozen += 1
    return frozen


@mutant("freeze_", "only the first prefix used")
def freeze_(model, prefixes):
    prefixes = list(prefixes)
    frozen = 0
    for name, p in model.named_parameters():
        if prefixes and name.startswith(prefixes[0]):
            p.requires_grad_(False)
            frozen += 1
    return frozen


@mutant("freeze_", "counts frozen entries instead of tensors")
def freeze_(model, prefixes):
    frozen = 0
    for name, p in model.named_parameters():
        if name.startswith(tuple(prefixes)):
            p.requires_grad_(False)
            frozen += p.numel()
    return frozen


@mutant("grad_norms", "norms of the parameters instead of their grads")
def grad_norms(model):
    return {
        name: None if p.grad is None else torch.linalg.vector_norm(p.detach()).item()
        for name, p in model.named_parameters()
    }


@mutant("grad_norms", "0.0 instead of None for parameters without a grad")
def grad_norms(model):
    return {
        name: 0.0 if p.grad is None else torch.linalg.vector_norm(p.grad).item()
        for name, p in model.named_parameters()
    }


@mutant("grad_norms", "squared norm (no square root)")
def grad_norms(model):
    return {name: None if p.grad is None else p.grad.pow(2).sum().item() for name, p in model.named_parameters()}


@mutant("grad_norms", "parameters without a grad left out")
def grad_norms(model):
    return {name: p.grad.norm().item() for name, p in model.named_parameters() if p.grad is not None}


@mutant("grad_norms", "0-dimensional tensors returned instead of floats")
def grad_norms(model):
    return {name: None if p.grad is None else p.grad.norm() for name, p in model.named_parameters()}


@mutant("grad_norms", "the grads zeroed while reading them")
def grad_norms(model):
    norms = {}
    for name, p in model.named_parameters():
        norms[name] = None if p.grad is None else p.grad.norm().item()
        if p.grad is not None:
            p.grad.zero_()
    return norms
