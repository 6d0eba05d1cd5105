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
    ### BEGIN SOLUTION
    # TODO: raise TypeError unless device_type is a str and ValueError naming dtype unless it is
    #   float16 or bfloat16; return the model's output computed under autocast, letting autocast
    #   choose each op's precision (never cast the model or x yourself).
    if not isinstance(device_type, str):
        raise TypeError(f"device_type must be a str such as 'cpu' or 'cuda', got {device_type!r}")
    if dtype not in LOW_PRECISION_DTYPES:
        raise ValueError(f"dtype must be torch.float16 or torch.bfloat16, got {dtype!r}")
    with torch.autocast(device_type=device_type, dtype=dtype):
        return model(x)
    ### END SOLUTION


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
    ### BEGIN SOLUTION
    # TODO: raise ValueError naming max_norm unless it is None or > 0. One step with the scaler:
    #   forward under autocast, backward of the scaled loss, gradients unscaled before any
    #   clipping to max_norm, the step through the scaler (it skips steps with inf/NaN
    #   gradients), the scale updated, the gradients cleared; return the unscaled loss as a
    #   float.
    if max_norm is not None and not max_norm > 0:
        raise ValueError(f"max_norm must be None or a positive number, got {max_norm!r}")
    with torch.autocast(device_type=x.device.type):
        loss = loss_fn(model(x), y)
    scaler.scale(loss).backward()
    if max_norm is not None:
        scaler.unscale_(optimizer)
        nn.utils.clip_grad_norm_(model.parameters(), max_norm)
    scaler.step(optimizer)
    scaler.update()
    optimizer.zero_grad()
    return loss.item()
    ### END SOLUTION


class CheckpointedSequential(nn.Module):
    """Runs blocks in order like nn.Sequential, but recomputes each block's activations in backward.

    Every block must be an nn.Module (TypeError otherwise); the blocks are registered as submodules.
    With no blocks the input comes back unchanged. Outputs, the gradients of x and of every parameter
    (also when x needs none) and the random draws (dropout) are those of running the blocks plainly,
    in train and in eval mode, any batch size (0 too).
    """

    def __init__(self, *blocks: nn.Module) -> None:
        super().__init__()
        ### BEGIN SOLUTION
        # TODO: raise TypeError naming blocks when one is not an nn.Module; keep the blocks
        #   registered as submodules, in order.
        if not all(isinstance(block, nn.Module) for block in blocks):
            raise TypeError("blocks must all be nn.Module instances")
        self.blocks = nn.ModuleList(blocks)
        ### END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ### BEGIN SOLUTION
        # TODO: return the blocks applied in order, each block's inner activations recomputed in
        #   backward instead of kept (non-reentrant checkpointing, so parameters get gradients
        #   even when x needs none).
        for block in self.blocks:
            x = checkpoint(block, x, use_reentrant=False)
        return x
        ### END SOLUTION


def param_bytes(model: nn.Module) -> dict[torch.dtype, int]:
    """Bytes held by the model's parameters and buffers, per dtype (shared tensors counted once).

    Frozen parameters and every buffer (non-persistent ones too) count; a dtype the model does not use
    is not a key, so a model without tensors gives {}. Works on any device, meta included. model must
    be an nn.Module (TypeError otherwise, e.g. for a state_dict).
    """
    ### BEGIN SOLUTION
    # TODO: raise TypeError naming model unless it is an nn.Module; return {dtype: bytes} over the
    #   parameters and buffers, each shared tensor counted once.
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    totals: dict[torch.dtype, int] = {}
    for tensor in [*model.parameters(), *model.buffers()]:
        totals[tensor.dtype] = totals.get(tensor.dtype, 0) + tensor.numel() * tensor.element_size()
    return totals
    ### END SOLUTION
