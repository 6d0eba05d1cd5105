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
        # TODO: two lazy linear layers, one with `hidden` outputs and one with `out_features`, whose
        #   input sizes are filled in on the first call.
        raise NotImplementedError('LazyMLP.__init__: not written yet, see the TODO above this line')

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        # TODO: return the logits: hidden layer, ReLU, output layer.
        raise NotImplementedError('LazyMLP.forward: not written yet, see the TODO above this line')


def materialize(model: nn.Module, *example_inputs: torch.Tensor) -> nn.Module:
    """Give every lazy parameter its shape with one dry forward pass; return the same model.

    The pass runs under torch.no_grad() and in eval mode, so it builds no graph and leaves
    BatchNorm running statistics untouched. Every submodule gets back its own train/eval mode
    afterwards (a model may mix both), also when the pass raises (the error then propagates), and
    autograd is left as it was. The parameters are ordinary ones afterwards: the model trains. No
    example input raises ValueError; a model that is not an nn.Module raises TypeError.
    """
    # TODO: run one dry forward pass on the example inputs without building a graph and in eval
    #   mode, then put every submodule back in the mode it was in (also when the pass raises);
    #   return model. No example inputs: ValueError naming example_inputs.
    raise NotImplementedError('materialize: not written yet, see the TODO above this line')


def lazy_parameter_count(model: nn.Module, *example_inputs: torch.Tensor) -> int:
    """How many numbers model's parameters hold (shared tensors once, buffers never).

    Returns a Python int. A model that still has uninitialised (lazy) parameters is materialised
    first as materialize does (a dry run that leaves no trace: modes, BatchNorm statistics and
    autograd as they were); a lazy model without example inputs raises ValueError. A model
    without lazy parameters needs no example inputs and is not run.
    """
    # TODO: return the number of parameter entries (shared tensors once, buffers never),
    #   materialising the model on the example inputs first when some parameter is still lazy.
    raise NotImplementedError('lazy_parameter_count: not written yet, see the TODO above this line')


def output_shapes(model: nn.Module, input_shape: Sequence[int]) -> list[tuple[str, tuple[int, ...]]]:
    """(qualified name, output shape) of each leaf module, in call order, from one dry run.

    The dry run feeds torch.zeros(input_shape) (a tuple, list or torch.Size of positive ints, else
    ValueError) under torch.no_grad() and in eval mode, and leaves no trace: every module gets back
    its own train/eval mode, BatchNorm statistics stay as they were, and no hook stays registered,
    also when the forward pass raises (the error propagates). A leaf called twice appears twice;
    a shape is a tuple of ints.
    """
    # TODO: return (qualified name, output shape) of every leaf module in call order, from one dry
    #   run on zeros of input_shape (no graph, eval mode), leaving no hook behind and every
    #   module's mode as it was, also when the run raises.
    raise NotImplementedError('output_shapes: not written yet, see the TODO above this line')


class LazyCNN(nn.Module):
    """Conv -> ReLU -> MaxPool twice, Flatten, then an nn.LazyLinear head: any image size works.

    (B, 1, H, W) -> (B, num_classes) logits for one-channel images of at least 16 x 16 pixels
    (28 x 28 and 32 x 32 included, H and W may differ), any B, 0 included. Each image's logits
    depend on that image only (in eval mode).
    """

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        # TODO: a convolutional stack (two conv blocks) followed by a head whose input size is found
        #   on the first call, so 28x28 and 32x32 images both work.
        raise NotImplementedError('LazyCNN.__init__: not written yet, see the TODO above this line')

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        # TODO: return the logits: the head applied to the flattened features.
        raise NotImplementedError('LazyCNN.forward: not written yet, see the TODO above this line')
