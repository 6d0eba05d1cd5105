"""Public checks for chapter 01, tensors: shapes, dtypes and the basic behaviour of each kata."""

import numpy as np
import pytest
import torch

from torchkata import checks


@pytest.mark.kata("from_numpy_shared")
@pytest.mark.points(1)
def test_from_numpy_shared_sees_array_writes(impl):
    a = np.arange(6, dtype=np.float32)
    t = checks.call("from_numpy_shared(a)", impl.from_numpy_shared, a)
    checks.close(t, torch.arange(6, dtype=torch.float32), "from_numpy_shared(a) with a = np.arange(6, dtype=float32)")
    a[0] = 42.0
    checks.check(
        float(t[0]) == 42.0,
        f"after a[0] = 42, the tensor from from_numpy_shared(a) still holds {float(t[0])} at index 0; "
        "expected 42 (the tensor and the array share memory).",
        "torch.tensor(a) copies the data; torch.from_numpy(a) shares it.",
    )


@pytest.mark.kata("from_numpy_copy")
@pytest.mark.points(1)
def test_from_numpy_copy_ignores_array_writes(impl):
    a = np.arange(6, dtype=np.float32)
    t = checks.call("from_numpy_copy(a)", impl.from_numpy_copy, a)
    checks.close(t, torch.arange(6, dtype=torch.float32), "from_numpy_copy(a) with a = np.arange(6, dtype=float32)")
    a[0] = 42.0
    checks.check(
        float(t[0]) == 0.0,
        f"after a[0] = 42, the tensor from from_numpy_copy(a) holds {float(t[0])} at index 0; "
        "expected it to keep 0 (its own copy of the data).",
        "torch.from_numpy(a) shares a's memory; torch.tensor(a) copies it.",
    )


@pytest.mark.kata("flatten_batch")
@pytest.mark.points(1)
def test_flatten_batch_shape(impl):
    x = torch.randn(2, 3, 4)
    out = checks.call("flatten_batch(x)", impl.flatten_batch, x)
    checks.shape(
        out, (2, 12), "flatten_batch(x) with x of shape (2, 3, 4)",
        "Keep the batch dimension and merge the others: (B, 3 * 4).",
    )


@pytest.mark.kata("pairwise_sq_dists")
@pytest.mark.points(1)
def test_pairwise_sq_dists_shape_and_values(impl):
    x = torch.tensor([[0.0, 0.0], [1.0, 1.0]])
    y = torch.tensor([[0.0, 0.0], [3.0, 4.0], [1.0, 0.0]])
    out = checks.call("pairwise_sq_dists(x, y)", impl.pairwise_sq_dists, x, y)
    call = "pairwise_sq_dists(x, y) with x = [[0, 0], [1, 1]], y = [[0, 0], [3, 4], [1, 0]]"
    checks.shape(out, (2, 3), call, "The result has one row per row of x and one column per row of y.")
    checks.close(
        out, torch.tensor([[0.0, 25.0, 1.0], [2.0, 13.0, 1.0]]), call,
        "Squared distances, no square root: ||(0, 0) - (3, 4)||^2 = 25.", atol=1e-5,
    )


@pytest.mark.kata("batch_matvec")
@pytest.mark.points(1)
def test_batch_matvec_shape(impl):
    A, v = torch.randn(3, 4, 5), torch.randn(3, 5)
    out = checks.call("batch_matvec(A, v)", impl.batch_matvec, A, v)
    checks.shape(out, (3, 4), "batch_matvec(A, v) with A of shape (3, 4, 5) and v of shape (3, 5)")


@pytest.mark.kata("one_hot")
@pytest.mark.points(1)
def test_one_hot_shape_and_dtype(impl):
    labels = torch.tensor([0, 2, 1])
    out = checks.call("one_hot(labels, 4)", impl.one_hot, labels, 4)
    call = "one_hot(labels, 4) with labels = [0, 2, 1]"
    checks.shape(out, (3, 4), call, "One row per label and num_classes columns.")
    checks.dtype(out, torch.float32, call, "F.one_hot returns int64: convert with .float().")


@pytest.mark.kata("standardize")
@pytest.mark.points(1)
def test_standardize_shape_and_finite(impl):
    x = torch.randn(4, 6) * 3 + 1
    out = checks.call("standardize(x, dim=1)", impl.standardize, x, 1)
    call = "standardize(x, dim=1) with x of shape (4, 6)"
    checks.shape(out, (4, 6), call, "Standardising keeps the shape of x.")
    checks.check(bool(torch.isfinite(out).all()), f"{call} returned NaN or Inf entries; expected finite values.")
