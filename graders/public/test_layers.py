"""Public checks for chapter 07, layers: registered parameters and values against plain torch.

The hidden checks add masks, gradients, learnable parameters, more sizes, dtypes and bad arguments.
"""

import itertools

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from torchkata import checks


@pytest.mark.kata("CenteredLayer")
@pytest.mark.points(1)
def test_centered_layer_subtracts_the_mean(impl):
    layer = checks.call("CenteredLayer()", impl.CenteredLayer)
    x = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0])
    out = checks.call("CenteredLayer()(x)", layer, x)
    checks.close(out, x - x.mean(), "CenteredLayer()(x) with x = [1, 2, 3, 4, 5]", "Subtract X.mean() from X.")


@pytest.mark.kata("MyLinear")
@pytest.mark.points(1)
def test_my_linear_registers_weight_and_bias(impl):
    layer = checks.call("MyLinear(5, 3)", impl.MyLinear, 5, 3)
    shapes = {name: tuple(p.shape) for name, p in layer.named_parameters()}
    checks.equal(
        shapes, {"weight": (5, 3), "bias": (3,)}, "MyLinear(5, 3).named_parameters() as {name: shape}",
        "Wrap both tensors in nn.Parameter and assign them as self.weight (in_units, units) and self.bias (units,).",
    )
    x = torch.randn(4, 5)
    out = checks.call("MyLinear(5, 3)(x)", layer, x)
    checks.shape(out, (4, 3), "MyLinear(5, 3)(x) with x of shape (4, 5)")
    with torch.no_grad():
        expected = F.relu(x @ layer.weight + layer.bias)
    checks.close(out, expected, "MyLinear(5, 3)(x) with x of shape (4, 5)", "d2l's MyLinear returns relu(X @ W + b).")


@pytest.mark.kata("Swish")
@pytest.mark.points(1)
def test_swish_default_is_silu(impl):
    layer = checks.call("Swish()", impl.Swish)
    x = torch.linspace(-4, 4, 9)
    checks.close(
        checks.call("Swish()(x)", layer, x), F.silu(x), "Swish()(x) with x = linspace(-4, 4, 9)",
        "With beta = 1, Swish is x * sigmoid(x).",
    )


@pytest.mark.kata("Swish")
@pytest.mark.points(1)
def test_swish_learnable_beta(impl):
    layer = checks.call("Swish(2.0, learnable=True)", impl.Swish, 2.0, True)
    params = list(layer.parameters())
    checks.check(
        len(params) == 1 and params[0].numel() == 1,
        f"Swish(2.0, learnable=True) has {len(params)} parameters; expected one, the scalar beta.",
        "With learnable=True keep beta as nn.Parameter(torch.tensor(float(beta))).",
    )
    fixed = checks.call("Swish(2.0)", impl.Swish, 2.0)
    checks.check(not list(fixed.parameters()), "Swish(2.0) has parameters; expected none when learnable=False.")
    x = torch.linspace(-3, 3, 7)
    checks.close(checks.call("Swish(2.0, learnable=True)(x)", layer, x), x * torch.sigmoid(2 * x),
                 "Swish(2.0, learnable=True)(x) with x = linspace(-3, 3, 7)", "x * sigmoid(beta * x).")


@pytest.mark.kata("MyDropout")
@pytest.mark.points(1)
def test_my_dropout_is_the_identity_in_eval_mode(impl):
    layer = checks.call("MyDropout(0.5)", impl.MyDropout, 0.5)
    layer.eval()
    x = torch.randn(4, 6)
    checks.close(
        checks.call("MyDropout(0.5).eval()(x)", layer, x), x, "MyDropout(0.5).eval()(x)",
        "In eval mode (self.training is False) dropout does nothing.",
    )


@pytest.mark.kata("MyDropout")
@pytest.mark.points(1)
def test_my_dropout_scales_what_it_keeps(impl):
    layer = checks.call("MyDropout(0.5)", impl.MyDropout, 0.5)
    layer.train()
    x = torch.ones(40, 50)
    out = checks.call("MyDropout(0.5).train()(x)", layer, x)
    call = "MyDropout(0.5).train()(x) with x = ones(40, 50)"
    checks.shape(out, (40, 50), call)
    values = sorted({round(v, 4) for v in out.detach().unique().tolist()})
    checks.check(
        set(values) <= {0.0, 2.0},
        f"{call} returned the values {values[:6]}; expected only 0 (dropped) and 2 = 1 / (1 - p) (kept).",
        "Inverted dropout scales what it keeps by 1 / (1 - p), so the expected output equals the input.",
    )
    kept = (out != 0).float().mean().item()
    checks.check(
        0.4 < kept < 0.6, f"{call} kept {kept:.0%} of the entries; expected about half (p = 0.5).",
        "Keep an entry where torch.rand_like(X) >= p.",
    )


@pytest.mark.kata("SelfAttention")
@pytest.mark.points(1)
def test_self_attention_keeps_the_shape(impl):
    layer = checks.call("SelfAttention(8)", impl.SelfAttention, 8)
    out = checks.call("SelfAttention(8)(x)", layer, torch.randn(2, 5, 8))
    checks.shape(out, (2, 5, 8), "SelfAttention(8)(x) with x of shape (2, 5, 8)")


