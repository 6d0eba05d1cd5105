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
    ### BEGIN SOLUTION
    # TODO: return {name: a detached copy of that submodule's output} for the named submodules
    #   (ValueError for an unknown name), from one forward of x; no hook is left behind, also
    #   when forward raises.
    names = list(names)
    modules = dict(model.named_modules())
    unknown = [name for name in names if name not in modules]
    if unknown:
        raise ValueError(f"names {unknown} are not submodules of the model")
    captured: dict[str, torch.Tensor] = {}

    def hook_for(name: str):
        def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
            captured[name] = output.detach().clone()

        return hook

    handles = []
    try:
        for name in names:
            handles.append(modules[name].register_forward_hook(hook_for(name)))
        model(x)
    finally:
        for handle in handles:
            handle.remove()
    return captured
    ### END SOLUTION


def gradient_flow(model: nn.Module, loss: torch.Tensor) -> dict[str, float]:
    """Backpropagate loss and return {parameter name: L2 norm of its gradient} as Python floats.

    Names are those of model.named_parameters() (a shared parameter once, under its first name);
    parameters whose .grad is None afterwards (frozen, unused) are left out. As with loss.backward(),
    gradients already in .grad are added to, not replaced, and every .grad stays filled afterwards.
    """
    ### BEGIN SOLUTION
    # TODO: backpropagate loss and return {parameter name: the L2 norm of its gradient as a float}
    #   for every parameter that received one.
    loss.backward()
    return {
        name: torch.linalg.vector_norm(p.grad).item()
        for name, p in model.named_parameters()
        if p.grad is not None
    }
    ### END SOLUTION


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
        ### BEGIN SOLUTION
        # TODO: keep the model; register nothing yet.
        self.model = model
        self.handles: list[RemovableHandle] = []
        ### END SOLUTION

    def __enter__(self) -> "NaNGuard":
        ### BEGIN SOLUTION
        # TODO: watch the output of every module (containers too) during forward, so the first
        #   module to produce a NaN or Inf is the one named; return self.
        for name, module in self.model.named_modules():
            self.handles.append(module.register_forward_hook(self._check_for(name or type(module).__name__)))
        return self
        ### END SOLUTION

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool:
        ### BEGIN SOLUTION
        # TODO: remove everything __enter__ registered, whether or not the block raised, and let
        #   exceptions propagate.
        for handle in self.handles:
            handle.remove()
        self.handles.clear()
        return False
        ### END SOLUTION

    @staticmethod
    def _check_for(name: str):
        ### BEGIN SOLUTION
        # TODO: return a forward hook that raises RuntimeError naming `name` when any floating-point
        #   tensor in the output (a tuple or list holds several) is not all finite.
        def check(module: nn.Module, inputs: tuple, output: object) -> None:
            outputs = output if isinstance(output, tuple | list) else (output,)
            for tensor in outputs:
                if isinstance(tensor, torch.Tensor) and tensor.is_floating_point() and not torch.isfinite(tensor).all():
                    raise RuntimeError(
                        f"module {name!r} ({type(module).__name__}) produced NaN or Inf in its output"
                    )

        return check
        ### END SOLUTION


def shape_trace(model: nn.Module, x: torch.Tensor) -> list[tuple[str, str, tuple[int, ...]]]:
    """(qualified name, class name, output shape) of every call of a leaf module during model(x), in call order.

    Leaf modules are those without children; containers are left out, and a model without children is
    itself a leaf (name ""). A module called twice appears twice; one never called does not appear.
    Shapes are plain tuples of ints. No hook stays registered afterwards, also when the forward pass
    raises (its error propagates); the modes and gradient mode are left as they were.
    """
    ### BEGIN SOLUTION
    # TODO: return (qualified name, class name, output shape) for every call of a leaf module (no
    #   children), in call order, from one forward without a graph; no hook is left behind.
    trace: list[tuple[str, str, tuple[int, ...]]] = []

    def hook_for(name: str):
        def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
            trace.append((name, type(module).__name__, tuple(output.shape)))

        return hook

    handles = []
    try:
        for name, module in model.named_modules():
            if next(module.children(), None) is None:
                handles.append(module.register_forward_hook(hook_for(name)))
        with torch.no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    return trace
    ### END SOLUTION


def clamp_grad_(param: torch.Tensor, limit: float) -> RemovableHandle:
    """Make every gradient flowing into param clamped to [-limit, limit]; return the hook's handle.

    Each entry of the gradient of each backward pass is clamped before it is added to param.grad (a
    second backward adds another clamped gradient); the gradients of other tensors and param's values
    are untouched. handle.remove() restores plain gradients. limit must be > 0 (ValueError for 0 or less).
    """
    ### BEGIN SOLUTION
    # TODO: raise ValueError unless limit > 0; make every gradient reaching param clamped to
    #   [-limit, limit] (a new tensor, not changed in place) and return the handle that undoes
    #   it.
    if not limit > 0:
        raise ValueError(f"limit must be positive, got {limit!r}")
    return param.register_hook(lambda grad: grad.clamp(-limit, limit))
    ### END SOLUTION
