"""Hidden checks for chapter 08, io: safe loading, exact resume, atomic writes, portable exports.

Checkpoints are inspected by structure (a dict equal to model.state_dict() somewhere inside), never
by key names, so any sensible layout of the checkpoint dict gets full marks.
"""

import copy
import inspect
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from torchkata import checks
from torchkata.graderkit import differential, errors, forbid, loading

SAFE_LOAD_HINT = "Save state_dicts (plain tensors in dicts), never the model or optimizer objects."


# ---------------------------------------------------------------- helpers


class _Payload:
    """Unpickling it creates a directory: it stands for code hidden in a malicious file."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


class _Unpicklable:
    """Pickling it fails: it stands for a disk that fills up half-way through torch.save."""

    def __reduce__(self):
        raise RuntimeError("simulated failure half-way through writing the file")


def _model(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 5), nn.BatchNorm1d(5), nn.Tanh(), nn.Linear(5, 2))


def _training(seed: int) -> tuple[nn.Module, torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    model = _model(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    return model, optimizer, scheduler


def _batches(count: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(7)
    return [(torch.randn(4, 3, generator=generator), torch.randn(4, 2, generator=generator)) for _ in range(count)]


def _train(model, optimizer, scheduler, batches) -> None:
    model.train()
    for x, y in batches:
        optimizer.zero_grad()
        F.mse_loss(model(x), y).backward()
        optimizer.step()
        scheduler.step()


def _nodes(structure: Any) -> Iterator[Any]:
    """Every value inside a loaded checkpoint, containers included, depth first."""
    yield structure
    if isinstance(structure, Mapping):
        for value in structure.values():
            yield from _nodes(value)
    elif isinstance(structure, list | tuple):
        for value in structure:
            yield from _nodes(value)


def _same(a: Any, b: Any) -> bool:
    """Deep equality where tensors compare with torch.equal (and dtype)."""
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return (
            isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)
            and a.dtype == b.dtype and a.shape == b.shape and torch.equal(a.cpu(), b.cpu())
        )
    if isinstance(a, Mapping) or isinstance(b, Mapping):
        return isinstance(a, Mapping) and isinstance(b, Mapping) and set(a) == set(b) and all(
            _same(a[k], b[k]) for k in a
        )
    if isinstance(a, list | tuple) or isinstance(b, list | tuple):
        return isinstance(a, list | tuple) and isinstance(b, list | tuple) and len(a) == len(b) and all(
            _same(x, y) for x, y in zip(a, b, strict=True)
        )
    return type(a) is type(b) and a == b


def _holds(checkpoint: Any, expected: Any) -> bool:
    return any(_same(node, expected) for node in _nodes(checkpoint))


def _load_safely(path: Path, call: str, hint: str = SAFE_LOAD_HINT) -> Any:
    return loading.load_weights_only(path, call, hint)


def _load_checkpoint_dict(path: Path, call: str) -> Mapping:
    loaded = _load_safely(path, call)
    checks.check(
        isinstance(loaded, Mapping),
        f"the file written by {call} holds {checks.describe(loaded)}; expected a dict of state_dicts.",
    )
    return loaded


def _lookup(info: Mapping, key: str) -> Any:
    """info[key], or the value under key in a nested dict such as info['extra']."""
    if key in info:
        return info[key]
    for value in info.values():
        if isinstance(value, Mapping) and key in value:
            return value[key]
    return None


def _first_difference(actual: Mapping, expected: Mapping) -> str | None:
    for name, want in expected.items():
        got = actual[name]
        if not torch.equal(got, want):
            error = (got.double() - want.double()).abs().max().item()
            return f"{name!r} (largest difference {error:.3g})"
    return None


# ---------------------------------------------------------------- save_tensors


@pytest.mark.kata("save_tensors")
@pytest.mark.points(2)
def test_save_tensors_keeps_names_dtypes_and_values(impl, tmp_path):
    tensors = {
        "weights": torch.randn(2, 3, 4, dtype=torch.float64),
        "mask": torch.rand(5) > 0.5,
        "count": torch.tensor(17),
        "half": torch.randn(3).half(),
    }
    for index, content in enumerate([tensors, {"only": torch.arange(6).reshape(2, 3)}, {}]):
        path = tmp_path / f"tensors{index}.pt"
        call = f"save_tensors(path, {{{', '.join(repr(k) + ': ...' for k in content)}}})"
        checks.call(call, impl.save_tensors, path, content)
        loaded = _load_safely(path, call, "torch.save a plain dict: {name: tensor}.")
        checks.check(
            isinstance(loaded, Mapping) and sorted(loaded) == sorted(content),
            f"the file written by {call} holds {checks.describe(loaded)}; expected a dict with keys {sorted(content)}.",
            "Keep the names: save the dict itself, not its values.",
        )
        for name, value in content.items():
            checks.close(loaded[name], value, f"entry {name!r} of the file written by {call}")


@pytest.mark.kata("save_tensors")
@pytest.mark.points(1)
def test_save_tensors_rejects_what_is_not_a_dict_of_tensors(impl, tmp_path):
    call = "save_tensors(path, {'w': torch.ones(2)})"  # a valid dict first: refusing everything earns nothing
    checks.call(call, impl.save_tensors, tmp_path / "good.pt", {"w": torch.ones(2)})
    saved = _load_safely(tmp_path / "good.pt", call)
    checks.check(isinstance(saved, Mapping) and list(saved) == ["w"] and torch.equal(saved["w"], torch.ones(2)),
                 f"the file written by {call} holds {checks.describe(saved)}; expected {{'w': tensor([1., 1.])}}.")
    for bad, text in [({"w": [1.0, 2.0]}, "{'w': [1.0, 2.0]}"), ([torch.ones(2)], "[torch.ones(2)]")]:
        checks.raises(
            (TypeError, ValueError),
            lambda bad=bad: impl.save_tensors(tmp_path / "bad.pt", bad),
            f"save_tensors(path, {text})",
            "Check that tensors is a dict whose values are all tensors; raise TypeError naming the bad entry.",
        )


# ---------------------------------------------------------------- load_tensors


@pytest.mark.kata("load_tensors")
@pytest.mark.points(2)
def test_load_tensors_refuses_pickled_code(impl, tmp_path):
    torch.save({"weight": torch.ones(2)}, tmp_path / "plain.pt")  # a plain file loads: refusing all earns nothing
    plain_call = "load_tensors(path) of {'weight': torch.ones(2)}"
    plain = checks.call(plain_call, impl.load_tensors, tmp_path / "plain.pt")
    checks.check(
        isinstance(plain, Mapping) and list(plain) == ["weight"] and torch.equal(plain["weight"], torch.ones(2)),
        f"{plain_call} returned {checks.describe(plain)}; expected that dict back.",
    )
    marker = tmp_path / "payload-ran"
    path = tmp_path / "tensors.pt"
    torch.save({"weight": torch.ones(2), "payload": _Payload(marker)}, path)
    error = errors.raised(lambda: impl.load_tensors(path))
    checks.check(
        not marker.exists(),
        "load_tensors(path) of a file holding a pickled os.mkdir call ran that call.",
        "Load with torch.load(path, weights_only=True): the safe unpickler refuses code in the file.",
    )
    checks.check(
        error is not None,
        "load_tensors(path) of a file holding pickled code returned normally; expected torch.load with "
        "weights_only=True to refuse it (pickle.UnpicklingError).",
    )


@pytest.mark.kata("load_tensors")
@pytest.mark.points(1)
def test_load_tensors_keeps_dtypes_and_values(impl, tmp_path):
    content = {"ids": torch.randint(0, 9, (3, 2)), "scale": torch.randn(()), "grid": torch.randn(2, 2, 2).double()}
    path = tmp_path / "tensors.pt"
    torch.save(content, path)
    loaded = checks.call("load_tensors(path)", impl.load_tensors, path)
    checks.check(
        isinstance(loaded, Mapping) and sorted(loaded) == sorted(content),
        f"load_tensors(path) returned {checks.describe(loaded)}; expected a dict with keys {sorted(content)}.",
    )
    for name, value in content.items():
        checks.close(loaded[name], value, f"load_tensors(path)[{name!r}]")


# ---------------------------------------------------------------- save_checkpoint


def _saved_after_training(impl, path: Path, epoch: int = 13, **extra):
    model, optimizer, scheduler = _training(0)
    _train(model, optimizer, scheduler, _batches(3))
    extras = "".join(f", {name}={value!r}" for name, value in extra.items())
    call = f"save_checkpoint(path, model, optimizer, epoch={epoch}, scheduler=scheduler{extras})"
    checks.call(call, impl.save_checkpoint, path, model, optimizer, epoch, scheduler, **extra)
    return model, optimizer, scheduler, call


@pytest.mark.kata("save_checkpoint")
@pytest.mark.points(2)
def test_save_checkpoint_holds_model_and_optimizer_state(impl, tmp_path):
    path = tmp_path / "checkpoint.pt"
    model, optimizer, _, call = _saved_after_training(impl, path)
    loaded = _load_checkpoint_dict(path, call)
    checks.check(
        _holds(loaded, model.state_dict()),
        f"the file written by {call} holds no dict equal to model.state_dict() (weights and buffers).",
    )
    checks.check(
        _holds(loaded, optimizer.state_dict()),
        f"the file written by {call} holds no dict equal to optimizer.state_dict().",
        "Without Adam's moments and step counts, resumed training takes different steps: store "
        "optimizer.state_dict() too.",
    )


@pytest.mark.kata("save_checkpoint")
@pytest.mark.points(1)
def test_save_checkpoint_holds_scheduler_epoch_and_extra(impl, tmp_path):
    path = tmp_path / "checkpoint.pt"
    _, _, scheduler, call = _saved_after_training(impl, path, best_acc=0.8125, note="warm-restart")
    loaded = _load_checkpoint_dict(path, call)
    checks.check(
        _holds(loaded, scheduler.state_dict()),
        f"the file written by {call} holds no dict equal to scheduler.state_dict().",
    )
    values = list(_nodes(loaded))
    for name, value in [("epoch", 13), ("best_acc", 0.8125), ("note", "warm-restart")]:
        checks.check(
            any(type(node) is type(value) and node == value for node in values),
            f"the file written by {call} does not hold {name} = {value!r}.",
        )


@pytest.mark.kata("save_checkpoint")
@pytest.mark.points(2)
def test_save_checkpoint_failure_leaves_the_old_file_intact(impl, tmp_path):
    path = tmp_path / "checkpoint.pt"
    _saved_after_training(impl, path, epoch=1)
    good = path.read_bytes()
    model, optimizer, scheduler = _training(1)
    call = "save_checkpoint(path, model, optimizer, 2, scheduler, broken=<object whose pickling fails>)"
    error = errors.raised(lambda: impl.save_checkpoint(path, model, optimizer, 2, scheduler, broken=_Unpicklable()))
    checks.check(
        path.is_file() and path.read_bytes() == good,
        f"{call} failed half-way and left the existing checkpoint at path "
        f"{'truncated or overwritten' if path.is_file() else 'deleted'}.",
        "Write into a temporary file in the same directory and publish it with os.replace(temporary, path) "
        "only once torch.save has finished.",
    )
    checks.check(error is not None, f"{call} returned normally; expected the pickling error to propagate.")


@pytest.mark.kata("save_checkpoint")
@pytest.mark.points(1)
def test_save_checkpoint_publishes_with_os_replace(impl, tmp_path, monkeypatch):
    real_replace = os.replace
    moves: list[tuple[Path, Path]] = []

    def spy(src, dst, *args, **kwargs):
        moves.append((Path(os.fsdecode(src)), Path(os.fsdecode(dst))))
        return real_replace(src, dst, *args, **kwargs)

    forbid.apply(monkeypatch, forbid.replacements([(os, "replace")], lambda label: spy, aliases_in=impl))
    directory = tmp_path / "runs"
    directory.mkdir()
    path = directory / "checkpoint.pt"
    _, _, _, call = _saved_after_training(impl, path)
    published = [src for src, dst in moves if dst.resolve() == path.resolve()]
    checks.check(
        published,
        f"{call} never called os.replace(temporary, path).",
        "Write the checkpoint to a temporary file, then publish it in one step with os.replace.",
    )
    checks.check(
        all(src.resolve().parent == directory.resolve() for src in published),
        f"{call} moved {published[0]} onto the target; expected a temporary file in the target's own "
        "directory (os.replace is atomic only within one file system).",
    )
    _load_checkpoint_dict(path, call)


@pytest.mark.kata("save_checkpoint")
@pytest.mark.points(1)
def test_save_checkpoint_rejects_a_bad_epoch(impl, tmp_path):
    model, optimizer, _ = _training(0)
    call = "save_checkpoint(path, model, optimizer, epoch=3)"  # a valid epoch first: refusing all earns nothing
    checks.call(call, impl.save_checkpoint, tmp_path / "good.pt", model, optimizer, 3)
    _load_checkpoint_dict(tmp_path / "good.pt", call)
    for epoch in (-1, "3"):
        checks.raises(
            (ValueError, TypeError),
            lambda epoch=epoch: impl.save_checkpoint(tmp_path / "bad.pt", model, optimizer, epoch),
            f"save_checkpoint(path, model, optimizer, epoch={epoch!r})",
            "epoch must be a non-negative int; raise ValueError or TypeError naming it.",
        )


# ---------------------------------------------------------------- load_checkpoint


@pytest.mark.kata("load_checkpoint")
@pytest.mark.points(3)
def test_resume_equals_uninterrupted_training(impl, tmp_path):
    batches = _batches(6)
    straight = _training(0)
    _train(*straight, batches)
    first = _training(0)
    _train(*first, batches[:3])
    path = tmp_path / "resume.pt"
    model, optimizer, scheduler = first
    checks.call(
        "save_checkpoint(path, model, optimizer, 3, scheduler)",
        impl.save_checkpoint, path, model, optimizer, 3, scheduler,
    )
    resumed = _training(1)
    checks.call(
        "load_checkpoint(path, model, optimizer, scheduler) with fresh objects", impl.load_checkpoint, path, *resumed
    )
    _train(*resumed, batches[3:])
    story = "after 3 Adam steps, save_checkpoint, load_checkpoint into fresh model/optimizer/scheduler and 3 more steps"
    want, got = straight[1].state_dict()["state"], resumed[1].state_dict()["state"]
    steps = [int(got[i]["step"]) for i in sorted(got)] if got else []
    checks.check(
        steps == [int(want[i]["step"]) for i in sorted(want)],
        f"{story}, Adam's step counts are {steps}; expected 6 for every parameter.",
        "The optimizer state was not saved or not restored: call optimizer.load_state_dict.",
    )
    checks.check(
        resumed[2].get_last_lr() == straight[2].get_last_lr(),
        f"{story}, the learning rate is {resumed[2].get_last_lr()}; expected {straight[2].get_last_lr()} "
        "as after 6 uninterrupted steps.",
        "Restore the scheduler with scheduler.load_state_dict when one is given.",
    )
    difference = _first_difference(resumed[0].state_dict(), straight[0].state_dict())
    checks.check(
        difference is None,
        f"{story}, model entry {difference} differs from 6 uninterrupted steps; expected bitwise equality on CPU.",
        "Restore the model's weights and buffers with model.load_state_dict.",
    )
    for index in sorted(want):
        for key in ("exp_avg", "exp_avg_sq"):
            checks.check(
                torch.equal(got[index][key], want[index][key]),
                f"{story}, Adam's {key} of parameter {index} differs from 6 uninterrupted steps.",
            )


@pytest.mark.kata("load_checkpoint")
@pytest.mark.points(1)
def test_load_checkpoint_returns_epoch_and_extra(impl, tmp_path):
    path = tmp_path / "checkpoint.pt"
    _saved_after_training(impl, path, epoch=13, best_acc=0.8125, note="warm-restart")
    call = (
        "load_checkpoint(path, model, optimizer, scheduler) of "
        "save_checkpoint(..., epoch=13, best_acc=0.8125, note='warm-restart')"
    )
    info = checks.call(call, impl.load_checkpoint, path, *_training(1))
    checks.check(isinstance(info, Mapping), f"{call} returned {checks.describe(info)}; expected a dict.")
    for key, value in [("epoch", 13), ("best_acc", 0.8125), ("note", "warm-restart")]:
        checks.check(
            _lookup(info, key) == value,
            f"{call} returned {checks.describe(info)}; expected it to hold {key} = {value!r}.",
            "Return {'epoch': epoch, **extra}.",
        )


@pytest.mark.kata("load_checkpoint")
@pytest.mark.points(2)
def test_load_checkpoint_is_strict(impl, tmp_path):
    path = tmp_path / "checkpoint.pt"
    model, optimizer, _, _ = _saved_after_training(impl, path)
    bigger = nn.Sequential(*_model(1), nn.Linear(2, 2))
    checks.raises(
        (RuntimeError, KeyError, ValueError),
        lambda: impl.load_checkpoint(path, bigger),
        "load_checkpoint(path, model) where the model has one more Linear layer than the checkpoint",
        "Missing keys must not pass silently: keep model.load_state_dict strict (the default).",
    )
    loaded = dict(torch.load(path, weights_only=True))
    states = [node for node in _nodes(loaded) if isinstance(node, Mapping) and _same(node, model.state_dict())]
    checks.check(states, "the checkpoint holds no dict equal to model.state_dict().")
    del states[0]["3.bias"]
    torch.save(loaded, path)
    checks.raises(
        (RuntimeError, KeyError, ValueError),
        lambda: impl.load_checkpoint(path, _model(1)),
        "load_checkpoint(path, model) of a checkpoint whose model state lacks '3.bias'",
        "Missing keys must not pass silently: keep model.load_state_dict strict (the default).",
    )


@pytest.mark.kata("load_checkpoint")
@pytest.mark.points(2)
def test_load_checkpoint_maps_a_gpu_checkpoint_to_cpu(impl, tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.pt"
    absent_gpu = f"cuda:{torch.cuda.device_count()}"
    with monkeypatch.context() as patch:
        # Every storage is tagged as living on a GPU this machine does not have.
        patch.setattr(torch.serialization, "location_tag", lambda storage: absent_gpu)
        model, optimizer, scheduler, _ = _saved_after_training(impl, path)
    fresh = _training(1)
    checks.call(
        f"load_checkpoint(path, model, optimizer, scheduler) of a checkpoint saved on {absent_gpu}, "
        "on a machine without that GPU",
        impl.load_checkpoint, path, *fresh,
    )
    difference = _first_difference(fresh[0].state_dict(), model.state_dict())
    checks.check(difference is None, f"after load_checkpoint of a GPU checkpoint, model entry {difference} differs.")


@pytest.mark.kata("load_checkpoint")
@pytest.mark.points(1)
def test_load_checkpoint_passes_map_location_on(impl, tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.pt"
    _saved_after_training(impl, path)
    real_load = torch.load
    signature = inspect.signature(real_load)
    locations = []

    def spy(*args, **kwargs):
        locations.append(signature.bind(*args, **kwargs).arguments.get("map_location"))
        return real_load(*args, **kwargs)

    targets = [(torch, "load"), (torch.serialization, "load")]
    forbid.apply(monkeypatch, forbid.replacements(targets, lambda label: spy, aliases_in=impl))
    on_meta = _model(1).to("meta")
    call = "load_checkpoint(path, model_on_meta, map_location='meta')"
    checks.call(call, impl.load_checkpoint, path, on_meta, map_location="meta")
    checks.check(locations, f"{call} never called torch.load.")
    checks.check(
        all(isinstance(loc, str | torch.device) and torch.device(loc) == torch.device("meta") for loc in locations),
        f"{call} called torch.load with map_location={locations[0]!r}; expected 'meta'.",
        "Pass the map_location argument on to torch.load(path, map_location=map_location, weights_only=True).",
    )


@pytest.mark.kata("load_checkpoint")
@pytest.mark.points(2)
def test_load_checkpoint_refuses_pickled_code(impl, tmp_path):
    path = tmp_path / "checkpoint.pt"
    _saved_after_training(impl, path)
    loaded = dict(_load_checkpoint_dict(path, "save_checkpoint(...)"))
    marker = tmp_path / "payload-ran"
    loaded["payload"] = _Payload(marker)
    torch.save(loaded, path)
    error = errors.raised(lambda: impl.load_checkpoint(path, _model(1)))
    call = "load_checkpoint(path, model) of a checkpoint holding a pickled os.mkdir call"
    checks.check(
        not marker.exists(),
        f"{call} ran that call.",
        "Load with torch.load(..., weights_only=True): the safe unpickler refuses code in the file.",
    )
    checks.check(error is not None, f"{call} returned normally; expected weights_only=True to refuse the file.")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU; this machine has none")
@pytest.mark.kata("load_checkpoint")
@pytest.mark.points(1)
def test_load_checkpoint_cuda_checkpoint_into_cpu_model(impl, tmp_path):
    model, optimizer, scheduler = _training(0)
    model.cuda()
    _train(model, optimizer, scheduler, [(x.cuda(), y.cuda()) for x, y in _batches(2)])
    path = tmp_path / "checkpoint.pt"
    checks.call("save_checkpoint(path, cuda_model, optimizer, 2, scheduler)", impl.save_checkpoint,
                path, model, optimizer, 2, scheduler)
    fresh = _training(1)
    checks.call("load_checkpoint(path, cpu_model, optimizer, scheduler)", impl.load_checkpoint, path, *fresh)
    for (name, want), got in zip(model.state_dict().items(), fresh[0].state_dict().values(), strict=True):
        checks.device(got, "cpu", f"entry {name!r} of the CPU model after load_checkpoint")
        checks.close(got, want.cpu(), f"entry {name!r} of the CPU model after load_checkpoint")


# ---------------------------------------------------------------- reuse_layers_


def _source_and_destination() -> tuple[dict[str, torch.Tensor], nn.Module]:
    source = _model(0)
    with torch.no_grad():
        source[1].running_mean.uniform_(-1, 1)
        source[1].running_var.uniform_(0.5, 2)
        source[1].num_batches_tracked.fill_(9)
    state = {key: value.clone() for key, value in source.state_dict().items()}
    torch.manual_seed(1)
    destination = nn.Sequential(nn.Linear(3, 5), nn.BatchNorm1d(5), nn.Tanh(), nn.Linear(5, 2))
    return state, destination


@pytest.mark.kata("reuse_layers_")
@pytest.mark.points(2)
def test_reuse_layers_copies_only_matching_entries(impl):
    state, destination = _source_and_destination()
    untouched = {key: value.clone() for key, value in destination.state_dict().items() if key.startswith("3.")}
    call = "reuse_layers_(src_state_dict, dst, ['0.', '1.']) for two networks of the same architecture"
    keys = checks.call(call, impl.reuse_layers_, state, destination, ["0.", "1."])
    expected = sorted(key for key in state if key.startswith(("0.", "1.")))
    checks.check(
        isinstance(keys, list) and sorted(keys) == expected,
        f"{call} returned {checks.describe(keys)}; expected the copied keys {expected} (buffers included).",
        "Return the keys you copied, nothing else.",
    )
    after = destination.state_dict()
    for key in expected:
        checks.close(after[key], state[key], f"dst entry {key!r} after {call}")
    for key, value in untouched.items():
        checks.close(
            after[key], value, f"dst entry {key!r} after {call}", "Layers outside the prefixes stay as they were."
        )


@pytest.mark.kata("reuse_layers_")
@pytest.mark.points(2)
def test_reuse_layers_copies_in_place(impl):
    state, destination = _source_and_destination()
    before = list(destination.parameters())
    optimizer = torch.optim.SGD(destination.parameters(), lr=0.1)
    call = "reuse_layers_(src_state_dict, dst, ['0.'])"
    checks.call(call, impl.reuse_layers_, state, destination, ["0."])
    checks.close(destination[0].weight.detach(), state["0.weight"], f"dst[0].weight after {call}",
                 "Copy the values of the selected layers: staying in place earns nothing without them.")
    checks.same_objects(
        before, list(destination.parameters()), call,
        "Copy into the existing tensors (tensor.copy_ under torch.no_grad()); new Parameters are invisible to "
        "an optimizer built earlier.",
    )
    checks.check(
        optimizer.param_groups[0]["params"][0] is destination[0].weight,
        f"after {call}, an optimizer built earlier no longer holds dst[0].weight.",
    )
    copied = destination[0].weight.detach().clone()
    state["0.weight"].add_(100.0)
    checks.close(
        destination[0].weight.detach(), copied,
        f"dst[0].weight after {call} and then changing src_state_dict['0.weight']",
        "Copy the values: dst must not share memory with the source state dict.",
    )


@pytest.mark.kata("reuse_layers_")
@pytest.mark.points(1)
def test_reuse_layers_rejects_a_shape_mismatch(impl):
    state, matching = _source_and_destination()
    call = "reuse_layers_(src_state_dict, dst of the same shapes, ['0.'])"  # a valid call first
    checks.equal(checks.call(call, impl.reuse_layers_, state, matching, ["0."]), ["0.weight", "0.bias"], call)
    destination = nn.Sequential(nn.Linear(3, 7), nn.BatchNorm1d(7), nn.Tanh(), nn.Linear(7, 2))
    checks.raises(
        (ValueError, RuntimeError),
        lambda: impl.reuse_layers_(state, destination, ["0."]),
        "reuse_layers_(src_state_dict, dst, ['0.']) where src '0.weight' is (5, 3) and dst's is (7, 3)",
        "A layer of another shape cannot be reused: raise ValueError naming the key.",
    )


# ---------------------------------------------------------------- export_for_inference


class _Scorer(nn.Module):
    """A network with batch norm, dropout and a skip from the input; its class exists only in this file."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(6, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.5))
        self.head = nn.Linear(16, 3)

    def forward(self, x):
        return self.head(self.body(x)) + 0.5 * x[:, :3]


