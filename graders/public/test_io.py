"""Public checks for chapter 08, io: files that reload safely, hold what was saved and are written atomically.

The hidden checks add exact resumes, schedulers, strict loading, refused pickled code, exports run in a fresh
process and every error of the docstrings.
"""

from collections.abc import Mapping

import pytest
import torch
from torch import nn

from torchkata import checks
from torchkata.graderkit import errors, loading


def _small_model(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 2))


def _holds(structure, expected: Mapping) -> bool:
    """Whether a mapping equal to ``expected`` (tensor for tensor) sits anywhere inside ``structure``."""
    if isinstance(structure, Mapping):
        if set(structure) == set(expected) and all(
            isinstance(structure[k], torch.Tensor) and torch.equal(structure[k], v) for k, v in expected.items()
        ):
            return True
        return any(_holds(value, expected) for value in structure.values())
    if isinstance(structure, list | tuple):
        return any(_holds(value, expected) for value in structure)
    return False


@pytest.mark.kata("save_tensors")
@pytest.mark.points(1)
def test_save_tensors_reloads_with_weights_only(impl, tmp_path):
    path = tmp_path / "tensors.pt"
    tensors = {"weight": torch.randn(3, 4), "steps": torch.arange(5)}
    checks.call("save_tensors(path, {'weight': ..., 'steps': ...})", impl.save_tensors, path, tensors)
    call = "save_tensors(path, {'weight': randn(3, 4), 'steps': arange(5)})"
    loaded = loading.load_weights_only(path, call, "Save a plain dict of tensors with torch.save(tensors, path).")
    checks.check(
        isinstance(loaded, Mapping) and set(loaded) == set(tensors),
        f"the file written by {call} holds {checks.describe(loaded)}; expected a dict with keys ['steps', 'weight'].",
    )
    for name, value in tensors.items():
        checks.close(loaded[name], value, f"entry {name!r} of the file written by {call}")


@pytest.mark.kata("load_tensors")
@pytest.mark.points(1)
def test_load_tensors_returns_the_saved_dict(impl, tmp_path):
    path = tmp_path / "tensors.pt"
    tensors = {"bias": torch.randn(4), "mask": torch.rand(2, 3) > 0.5}
    torch.save(tensors, path)
    loaded = checks.call("load_tensors(path)", impl.load_tensors, path)
    checks.check(
        isinstance(loaded, Mapping) and set(loaded) == set(tensors),
        f"load_tensors(path) returned {checks.describe(loaded)}; expected a dict with keys ['bias', 'mask'].",
    )
    for name, value in tensors.items():
        checks.close(loaded[name], value, f"load_tensors(path)[{name!r}]")


