"""Chapter 05: init. Initialise parameters in place: by distribution, by layer type, reproducibly."""

import torch
from torch import nn

BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def init_normal_(module: nn.Module, std: float = 0.01) -> nn.Module:
    """Every nn.Linear inside ``module`` (itself included): weight ~ N(0, std), bias 0. Returns module.

    std must be >= 0 (std 0 gives zero weights); a negative std raises ValueError before anything
    changes. Every other module, and every buffer, keeps its values.
    """
    # TODO: a negative std raises ValueError. For every m in module.modules() that is an
    #   nn.Linear: nn.init.normal_(m.weight, mean=0.0, std=std) and nn.init.zeros_(m.bias)
    #   when there is a bias. nn.init changes the tensors in place; never assign a new
    #   nn.Parameter. Return module.
    raise NotImplementedError('init_normal_: not written yet, see the TODO above this line')


def init_constant_(module: nn.Module, value: float) -> nn.Module:
    """Every nn.Linear inside ``module`` (itself included): every weight entry = value, bias 0.

    ``value`` is a number (an int works too). Every other module, and every buffer, keeps its
    values. Returns module.
    """
    # TODO: for every nn.Linear m in module.modules(): nn.init.constant_(m.weight, value) and
    #   nn.init.zeros_(m.bias) when there is a bias. Return module.
    raise NotImplementedError('init_constant_: not written yet, see the TODO above this line')


def init_by_type_(model: nn.Module) -> nn.Module:
    """Initialise each layer by its type; modules of any other type keep their values. Returns model.

    nn.Linear: xavier_uniform weight, zero bias. nn.Conv2d: kaiming_normal weight
    (mode="fan_out", nonlinearity="relu"), zero bias. BatchNorm1d/2d/3d: weight 1, bias 0 (one
    built with affine=False has neither: nothing to set). A layer built with bias=False has no
    bias to zero. BatchNorm running statistics, every buffer and every other module (Conv1d,
    LayerNorm, Embedding, custom modules...) keep their values.
    """
    # TODO: loop over model.modules() and branch on isinstance: nn.Linear ->
    #   nn.init.xavier_uniform_; nn.Conv2d -> nn.init.kaiming_normal_(w, mode="fan_out",
    #   nonlinearity="relu"); BATCH_NORMS -> nn.init.ones_(weight), nn.init.zeros_(bias).
    #   Zero the bias of Linear and Conv2d; a layer built with bias=False has bias None.
    raise NotImplementedError('init_by_type_: not written yet, see the TODO above this line')


def my_init_(module: nn.Module) -> nn.Module:
    """Every nn.Linear weight inside ``module``: U(-10, 10), then 0 wherever |w| < 5. Returns module.

    Biases, buffers and every other module keep their values.
    """
    # TODO: for every nn.Linear m in module.modules(): nn.init.uniform_(m.weight, -10, 10),
    #   then, under torch.no_grad(), multiply the weight in place by the mask
    #   (m.weight.abs() >= 5), which zeroes the small entries and keeps the large ones.
    #   Biases keep their values.
    raise NotImplementedError('my_init_: not written yet, see the TODO above this line')


def seeded_init_(module: nn.Module, seed: int) -> nn.Module:
    """Re-run every submodule's default init (reset_parameters) drawing from an RNG seeded with seed.

    The same seed gives the same weights whatever the global RNG state was, and the global
    RNG state is the same afterwards as before, also when a reset_parameters raises (the error
    propagates). Seeding means torch.manual_seed(seed) semantics: a module with a single layer that
    draws random values gets exactly what ``torch.manual_seed(seed); layer.reset_parameters()``
    gives. Modules without reset_parameters keep their values. Returns module.
    """
    # TODO: inside torch.random.fork_rng(devices=...) (which restores the global RNG when the
    #   block ends; pass the CUDA device indices the module lives on, or [] on CPU), call
    #   torch.manual_seed(seed) once, then m.reset_parameters() for every m in
    #   module.modules() that has one.
    raise NotImplementedError('seeded_init_: not written yet, see the TODO above this line')
