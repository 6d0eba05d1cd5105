"""Hidden checks for chapter 07, layers: values against torch's own functions, gradients, statistics.

SelfAttention's projections are found by type and shape, in any registration order: three
nn.Linear(D, D) or one nn.Linear(D, 3 * D); without nn.Linear submodules, three (D, D) weight
parameters (used as F.linear or as x @ W, with (D,) biases paired in registration order) or one
fused (3D, D) or (D, 3D) weight (with an optional (3D,) bias). No output projection.
"""

import itertools
from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from torchkata import checks
from torchkata.graderkit import differential

Projection = Callable[[torch.Tensor], tuple[torch.Tensor, ...]]


def _no_parameters(layer: nn.Module, call: str) -> None:
    shapes = [checks.shape_text(p.shape) for p in layer.parameters()]
    checks.check(not shapes, f"{call} has parameters of shapes {shapes}; expected none.")


def _grads_reach_every_parameter(layer: nn.Module, call: str) -> None:
    missing = [name for name, p in layer.named_parameters() if p.grad is None]
    checks.check(not missing, f"after {call}.sum().backward() these parameters got no gradient: {missing}.")


# ---------------------------------------------------------------- CenteredLayer


@pytest.mark.kata("CenteredLayer")
@pytest.mark.points(2)
@pytest.mark.parametrize("shape", [(3, 4), (2, 3, 5)])
def test_centered_layer_values(impl, shape):
    layer = checks.call("CenteredLayer()", impl.CenteredLayer)
    x = torch.randn(shape) * 3 + 7
    call = f"CenteredLayer()(x) with x of shape {checks.shape_text(shape)}"
    out = checks.call(call, layer, x)
    checks.close(out, x - x.mean(), call, "Subtract the mean of all entries, X.mean(), not a per-row or column mean.")
    checks.check(abs(float(out.mean())) < 1e-4, f"{call} has mean {float(out.mean()):.3g}; expected 0.")


@pytest.mark.kata("CenteredLayer")
@pytest.mark.points(1)
def test_centered_layer_gradients(impl):
    layer = checks.call("CenteredLayer()", impl.CenteredLayer)
    _no_parameters(layer, "CenteredLayer()")
    x = torch.randn(3, 4, requires_grad=True)
    upstream = torch.randn(3, 4)
    (checks.call("CenteredLayer()(x)", layer, x) * upstream).sum().backward()
    checks.tensor(x.grad, "x.grad after (CenteredLayer()(x) * g).sum().backward()", "Build the output from X.")
    checks.close(
        x.grad, upstream - upstream.mean(), "x.grad after (CenteredLayer()(x) * g).sum().backward()",
        "Keep the mean a tensor (no .item()): every entry's gradient goes through the mean as well.", 1e-5, 1e-6,
    )


# ---------------------------------------------------------------- MyLinear


def _named(layer: nn.Module, call: str) -> tuple[torch.Tensor, torch.Tensor]:
    params = dict(layer.named_parameters())
    checks.check(
        set(params) == {"weight", "bias"},
        f"{call} has parameters {sorted(params)}; expected exactly 'weight' and 'bias'.",
        "Assign nn.Parameter objects to self.weight and self.bias; a plain tensor is not registered.",
    )
    return params["weight"], params["bias"]


@pytest.mark.kata("MyLinear")
@pytest.mark.points(2)
@pytest.mark.parametrize("in_units, units", [(6, 4), (3, 7)])
def test_my_linear_values(impl, in_units, units):
    call = f"MyLinear({in_units}, {units})"
    layer = checks.call(call, impl.MyLinear, in_units, units)
    weight, bias = _named(layer, call)
    checks.shape(weight, (in_units, units), f"{call}.weight", "weight is (in_units, units), used as X @ weight.")
    x = torch.randn(5, in_units)
    checks.close(
        checks.call(f"{call}(x)", layer, x), torch.relu(x @ weight + bias).detach(), f"{call}(x)",
        "Expected relu(X @ weight + bias).", 1e-4, 1e-5,
    )
    with torch.no_grad():
        weight.copy_(torch.randn(in_units, units))
        bias.copy_(torch.randn(units))
    checks.close(
        checks.call(f"{call}(x)", layer, x), torch.relu(x @ weight + bias).detach(),
        f"{call}(x) after new values were written into weight and bias",
        "forward must use the registered parameters themselves.", 1e-4, 1e-5,
    )


@pytest.mark.kata("MyLinear")
@pytest.mark.points(1)
def test_my_linear_gradients_and_conversion(impl):
    layer = checks.call("MyLinear(4, 3)", impl.MyLinear, 4, 3)
    weight, bias = _named(layer, "MyLinear(4, 3)")
    x = torch.randn(6, 4)
    checks.call("MyLinear(4, 3)(x)", layer, x).sum().backward()
    w, b = weight.detach().clone().requires_grad_(), bias.detach().clone().requires_grad_()
    torch.relu(x @ w + b).sum().backward()
    checks.close(weight.grad, w.grad, "the weight gradient of MyLinear(4, 3)(x).sum()", rtol=1e-4, atol=1e-5)
    checks.close(bias.grad, b.grad, "the bias gradient of MyLinear(4, 3)(x).sum()", rtol=1e-4, atol=1e-5)
    layer.to(torch.float64)
    checks.check(
        all(p.dtype == torch.float64 for p in layer.parameters()) and len(list(layer.parameters())) == 2,
        "MyLinear(4, 3).to(torch.float64) left a parameter in float32.",
    )


# ---------------------------------------------------------------- Swish


@pytest.mark.kata("Swish")
@pytest.mark.points(2)
@pytest.mark.parametrize("beta", [2.5, -0.5])
def test_swish_values(impl, beta):
    call = f"Swish(beta={beta})"
    layer = checks.call(call, impl.Swish, beta)
    _no_parameters(layer, call)
    x = torch.randn(3, 7) * 3
    checks.close(
        checks.call(f"{call}(x)", layer, x), x * torch.sigmoid(beta * x), f"{call}(x)",
        "Swish is x * sigmoid(beta * x).", 1e-5, 1e-6,
    )


