"""Hidden checks for chapter 10, data: values against independent slicing, sampling statistics, laziness."""

import os
import random
import tempfile
from functools import partial

import numpy as np
import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence
from torch.utils.data import DataLoader, Dataset, TensorDataset, get_worker_info

from torchkata import checks
from torchkata.graderkit import differential

WORKER_TIMEOUT_S = 20


def _item(dataset, index, call):
    item = checks.call(f"{call}[{index}]", dataset.__getitem__, index)
    checks.check(
        isinstance(item, tuple | list) and len(item) == 2,
        f"{call}[{index}] returned {checks.describe(item)}; expected a pair (x, y).",
    )
    return item


def _length(dataset, expected, call, hint=None):
    checks.equal(checks.call(f"len({call})", len, dataset), expected, f"len({call})", hint)


class _Built:
    """What a constructor returned, shown without its memory address (messages stay the same run to run)."""

    def __init__(self, obj):
        self.text = f"a {type(obj).__name__} object"

    def __repr__(self):
        return self.text


def _construct(fn, *args):
    return _Built(fn(*args))


def _accepts(fn, args, length, call):
    """A valid call works first: a kata that rejects everything earns no point for rejecting bad arguments."""
    built = checks.call(call, fn, *args)
    _length(built, length, call)


def _batches(loader, call):
    """Every batch of one epoch; worker processes are shut down even when a batch fails."""
    if getattr(loader, "num_workers", 0):
        loader.timeout = WORKER_TIMEOUT_S
    iterator = checks.call(f"iter({call})", iter, loader)
    try:
        return checks.call(f"one epoch of {call}", list, iterator)
    finally:
        shutdown = getattr(iterator, "_shutdown_workers", None)
        if shutdown is not None:
            shutdown()


# PairDataset


@pytest.mark.kata("PairDataset")
@pytest.mark.points(2)
def test_pair_dataset_items_match_inputs(impl):
    X, y = torch.randn(7, 2, 3), torch.rand(7)
    call = "PairDataset(X, y) with X (7, 2, 3), y (7,)"
    dataset = checks.call(call, impl.PairDataset, X, y)
    _length(dataset, 7, call)
    for index in (0, 3, 6):
        x_item, y_item = _item(dataset, index, call)
        checks.close(x_item, X[index], f"x of {call}[{index}]")
        checks.close(y_item, y[index], f"y of {call}[{index}]")
    xb, yb = _batches(DataLoader(dataset, batch_size=4), f"DataLoader({call}, batch_size=4)")[1]
    checks.close(xb, X[4:], f"the second x batch of DataLoader({call}, batch_size=4)")
    checks.close(yb, y[4:], f"the second y batch of DataLoader({call}, batch_size=4)")


@pytest.mark.kata("PairDataset")
@pytest.mark.points(2)
def test_pair_dataset_transforms_x_only_at_every_read(impl):
    X, y = torch.randn(5, 4), torch.arange(5)
    reads = []

    def transform(x):
        reads.append(1)
        return x * 2 + 1

    call = "PairDataset(X, y, transform=lambda x: x * 2 + 1)"
    dataset = checks.call(call, impl.PairDataset, X, y, transform)
    checks.check(
        not reads,
        f"{call} called the transform {len(reads)} times while being built; expected it to be called "
        "only when an item is read.",
        "Apply the transform in __getitem__: a random augmentation must give a new result at every read.",
    )
    for read in (1, 2):
        x_item, y_item = _item(dataset, 2, call)
        checks.close(x_item, X[2] * 2 + 1, f"x of {call}[2]", "The transform applies to x.")
        checks.close(y_item, y[2], f"y of {call}[2]", "The transform applies to x only; y comes back unchanged.")
        checks.equal(len(reads), read, f"the number of transform calls after reading {call}[2] {read} time(s)")


@pytest.mark.kata("PairDataset")
@pytest.mark.points(1)
def test_pair_dataset_rejects_length_mismatch(impl):
    _accepts(impl.PairDataset, (torch.randn(4, 2), torch.arange(4)), 4, "PairDataset(X, y) with 4 samples in each")
    checks.raises(
        ValueError,
        lambda: _construct(impl.PairDataset, torch.randn(5, 2), torch.arange(4)),
        "PairDataset(X, y) with 5 samples in X and 4 in y",
        "Compare len(X) and len(y) in __init__ and raise ValueError naming them.",
    )


# WindowDataset


@pytest.mark.kata("WindowDataset")
@pytest.mark.points(2)
def test_window_dataset_items_are_consecutive_slices(impl):
    series = torch.arange(12.0) * 0.5
    call = "WindowDataset(series, window=4, horizon=3) with a series of 12 steps"
    dataset = checks.call(call, impl.WindowDataset, series, 4, 3)
    _length(dataset, 6, call, "N - window - horizon + 1 = 12 - 4 - 3 + 1 = 6.")
    for index in range(6):
        x, target = _item(dataset, index, call)
        hint = "The target starts right after the window: series[i + window : i + window + horizon]."
        checks.close(x, series[index : index + 4], f"the window of {call}[{index}]", hint)
        checks.close(target, series[index + 4 : index + 7], f"the target of {call}[{index}]", hint)


