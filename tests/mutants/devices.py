"""Mutants of solutions/devices.py: real mistakes the chapter 09 graders must catch."""

import torch
from torch import nn

from torchkata.mutants import mutant


@mutant("best_device", "a device name string returned instead of a torch.device")
def best_device():
    if torch.cuda.is_available():
        return "cuda"
    if torch.backends.mps.is_available():
        return "mps"
    return "cpu"


@mutant("best_device", "MPS never considered")
def best_device():
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@mutant("best_device", "MPS preferred over CUDA")
def best_device():
    if torch.backends.mps.is_available():
        return torch.device("mps")
    if torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


@mutant("best_device", "'cuda' hard-coded")
def best_device():
    return torch.device("cuda")


@mutant("to_device", "the result of tensor.to(device) dropped")
def to_device(obj, device):
    if isinstance(obj, torch.Tensor):
        obj.to(device)
        return obj
    if isinstance(obj, dict):
        return type(obj)((key, to_device(value, device)) for key, value in obj.items())
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return type(obj)(*(to_device(value, device) for value in obj))
    if isinstance(obj, list | tuple):
        return type(obj)(to_device(value, device) for value in obj)
    return obj


@mutant("to_device", "namedtuples rebuilt as plain tuples")
def to_device(obj, device):
    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if isinstance(obj, dict):
        return {key: to_device(value, device) for key, value in obj.items()}
    if isinstance(obj, list):
        return [to_device(value, device) for value in obj]
    if isinstance(obj, tuple):
        return tuple(to_device(value, device) for value in obj)
    return obj


@mutant("to_device", "only the top level moved, nested containers left as they were")
def to_device(obj, device):
    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if isinstance(obj, dict):
        return type(obj)((k, v.to(device) if isinstance(v, torch.Tensor) else v) for k, v in obj.items())
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return type(obj)(*(v.to(device) if isinstance(v, torch.Tensor) else v for v in obj))
    if isinstance(obj, list | tuple):
        return type(obj)(v.to(device) if isinstance(v, torch.Tensor) else v for v in obj)
    return obj


@mutant("to_device", "dicts and lists overwritten in place")
def to_device(obj, device):
    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if isinstance(obj, dict):
        for key, value in obj.items():
            obj[key] = to_device(value, device)
        return obj
    if isinstance(obj, list):
        obj[:] = [to_device(value, device) for value in obj]
        return obj
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return type(obj)(*(to_device(value, device) for value in obj))
    if isinstance(obj, tuple):
        return tuple(to_device(value, device) for value in obj)
    return obj


@mutant("module_devices", "buffers left out")
def module_devices(model):
    return {parameter.device for parameter in model.parameters()}


@mutant("module_devices", "a list returned, one entry per tensor")
def module_devices(model):
    return [tensor.device for tensor in [*model.parameters(), *model.buffers()]]


@mutant("RunningMean", "the running mean kept as a plain attribute, not a buffer")
class RunningMean(nn.Module):
    def __init__(self, num_features, momentum=0.1):
        super().__init__()
        if num_features < 1 or not 0 < momentum <= 1:
            raise ValueError("bad arguments")
        self.momentum = momentum
        self.running_mean = torch.zeros(num_features)

    def forward(self, x):
        if self.training:
            with torch.no_grad():
                self.running_mean.mul_(1 - self.momentum).add_(x.mean(0), alpha=self.momentum)
        return x - self.running_mean


@mutant("RunningMean", "the batch mean summed into a CPU torch.zeros")
class RunningMean(nn.Module):
    def __init__(self, num_features, momentum=0.1):
        super().__init__()
        if num_features < 1 or not 0 < momentum <= 1:
            raise ValueError("bad arguments")
        self.momentum = momentum
        self.register_buffer("running_mean", torch.zeros(num_features))

    def forward(self, x):
        if self.training:
            total = torch.zeros(x.shape[1])
            for row in x:
                total = total + row
            with torch.no_grad():
                self.running_mean.mul_(1 - self.momentum).add_(total / len(x), alpha=self.momentum)
        return x - self.running_mean


@mutant("RunningMean", "the running mean also updated in eval mode")
class RunningMean(nn.Module):
    def __init__(self, num_features, momentum=0.1):
        super().__init__()
        if num_features < 1 or not 0 < momentum <= 1:
            raise ValueError("bad arguments")
        self.momentum = momentum
        self.register_buffer("running_mean", torch.zeros(num_features))

    def forward(self, x):
        with torch.no_grad():
            self.running_mean.mul_(1 - self.momentum).add_(x.mean(0), alpha=self.momentum)
        return x - self.running_mean


