"""Hidden checks for chapter 01, tensors: memory sharing, views, values against independent computations."""

import numpy as np
import pytest
import torch

from torchkata import checks
from torchkata.graderkit import counting, differential


def _arrays() -> list[tuple[str, np.ndarray]]:
    """Arrays of several dtypes and layouts, each with a readable description."""
    rng = np.random.default_rng(1)
    return [
        ("a float32 array of shape (5,)", rng.standard_normal(5).astype(np.float32)),
        ("a float64 array of shape (3, 4)", rng.standard_normal((3, 4))),
        ("an int64 array of shape (2, 3)", rng.integers(-9, 9, size=(2, 3)).astype(np.int64)),
        ("a transposed float32 array of shape (4, 3)", rng.standard_normal((3, 4)).astype(np.float32).T),
    ]


def _expected_tensor(a: np.ndarray) -> torch.Tensor:
    """The values and dtype a tensor made from ``a`` should have, computed on a private copy."""
    return torch.from_numpy(np.array(a, copy=True))


def _first_index(a: np.ndarray) -> tuple[int, ...]:
    return (0,) * a.ndim


def _owns_separate_memory(t: torch.Tensor, a: np.ndarray) -> bool:
    start = t.untyped_storage().data_ptr()
    end = start + t.untyped_storage().nbytes()
    a_start = a.__array_interface__["data"][0]
    return not (start <= a_start < end)


@pytest.mark.kata("from_numpy_shared")
@pytest.mark.points(2)
def test_from_numpy_shared_shares_both_ways(impl):
    for text, a in _arrays():
        call = f"from_numpy_shared(a) with a {text}"
        t = checks.call(call, impl.from_numpy_shared, a)
        checks.close(t, _expected_tensor(a), call, "Keep the array's dtype and shape: no .float() or reshaping.")
        index = _first_index(a)
        a[index] = 7
        checks.check(
            t[index].item() == 7,
            f"after writing 7 into the array, {call} reads {t[index].item()} at index {index}; expected 7.",
            "The tensor must use the array's memory: torch.from_numpy(a), not torch.tensor(a).",
        )
        t[index] = -3
        checks.check(
            a[index] == -3,
            f"after writing -3 into the tensor from {call}, the array holds {a[index]} at index {index}; expected -3.",
            "The tensor must use the array's memory: torch.from_numpy(a), not torch.tensor(a).",
        )


@pytest.mark.kata("from_numpy_copy")
@pytest.mark.points(1)
def test_from_numpy_copy_values_and_dtype(impl):
    for text, a in _arrays():
        call = f"from_numpy_copy(a) with a {text}"
        t = checks.call(call, impl.from_numpy_copy, a)
        checks.close(t, _expected_tensor(a), call, "Keep the array's dtype, shape and values.")


@pytest.mark.kata("from_numpy_copy")
@pytest.mark.points(2)
def test_from_numpy_copy_is_independent(impl):
    for text, a in _arrays():
        call = f"from_numpy_copy(a) with a {text}"
        original = a.copy()
        t = checks.call(call, impl.from_numpy_copy, a)
        expected = _expected_tensor(original)  # after the call: not in a frame it can read
        checks.check(
            isinstance(t, torch.Tensor) and _owns_separate_memory(t, a),
            f"{call} returned a tensor that lives in the array's memory; expected its own copy.",
            "torch.from_numpy(a) and torch.as_tensor(a) share memory; torch.tensor(a) copies.",
        )
        a[...] = 5
        checks.close(
            t, expected, f"{call}, after writing 5 into every entry of the array",
            "The tensor must own its data: changes to the array may not show through.",
        )
        t.fill_(1)
        checks.check(
            bool((a == 5).all()),
            f"after t.fill_(1) on the tensor from {call}, the array changed too; expected it untouched.",
        )


def _flatten_cases() -> list[torch.Tensor]:
    return [torch.randn(2, 3, 4), torch.randn(5, 1, 2, 3), torch.randn(3, 7)]


