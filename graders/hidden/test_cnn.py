"""Hidden checks for chapter 15, cnn: sizes against torch, the CNN against F.*, from-scratch conv and pooling."""

import contextlib

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from torchkata import checks
from torchkata.graderkit import forbid, offlimits

# ---------------------------------------------------------------- "from scratch" enforcement

OFF_LIMITS = [
    *((F, name, f"F.{name}") for name in ("conv2d", "conv_transpose2d", "max_pool2d", "max_pool2d_with_indices",
                                          "adaptive_max_pool2d")),
    *((torch, name, f"torch.{name}") for name in ("conv2d", "convolution", "_convolution", "conv_transpose2d",
                                                  "max_pool2d")),
    *((torch.ops.aten, name, f"torch.ops.aten.{name}") for name in ("conv2d", "convolution", "_convolution",
                                                                    "max_pool2d", "max_pool2d_with_indices")),
    (nn.Conv2d, "forward", "nn.Conv2d.forward"), (nn.Conv2d, "_conv_forward", "nn.Conv2d._conv_forward"),
    (nn.MaxPool2d, "forward", "nn.MaxPool2d.forward"),
    (nn.AdaptiveMaxPool2d, "forward", "nn.AdaptiveMaxPool2d.forward"),
]


class OffLimitsError(RuntimeError):
    """A from-scratch kata used the library's convolution or pooling."""


@contextlib.contextmanager
def from_scratch(impl):
    """While active, the library's convolution and max pooling raise: by name, under the names the impl imported,
    and by aten op, which also catches a reference kept elsewhere or F.conv3d over a depth of one."""
    message = "{name} is off limits in this kata: build it from unfold and tensor ops."
    with forbid.switched_off(OFF_LIMITS, message, OffLimitsError, aliases_in=impl), offlimits.ops_switched_off(
        offlimits.CONVOLUTION_OPS + offlimits.MAX_POOL_OPS, message, OffLimitsError
    ):
        yield


# ---------------------------------------------------------------- conv_output_size


def _torch_output_size(size, kernel, stride, padding, dilation):
    """What nn.Conv2d really produces along the height for this input size."""
    out = F.conv2d(
        torch.zeros(1, 1, size, 1), torch.zeros(1, 1, kernel, 1),
        stride=(stride, 1), padding=(padding, 0), dilation=(dilation, 1),
    )
    return out.shape[2]


SIZE_CASES = [
    (28, 3, 1, 1, 1), (28, 3, 1, 0, 1), (28, 2, 2, 0, 1), (7, 3, 2, 1, 1), (10, 3, 3, 0, 1),
    (32, 5, 1, 2, 1), (11, 4, 3, 2, 1), (15, 3, 1, 0, 2), (16, 3, 2, 2, 3), (9, 2, 4, 1, 2), (1, 1, 1, 0, 1),
    (5, 7, 1, 1, 1),
]


@pytest.mark.kata("conv_output_size")
@pytest.mark.points(3)
def test_conv_output_size_matches_torch(impl):
    for size, kernel, stride, padding, dilation in SIZE_CASES:
        call = f"conv_output_size({size}, {kernel}, stride={stride}, padding={padding}, dilation={dilation})"
        result = checks.call(call, impl.conv_output_size, size, kernel, stride=stride, padding=padding,
                             dilation=dilation)
        expected = _torch_output_size(size, kernel, stride, padding, dilation)
        checks.check(
            type(result) is int,
            f"{call} returned {checks.describe(result)}; expected an int.",
            "Use integer division // rather than / and int().",
        )
        checks.equal(
            result, expected, call,
            "nn.Conv2d gives (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1: padding on both "
            "sides, the dilated kernel span, floor division.",
        )


@pytest.mark.kata("conv_output_size")
@pytest.mark.points(1)
@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"size": 4, "kernel": 7}, "kernel"),
        ({"size": 8, "kernel": 3, "stride": 0}, "stride"),
        ({"size": 8, "kernel": 3, "padding": -1}, "padding"),
        ({"size": 8, "kernel": 3, "dilation": 0}, "dilation"),
    ],
    ids=["kernel_too_large", "stride_0", "negative_padding", "dilation_0"],
)
def test_conv_output_size_rejects_bad_arguments(impl, kwargs, name):
    call = f"conv_output_size({', '.join(f'{k}={v}' for k, v in kwargs.items())})"
    error = checks.raises(ValueError, lambda: impl.conv_output_size(**kwargs), call,
                          f"No valid output size exists: raise ValueError naming {name}.")
    checks.check(name in str(error), f"{call} raised {error!r}; expected the message to name {name}.")


