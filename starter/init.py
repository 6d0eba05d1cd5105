"""Chapter 05: init. Initialise parameters in place: by distribution, by layer type, reproducibly."""

import torch
from torch import nn

BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def init_normal_(module: nn.Module, std: float = 0.01) -> nn.Module:
    """Every nn.Linear inside ``module`` (itself included): weight ~ N(0, std), bias 0. Returns module.

    std must be >= 0 (std 0 gives zero weights); a negative std raises ValueError before anything
    changes. Every other module, and every buffer, keeps its values.
    """
    # TODO: a negative std raises ValueError. Give every nn.Linear inside the module (the module
    #   itself included) weights drawn from N(0, std) and zero biases, changing the existing
    #   tensors in place (never new Parameters); return module.
    raise NotImplementedError('init_normal_: not written yet, see the TODO above this line')


def init_constant_(module: nn.Module, value: float) -> nn.Module:
    """Every nn.Linear inside ``module`` (itself included): every weight entry = value, bias 0.

    ``value`` is a number (an int works too). Every other module, and every buffer, keeps its
    values. Returns module.
    """
    # TODO: set every nn.Linear weight inside the module to value and its bias to 0, in place;
    #   return module.
    raise NotImplementedError('init_constant_: not written yet, see the TODO above this line')


def init_by_type_(model: nn.Module) -> nn.Module:
    """Initialise each layer by its type; modules of any other type keep their values. Returns model.

    nn.Linear: xavier_uniform weight, zero bias. nn.Conv2d: kaiming_normal weight
    (mode="fan_out", nonlinearity="relu"), zero bias. BatchNorm1d/2d/3d: weight 1, bias 0 (one
    built with affine=False has neither: nothing to set). A layer built with bias=False has no
    bias to zero. BatchNorm running statistics, every buffer and every other module (Conv1d,
    LayerNorm, Embedding, custom modules...) keep their values.
    """
    # TODO: initialise in place by layer type: Linear weights Xavier uniform; Conv2d weights Kaiming
    #   normal for ReLU with the fan-out mode; BatchNorm weight 1 and bias 0; Linear and Conv2d
    #   biases 0 (when they have one); every other module untouched. Return model.
    raise NotImplementedError('init_by_type_: not written yet, see the TODO above this line')


def my_init_(module: nn.Module) -> nn.Module:
    """Every nn.Linear weight inside ``module``: U(-10, 10), then 0 wherever |w| < 5. Returns module.

    Biases, buffers and every other module keep their values.
    """
    # TODO: draw every nn.Linear weight from U(-10, 10), then set to 0 every entry whose magnitude
    #   is below 5, in place; biases keep their values. Return module.
    raise NotImplementedError('my_init_: not written yet, see the TODO above this line')


def seeded_init_(module: nn.Module, seed: int) -> nn.Module:
    """Re-run every submodule's default init (reset_parameters) drawing from an RNG seeded with seed.

    The same seed gives the same weights whatever the global RNG state was, and the global
    RNG state is the same afterwards as before, also when a reset_parameters raises (the error
    propagates). Seeding means torch.manual_seed(seed) semantics: a module with a single layer that
    draws random values gets exactly what ``torch.manual_seed(seed); layer.reset_parameters()``
    gives. Modules without reset_parameters keep their values. Returns module.
    """
    # TODO: re-run every submodule's default initialisation from seed: the same seed gives the same
    #   weights whatever the global RNG did before, and the global RNG (CPU and CUDA) is left
    #   exactly as it was. Return module.
    raise NotImplementedError('seeded_init_: not written yet, see the TODO above this line')