_RUNNER = """
import sys
import torch

model_path, inputs_path, outputs_path = sys.argv[1:4]
if sys.stdin.readline().strip() != "go":
    sys.exit(0)
errors = []
for name, load in (("torch.export.load", lambda p: torch.export.load(p).module()), ("torch.jit.load", torch.jit.load)):
    try:
        model = load(model_path)
        break
    except Exception as error:
        errors.append(name + " raised " + type(error).__name__)
else:
    sys.exit("neither torch.export.load nor torch.jit.load can read it (" + ", ".join(errors) + ")")
inputs = torch.load(inputs_path, weights_only=True)
torch.manual_seed(0)  # a model exported in train mode then drops the same units in every run
with torch.no_grad():
    torch.save([model(x) for x in inputs], outputs_path)
"""


def _trained_scorer() -> nn.Module:
    model = _Scorer()
    model.train()
    generator = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for _ in range(3):
            model(2 * torch.randn(32, 6, generator=generator) + 1)
    return model


@pytest.mark.kata("export_for_inference")
@pytest.mark.points(3)
def test_export_runs_in_a_fresh_process_without_the_class(impl, tmp_path):
    model = _trained_scorer()
    reference = copy.deepcopy(model).eval()
    example, other = torch.randn(4, 6), torch.randn(4, 6)
    model_path, inputs_path, outputs_path = tmp_path / "model.pt2", tmp_path / "inputs.pt", tmp_path / "outputs.pt"
    torch.save([example, other], inputs_path)
    # The child imports torch while the student's code exports; it cannot import this file or the chapter module.
    child = subprocess.Popen(
        [sys.executable, "-I", "-c", _RUNNER, str(model_path), str(inputs_path), str(outputs_path)],
        cwd=tmp_path, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        call = "export_for_inference(trained_model_in_train_mode, x, path)"
        checks.call(call, impl.export_for_inference, model, example, model_path)
        checks.check(model_path.is_file(), f"after {call}, no file exists at path.")
        _, stderr = child.communicate("go\n", timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    last = (stderr.strip().splitlines() or ["(no output)"])[-1]
    checks.check(
        child.returncode == 0 and outputs_path.is_file(),
        f"a fresh Python process without the model's class could not run the file written by {call}: {last}",
        "Save a self-contained program (torch.export.export + torch.export.save), not the pickled module "
        "or its state_dict.",
    )
    outputs = torch.load(outputs_path, weights_only=True)
    with torch.no_grad():
        for name, x, out in zip(("the example input", "a new input"), (example, other), outputs, strict=True):
            checks.close(
                out, reference(x), f"the exported model, run in a fresh process on {name} of shape (4, 6)",
                "Export the model in eval mode (model.eval()): dropout off, batch norm on its running statistics.",
                rtol=1e-4, atol=1e-5,
            )


# ---------------------------------------------------------------- differential: every observable against the reference
#
# Each scenario works in a private temporary directory built inside the observation, builds the models,
# optimizers and schedulers from plain case values, and records what the docstrings fix: what came back or
# what was raised, the files left in the directory (also after a failure), what the files hold (by
# structure, never by the student's key names), and the state of every object passed in afterwards.

NAMES = ("weight", "bias", "steps", "mask", "w0", "running_mean", "a.b")
TENSOR_DTYPES = (torch.float16, torch.float32, torch.float64, torch.int64, torch.bool)


def _files(directory: Path) -> list[str]:
    return sorted(os.listdir(directory))


def _plain(value: Any) -> Any:
    """A Mapping as a plain dict (an OrderedDict is a dict too), anything else as it is."""
    return {key: value[key] for key in value} if isinstance(value, Mapping) else value


def _record(value: Any) -> Any:
    """A state_dict as the comparison takes it: every Mapping a plain dict with str keys, all the way down."""
    if isinstance(value, Mapping):
        return {str(key): _record(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_record(item) for item in value)
    return value


def _tensor_dicts(st):
    return st.dictionaries(st.sampled_from(NAMES), st.sampled_from(TENSOR_DTYPES).flatmap(
        lambda dtype: differential.tensors(st, dtype=dtype, min_dims=0, max_dims=3, min_side=0, max_side=4)),
        max_size=4)


def _tensor_argument(content: dict, bad: str) -> Any:
    """The argument of a case: the dict itself, or a broken variant of it."""
    if bad == "list":
        return list(content.values())
    if bad == "non-str key":
        return {**content, 3: torch.ones(2)}
    if bad == "non-tensor value":
        return {**content, "values": [1.0, 2.0]}
    if bad == "nested dict":
        return {**content, "inner": {"w": torch.ones(2)}}
    return dict(content)


@differential.scenario(
    "save_tensors",
    cases=lambda st: st.fixed_dictionaries({
        "content": _tensor_dicts(st), "existing": st.booleans(), "as_str": st.booleans(),
        "bad": st.sampled_from(("", "", "", "list", "non-str key", "non-tensor value", "nested dict"))}),
    edge=lambda: [{"content": {}, "existing": False, "as_str": False, "bad": ""},
                  {"content": {"count": torch.tensor(17), "half": torch.ones(2, dtype=torch.float16)},
                   "existing": True, "as_str": True, "bad": ""},
                  {"content": {"w": torch.ones(2)}, "existing": False, "as_str": False, "bad": "non-str key"},
                  {"content": {"w": torch.ones(2)}, "existing": True, "as_str": False, "bad": "non-tensor value"},
                  {"content": {"w": torch.ones(2)}, "existing": False, "as_str": False, "bad": "list"}],
    count=25,
)
def save_tensors_outcome(impl, content, existing, as_str, bad):
    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        path = directory / "tensors.pt"
        if existing:
            torch.save({"old": torch.zeros(3)}, path)
        old = path.read_bytes() if existing else None
        argument = _tensor_argument(content, bad)
        snapshot = copy.deepcopy(argument)
        returned = differential.attempt(impl.save_tensors, str(path) if as_str else path, argument)
        seen = {"returned": returned, "files afterwards": _files(directory),
                "argument unchanged": _same(_plain(argument), _plain(snapshot))}
        if path.is_file():
            seen["old file untouched"] = old is not None and path.read_bytes() == old
            if not seen["old file untouched"]:
                seen["file holds"] = _plain(differential.attempt(torch.load, path, weights_only=True))
        return seen


@differential.scenario(
    "load_tensors",
    cases=lambda st: st.fixed_dictionaries({"content": _tensor_dicts(st), "payload": st.booleans(),
                                            "as_str": st.booleans()}),
    edge=lambda: [{"content": {}, "payload": False, "as_str": False},
                  {"content": {"weight": torch.ones(2)}, "payload": True, "as_str": False},
                  {"content": {"mask": torch.tensor([True, False]), "n": torch.tensor(3)}, "payload": False,
                   "as_str": True}],
    count=20,
)
def load_tensors_outcome(impl, content, payload, as_str):
    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        path = directory / "tensors.pt"
        marker = directory / "payload-ran"
        torch.save({**content, "payload": _Payload(marker)} if payload else dict(content), path)
        stored = path.read_bytes()
        loaded = differential.attempt(impl.load_tensors, str(path) if as_str else path)
        return {"returned": _plain(loaded), "the pickled call ran": marker.exists(),
                "file unchanged": path.read_bytes() == stored, "files afterwards": _files(directory)}


OPTIMIZERS = ("sgd", "sgd-momentum", "adam", "adamw", "rmsprop", "adagrad")
SCHEDULERS = (None, "step", "exponential", "cosine")


def _io_model(seed: int, frozen: bool, layers: int = 2) -> nn.Module:
    torch.manual_seed(seed)
    # Batch norm after the Tanh: a bias right before batch norm gets a zero gradient, all rounding noise.
    model = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.BatchNorm1d(5), nn.Linear(5, 2),
                          *[nn.Linear(2, 2) for _ in range(layers - 2)])
    if frozen:
        model[0].bias.requires_grad_(False)
    return model


def _optimizer(kind: str, model: nn.Module) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    return {
        "sgd": lambda: torch.optim.SGD(params, lr=0.1),
        "sgd-momentum": lambda: torch.optim.SGD(params, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
        "adam": lambda: torch.optim.Adam(params, lr=0.05),
        "adamw": lambda: torch.optim.AdamW(params, lr=0.05, amsgrad=True),
        "rmsprop": lambda: torch.optim.RMSprop(params, lr=0.01, momentum=0.5, centered=True),
        "adagrad": lambda: torch.optim.Adagrad(params, lr=0.1),
    }[kind]()


def _scheduler(kind: str | None, optimizer: torch.optim.Optimizer):
    if kind is None:
        return None
    return {
        "step": lambda: torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5),
        "exponential": lambda: torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.9),
        "cosine": lambda: torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=5),
    }[kind]()


