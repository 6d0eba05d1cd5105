"""Chapter 07: layers. Custom layers with and without parameters, written from tensor operations."""

import math

import torch
from torch import nn


def _check_positive_int(name: str, value: object) -> None:
    """Raise TypeError/ValueError naming the argument unless value is a positive int."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be positive, got {value}")


class CenteredLayer(nn.Module):
    """Subtracts the mean of all entries: X - X.mean(). No parameters.

    The result is a new tensor with X's shape, dtype and device (X itself is left unchanged);
    gradients flow through the mean as well.
    """

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        # TODO: return X minus the mean of all its entries, with gradients flowing through the mean
        #   too.
        raise NotImplementedError('CenteredLayer.forward: not written yet, see the TODO above this line')


class MyLinear(nn.Module):
    """relu(X @ weight + bias) with parameters weight (in_units, units) and bias (units,).

    Exactly these two parameters, registered under those names; no buffers. X has shape
    (..., in_units) and the dtype of the parameters; the result has shape (..., units).
    in_units or units not a positive int: TypeError / ValueError naming it.
    """

    def __init__(self, in_units: int, units: int) -> None:
        super().__init__()
        _check_positive_int("in_units", in_units)
        _check_positive_int("units", units)
        # TODO: two learnable parameters: weight of shape (in_units, units) and bias of shape
        #   (units,), registered so they are trained, saved and moved with the module.
        raise NotImplementedError('MyLinear.__init__: not written yet, see the TODO above this line')

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        # TODO: return relu(X @ weight + bias).
        raise NotImplementedError('MyLinear.forward: not written yet, see the TODO above this line')


class Swish(nn.Module):
    """x * sigmoid(beta * x); beta is a trainable scalar Parameter only when learnable=True.

    learnable=True: exactly one parameter, beta (one element, starting at the given beta), which
    forward uses so that it gets a gradient. learnable=False: no parameters at all. The result has
    X's shape and dtype (X of at least one dim; convert the module with .to(dtype) for other dtypes).
    """

    def __init__(self, beta: float = 1.0, learnable: bool = False) -> None:
        super().__init__()
        # TODO: keep beta: a learnable scalar parameter when learnable=True, otherwise a plain
        #   number, so the module has no parameters.
        raise NotImplementedError('Swish.__init__: not written yet, see the TODO above this line')

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        # TODO: return X * sigmoid(beta * X).
        raise NotImplementedError('Swish.forward: not written yet, see the TODO above this line')


class MyDropout(nn.Module):
    """Inverted dropout: in train mode zero each entry with probability p and scale the rest by 1/(1-p).

    p: a number with 0 <= p < 1 (p = 0 is valid and drops nothing); otherwise ValueError, or
    TypeError when it is not a number, naming p. In train mode every entry is dropped on its own
    (a fresh mask per call, drawn on X's device, so a ``meta`` input works too) and each kept entry
    becomes X / (1 - p); in eval mode the values of X come back unchanged. The result has X's
    shape, dtype and device; X itself is never modified; the mode of the module is left alone.
    """

    def __init__(self, p: float) -> None:
        super().__init__()
        # TODO: keep p; raise ValueError naming p unless 0 <= p < 1 (p = 1 would drop everything and
        #   divide by zero), TypeError when it is not a number.
        raise NotImplementedError('MyDropout.__init__: not written yet, see the TODO above this line')

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        # TODO: in eval mode return X unchanged; in train mode zero each entry with probability p
        #   and divide the kept ones by (1 - p), so the expected value stays X, without changing
        #   X in place.
        raise NotImplementedError('MyDropout.forward: not written yet, see the TODO above this line')


class SelfAttention(nn.Module):
    """Single-head scaled dot-product self-attention, (B, T, D) -> (B, T, D).

    Query, key and value are linear projections of x (three nn.Linear(d_model, d_model), or one
    fused nn.Linear(d_model, 3 * d_model)); there is no output projection. forward(x, mask)
    takes an optional bool mask of shape (T, T) or (B, T, T) where True means "may attend";
    every query may attend to at least one key. A mask that is not a bool tensor raises
    TypeError; a mask of another shape raises ValueError (both naming mask). Any batch size
    works, 0 included; the result has x's dtype (the module converted with .to(dtype)).
    x and mask are left unchanged.
    """

    def __init__(self, d_model: int) -> None:
        super().__init__()
        _check_positive_int("d_model", d_model)
        # TODO: the query, key and value projections, each d_model -> d_model, and no output
        #   projection.
        raise NotImplementedError('SelfAttention.__init__: not written yet, see the TODO above this line')

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        # TODO: return softmax(q k^T / sqrt(D)) v, where the softmax over the keys makes each
        #   query's weights sum to 1, and a False entry of the mask means that query may not
        #   attend to that key. A mask that is not bool: TypeError; not (T, T) or (B, T, T):
        #   ValueError.
        raise NotImplementedError('SelfAttention.forward: not written yet, see the TODO above this line')


class TensorReduction(nn.Module):
    """y[b, k] = sum over i, j of weight[i, j, k] * x[b, i] * x[b, j], for x of shape (B, in_features).

    One parameter, weight, of shape (in_features, in_features, out_features), and nothing else.
    Any batch size B works, 0 included; the result (B, out_features) has x's dtype.
    """

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        _check_positive_int("in_features", in_features)
        _check_positive_int("out_features", out_features)
        # TODO: one learnable parameter W of shape (in_features, in_features, out_features).
        raise NotImplementedError('TensorReduction.__init__: not written yet, see the TODO above this line')

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        # TODO: return y_k = sum over i, j of W[i, j, k] x_i x_j for every x in the batch: shape (B,
        #   out_features).
        raise NotImplementedError('TensorReduction.forward: not written yet, see the TODO above this line')


class FourierHalf(nn.Module):
    """The first n // 2 coefficients of torch.fft.fft along the last dim (of length n >= 1). No parameters.

    The result is complex: complex64 for float32 input, complex128 for float64; the other dims
    are kept (an empty batch too); it is differentiable in X.
    """

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        # TODO: return the first n // 2 discrete Fourier coefficients of X along its last dim (n its
        #   size there), as complex numbers.
        raise NotImplementedError('FourierHalf.forward: not written yet, see the TODO above this line')


class MyLayerNorm(nn.Module):
    """Layer normalisation over the last dim, like nn.LayerNorm(features, eps).

    Two parameters of shape (features,): a weight that starts at ones and a bias that starts at
    zeros; eps is added to the population variance inside the square root. Only the last dim
    is normalised, whatever the number of leading dims (0 samples included).
    """

    def __init__(self, features: int, eps: float = 1e-5) -> None:
        super().__init__()
        _check_positive_int("features", features)
        # TODO: keep eps, a learnable weight of ones and a learnable bias of zeros, both of shape
        #   (features,).
        raise NotImplementedError('MyLayerNorm.__init__: not written yet, see the TODO above this line')

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        # TODO: normalise over the last dim with the mean and the population (biased) variance, (X -
        #   mean) / sqrt(var + eps), then scale by weight and shift by bias: the same numbers as
        #   nn.LayerNorm.
        raise NotImplementedError('MyLayerNorm.forward: not written yet, see the TODO above this line')
