"""Chapter 13 solved in other styles: handles as context managers, global module hooks, a generator guard."""

import contextlib
import functools

import torch
from torch.nn.modules.module import register_module_forward_hook


def capture_activations(model, x, names):
    modules = dict(model.named_modules())
    names = list(names)
    unknown = [name for name in names if name not in modules]
    if unknown:
        raise ValueError(f"no submodules named {unknown}")
    captured = {}

    def keeper(name):
        def hook(module, inputs, output):
            captured[name] = output.detach().clone()

        return hook

    with contextlib.ExitStack() as handles:
        for name in names:
            handles.enter_context(modules[name].register_forward_hook(keeper(name)))
        model(x)
    return captured


def gradient_flow(model, loss):
    loss.backward()
    return {
        name: float(torch.sqrt(torch.dot(p.grad.flatten(), p.grad.flatten())))
        for name, p in model.named_parameters()
        if p.grad is not None
    }


def _tensors(output):
    if isinstance(output, torch.Tensor):
        yield output
    elif isinstance(output, list | tuple):
        for item in output:
            yield from _tensors(item)


@contextlib.contextmanager
def NaNGuard(model):
    names = {id(module): name for name, module in model.named_modules()}

    def hook(module, inputs, output):
        name = names.get(id(module))
        if name is None:
            return
        for tensor in _tensors(output):
            if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
                raise RuntimeError(f"module {name!r} ({module._get_name()}) produced NaN or Inf")

    handle = register_module_forward_hook(hook)
    try:
        yield model
    finally:
        handle.remove()


def shape_trace(model, x):
    leaves = {id(m): name for name, m in model.named_modules() if not list(m.children())}
    trace = []

    def hook(module, inputs, output):
        if id(module) in leaves:
            trace.append((leaves[id(module)], module._get_name(), tuple(output.size())))

    handle = register_module_forward_hook(hook)
    try:
        with torch.no_grad():
            model(x)
    finally:
        handle.remove()
    return trace


def clamp_grad_(param, limit):
    if not limit > 0:
        raise ValueError(f"limit must be positive, got {limit}")
    return param.register_hook(functools.partial(torch.clamp, min=-limit, max=limit))