@pytest.mark.kata("WindowDataset")
@pytest.mark.points(1)
def test_window_dataset_multivariate_default_horizon(impl):
    series = torch.randn(9, 2)
    call = "WindowDataset(series, window=5) with series of shape (9, 2)"
    dataset = checks.call(call, impl.WindowDataset, series, 5)
    _length(dataset, 4, call, "The default horizon is 1: 9 - 5 - 1 + 1 = 4.")
    x, target = _item(dataset, 3, call)
    checks.close(x, series[3:8], f"the window of {call}[3]")
    checks.close(
        target, series[8:9], f"the target of {call}[3]", "The target keeps its time dimension: (horizon, ...)."
    )
    xb, tb = _batches(DataLoader(dataset, batch_size=4), f"DataLoader({call}, batch_size=4)")[0]
    checks.shape(xb, (4, 5, 2), f"the input batch of DataLoader({call}, batch_size=4)")
    checks.shape(tb, (4, 1, 2), f"the target batch of DataLoader({call}, batch_size=4)")


@pytest.mark.kata("WindowDataset")
@pytest.mark.points(1)
def test_window_dataset_index_past_the_end(impl):
    call = "WindowDataset(torch.arange(8.0), 3, 2)"
    dataset = checks.call(call, impl.WindowDataset, torch.arange(8.0), 3, 2)
    # The last full window first: a dataset that always raises IndexError earns nothing here.
    last = _item(dataset, 3, call)
    checks.close(last[0], torch.tensor([3.0, 4.0, 5.0]), f"{call}[3][0] (the last full window)")
    checks.close(last[1], torch.tensor([6.0, 7.0]), f"{call}[3][1] (the last target)")
    checks.raises(
        IndexError, lambda: dataset[4], f"{call}[4] (one past the last full window)",
        "Past the last window raise IndexError instead of returning a short slice.",
    )


@pytest.mark.kata("WindowDataset")
@pytest.mark.points(1)
@pytest.mark.parametrize("window, horizon", [(0, 1), (3, 0), (5, 2)])
def test_window_dataset_rejects_bad_sizes(impl, window, horizon):
    _accepts(impl.WindowDataset, (torch.arange(6.0), 3, 2), 2, "WindowDataset(series of 6 steps, 3, 2)")
    checks.raises(
        ValueError,
        lambda: _construct(impl.WindowDataset, torch.arange(6.0), window, horizon),
        f"WindowDataset(series of 6 steps, window={window}, horizon={horizon})",
        "window and horizon must be at least 1 and fit in the series together.",
    )


# CharDataset


@pytest.mark.kata("CharDataset")
@pytest.mark.points(2)
@pytest.mark.parametrize("text", ["hello world", "abracadabra! cab"])
def test_char_dataset_vocabulary_is_sorted(impl, text):
    call = f"CharDataset({text!r}, 3)"
    dataset = checks.call(call, impl.CharDataset, text, 3)
    expected = {char: index for index, char in enumerate(sorted(set(text)))}
    checks.equal(
        dict(dataset.stoi), expected, f"{call}.stoi",
        "The vocabulary is sorted(set(text)): ids follow sorted order, not first appearance.",
    )
    for char, index in expected.items():
        checks.equal(dataset.itos[index], char, f"{call}.itos[{index}]", "itos is the inverse of stoi.")


@pytest.mark.kata("CharDataset")
@pytest.mark.points(2)
def test_char_dataset_targets_are_shifted_inputs(impl):
    text = "abracadabra! cab"
    call = f"CharDataset({text!r}, 5)"
    dataset = checks.call(call, impl.CharDataset, text, 5)
    _length(dataset, len(text) - 5, call, "One item per start that has seq_len + 1 characters after it.")
    vocabulary = sorted(set(text))

    def encode(part):
        return torch.tensor([vocabulary.index(char) for char in part], dtype=torch.int64)

    for index in range(len(text) - 5):
        x, y = _item(dataset, index, call)
        checks.close(x, encode(text[index : index + 5]), f"x of {call}[{index}]")
        checks.close(
            y, encode(text[index + 1 : index + 6]), f"y of {call}[{index}]",
            "y is x shifted by one character: text[i + 1 : i + seq_len + 1].",
        )
    checks.raises(IndexError, lambda: dataset[len(text) - 5], f"{call}[{len(text) - 5}] (past the last item)")


@pytest.mark.kata("CharDataset")
@pytest.mark.points(1)
def test_char_dataset_batches(impl):
    call = "CharDataset('the quick brown fox', 6)"
    dataset = checks.call(call, impl.CharDataset, "the quick brown fox", 6)
    xb, yb = _batches(DataLoader(dataset, batch_size=8), f"DataLoader({call}, batch_size=8)")[-1]
    checks.shape(xb, (5, 6), f"the last x batch of DataLoader({call}, batch_size=8)", "19 - 6 = 13 items: 8 + 5.")
    checks.dtype(yb, torch.int64, f"the last y batch of DataLoader({call}, batch_size=8)")


@pytest.mark.kata("CharDataset")
@pytest.mark.points(1)
@pytest.mark.parametrize("seq_len", [0, 4])
def test_char_dataset_rejects_bad_seq_len(impl, seq_len):
    _accepts(impl.CharDataset, ("abcd", 3), 1, "CharDataset('abcd', 3)")
    checks.raises(
        ValueError, lambda: _construct(impl.CharDataset, "abcd", seq_len), f"CharDataset('abcd', {seq_len})",
        "seq_len must be at least 1 and leave one character for the target.",
    )


# pad_collate