@pytest.mark.kata("Swish")
@pytest.mark.points(2)
def test_swish_learnable_beta(impl):
    call = "Swish(beta=1.5, learnable=True)"
    layer = checks.call(call, impl.Swish, 1.5, learnable=True)
    params = list(layer.parameters())
    checks.check(
        len(params) == 1 and params[0].numel() == 1,
        f"{call} has parameters of shapes {[checks.shape_text(p.shape) for p in params]}; expected one scalar beta.",
        "With learnable=True, keep beta as nn.Parameter(torch.tensor(beta)).",
    )
    beta = params[0]
    checks.close(beta.detach().reshape(()), torch.tensor(1.5), f"the beta parameter of {call}")
    x = torch.randn(4, 5) * 2
    out = checks.call(f"{call}(x)", layer, x)
    out.sum().backward()
    reference = torch.tensor(1.5, requires_grad=True)
    (x * torch.sigmoid(reference * x)).sum().backward()
    checks.tensor(beta.grad, f"beta.grad after {call}(x).sum().backward()", "forward must use the beta parameter.")
    checks.close(beta.grad.reshape(()), reference.grad, f"beta.grad after {call}(x).sum().backward()", rtol=1e-4)
    with torch.no_grad():
        beta.fill_(-2.0)
    checks.close(
        checks.call(f"{call}(x)", layer, x), x * torch.sigmoid(-2.0 * x), f"{call}(x) after beta was set to -2",
        rtol=1e-5, atol=1e-6,
    )


# ---------------------------------------------------------------- MyDropout


@pytest.mark.kata("MyDropout")
@pytest.mark.points(2)
@pytest.mark.parametrize("p", [0.3, 0.6])
def test_my_dropout_train_statistics(impl, p):
    call = f"MyDropout({p}) in train mode"
    layer = checks.call(f"MyDropout({p})", impl.MyDropout, p)
    layer.train()
    x = torch.rand(200, 500) + 0.5
    original = x.clone()
    out = checks.call(f"{call} on x of shape (200, 500)", layer, x)
    checks.close(x, original, f"the input x after {call}", "Do not modify the input in place.")
    checks.shape(out, (200, 500), call)
    kept = out != 0
    checks.close(
        out, x * kept / (1 - p), f"{call}: entries that were not dropped",
        "Inverted dropout scales every kept entry by 1 / (1 - p).", 1e-5, 1e-6,
    )
    dropped = 1 - kept.float().mean().item()
    checks.check(
        abs(dropped - p) < 0.01,
        f"{call} zeroed a fraction {dropped:.3f} of the entries; expected about p = {p}.",
        "Drop an entry where torch.rand_like(X) < p (so each survives with probability 1 - p).",
    )
    ratio = (out.mean() / x.mean()).item()
    checks.check(
        abs(ratio - 1) < 0.02,
        f"{call}: the output mean is {ratio:.3f} times the input mean; expected about 1.",
        "Divide the kept entries by (1 - p) so that the expected value is unchanged.",
    )


@pytest.mark.kata("MyDropout")
@pytest.mark.points(1)
def test_my_dropout_draws_a_fresh_mask_per_entry(impl):
    layer = checks.call("MyDropout(0.5)", impl.MyDropout, 0.5)
    layer.train()
    x = torch.ones(64, 64)
    first = checks.call("MyDropout(0.5)(x)", layer, x)
    second = checks.call("MyDropout(0.5)(x)", layer, x)
    checks.check(
        not torch.equal(first, second),
        "MyDropout(0.5) in train mode dropped the same entries on two calls; expected a new mask each call.",
    )
    empty_rows = int((first == 0).all(dim=1).sum())
    empty_cols = int((first == 0).all(dim=0).sum())
    checks.check(
        empty_rows == 0 and empty_cols == 0,
        f"MyDropout(0.5)(ones(64, 64)) zeroed {empty_rows} whole rows and {empty_cols} whole columns; "
        "expected each entry dropped on its own.",
        "Draw the mask with the shape of X: torch.rand_like(X).",
    )


@pytest.mark.kata("MyDropout")
@pytest.mark.points(1)
def test_my_dropout_follows_the_mode(impl):
    layer = checks.call("MyDropout(0.9)", impl.MyDropout, 0.9)
    x = torch.randn(8, 8)
    layer.eval()
    checks.close(checks.call("MyDropout(0.9).eval()(x)", layer, x), x, "MyDropout(0.9).eval()(x)",
                 "In eval mode return X unchanged: no mask, no scaling.")
    layer.train()
    out = checks.call("MyDropout(0.9).train()(x)", layer, x)
    checks.check(
        (out == 0).float().mean().item() > 0.5,
        "MyDropout(0.9) switched back to train mode dropped almost nothing; check self.training on every call.",
    )
    zero = checks.call("MyDropout(0.0)", impl.MyDropout, 0.0)
    zero.train()
    checks.close(checks.call("MyDropout(0.0).train()(x)", zero, x), x, "MyDropout(0.0).train()(x)")


@pytest.mark.kata("MyDropout")
@pytest.mark.points(1)
def test_my_dropout_rejects_p_outside_zero_one(impl):
    x = torch.randn(4, 5)
    layer = checks.call("MyDropout(0.0)", impl.MyDropout, 0.0)
    checks.close(checks.call("MyDropout(0.0)(x)", layer, x), x, "MyDropout(0.0)(x) in train mode",
                 "p = 0 is valid and drops nothing: a kata that rejects every p earns nothing here.")
    for p in (-0.1, 1.0, 1.5):
        checks.raises(
            ValueError, lambda p=p: impl.MyDropout(p), f"MyDropout({p})",
            "p is a probability of dropping and p = 1 would drop everything: accept 0 <= p < 1 only.",
        )


