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
    ### BEGIN SOLUTION
    # TODO: validate the arguments (ints; size, kernel, stride, dilation >= 1; padding >= 0; else
    #   TypeError/ValueError naming the argument). The padded input has size + 2 * padding entries, the
    #   dilated kernel covers dilation * (kernel - 1) + 1 of them, and it moves stride at a time: count
    #   the positions with integer division. No position at all (kernel too large) is a ValueError.
    size = _positive_int(size, "size")
    kernel = _positive_int(kernel, "kernel")
    stride = _positive_int(stride, "stride")
    padding = _positive_int(padding, "padding", minimum=0)
    dilation = _positive_int(dilation, "dilation")
    span = dilation * (kernel - 1) + 1
    if span > size + 2 * padding:
        raise ValueError(
            f"kernel {kernel} (spanning {span} with dilation {dilation}) does not fit an input of size {size} "
            f"padded by {padding}"
        )
    return (size + 2 * padding - span) // stride + 1
    ### END SOLUTION


class CNN(nn.Module):
    """The classic 28x28 classifier: two conv-ReLU-pool stages, then a two-layer MLP head (421,642 parameters)."""

    def __init__(self) -> None:
        super().__init__()
        ### BEGIN SOLUTION
        # TODO: Conv2d(1, 32, 3, padding=1), ReLU, MaxPool2d(2), Conv2d(32, 64, 3, padding=1), ReLU,
        #   MaxPool2d(2), Flatten, Linear(64 * 7 * 7, 128), ReLU, Linear(128, 10). Padding 1 keeps 28x28
        #   through each convolution; each pool halves it (28 -> 14 -> 7).
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(64 * 7 * 7, 128),
            nn.ReLU(),
            nn.Linear(128, 10),
        )
        ### END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ### BEGIN SOLUTION
        # TODO: x of shape (N, 1, 28, 28) through the convolutional stages, then the head; return the
        #   (N, 10) logits without a softmax.
        return self.classifier(self.features(x))
        ### END SOLUTION


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
    ### BEGIN SOLUTION
    # TODO: check x and weight are 4-d with matching in-channels (ValueError naming the argument).
    #   F.unfold(x, (kH, kW), padding=padding, stride=stride) lays every receptive field out as a
    #   column: (N, C_in * kH * kW, L). Flatten the weight to (C_out, C_in * kH * kW) in the same order
    #   (weight.reshape(C_out, -1), no transpose), multiply, add bias per output channel, and reshape
    #   the L positions to (H_out, W_out).
    if x.dim() != 4:
        raise ValueError(f"x must be 4-d (N, C_in, H, W), got shape {tuple(x.shape)}")
    if weight.dim() != 4 or weight.shape[1] != x.shape[1]:
        raise ValueError(
            f"weight must be 4-d (C_out, {x.shape[1]}, kH, kW) to match x, got shape {tuple(weight.shape)}"
        )
    if bias is not None and tuple(bias.shape) != (weight.shape[0],):
        raise ValueError(f"bias must have shape ({weight.shape[0]},), got {tuple(bias.shape)}")
    n, _, height, width = x.shape
    out_channels, _, kernel_h, kernel_w = weight.shape
    stride = _positive_int(stride, "stride")
    padding = _positive_int(padding, "padding", minimum=0)
    if kernel_h > height + 2 * padding or kernel_w > width + 2 * padding:
        raise ValueError(f"weight's kernel {kernel_h}x{kernel_w} does not fit x padded by {padding}")
    out_h = (height + 2 * padding - kernel_h) // stride + 1
    out_w = (width + 2 * padding - kernel_w) // stride + 1
    columns = F.unfold(x, (kernel_h, kernel_w), padding=padding, stride=stride)
    out = weight.reshape(out_channels, -1) @ columns
    if bias is not None:
        out = out + bias.reshape(1, -1, 1)
    return out.reshape(n, out_channels, out_h, out_w)
    ### END SOLUTION


def max_pool2d(x: torch.Tensor, kernel_size: int, stride: int | None = None) -> torch.Tensor:
    """Maximum over each kernel_size x kernel_size window of x (N, C, H, W), like F.max_pool2d (no padding).

    stride defaults to kernel_size. Built from scratch: F.max_pool2d and nn.MaxPool2d are off limits.
    """
    ### BEGIN SOLUTION
    # TODO: stride = kernel_size when it is None (not 1!). x.unfold(2, kernel_size, stride) then
    #   .unfold(3, kernel_size, stride) gives a view of shape (N, C, H_out, W_out, k, k) holding every
    #   window; take the max over the last two dims (amax). Windows that would run past the edge are
    #   dropped, as F.max_pool2d does. Validate like conv2d (4-d x, kernel that fits).
    if x.dim() != 4:
        raise ValueError(f"x must be 4-d (N, C, H, W), got shape {tuple(x.shape)}")
    kernel_size = _positive_int(kernel_size, "kernel_size")
    stride = kernel_size if stride is None else _positive_int(stride, "stride")
    if kernel_size > min(x.shape[2], x.shape[3]):
        raise ValueError(f"kernel_size {kernel_size} does not fit x of shape {tuple(x.shape)}")
    windows = x.unfold(2, kernel_size, stride).unfold(3, kernel_size, stride)
    return windows.amax(dim=(-2, -1))
    ### END SOLUTION