def _projections(layer: nn.Module, d: int, call: str) -> list:
    """Every way of reading the layer's parameters as q, k, v projections of x (a list of functions)."""
    linears = [m for m in checks.submodules(layer, nn.Linear) if m.in_features == d]
    fused = [m for m in linears if m.out_features == 3 * d]
    square = [m for m in linears if m.out_features == d]
    if len(fused) == 1 and not square:
        return [lambda x: fused[0](x).chunk(3, dim=-1)]
    if len(square) == 3 and not fused:
        return [lambda x: tuple(m(x) for m in square)]
    params = list(layer.parameters())

    def of_shape(*shape: int) -> list:
        return [p for p in params if tuple(p.shape) == shape]

    out_in, in_out, fused_bias = of_shape(3 * d, d), of_shape(d, 3 * d), of_shape(3 * d)
    if len(out_in) + len(in_out) == 1 and len(fused_bias) <= 1:
        bias = fused_bias[0] if fused_bias else 0
        weight = out_in[0].T if out_in else in_out[0]
        return [lambda x: (x @ weight + bias).chunk(3, dim=-1)]
    weights, biases = of_shape(d, d), of_shape(d)
    if len(weights) == 3 and len(biases) in (0, 3):
        pairs = list(zip(weights, biases or [0] * 3, strict=True))
        return [lambda x: tuple(x @ w.T + b for w, b in pairs), lambda x: tuple(x @ w + b for w, b in pairs)]
    shapes = [checks.shape_text(p.shape) for p in params]
    raise checks.GradingError(
        f"{call} has parameters of shapes {shapes}; the graders look for the query, key and value projections as "
        f"three nn.Linear({d}, {d}) or one nn.Linear({d}, {3 * d}) (or the same as raw weights)."
    )


@pytest.mark.kata("SelfAttention")
@pytest.mark.points(1)
def test_self_attention_values(impl):
    layer = checks.call("SelfAttention(8)", impl.SelfAttention, 8)
    x = torch.randn(2, 5, 8) * 2
    call = "SelfAttention(8)(x) with x of shape (2, 5, 8)"
    out = checks.call(call, layer, x)
    checks.shape(out, (2, 5, 8), call)
    with torch.no_grad():
        candidates = [
            torch.softmax(q @ k.transpose(-2, -1) / 8**0.5, dim=-1) @ v
            for project in _projections(layer, 8, "SelfAttention(8)")
            for q, k, v in itertools.permutations(project(x))
        ]
    best = min(candidates, key=lambda candidate: (candidate - out.detach()).abs().max().item())
    checks.close(
        out, best, call,
        "Expected softmax(q @ k^T / sqrt(D), dim=-1) @ v: each query's weights over the keys sum to 1. "
        "Is the sqrt(D) scale missing, or the softmax on the wrong dim?", rtol=1e-4, atol=1e-5,
    )


@pytest.mark.kata("TensorReduction")
@pytest.mark.points(1)
def test_tensor_reduction_shape(impl):
    layer = checks.call("TensorReduction(5, 3)", impl.TensorReduction, 5, 3)
    out = checks.call("TensorReduction(5, 3)(x)", layer, torch.randn(4, 5))
    checks.shape(out, (4, 3), "TensorReduction(5, 3)(x) with x of shape (4, 5)")


@pytest.mark.kata("FourierHalf")
@pytest.mark.points(1)
def test_fourier_half_shape_and_dtype(impl):
    layer = checks.call("FourierHalf()", impl.FourierHalf)
    out = checks.call("FourierHalf()(x)", layer, torch.randn(2, 8))
    checks.shape(out, (2, 4), "FourierHalf()(x) with x of shape (2, 8)", "Keep the first n // 2 coefficients.")
    checks.dtype(out, torch.complex64, "FourierHalf()(x)", "Fourier coefficients are complex: keep them so.")


@pytest.mark.kata("MyLayerNorm")
@pytest.mark.points(1)
def test_my_layer_norm_shape_and_parameters(impl):
    layer = checks.call("MyLayerNorm(6)", impl.MyLayerNorm, 6)
    shapes = sorted(tuple(p.shape) for p in layer.parameters())
    checks.equal(
        shapes, [(6,), (6,)], "MyLayerNorm(6): its parameter shapes",
        "A learnable weight and a learnable bias, each of shape (features,), as nn.Parameter.",
    )
    x = torch.randn(3, 6) * 2 + 1
    out = checks.call("MyLayerNorm(6)(x)", layer, x)
    checks.shape(out, (3, 6), "MyLayerNorm(6)(x) with x of shape (3, 6)")
    checks.close(
        out, F.layer_norm(x, (6,)), "MyLayerNorm(6)(x) with x of shape (3, 6), at initialisation",
        "LayerNorm divides by sqrt(biased variance + eps): var(unbiased=False), as nn.LayerNorm does.",
        rtol=1e-4, atol=1e-5,
    )