@pytest.mark.kata("pad_collate")
@pytest.mark.points(2)
def test_pad_collate_values_lengths_labels(impl):
    sequences = [torch.randn(2, 3), torch.randn(4, 3), torch.randn(1, 3), torch.randn(3, 3)]
    labels = [3, 0, 2, 1]
    call = "pad_collate(batch, pad_value=-7) with sequences of lengths 2, 4, 1, 3"
    padded, lengths, got_labels = checks.call(call, impl.pad_collate, list(zip(sequences, labels, strict=True)), -7)
    expected = torch.full((4, 4, 3), -7.0)
    for row, sequence in enumerate(sequences):
        expected[row, : len(sequence)] = sequence
    checks.close(
        padded, expected, f"padded of {call}",
        "Keep the batch order, batch first, and fill past each length with pad_value.",
    )
    checks.close(
        lengths, torch.tensor([2, 4, 1, 3]), f"lengths of {call}",
        "lengths are the original sequence lengths (int64), not T_max.",
    )
    checks.close(got_labels, torch.tensor(labels), f"labels of {call}", "Labels stay in batch order.")


@pytest.mark.kata("pad_collate")
@pytest.mark.points(1)
def test_pad_collate_token_ids_default_padding(impl):
    batch = [(torch.tensor([5, 6, 7]), torch.tensor(1)), (torch.tensor([8]), torch.tensor(0))]
    call = "pad_collate(batch) with token ids [5, 6, 7] and [8] and 0-d tensor labels"
    padded, lengths, labels = checks.call(call, impl.pad_collate, batch)
    checks.close(padded, torch.tensor([[5, 6, 7], [8, 0, 0]]), f"padded of {call}", "The default pad_value is 0.")
    checks.close(lengths, torch.tensor([3, 1]), f"lengths of {call}")
    checks.close(labels, torch.tensor([1, 0]), f"labels of {call}")


@pytest.mark.kata("pad_collate")
@pytest.mark.points(1)
def test_pad_collate_in_a_dataloader_packs(impl):
    items = [(torch.randn(length, 2), length % 2) for length in (3, 1, 5, 2, 4)]
    loader = DataLoader(items, batch_size=5, collate_fn=partial(impl.pad_collate, pad_value=0.5))
    call = "DataLoader(items, batch_size=5, collate_fn=partial(pad_collate, pad_value=0.5))"
    padded, lengths, labels = _batches(loader, call)[0]
    checks.shape(padded, (5, 5, 2), f"padded of {call}")
    checks.dtype(lengths, torch.int64, f"lengths of {call}", "pack_padded_sequence needs int64 lengths.")
    packed = checks.call(
        "pack_padded_sequence(padded, lengths, batch_first=True, enforce_sorted=False)",
        pack_padded_sequence, padded, lengths, batch_first=True, enforce_sorted=False,
    )
    checks.close(packed.data.sum(), torch.cat([x for x, _ in items]).sum(), "the sum of the packed values", rtol=1e-4)


@pytest.mark.kata("pad_collate")
@pytest.mark.points(1)
def test_pad_collate_rejects_empty_batch(impl):
    call = "pad_collate([(torch.ones(2), 0)])"
    one = checks.call(call, impl.pad_collate, [(torch.ones(2), 0)])
    checks.check(isinstance(one, tuple | list) and len(one) == 3,
                 f"{call} returned {checks.describe(one)}; expected (padded, lengths, labels).")
    checks.close(one[0], torch.ones(1, 2), f"the padded batch of {call}")
    checks.raises(ValueError, lambda: impl.pad_collate([]), "pad_collate([])", "An empty batch has nothing to pad.")


# balanced_loader


def _imbalanced(counts, seed):
    """A dataset of sample indices with labels 0, 1, ... in the given counts, shuffled."""
    labels = torch.cat([torch.full((count,), label) for label, count in enumerate(counts)])
    labels = labels[torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))]
    return TensorDataset(torch.arange(len(labels)), labels), labels


def _drawn_indices(loader, epochs, call):
    return torch.cat([indices for _ in range(epochs) for indices, _ in _batches(loader, call)])


@pytest.mark.kata("balanced_loader")
@pytest.mark.points(3)
def test_balanced_loader_draws_classes_equally(impl):
    dataset, labels = _imbalanced([70, 20, 10], seed=1)
    call = "balanced_loader(dataset, labels, 25, generator) with classes of 70, 20 and 10 samples"
    loader = checks.call(call, impl.balanced_loader, dataset, labels, 25, torch.Generator().manual_seed(0))
    drawn = _drawn_indices(loader, 20, call)
    checks.equal(len(drawn), 2000, f"the number of samples in 20 epochs of {call}")
    fractions = (torch.bincount(labels[drawn], minlength=3) / len(drawn)).tolist()
    checks.check(
        all(abs(fraction - 1 / 3) < 0.05 for fraction in fractions),
        f"20 epochs of {call} drew the classes with frequencies {[round(f, 3) for f in fractions]}; "
        "expected about 1/3 each.",
        "Weight every sample by 1 / (count of its class); weights per class, or the counts themselves, "
        "do not balance.",
    )
    checks.check(
        len(set(drawn.tolist())) >= 95,
        f"20 epochs of {call} reached only {len(set(drawn.tolist()))} of the 100 samples; expected nearly all.",
        "WeightedRandomSampler needs one weight per sample (len(dataset) weights), not one per class.",
    )


