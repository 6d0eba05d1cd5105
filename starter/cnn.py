"""Chapter 15: cnn. Convolution arithmetic, the classic 28x28 CNN, and convolution and pooling from scratch."""

import torch
from torch import nn
from torch.nn import functional as F


def _positive_int(value: object, name: str, minimum: int = 1) -> int:
    """value as an int >= minimum; TypeError or ValueError naming the argument otherwise."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """How many positions a (dilated) kernel takes along one dimension of a padded input, moving stride at a time.

    This is the output height (or width) of nn.Conv2d and nn.MaxPool2d for that input size.
    """
    # TODO: validate the arguments (ints; size, kernel, stride, dilation >= 1; padding >= 0; else
    #   TypeError/ValueError naming the argument). The padded input has size + 2 * padding entries, the
    #   dilated kernel covers dilation * (kernel - 1) + 1 of them, and it moves stride at a time: count
    #   the positions with integer division. No position at all (kernel too large) is a ValueError.
    raise NotImplementedError('conv_output_size: not written yet, see the TODO above this line')


class CNN(nn.Module):
    """The classic 28x28 classifier: two conv-ReLU-pool stages, then a two-layer MLP head (421,642 parameters)."""

    def __init__(self) -> None:
        super().__init__()
        # TODO: Conv2d(1, 32, 3, padding=1), ReLU, MaxPool2d(2), Conv2d(32, 64, 3, padding=1), ReLU,
        #   MaxPool2d(2), Flatten, Linear(64 * 7 * 7, 128), ReLU, Linear(128, 10). Padding 1 keeps 28x28
        #   through each convolution; each pool halves it (28 -> 14 -> 7).
        raise NotImplementedError('CNN.__init__: not written yet, see the TODO above this line')

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # TODO: x of shape (N, 1, 28, 28) through the convolutional stages, then the head; return the
        #   (N, 10) logits without a softmax.
        raise NotImplementedError('CNN.forward: not written yet, see the TODO above this line')


def conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: int = 1,
    padding: int = 0,
) -> torch.Tensor:
    """2-d cross-correlation of x (N, C_in, H, W) with weight (C_out, C_in, kH, kW), like F.conv2d.

    Built from scratch: F.conv2d, torch.conv2d and nn.Conv2d are off limits.
    """
    # TODO: check x and weight are 4-d with matching in-channels (ValueError naming the argument).
    #   F.unfold(x, (kH, kW), padding=padding, stride=stride) lays every receptive field out as a
    #   column: (N, C_in * kH * kW, L). Flatten the weight to (C_out, C_in * kH * kW) in the same order
    #   (weight.reshape(C_out, -1), no transpose), multiply, add bias per output channel, and reshape
    #   the L positions to (H_out, W_out).
    raise NotImplementedError('conv2d: not written yet, see the TODO above this line')


def max_pool2d(x: torch.Tensor, kernel_size: int, stride: int | None = None) -> torch.Tensor:
    """Maximum over each kernel_size x kernel_size window of x (N, C, H, W), like F.max_pool2d (no padding).

    stride defaults to kernel_size. Built from scratch: F.max_pool2d and nn.MaxPool2d are off limits.
    """
    # TODO: stride = kernel_size when it is None (not 1!). x.unfold(2, kernel_size, stride) then
    #   .unfold(3, kernel_size, stride) gives a view of shape (N, C, H_out, W_out, k, k) holding every
    #   window; take the max over the last two dims (amax). Windows that would run past the edge are
    #   dropped, as F.max_pool2d does. Validate like conv2d (4-d x, kernel that fits).
    raise NotImplementedError('max_pool2d: not written yet, see the TODO above this line')
