"""Hidden checks for chapter 10, data: values against independent slicing, sampling statistics, laziness."""

import random
from functools import partial

import numpy as np
import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence
from torch.utils.data import DataLoader, Dataset, TensorDataset, get_worker_info

from torchkata import checks

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

