"""Chapter 01: tensors. Memory sharing, views, broadcasting and dtypes."""

import math

import numpy as np
import torch


def _require_array(a: object, name: str = "a") -> np.ndarray:
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(a).__name__}")
    return a


def _require_tensor(x: object, name: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    return x


def from_numpy_shared(a: np.ndarray) -> torch.Tensor:
    """A tensor that shares memory with the NumPy array ``a``: writing to one changes the other.

    Any shape (empty arrays too), any layout (a transposed array as well) and any dtype that torch
    shares with NumPy (bool, integers, floats): the tensor keeps a's dtype and shape. ``a`` not an
    ndarray: TypeError.
    """
    _require_array(a)
    # TODO: return a tensor that reads and writes a's own memory, with a's values, dtype and shape:
    #   no copy, so a write to either shows in the other.
    raise NotImplementedError('from_numpy_shared: not written yet, see the TODO above this line')


def from_numpy_copy(a: np.ndarray) -> torch.Tensor:
    """A tensor with a's values, dtype and shape that owns its memory (independent of ``a``).

    Any shape (empty arrays too) and any dtype that torch shares with NumPy (bool, integers, floats).
    ``a`` not an ndarray: TypeError.
    """
    _require_array(a)
    # TODO: return a tensor with a's values, dtype and shape that owns its memory: a write to a
    #   afterwards must not change it.
    raise NotImplementedError('from_numpy_copy: not written yet, see the TODO above this line')


def flatten_batch(x: torch.Tensor) -> torch.Tensor:
    """(B, *) -> (B, prod(*)); a view of x (no copy) when x is contiguous.

    Any B works, 0 included: an empty batch of shape (0, 3, 4) gives shape (0, 12), and a batch of
    scalars (B,) gives (B, 1). The result keeps x's dtype and device (the ``meta`` device too) and is
    differentiable in x. x not a tensor: TypeError; a 0-d x: ValueError.
    """
    _require_tensor(x, "x")
    if x.dim() < 1:
        raise ValueError(f"x must have a batch dimension, got a tensor of shape {tuple(x.shape)}")
    # TODO: keep dim 0 and merge all the other dims into one: a view of x when x is contiguous, a
    #   copy only when it must be (x may be non-contiguous, e.g. transposed). An empty batch
    #   must work too.
    raise NotImplementedError('flatten_batch: not written yet, see the TODO above this line')


def pairwise_sq_dists(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(n, d) and (m, d) -> (n, m) squared Euclidean distances, by broadcasting (no loop over rows).

    n or m may be 0; the result keeps x's dtype and device and is differentiable in x and y.
    x or y not 2-D, or with different numbers of features: ValueError.
    """
    _require_tensor(x, "x")
    _require_tensor(y, "y")
    if x.dim() != 2 or y.dim() != 2:
        raise ValueError(f"x and y must be 2-D (n, d) and (m, d), got shapes {tuple(x.shape)} and {tuple(y.shape)}")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"x and y must have the same number of features, got {x.shape[1]} and {y.shape[1]}")
    # TODO: return the (n, m) squared Euclidean distances ||x_i - y_j||^2 for every pair at once,
    #   with tensor operations that do not loop over the rows in Python.
    raise NotImplementedError('pairwise_sq_dists: not written yet, see the TODO above this line')


def batch_matvec(A: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """A (B, n, m) times v (B, m) -> (B, n): one matrix-vector product per batch element.

    B may be 0, and n or m may be 1 (the result is still (B, n)). The result keeps A's dtype and device
    and is differentiable in A and v. Shapes that do not fit: ValueError.
    """
    _require_tensor(A, "A")
    _require_tensor(v, "v")
    if A.dim() != 3 or v.dim() != 2 or A.shape[0] != v.shape[0] or A.shape[2] != v.shape[1]:
        raise ValueError(f"A must be (B, n, m) and v (B, m), got shapes {tuple(A.shape)} and {tuple(v.shape)}")
    # TODO: return the (B, n) products A[b] @ v[b] for the whole batch in one operation, without a
    #   loop over b (also when n or m is 1).
    raise NotImplementedError('batch_matvec: not written yet, see the TODO above this line')


def one_hot(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(N,) int64 labels -> (N, num_classes) float32 one-hot rows; a label outside [0, C) is a ValueError.

    N may be 0 (an empty batch gives shape (0, num_classes)). Not an integer tensor: TypeError;
    labels not 1-D or num_classes not a positive int: ValueError.
    """
    _require_tensor(labels, "labels")
    if labels.dtype.is_floating_point or labels.dtype.is_complex or labels.dtype == torch.bool:
        raise TypeError(f"labels must be an integer tensor, got dtype {labels.dtype}")
    if labels.dim() != 1:
        raise ValueError(f"labels must be 1-D (N,), got shape {tuple(labels.shape)}")
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
    # TODO: raise ValueError naming labels when any label is < 0 or >= num_classes; otherwise return
    #   float32 (N, num_classes) rows of zeros with a single 1 at each label's column.
    raise NotImplementedError('one_hot: not written yet, see the TODO above this line')


def standardize(x: torch.Tensor, dim: int) -> torch.Tensor:
    """Zero mean and unit population std along dim; a constant slice becomes zeros, never NaN.

    The result has x's shape, floating dtype (float16, float32 and float64 alike) and device, and is
    differentiable in x. A slice is constant when all its entries are
    equal, however the mean rounds. x not floating point: TypeError; dim not an int in
    [-x.dim(), x.dim()): ValueError.
    """
    _require_tensor(x, "x")
    if not x.dtype.is_floating_point:
        raise TypeError(f"x must be a floating-point tensor, got dtype {x.dtype}")
    if isinstance(dim, bool) or not isinstance(dim, int) or not -x.dim() <= dim < x.dim():
        raise ValueError(f"dim must be an int in [{-x.dim()}, {x.dim()}), got {dim!r}")
    # TODO: subtract the mean along dim and divide by the population standard deviation (divide by
    #   n, not n - 1); a constant slice has std 0 and must come out as zeros, never NaN.
    raise NotImplementedError('standardize: not written yet, see the TODO above this line')
