"""Public checks for chapter 15, cnn: output sizes, the parameter count, convolutions and poolings against torch.

The hidden checks add generated sizes, empty batches, dtypes, the meta device, unchanged inputs and bad arguments.
"""

import contextlib

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from torchkata import checks
from torchkata.graderkit import forbid, offlimits

OFF_LIMITS = [
    (F, "conv2d", "F.conv2d"), (torch, "conv2d", "torch.conv2d"), (nn.Conv2d, "forward", "nn.Conv2d.forward"),
    (F, "max_pool2d", "F.max_pool2d"), (torch, "max_pool2d", "torch.max_pool2d"),
    (nn.MaxPool2d, "forward", "nn.MaxPool2d.forward"),
]


@contextlib.contextmanager
def from_scratch():
    """While active, the library's convolution and max pooling raise, by name and by op (so under any alias)."""
    message = "{name} is off limits in this kata: build it from unfold and tensor ops."
    with forbid.switched_off(OFF_LIMITS, message), offlimits.ops_switched_off(
        offlimits.CONVOLUTION_OPS + offlimits.MAX_POOL_OPS, message
    ):
        yield


@pytest.mark.kata("conv_output_size")
@pytest.mark.points(1)
def test_conv_output_size_same_padding(impl):
    result = checks.call("conv_output_size(28, 3, padding=1)", impl.conv_output_size, 28, 3, padding=1)
    expected = F.conv2d(torch.zeros(1, 1, 28, 28), torch.zeros(1, 1, 3, 3), padding=1).shape[-1]
    checks.equal(result, expected, "conv_output_size(28, 3, padding=1)", "Padding 1 on both sides keeps 28.")


@pytest.mark.kata("conv_output_size")
@pytest.mark.points(1)
def test_conv_output_size_with_stride_and_dilation(impl):
    for size, kernel, stride, padding, dilation in [(28, 3, 2, 1, 2), (17, 5, 3, 0, 1), (10, 2, 1, 2, 3)]:
        call = f"conv_output_size({size}, {kernel}, stride={stride}, padding={padding}, dilation={dilation})"
        result = checks.call(call, impl.conv_output_size, size, kernel, stride, padding, dilation)
        expected = F.conv2d(
            torch.zeros(1, 1, size, size), torch.zeros(1, 1, kernel, kernel),
            stride=stride, padding=padding, dilation=dilation,
        ).shape[-1]
        checks.equal(
            result, expected, call,
            "A dilated kernel spans dilation * (kernel - 1) + 1 pixels: (size + 2 * padding - span) // stride + 1.",
        )


@pytest.mark.kata("CNN")
@pytest.mark.points(1)
def test_cnn_parameter_count_and_output_shape(impl):
    model = checks.call("CNN()", impl.CNN)
    checks.parameter_count(
        model, 421_642, "CNN()",
        "Conv(1, 32, 3) and Conv(32, 64, 3) with padding 1, two 2x2 pools: the head is Linear(64 * 7 * 7, 128).",
    )
    out = checks.call("CNN()(x)", model, torch.randn(2, 1, 28, 28))
    checks.shape(out, (2, 10), "CNN()(x) with x of shape (2, 1, 28, 28)")


@pytest.mark.kata("conv2d")
@pytest.mark.points(1)
def test_conv2d_matches_torch(impl):
    x, weight, bias = torch.randn(2, 3, 6, 6), torch.randn(4, 3, 3, 3), torch.randn(4)
    call = "conv2d(x, weight, bias, stride=1, padding=1) with x (2, 3, 6, 6), weight (4, 3, 3, 3)"
    with from_scratch():
        out = checks.call(call, impl.conv2d, x, weight.clone(), bias.clone(), stride=1, padding=1)
    expected = F.conv2d(x, weight, bias, stride=1, padding=1)  # after the call: not in a frame it can read
    checks.close(out, expected, call, rtol=1e-4, atol=1e-5)


@pytest.mark.kata("conv2d")
@pytest.mark.points(1)
def test_conv2d_with_stride_and_gradcheck(impl):
    x, weight, bias = torch.randn(2, 3, 7, 7), torch.randn(4, 3, 3, 3), torch.randn(4)
    call = "conv2d(x, weight, bias, stride=2, padding=1) with x (2, 3, 7, 7), weight (4, 3, 3, 3)"
    with from_scratch():
        out = checks.call(call, impl.conv2d, x, weight.clone(), bias.clone(), stride=2, padding=1)
    checks.close(out, F.conv2d(x, weight, bias, stride=2, padding=1), call, rtol=1e-4, atol=1e-5)
    small = (torch.randn(1, 2, 4, 4), torch.randn(3, 2, 2, 2), torch.randn(3))
    inputs = tuple(t.double().requires_grad_() for t in small)
    with from_scratch():
        checks.gradcheck(
            lambda x, w, b: impl.conv2d(x, w, b, stride=1, padding=1), inputs,
            "conv2d(x, weight, bias, padding=1) on float64 x (1, 2, 4, 4), weight (3, 2, 2, 2)",
            "Build the output from unfold and a matrix product of tensors (no .detach(), no NumPy round trip).",
        )


@pytest.mark.kata("max_pool2d")
@pytest.mark.points(1)
def test_max_pool2d_matches_torch(impl):
    x = torch.randn(2, 3, 8, 8)
    with from_scratch():
        out = checks.call("max_pool2d(x, 2) with x of shape (2, 3, 8, 8)", impl.max_pool2d, x.clone(), 2)
    expected = F.max_pool2d(x, 2)  # after the call: not in a frame it can read
    checks.close(out, expected, "max_pool2d(x, 2) with x of shape (2, 3, 8, 8)", "stride defaults to kernel_size.")


@pytest.mark.kata("max_pool2d")
@pytest.mark.points(1)
def test_max_pool2d_with_an_overlapping_stride(impl):
    x = torch.randn(2, 3, 9, 9)
    call = "max_pool2d(x, 3, stride=2) with x of shape (2, 3, 9, 9)"
    with from_scratch():
        out = checks.call(call, impl.max_pool2d, x.clone(), 3, 2)
    checks.close(
        out, F.max_pool2d(x, 3, 2), call,
        "Windows start every `stride` pixels and may overlap: x.unfold(2, kernel_size, stride).unfold(3, ...).",
    )
