"""Hidden checks for chapter 15, cnn: sizes against torch, the CNN against F.*, from-scratch conv and pooling."""

import contextlib
import math

import pytest
import torch
import torch._dynamo  # noqa: F401 - imported before any patching: its first import reads aten.convolution.default
from torch import nn
from torch.nn import functional as F

from torchkata import checks
from torchkata.graderkit import differential, forbid, offlimits

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


# --- differential: every observable against the reference's recorded outcomes on generated cases ---------------

FLOATS = (torch.float16, torch.float32, torch.float64)


def _quarters(st, shape, dtype):
    """Tensors of multiples of 1/4 in [-1, 1]: sums of their products are exact in every float dtype."""
    return differential.tensors(st, shape=shape, dtype=torch.int64, low=-4, high=4).map(lambda t: t.to(dtype) / 4)


def _upstream(shape, dtype):
    """A fixed upstream gradient of multiples of 1/4, the same whatever the RNG state."""
    generator = torch.Generator().manual_seed(7)
    return (torch.randint(-4, 5, tuple(shape), generator=generator) / 4).to(dtype)


def _size_cases(st):
    maybe = lambda low, high: st.one_of(st.none(), st.integers(low, high))  # noqa: E731 - None: the default
    return st.fixed_dictionaries({
        "size": st.integers(1, 16), "kernel": st.integers(1, 6), "stride": maybe(1, 4), "padding": maybe(0, 3),
        "dilation": maybe(1, 3)})


@differential.scenario(
    "conv_output_size",
    cases=_size_cases,
    edge=lambda: [
        {"size": 1, "kernel": 1, "stride": None, "padding": None, "dilation": None},
        {"size": 3, "kernel": 3, "stride": None, "padding": None, "dilation": None},  # fits exactly once
        {"size": 2, "kernel": 3, "stride": None, "padding": None, "dilation": None},  # too large
        {"size": 1, "kernel": 3, "stride": None, "padding": 1, "dilation": None},  # fits only thanks to padding
        {"size": 1, "kernel": 4, "stride": 2, "padding": 1, "dilation": None},  # not even with padding
        {"size": 5, "kernel": 3, "stride": None, "padding": None, "dilation": 2},  # fits exactly, dilated
        {"size": 4, "kernel": 3, "stride": None, "padding": None, "dilation": 2},  # dilation makes it too large
        {"size": 28, "kernel": 3, "stride": 2, "padding": 1, "dilation": None},
        {"size": 8, "kernel": 3, "stride": 0, "padding": None, "dilation": None},
        {"size": 8, "kernel": 3, "stride": None, "padding": -1, "dilation": None},
        {"size": 8, "kernel": 3, "stride": None, "padding": None, "dilation": 0},
        {"size": 8, "kernel": 0, "stride": None, "padding": None, "dilation": None},
        {"size": 0, "kernel": 1, "stride": None, "padding": 1, "dilation": None},
        {"size": 28.0, "kernel": 3, "stride": None, "padding": 1, "dilation": None},
        {"size": 28, "kernel": 3, "stride": 1.5, "padding": None, "dilation": None},
        {"size": 28, "kernel": 3, "stride": None, "padding": 1.0, "dilation": None},
    ],
    count=60,
    call=lambda case: "conv_output_size(" + ", ".join(
        [repr(case["size"]), repr(case["kernel"])]
        + [f"{key}={case[key]!r}" for key in ("stride", "padding", "dilation") if case[key] is not None]) + ")",
)
def conv_output_size_outcome(impl, size, kernel, stride, padding, dilation):
    given = {key: value for key, value in (("stride", stride), ("padding", padding), ("dilation", dilation))
             if value is not None}
    return {"result": impl.conv_output_size(size, kernel, **given)}


CNN_SHAPES = {(32, 1, 3, 3), (32,), (64, 32, 3, 3), (64,), (128, 64 * 7 * 7), (128,), (10, 128), (10,)}