def _set_modes(model: nn.Module, mode: str) -> None:
    model.train(mode != "eval")
    if mode == "mixed":
        model[2].eval()  # batch norm on its running statistics inside a model in train mode


def _named_modes(model: nn.Module) -> list[tuple[str, bool]]:
    return [(name, module.training) for name, module in model.named_modules()]


def _train_steps(model, optimizer, scheduler, steps: int, start: int = 0) -> None:
    generator = torch.Generator().manual_seed(100 + start)
    modes = _named_modes(model)
    model.train()
    for _ in range(steps):
        x, y = torch.randn(4, 3, generator=generator), torch.randn(4, model[-1].out_features, generator=generator)
        optimizer.zero_grad()
        F.mse_loss(model(x), y).backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
    for (_, training), module in zip(modes, model.modules(), strict=True):
        module.training = training


def _snapshot(model, optimizer, scheduler) -> Any:
    return copy.deepcopy({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                          "scheduler": None if scheduler is None else scheduler.state_dict(),
                          "modes": _named_modes(model),
                          "requires_grad": [p.requires_grad for p in model.parameters()],
                          "grads": [p.grad for p in model.parameters()]})


def _holds_item(checkpoint: Any, key: str, value: Any) -> bool:
    """Whether some dict inside the checkpoint holds value under key."""
    return any(isinstance(node, Mapping) and key in node and _same(node[key], value) for node in _nodes(checkpoint))