@pytest.mark.kata("MyDropout")
@pytest.mark.points(1)
def test_my_dropout_gradient(impl):
    layer = checks.call("MyDropout(0.25)", impl.MyDropout, 0.25)
    layer.train()
    x = torch.randn(10, 12, requires_grad=True)
    out = checks.call("MyDropout(0.25)(x)", layer, x)
    out.sum().backward()
    checks.tensor(x.grad, "x.grad after MyDropout(0.25)(x).sum().backward()", "Build the output from X by tensor ops.")
    expected = (out != 0).float() / 0.75
    checks.close(x.grad, expected, "x.grad after MyDropout(0.25)(x).sum().backward()",
                 "The gradient is the mask divided by (1 - p).", 1e-5, 1e-6)


# ---------------------------------------------------------------- SelfAttention


def _linear_projection(weight: torch.Tensor, bias: torch.Tensor | None, x_at_w: bool) -> Callable:
    if x_at_w:
        return lambda x: x @ weight + (0 if bias is None else bias)
    return lambda x: F.linear(x, weight, bias)


def _fused(project: Callable) -> Projection:
    return lambda x: tuple(project(x).chunk(3, dim=-1))


def _separate(projects: list[Callable]) -> Projection:
    return lambda x: tuple(project(x) for project in projects)


def _projection_layouts(layer: nn.Module, d: int, call: str) -> list[Projection]:
    """Every way of reading layer's parameters as q, k, v projections that the module docstring accepts."""
    linears = [m for m in checks.submodules(layer, nn.Linear) if m.in_features == d]
    fused = [m for m in linears if m.out_features == 3 * d]
    square = [m for m in linears if m.out_features == d]
    if len(fused) == 1 and not square:
        return [_fused(fused[0])]
    if len(square) == 3 and not fused:
        return [_separate(square)]
    params = list(layer.parameters())

    def of_shape(*shape: int) -> list[nn.Parameter]:
        return [p for p in params if tuple(p.shape) == shape]

    fused_out_in, fused_in_out, fused_bias = of_shape(3 * d, d), of_shape(d, 3 * d), of_shape(3 * d)
    if len(fused_out_in) + len(fused_in_out) == 1 and len(fused_bias) <= 1:
        bias = fused_bias[0] if fused_bias else None
        if fused_out_in:
            return [_fused(_linear_projection(fused_out_in[0], bias, x_at_w=False))]
        return [_fused(_linear_projection(fused_in_out[0], bias, x_at_w=True))]
    weights, biases = of_shape(d, d), of_shape(d)
    if len(weights) == 3 and len(biases) in (0, 3):
        paired = list(zip(weights, biases or [None] * 3, strict=True))
        return [
            _separate([_linear_projection(w, b, x_at_w) for w, b in paired]) for x_at_w in (False, True)
        ]
    shapes = [checks.shape_text(p.shape) for p in params]
    raise checks.GradingError(
        f"{call} has parameters of shapes {shapes}; the graders look for the query, key and value "
        f"projections as three nn.Linear({d}, {d}) or one nn.Linear({d}, {3 * d}) (or the same as raw "
        f"({d}, {d}) / ({3 * d}, {d}) weights), with no output projection."
    )


def _expected_attention(layer: nn.Module, x: torch.Tensor, mask: torch.Tensor | None, call: str) -> list[torch.Tensor]:
    """The attention output for every layout and every assignment of the three projections to q, k, v."""
    candidates = []
    with torch.no_grad():
        for project in _projection_layouts(layer, x.shape[-1], call):
            for q, k, v in itertools.permutations(project(x)):
                candidates.append(F.scaled_dot_product_attention(q, k, v, attn_mask=mask))
    return candidates


def _check_attention(layer: nn.Module, x: torch.Tensor, mask: torch.Tensor | None, call: str, hint: str) -> None:
    out = checks.call(call, layer, x) if mask is None else checks.call(call, layer, x, mask)
    checks.shape(out, tuple(x.shape), call)
    candidates = _expected_attention(layer, x, mask, call)
    best = min(candidates, key=lambda candidate: (candidate - out.detach()).abs().max().item())
    checks.close(out, best, call, hint, rtol=1e-4, atol=1e-5)


def _attention_input(batch: int, tokens: int, d: int) -> torch.Tensor:
    return torch.randn(batch, tokens, d) * 2


@pytest.mark.kata("SelfAttention")
@pytest.mark.points(1)
@pytest.mark.parametrize("batch, tokens, d", [(2, 5, 8), (3, 4, 6)])
def test_self_attention_without_mask(impl, batch, tokens, d):
    layer = checks.call(f"SelfAttention({d})", impl.SelfAttention, d)
    call = f"SelfAttention({d})(x) with x of shape ({batch}, {tokens}, {d})"
    _check_attention(
        layer, _attention_input(batch, tokens, d), None, call,
        "Expected softmax(q @ k^T / sqrt(D), dim=-1) @ v: is the sqrt(D) scale missing, or softmax on the wrong dim?",
    )


@pytest.mark.kata("SelfAttention")
@pytest.mark.points(2)
def test_self_attention_with_a_causal_mask(impl):
    layer = checks.call("SelfAttention(8)", impl.SelfAttention, 8)
    mask = torch.ones(5, 5, dtype=torch.bool).tril()
    _check_attention(
        layer, _attention_input(2, 5, 8), mask, "SelfAttention(8)(x, mask) with x (2, 5, 8) and a (5, 5) causal mask",
        "Where the mask is False the score becomes -inf before the softmax (True means 'may attend').",
    )


@pytest.mark.kata("SelfAttention")
@pytest.mark.points(2)
def test_self_attention_with_a_per_batch_mask(impl):
    layer = checks.call("SelfAttention(6)", impl.SelfAttention, 6)
    mask = (torch.rand(3, 4, 4) < 0.5) | torch.eye(4, dtype=torch.bool)
    _check_attention(
        layer, _attention_input(3, 4, 6), mask, "SelfAttention(6)(x, mask) with x (3, 4, 6) and a (3, 4, 4) mask",
        "A (B, T, T) mask gives each sequence its own pattern; it lines up with the (B, T, T) scores as it is.",
    )


