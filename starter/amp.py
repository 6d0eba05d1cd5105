"""Chapter 14: amp. Mixed precision, gradient scaling, activation checkpointing, memory accounting."""

from collections.abc import Callable

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

LOW_PRECISION_DTYPES = (torch.float16, torch.bfloat16)


def autocast_forward(
    model: nn.Module,
    x: torch.Tensor,
    device_type: str = "cpu",
    dtype: torch.dtype = torch.bfloat16,
) -> torch.Tensor:
    """model(x) computed under torch.autocast(device_type, dtype); the model itself is left as it is.

    dtype must be torch.float16 or torch.bfloat16 (ValueError otherwise) and device_type a str such as
    "cpu" (TypeError otherwise). The model keeps its parameter dtypes and the mode of every submodule,
    x is unchanged, autocast is off again afterwards, and gradients flow back through the result.
    Any batch size works, 0 too.
    """
    # TODO: raise TypeError unless device_type is a str and ValueError naming dtype unless it is
    #   float16 or bfloat16; return the model's output computed under autocast, letting autocast
    #   choose each op's precision (never cast the model or x yourself).
    raise NotImplementedError('autocast_forward: not written yet, see the TODO above this line')


def amp_train_step(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    max_norm: float | None = None,
) -> float:
    """One mixed-precision training step with gradient scaling; returns the unscaled loss as a float.

    Order: scale the loss, backward, unscale_ (when clipping), clip, scaler.step, scaler.update, zero_grad.
    max_norm is None (no clipping) or > 0 (ValueError for 0 or less); clipping scales all gradients
    together to a global L2 norm of at most max_norm, like nn.utils.clip_grad_norm_. Afterwards every
    .grad is None (zero_grad's default), so the next step starts clean. When a gradient is inf or NaN,
    scaler.step skips the update and scaler.update lowers the scale; the loss is returned all the same.
    """
    # TODO: raise ValueError naming max_norm unless it is None or > 0. One step with the scaler:
    #   forward under autocast, backward of the scaled loss, gradients unscaled before any
    #   clipping to max_norm, the step through the scaler (it skips steps with inf/NaN
    #   gradients), the scale updated, the gradients cleared; return the unscaled loss as a
    #   float.
    raise NotImplementedError('amp_train_step: not written yet, see the TODO above this line')


class CheckpointedSequential(nn.Module):
    """Runs blocks in order like nn.Sequential, but recomputes each block's activations in backward.

    Every block must be an nn.Module (TypeError otherwise); the blocks are registered as submodules.
    With no blocks the input comes back unchanged. Outputs, the gradients of x and of every parameter
    (also when x needs none) and the random draws (dropout) are those of running the blocks plainly,
    in train and in eval mode, any batch size (0 too).
    """

    def __init__(self, *blocks: nn.Module) -> None:
        super().__init__()
        # TODO: raise TypeError naming blocks when one is not an nn.Module; keep the blocks
        #   registered as submodules, in order.
        raise NotImplementedError('CheckpointedSequential.__init__: not written yet, see the TODO above this line')

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # TODO: return the blocks applied in order, each block's inner activations recomputed in
        #   backward instead of kept (non-reentrant checkpointing, so parameters get gradients
        #   even when x needs none).
        raise NotImplementedError('CheckpointedSequential.forward: not written yet, see the TODO above this line')


def param_bytes(model: nn.Module) -> dict[torch.dtype, int]:
    """Bytes held by the model's parameters and buffers, per dtype (shared tensors counted once).

    Frozen parameters and every buffer (non-persistent ones too) count; a dtype the model does not use
    is not a key, so a model without tensors gives {}. Works on any device, meta included. model must
    be an nn.Module (TypeError otherwise, e.g. for a state_dict).
    """
    # TODO: raise TypeError naming model unless it is an nn.Module; return {dtype: bytes} over the
    #   parameters and buffers, each shared tensor counted once.
    raise NotImplementedError('param_bytes: not written yet, see the TODO above this line')
