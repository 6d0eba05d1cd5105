"""Chapter 03: modules. Build networks from nn.Module blocks."""

from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F


class MLP(nn.Module):
    """Linear(in_features, hidden) -> ReLU -> Linear(hidden, out_features); returns logits.

    The sizes come from the arguments. forward acts on the last dimension: X of shape (B, in_features)
    or (B, T, in_features), B may be 0, gives (..., out_features); after .double() it runs in float64.
    """

    def __init__(self, in_features: int = 20, hidden: int = 256, out_features: int = 10) -> None:
        super().__init__()
        # TODO: build two fully connected layers, in_features -> hidden and hidden -> out_features,
        #   registered with this module so their parameters are seen.
        raise NotImplementedError('MLP.__init__: not written yet, see the TODO above this line')

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        # TODO: return the logits: the hidden layer, a ReLU, then the output layer (no softmax).
        raise NotImplementedError('MLP.forward: not written yet, see the TODO above this line')


class MySequential(nn.Module):
    """Chains the given modules in order, each registered as a child named "0", "1", ...

    The children are the given module objects themselves (state_dict keys "0.weight", ...; .eval(),
    .to() and .parameters() reach them). With no module, forward returns X unchanged.
    """

    def __init__(self, *modules: nn.Module) -> None:
        super().__init__()
        # TODO: register every module as a child, in order, named by its position, so state_dict()
        #   keys read '0.weight', '1.weight', ... and .to()/.parameters() see them.
        raise NotImplementedError('MySequential.__init__: not written yet, see the TODO above this line')

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        # TODO: pass X through every child module in the order they were given.
        raise NotImplementedError('MySequential.forward: not written yet, see the TODO above this line')


class FixedHiddenMLP(nn.Module):
    """A constant random weight, one Linear(20, 20) used twice, and Python control flow.

    The constant is a (20, 20) tensor drawn uniformly from [0, 1) (torch.rand), kept on the module (a
    buffer or a plain attribute), not a parameter and never requiring grad. forward takes X of shape
    (B, 20), B may be 0, and returns a scalar: linear, relu(X @ constant + 1), the same linear again,
    halve while abs().sum() > 1, sum.
    """

    def __init__(self) -> None:
        super().__init__()
        # TODO: keep a constant random (20, 20) weight that is neither a parameter nor trained, and
        #   one linear layer 20 -> 20.
        raise NotImplementedError('FixedHiddenMLP.__init__: not written yet, see the TODO above this line')

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        # TODO: the linear layer, relu(X @ constant weight + 1), the same linear layer again, then
        #   halve X while the sum of its absolute values exceeds 1; return the sum of X.
        raise NotImplementedError('FixedHiddenMLP.forward: not written yet, see the TODO above this line')


class NestMLP(nn.Module):
    """Sequential(Linear(20, 64), ReLU, Linear(64, 32), ReLU) followed by Linear(32, 16).

    forward acts on the last dimension: (B, 20) or (B, T, 20), B may be 0.
    """

    def __init__(self) -> None:
        super().__init__()
        # TODO: a nested sequential block Linear(20, 64), ReLU, Linear(64, 32), ReLU, and a separate
        #   linear head 32 -> 16.
        raise NotImplementedError('NestMLP.__init__: not written yet, see the TODO above this line')

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        # TODO: return the head applied to the nested block's output.
        raise NotImplementedError('NestMLP.forward: not written yet, see the TODO above this line')


class Parallel(nn.Module):
    """Runs net1 and net2 on the same input and concatenates their outputs on the last dim.

    Both networks are children (their parameters are Parallel's; .eval() and .to() reach them), and
    the input may have any leading shape ((B, F) or (B, T, F), B may be 0).
    """

    def __init__(self, net1: nn.Module, net2: nn.Module) -> None:
        super().__init__()
        # TODO: keep both networks as registered children.
        raise NotImplementedError('Parallel.__init__: not written yet, see the TODO above this line')

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        # TODO: return both networks' outputs on the same X, joined along the last (feature)
        #   dimension.
        raise NotImplementedError('Parallel.forward: not written yet, see the TODO above this line')


def make_stack(factory: Callable[[], nn.Module], n: int) -> nn.Sequential:
    """An nn.Sequential of n modules, each built by its own call of factory().

    factory is called exactly n times and block i is the module returned by the i-th call, so no two
    blocks share parameters. n not a positive int (0, a negative number, a bool, a float): ValueError.
    """
    # TODO: return an nn.Sequential of n blocks, each built by its own factory() call so no two
    #   share parameters; n not a positive int is a ValueError.
    raise NotImplementedError('make_stack: not written yet, see the TODO above this line')


_ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "gelu": nn.GELU,
}


class ConfigurableMLP(nn.Module):
    """Per hidden layer: Linear -> [BatchNorm1d] -> activation -> [Dropout]; then a Linear head.

    hidden_sizes is a list or a tuple of ints and may be empty (the model is then the head alone).
    activation is "relu", "tanh" or "gelu" (exactly), else the constructor raises ValueError. Dropout
    with probability dropout follows each activation when dropout > 0. All layers are registered, so
    .eval() reaches every one.
    """

    def __init__(
        self,
        input_size: int,
        hidden_sizes: list[int],
        output_size: int,
        activation: str = "relu",
        dropout: float = 0.0,
        batch_norm: bool = False,
    ) -> None:
        super().__init__()
        # TODO: raise ValueError naming activation unless it is 'relu', 'tanh' or 'gelu'; then
        #   build, per hidden size, Linear -> [BatchNorm1d when batch_norm] -> activation ->
        #   [Dropout when dropout > 0], and a last Linear to output_size, all registered with
        #   the module.
        raise NotImplementedError('ConfigurableMLP.__init__: not written yet, see the TODO above this line')

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        # TODO: return the layers applied to X in order.
        raise NotImplementedError('ConfigurableMLP.forward: not written yet, see the TODO above this line')


class ResidualBlock(nn.Module):
    """X + conv2(relu(conv1(X))) with two 3x3 convolutions, padding 1, num_channels in and out.

    Any batch (0 too) and spatial size (1 x 1 too); X is left unchanged (no in-place addition).
    """

    def __init__(self, num_channels: int) -> None:
        super().__init__()
        # TODO: two 3x3 convolutions from num_channels to num_channels that keep the height and
        #   width.
        raise NotImplementedError('ResidualBlock.__init__: not written yet, see the TODO above this line')

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        # TODO: return X + conv2(relu(conv1(X))): the correction added back onto the input (the skip
        #   connection).
        raise NotImplementedError('ResidualBlock.forward: not written yet, see the TODO above this line')
