"""Chapter 13: hooks. Look inside a running model with forward and tensor hooks, and clean up after."""

from collections.abc import Iterable
from types import TracebackType

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle


def capture_activations(model: nn.Module, x: torch.Tensor, names: Iterable[str]) -> dict[str, torch.Tensor]:
    """Run model(x) once and return {name: a detached copy of that submodule's output} for each name.

    Names are qualified names as model.named_modules() gives them ("encoder.0", "" for the model
    itself), in any iterable (a generator too); an unknown name raises ValueError before anything runs.
    A module called more than once keeps its last output; the captured tensors do not require grad
    and keep their values when a later in-place op changes the original. Any batch size works, 0 too.
    No hook of ours stays registered afterwards, also when the forward pass raises (its error
    propagates); the model's own hooks and the train/eval mode of every submodule are left as they were.
    """
    # TODO: return {name: a detached copy of that submodule's output} for the named submodules
    #   (ValueError for an unknown name), from one forward of x; no hook is left behind, also
    #   when forward raises.
    raise NotImplementedError('capture_activations: not written yet, see the TODO above this line')


def gradient_flow(model: nn.Module, loss: torch.Tensor) -> dict[str, float]:
    """Backpropagate loss and return {parameter name: L2 norm of its gradient} as Python floats.

    Names are those of model.named_parameters() (a shared parameter once, under its first name);
    parameters whose .grad is None afterwards (frozen, unused) are left out. As with loss.backward(),
    gradients already in .grad are added to, not replaced, and every .grad stays filled afterwards.
    """
    # TODO: backpropagate loss and return {parameter name: the L2 norm of its gradient as a float}
    #   for every parameter that received one.
    raise NotImplementedError('gradient_flow: not written yet, see the TODO above this line')


class NaNGuard:
    """Context manager: inside it, the first module whose output holds NaN or Inf raises RuntimeError.

        with NaNGuard(model):
            model(x)   # RuntimeError: ... 'encoder.1' ... when encoder.1 is the first to output NaN

    The message names the module's qualified name (the children's hooks fire before their
    container's, so a container is named only when its own forward creates the NaN). An output that
    is a tuple or list counts when any floating tensor in it holds NaN or Inf. Nothing is registered
    before the with block starts; every hook is removed on exit, also when the block raises, and no
    exception is swallowed or replaced (an error of the model propagates as it is).
    """

    def __init__(self, model: nn.Module) -> None:
        # TODO: keep the model; register nothing yet.
        raise NotImplementedError('NaNGuard.__init__: not written yet, see the TODO above this line')

    def __enter__(self) -> "NaNGuard":
        # TODO: watch the output of every module (containers too) during forward, so the first
        #   module to produce a NaN or Inf is the one named; return self.
        raise NotImplementedError('NaNGuard.__enter__: not written yet, see the TODO above this line')

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool:
        # TODO: remove everything __enter__ registered, whether or not the block raised, and let
        #   exceptions propagate.
        raise NotImplementedError('NaNGuard.__exit__: not written yet, see the TODO above this line')

    @staticmethod
    def _check_for(name: str):
        # TODO: return a forward hook that raises RuntimeError naming `name` when any floating-point
        #   tensor in the output (a tuple or list holds several) is not all finite.
        raise NotImplementedError('NaNGuard._check_for: not written yet, see the TODO above this line')


def shape_trace(model: nn.Module, x: torch.Tensor) -> list[tuple[str, str, tuple[int, ...]]]:
    """(qualified name, class name, output shape) of every call of a leaf module during model(x), in call order.

    Leaf modules are those without children; containers are left out, and a model without children is
    itself a leaf (name ""). A module called twice appears twice; one never called does not appear.
    Shapes are plain tuples of ints. No hook stays registered afterwards, also when the forward pass
    raises (its error propagates); the modes and gradient mode are left as they were.
    """
    # TODO: return (qualified name, class name, output shape) for every call of a leaf module (no
    #   children), in call order, from one forward without a graph; no hook is left behind.
    raise NotImplementedError('shape_trace: not written yet, see the TODO above this line')


def clamp_grad_(param: torch.Tensor, limit: float) -> RemovableHandle:
    """Make every gradient flowing into param clamped to [-limit, limit]; return the hook's handle.

    Each entry of the gradient of each backward pass is clamped before it is added to param.grad (a
    second backward adds another clamped gradient); the gradients of other tensors and param's values
    are untouched. handle.remove() restores plain gradients. limit must be > 0 (ValueError for 0 or less).
    """
    # TODO: raise ValueError unless limit > 0; make every gradient reaching param clamped to
    #   [-limit, limit] (a new tensor, not changed in place) and return the handle that undoes
    #   it.
    raise NotImplementedError('clamp_grad_: not written yet, see the TODO above this line')
