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
    ### BEGIN SOLUTION
    # TODO: raise TypeError or ValueError naming the argument unless size, kernel, stride, dilation
    #   are ints >= 1 and padding an int >= 0; return how many positions the dilated kernel
    #   takes in the padded input, stepping stride at a time (none at all is a ValueError).
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
    """The classic 28x28 classifier: two conv-ReLU-pool stages, then a two-layer MLP head (421,642 parameters).

    forward takes x of shape (N, 1, 28, 28) for any N >= 0 (an empty batch gives an empty (0, 10) result) and
    returns the (N, 10) logits, without a softmax. Moved with .to(dtype) or .to(device) (the meta device
    included), the model works on inputs of that dtype and device and returns logits of the same.
    """

    def __init__(self) -> None:
        super().__init__()
        ### BEGIN SOLUTION
        # TODO: the classic 28x28 net: two stages of 3x3 convolution (1 -> 32, then 32 -> 64,
        #   keeping the size), ReLU and 2x2 max pooling, then a head Linear(64 * 7 * 7, 128),
        #   ReLU, Linear(128, 10): 421,642 parameters.
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
        # TODO: return the (N, 10) logits: the convolutional stages, then the head, no softmax.
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

    bias is None or of shape (C_out,); stride (an int >= 1) applies to both dimensions, and padding (an int >= 0)
    adds that many zeros on all four sides. The result is a new tensor (N, C_out, H_out, W_out) with
    H_out = (H + 2 * padding - kH) // stride + 1 (W_out likewise), of x's dtype and on x's device (the meta device
    included), also for an empty batch (N = 0); x, weight and bias are left unchanged, and gradients flow to all
    three. A bad argument is a ValueError naming it: x not 4-d (x); weight not 4-d or its C_in not x's, or a kernel
    that does not fit even the padded input (weight); bias of another shape (bias); stride < 1 or padding < 0
    (TypeError when they are not ints).
    Built from scratch: F.conv2d, torch.conv2d and nn.Conv2d are off limits.
    """
    ### BEGIN SOLUTION
    # TODO: validate as the docstring says, each error naming its argument; return what F.conv2d
    #   would (stride, padding, optional bias) without calling it: every receptive field laid
    #   out as a column and one matrix product, differentiable in x, weight and bias.
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

    stride defaults to kernel_size (None); windows that would cross the bottom or right edge are dropped. The
    result is a new tensor (N, C, H_out, W_out), H_out = (H - kernel_size) // stride + 1 (W_out likewise), of x's
    dtype and on x's device (the meta device included), also for an empty batch; x is left unchanged. The gradient
    of each window goes to its maximum (where it is unique). A bad argument is a ValueError naming it: x not 4-d
    (x), kernel_size < 1 or larger than H or W (kernel_size), stride < 1 (stride); TypeError when kernel_size or
    stride is not an int (or None for stride).
    Built from scratch: F.max_pool2d and nn.MaxPool2d are off limits.
    """
    ### BEGIN SOLUTION
    # TODO: stride defaults to kernel_size; validate as the docstring says; return the maximum of
    #   every kernel_size x kernel_size window, windows starting every stride pixels (windows
    #   past the edge dropped), as F.max_pool2d does.
    if x.dim() != 4:
        raise ValueError(f"x must be 4-d (N, C, H, W), got shape {tuple(x.shape)}")
    kernel_size = _positive_int(kernel_size, "kernel_size")
    stride = kernel_size if stride is None else _positive_int(stride, "stride")
    if kernel_size > min(x.shape[2], x.shape[3]):
        raise ValueError(f"kernel_size {kernel_size} does not fit x of shape {tuple(x.shape)}")
    windows = x.unfold(2, kernel_size, stride).unfold(3, kernel_size, stride)
    return windows.amax(dim=(-2, -1))
    ### END SOLUTION