@pytest.mark.kata("balanced_loader")
@pytest.mark.points(2)
def test_balanced_loader_uses_the_generator(impl):
    dataset, labels = _imbalanced([30, 10], seed=2)
    orders = {}
    for seed in (5, 5, 6):
        call = f"balanced_loader(dataset, labels, 8, torch.Generator().manual_seed({seed}))"
        loader = checks.call(call, impl.balanced_loader, dataset, labels, 8, torch.Generator().manual_seed(seed))
        torch.rand(7)  # draws elsewhere must not change the sample
        orders.setdefault(seed, []).append(_drawn_indices(loader, 1, call).tolist())
    checks.check(
        orders[5][0] == orders[5][1],
        f"two balanced_loader(..., generator seeded with 5) drew {orders[5][0]} and {orders[5][1]}; expected the "
        "same samples.",
        "Pass the generator on to WeightedRandomSampler(..., generator=generator).",
    )
    checks.check(
        orders[5][0] != orders[6][0],
        f"balanced_loader(...) drew {orders[5][0]} with generators seeded 5 and 6; expected different samples.",
    )


@pytest.mark.kata("balanced_loader")
@pytest.mark.points(1)
def test_balanced_loader_epoch_size(impl):
    dataset, labels = _imbalanced([30, 7], seed=3)
    call = "balanced_loader(dataset of 37, labels, 10)"
    loader = checks.call(call, impl.balanced_loader, dataset, labels, 10)
    checks.equal(
        [len(indices) for indices, _ in _batches(loader, call)], [10, 10, 10, 7], f"the batch sizes of {call}",
        "An epoch draws len(dataset) samples in batches of batch_size.",
    )
    checks.raises(
        ValueError, lambda: _construct(impl.balanced_loader, dataset, labels[:30], 10),
        "balanced_loader(dataset of 37, labels of 30, 10)", "Check that there is one label per sample.",
    )


# MemmapDataset


def _forbid_whole_file_reads(monkeypatch):
    """np.fromfile without a count, or np.load without mmap_mode, reads the whole file: refuse both."""
    fromfile, load = np.fromfile, np.load
    message = "MemmapDataset called np.{} on the whole file; expected np.memmap, which reads only the rows indexed."

    def partial_fromfile(file, dtype=float, count=-1, *args, **kwargs):
        if count < 0:
            raise AssertionError(message.format("fromfile"))
        return fromfile(file, dtype, count, *args, **kwargs)

    def mapped_load(file, mmap_mode=None, *args, **kwargs):
        if mmap_mode is None:
            raise AssertionError(message.format("load"))
        return load(file, mmap_mode, *args, **kwargs)

    monkeypatch.setattr(np, "fromfile", partial_fromfile)
    monkeypatch.setattr(np, "load", mapped_load)


@pytest.mark.kata("MemmapDataset")
@pytest.mark.points(2)
def test_memmap_dataset_values_shapes_dtypes(impl, tmp_path):
    array = np.arange(5 * 2 * 3, dtype=np.int64).reshape(5, 2, 3) * 3 - 7
    path = tmp_path / "blocks.bin"
    array.tofile(path)
    call = "MemmapDataset(path, (5, 2, 3), np.int64)"
    dataset = checks.call(call, impl.MemmapDataset, str(path), (5, 2, 3), np.int64)
    _length(dataset, 5, call)
    for index in (0, 4):
        item = checks.call(f"{call}[{index}]", dataset.__getitem__, index)
        expected = torch.from_numpy(array[index].copy())
        checks.close(item, expected, f"{call}[{index}]", "Each item is one row of shape shape[1:], as a tensor.")
    batch = _batches(DataLoader(dataset, batch_size=3), f"DataLoader({call}, batch_size=3)")[1]
    checks.close(batch, torch.from_numpy(array[3:].copy()), f"the second batch of DataLoader({call}, batch_size=3)")


@pytest.mark.kata("MemmapDataset")
@pytest.mark.points(3)
def test_memmap_dataset_reads_lazily(impl, tmp_path, monkeypatch):
    rows, columns = 4096, 128
    path = tmp_path / "large.bin"
    np.random.default_rng(0).standard_normal((rows, columns)).astype(np.float32).tofile(path)
    call = f"MemmapDataset(path, ({rows}, {columns}), 'float32')"
    _forbid_whole_file_reads(monkeypatch)
    dataset = checks.call(call, impl.MemmapDataset, path, (rows, columns), "float32")
    first = checks.call(f"{call}[10]", dataset.__getitem__, 10)
    checks.shape(first, (columns,), f"{call}[10]")
    changed = np.arange(columns, dtype=np.float32)
    with open(path, "r+b") as file:
        file.seek(3000 * columns * 4)
        file.write(changed.tobytes())
    checks.close(
        checks.call(f"{call}[3000]", dataset.__getitem__, 3000), torch.from_numpy(changed),
        f"{call}[3000] after row 3000 of the file was rewritten (after the dataset was built)",
        "The dataset returned what the file held when it was built: it copied the whole file into memory. "
        "Keep the np.memmap and read rows from it in __getitem__.",
    )


@pytest.mark.kata("MemmapDataset")
@pytest.mark.points(1)
@pytest.mark.parametrize("shape", [(3, 4), (8, 4)])
def test_memmap_dataset_rejects_wrong_size(impl, tmp_path, shape):
    path = tmp_path / "rows.bin"
    np.zeros((6, 4), dtype=np.float32).tofile(path)
    _accepts(impl.MemmapDataset, (path, (6, 4), "float32"), 6, "MemmapDataset(path, (6, 4), 'float32')")
    checks.raises(
        ValueError, lambda: _construct(impl.MemmapDataset, path, shape, "float32"),
        f"MemmapDataset(path, {shape}, 'float32') for a file holding a (6, 4) float32 array",
        "Compare the file size with prod(shape) * itemsize and raise ValueError naming the shape.",
    )


