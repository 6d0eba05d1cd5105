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

    This is the output height (or width) of nn.Conv2d and nn.MaxPool2d for that input size, as an int.
    Every argument is an int (TypeError naming it otherwise): size, kernel, stride and dilation >= 1,
    padding >= 0 (ValueError naming it otherwise). A kernel may be larger than size as long as it fits the
    padded input; one that does not fit even there leaves no position at all: ValueError naming kernel.
    """
    # TODO: raise TypeError or ValueError naming the argument unless size, kernel, stride, dilation
    #   are ints >= 1 and padding an int >= 0; return how many positions the dilated kernel
    #   takes in the padded input, stepping stride at a time (none at all is a ValueError).
    raise NotImplementedError('conv_output_size: not written yet, see the TODO above this line')


class CNN(nn.Module):
    """The classic 28x28 classifier: two conv-ReLU-pool stages, then a two-layer MLP head (421,642 parameters).

    forward takes x of shape (N, 1, 28, 28) for any N >= 0 (an empty batch gives an empty (0, 10) result) and
    returns the (N, 10) logits, without a softmax. Moved with .to(dtype) or .to(device) (the meta device
    included), the model works on inputs of that dtype and device and returns logits of the same.
    """

    def __init__(self) -> None:
        super().__init__()
        # TODO: the classic 28x28 net: two stages of 3x3 convolution (1 -> 32, then 32 -> 64,
        #   keeping the size), ReLU and 2x2 max pooling, then a head Linear(64 * 7 * 7, 128),
        #   ReLU, Linear(128, 10): 421,642 parameters.
        raise NotImplementedError('CNN.__init__: not written yet, see the TODO above this line')

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # TODO: return the (N, 10) logits: the convolutional stages, then the head, no softmax.
        raise NotImplementedError('CNN.forward: not written yet, see the TODO above this line')


def conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: int = 1,
    padding: int = 0,
) -> torch.Tensor:
    """2-d cross-correlation of x (N, C_in, H, W) with weight (C_out, C_in, kH, kW), like F.conv2d.

    bias is None or of shape (C_out,); stride (an int >= 1) applies to both dimensions, and padding (an int >= 0)
    adds that many zeros on all four sides. The result is a new tensor (N, C_out, H_out, W_out) with
    H_out = (H + 2 * padding - kH) // stride + 1 (W_out likewise), of x's dtype and on x's device (the meta device
    included), also for an empty batch (N = 0); x, weight and bias are left unchanged, and gradients flow to all
    three. A bad argument is a ValueError naming it: x not 4-d (x); weight not 4-d or its C_in not x's, or a kernel
    that does not fit even the padded input (weight); bias of another shape (bias); stride < 1 or padding < 0
    (TypeError when they are not ints).
    Built from scratch: F.conv2d, torch.conv2d and nn.Conv2d are off limits.
    """
    # TODO: validate as the docstring says, each error naming its argument; return what F.conv2d
    #   would (stride, padding, optional bias) without calling it: every receptive field laid
    #   out as a column and one matrix product, differentiable in x, weight and bias.
    raise NotImplementedError('conv2d: not written yet, see the TODO above this line')


def max_pool2d(x: torch.Tensor, kernel_size: int, stride: int | None = None) -> torch.Tensor:
    """Maximum over each kernel_size x kernel_size window of x (N, C, H, W), like F.max_pool2d (no padding).

    stride defaults to kernel_size (None); windows that would cross the bottom or right edge are dropped. The
    result is a new tensor (N, C, H_out, W_out), H_out = (H - kernel_size) // stride + 1 (W_out likewise), of x's
    dtype and on x's device (the meta device included), also for an empty batch; x is left unchanged. The gradient
    of each window goes to its maximum (where it is unique). A bad argument is a ValueError naming it: x not 4-d
    (x), kernel_size < 1 or larger than H or W (kernel_size), stride < 1 (stride); TypeError when kernel_size or
    stride is not an int (or None for stride).
    Built from scratch: F.max_pool2d and nn.MaxPool2d are off limits.
    """
    # TODO: stride defaults to kernel_size; validate as the docstring says; return the maximum of
    #   every kernel_size x kernel_size window, windows starting every stride pixels (windows
    #   past the edge dropped), as F.max_pool2d does.
    raise NotImplementedError('max_pool2d: not written yet, see the TODO above this line')
