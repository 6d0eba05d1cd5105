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
        ### BEGIN SOLUTION
        # TODO: return X minus the mean of all its entries, with gradients flowing through the mean
        #   too.
        return X - X.mean()
        ### END SOLUTION


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
        ### BEGIN SOLUTION
        # TODO: two learnable parameters: weight of shape (in_units, units) and bias of shape
        #   (units,), registered so they are trained, saved and moved with the module.
        self.weight = nn.Parameter(torch.randn(in_units, units))
        self.bias = nn.Parameter(torch.randn(units))
        ### END SOLUTION

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        ### BEGIN SOLUTION
        # TODO: return relu(X @ weight + bias).
        return torch.relu(X @ self.weight + self.bias)
        ### END SOLUTION


class Swish(nn.Module):
    """x * sigmoid(beta * x); beta is a trainable scalar Parameter only when learnable=True.

    learnable=True: exactly one parameter, beta (one element, starting at the given beta), which
    forward uses so that it gets a gradient. learnable=False: no parameters at all. The result has
    X's shape and dtype (X of at least one dim; convert the module with .to(dtype) for other dtypes).
    """

    def __init__(self, beta: float = 1.0, learnable: bool = False) -> None:
        super().__init__()
        ### BEGIN SOLUTION
        # TODO: keep beta: a learnable scalar parameter when learnable=True, otherwise a plain
        #   number, so the module has no parameters.
        self.beta = nn.Parameter(torch.tensor(float(beta))) if learnable else float(beta)
        ### END SOLUTION

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        ### BEGIN SOLUTION
        # TODO: return X * sigmoid(beta * X).
        return X * torch.sigmoid(self.beta * X)
        ### END SOLUTION


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
        ### BEGIN SOLUTION
        # TODO: keep p; raise ValueError naming p unless 0 <= p < 1 (p = 1 would drop everything and
        #   divide by zero), TypeError when it is not a number.
        if isinstance(p, bool) or not isinstance(p, int | float):
            raise TypeError(f"p must be a float, got {type(p).__name__}")
        if not 0 <= p < 1:
            raise ValueError(f"p must be in [0, 1), got {p}")
        self.p = float(p)
        ### END SOLUTION

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        ### BEGIN SOLUTION
        # TODO: in eval mode return X unchanged; in train mode zero each entry with probability p
        #   and divide the kept ones by (1 - p), so the expected value stays X, without changing
        #   X in place.
        if not self.training or self.p == 0:
            return X
        keep = torch.rand_like(X) >= self.p
        return X * keep / (1 - self.p)
        ### END SOLUTION


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
        ### BEGIN SOLUTION
        # TODO: the query, key and value projections, each d_model -> d_model, and no output
        #   projection.
        self.query = nn.Linear(d_model, d_model)
        self.key = nn.Linear(d_model, d_model)
        self.value = nn.Linear(d_model, d_model)
        ### END SOLUTION

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        ### BEGIN SOLUTION
        # TODO: return softmax(q k^T / sqrt(D)) v, where the softmax over the keys makes each
        #   query's weights sum to 1, and a False entry of the mask means that query may not
        #   attend to that key. A mask that is not bool: TypeError; not (T, T) or (B, T, T):
        #   ValueError.
        q, k, v = self.query(x), self.key(x), self.value(x)
        scores = q @ k.transpose(-2, -1) / math.sqrt(x.shape[-1])
        if mask is not None:
            if mask.dtype != torch.bool:
                raise TypeError(f"mask must be a bool tensor, got {mask.dtype}")
            if mask.shape[-2:] != scores.shape[-2:] or mask.dim() not in (2, 3):
                raise ValueError(f"mask must have shape (T, T) or (B, T, T), got {tuple(mask.shape)}")
            scores = scores.masked_fill(~mask, float("-inf"))
        return torch.softmax(scores, dim=-1) @ v
        ### END SOLUTION


class TensorReduction(nn.Module):
    """y[b, k] = sum over i, j of weight[i, j, k] * x[b, i] * x[b, j], for x of shape (B, in_features).

    One parameter, weight, of shape (in_features, in_features, out_features), and nothing else.
    Any batch size B works, 0 included; the result (B, out_features) has x's dtype.
    """

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        _check_positive_int("in_features", in_features)
        _check_positive_int("out_features", out_features)
        ### BEGIN SOLUTION
        # TODO: one learnable parameter W of shape (in_features, in_features, out_features).
        self.weight = nn.Parameter(torch.randn(in_features, in_features, out_features) / in_features)
        ### END SOLUTION

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        ### BEGIN SOLUTION
        # TODO: return y_k = sum over i, j of W[i, j, k] x_i x_j for every x in the batch: shape (B,
        #   out_features).
        return torch.einsum("bi,bj,ijk->bk", X, X, self.weight)
        ### END SOLUTION


class FourierHalf(nn.Module):
    """The first n // 2 coefficients of torch.fft.fft along the last dim (of length n >= 1). No parameters.

    The result is complex: complex64 for float32 input, complex128 for float64; the other dims
    are kept (an empty batch too); it is differentiable in X.
    """

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        ### BEGIN SOLUTION
        # TODO: return the first n // 2 discrete Fourier coefficients of X along its last dim (n its
        #   size there), as complex numbers.
        return torch.fft.fft(X)[..., : X.shape[-1] // 2]
        ### END SOLUTION


class MyLayerNorm(nn.Module):
    """Layer normalisation over the last dim, like nn.LayerNorm(features, eps).

    Two parameters of shape (features,): a weight that starts at ones and a bias that starts at
    zeros; eps is added to the population variance inside the square root. Only the last dim
    is normalised, whatever the number of leading dims (0 samples included).
    """

    def __init__(self, features: int, eps: float = 1e-5) -> None:
        super().__init__()
        _check_positive_int("features", features)
        ### BEGIN SOLUTION
        # TODO: keep eps, a learnable weight of ones and a learnable bias of zeros, both of shape
        #   (features,).
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(features))
        self.bias = nn.Parameter(torch.zeros(features))
        ### END SOLUTION

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        ### BEGIN SOLUTION
        # TODO: normalise over the last dim with the mean and the population (biased) variance, (X -
        #   mean) / sqrt(var + eps), then scale by weight and shift by bias: the same numbers as
        #   nn.LayerNorm.
        mean = X.mean(dim=-1, keepdim=True)
        var = X.var(dim=-1, unbiased=False, keepdim=True)
        return (X - mean) / torch.sqrt(var + self.eps) * self.weight + self.bias
        ### END SOLUTION