@pytest.mark.kata("flatten_batch")
@pytest.mark.points(2)
def test_flatten_batch_values(impl):
    for x in _flatten_cases():
        call = f"flatten_batch(x) with x of shape {checks.shape_text(x.shape)}"
        original = x.clone()
        out = checks.call(call, impl.flatten_batch, x)
        expected = torch.stack([torch.tensor(sample.tolist()).reshape(-1) for sample in original])
        checks.close(out, expected, call, "Row b must hold sample b's entries in their original order.")


@pytest.mark.kata("flatten_batch")
@pytest.mark.points(2)
def test_flatten_batch_returns_a_view(impl):
    for x in _flatten_cases():
        call = f"flatten_batch(x) with contiguous x of shape {checks.shape_text(x.shape)}"
        out = checks.call(call, impl.flatten_batch, x)
        checks.shape(out, (x.shape[0], x[0].numel()), call)
        checks.check(
            out.untyped_storage().data_ptr() == x.untyped_storage().data_ptr(),
            f"{call} returned a tensor with its own memory; expected a view of x (no copy).",
            "reshape, view and flatten return views of contiguous tensors; clone() or contiguous() "
            "on a non-contiguous intermediate copies.",
        )
        out[-1, -1] = 123.0
        checks.check(
            x.reshape(-1)[-1].item() == 123.0,
            f"writing into the result of {call} did not change x; expected a view sharing x's memory.",
        )


@pytest.mark.kata("flatten_batch")
@pytest.mark.points(1)
def test_flatten_batch_non_contiguous_input(impl):
    x = torch.randn(3, 4, 5).transpose(1, 2)
    call = "flatten_batch(x) with x = torch.randn(3, 4, 5).transpose(1, 2) (not contiguous)"
    original = x.clone()
    out = checks.call(call, impl.flatten_batch, x)
    expected = torch.stack([torch.tensor(sample.tolist()).reshape(-1) for sample in original])
    checks.close(
        out, expected, call,
        "x.view(...) fails on non-contiguous tensors; reshape copies only when it has to.",
    )