# seeded_loader


def _indices(loader, call):
    return [int(i) for (batch,) in _batches(loader, call) for i in batch]


@pytest.mark.kata("seeded_loader")
@pytest.mark.points(2)
def test_seeded_loader_order_depends_only_on_seed(impl):
    dataset = TensorDataset(torch.arange(24))
    runs = {}
    for attempt, seed in enumerate((3, 3, 4)):
        call = f"seeded_loader(dataset of 24, 6, seed={seed})"
        loader = checks.call(call, impl.seeded_loader, dataset, 6, seed)
        torch.manual_seed(100 + attempt)  # a different global state each time
        runs.setdefault(seed, []).append([_indices(loader, call) for _ in range(2)])
    first, again = runs[3]
    checks.check(
        first == again,
        f"two seeded_loader(dataset, 6, seed=3) gave the epochs {first} and {again}; expected the same epochs.",
        "The order must come from a torch.Generator seeded with seed, not from the global RNG.",
    )
    checks.check(first[0] != first[1], f"both epochs of seeded_loader(dataset, 6, seed=3) were {first[0]}; "
                 "expected each epoch to reshuffle.")
    checks.check(
        first != runs[4][0],
        f"seeded_loader(dataset, 6, seed) gave the epochs {first} for seed 3 and for seed 4; expected different "
        "orders.",
        "Is the seed ignored?",
    )


@pytest.mark.kata("seeded_loader")
@pytest.mark.points(1)
def test_seeded_loader_leaves_global_rng_alone(impl):
    dataset = TensorDataset(torch.arange(10))
    state = torch.get_rng_state()
    call = "seeded_loader(dataset of 10, 3, seed=1)"
    loader = checks.call(call, impl.seeded_loader, dataset, 3, 1)
    order = _indices(loader, call)
    checks.check(
        torch.equal(state, torch.get_rng_state()),
        f"building and iterating {call} changed torch's global random state.",
        "Seed a torch.Generator of its own instead of calling torch.manual_seed.",
    )
    checks.check(sorted(order) == list(range(10)), f"one epoch of {call} gave {order}; expected each index once.")
    checks.check(order != list(range(10)), f"one epoch of {call} gave the indices in order; expected them shuffled.")


class _RandomDraws(Dataset):
    """Each item: its index, the worker that read it, and one draw from NumPy and from random."""

    def __len__(self):
        return 8

    def __getitem__(self, index):
        info = get_worker_info()
        worker = -1 if info is None else info.id
        return torch.tensor([index, worker, np.random.randint(2**31 - 1), random.randrange(2**31 - 1)])


@pytest.mark.kata("seeded_loader")
@pytest.mark.points(2)
def test_seeded_loader_seeds_workers(impl):
    runs = []
    for attempt in range(2):
        call = "seeded_loader(dataset, 2, seed=11, num_workers=2)"
        loader = checks.call(call, impl.seeded_loader, _RandomDraws(), 2, 11, num_workers=2)
        np.random.seed(attempt)
        runs.append(torch.cat(_batches(loader, call)))
    workers = set(runs[0][:, 1].tolist())
    checks.check(
        workers == {0, 1},
        f"one epoch of {call} was read by the workers {sorted(workers)} (-1 is the main process); expected "
        "workers 0 and 1.",
        "Pass num_workers on to the DataLoader.",
    )
    checks.close(
        runs[1], runs[0], f"the NumPy and random draws inside the workers of two {call}",
        "Workers must be seeded from the loader's seeded generator.",
    )
    for column, library in ((2, "np.random"), (3, "random")):
        draws = runs[0][:, column].tolist()
        checks.check(
            len(set(draws)) == len(draws),
            f"the {library} draws of the 8 items read by 2 workers of {call} repeat: {draws}; expected "
            "different draws in each worker.",
            "Seeding every worker with the same number makes them produce the same random stream.",
        )


@pytest.mark.kata("seeded_loader")
@pytest.mark.points(1)
def test_seeded_loader_batches(impl):
    call = "seeded_loader(dataset of 10, 3, seed=0)"
    loader = checks.call(call, impl.seeded_loader, TensorDataset(torch.arange(10)), 3, 0)
    checks.equal(
        [len(batch) for (batch,) in _batches(loader, call)], [3, 3, 3, 1], f"the batch sizes of {call}",
    )


# --- differential: every observable against the reference's recorded outcomes on generated cases ---------------

# The reference never runs here: `torchkata build` records its outcomes in cases_data.pt.


def _raised(value) -> bool:
    return type(value) is dict and differential.RAISED in value


def _pair(item):
    """An item, name-free: its type and its two parts (or what it is instead)."""
    if _raised(item):
        return item
    if isinstance(item, tuple | list) and len(item) == 2:
        return (type(item).__name__, item[0], item[1])
    return ("not a pair", type(item).__name__)


def _items(dataset, extra=()):
    """len(dataset) and every item, read at its index, its negative index and just past each end."""
    length = len(dataset)
    indices = [*range(length), *range(-length, 0), length, -length - 1, *extra]
    items = [(index, _pair(differential.attempt(dataset.__getitem__, index))) for index in indices]
    return {"len": length, "items": items}


