"""Public checks for chapter 01, tensors: memory sharing, views, values against plain torch, no loops.

The hidden checks add more dtypes, layouts, empty batches, gradients and bad arguments.
"""

import numpy as np
import pytest
import torch

from torchkata import checks
from torchkata.graderkit import counting


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
    ints = np.arange(4, dtype=np.int64)
    copied = checks.call("from_numpy_copy(a)", impl.from_numpy_copy, ints)
    checks.close(
        copied, torch.arange(4), "from_numpy_copy(a) with a = np.arange(4, dtype=int64)",
        "Keep a's dtype: an int64 array gives an int64 tensor.",
    )


@pytest.mark.kata("flatten_batch")
@pytest.mark.points(1)
def test_flatten_batch_shape(impl):
    x = torch.randn(2, 3, 4)
    out = checks.call("flatten_batch(x)", impl.flatten_batch, x)
    call = "flatten_batch(x) with x of shape (2, 3, 4)"
    checks.shape(out, (2, 12), call, "Keep the batch dimension and merge the others: (B, 3 * 4).")
    checks.close(out, torch.stack([x[0].flatten(), x[1].flatten()]), call, "Row b holds x[b]'s entries in order.")
    checks.check(
        out.data_ptr() == x.data_ptr() and out._base is not None,
        f"{call} returned a copy; expected a view of x, sharing its memory (x is contiguous).",
        "x.reshape(...) or torch.flatten(x, 1) return a view when they can; .clone() or .contiguous() copy.",
    )


@pytest.mark.kata("flatten_batch")
@pytest.mark.points(1)
def test_flatten_batch_of_a_transposed_tensor(impl):
    x = torch.arange(24.0).reshape(2, 4, 3).transpose(1, 2)
    call = "flatten_batch(x) with x = arange(24).reshape(2, 4, 3).transpose(1, 2), not contiguous"
    out = checks.call(call, impl.flatten_batch, x)
    checks.close(
        out, torch.stack([x[0].flatten(), x[1].flatten()]), call,
        "A non-contiguous x cannot be viewed with a new shape: x.view raises; reshape copies only when it must.",
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


@pytest.mark.kata("pairwise_sq_dists")
@pytest.mark.points(1)
def test_pairwise_sq_dists_makes_no_loop_over_rows(impl):
    small = (torch.randn(2, 3), torch.randn(2, 3))
    large = (torch.randn(30, 3), torch.randn(20, 3))
    call = "pairwise_sq_dists(x, y)"
    out = checks.call(f"{call} with x (2, 3), y (2, 3)", impl.pairwise_sq_dists, *small)
    checks.close(
        out, ((small[0][:, None, :] - small[1][None, :, :]) ** 2).sum(-1), f"{call} with x (2, 3), y (2, 3)",
        "No loop earns nothing without the right distances.", rtol=1e-4, atol=1e-5,
    )
    few = checks.call(f"{call} with x (2, 3), y (2, 3)", counting.torch_calls, impl.pairwise_sq_dists, *small)
    many = checks.call(f"{call} with x (30, 3), y (20, 3)", counting.torch_calls, impl.pairwise_sq_dists, *large)
    checks.check(
        many <= few + 3,
        f"{call} made {few} torch calls for 2 x 2 points and {many} for 30 x 20 points; expected the same "
        "number whatever the number of rows.",
        "A Python loop over rows does not scale: broadcast x[:, None, :] - y[None, :, :] instead.",
    )


@pytest.mark.kata("batch_matvec")
@pytest.mark.points(1)
def test_batch_matvec_values(impl):
    A, v = torch.randn(3, 4, 5), torch.randn(3, 5)
    out = checks.call("batch_matvec(A, v)", impl.batch_matvec, A, v)
    call = "batch_matvec(A, v) with A of shape (3, 4, 5) and v of shape (3, 5)"
    checks.shape(out, (3, 4), call)
    expected = torch.stack([A[b] @ v[b] for b in range(3)])
    checks.close(out, expected, call, "Row b is A[b] @ v[b].", rtol=1e-4, atol=1e-5)


@pytest.mark.kata("one_hot")
@pytest.mark.points(1)
def test_one_hot_shape_and_dtype(impl):
    labels = torch.tensor([0, 2, 1])
    out = checks.call("one_hot(labels, 4)", impl.one_hot, labels, 4)
    call = "one_hot(labels, 4) with labels = [0, 2, 1]"
    checks.shape(out, (3, 4), call, "One row per label and num_classes columns.")
    checks.dtype(out, torch.float32, call, "F.one_hot returns int64: convert with .float().")
    checks.close(out, torch.eye(4)[labels], call, "Row i is 1 at column labels[i] and 0 elsewhere.")
    checks.raises(
        ValueError, lambda: impl.one_hot(torch.tensor([0, 4]), 4), "one_hot(tensor([0, 4]), 4)",
        "Check the range yourself first: a label must lie in [0, num_classes).",
    )


@pytest.mark.kata("standardize")
@pytest.mark.points(1)
def test_standardize_values(impl):
    x = torch.randn(4, 6) * 3 + 1
    out = checks.call("standardize(x, dim=1)", impl.standardize, x, 1)
    call = "standardize(x, dim=1) with x of shape (4, 6)"
    checks.shape(out, (4, 6), call, "Standardising keeps the shape of x.")
    centered = x - x.sum(dim=1, keepdim=True) / 6
    population_std = (centered.pow(2).sum(dim=1, keepdim=True) / 6).sqrt()
    checks.close(
        out, centered / population_std, call,
        "The population std divides by n, not n - 1: x.std(dim, correction=0).", rtol=1e-4, atol=1e-5,
    )


@pytest.mark.kata("standardize")
@pytest.mark.points(1)
def test_standardize_constant_slice_gives_zeros(impl):
    x = torch.tensor([[2.0, 2.0, 2.0], [1.0, 2.0, 3.0]])
    call = "standardize(x, dim=1) with x = [[2, 2, 2], [1, 2, 3]]"
    out = checks.call(call, impl.standardize, x, 1)
    expected = torch.tensor([[0.0, 0.0, 0.0], [-1.0, 0.0, 1.0]]) * (1.5**0.5)
    checks.close(
        out, expected, call,
        "A constant slice has std 0, and 0 / 0 is NaN: return zeros there (torch.where).", rtol=1e-4, atol=1e-5,
    )