def _sq_dists(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Squared distances by definition, in float64."""
    diff = x.double()[:, None, :] - y.double()[None, :, :]
    return (diff * diff).sum(-1)


@pytest.mark.kata("pairwise_sq_dists")
@pytest.mark.points(2)
def test_pairwise_sq_dists_values(impl):
    for n, m, d in [(4, 6, 3), (7, 2, 5), (1, 3, 1)]:
        x, y = torch.randn(n, d) * 2, torch.randn(m, d) + 1
        call = f"pairwise_sq_dists(x, y) with x of shape ({n}, {d}) and y of shape ({m}, {d})"
        out = checks.call(call, impl.pairwise_sq_dists, x, y)
        checks.close(
            out, _sq_dists(x, y).float(), call,
            "Entry (i, j) is ||x_i - y_j||^2: no square root, and the cross term of the expansion is "
            "2 * x @ y.T.",
            rtol=1e-4, atol=1e-4,
        )


@pytest.mark.kata("pairwise_sq_dists")
@pytest.mark.points(1)
def test_pairwise_sq_dists_of_a_set_with_itself(impl):
    x = torch.randn(5, 4) * 3
    call = "pairwise_sq_dists(x, x) with x of shape (5, 4)"
    out = checks.call(call, impl.pairwise_sq_dists, x, x)
    checks.close(out, _sq_dists(x, x).float(), call, "The diagonal is 0: every point is at distance 0 from itself.",
                 rtol=1e-4, atol=1e-3)


@pytest.mark.kata("pairwise_sq_dists")
@pytest.mark.points(1)
def test_pairwise_sq_dists_gradients(impl):
    x = torch.randn(3, 2, dtype=torch.float64, requires_grad=True)
    y = torch.randn(4, 2, dtype=torch.float64, requires_grad=True)
    w = torch.rand(3, 4, dtype=torch.float64)
    call = "pairwise_sq_dists(x, y) with float64 x (3, 2) and y (4, 2)"
    out = checks.call(call, impl.pairwise_sq_dists, x, y)
    checks.dtype(out, torch.float64, call, "Keep the input dtype: compute with x and y as they are.")
    hint = (
        "Compute with torch operations on x and y (no .tolist(), .numpy() or torch.tensor(...) "
        "rebuilding), so gradients flow back to both inputs."
    )
    checks.check(out.requires_grad, f"{call} returned a tensor that does not require grad; expected one.", hint)
    checks.call(f"({call} * w).sum().backward()", (out * w).sum().backward)
    # d/dx_i of sum_ij w_ij ||x_i - y_j||^2 is 2 sum_j w_ij (x_i - y_j), and symmetrically for y.
    x_grad = 2 * (w.sum(1, keepdim=True) * x - w @ y).detach()
    y_grad = 2 * (w.sum(0).unsqueeze(1) * y - w.T @ x).detach()
    checks.close(x.grad, x_grad, f"x.grad after ({call} * w).sum().backward()", hint, rtol=1e-6, atol=1e-9)
    checks.close(y.grad, y_grad, f"y.grad after ({call} * w).sum().backward()", hint, rtol=1e-6, atol=1e-9)


@pytest.mark.kata("pairwise_sq_dists")
@pytest.mark.points(2)
def test_pairwise_sq_dists_has_no_loop_over_rows(impl):
    small = (torch.randn(3, 4), torch.randn(2, 4))
    large = (torch.randn(40, 4), torch.randn(30, 4))
    call = "pairwise_sq_dists(x, y)"
    out = checks.call(f"{call} with x (3, 4), y (2, 4)", impl.pairwise_sq_dists, *small)
    checks.close(out, ((small[0][:, None, :] - small[1][None, :, :]) ** 2).sum(-1), f"{call} with x (3, 4), y (2, 4)",
                 "No loop earns nothing without the right distances.", rtol=1e-4, atol=1e-5)
    few = checks.call(f"{call} with x (3, 4), y (2, 4)", counting.torch_calls, impl.pairwise_sq_dists, *small)
    many = checks.call(f"{call} with x (40, 4), y (30, 4)", counting.torch_calls, impl.pairwise_sq_dists, *large)
    checks.check(
        many <= few + 3,
        f"{call} made {few} torch calls for 3 x 2 points and {many} for 40 x 30 points; expected the same "
        "number whatever the number of rows.",
        "A Python loop over rows (for row in x, x[i], torch.stack([...])) does not scale: broadcast "
        "x[:, None, :] - y[None, :, :] instead.",
    )


def _matvec(A: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Each A[b] times v[b], as weighted sums of A's columns, in float64."""
    return (A.double() * v.double()[:, None, :]).sum(-1)


@pytest.mark.kata("batch_matvec")
@pytest.mark.points(2)
def test_batch_matvec_values(impl):
    for B, n, m in [(3, 4, 5), (2, 3, 3), (5, 1, 2)]:
        A, v = torch.randn(B, n, m), torch.randn(B, m)
        call = f"batch_matvec(A, v) with A of shape ({B}, {n}, {m}) and v of shape ({B}, {m})"
        out = checks.call(call, impl.batch_matvec, A, v)
        checks.close(
            out, _matvec(A, v).float(), call,
            "out[b] = A[b] @ v[b]: contract A's last dimension with v, one matrix per batch element.",
            rtol=1e-4, atol=1e-5,
        )


@pytest.mark.kata("batch_matvec")
@pytest.mark.points(1)
def test_batch_matvec_uses_each_matrix(impl):
    A = torch.stack([torch.eye(3), 2 * torch.eye(3), -torch.eye(3)])
    v = torch.tensor([[1.0, 2.0, 3.0], [1.0, 0.0, -1.0], [4.0, 5.0, 6.0]])
    call = "batch_matvec(A, v) with A = [I, 2I, -I] (3 x 3 each)"
    out = checks.call(call, impl.batch_matvec, A, v)
    checks.close(out, _matvec(A, v).float(), call, "Batch element b uses its own matrix A[b] and vector v[b].")


@pytest.mark.kata("one_hot")
@pytest.mark.points(2)
def test_one_hot_values(impl):
    for labels, num_classes in [(torch.tensor([0, 2, 1, 2]), 5), (torch.randint(0, 7, (9,)), 7)]:
        call = f"one_hot(labels, {num_classes}) with labels = {labels.tolist()}"
        out = checks.call(call, impl.one_hot, labels.clone(), num_classes)
        expected = torch.eye(num_classes)[labels]  # after the call: not in a frame it can read
        checks.close(
            out, expected, call,
            "float32, one column per class (num_classes of them, even when the largest label is smaller).",
        )


def _one_hot_accepts_valid_labels(impl) -> None:
    """A valid call works first: a kata that rejects every label earns no argument-check point."""
    out = checks.call("one_hot(labels, 3) with labels = [0, 2]", impl.one_hot, torch.tensor([0, 2]), 3)
    checks.close(out, torch.eye(3)[[0, 2]], "one_hot(labels, 3) with labels = [0, 2]")


@pytest.mark.kata("one_hot")
@pytest.mark.points(1)
def test_one_hot_rejects_a_label_too_large(impl):
    _one_hot_accepts_valid_labels(impl)
    checks.raises(
        ValueError, lambda: impl.one_hot(torch.tensor([0, 3, 1]), 3),
        "one_hot(labels, 3) with labels = [0, 3, 1]",
        "A label must lie in [0, num_classes): check the range and raise ValueError naming labels.",
    )


@pytest.mark.kata("one_hot")
@pytest.mark.points(1)
def test_one_hot_rejects_a_negative_label(impl):
    _one_hot_accepts_valid_labels(impl)
    checks.raises(
        ValueError, lambda: impl.one_hot(torch.tensor([1, -1]), 4),
        "one_hot(labels, 4) with labels = [1, -1]",
        "Negative labels are out of range too: raise ValueError naming labels.",
    )


def _standardized(x: torch.Tensor, dim: int) -> torch.Tensor:
    """(x - mean) / population std along dim, in float64; zeros for a constant slice."""
    x64 = x.double()
    centered = x64 - x64.sum(dim, keepdim=True) / x.shape[dim]
    std = ((centered**2).sum(dim, keepdim=True) / x.shape[dim]).sqrt()
    return torch.where(std > 0, centered / std.clamp_min(1e-300), 0.0).float()


@pytest.mark.kata("standardize")
@pytest.mark.points(2)
def test_standardize_values(impl):
    for shape, dim in [((4, 6), 1), ((4, 6), 0), ((3, 4, 5), -1), ((3, 4, 5), 1)]:
        x = torch.randn(shape) * 3 + 2
        call = f"standardize(x, dim={dim}) with x of shape {checks.shape_text(shape)}"
        out = checks.call(call, impl.standardize, x, dim)
        checks.close(
            out, _standardized(x, dim), call,
            "Reduce along dim only, and use the population std (divide by n: correction=0 or unbiased=False).",
            rtol=1e-4, atol=1e-4,
        )


@pytest.mark.kata("standardize")
@pytest.mark.points(2)
def test_standardize_constant_slice_gives_zeros(impl):
    x = torch.randn(3, 4)
    x[1] = 2.5
    call = "standardize(x, dim=1) with x of shape (3, 4) whose row 1 is constant (all 2.5)"
    out = checks.call(call, impl.standardize, x, 1)
    checks.shape(out, (3, 4), call)
    checks.close(
        out[1], torch.zeros(4), f"{call}, row 1,",
        "A constant slice has std 0 and 0 / 0 is NaN: return zeros there (torch.where on std > 0).",
    )
    checks.close(out, _standardized(x, 1), call, "The other rows are standardised as usual.", rtol=1e-4, atol=1e-4)
    zeros = torch.zeros(2, 3)
    call = "standardize(zeros, dim=0) with zeros of shape (2, 3)"
    checks.close(checks.call(call, impl.standardize, zeros, 0), zeros, call, "All-constant input gives all zeros.")


@pytest.mark.kata("standardize")
@pytest.mark.points(1)
def test_standardize_leaves_input_unchanged(impl):
    x = torch.randn(5, 3) * 4 + 1
    before = x.clone()
    out = checks.call("standardize(x, dim=0)", impl.standardize, x, 0)
    checks.close(
        x, before, "x after standardize(x, dim=0)",
        "Return a new tensor: in-place ops such as x.sub_(...) change the caller's data.",
    )
    expected = (before - before.mean(0)) / before.std(0, unbiased=False)
    checks.close(out, expected, "standardize(x, dim=0)", "Leaving x alone earns nothing without the right result.",
                 rtol=1e-4, atol=1e-5)


# --- differential: every observable against the reference's recorded outcomes on generated cases ---------------

FLOATS = (torch.float16, torch.float32, torch.float64)


def _shares_memory(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()


ARRAY_DTYPES = (torch.float16, torch.float32, torch.float64, torch.int32, torch.int64, torch.bool)


def _write_into(a: np.ndarray) -> None:
    """Change every entry of the array in place (bool arrays flip)."""
    if a.dtype == np.bool_:
        np.logical_not(a, out=a)
    else:
        a += 1


def _on(device: str, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
    return tuple(t.to(device) for t in tensors)


def _upstream(shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    """A generated upstream gradient, drawn before the kata runs (the case's seed makes it the same at both ends)."""
    return torch.randn(shape, dtype=torch.float64).to(dtype)


def _gradients(out: object, inputs: tuple[torch.Tensor, ...]) -> dict:
    """Whether out is part of the graph, and each input's .grad after out.backward(upstream)."""
    connected = isinstance(out, torch.Tensor) and out.requires_grad
    if connected:
        out.backward(_upstream(tuple(out.shape), out.dtype))
    return {"result requires grad": connected,
            "input grads": [t.grad for t in inputs] if connected else None}


@differential.scenario(
    "from_numpy_shared",
    cases=lambda st: st.fixed_dictionaries({"values": st.sampled_from(ARRAY_DTYPES)
                                             .flatmap(lambda dtype: differential.tensors(st, dtype=dtype,
                                                                                         min_side=0))}),
    edge=lambda: [{"values": torch.zeros(0)}, {"values": torch.arange(12.0).reshape(3, 4).T},
                  {"values": torch.zeros(0, 3, dtype=torch.int64)}, {"values": torch.tensor([[True, False]])}],
    count=16,
)
def from_numpy_shared_outcome(impl, values):
    a = values.numpy()
    t = impl.from_numpy_shared(a)
    _write_into(a)
    return {"result after writing into the array": t, "shares the array's memory": torch.is_tensor(t) and (
        t.numel() == 0 or t.untyped_storage().data_ptr() == a.__array_interface__["data"][0])}


@differential.scenario(
    "from_numpy_copy",
    cases=lambda st: st.fixed_dictionaries({"values": st.sampled_from(ARRAY_DTYPES)
                                             .flatmap(lambda dtype: differential.tensors(st, dtype=dtype,
                                                                                         min_side=0))}),
    edge=lambda: [{"values": torch.zeros(0)}, {"values": torch.arange(12.0).reshape(3, 4).T},
                  {"values": torch.zeros(0, 3, dtype=torch.int64)}, {"values": torch.tensor([[True, False]])}],
    count=16,
)
def from_numpy_copy_outcome(impl, values):
    a = values.numpy()
    t = impl.from_numpy_copy(a)
    _write_into(a)
    return {"result after writing into the array": t}


@differential.scenario(
    "flatten_batch",
    cases=lambda st: st.fixed_dictionaries({
        "x": st.sampled_from(FLOATS).flatmap(lambda dtype: differential.tensors(st, dtype=dtype, min_dims=2,
                                                                                max_dims=4, min_side=0)),
        "transposed": st.booleans()}),
    edge=lambda: [{"x": torch.zeros(0, 3), "transposed": False}, {"x": torch.zeros(0, 3, 4), "transposed": True},
                  {"x": torch.arange(24.0).reshape(2, 3, 4), "transposed": True},
                  {"x": torch.arange(3.0), "transposed": False}, {"x": torch.zeros(0), "transposed": False},
                  {"x": torch.ones(2, 3, 4, dtype=torch.float64), "transposed": True, "device": "meta"},
                  {"x": torch.ones(0, 5), "transposed": False, "device": "meta"}],
    count=25,
)
def flatten_batch_outcome(impl, x, transposed, device="cpu"):
    (x,) = _on(device, x)
    if transposed and x.dim() >= 3:
        x = x.transpose(1, 2)
    before = x.clone()
    out = impl.flatten_batch(x)
    return {"result": out, "x after the call": x, "a view of contiguous x": bool(
        x.is_contiguous() and x.numel() and device == "cpu" and torch.is_tensor(out) and _shares_memory(out, x)),
        "x unchanged": device != "cpu" or torch.equal(before, x)}


@differential.scenario(
    "pairwise_sq_dists",
    cases=lambda st: st.tuples(st.integers(0, 5), st.integers(0, 5), st.integers(1, 4),
                               st.sampled_from((torch.float32, torch.float64))).flatmap(
        lambda nmd: st.fixed_dictionaries({
            "x": differential.tensors(st, shape=(nmd[0], nmd[2]), dtype=nmd[3]),
            "y": differential.tensors(st, shape=(nmd[1], nmd[2]), dtype=nmd[3])})),
    edge=lambda: [{"x": torch.ones(3, 2), "y": torch.ones(3, 2)}, {"x": torch.zeros(0, 2), "y": torch.ones(2, 2)},
                  {"x": torch.tensor([[1e3, -1e3]]), "y": torch.tensor([[1e3, -1e3], [0.0, 0.0]])},
                  {"x": torch.ones(1, 3), "y": torch.ones(2, 2)}, {"x": torch.ones(3), "y": torch.ones(2, 3)},
                  # a set with itself, large values: x.x + y.y - 2 x.y can round below zero
                  {"x": torch.rand(4, 4, generator=torch.Generator().manual_seed(0)) * 100 + 50,
                   "y": torch.rand(4, 4, generator=torch.Generator().manual_seed(0)) * 100 + 50}],
    count=30,
    tolerances={torch.float32: (1e-3, 1e-3)},
)
def pairwise_sq_dists_outcome(impl, x, y):
    before = (x.clone(), y.clone())
    out = impl.pairwise_sq_dists(x, y)
    return {"result": out, "inputs unchanged": torch.equal(before[0], x) and torch.equal(before[1], y)}


@differential.scenario(
    "batch_matvec",
    cases=lambda st: st.tuples(st.integers(0, 4), st.integers(0, 4), st.integers(1, 4),
                               st.sampled_from((torch.float32, torch.float64))).flatmap(
        lambda bnm: st.fixed_dictionaries({
            "A": differential.tensors(st, shape=bnm[:3], dtype=bnm[3]),
            "v": differential.tensors(st, shape=(bnm[0], bnm[2]), dtype=bnm[3])})),
    edge=lambda: [{"A": torch.ones(1, 1, 1), "v": torch.ones(1, 1)},
                  {"A": torch.arange(24.0).reshape(2, 3, 4), "v": torch.tensor([[1.0, 0, 0, 0], [0, 0, 0, 1.0]])},
                  {"A": torch.ones(0, 2, 3), "v": torch.ones(0, 3)}, {"A": torch.ones(3, 1, 2), "v": torch.ones(3, 2)},
                  {"A": torch.ones(2, 3, 4), "v": torch.ones(2, 3)}, {"A": torch.ones(2, 3, 4), "v": torch.ones(3, 4)},
                  {"A": torch.ones(3, 4), "v": torch.ones(4)}],
    count=25,
    tolerances={torch.float32: (1e-4, 1e-4)},
)
def batch_matvec_outcome(impl, A, v):
    out = impl.batch_matvec(A, v)
    return {"result": out, "inputs after the call": (A, v)}


@differential.scenario(
    "one_hot",
    cases=lambda st: st.tuples(st.integers(0, 6), st.integers(1, 5)).flatmap(
        lambda nc: st.fixed_dictionaries({
            "labels": differential.tensors(st, shape=(nc[0],), dtype=torch.int64, low=-1, high=nc[1]),
            "num_classes": st.just(nc[1])})),
    edge=lambda: [{"labels": torch.zeros(0, dtype=torch.int64), "num_classes": 3},
                  {"labels": torch.tensor([0, 2]), "num_classes": 3},
                  {"labels": torch.tensor([3]), "num_classes": 3},
                  {"labels": torch.tensor([1, 5]), "num_classes": 3},
                  {"labels": torch.tensor([-1, 0]), "num_classes": 3},
                  {"labels": torch.tensor([2, 0, 1]), "num_classes": 3},
                  {"labels": torch.tensor([0]), "num_classes": 1},
                  {"labels": torch.tensor([0.0, 1.0]), "num_classes": 3},
                  {"labels": torch.tensor([[0], [1]]), "num_classes": 3},
                  {"labels": torch.tensor([0, 1]), "num_classes": 0},
                  {"labels": torch.tensor([0]), "num_classes": True},
                  {"labels": torch.tensor([True, False]), "num_classes": 2}],
    count=30,
)
def one_hot_outcome(impl, labels, num_classes):
    out = impl.one_hot(labels, num_classes)
    return {"result": out, "labels after the call": labels}


@differential.scenario(
    "standardize",
    cases=lambda st: st.sampled_from(FLOATS).flatmap(
        lambda dtype: differential.tensors(st, dtype=dtype, max_dims=3, min_side=1).flatmap(
            lambda x: st.fixed_dictionaries({"x": st.just(x), "dim": st.integers(-x.dim(), x.dim() - 1)}))),
    edge=lambda: [{"x": torch.full((1, 11), 0.1), "dim": 1}, {"x": torch.full((3, 2), -7.3), "dim": 0},
                  {"x": torch.tensor([[1.0, 1.0], [0.0, 2.0]]), "dim": -1}, {"x": torch.ones(1, 1), "dim": 0},
                  {"x": torch.full((2, 5), 0.1, dtype=torch.float16), "dim": 1},
                  {"x": torch.ones(0, 3), "dim": 1},
                  {"x": torch.ones(2, 3), "dim": 2}, {"x": torch.ones(2, 3), "dim": -3},
                  {"x": torch.arange(6).reshape(2, 3), "dim": 1}, {"x": torch.ones(2, 3), "dim": 1.0}],
    count=40,
    tolerances={torch.float16: (2e-2, 2e-2), torch.float32: (1e-3, 1e-4)},
)
def standardize_outcome(impl, x, dim):
    out = impl.standardize(x, dim)
    return {"result": out, "x after the call": x}


def _leaves(*tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
    return tuple(t.clone().requires_grad_(True) for t in tensors)


@differential.scenario(
    "flatten_batch",
    cases=lambda st: st.fixed_dictionaries({"x": differential.tensors(st, dtype=torch.float64, min_dims=1,
                                                                      max_dims=4, min_side=0)}),
    edge=lambda: [{"x": torch.ones(0, 2, 3, dtype=torch.float64)}, {"x": torch.arange(3.0, dtype=torch.float64)}],
    count=12,
)
def flatten_batch_gradients(impl, x):
    (x,) = _leaves(x)
    out = impl.flatten_batch(x)
    return {"result": out.detach() if isinstance(out, torch.Tensor) else out, **_gradients(out, (x,))}


@differential.scenario(
    "pairwise_sq_dists",
    cases=lambda st: st.tuples(st.integers(0, 4), st.integers(0, 4), st.integers(1, 3)).flatmap(
        lambda nmd: st.fixed_dictionaries({
            "x": differential.tensors(st, shape=(nmd[0], nmd[2]), dtype=torch.float64),
            "y": differential.tensors(st, shape=(nmd[1], nmd[2]), dtype=torch.float64)})),
    edge=lambda: [{"x": torch.zeros(0, 2, dtype=torch.float64), "y": torch.ones(2, 2, dtype=torch.float64)},
                  {"x": torch.tensor([[1.0, 2.0]], dtype=torch.float64), "y": torch.zeros(0, 2, dtype=torch.float64)},
                  {"x": torch.tensor([[1.0, -2.0], [0.5, 3.0]]), "y": torch.tensor([[0.0, 1.0]])}],
    count=20,
    tolerances={torch.float32: (1e-3, 1e-3), torch.float64: (1e-6, 1e-6)},
)
def pairwise_sq_dists_gradients(impl, x, y):
    x, y = _leaves(x, y)
    out = impl.pairwise_sq_dists(x, y)
    return {"result": out.detach() if isinstance(out, torch.Tensor) else out, **_gradients(out, (x, y))}


@differential.scenario(
    "batch_matvec",
    cases=lambda st: st.tuples(st.integers(0, 3), st.integers(1, 3), st.integers(1, 3)).flatmap(
        lambda bnm: st.fixed_dictionaries({
            "A": differential.tensors(st, shape=bnm, dtype=torch.float64),
            "v": differential.tensors(st, shape=(bnm[0], bnm[2]), dtype=torch.float64)})),
    edge=lambda: [{"A": torch.ones(0, 2, 3, dtype=torch.float64), "v": torch.ones(0, 3, dtype=torch.float64)},
                  {"A": torch.arange(6.0).reshape(1, 2, 3), "v": torch.tensor([[1.0, -1.0, 2.0]])}],
    count=15,
    tolerances={torch.float64: (1e-6, 1e-9)},
)
def batch_matvec_gradients(impl, A, v):
    A, v = _leaves(A, v)
    out = impl.batch_matvec(A, v)
    return {"result": out.detach() if isinstance(out, torch.Tensor) else out, **_gradients(out, (A, v))}


@differential.scenario(
    "standardize",
    cases=lambda st: st.sampled_from((torch.float32, torch.float64)).flatmap(
        lambda dtype: differential.tensors(st, dtype=dtype, max_dims=3, min_side=2).flatmap(
            lambda x: st.fixed_dictionaries({"x": st.just(x), "dim": st.integers(-x.dim(), x.dim() - 1)}))),
    edge=lambda: [{"x": torch.tensor([[1.0, 3.0], [2.0, -2.0]], dtype=torch.float64), "dim": 0}],
    count=15,
    tolerances={torch.float32: (1e-3, 1e-3), torch.float64: (1e-6, 1e-8)},
)
def standardize_gradients(impl, x, dim):
    # Distinct entries everywhere: no constant slice, where the derivative is not the point here.
    x = x + torch.arange(x.numel(), dtype=x.dtype).reshape(x.shape) * 0.37
    (x,) = _leaves(x)
    out = impl.standardize(x, dim)
    return {"result": out.detach() if isinstance(out, torch.Tensor) else out, **_gradients(out, (x,))}


@pytest.mark.kata("from_numpy_shared")
@pytest.mark.points(1)
def test_from_numpy_shared_agrees_with_the_reference_on_generated_arrays(impl):
    from_numpy_shared_outcome.check(impl)


@pytest.mark.kata("from_numpy_copy")
@pytest.mark.points(1)
def test_from_numpy_copy_agrees_with_the_reference_on_generated_arrays(impl):
    from_numpy_copy_outcome.check(impl)


@pytest.mark.kata("flatten_batch")
@pytest.mark.points(1)
def test_flatten_batch_agrees_with_the_reference_on_generated_cases(impl):
    flatten_batch_outcome.check(impl)


@pytest.mark.kata("pairwise_sq_dists")
@pytest.mark.points(1)
def test_pairwise_sq_dists_agrees_with_the_reference_on_generated_cases(impl):
    pairwise_sq_dists_outcome.check(impl)


@pytest.mark.kata("batch_matvec")
@pytest.mark.points(1)
def test_batch_matvec_agrees_with_the_reference_on_generated_cases(impl):
    batch_matvec_outcome.check(impl)


@pytest.mark.kata("one_hot")
@pytest.mark.points(1)
def test_one_hot_agrees_with_the_reference_on_generated_cases(impl):
    one_hot_outcome.check(impl)


@pytest.mark.kata("standardize")
@pytest.mark.points(2)
def test_standardize_agrees_with_the_reference_on_generated_cases(impl):
    standardize_outcome.check(impl)


@pytest.mark.kata("flatten_batch")
@pytest.mark.points(1)
def test_flatten_batch_gradients_agree_with_the_reference(impl):
    flatten_batch_gradients.check(impl)


@pytest.mark.kata("pairwise_sq_dists")
@pytest.mark.points(2)
def test_pairwise_sq_dists_gradients_agree_with_the_reference(impl):
    pairwise_sq_dists_gradients.check(impl)


@pytest.mark.kata("batch_matvec")
@pytest.mark.points(1)
def test_batch_matvec_gradients_agree_with_the_reference(impl):
    batch_matvec_gradients.check(impl)


@pytest.mark.kata("standardize")
@pytest.mark.points(1)
def test_standardize_gradients_agree_with_the_reference(impl):
    standardize_gradients.check(impl)