def _seq_tensors(st, first=(0, 5), features=(0, 2), dtypes=(torch.float32, torch.int64)):
    return st.tuples(st.integers(*first), st.lists(st.integers(1, 3), min_size=features[0], max_size=features[1]),
                     st.sampled_from(dtypes)).flatmap(
        lambda spec: differential.tensors(st, shape=(spec[0], *spec[1]), dtype=spec[2], low=-3, high=3))


class _Recorder:
    """A transform that doubles x (plus noise when random) and records the shapes it was given."""

    def __init__(self, noisy: bool) -> None:
        self.noisy, self.seen = noisy, []

    def __call__(self, x):
        self.seen.append(tuple(x.shape))
        out = x * 2
        return out + torch.rand(x.shape) if self.noisy and x.is_floating_point() else out


@differential.scenario(
    "PairDataset",
    cases=lambda st: st.fixed_dictionaries({
        "X": _seq_tensors(st, first=(0, 4)), "extra_y": st.sampled_from((0, 0, 0, 1, -1)),
        "y_features": st.integers(0, 2), "transform": st.sampled_from((None, "double", "noisy")),
    }),
    edge=lambda: [
        {"X": torch.zeros(0, 3), "extra_y": 0, "y_features": 0, "transform": None},
        {"X": torch.arange(6.0).reshape(3, 2), "extra_y": 0, "y_features": 0, "transform": "noisy"},
        {"X": torch.arange(6.0).reshape(3, 2), "extra_y": 1, "y_features": 0, "transform": None},
        {"X": torch.arange(3), "extra_y": 0, "y_features": 2, "transform": "double"},
        {"X": torch.zeros(300, 1), "extra_y": 0, "y_features": 0, "transform": None},  # lengths past 256
    ],
    count=30,
)
def pair_dataset_outcome(impl, X, extra_y, y_features, transform):
    y = torch.arange((len(X) + extra_y) * 2 ** y_features).reshape(len(X) + extra_y, *([2] * y_features))
    recorder = None if transform is None else _Recorder(transform == "noisy")
    originals = (X.clone(), y.clone())
    dataset = impl.PairDataset(X, y, recorder)
    calls_when_built = len(recorder.seen) if recorder else 0
    first = _items(dataset)
    second = _items(dataset)
    return {"first reads": first, "second reads": second, "transform calls when built": calls_when_built,
            "transform saw": recorder.seen if recorder else None,
            "X and y unchanged": torch.equal(originals[0], X) and torch.equal(originals[1], y)}


@differential.scenario(
    "WindowDataset",
    cases=lambda st: st.fixed_dictionaries({
        "series": _seq_tensors(st, first=(0, 8), features=(0, 1)),
        "window": st.integers(-1, 4), "horizon": st.one_of(st.none(), st.integers(-1, 3)),
    }),
    edge=lambda: [
        {"series": torch.arange(5.0), "window": 3, "horizon": 2},
        {"series": torch.arange(4.0), "window": 3, "horizon": 2},
        {"series": torch.arange(6.0).reshape(3, 2), "window": 2, "horizon": None},
        {"series": torch.arange(5.0), "window": 0, "horizon": 1},
        {"series": torch.arange(5.0), "window": 2, "horizon": 0},
        {"series": torch.zeros(0), "window": 1, "horizon": 1},
    ],
    count=40,
)
def window_dataset_outcome(impl, series, window, horizon):
    before = series.clone()
    dataset = impl.WindowDataset(series, window) if horizon is None else impl.WindowDataset(series, window, horizon)
    return {"dataset": _items(dataset), "series unchanged": torch.equal(before, series)}


@differential.scenario(
    "CharDataset",
    cases=lambda st: st.fixed_dictionaries({
        "text": st.text(alphabet="ba c\nzé", min_size=1, max_size=9), "seq_len": st.integers(-1, 10),
    }),
    edge=lambda: [{"text": "hello", "seq_len": 4}, {"text": "hello", "seq_len": 5}, {"text": "ab", "seq_len": 1},
                  {"text": "a", "seq_len": 1}, {"text": "abc", "seq_len": 0}, {"text": "zyx zyx", "seq_len": 2},
                  {"text": "abc", "seq_len": 7}],
    count=40,
)
def char_dataset_outcome(impl, text, seq_len):
    dataset = differential.attempt(impl.CharDataset, text, seq_len)
    if differential.is_raised(dataset):  # a bad seq_len is refused when the dataset is built, not at len()
        return {"CharDataset(text, seq_len)": dataset}
    size = len(dataset.stoi)
    return {"dataset": _items(dataset), "stoi": dict(dataset.stoi), "itos": [dataset.itos[i] for i in range(size)],
            "len(itos)": len(dataset.itos)}