def _extras(st):
    values = st.one_of(st.integers(-5, 10**6), st.floats(-1e3, 1e3, allow_nan=False), st.text(max_size=6),
                       st.booleans(), st.none(), st.lists(st.integers(0, 9), max_size=3),
                       differential.tensors(st, max_dims=2))
    return st.dictionaries(st.sampled_from(("best_acc", "note", "history", "seed", "stats", "loss")), values,
                           max_size=3)


def _checkpoint_cases(st):
    return st.fixed_dictionaries({
        "optimizer": st.sampled_from(OPTIMIZERS), "scheduler": st.sampled_from(SCHEDULERS),
        "steps": st.integers(0, 3), "epoch": st.one_of(st.integers(0, 10**6), st.sampled_from((-1, True, 2.0, "3"))),
        "extra": _extras(st), "existing": st.booleans(), "frozen": st.booleans(),
        "mode": st.sampled_from(("train", "eval", "mixed")), "broken": st.booleans()})


def _checkpoint_edge() -> list[dict[str, Any]]:
    base = {"optimizer": "adam", "scheduler": "step", "steps": 2, "epoch": 13, "extra": {"best_acc": 0.8125},
            "existing": True, "frozen": False, "mode": "train", "broken": False}
    return [base, {**base, "broken": True}, {**base, "broken": True, "existing": False},
            {**base, "epoch": True}, {**base, "epoch": -1, "existing": False}, {**base, "epoch": 0},
            {**base, "mode": "mixed", "scheduler": None, "optimizer": "rmsprop", "frozen": True, "steps": 0},
            {**base, "mode": "eval", "extra": {}, "optimizer": "sgd-momentum"}]