@pytest.mark.kata("SelfAttention")
@pytest.mark.points(1)
def test_self_attention_causal_outputs_ignore_the_future(impl):
    layer = checks.call("SelfAttention(8)", impl.SelfAttention, 8)
    mask = torch.ones(6, 6, dtype=torch.bool).tril()
    x = _attention_input(2, 6, 8)
    changed = x.clone()
    changed[:, 3:] = torch.randn(2, 3, 8)
    first = checks.call("SelfAttention(8)(x, causal_mask)", layer, x, mask)
    second = checks.call("SelfAttention(8)(x', causal_mask)", layer, changed, mask)
    checks.close(
        second[:, :3], first[:, :3].detach(),
        "SelfAttention(8)(x, causal_mask)[:, :3] after changing tokens 3 to 5 of x",
        "With a causal mask, position t must not see positions after t.", 1e-4, 1e-5,
    )
    checks.check(torch.equal(mask, torch.ones(6, 6, dtype=torch.bool).tril()), "SelfAttention changed the mask it got.")


@pytest.mark.kata("SelfAttention")
@pytest.mark.points(1)
def test_self_attention_gradients(impl):
    layer = checks.call("SelfAttention(8)", impl.SelfAttention, 8)
    x = _attention_input(2, 5, 8).requires_grad_()
    checks.call("SelfAttention(8)(x)", layer, x).sum().backward()
    _grads_reach_every_parameter(layer, "SelfAttention(8)(x)")
    checks.check(x.grad is not None, "after SelfAttention(8)(x).sum().backward() x got no gradient.")


# ---------------------------------------------------------------- TensorReduction


def _reduction_weight(layer: nn.Module, in_features: int, out_features: int, call: str) -> nn.Parameter:
    checks.parameter_count(
        layer, in_features * in_features * out_features, call,
        "One weight W[i, j, k] of shape (in_features, in_features, out_features), nothing else.",
    )
    return checks.parameter_of_shape(layer, (in_features, in_features, out_features), call)


@pytest.mark.kata("TensorReduction")
@pytest.mark.points(2)
@pytest.mark.parametrize("in_features, out_features", [(5, 3), (4, 4)])
def test_tensor_reduction_values(impl, in_features, out_features):
    call = f"TensorReduction({in_features}, {out_features})"
    layer = checks.call(call, impl.TensorReduction, in_features, out_features)
    weight = _reduction_weight(layer, in_features, out_features, call)
    x = torch.randn(6, in_features)
    for when in ("", " after new values were written into its weight"):
        if when:
            with torch.no_grad():
                weight.copy_(torch.randn_like(weight))
        expected = torch.einsum("bi,bj,ijk->bk", x, x, weight.detach())
        checks.close(
            checks.call(f"{call}(x)", layer, x), expected, f"{call}(x) with x of shape (6, {in_features}){when}",
            "y[b, k] = sum_ij W[i, j, k] x[b, i] x[b, j]: the last index of W is the output.", 1e-4, 1e-5,
        )