def _canonical(shape):
    """A parameter's shape as nn.Conv2d/nn.Linear hold it, and whether this one is stored transposed."""
    shape = tuple(shape)
    if shape not in CNN_SHAPES and len(shape) == 2 and shape[::-1] in CNN_SHAPES:
        return shape[::-1], True
    return shape, False


def _fill_cnn_(model):
    """Known weights whatever the style: values depend on the (canonical) shape only, scaled by the fan-in."""
    with torch.no_grad():
        for parameter in model.parameters():
            shape, transposed = _canonical(parameter.shape)
            n = math.prod(shape)
            values = torch.sin(torch.arange(n, dtype=torch.float64) * 0.7 + n).reshape(shape)
            values = values / math.sqrt(math.prod(shape[1:]) if len(shape) > 1 else shape[0])
            parameter.copy_((values.T if transposed else values).to(parameter.dtype))


def _cnn_gradients(model, x, out):
    upstream = _upstream((x.shape[0], 10), out.dtype)
    parameters = list(model.parameters())
    grads = torch.autograd.grad((out * upstream).sum(), [x, *parameters], allow_unused=True)
    by_shape = {}
    for parameter, grad in zip(parameters, grads[1:], strict=True):
        shape, transposed = _canonical(parameter.shape)
        by_shape[str(shape)] = None if grad is None else (grad.T if transposed else grad)
    return {"x": grads[0], "parameters, by shape": by_shape}


@differential.scenario(
    "CNN",
    edge=lambda: [{"batch": batch, "dtype": dtype, "device": "cpu"}
                  for batch in (0, 1, 3) for dtype in (torch.float32, torch.float64)]
    + [{"batch": 0, "dtype": torch.float32, "device": "meta"}, {"batch": 2, "dtype": torch.float64, "device": "meta"}],
    tolerances={torch.float32: (1e-3, 1e-4)},
    call=lambda case: (f"CNN() moved to {str(case['dtype'])[6:]} on {case['device']}, called on x of shape "
                       f"({case['batch']}, 1, 28, 28), then backward"),
)
def cnn_outcome(impl, batch, dtype, device):
    x = torch.randn(batch, 1, 28, 28, generator=torch.Generator().manual_seed(batch), dtype=torch.float64)
    model = impl.CNN()
    built = {"parameter shapes": sorted(_canonical(p.shape)[0] for p in model.parameters()),
             "parameter count": sum(p.numel() for p in model.parameters()),
             "parameter dtypes": sorted({str(p.dtype) for p in model.parameters()})}
    _fill_cnn_(model)
    model.to(device=device, dtype=dtype)
    x = x.to(device=device, dtype=dtype).requires_grad_(device != "meta")
    out = model(x)
    seen = {"built": built, "logits": out}
    if device != "meta":
        seen["gradients"] = differential.attempt(lambda: _cnn_gradients(model, x, out))
    return seen


def _conv_cases(st):
    sizes = st.fixed_dictionaries({
        "n": st.integers(0, 2), "c_in": st.integers(1, 3), "h": st.integers(1, 6), "w": st.integers(1, 6),
        "c_out": st.integers(1, 3), "kh": st.integers(1, 3), "kw": st.integers(1, 3), "bias": st.booleans(),
        "dtype": st.sampled_from(FLOATS)})
    return sizes.flatmap(lambda d: st.fixed_dictionaries({
        "x": _quarters(st, (d["n"], d["c_in"], d["h"], d["w"]), d["dtype"]),
        "weight": _quarters(st, (d["c_out"], d["c_in"], d["kh"], d["kw"]), d["dtype"]),
        "bias": _quarters(st, (d["c_out"],), d["dtype"]) if d["bias"] else st.none(),
        "stride": st.integers(1, 3), "padding": st.integers(0, 2),
        "layout": st.sampled_from(("contiguous", "channels_last")), "device": st.just("cpu")}))


def _conv_edge(x_shape, w_shape, bias=True, stride=1, padding=0, dtype=torch.float32, device="cpu",
               layout="contiguous"):
    count = math.prod(x_shape)
    return {"x": (torch.arange(count) % 7 - 3).reshape(x_shape).to(dtype) / 4,
            "weight": (torch.arange(math.prod(w_shape)) % 5 - 2).reshape(w_shape).to(dtype) / 4,
            "bias": torch.arange(w_shape[0]).to(dtype) / 4 - 0.5 if bias is True else bias,
            "stride": stride, "padding": padding, "layout": layout, "device": device}