@differential.scenario("save_checkpoint", cases=_checkpoint_cases, edge=_checkpoint_edge, count=30)
def save_checkpoint_outcome(impl, optimizer, scheduler, steps, epoch, extra, existing, frozen, mode, broken):
    model = _io_model(0, frozen)
    objects = (model, _optimizer(optimizer, model))
    objects += (_scheduler(scheduler, objects[1]),)
    _train_steps(*objects, steps)
    _set_modes(model, mode)
    before = _snapshot(*objects)
    extras = {**extra, "broken": _Unpicklable()} if broken else dict(extra)
    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        path = directory / "checkpoint.pt"
        if existing:
            torch.save({"old": torch.zeros(3)}, path)
        old = path.read_bytes() if existing else None
        returned = differential.attempt(impl.save_checkpoint, path, objects[0], objects[1], epoch, objects[2], **extras)
        seen = {"returned": returned, "files afterwards": _files(directory),
                "model, optimizer and scheduler unchanged": _same(_snapshot(*objects), before)}
        if path.is_file() and path.read_bytes() != old:
            loaded = differential.attempt(torch.load, path, weights_only=True)
            seen["the file holds"] = {
                "model.state_dict()": _holds(loaded, before["model"]),
                "optimizer.state_dict()": _holds(loaded, before["optimizer"]),
                "scheduler.state_dict()": before["scheduler"] is None or _holds(loaded, before["scheduler"]),
                "epoch": _holds(loaded, epoch),
                "every extra value under its name": all(_holds_item(loaded, k, v) for k, v in extra.items())}
        else:
            seen["old file untouched"] = old is not None and path.is_file() and path.read_bytes() == old
        return seen


