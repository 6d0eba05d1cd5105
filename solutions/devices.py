"""Chapter 09: devices. Put every tensor where the computation happens, and keep it there."""

from typing import Any

import torch
from torch import nn


def best_device() -> torch.device:
    """CUDA if available, else Apple's MPS if available, else the CPU, as a ``torch.device`` (never a string).

    "Available" is what ``torch.cuda.is_available()`` and ``torch.backends.mps.is_available()`` answer:
    an MPS backend that is built but not available does not count.
    """
    ### BEGIN SOLUTION
    # TODO: return torch.device('cuda') when CUDA is available, else torch.device('mps') when MPS is
    #   available, else torch.device('cpu'): a device object, not a string.
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")
    ### END SOLUTION


def to_device(obj: Any, device: torch.device | str) -> Any:
    """A copy of ``obj`` with every tensor inside nested dicts, lists, tuples and namedtuples on ``device``.

    ``device`` is a string or a ``torch.device``. Each tensor becomes what ``tensor.to(device)`` returns
    (same dtype and shape, requires_grad and the autograd history kept). Containers keep their types
    (an OrderedDict stays one, with its key order; a namedtuple stays that namedtuple) and are new
    objects: ``obj`` and the containers in it are left untouched. Everything that is not a tensor or one
    of these containers (numbers, strings, None, modules, ...) comes back as is: the same object, unchanged.
    """
    ### BEGIN SOLUTION
    # TODO: return obj with every tensor inside (nested dicts, lists, tuples, namedtuples) moved to
    #   device; each container keeps its own type, and every other value comes back as it is.
    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if isinstance(obj, dict):
        return type(obj)((key, to_device(value, device)) for key, value in obj.items())
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return type(obj)(*(to_device(value, device) for value in obj))
    if isinstance(obj, list | tuple):
        return type(obj)(to_device(value, device) for value in obj)
    return obj
    ### END SOLUTION


def module_devices(model: nn.Module) -> set[torch.device]:
    """The set of ``torch.device`` objects holding the parameters and buffers of ``model``.

    A model split across devices gives several; a module without parameters or buffers gives an empty
    set. The model is left as it is.
    """
    ### BEGIN SOLUTION
    # TODO: return the set of devices the model's parameters and buffers live on.
    return {tensor.device for tensor in [*model.parameters(), *model.buffers()]}
    ### END SOLUTION


class RunningMean(nn.Module):
    """Centres features with a running mean kept in a registered buffer.

    ``forward(x)`` for x of shape (N, num_features): in train mode it first updates
    ``running_mean = (1 - momentum) * running_mean + momentum * x.mean(0)`` (no gradient flows
    into the buffer); in both modes it returns ``x - running_mean``. The running mean starts at 0, lives
    in a registered buffer (so ``.to()``, ``.double()`` and ``state_dict()`` see it) and never requires
    grad; the gradient reaching x is the output's gradient unchanged. The module has no parameters.
    Every tensor forward creates lives on the input's device (CPU, CUDA or ``meta``), made there
    directly. ``num_features`` must be a positive int and ``momentum`` lie in (0, 1] (1 included),
    else ValueError naming the argument.
    """

    def __init__(self, num_features: int, momentum: float = 0.1) -> None:
        super().__init__()
        ### BEGIN SOLUTION
        # TODO: raise ValueError naming the argument unless num_features is a positive int and
        #   momentum lies in (0, 1]. Keep the running mean, starting at zeros, in a registered
        #   buffer, so .to(), .cuda() and state_dict() see it.
        if isinstance(num_features, bool) or not isinstance(num_features, int) or num_features < 1:
            raise ValueError(f"num_features must be a positive int, got {num_features!r}")
        if not 0 < momentum <= 1:
            raise ValueError(f"momentum must be in (0, 1], got {momentum!r}")
        self.momentum = momentum
        self.register_buffer("running_mean", torch.zeros(num_features))
        ### END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ### BEGIN SOLUTION
        # TODO: in train mode first update running_mean = (1 - momentum) * running_mean + momentum *
        #   x.mean(0) in place, with no gradient flowing into it; in both modes return x -
        #   running_mean. Every tensor you create lives on x's device.
        if self.training:
            with torch.no_grad():
                self.running_mean.mul_(1 - self.momentum).add_(x.mean(0), alpha=self.momentum)
        return x - self.running_mean
        ### END SOLUTION


def causal_mask(x: torch.Tensor) -> torch.Tensor:
    """The (T, T) bool mask, True where position i may attend to j (j <= i), on ``x.device``.

    ``x`` has shape (B, T, ...): two dimensions or more, whatever its dtype (T may be 0); fewer raise
    ValueError naming x. The mask is made on ``x.device`` directly (on the ``meta`` device too): no
    tensor is built on another device and copied over. ``x`` is left as it is.
    """
    ### BEGIN SOLUTION
    # TODO: raise ValueError naming x unless it has at least 2 dims; return the (T, T) bool mask, T
    #   = x.shape[1], True where position i may attend to j <= i, made directly on x's device.
    if x.dim() < 2:
        raise ValueError(f"x must have shape (B, T, ...), got {tuple(x.shape)}")
    steps = x.shape[1]
    return torch.ones(steps, steps, dtype=torch.bool, device=x.device).tril()
    ### END SOLUTION


def optimizer_to_(optimizer: torch.optim.Optimizer, device: torch.device | str) -> None:
    """Move every tensor of the optimizer's state (Adam's moments and steps, momentum buffers) to ``device``.

    In place, for any torch optimizer and every param group: each tensor value of each parameter's
    state dict is replaced by the moved tensor (step counts included), still under the same parameter;
    non-tensor values stay as they are. The parameters themselves and the param_groups' settings are
    not touched (move the model yourself). ``device`` is a string or a ``torch.device``; returns None.
    """
    ### BEGIN SOLUTION
    # TODO: move every tensor in the optimizer's state to device, in place (the optimizer keeps the
    #   moved tensors); other values stay as they are.
    for state in optimizer.state.values():
        for key, value in state.items():
            if isinstance(value, torch.Tensor):
                state[key] = value.to(device)
    ### END SOLUTION