@mutant("RunningMean", "momentum applied to the old mean instead of the batch mean")
class RunningMean(nn.Module):
    def __init__(self, num_features, momentum=0.1):
        super().__init__()
        if num_features < 1 or not 0 < momentum <= 1:
            raise ValueError("bad arguments")
        self.momentum = momentum
        self.register_buffer("running_mean", torch.zeros(num_features))

    def forward(self, x):
        if self.training:
            with torch.no_grad():
                self.running_mean.mul_(self.momentum).add_(x.mean(0), alpha=1 - self.momentum)
        return x - self.running_mean


@mutant("RunningMean", "the update outside torch.no_grad: the buffer keeps the graph")
class RunningMean(nn.Module):
    def __init__(self, num_features, momentum=0.1):
        super().__init__()
        if num_features < 1 or not 0 < momentum <= 1:
            raise ValueError("bad arguments")
        self.momentum = momentum
        self.register_buffer("running_mean", torch.zeros(num_features))

    def forward(self, x):
        if self.training:
            self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * x.mean(0)
        return x - self.running_mean


@mutant("RunningMean", "one mean over all elements instead of one per feature")
class RunningMean(nn.Module):
    def __init__(self, num_features, momentum=0.1):
        super().__init__()
        if num_features < 1 or not 0 < momentum <= 1:
            raise ValueError("bad arguments")
        self.momentum = momentum
        self.register_buffer("running_mean", torch.zeros(num_features))

    def forward(self, x):
        if self.training:
            with torch.no_grad():
                self.running_mean.mul_(1 - self.momentum).add_(x.mean(), alpha=self.momentum)
        return x - self.running_mean


@mutant("RunningMean", "arguments not checked")
class RunningMean(nn.Module):
    def __init__(self, num_features, momentum=0.1):
        super().__init__()
        self.momentum = momentum
        self.register_buffer("running_mean", torch.zeros(num_features))

    def forward(self, x):
        if self.training:
            with torch.no_grad():
                self.running_mean.mul_(1 - self.momentum).add_(x.mean(0), alpha=self.momentum)
        return x - self.running_mean


@mutant("causal_mask", "torch.ones(T, T) built without device")
def causal_mask(x):
    if x.dim() < 2:
        raise ValueError("x must be (B, T, ...)")
    steps = x.shape[1]
    return torch.ones(steps, steps, dtype=torch.bool).tril()


@mutant("causal_mask", "T read from the last dimension")
def causal_mask(x):
    if x.dim() < 2:
        raise ValueError("x must be (B, T, ...)")
    steps = x.shape[-1]
    return torch.ones(steps, steps, dtype=torch.bool, device=x.device).tril()


@mutant("causal_mask", "the diagonal masked out")
def causal_mask(x):
    if x.dim() < 2:
        raise ValueError("x must be (B, T, ...)")
    steps = x.shape[1]
    return torch.ones(steps, steps, dtype=torch.bool, device=x.device).tril(diagonal=-1)


@mutant("causal_mask", "the future allowed instead of the past (upper triangle)")
def causal_mask(x):
    if x.dim() < 2:
        raise ValueError("x must be (B, T, ...)")
    steps = x.shape[1]
    return torch.ones(steps, steps, dtype=torch.bool, device=x.device).triu()


@mutant("causal_mask", "a float mask instead of a bool one")
def causal_mask(x):
    if x.dim() < 2:
        raise ValueError("x must be (B, T, ...)")
    steps = x.shape[1]
    return torch.ones(steps, steps, device=x.device).tril()


@mutant("optimizer_to_", "the result of value.to(device) dropped")
def optimizer_to_(optimizer, device):
    for state in optimizer.state.values():
        for value in state.values():
            if isinstance(value, torch.Tensor):
                value.to(device)


@mutant("optimizer_to_", "the parameters moved instead of the optimizer state")
def optimizer_to_(optimizer, device):
    for group in optimizer.param_groups:
        for parameter in group["params"]:
            parameter.data = parameter.data.to(device)


@mutant("optimizer_to_", "only Adam's moment buffers moved, other state (steps, momentum) left behind")
def optimizer_to_(optimizer, device):
    for state in optimizer.state.values():
        for key in ("exp_avg", "exp_avg_sq"):
            if key in state:
                state[key] = state[key].to(device)
