"""Realistic mistakes in chapter 13, hooks, that the public checks alone must catch."""

import torch

from torchkata.mutants import mutant


@mutant("capture_activations", "the hooks are removed after a successful forward only, not when forward raises")
def capture_activations(model, x, names):
    modules = dict(model.named_modules())
    captured = {}
    handles = []
    for name in names:
        handles.append(
            modules[name].register_forward_hook(lambda m, i, o, name=name: captured.__setitem__(name, o.detach()))
        )
    model(x)
    for handle in handles:
        handle.remove()
    return captured


@mutant("NaNGuard", "checks torch.isnan only, so an Inf output passes unnoticed")
class NaNGuard:
    def __init__(self, model):
        self.model = model
        self.handles = []

    def __enter__(self):
        for name, module in self.model.named_modules():
            self.handles.append(module.register_forward_hook(self._check_for(name)))
        return self

    def __exit__(self, *exc):
        for handle in self.handles:
            handle.remove()
        self.handles.clear()
        return False

    @staticmethod
    def _check_for(name):
        def check(module, inputs, output):
            if isinstance(output, torch.Tensor) and torch.isnan(output).any():
                raise RuntimeError(f"NaN in the output of module {name!r}")

        return check