CONV_EDGE = [
    ((0, 2, 5, 5), (3, 2, 3, 3)),  # empty batch
    ((1, 1, 3, 3), (1, 1, 3, 3)),  # fits exactly once
    ((1, 1, 2, 4), (2, 1, 3, 3), True, 1, 1),  # the kernel fits only thanks to the padding
    ((1, 1, 2, 2), (1, 1, 3, 3)),  # does not fit
    ((1, 1, 1, 1), (1, 1, 4, 1), True, 1, 1),  # not even with the padding
    ((2, 3, 7, 5), (4, 3, 3, 2), True, 2, 1, torch.float64, "cpu", "channels_last"),
    ((2, 3, 7, 5), (4, 3, 3, 2), True, 2, 1, torch.float16),
    ((2, 2, 5, 4), (3, 2, 3, 2), True, 2, 1, torch.float32, "meta"),
    ((0, 2, 5, 4), (3, 2, 3, 2), None, 1, 0, torch.float64, "meta"),
    ((1, 3, 5, 5), (2, 4, 3, 3)),  # channels differ
    ((1, 3, 5, 5), (2, 3, 3, 3), torch.zeros(3)),  # bias of the wrong size
    ((3, 5, 5), (2, 3, 3, 3)),  # x not 4-d
    ((1, 3, 5, 5), (2, 3, 3)),  # weight not 4-d
    ((1, 1, 5, 5), (1, 1, 3, 3), True, 0),  # stride 0
    ((1, 1, 5, 5), (1, 1, 3, 3), True, 1, -1),  # negative padding
    ((1, 3, 5, 5), (2, 2, 3, 3)),  # weight has fewer input channels than x
    ((1, 3, 5, 5), (2, 3, 3, 3), torch.zeros(1)),  # a (1,) bias, which would broadcast
    # a kernel that fits (or misses by one) only thanks to the padding, one side at a time
    ((1, 1, 2, 2), (1, 1, 4, 3), True, 1, 1),
    ((1, 1, 2, 2), (1, 1, 5, 3), True, 1, 1),
    ((1, 1, 2, 2), (1, 1, 6, 3), True, 1, 2),
    ((1, 1, 2, 2), (1, 1, 9, 3), True, 1, 3),
    ((1, 1, 2, 2), (1, 1, 3, 4), True, 1, 1),
    ((1, 1, 2, 2), (1, 1, 4, 5), True, 1, 1),
]


@differential.scenario(
    "conv2d",
    cases=_conv_cases,
    edge=lambda: [_conv_edge(*case) for case in CONV_EDGE],
    count=40,
    tolerances={torch.float16: (1e-2, 1e-2)},
    call=lambda case: (
        f"conv2d(x {checks.shape_text(case['x'].shape)} {str(case['x'].dtype)[6:]}, weight "
        f"{checks.shape_text(case['weight'].shape)}, "
        f"{'None' if case['bias'] is None else 'bias ' + checks.shape_text(case['bias'].shape)}, "
        f"stride={case['stride']}, padding={case['padding']}) with x {case['layout']} on {case['device']}, then "
        "backward"),
)
def conv2d_outcome(impl, x, weight, bias, stride, padding, layout, device):
    if layout == "channels_last" and x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    x, weight = x.to(device), weight.to(device)
    bias = None if bias is None else bias.to(device)
    given = [t for t in (x, weight, bias) if t is not None]
    for tensor in given:
        tensor.requires_grad_(device != "meta")
    with from_scratch(impl):
        out = impl.conv2d(x, weight, bias, stride, padding)
        seen = {"result": out}
        if device != "meta":
            seen["gradients of x, weight, bias"] = differential.attempt(
                lambda: list(torch.autograd.grad(out, given, _upstream(out.shape, out.dtype), allow_unused=True)))
    seen["x, weight, bias after the call"] = [t.detach() for t in given]
    return seen