def _resume_cases(st):
    return st.fixed_dictionaries({
        "optimizer": st.sampled_from(OPTIMIZERS), "scheduler": st.sampled_from(SCHEDULERS),
        "steps": st.integers(0, 3), "after": st.integers(1, 2), "epoch": st.integers(0, 99), "extra": _extras(st),
        "frozen": st.booleans(), "mode": st.sampled_from(("train", "eval", "mixed")),
        "give": st.sampled_from(("everything", "model only", "no scheduler", "scheduler only")),
        "problem": st.sampled_from(("", "", "", "one more layer", "a key missing", "saved on a GPU"))})


def _resume_edge() -> list[dict[str, Any]]:
    base = {"optimizer": "adam", "scheduler": "step", "steps": 3, "after": 2, "epoch": 3, "extra": {"note": "x"},
            "frozen": False, "mode": "train", "give": "everything", "problem": ""}
    return [base, {**base, "steps": 0, "optimizer": "sgd-momentum"}, {**base, "scheduler": None},
            {**base, "problem": "saved on a GPU"}, {**base, "problem": "a key missing"},
            {**base, "problem": "one more layer", "give": "model only"},
            {**base, "mode": "mixed", "frozen": True, "optimizer": "rmsprop", "scheduler": "cosine"}]


def _drop_a_model_key(path: Path, model: nn.Module) -> None:
    loaded = torch.load(path, weights_only=True)
    for node in _nodes(loaded):
        if isinstance(node, dict) and _same(node, model.state_dict()):
            del node["3.bias"]
            break
    torch.save(loaded, path)


