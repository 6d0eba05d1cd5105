"""Public checks for chapter 10, data: lengths, item values, padded batches, balanced and seeded sampling.

The hidden checks add transforms, negative indices, multi-dimensional items, worker seeding, lazy memmap reads
and bad arguments.
"""

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from torchkata import checks


def _first_batch(dataset, batch_size):
    return next(iter(DataLoader(dataset, batch_size=batch_size)))


@pytest.mark.kata("PairDataset")
@pytest.mark.points(1)
def test_pair_dataset_length_and_batches(impl):
    X, y = torch.randn(10, 3), torch.arange(10)
    dataset = checks.call("PairDataset(X, y)", impl.PairDataset, X, y)
    checks.equal(checks.call("len(PairDataset(X, y))", len, dataset), 10, "len(PairDataset(X, y)) with 10 samples")
    xb, yb = checks.call("next(iter(DataLoader(PairDataset(X, y), batch_size=4)))", _first_batch, dataset, 4)
    checks.shape(xb, (4, 3), "the first x batch of DataLoader(PairDataset(X, y), batch_size=4), X of shape (10, 3)")
    checks.shape(yb, (4,), "the first y batch of DataLoader(PairDataset(X, y), batch_size=4)")


@pytest.mark.kata("WindowDataset")
@pytest.mark.points(1)
def test_window_dataset_length_and_item_shapes(impl):
    series = torch.arange(10.0)
    dataset = checks.call("WindowDataset(series, window=3, horizon=2)", impl.WindowDataset, series, 3, 2)
    checks.equal(
        checks.call("len(WindowDataset(...))", len, dataset), 6,
        "len(WindowDataset(series, 3, 2)) with a series of 10 steps",
        "N - window - horizon + 1 = 10 - 3 - 2 + 1: the last window must leave room for the full horizon.",
    )
    x, target = checks.call("WindowDataset(series, 3, 2)[0]", dataset.__getitem__, 0)
    checks.shape(x, (3,), "the input window of WindowDataset(series, 3, 2)[0]")
    checks.shape(target, (2,), "the target of WindowDataset(series, 3, 2)[0]")
    for index in (0, 2, 5):
        x, target = checks.call(f"WindowDataset(series, 3, 2)[{index}]", dataset.__getitem__, index)
        call = f"WindowDataset(series, 3, 2)[{index}] with series = arange(10.)"
        checks.close(x, series[index : index + 3], f"the input window of {call}")
        checks.close(
            target, series[index + 3 : index + 5], f"the target of {call}",
            "The target is the horizon steps right after the window: series[i + window : i + window + horizon].",
        )


@pytest.mark.kata("CharDataset")
@pytest.mark.points(1)
def test_char_dataset_items(impl):
    text = "hello world"
    dataset = checks.call("CharDataset('hello world', 4)", impl.CharDataset, text, 4)
    length = checks.call("len(CharDataset('hello world', 4))", len, dataset)
    checks.equal(length, 7, "len(CharDataset('hello world', 4))", "One item per start with a full shifted target.")
    checks.equal(set(dataset.stoi), set(text), "CharDataset('hello world', 4).stoi keys")
    x, y = checks.call("CharDataset('hello world', 4)[0]", dataset.__getitem__, 0)
    for name, value in (("x", x), ("y", y)):
        checks.shape(value, (4,), f"{name} of CharDataset('hello world', 4)[0]")
        checks.dtype(value, torch.int64, f"{name} of CharDataset('hello world', 4)[0]", "Character ids are int64.")
    ids = torch.tensor([sorted(set(text)).index(char) for char in text])
    checks.close(x, ids[0:4], "x of CharDataset('hello world', 4)[0]", "Vocabulary: the sorted unique characters.")
    checks.close(
        y, ids[1:5], "y of CharDataset('hello world', 4)[0]",
        "y is x shifted by one character: the next character at every position ('ello' for 'hell').",
    )


