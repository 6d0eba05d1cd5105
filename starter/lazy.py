"""Chapter 06: lazy. Layers that infer their input sizes from the first batch they see."""

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn.parameter import is_lazy


class LazyMLP(nn.Module):
    """LazyLinear(hidden) -> ReLU -> LazyLinear(out_features); the input width comes from the first batch."""

    def __init__(self, hidden: int = 256, out_features: int = 10) -> None:
        super().__init__()
        # TODO: two nn.LazyLinear layers, one with `hidden` outputs and one with `out_features`.
        #   A lazy layer takes only its output size: in_features is filled in on the first call.
        raise NotImplementedError('LazyMLP.__init__: not written yet, see the TODO above this line')

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        # TODO: hidden layer, ReLU, output layer; return the logits.
        raise NotImplementedError('LazyMLP.forward: not written yet, see the TODO above this line')


def materialize(model: nn.Module, *example_inputs: torch.Tensor) -> nn.Module:
    """Give every lazy parameter its shape with one dry forward pass; return the same model.

    The pass runs under torch.no_grad() and in eval mode, so it builds no graph and leaves
    BatchNorm running statistics untouched. Every submodule gets back its own train/eval mode
    afterwards, also when the pass raises (the error then propagates).
    """
    # TODO: remember each submodule's .training flag (model.modules()), switch to model.eval(),
    #   run model(*example_inputs) inside torch.no_grad(), and restore the flags in a finally
    #   block (set module.training directly: module.train(flag) would recurse into children).
    #   No example inputs: raise ValueError naming example_inputs.
    raise NotImplementedError('materialize: not written yet, see the TODO above this line')


def lazy_parameter_count(model: nn.Module, *example_inputs: torch.Tensor) -> int:
    """How many numbers model's parameters hold (shared tensors once, buffers never).

    A model that still has uninitialised (lazy) parameters is materialised first with a dry
    run on example_inputs; a model without any needs no example inputs.
    """
    # TODO: an uninitialised parameter has no shape yet (its numel() raises), so first check
    #   torch.nn.parameter.is_lazy(p) for every parameter and, if any is lazy, run your
    #   materialize(model, *example_inputs). Then sum p.numel() over model.parameters().
    raise NotImplementedError('lazy_parameter_count: not written yet, see the TODO above this line')


def output_shapes(model: nn.Module, input_shape: Sequence[int]) -> list[tuple[str, tuple[int, ...]]]:
    """(qualified name, output shape) of each leaf module, in call order, from one dry run.

    The dry run feeds torch.zeros(input_shape). No hook stays registered afterwards, also when
    the forward pass raises.
    """
    # TODO: register a forward hook (module.register_forward_hook) on every leaf module of
    #   model.named_modules() (a leaf has no children) that appends (name, tuple(output.shape));
    #   run the model on torch.zeros(input_shape) under torch.no_grad(), and remove every
    #   handle in a finally block.
    raise NotImplementedError('output_shapes: not written yet, see the TODO above this line')


class LazyCNN(nn.Module):
    """Conv -> ReLU -> MaxPool twice, Flatten, then an nn.LazyLinear head: any image size works."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        # TODO: a convolutional stack (e.g. Conv2d(1, 16, 3, padding=1), ReLU, MaxPool2d(2),
        #   Conv2d(16, 32, 3, padding=1), ReLU, MaxPool2d(2), Flatten) and an
        #   nn.LazyLinear(num_classes) head, which works out the flattened size itself.
        raise NotImplementedError('LazyCNN.__init__: not written yet, see the TODO above this line')

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        # TODO: the head applied to the flattened features; return logits.
        raise NotImplementedError('LazyCNN.forward: not written yet, see the TODO above this line')