@differential.scenario("load_checkpoint", cases=_resume_cases, edge=_resume_edge, count=30)
def load_checkpoint_outcome(impl, optimizer, scheduler, steps, after, epoch, extra, frozen, mode, give, problem):
    saved = _io_model(0, frozen)
    saved_objects = (saved, _optimizer(optimizer, saved))
    saved_objects += (_scheduler(scheduler, saved_objects[1]),)
    _train_steps(*saved_objects, steps)
    fresh = _io_model(1, frozen, layers=3 if problem == "one more layer" else 2)
    fresh_objects = (fresh, _optimizer(optimizer, fresh))
    fresh_objects += (_scheduler(scheduler or "step", fresh_objects[1]),)
    _set_modes(fresh, mode)
    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        path = directory / "checkpoint.pt"
        real_tag = torch.serialization.location_tag
        if problem == "saved on a GPU":  # every storage tagged as living on a GPU this machine lacks
            torch.serialization.location_tag = lambda storage: f"cuda:{torch.cuda.device_count()}"
        try:
            impl.save_checkpoint(path, *saved_objects[:2], epoch, saved_objects[2], **extra)
        finally:
            torch.serialization.location_tag = real_tag
        if problem == "a key missing":
            _drop_a_model_key(path, saved)
        files = _files(directory)
        arguments = {"everything": fresh_objects, "model only": fresh_objects[:1], "no scheduler": fresh_objects[:2],
                     "scheduler only": (fresh, None, fresh_objects[2])}[give]
        returned = differential.attempt(impl.load_checkpoint, path, *arguments)
        seen = {"returned": returned, "files unchanged": _files(directory) == files,
                "modes afterwards": _named_modes(fresh)}
    if isinstance(returned, dict) and differential.RAISED in returned:
        return seen  # what a refused load leaves in the objects is not part of the contract
    seen["model state"] = _record(fresh.state_dict())
    if give != "model only":
        seen["optimizer state"] = _record(fresh_objects[1].state_dict())
    if give in ("everything", "scheduler only"):
        seen["scheduler state"] = _record(fresh_objects[2].state_dict())
    if problem or give != "everything":
        return seen
    _train_steps(*saved_objects, after, start=steps)
    _train_steps(*fresh_objects, after, start=steps)
    seen["resumed equals uninterrupted, bitwise"] = _same(fresh.state_dict(), saved.state_dict()) and _same(
        fresh_objects[1].state_dict(), saved_objects[1].state_dict())
    seen["model state after more steps"] = _record(fresh.state_dict())
    return seen