def _trained(seed: int) -> tuple[nn.Module, torch.optim.Optimizer]:
    """A small model and an Adam optimizer after one step, so the optimizer has state to save."""
    model = _small_model(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    model(torch.randn(4, 3)).pow(2).mean().backward()
    optimizer.step()
    return model, optimizer


class _Unpicklable:
    """An extra value whose saving fails half-way through torch.save."""

    def __reduce__(self):
        raise RuntimeError("this value cannot be saved")


@pytest.mark.kata("save_checkpoint")
@pytest.mark.points(1)
def test_save_checkpoint_holds_the_model_state_dict(impl, tmp_path):
    model, optimizer = _trained(0)
    path = tmp_path / "checkpoint.pt"
    call = "save_checkpoint(path, model, optimizer, epoch=1)"
    checks.call(call, impl.save_checkpoint, path, model, optimizer, 1)
    loaded = loading.load_weights_only(
        path, call, "Save state_dicts (plain tensors in dicts), never the model or optimizer objects."
    )
    checks.check(
        isinstance(loaded, Mapping),
        f"the file written by {call} holds {checks.describe(loaded)}; expected a dict.",
    )
    checks.check(
        _holds(loaded, model.state_dict()),
        f"the file written by {call} holds no dict equal to model.state_dict().",
        "Store model.state_dict() in the checkpoint.",
    )
    adam_state = optimizer.state_dict()["state"][0]
    checks.check(
        _holds(loaded, adam_state),
        f"the file written by {call} holds no copy of the optimizer's state (Adam's step, exp_avg, exp_avg_sq).",
        "Store optimizer.state_dict() too: without it a resumed run restarts Adam's moments from zero.",
    )


@pytest.mark.kata("save_checkpoint")
@pytest.mark.points(1)
def test_save_checkpoint_failure_leaves_the_old_file_intact(impl, tmp_path):
    model, optimizer = _trained(0)
    path = tmp_path / "checkpoint.pt"
    checks.call("save_checkpoint(path, model, optimizer, 1)", impl.save_checkpoint, path, model, optimizer, 1)
    good = path.read_bytes()
    call = "save_checkpoint(path, model, optimizer, 2, broken=<a value whose saving fails>)"
    # The failure is expected; what it leaves behind is checked.
    errors.raised(lambda: impl.save_checkpoint(path, model, optimizer, 2, broken=_Unpicklable()))
    checks.check(
        path.is_file() and path.read_bytes() == good,
        f"{call} failed half-way and left the existing checkpoint at path "
        f"{'truncated or overwritten' if path.is_file() else 'deleted'}; expected the old file untouched.",
        "Write into a temporary file in the same directory and publish it with os.replace(temporary, path) "
        "only once torch.save has finished.",
    )
    left = sorted(p.name for p in tmp_path.iterdir() if p.name != "checkpoint.pt")
    checks.check(not left, f"{call} left these files behind: {left}; expected the temporary file removed.")


@pytest.mark.kata("load_checkpoint")
@pytest.mark.points(1)
def test_load_checkpoint_restores_the_model(impl, tmp_path):
    saved, optimizer = _trained(0)
    path = tmp_path / "checkpoint.pt"
    checks.call(
        "save_checkpoint(path, model, optimizer, epoch=4, best_loss=0.5)",
        impl.save_checkpoint,
        path,
        saved,
        optimizer,
        4,
        best_loss=0.5,
    )
    fresh = _small_model(1)
    call = "load_checkpoint(path, fresh_model) of save_checkpoint(path, model, optimizer, epoch=4, best_loss=0.5)"
    info = checks.call(call, impl.load_checkpoint, path, fresh)
    for (name, expected), actual in zip(saved.state_dict().items(), fresh.state_dict().values(), strict=True):
        checks.close(actual, expected, f"after load_checkpoint(path, fresh_model), entry {name!r} of the model")
    checks.equal(
        info,
        {"epoch": 4, "best_loss": 0.5},
        call,
        "Return {'epoch': epoch, **extra}: each extra value under its own name, beside the epoch.",
    )


@pytest.mark.kata("load_checkpoint")
@pytest.mark.points(1)
def test_load_checkpoint_of_a_gpu_checkpoint_on_this_machine(impl, tmp_path, monkeypatch):
    saved, optimizer = _trained(0)
    path = tmp_path / "checkpoint.pt"
    absent_gpu = f"cuda:{torch.cuda.device_count()}"
    with monkeypatch.context() as patch:
        # Every storage is tagged as living on a GPU this machine does not have.
        patch.setattr(torch.serialization, "location_tag", lambda storage: absent_gpu)
        checks.call("save_checkpoint(path, model, optimizer, epoch=1)", impl.save_checkpoint, path, saved, optimizer, 1)
    fresh = _small_model(1)
    call = f"load_checkpoint(path, fresh_model) of a checkpoint saved on {absent_gpu}, a GPU this machine lacks"
    checks.call(call, impl.load_checkpoint, path, fresh)
    for (name, expected), actual in zip(saved.state_dict().items(), fresh.state_dict().values(), strict=True):
        checks.close(
            actual,
            expected,
            f"after {call}, entry {name!r} of the model",
            "Pass map_location on: torch.load(path, map_location=map_location, weights_only=True).",
        )


@pytest.mark.kata("reuse_layers_")
@pytest.mark.points(1)
def test_reuse_layers_copies_the_first_layer(impl):
    src, dst = _small_model(0), _small_model(1)
    head = dst[2].weight.detach().clone()
    call = "reuse_layers_(src.state_dict(), dst, ['0.'])"
    keys = checks.call(call, impl.reuse_layers_, src.state_dict(), dst, ["0."])
    checks.check(
        isinstance(keys, list) and sorted(keys) == ["0.bias", "0.weight"],
        f"{call} returned {checks.describe(keys)}; expected the list of copied keys ['0.weight', '0.bias'].",
    )
    checks.close(dst[0].weight, src[0].weight, f"dst[0].weight after {call}")
    checks.close(dst[0].bias, src[0].bias, f"dst[0].bias after {call}")
    checks.close(dst[2].weight.detach(), head, f"dst[2].weight after {call}", "Copy only the keys that match a prefix.")


class _Doubler(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 3)

    def forward(self, x):
        return 2 * self.linear(x) + x[:, :3]


def _load_exported(path, call: str):
    errors = []
    loaders = (("torch.export.load", lambda p: torch.export.load(p).module()), ("torch.jit.load", torch.jit.load))
    for name, loader in loaders:
        try:
            return loader(str(path))
        except Exception as error:  # noqa: BLE001 - try the other format
            errors.append(f"{name} raised {type(error).__name__}")
    raise checks.GradingError(
        f"the file written by {call} loads neither with torch.export.load nor torch.jit.load ({', '.join(errors)}).\n"
        "Write it with torch.export.save(torch.export.export(model, (example_input,)), path); a pickled module "
        "or a state_dict needs the model's class to load."
    )


@pytest.mark.kata("export_for_inference")
@pytest.mark.points(1)
def test_export_for_inference_file_runs(impl, tmp_path):
    model = _Doubler()
    x = torch.randn(2, 4)
    path = tmp_path / "model.pt2"
    call = "export_for_inference(model, x, path)"
    checks.call(call, impl.export_for_inference, model, x, path)
    checks.check(path.is_file(), f"after {call}, no file exists at path.")
    loaded = _load_exported(path, call)
    other = torch.randn(2, 4)
    with torch.no_grad():
        expected = model.eval()(other)
        out = checks.call("the exported model(x)", loaded, other)
    checks.close(out, expected, "the exported model applied to a new x of shape (2, 4)", rtol=1e-4, atol=1e-5)