def _pool_cases(st):
    sizes = st.fixed_dictionaries({
        "shape": st.tuples(st.integers(0, 2), st.integers(1, 3), st.integers(2, 7), st.integers(2, 7)),
        "kernel_size": st.integers(1, 3), "stride": st.one_of(st.none(), st.integers(1, 4)),
        "dtype": st.sampled_from(FLOATS)})
    return sizes.flatmap(lambda d: st.fixed_dictionaries({
        "x": st.permutations(list(range(math.prod(d["shape"])))).map(
            lambda order: (torch.tensor(order, dtype=torch.float64).reshape(d["shape"]) / 4 - 8).to(d["dtype"])),
        "kernel_size": st.just(d["kernel_size"]), "stride": st.just(d["stride"]), "device": st.just("cpu")}))


def _pool_edge(shape, kernel_size, stride=None, dtype=torch.float32, device="cpu"):
    count = math.prod(shape)
    order = (torch.arange(count) * 37) % max(count, 1)  # distinct values when count is not a multiple of 37
    return {"x": (order.reshape(shape) / 4 - 3).to(dtype), "kernel_size": kernel_size, "stride": stride,
            "device": device}


POOL_EDGE = [
    ((0, 2, 4, 4), 2),  # empty batch
    ((1, 1, 3, 3), 3),  # fits exactly once
    ((1, 2, 5, 4), 1),  # every window a single entry: still a new tensor
    ((1, 2, 5, 4), 1, 1),
    ((2, 1, 7, 5), 2, 3),  # windows past the edge dropped
    ((1, 1, 3, 5), 2, 1, torch.float16),
    ((2, 2, 6, 6), 2, None, torch.float32, "meta"),
    ((1, 1, 3, 3), 4),  # too large
    ((1, 1, 5, 3), 4),  # fits the height, not the width
    ((1, 1, 5, 5), 0),
    ((1, 1, 5, 5), 2, 0),  # stride 0 is not the default
    ((2, 5, 5), 2),  # x not 4-d
    ((1, 1, 2, 5, 5), 2),  # nor 5-d
    ((1, 1, 5, 5), 2.0),
]


@differential.scenario(
    "max_pool2d",
    cases=_pool_cases,
    edge=lambda: [_pool_edge(*case) for case in POOL_EDGE],
    count=40,
    call=lambda case: (f"max_pool2d(x {checks.shape_text(case['x'].shape)} {str(case['x'].dtype)[6:]} on "
                       f"{case['device']}, {case['kernel_size']!r}, stride={case['stride']!r}), then backward"),
)
def max_pool2d_outcome(impl, x, kernel_size, stride, device):
    x = x.to(device).requires_grad_(device != "meta")
    with from_scratch(impl):
        out = impl.max_pool2d(x, kernel_size, stride)
        seen = {"result": out}
        if device != "meta":
            seen["gradient of x"] = differential.attempt(
                lambda: torch.autograd.grad(out, x, _upstream(out.shape, out.dtype))[0])
    if device != "meta" and x.numel():
        seen["shares x's memory"] = out.untyped_storage().data_ptr() == x.untyped_storage().data_ptr()
    seen["x after the call"] = x.detach()
    return seen


@pytest.mark.kata("conv_output_size")
@pytest.mark.points(2)
def test_conv_output_size_agrees_with_the_reference_on_generated_cases(impl):
    conv_output_size_outcome.check(impl)


@pytest.mark.kata("CNN")
@pytest.mark.points(2)
def test_cnn_agrees_with_the_reference_on_batches_dtypes_and_devices(impl):
    cnn_outcome.check(impl)


@pytest.mark.kata("conv2d")
@pytest.mark.points(3)
def test_conv2d_agrees_with_the_reference_on_generated_cases(impl):
    conv2d_outcome.check(impl)


@pytest.mark.kata("max_pool2d")
@pytest.mark.points(3)
def test_max_pool2d_agrees_with_the_reference_on_generated_cases(impl):
    max_pool2d_outcome.check(impl)