# ---------------------------------------------------------------- CNN


def _reference_cnn(model, x):
    call = "CNN()"
    conv1 = checks.parameter_of_shape(model, (32, 1, 3, 3), call)
    conv2 = checks.parameter_of_shape(model, (64, 32, 3, 3), call)
    fc1 = checks.parameter_of_shape(model, (128, 64 * 7 * 7), call, allow_transposed=True)
    fc2 = checks.parameter_of_shape(model, (10, 128), call, allow_transposed=True)
    b1, b2 = (checks.parameter_of_shape(model, (n,), call) for n in (32, 64))
    b3, b4 = (checks.parameter_of_shape(model, (n,), call) for n in (128, 10))
    h = F.max_pool2d(F.relu(F.conv2d(x, conv1, b1, padding=1)), 2)
    h = F.max_pool2d(F.relu(F.conv2d(h, conv2, b2, padding=1)), 2)
    h = F.relu(h.flatten(1) @ fc1.T + b3)
    return h @ fc2.T + b4


@pytest.mark.kata("CNN")
@pytest.mark.points(3)
@pytest.mark.parametrize("batch", [1, 3])
def test_cnn_matches_functional_reference(impl, batch):
    model = checks.call("CNN()", impl.CNN)
    x = torch.randn(batch, 1, 28, 28)
    with torch.no_grad():
        expected = _reference_cnn(model, x)
        out = checks.call("CNN()(x)", model, x)
    checks.close(
        out, expected, f"CNN()(x) with x of shape ({batch}, 1, 28, 28)",
        "Conv(1, 32, 3, padding=1) ReLU MaxPool(2) Conv(32, 64, 3, padding=1) ReLU MaxPool(2) Flatten "
        "Linear(3136, 128) ReLU Linear(128, 10), returning logits (no softmax).",
        rtol=1e-4, atol=1e-5,
    )


@pytest.mark.kata("CNN")
@pytest.mark.points(1)
def test_cnn_trains_every_parameter(impl):
    model = checks.call("CNN()", impl.CNN)
    checks.parameter_count(model, 421_642, "CNN()")
    out = checks.call("CNN()(x)", model, torch.randn(2, 1, 28, 28))
    F.cross_entropy(out, torch.tensor([3, 7])).backward()
    missing = [tuple(p.shape) for p in model.parameters() if p.grad is None or not bool(p.grad.abs().sum() > 0)]
    checks.check(
        not missing,
        f"after F.cross_entropy(CNN()(x), y).backward() the parameters of shapes {missing} got no gradient.",
    )


# ---------------------------------------------------------------- conv2d


CONV_CASES = [
    # x shape, weight shape, with bias, stride, padding
    ((2, 3, 7, 5), (4, 3, 3, 2), True, 1, 0),
    ((1, 2, 8, 8), (3, 2, 3, 3), False, 2, 1),
    ((3, 1, 6, 9), (2, 1, 2, 4), True, 3, 2),
    ((2, 4, 5, 5), (5, 4, 1, 1), True, 1, 0),
    ((2, 2, 9, 7), (6, 2, 5, 3), False, 2, 1),
    ((1, 3, 4, 6), (2, 3, 4, 6), True, 1, 0),
]


def _conv_call(x_shape, w_shape, with_bias, stride, padding):
    bias = "bias" if with_bias else "None"
    return f"conv2d(x {x_shape}, weight {w_shape}, {bias}, stride={stride}, padding={padding})"


@pytest.mark.kata("conv2d")
@pytest.mark.points(4)
def test_conv2d_matches_f_conv2d(impl):
    for x_shape, w_shape, with_bias, stride, padding in CONV_CASES:
        x, weight = torch.randn(x_shape), torch.randn(w_shape)
        bias = torch.randn(w_shape[0]) if with_bias else None
        call = _conv_call(x_shape, w_shape, with_bias, stride, padding)
        with from_scratch(impl):
            out = checks.call(call, impl.conv2d, x.clone(), weight.clone(), bias, stride, padding)
        expected = F.conv2d(x, weight, bias, stride=stride, padding=padding)  # after: not in a frame it can read
        checks.close(
            out, expected, call,
            "Flatten the weight as (C_out, C_in * kH * kW), the order F.unfold uses for each column; pad both "
            "sides; move stride positions at a time; add the bias per output channel.",
            rtol=1e-4, atol=1e-4,
        )


