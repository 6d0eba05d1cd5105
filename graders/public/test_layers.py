"""Public checks for chapter 07, layers: shapes, registered parameters, the simplest values."""

import pytest
import torch
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
    out = checks.call("MyLinear(5, 3)(x)", layer, torch.randn(2, 5))
    checks.shape(out, (2, 3), "MyLinear(5, 3)(x) with x of shape (2, 5)")


@pytest.mark.kata("Swish")
@pytest.mark.points(1)
def test_swish_default_is_silu(impl):
    layer = checks.call("Swish()", impl.Swish)
    x = torch.linspace(-4, 4, 9)
    checks.close(
        checks.call("Swish()(x)", layer, x), F.silu(x), "Swish()(x) with x = linspace(-4, 4, 9)",
        "With beta = 1, Swish is x * sigmoid(x).",
    )


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


@pytest.mark.kata("SelfAttention")
@pytest.mark.points(1)
def test_self_attention_keeps_the_shape(impl):
    layer = checks.call("SelfAttention(8)", impl.SelfAttention, 8)
    out = checks.call("SelfAttention(8)(x)", layer, torch.randn(2, 5, 8))
    checks.shape(out, (2, 5, 8), "SelfAttention(8)(x) with x of shape (2, 5, 8)")


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
    out = checks.call("MyLayerNorm(6)(x)", layer, torch.randn(3, 6))
    checks.shape(out, (3, 6), "MyLayerNorm(6)(x) with x of shape (3, 6)")