def _reuse_cases(st):
    return st.fixed_dictionaries({
        "layers": st.integers(2, 12), "batch_norm": st.booleans(),
        "prefixes": st.lists(st.sampled_from(("0.", "1", "1.", "", "2.weight", "3.", "x", "10.")), max_size=3),
        "container": st.sampled_from(("list", "tuple", "generator", "str")),
        "problem": st.sampled_from(("", "", "another shape", "a smaller shape", "dst lacks the layer")),
        "frozen": st.booleans(), "grads": st.booleans()})


def _reuse_edge() -> list[dict[str, Any]]:
    base = {"layers": 11, "batch_norm": True, "prefixes": ["1"], "container": "list", "problem": "",
            "frozen": True, "grads": True}
    return [base, {**base, "container": "generator", "prefixes": ["0.", "2.weight"]},
            {**base, "container": "str", "prefixes": ["1."]}, {**base, "prefixes": []},
            {**base, "prefixes": ["", "0."], "container": "tuple"},
            {**base, "prefixes": ["0.", "3."], "problem": "another shape"},
            {**base, "prefixes": ["3."], "problem": "a smaller shape"},
            {**base, "prefixes": ["0.", "10."], "problem": "dst lacks the layer", "container": "generator"}]


def _reuse_network(layers: int, batch_norm: bool, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    modules = [nn.BatchNorm1d(4) if batch_norm and index == 1 else nn.Linear(4, 4) for index in range(layers)]
    return nn.Sequential(*modules)


@differential.scenario("reuse_layers_", cases=_reuse_cases, edge=_reuse_edge, count=30)
def reuse_layers_outcome(impl, layers, batch_norm, prefixes, container, problem, frozen, grads):
    source = _reuse_network(layers, batch_norm, 0)
    if batch_norm:
        with torch.no_grad():
            source[1].running_mean.uniform_(-1, 1)
            source[1].running_var.uniform_(0.5, 2)
            source[1].num_batches_tracked.fill_(9)
    state = {key: value.clone() for key, value in source.state_dict().items()}
    if problem == "another shape":
        state["3.weight"] = torch.ones(4, 5)
    if problem == "a smaller shape":
        state["3.weight"] = torch.ones(4, 3)
    destination = _reuse_network(layers - 1 if problem == "dst lacks the layer" else layers, batch_norm, 1)
    if frozen:
        destination[0].weight.requires_grad_(False)
    if grads:
        destination(torch.ones(2, 4)).sum().backward()
    objects = list(destination.parameters())
    before = {"state": copy.deepcopy(destination.state_dict()), "grads": [copy.deepcopy(p.grad) for p in objects]}
    src_before = copy.deepcopy(state)
    argument = {"list": lambda: list(prefixes), "tuple": lambda: tuple(prefixes),
                "generator": lambda: (prefix for prefix in prefixes), "str": lambda: "".join(prefixes[:1])}[container]()
    returned = differential.attempt(impl.reuse_layers_, state, destination, argument)
    seen = {"returned": returned, "dst state": _record(destination.state_dict()),
            "same Parameter objects": [a is b for a, b in zip(objects, destination.parameters(), strict=True)],
            "requires_grad": [p.requires_grad for p in destination.parameters()],
            "grads unchanged": _same([p.grad for p in destination.parameters()], before["grads"]),
            "src unchanged": _same(state, src_before)}
    with torch.no_grad():
        for value in state.values():
            value.add_(100)
    seen["dst independent of src afterwards"] = _same(destination.state_dict(), seen["dst state"])
    return seen


class _Exportable(nn.Module):
    """Batch norm, dropout and a skip from the input, in a class the exported file must do without."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.5))
        self.head = nn.Linear(8, 2)

    def forward(self, x):
        return self.head(self.body(x)) + 0.5 * x[:, :2]


@differential.scenario(
    "export_for_inference",
    edge=lambda: [{"mode": "train", "dtype": torch.float32}, {"mode": "eval", "dtype": torch.float64},
                  {"mode": "mixed", "dtype": torch.float32}],
)
def export_for_inference_outcome(impl, mode, dtype):
    torch.manual_seed(0)
    model = _Exportable()
    with torch.no_grad():
        model.train()
        model(torch.randn(16, 4) * 2 + 1)  # running statistics away from their initial values
    model.to(dtype)
    model.train(mode != "eval")
    if mode == "mixed":
        model.body[3].eval()
        model.head.eval()
    before = copy.deepcopy(model.state_dict())
    example, other = torch.randn(3, 4, dtype=dtype), torch.randn(3, 4, dtype=dtype)
    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        path = directory / "model.pt2"
        returned = differential.attempt(impl.export_for_inference, model, example, path)
        seen = {"returned": returned, "files afterwards": _files(directory), "modes afterwards": _named_modes(model),
                "model unchanged": _same(model.state_dict(), before)}
        if path.is_file():
            loaded = differential.attempt(_load_program, path)
            torch.manual_seed(0)
            with torch.no_grad():
                seen["the file's outputs"] = [differential.attempt(loaded, x) if callable(loaded) else loaded
                                              for x in (example, other)]
    return seen


def _load_program(path: Path) -> Any:
    try:
        return torch.export.load(str(path)).module()
    except Exception:  # noqa: BLE001 - a TorchScript file is accepted too
        return torch.jit.load(str(path))


@pytest.mark.kata("save_tensors")
@pytest.mark.points(2)
def test_save_tensors_agrees_with_the_reference_on_generated_cases(impl):
    save_tensors_outcome.check(impl)


@pytest.mark.kata("load_tensors")
@pytest.mark.points(2)
def test_load_tensors_agrees_with_the_reference_on_generated_cases(impl):
    load_tensors_outcome.check(impl)


@pytest.mark.kata("save_checkpoint")
@pytest.mark.points(2)
def test_save_checkpoint_agrees_with_the_reference_on_generated_cases(impl):
    save_checkpoint_outcome.check(impl)


@pytest.mark.kata("load_checkpoint")
@pytest.mark.points(3)
def test_load_checkpoint_agrees_with_the_reference_on_generated_cases(impl):
    load_checkpoint_outcome.check(impl)


@pytest.mark.kata("reuse_layers_")
@pytest.mark.points(2)
def test_reuse_layers_agrees_with_the_reference_on_generated_cases(impl):
    reuse_layers_outcome.check(impl)


@pytest.mark.kata("export_for_inference")
@pytest.mark.points(2)
def test_export_for_inference_agrees_with_the_reference_on_generated_cases(impl):
    export_for_inference_outcome.check(impl)