@pytest.mark.kata("conv2d")
@pytest.mark.points(2)
@pytest.mark.parametrize("with_bias", [True, False], ids=["bias", "no_bias"])
def test_conv2d_gradcheck(impl, with_bias):
    x = torch.randn(2, 2, 5, 4, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(3, 2, 3, 2, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(3, dtype=torch.float64, requires_grad=True) if with_bias else None
    inputs = (x, weight, bias) if with_bias else (x, weight)
    call = f"conv2d(x, weight, {'bias' if with_bias else 'None'}, stride=2, padding=1) in float64"

    def fn(*tensors):
        return impl.conv2d(*tensors, **({} if with_bias else {"bias": None}), stride=2, padding=1)

    with from_scratch(impl):
        checks.gradcheck(fn, inputs, call, "Build the result from differentiable tensor ops (unfold, matmul, "
                         "reshape), without .data or numpy, so autograd can follow it.", fast_mode=True)


@pytest.mark.kata("conv2d")
@pytest.mark.points(1)
def test_conv2d_rejects_mismatched_channels(impl):
    error = checks.raises(
        ValueError, lambda: impl.conv2d(torch.randn(1, 3, 5, 5), torch.randn(2, 4, 3, 3)),
        "conv2d(x (1, 3, 5, 5), weight (2, 4, 3, 3))",
        "x has 3 channels but the weight expects 4: raise ValueError naming weight.",
    )
    checks.check("weight" in str(error), f"conv2d with mismatched channels raised {error!r}; expected the message "
                 "to name weight.")


# ---------------------------------------------------------------- max_pool2d


POOL_CASES = [
    # x shape, kernel_size, stride
    ((2, 3, 8, 8), 2, None),
    ((1, 2, 7, 9), 3, 2),
    ((2, 1, 6, 5), 2, 1),
    ((3, 2, 9, 6), 3, None),
    ((1, 1, 5, 5), 5, None),
    ((2, 2, 10, 7), 2, 3),
]


@pytest.mark.kata("max_pool2d")
@pytest.mark.points(3)
def test_max_pool2d_matches_f_max_pool2d(impl):
    for shape, kernel_size, stride in POOL_CASES:
        x = torch.randn(shape)
        call = f"max_pool2d(x {shape}, {kernel_size}, stride={stride})"
        with from_scratch(impl):
            out = checks.call(call, impl.max_pool2d, x.clone(), kernel_size, stride)
        expected = F.max_pool2d(x, kernel_size, stride)  # after the call: not in a frame it can read
        checks.close(
            out, expected, call,
            "stride=None means stride = kernel_size; windows that would cross the edge are dropped (floor).",
        )


@pytest.mark.kata("max_pool2d")
@pytest.mark.points(2)
def test_max_pool2d_gradient_goes_to_the_maxima(impl):
    x = torch.randn(2, 3, 7, 6, dtype=torch.float64, requires_grad=True)
    upstream = torch.randn(2, 3, 3, 2, dtype=torch.float64)
    want = torch.autograd.grad(F.max_pool2d(x, 3, 2), x, upstream)[0]
    call = "max_pool2d(x (2, 3, 7, 6), 3, stride=2) in float64"
    with from_scratch(impl):
        out = checks.call(call, impl.max_pool2d, x, 3, 2)
        checks.shape(out, (2, 3, 3, 2), call)
        checks.check(out.requires_grad, f"{call} returned a tensor without a graph.")
        got = checks.call(f"backward through {call}", torch.autograd.grad, out, x, upstream)[0]
        small = x[:1, :2].detach().clone().requires_grad_()
        checks.gradcheck(lambda inp: impl.max_pool2d(inp, 2, None), (small,),
                         "max_pool2d(x (1, 2, 7, 6), 2) in float64",
                         "Take the maximum with differentiable ops (amax/max), not through .data or indices kept by "
                         "hand.", fast_mode=True)
    checks.close(got, want, f"the gradient of x through {call}",
                 "Each window passes its gradient to its maximum only.")


@pytest.mark.kata("max_pool2d")
@pytest.mark.points(1)
def test_max_pool2d_rejects_a_kernel_larger_than_the_input(impl):
    error = checks.raises(ValueError, lambda: impl.max_pool2d(torch.randn(1, 1, 3, 3), 4),
                          "max_pool2d(x (1, 1, 3, 3), 4)", "A 4x4 window does not fit a 3x3 input.")
    checks.check("kernel_size" in str(error), f"max_pool2d(x (1, 1, 3, 3), 4) raised {error!r}; expected the "
                 "message to name kernel_size.")