@differential.scenario(
    "pad_collate",
    cases=lambda st: st.tuples(st.lists(st.integers(1, 3), max_size=2), st.sampled_from((torch.float32, torch.int64)),
                               st.booleans()).flatmap(lambda spec: st.fixed_dictionaries({
        "sequences": st.lists(st.integers(0, 4).flatmap(lambda t: differential.tensors(
            st, shape=(t, *spec[0]), dtype=spec[1], low=-3, high=3)), min_size=0, max_size=4),
        "labels_as": st.sampled_from(("int", "tensor", "float tensor")),
        "pad_value": st.sampled_from((0, -1, 7)) if spec[1] == torch.int64 else st.sampled_from((0, -1, 2.5)),
        "as_tuple": st.booleans()})),
    edge=lambda: [
        {"sequences": [], "labels_as": "int", "pad_value": 0, "as_tuple": False},
        {"sequences": [torch.ones(2, 3)], "labels_as": "int", "pad_value": -1, "as_tuple": False},
        {"sequences": [torch.zeros(0, 2), torch.ones(1, 2)], "labels_as": "tensor", "pad_value": 2.5,
         "as_tuple": True},
        {"sequences": [torch.tensor([4, 5]), torch.tensor([6]), torch.tensor([7, 8, 9])], "labels_as": "int",
         "pad_value": 0, "as_tuple": False},
    ],
    count=40,
)
def pad_collate_outcome(impl, sequences, labels_as, pad_value, as_tuple):
    labels = [{"int": index * 3 % 5, "tensor": torch.tensor(index * 3 % 5),
               "float tensor": torch.tensor(index / 2)}[labels_as] for index in range(len(sequences))]
    batch = list(zip(sequences, labels, strict=True))
    batch = tuple(batch) if as_tuple else batch
    before = [s.clone() for s in sequences]
    result = impl.pad_collate(batch, pad_value) if pad_value != 0 else impl.pad_collate(batch)
    return {"type": type(result).__name__, "result": tuple(result) if isinstance(result, tuple | list) else result,
            "sequences unchanged": all(torch.equal(a, b) for a, b in zip(before, sequences, strict=True))}


def _global_rng():
    state = np.random.get_state()
    return (torch.get_rng_state(), random.getstate(), state[1].tolist(), state[2])