@pytest.mark.kata("TensorReduction")
@pytest.mark.points(1)
def test_tensor_reduction_gradients(impl):
    layer = checks.call("TensorReduction(4, 3)", impl.TensorReduction, 4, 3)
    weight = _reduction_weight(layer, 4, 3, "TensorReduction(4, 3)")
    x = torch.randn(5, 4, requires_grad=True)
    checks.call("TensorReduction(4, 3)(x)", layer, x).pow(2).sum().backward()
    w = weight.detach().clone().requires_grad_()
    x2 = x.detach().clone().requires_grad_()
    torch.einsum("bi,bj,ijk->bk", x2, x2, w).pow(2).sum().backward()
    checks.tensor(weight.grad, "the weight gradient of TensorReduction(4, 3)(x)", "forward must use the parameter.")
    call = "TensorReduction(4, 3)(x).pow(2).sum()"
    checks.close(weight.grad, w.grad, f"the weight gradient of {call}", rtol=1e-4, atol=1e-5)
    checks.close(x.grad, x2.grad, f"the input gradient of {call}", rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------- FourierHalf


@pytest.mark.kata("FourierHalf")
@pytest.mark.points(2)
@pytest.mark.parametrize("shape", [(3, 8), (2, 3, 7), (5,)])
def test_fourier_half_values(impl, shape):
    layer = checks.call("FourierHalf()", impl.FourierHalf)
    x = torch.randn(shape)
    call = f"FourierHalf()(x) with x of shape {checks.shape_text(shape)}"
    checks.close(
        checks.call(call, layer, x), torch.fft.fft(x)[..., : shape[-1] // 2], call,
        "torch.fft.fft along the last dim, then its first n // 2 entries (n // 2 rounds down for odd n).",
        1e-4, 1e-5,
    )


@pytest.mark.kata("FourierHalf")
@pytest.mark.points(1)
def test_fourier_half_gradients(impl):
    layer = checks.call("FourierHalf()", impl.FourierHalf)
    _no_parameters(layer, "FourierHalf()")
    x = torch.randn(2, 6, requires_grad=True)
    out = checks.call("FourierHalf()(x)", layer, x)
    checks.tensor(out, "FourierHalf()(x)")
    checks.check(out.requires_grad, "FourierHalf()(x) is cut off from autograd; stay with torch.fft (no NumPy).")
    (out.real.sum() + out.imag.pow(2).sum()).backward()
    reference = x.detach().clone().requires_grad_()
    spectrum = torch.fft.fft(reference)[..., :3]
    (spectrum.real.sum() + spectrum.imag.pow(2).sum()).backward()
    checks.close(x.grad, reference.grad, "x.grad through FourierHalf()(x)", rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------- MyLayerNorm


def _affine(layer: nn.Module, features: int, call: str) -> tuple[nn.Parameter, nn.Parameter]:
    """(weight, bias) told apart by their initial values, ones and zeros, as in nn.LayerNorm."""
    params = list(layer.parameters())
    ones = [p for p in params if tuple(p.shape) == (features,) and bool((p == 1).all())]
    zeros = [p for p in params if tuple(p.shape) == (features,) and bool((p == 0).all())]
    checks.check(
        len(params) == 2 and len(ones) == 1 and len(zeros) == 1,
        f"{call} has parameters of shapes {[checks.shape_text(p.shape) for p in params]}; expected a weight of "
        f"ones and a bias of zeros, both of shape ({features},), like nn.LayerNorm({features}).",
        "Wrap both in nn.Parameter: a plain tensor is not learnable.",
    )
    return ones[0], zeros[0]


@pytest.mark.kata("MyLayerNorm")
@pytest.mark.points(1)
@pytest.mark.parametrize("shape", [(4, 6), (2, 3, 6)])
def test_my_layer_norm_matches_at_init(impl, shape):
    layer = checks.call("MyLayerNorm(6)", impl.MyLayerNorm, 6)
    _affine(layer, 6, "MyLayerNorm(6)")
    x = torch.randn(shape) * 2 + 1
    call = f"MyLayerNorm(6)(x) with x of shape {checks.shape_text(shape)}"
    checks.close(
        checks.call(call, layer, x), F.layer_norm(x, (6,), eps=1e-5), call,
        "Normalise over the last dim with the population variance (unbiased=False).", 1e-4, 1e-5,
    )


@pytest.mark.kata("MyLayerNorm")
@pytest.mark.points(2)
@pytest.mark.parametrize("features", [4, 9])
def test_my_layer_norm_learnable_weight_and_bias(impl, features):
    call = f"MyLayerNorm({features})"
    layer = checks.call(call, impl.MyLayerNorm, features)
    weight, bias = _affine(layer, features, call)
    with torch.no_grad():
        weight.copy_(torch.rand(features) + 0.5)
        bias.copy_(torch.randn(features))
    x = torch.randn(5, features) * 3
    expected = F.layer_norm(x, (features,), weight.detach(), bias.detach(), eps=1e-5)
    checks.close(
        checks.call(f"{call}(x)", layer, x), expected, f"{call}(x) after new values were written into weight and bias",
        "Normalise, then multiply by the weight and add the bias.", 1e-4, 1e-5,
    )


@pytest.mark.kata("MyLayerNorm")
@pytest.mark.points(1)
def test_my_layer_norm_eps(impl):
    layer = checks.call("MyLayerNorm(5, eps=0.1)", impl.MyLayerNorm, 5, eps=0.1)
    x = torch.randn(4, 5) * 0.2
    checks.close(
        checks.call("MyLayerNorm(5, eps=0.1)(x)", layer, x), F.layer_norm(x, (5,), eps=0.1),
        "MyLayerNorm(5, eps=0.1)(x) with x of small variance",
        "eps goes inside the square root: (x - mean) / sqrt(var + eps).", 1e-4, 1e-5,
    )


@pytest.mark.kata("MyLayerNorm")
@pytest.mark.points(1)
def test_my_layer_norm_gradients_match_nn_layer_norm(impl):
    layer = checks.call("MyLayerNorm(6)", impl.MyLayerNorm, 6)
    weight, bias = _affine(layer, 6, "MyLayerNorm(6)")
    reference = nn.LayerNorm(6)
    with torch.no_grad():
        for mine, theirs in ((weight, reference.weight), (bias, reference.bias)):
            mine.copy_(torch.randn(6))
            theirs.copy_(mine)
    x = torch.randn(3, 6, requires_grad=True)
    x_ref = x.detach().clone().requires_grad_()
    upstream = torch.randn(3, 6)
    (checks.call("MyLayerNorm(6)(x)", layer, x) * upstream).sum().backward()
    (reference(x_ref) * upstream).sum().backward()
    for name, got, want in (("x", x.grad, x_ref.grad), ("weight", weight.grad, reference.weight.grad),
                            ("bias", bias.grad, reference.bias.grad)):
        checks.tensor(got, f"the {name} gradient through MyLayerNorm(6)(x)")
        checks.close(got, want, f"the {name} gradient through MyLayerNorm(6)(x), against nn.LayerNorm",
                     rtol=1e-4, atol=1e-4)


# ---------------------------------------------------------------- differential: every observable against the reference
#
# Each scenario builds the layer from plain case values, sets its parameters by shape (never by name or
# registration order), runs forward (and backward in float64 where gradients are part of the contract) and
# records everything the docstrings fix: the result, the inputs after the call, parameters, modes, grads.

FLOATS = (torch.float16, torch.float32, torch.float64)
LOOSE = {torch.float16: (1e-2, 1e-2), torch.float32: (1e-3, 1e-4), torch.float64: (1e-7, 1e-9)}


def _upstream(like: torch.Tensor) -> torch.Tensor:
    """A fixed, generic upstream gradient of like's shape and dtype."""
    values = torch.cos(torch.arange(like.numel(), dtype=torch.float64) * 0.9 + 0.3)
    return values.reshape(like.shape).to(like.dtype)


def _grads_by_shape(module: nn.Module) -> list:
    """(shape, grad) of every parameter, sorted by shape: names and registration order differ by style."""
    return [(tuple(p.shape), p.grad) for p in sorted(module.parameters(), key=lambda p: tuple(p.shape))]


def _forward_backward(layer: nn.Module, x: torch.Tensor, *args: Any) -> dict[str, Any]:
    """The result, x after the call and, for float64 x, the gradients of (result * g).sum()."""
    before = x.clone()
    if x.dtype == torch.float64:
        x.requires_grad_()
    out = layer(x, *args)
    seen = {"result": out.detach() if torch.is_tensor(out) else out, "x unchanged": torch.equal(x.detach(), before)}
    if x.requires_grad:
        if out.is_complex():
            g = _upstream(out.real)
            (out.real * g + out.imag * g.flip(-1)).sum().backward()
        else:
            (out * _upstream(out)).sum().backward()
        seen["x.grad"] = x.grad
        seen["parameter grads by shape"] = _grads_by_shape(layer)
    return seen


def _float_tensors(st, dtypes=FLOATS, **kwargs):
    return st.sampled_from(dtypes).flatmap(lambda dtype: differential.tensors(st, dtype=dtype, **kwargs))


@differential.scenario(
    "CenteredLayer",
    cases=lambda st: st.fixed_dictionaries({"x": _float_tensors(st, min_side=0, max_dims=3)}),
    edge=lambda: [{"x": torch.zeros(0, 3)}, {"x": torch.full((2, 3), 1.5, dtype=torch.float64)},
                  {"x": torch.arange(6.0, dtype=torch.float64).reshape(3, 2)},
                  {"x": torch.tensor([[1.0, 2.0], [3.0, 10.0]], dtype=torch.float16)}],
    count=25,
    tolerances=LOOSE,
)
def centered_layer_outcome(impl, x):
    layer = impl.CenteredLayer()
    seen = _forward_backward(layer, x)
    seen["parameter shapes"] = differential.parameter_shapes(layer)
    return seen


def _linear_cases(st):
    return st.fixed_dictionaries({
        "in_units": st.integers(1, 4), "units": st.integers(1, 4),
        "batch": st.lists(st.integers(0, 3), min_size=1, max_size=2).map(tuple),
        "dtype": st.sampled_from((torch.float32, torch.float64)), "seed": st.integers(0, 99)})


@differential.scenario(
    "MyLinear",
    cases=_linear_cases,
    edge=lambda: [{"in_units": 1, "units": 1, "batch": (1,), "dtype": torch.float64, "seed": 0},
                  {"in_units": 3, "units": 2, "batch": (0,), "dtype": torch.float32, "seed": 1},
                  {"in_units": 2, "units": 3, "batch": (2, 3), "dtype": torch.float64, "seed": 2}],
    count=25,
    tolerances=LOOSE,
)
def my_linear_outcome(impl, in_units, units, batch, dtype, seed):
    layer = impl.MyLinear(in_units, units)
    structure = {"parameters": sorted((name, tuple(p.shape)) for name, p in layer.named_parameters()),
                 "buffers": sorted(tuple(b.shape) for b in layer.buffers()),
                 "requires_grad": sorted(p.requires_grad for p in layer.parameters())}
    differential.fill_by_shape_(layer).to(dtype)
    x = torch.randn(*batch, in_units, generator=torch.Generator().manual_seed(seed), dtype=dtype)
    return {**structure, **_forward_backward(layer, x), "parameter dtypes": sorted(
        str(p.dtype) for p in layer.parameters())}


def _swish_cases(st):
    return st.fixed_dictionaries({
        "beta": st.floats(-3, 3, width=32), "learnable": st.booleans(),
        "x": _float_tensors(st, min_side=0, max_dims=3)})


@differential.scenario(
    "Swish",
    cases=_swish_cases,
    edge=lambda: [{"beta": 1.0, "learnable": False, "x": torch.linspace(-4, 4, 9, dtype=torch.float64)},
                  {"beta": -0.5, "learnable": True, "x": torch.linspace(-4, 4, 9, dtype=torch.float64)},
                  {"beta": 2.5, "learnable": True, "x": torch.zeros(0, 3, dtype=torch.float64)},
                  {"beta": 0.0, "learnable": True, "x": torch.ones(2, 2, dtype=torch.float16)}],
    count=30,
    tolerances=LOOSE,
)
def swish_outcome(impl, beta, learnable, x):
    layer = impl.Swish(beta, learnable=learnable)
    params = list(layer.parameters())
    seen = {"parameter sizes": [p.numel() for p in params],
            "beta parameter": [p.detach().reshape(()).clone() for p in params],
            "requires_grad": [p.requires_grad for p in params]}
    layer.to(x.dtype)
    seen.update(_forward_backward(layer, x))
    seen.pop("parameter grads by shape", None)
    if x.dtype == torch.float64:
        seen["beta grad"] = [None if p.grad is None else p.grad.reshape(()) for p in layer.parameters()]
    return seen


def _dropout_cases(st):
    return st.fixed_dictionaries({
        "p": st.one_of(st.floats(0, 0.95), st.sampled_from((0, 0.0, 0.5, -0.1, 1.0, 1.5, "0.5", None))),
        "train": st.booleans(), "x": _float_tensors(st, min_side=0, max_dims=3), "device": st.just("cpu")})


@differential.scenario(
    "MyDropout",
    cases=_dropout_cases,
    edge=lambda: [
        {"p": 0.0, "train": True, "x": torch.arange(6.0).reshape(2, 3), "device": "cpu"},
        {"p": 0.5, "train": False, "x": torch.arange(6.0).reshape(2, 3), "device": "cpu"},
        {"p": 0.5, "train": True, "x": torch.zeros(0, 4), "device": "cpu"},
        {"p": 0.3, "train": True, "x": torch.randn(3, 4, dtype=torch.float16), "device": "cpu"},
        {"p": 0.3, "train": True, "x": torch.randn(3, 4, dtype=torch.float64), "device": "cpu"},
        {"p": 0.4, "train": True, "x": torch.ones(2, 3), "device": "meta"},
        {"p": 0.4, "train": False, "x": torch.ones(2, 3, dtype=torch.float64), "device": "meta"},
        {"p": 1.0, "train": True, "x": torch.ones(2), "device": "cpu"},
        {"p": -0.01, "train": True, "x": torch.ones(2), "device": "cpu"},
        {"p": 0.999, "train": True, "x": torch.ones(2), "device": "cpu"},
    ],
    count=40,
    tolerances=LOOSE,
)
def my_dropout_outcome(impl, p, train, x, device):
    layer = impl.MyDropout(p)
    layer.train(train)
    x = x.to(device)
    before = x.clone()
    grad = x.dtype == torch.float64 and device == "cpu"
    if grad:
        x.requires_grad_()
    out = layer(x)
    seen = {"mode after the call": differential.modes(layer)}
    if device == "meta" or not torch.is_tensor(out):
        return {**seen, "result": out}
    seen["x unchanged"] = torch.equal(x.detach(), before)
    seen["result shape, dtype, device"] = torch.empty_like(out.detach(), device="meta")
    scale = 1.0 / (1.0 - float(p))
    kept = out.detach() != 0
    expected = before.double() * scale
    if not train or p == 0:
        seen["result"] = out.detach()
    else:
        rtol, atol = LOOSE[x.dtype]
        seen["kept entries are x / (1 - p)"] = torch.allclose(
            out.detach().double()[kept], expected[kept], rtol=rtol, atol=atol)
    if grad:
        out.backward(torch.ones_like(out))
        nonzero = before != 0
        seen["x.grad is the mask / (1 - p) where x != 0"] = x.grad is not None and torch.allclose(
            x.grad[nonzero], kept[nonzero].double() * (scale if train else 1.0))
    # A mask of one entry each: on 64 x 64 ones the dropped fraction is p and no row goes entirely.
    many = layer(torch.ones(64, 64, dtype=x.dtype))
    dropped = (many == 0).double()
    seen["fraction dropped is about p"] = abs(dropped.mean().item() - (float(p) if train else 0.0)) < 0.06
    seen["no whole row or column dropped"] = float(p) > 0.5 or bool(
        (dropped.min(dim=1).values == 0).all() and (dropped.min(dim=0).values == 0).all())
    return seen


def _projections_(layer: nn.Module, d: int) -> None:
    """Every projection the docstring allows set to one symmetric W and zero biases, by shape only.

    With q = k = v the result does not depend on which projection is which, a symmetric W gives the same
    x @ W and F.linear(x, W), and zero biases let layers with and without bias agree. Any other
    parameter (an output projection, say) is filled by shape.
    """
    n = torch.arange(d * d, dtype=torch.float64)
    a = (torch.sin(n * 0.7 + 1.0) * 0.6).reshape(d, d)
    w = (a + a.T) / 2
    by_shape = {(d, d): w, (3 * d, d): torch.cat([w, w, w], 0), (d, 3 * d): torch.cat([w, w, w], 1),
                (d,): torch.zeros(d), (3 * d,): torch.zeros(3 * d)}
    differential.fill_by_shape_(layer)
    with torch.no_grad():
        for p in layer.parameters():
            if tuple(p.shape) in by_shape:
                p.copy_(by_shape[tuple(p.shape)].to(p.dtype))


def _attention_cases(st):
    return st.fixed_dictionaries({
        "batch": st.integers(0, 3), "tokens": st.integers(1, 4), "d": st.integers(1, 4),
        "dtype": st.sampled_from((torch.float32, torch.float64)),
        "mask": st.sampled_from(("none", "(T, T)", "(B, T, T)", "causal", "int", "(T + 1, T + 1)", "(T,)")),
        "seed": st.integers(0, 99)})


def _attention_mask(kind: str, batch: int, tokens: int, generator: torch.Generator) -> torch.Tensor | None:
    eye = torch.eye(tokens, dtype=torch.bool)
    if kind == "none":
        return None
    if kind == "causal":
        return torch.ones(tokens, tokens, dtype=torch.bool).tril()
    if kind == "(T, T)":
        return (torch.rand(tokens, tokens, generator=generator) < 0.5) | eye
    if kind == "(B, T, T)":
        return (torch.rand(batch, tokens, tokens, generator=generator) < 0.5) | eye
    if kind == "int":
        return torch.ones(tokens, tokens, dtype=torch.int64)
    if kind == "(T,)":
        return torch.ones(tokens, dtype=torch.bool)
    if kind == "(T - 1, T - 1)":
        return torch.ones(tokens - 1, tokens - 1, dtype=torch.bool)
    return torch.ones(tokens + 1, tokens + 1, dtype=torch.bool)


@differential.scenario(
    "SelfAttention",
    cases=_attention_cases,
    edge=lambda: [{"batch": 0, "tokens": 3, "d": 2, "dtype": torch.float64, "mask": "none", "seed": 0},
                  {"batch": 2, "tokens": 1, "d": 3, "dtype": torch.float64, "mask": "causal", "seed": 1},
                  {"batch": 2, "tokens": 4, "d": 4, "dtype": torch.float64, "mask": "(B, T, T)", "seed": 2},
                  {"batch": 1, "tokens": 3, "d": 2, "dtype": torch.float32, "mask": "int", "seed": 3},
                  {"batch": 1, "tokens": 3, "d": 2, "dtype": torch.float32, "mask": "(T + 1, T + 1)", "seed": 4},
                  {"batch": 2, "tokens": 3, "d": 2, "dtype": torch.float32, "mask": "(T - 1, T - 1)", "seed": 5}],
    count=40,
    tolerances=LOOSE,
)
def self_attention_outcome(impl, batch, tokens, d, dtype, mask, seed):
    layer = impl.SelfAttention(d)
    _projections_(layer, d)
    layer.to(dtype)
    generator = torch.Generator().manual_seed(seed)
    x = (torch.randn(batch, tokens, d, generator=generator) * 2).to(dtype)
    the_mask = _attention_mask(mask, batch, tokens, generator)
    args = () if the_mask is None else (the_mask,)
    mask_before = None if the_mask is None else the_mask.clone()
    seen = _forward_backward(layer, x, *args)
    seen.pop("parameter grads by shape", None)
    if dtype == torch.float64:
        seen["every parameter got a gradient"] = all(p.grad is not None for p in layer.parameters())
    seen["mask unchanged"] = the_mask is None or torch.equal(the_mask, mask_before)
    return seen


def _reduction_cases(st):
    return st.fixed_dictionaries({
        "in_features": st.integers(1, 4), "out_features": st.integers(1, 4), "batch": st.integers(0, 4),
        "dtype": st.sampled_from((torch.float32, torch.float64)), "seed": st.integers(0, 99)})


@differential.scenario(
    "TensorReduction",
    cases=_reduction_cases,
    edge=lambda: [{"in_features": 3, "out_features": 2, "batch": 0, "dtype": torch.float64, "seed": 0},
                  {"in_features": 1, "out_features": 1, "batch": 1, "dtype": torch.float64, "seed": 1},
                  {"in_features": 3, "out_features": 3, "batch": 4, "dtype": torch.float64, "seed": 2}],
    count=25,
    tolerances=LOOSE,
)
def tensor_reduction_outcome(impl, in_features, out_features, batch, dtype, seed):
    layer = impl.TensorReduction(in_features, out_features)
    structure = {"parameter shapes": differential.parameter_shapes(layer)}
    differential.fill_by_shape_(layer).to(dtype)
    x = torch.randn(batch, in_features, generator=torch.Generator().manual_seed(seed), dtype=dtype)
    return {**structure, **_forward_backward(layer, x)}


@differential.scenario(
    "FourierHalf",
    cases=lambda st: st.fixed_dictionaries({"x": _float_tensors(st, (torch.float32, torch.float64), min_side=1,
                                                                 max_side=7, max_dims=3)}),
    edge=lambda: [{"x": torch.ones(1)}, {"x": torch.arange(7.0, dtype=torch.float64)},
                  {"x": torch.zeros(0, 4)}, {"x": torch.randn(3, 2, 5, dtype=torch.float64)},
                  {"x": torch.randn(5, 2, dtype=torch.float64)}],
    count=25,
    tolerances=LOOSE,
)
def fourier_half_outcome(impl, x):
    layer = impl.FourierHalf()
    seen = _forward_backward(layer, x)
    seen["parameter shapes"] = differential.parameter_shapes(layer)
    return seen


def _layer_norm_cases(st):
    return st.fixed_dictionaries({
        "features": st.integers(1, 5), "eps": st.sampled_from((1e-5, 1e-3, 0.1, 1.0)),
        "batch": st.lists(st.integers(0, 3), min_size=1, max_size=2).map(tuple),
        "dtype": st.sampled_from((torch.float32, torch.float64)), "seed": st.integers(0, 99)})


@differential.scenario(
    "MyLayerNorm",
    cases=_layer_norm_cases,
    edge=lambda: [{"features": 1, "eps": 1e-5, "batch": (3,), "dtype": torch.float64, "seed": 0},
                  {"features": 4, "eps": 0.1, "batch": (0,), "dtype": torch.float64, "seed": 1},
                  {"features": 3, "eps": 1.0, "batch": (2, 3), "dtype": torch.float64, "seed": 2}],
    count=30,
    tolerances=LOOSE,
)
def my_layer_norm_outcome(impl, features, eps, batch, dtype, seed):
    layer = impl.MyLayerNorm(features, eps=eps)
    params = list(layer.parameters())
    ones = [p for p in params if bool((p == 1).all())]
    zeros = [p for p in params if bool((p == 0).all())]
    seen = {"parameter shapes": differential.parameter_shapes(layer),
            "a weight of ones and a bias of zeros": len(params) == 2 and len(ones) == 1 and len(zeros) == 1}
    layer.to(dtype)
    generator = torch.Generator().manual_seed(seed)
    x = (torch.randn(*batch, features, generator=generator) * 3 + 1).to(dtype)
    seen["result at init"] = layer(x).detach()
    if seen["a weight of ones and a bias of zeros"]:
        weight, bias = ones[0], zeros[0]
        with torch.no_grad():
            weight.copy_(torch.rand(features, generator=generator) + 0.5)
            bias.copy_(torch.randn(features, generator=generator))
        seen.update(_forward_backward(layer, x))
        seen.pop("parameter grads by shape", None)
        if x.dtype == torch.float64:
            seen["weight.grad"], seen["bias.grad"] = weight.grad, bias.grad
    return seen


@pytest.mark.kata("CenteredLayer")
@pytest.mark.points(2)
def test_centered_layer_agrees_with_the_reference_on_generated_cases(impl):
    centered_layer_outcome.check(impl)


@pytest.mark.kata("MyLinear")
@pytest.mark.points(2)
def test_my_linear_agrees_with_the_reference_on_generated_cases(impl):
    my_linear_outcome.check(impl)


@pytest.mark.kata("Swish")
@pytest.mark.points(2)
def test_swish_agrees_with_the_reference_on_generated_cases(impl):
    swish_outcome.check(impl)


@pytest.mark.kata("MyDropout")
@pytest.mark.points(2)
def test_my_dropout_agrees_with_the_reference_on_generated_cases(impl):
    my_dropout_outcome.check(impl)


@pytest.mark.kata("SelfAttention")
@pytest.mark.points(2)
def test_self_attention_agrees_with_the_reference_on_generated_cases(impl):
    self_attention_outcome.check(impl)


@pytest.mark.kata("TensorReduction")
@pytest.mark.points(2)
def test_tensor_reduction_agrees_with_the_reference_on_generated_cases(impl):
    tensor_reduction_outcome.check(impl)


@pytest.mark.kata("FourierHalf")
@pytest.mark.points(2)
def test_fourier_half_agrees_with_the_reference_on_generated_cases(impl):
    fourier_half_outcome.check(impl)


@pytest.mark.kata("MyLayerNorm")
@pytest.mark.points(2)
def test_my_layer_norm_agrees_with_the_reference_on_generated_cases(impl):
    my_layer_norm_outcome.check(impl)
