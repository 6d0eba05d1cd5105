"""Chapter 09: devices. Put every tensor where the computation happens, and keep it there."""

from typing import Any

import torch
from torch import nn


def best_device() -> torch.device:
    """CUDA if available, else Apple's MPS if available, else the CPU, as a ``torch.device`` (never a string).

    "Available" is what ``torch.cuda.is_available()`` and ``torch.backends.mps.is_available()`` answer:
    an MPS backend that is built but not available does not count.
    """
    # TODO: return torch.device('cuda') when CUDA is available, else torch.device('mps') when MPS is
    #   available, else torch.device('cpu'): a device object, not a string.
    raise NotImplementedError('best_device: not written yet, see the TODO above this line')


def to_device(obj: Any, device: torch.device | str) -> Any:
    """A copy of ``obj`` with every tensor inside nested dicts, lists, tuples and namedtuples on ``device``.

    ``device`` is a string or a ``torch.device``. Each tensor becomes what ``tensor.to(device)`` returns
    (same dtype and shape, requires_grad and the autograd history kept). Containers keep their types
    (an OrderedDict stays one, with its key order; a namedtuple stays that namedtuple) and are new
    objects: ``obj`` and the containers in it are left untouched. Everything that is not a tensor or one
    of these containers (numbers, strings, None, modules, ...) comes back as is: the same object, unchanged.
    """
    # TODO: return obj with every tensor inside (nested dicts, lists, tuples, namedtuples) moved to
    #   device; each container keeps its own type, and every other value comes back as it is.
    raise NotImplementedError('to_device: not written yet, see the TODO above this line')


def module_devices(model: nn.Module) -> set[torch.device]:
    """The set of ``torch.device`` objects holding the parameters and buffers of ``model``.

    A model split across devices gives several; a module without parameters or buffers gives an empty
    set. The model is left as it is.
    """
    # TODO: return the set of devices the model's parameters and buffers live on.
    raise NotImplementedError('module_devices: not written yet, see the TODO above this line')


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
        # TODO: raise ValueError naming the argument unless num_features is a positive int and
        #   momentum lies in (0, 1]. Keep the running mean, starting at zeros, in a registered
        #   buffer, so .to(), .cuda() and state_dict() see it.
        raise NotImplementedError('RunningMean.__init__: not written yet, see the TODO above this line')

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # TODO: in train mode first update running_mean = (1 - momentum) * running_mean + momentum *
        #   x.mean(0) in place, with no gradient flowing into it; in both modes return x -
        #   running_mean. Every tensor you create lives on x's device.
        raise NotImplementedError('RunningMean.forward: not written yet, see the TODO above this line')


def causal_mask(x: torch.Tensor) -> torch.Tensor:
    """The (T, T) bool mask, True where position i may attend to j (j <= i), on ``x.device``.

    ``x`` has shape (B, T, ...): two dimensions or more, whatever its dtype (T may be 0); fewer raise
    ValueError naming x. The mask is made on ``x.device`` directly (on the ``meta`` device too): no
    tensor is built on another device and copied over. ``x`` is left as it is.
    """
    # TODO: raise ValueError naming x unless it has at least 2 dims; return the (T, T) bool mask, T
    #   = x.shape[1], True where position i may attend to j <= i, made directly on x's device.
    raise NotImplementedError('causal_mask: not written yet, see the TODO above this line')


def optimizer_to_(optimizer: torch.optim.Optimizer, device: torch.device | str) -> None:
    """Move every tensor of the optimizer's state (Adam's moments and steps, momentum buffers) to ``device``.

    In place, for any torch optimizer and every param group: each tensor value of each parameter's
    state dict is replaced by the moved tensor (step counts included), still under the same parameter;
    non-tensor values stay as they are. The parameters themselves and the param_groups' settings are
    not touched (move the model yourself). ``device`` is a string or a ``torch.device``; returns None.
    """
    # TODO: move every tensor in the optimizer's state to device, in place (the optimizer keeps the
    #   moved tensors); other values stay as they are.
    raise NotImplementedError('optimizer_to_: not written yet, see the TODO above this line')