@differential.scenario(
    "balanced_loader",
    cases=lambda st: st.fixed_dictionaries({
        "counts": st.lists(st.integers(0, 30), min_size=1, max_size=4).filter(lambda c: sum(c) > 0),
        "offset": st.sampled_from((0, 0, 3)), "batch_size": st.integers(1, 9), "seed": st.integers(0, 3),
        "extra_labels": st.sampled_from((0, 0, 0, 1)),
    }),
    edge=lambda: [
        {"counts": [40, 5, 3], "offset": 0, "batch_size": 7, "seed": 0, "extra_labels": 0},
        {"counts": [0, 12, 0, 0, 2], "offset": 5, "batch_size": 4, "seed": 1, "extra_labels": 0},
        {"counts": [1], "offset": 0, "batch_size": 3, "seed": 2, "extra_labels": 0},
        {"counts": [6, 2], "offset": 0, "batch_size": 8, "seed": 0, "extra_labels": 1},
    ],
    count=20,
)
def balanced_loader_outcome(impl, counts, offset, batch_size, seed, extra_labels):
    labels = torch.cat([torch.full((count,), offset + label) for label, count in enumerate(counts)])
    labels = labels[torch.randperm(len(labels))]
    dataset = TensorDataset(torch.arange(len(labels)))
    given = torch.cat([labels, labels[:extra_labels]])
    rng_before = _global_rng()
    loader = impl.balanced_loader(dataset, given, batch_size, torch.Generator().manual_seed(seed))
    drawn = [[batch[0] for batch in loader] for _ in range(2)]
    rng_after = _global_rng()
    again = [batch[0] for batch in impl.balanced_loader(dataset, given, batch_size,
                                                        torch.Generator().manual_seed(seed))]
    # the frequencies, on the same classes repeated to 300 samples or more, drawn in large batches
    many = labels.repeat(-(-300 // len(labels)))
    big = impl.balanced_loader(TensorDataset(torch.arange(len(many))), many, 512, torch.Generator().manual_seed(seed))
    every = torch.cat([batch[0] for _ in range(3) for batch in big])
    present = sorted(set(labels.tolist()))
    fractions = [float((many[every] == label).double().mean()) for label in present]
    return {
        "batch sizes of an epoch": [len(index) for index in drawn[0]],
        "batch dtype": drawn[0][0].dtype,
        "samples in 3 epochs of the large dataset": len(every),
        "every index valid": bool(((every >= 0) & (every < len(many))).all()),
        "classes drawn about equally": all(abs(f - 1 / len(present)) < 0.1 for f in fractions),
        "the same generator seed gives the same draws": len(again) == len(drawn[0]) and all(
            torch.equal(a, b) for a, b in zip(again, drawn[0], strict=True)),
        "epochs differ": len(labels) < 6 or not all(torch.equal(a, b) for a, b in zip(*drawn, strict=True)),
        "global RNGs untouched": all(_same(a, b) for a, b in zip(rng_before, rng_after, strict=True)),
        "labels unchanged": torch.equal(given[: len(labels)], labels),
    }


def _same(a, b) -> bool:
    return torch.equal(a, b) if isinstance(a, torch.Tensor) else a == b


_NUMPY_DTYPES = ("float32", "float64", "int16", "uint8")


@differential.scenario(
    "MemmapDataset",
    cases=lambda st: st.fixed_dictionaries({
        "values": st.sampled_from(_NUMPY_DTYPES).flatmap(lambda name: differential.tensors(
            st, dtype={"float32": torch.float32, "float64": torch.float64, "int16": torch.int16,
                       "uint8": torch.uint8}[name], low=0, high=9, min_dims=1, max_dims=3, max_side=4).map(
            lambda t: (name, t))),
        "declared": st.sampled_from(("same", "same", "same", "one row more", "one row fewer", "float64 instead",
                                     "list shape")),
        "dtype_as": st.sampled_from(("string", "numpy")),
    }),
    edge=lambda: [
        {"values": ("float32", torch.arange(6.0).reshape(3, 2)), "declared": "same", "dtype_as": "string"},
        {"values": ("uint8", torch.arange(4, dtype=torch.uint8)), "declared": "same", "dtype_as": "numpy"},
        {"values": ("float32", torch.arange(6.0).reshape(3, 2)), "declared": "one row more", "dtype_as": "string"},
        {"values": ("float32", torch.arange(6.0).reshape(3, 2)), "declared": "one row fewer", "dtype_as": "string"},
        {"values": ("int16", torch.arange(8, dtype=torch.int16).reshape(2, 2, 2)), "declared": "float64 instead",
         "dtype_as": "numpy"},
    ],
    count=30,
)
def memmap_dataset_outcome(impl, values, declared, dtype_as):
    name, tensor = values
    array = tensor.numpy().astype(name)
    shape = tuple(array.shape)
    dtype = name
    if declared == "one row more":
        shape = (shape[0] + 1, *shape[1:])
    elif declared == "one row fewer":
        shape = (shape[0] - 1, *shape[1:])
    elif declared == "float64 instead":
        dtype = "float64" if name != "float64" else "float32"
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "rows.bin")
        array.tofile(path)
        content = open(path, "rb").read()
        dataset = differential.attempt(impl.MemmapDataset, path, list(shape) if declared == "list shape" else shape,
                           np.dtype(dtype) if dtype_as == "numpy" else dtype)
        if _raised(dataset):
            seen = dataset
        else:
            length = len(dataset)
            indices = [*range(length), -1, -length, length, -length - 1]
            seen = {"len": length, "rows": [(i, differential.attempt(dataset.__getitem__, i)) for i in indices]}
            del dataset
        return {"dataset": seen, "file unchanged": open(path, "rb").read() == content,
                "files in the folder": sorted(os.listdir(folder))}


@differential.scenario(
    "seeded_loader",
    cases=lambda st: st.fixed_dictionaries({
        "size": st.integers(1, 13), "batch_size": st.integers(1, 5), "seed": st.sampled_from((0, 1, 7, 2**40)),
    }),
    edge=lambda: [{"size": 10, "batch_size": 3, "seed": 0}, {"size": 1, "batch_size": 4, "seed": 5},
                  {"size": 8, "batch_size": 8, "seed": 2**40}, {"size": 7, "batch_size": 1, "seed": 3}],
    count=25,
)
def seeded_loader_outcome(impl, size, batch_size, seed):
    dataset = TensorDataset(torch.arange(size))

    def two_epochs(loader):
        return [[batch[0] for batch in loader] for _ in range(2)]

    rng_before = _global_rng()
    first = two_epochs(impl.seeded_loader(dataset, batch_size, seed))
    rng_after = _global_rng()
    torch.manual_seed(seed + 99)
    random.seed(seed + 99)
    np.random.seed((seed + 99) % 2**32)
    again = two_epochs(impl.seeded_loader(dataset, batch_size, seed))
    other = two_epochs(impl.seeded_loader(dataset, batch_size, seed + 1))
    def order(epoch):
        return [int(i) for batch in epoch for i in batch]

    orders = [order(epoch) for epoch in first]
    return {
        "batch sizes": [[len(batch) for batch in epoch] for epoch in first],
        "batch type": [(type(batch).__name__, batch.dtype) for batch in first[0][:1]],
        "every epoch a permutation": all(sorted(order) == list(range(size)) for order in orders),
        "the same seed gives the same epochs, whatever the global RNGs": [order(e) for e in again] == orders,
        "another seed gives another order": size < 6 or [order(e) for e in other] != orders,
        "shuffled": size < 6 or orders[0] != list(range(size)),
        "each epoch reshuffled": size < 6 or orders[0] != orders[1],
        "global RNGs untouched": all(_same(a, b) for a, b in zip(rng_before, rng_after, strict=True)),
    }


@pytest.mark.kata("PairDataset")
@pytest.mark.points(1)
def test_pair_dataset_agrees_with_the_reference_on_generated_cases(impl):
    pair_dataset_outcome.check(impl)


@pytest.mark.kata("WindowDataset")
@pytest.mark.points(2)
def test_window_dataset_agrees_with_the_reference_on_generated_cases(impl):
    window_dataset_outcome.check(impl)


@pytest.mark.kata("CharDataset")
@pytest.mark.points(2)
def test_char_dataset_agrees_with_the_reference_on_generated_texts(impl):
    char_dataset_outcome.check(impl)


@pytest.mark.kata("pad_collate")
@pytest.mark.points(2)
def test_pad_collate_agrees_with_the_reference_on_generated_batches(impl):
    pad_collate_outcome.check(impl)


@pytest.mark.kata("balanced_loader")
@pytest.mark.points(2)
def test_balanced_loader_agrees_with_the_reference_on_generated_labels(impl):
    balanced_loader_outcome.check(impl)


@pytest.mark.kata("MemmapDataset")
@pytest.mark.points(2)
def test_memmap_dataset_agrees_with_the_reference_on_generated_files(impl):
    memmap_dataset_outcome.check(impl)


@pytest.mark.kata("seeded_loader")
@pytest.mark.points(2)
def test_seeded_loader_agrees_with_the_reference_on_generated_cases(impl):
    seeded_loader_outcome.check(impl)
