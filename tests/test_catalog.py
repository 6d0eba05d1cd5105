"""The course matches the binding catalogue: chapters in order, kata names, signatures, hints."""

from __future__ import annotations

import inspect

import pytest

from tests.conftest import CHAPTERS, PROJECT
from torchkata.course.catalog import find_chapter, find_kata
from torchkata.grading.loader import load_module

# Chapter slugs in course order and the kata names each must define (CATALOG.md).
CATALOGUE: dict[str, list[str]] = {
    "tensors": ["from_numpy_shared", "from_numpy_copy", "flatten_batch", "pairwise_sq_dists", "batch_matvec",
                "one_hot", "standardize"],
    "autograd": ["grad", "second_derivative", "jacobian", "hessian", "Square", "Swish", "StraightThroughRound",
                 "accumulated_grads", "sgd_step_"],
    "modules": ["MLP", "MySequential", "FixedHiddenMLP", "NestMLP", "Parallel", "make_stack", "ConfigurableMLP",
                "ResidualBlock"],
    "parameters": ["count_parameters", "parameter_table", "TiedMLP", "freeze_", "grad_norms"],
    "init": ["init_normal_", "init_constant_", "init_by_type_", "my_init_", "seeded_init_"],
    "lazy": ["LazyMLP", "materialize", "output_shapes", "LazyCNN"],
    "layers": ["CenteredLayer", "MyLinear", "Swish", "MyDropout", "SelfAttention", "TensorReduction", "FourierHalf",
               "MyLayerNorm"],
    "io": ["save_tensors", "load_tensors", "save_checkpoint", "load_checkpoint", "reuse_layers_",
           "export_for_inference"],
    "devices": ["best_device", "to_device", "module_devices", "RunningMean", "causal_mask", "optimizer_to_"],
    "data": ["PairDataset", "WindowDataset", "CharDataset", "pad_collate", "balanced_loader", "MemmapDataset",
             "seeded_loader"],
    "training": ["set_seed", "train_epoch", "evaluate", "fit", "LinearRegressionManual", "LinearRegressionModule",
                 "train_digits"],
    "optim": ["cross_entropy", "bce_with_logits", "SGDMomentum", "MyAdamW", "warmup_cosine", "clip_grad_norm_"],
    "hooks": ["capture_activations", "gradient_flow", "NaNGuard", "shape_trace", "clamp_grad_"],
    "amp": ["autocast_forward", "amp_train_step", "CheckpointedSequential", "param_bytes"],
    "cnn": ["conv_output_size", "CNN", "conv2d", "max_pool2d"],
    "distributed": ["shard_indices", "average_gradients_", "ddp_train_step"],
}

# Parameter names of the catalogue's signatures, where it gives them.
SIGNATURES: dict[tuple[str, str], list[str]] = {
    ("modules", "MLP"): ["in_features", "hidden", "out_features"],
    ("modules", "ConfigurableMLP"): ["input_size", "hidden_sizes", "output_size", "activation", "dropout",
                                     "batch_norm"],
    ("modules", "make_stack"): ["factory", "n"],
    ("parameters", "count_parameters"): ["model", "trainable_only"],
    ("parameters", "freeze_"): ["model", "prefixes"],
    ("init", "init_normal_"): ["module", "std"],
    ("init", "seeded_init_"): ["module", "seed"],
    ("lazy", "materialize"): ["model", "example_inputs"],
    ("io", "save_checkpoint"): ["path", "model", "optimizer", "epoch", "scheduler", "extra"],
    ("io", "load_checkpoint"): ["path", "model", "optimizer", "scheduler", "map_location"],
    ("training", "fit"): ["model", "train_loader", "val_loader", "loss_fn", "optimizer", "epochs", "patience"],
    ("optim", "MyAdamW"): ["params", "lr", "betas", "eps", "weight_decay"],
    ("optim", "warmup_cosine"): ["optimizer", "warmup_steps", "total_steps", "min_lr"],
    ("cnn", "conv2d"): ["x", "weight", "bias", "stride", "padding"],
    ("cnn", "conv_output_size"): ["size", "kernel", "stride", "padding", "dilation"],
    ("distributed", "ddp_train_step"): ["rank", "world_size", "model", "batch", "loss_fn", "optimizer"],
}

PRESENT = [chapter.slug for chapter in CHAPTERS]


def test_chapters_are_numbered_in_course_order():
    order = list(CATALOGUE)
    assert [c.slug for c in CHAPTERS] == [slug for slug in order if slug in PRESENT]
    for chapter in CHAPTERS:
        assert chapter.number == order.index(chapter.slug) + 1, chapter.directory


@pytest.mark.parametrize("chapter", CHAPTERS, ids=PRESENT)
def test_katas_match_the_catalogue(chapter):
    names = [kata.name for kata in chapter.katas]
    in_catalogue = [name for name in names if name in CATALOGUE[chapter.slug]]
    assert in_catalogue == CATALOGUE[chapter.slug], "every catalogue kata, in catalogue order (extras welcome)"
    module = load_module(PROJECT.solutions, chapter.slug)
    for kata in chapter.katas:
        assert hasattr(module, kata.name), f"solutions/{chapter.slug}.py lacks {kata.name}"
        assert 2 <= len(kata.hints) <= 3, f"{kata.name} should have 2-3 progressive hints"
        assert kata.title and kata.title != kata.name
    assert (chapter.directory / "README.md").is_file()


@pytest.mark.parametrize("key", [key for key in SIGNATURES if key[0] in PRESENT], ids=lambda key: "-".join(key))
def test_signatures_match_the_catalogue(key):
    slug, name = key
    target = getattr(load_module(PROJECT.solutions, slug), name)
    names = [p for p in inspect.signature(target).parameters if p != "self"]
    assert names == SIGNATURES[key]


def test_lookup_by_number_slug_and_kata():
    assert find_chapter("3", CHAPTERS).slug == "modules"
    assert find_chapter("03_modules", CHAPTERS).slug == "modules"
    assert find_kata("MLP", CHAPTERS).chapter == "modules"
    with pytest.raises(KeyError, match="no chapter 'nope'"):
        find_chapter("nope", CHAPTERS)
