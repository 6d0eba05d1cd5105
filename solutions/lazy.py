"""Chapter 06: lazy. Layers that infer their input sizes from the first batch they see."""

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn.parameter import is_lazy


class LazyMLP(nn.Module):
    """LazyLinear(hidden) -> ReLU -> LazyLinear(out_features); the input width comes from the first batch.

    (..., F) -> (..., out_features) for any F and any leading dimensions, an empty batch included;
    returns logits (no softmax).
    """

    def __init__(self, hidden: int = 256, out_features: int = 10) -> None:
        super().__init__()
        ### BEGIN SOLUTION
        # TODO: two lazy linear layers, one with `hidden` outputs and one with `out_features`, whose
        #   input sizes are filled in on the first call.
        self.hidden = nn.LazyLinear(hidden)
        self.out = nn.LazyLinear(out_features)
        ### END SOLUTION

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        ### BEGIN SOLUTION
        # TODO: return the logits: hidden layer, ReLU, output layer.
        return self.out(torch.relu(self.hidden(X)))
        ### END SOLUTION


def materialize(model: nn.Module, *example_inputs: torch.Tensor) -> nn.Module:
    """Give every lazy parameter its shape with one dry forward pass; return the same model.

    The pass runs under torch.no_grad() and in eval mode, so it builds no graph and leaves
    BatchNorm running statistics untouched. Every submodule gets back its own train/eval mode
    afterwards (a model may mix both), also when the pass raises (the error then propagates), and
    autograd is left as it was. The parameters are ordinary ones afterwards: the model trains. No
    example input raises ValueError; a model that is not an nn.Module raises TypeError.
    """
    ### BEGIN SOLUTION
    # TODO: run one dry forward pass on the example inputs without building a graph and in eval
    #   mode, then put every submodule back in the mode it was in (also when the pass raises);
    #   return model. No example inputs: ValueError naming example_inputs.
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    if not example_inputs:
        raise ValueError("example_inputs must hold at least one example input for the dry run")
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        with torch.no_grad():
            model(*example_inputs)
    finally:
        for module, training in modes:
            module.training = training
    return model
    ### END SOLUTION


def lazy_parameter_count(model: nn.Module, *example_inputs: torch.Tensor) -> int:
    """How many numbers model's parameters hold (shared tensors once, buffers never).

    Returns a Python int. A model that still has uninitialised (lazy) parameters is materialised
    first as materialize does (a dry run that leaves no trace: modes, BatchNorm statistics and
    autograd as they were); a lazy model without example inputs raises ValueError. A model
    without lazy parameters needs no example inputs and is not run.
    """
    ### BEGIN SOLUTION
    # TODO: return the number of parameter entries (shared tensors once, buffers never),
    #   materialising the model on the example inputs first when some parameter is still lazy.
    if any(is_lazy(p) for p in model.parameters()):
        if not example_inputs:
            raise ValueError("example_inputs are needed: the model has uninitialised parameters")
        materialize(model, *example_inputs)
    return sum(p.numel() for p in model.parameters())
    ### END SOLUTION


def output_shapes(model: nn.Module, input_shape: Sequence[int]) -> list[tuple[str, tuple[int, ...]]]:
    """(qualified name, output shape) of each leaf module, in call order, from one dry run.

    The dry run feeds torch.zeros(input_shape) (a tuple, list or torch.Size of positive ints, else
    ValueError) under torch.no_grad() and in eval mode, and leaves no trace: every module gets back
    its own train/eval mode, BatchNorm statistics stay as they were, and no hook stays registered,
    also when the forward pass raises (the error propagates). A leaf called twice appears twice;
    a shape is a tuple of ints.
    """
    ### BEGIN SOLUTION
    # TODO: return (qualified name, output shape) of every leaf module in call order, from one dry
    #   run on zeros of input_shape (no graph, eval mode), leaving no hook behind and every
    #   module's mode as it was, also when the run raises.
    shape = tuple(input_shape)
    if not all(isinstance(size, int) and not isinstance(size, bool) and size > 0 for size in shape):
        raise ValueError(f"input_shape must hold positive ints, got {input_shape!r}")
    shapes: list[tuple[str, tuple[int, ...]]] = []

    def recorder(name: str):
        def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
            shapes.append((name, tuple(output.shape)))

        return hook

    handles = [
        module.register_forward_hook(recorder(name))
        for name, module in model.named_modules()
        if next(module.children(), None) is None
    ]
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(shape))
    finally:
        for handle in handles:
            handle.remove()
        for module, training in modes:
            module.training = training
    return shapes
    ### END SOLUTION


class LazyCNN(nn.Module):
    """Conv -> ReLU -> MaxPool twice, Flatten, then an nn.LazyLinear head: any image size works.

    (B, 1, H, W) -> (B, num_classes) logits for one-channel images of at least 16 x 16 pixels
    (28 x 28 and 32 x 32 included, H and W may differ), any B, 0 included. Each image's logits
    depend on that image only (in eval mode).
    """

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        ### BEGIN SOLUTION
        # TODO: a convolutional stack (two conv blocks) followed by a head whose input size is found
        #   on the first call, so 28x28 and 32x32 images both work.
        self.features = nn.Sequential(
            nn.LazyConv2d(16, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 32, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
        )
        self.head = nn.LazyLinear(num_classes)
        ### END SOLUTION

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        ### BEGIN SOLUTION
        # TODO: return the logits: the head applied to the flattened features.
        return self.head(self.features(X))
        ### END SOLUTION