@pytest.mark.kata("pad_collate")
@pytest.mark.points(1)
def test_pad_collate_values(impl):
    batch = [(torch.randn(3, 2), 0), (torch.randn(5, 2), 1), (torch.randn(1, 2), 0)]
    out = checks.call("pad_collate(batch, pad_value=-1)", impl.pad_collate, batch, -1)
    checks.check(
        isinstance(out, tuple) and len(out) == 3,
        f"pad_collate(batch) returned {checks.describe(out)}; expected a tuple (padded, lengths, labels).",
    )
    padded, lengths, labels = out
    call = "pad_collate(batch, pad_value=-1) with sequences of shapes (3, 2), (5, 2), (1, 2) and labels 0, 1, 0"
    checks.shape(padded, (3, 5, 2), f"padded of {call}", "Batch first: (B, T_max, ...).")
    expected = torch.full((3, 5, 2), -1.0)
    for row, (sequence, _) in enumerate(batch):
        expected[row, : len(sequence)] = sequence
    checks.close(padded, expected, f"padded of {call}", "Fill the tail of each shorter sequence with pad_value.")
    checks.close(lengths, torch.tensor([3, 5, 1]), f"lengths of {call}", "Each sequence's own length, as int64.")
    checks.close(labels, torch.tensor([0, 1, 0]), f"labels of {call}")


@pytest.mark.kata("balanced_loader")
@pytest.mark.points(1)
def test_balanced_loader_batches(impl):
    dataset = TensorDataset(torch.arange(20), torch.tensor([0] * 15 + [1] * 5))
    loader = checks.call("balanced_loader(dataset, labels, 8)", impl.balanced_loader, dataset, dataset.tensors[1], 8)
    sizes = checks.call("iterating one epoch", lambda: [len(indices) for indices, _ in loader])
    checks.equal(
        sizes, [8, 8, 4], "the batch sizes of one epoch of balanced_loader(dataset of 20, labels, 8)",
        "One epoch draws len(dataset) samples: WeightedRandomSampler(..., num_samples=len(dataset)).",
    )


@pytest.mark.kata("balanced_loader")
@pytest.mark.points(1)
def test_balanced_loader_draws_both_classes_equally(impl):
    labels = torch.tensor([0] * 45 + [1] * 15)
    dataset = TensorDataset(torch.arange(60), labels)
    generator = torch.Generator().manual_seed(0)
    call = "balanced_loader(dataset of 60 (45 of class 0, 15 of class 1), labels, 20, generator)"
    loader = checks.call(call, impl.balanced_loader, dataset, labels, 20, generator)
    drawn = checks.call(
        "iterating five epochs", lambda: [i for _ in range(5) for idx, _ in loader for i in idx.tolist()]
    )
    share = sum(labels[i].item() for i in drawn) / len(drawn)
    distinct = len(set(drawn))
    checks.check(
        0.38 < share < 0.62 and distinct > 30,
        f"five epochs of {call} drew class 1 for {share:.0%} of {len(drawn)} samples, from {distinct} distinct "
        "samples; expected about half of the draws from each class, spread over the whole dataset.",
        "Give every sample the weight 1 / (count of its class): WeightedRandomSampler takes one weight per sample.",
    )


@pytest.mark.kata("MemmapDataset")
@pytest.mark.points(1)
def test_memmap_dataset_items(impl, tmp_path):
    array = np.arange(24, dtype=np.float32).reshape(6, 4)
    path = tmp_path / "rows.bin"
    array.tofile(path)
    dataset = checks.call("MemmapDataset(path, (6, 4), 'float32')", impl.MemmapDataset, path, (6, 4), "float32")
    checks.equal(checks.call("len(MemmapDataset(...))", len, dataset), 6, "len(MemmapDataset(path, (6, 4), 'float32'))")
    row = checks.call("MemmapDataset(...)[2]", dataset.__getitem__, 2)
    checks.close(row, torch.from_numpy(array[2].copy()), "MemmapDataset(path, (6, 4), 'float32')[2]")


@pytest.mark.kata("seeded_loader")
@pytest.mark.points(1)
def test_seeded_loader_same_seed_same_order(impl):
    dataset = TensorDataset(torch.arange(16))
    orders = []
    for _ in range(2):
        loader = checks.call("seeded_loader(dataset, 4, seed=7)", impl.seeded_loader, dataset, 4, 7)
        torch.rand(5)  # whatever else draws random numbers must not change the order
        orders.append(torch.cat([batch for (batch,) in loader]).tolist())
    checks.check(
        sorted(orders[0]) == list(range(16)),
        f"one epoch of seeded_loader(dataset of 16, 4, seed=7) gave the indices {orders[0]}; "
        "expected each index once.",
    )
    checks.check(
        orders[0] == orders[1],
        f"two seeded_loader(dataset, 4, seed=7) gave the orders {orders[0]} and {orders[1]}; "
        "expected the same order for the same seed.",
        "Pass DataLoader(..., shuffle=True, generator=torch.Generator().manual_seed(seed)).",
    )
