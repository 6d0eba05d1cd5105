"""Mutants of solutions/hooks.py: real mistakes the chapter 13 graders must catch."""

import torch

from torchkata.mutants import mutant


@mutant("capture_activations", "hooks left registered")
def capture_activations(model, x, names):
    modules = dict(model.named_modules())
    if any(name not in modules for name in names):
        raise ValueError("names")
    captured = {}
    for name in names:
        modules[name].register_forward_hook(
            lambda module, inputs, output, name=name: captured.__setitem__(name, output.detach().clone())
        )
    model(x)
    return captured


@mutant("capture_activations", "outputs kept attached to the graph")
def capture_activations(model, x, names):
    modules = dict(model.named_modules())
    if any(name not in modules for name in names):
        raise ValueError("names")
    captured = {}
    handles = [
        modules[name].register_forward_hook(
            lambda module, inputs, output, name=name: captured.__setitem__(name, output.clone())
        )
        for name in names
    ]
    try:
        model(x)
    finally:
        for handle in handles:
            handle.remove()
    return captured


@mutant("capture_activations", "hooks not removed when the forward pass raises (no try/finally)")
def capture_activations(model, x, names):
    modules = dict(model.named_modules())
    if any(name not in modules for name in names):
        raise ValueError("names")
    captured = {}
    handles = [
        modules[name].register_forward_hook(
            lambda module, inputs, output, name=name: captured.__setitem__(name, output.detach().clone())
        )
        for name in names
    ]
    model(x)
    for handle in handles:
        handle.remove()
    return captured


@mutant("capture_activations", "detach without clone: an in-place ReLU rewrites the capture")
def capture_activations(model, x, names):
    modules = dict(model.named_modules())
    if any(name not in modules for name in names):
        raise ValueError("names")
    captured = {}
    handles = [
        modules[name].register_forward_hook(
            lambda module, inputs, output, name=name: captured.__setitem__(name, output.detach())
        )
        for name in names
    ]
    try:
        model(x)
    finally:
        for handle in handles:
            handle.remove()
    return captured


@mutant("capture_activations", "every hook removed from the modules, the model's own ones too")
def capture_activations(model, x, names):
    modules = dict(model.named_modules())
    if any(name not in modules for name in names):
        raise ValueError("names")
    captured = {}
    for name in names:
        modules[name].register_forward_hook(
            lambda module, inputs, output, name=name: captured.__setitem__(name, output.detach().clone())
        )
    try:
        model(x)
    finally:
        for name in names:
            modules[name]._forward_hooks.clear()
    return captured


@mutant("gradient_flow", "norms of the parameters instead of their gradients")
def gradient_flow(model, loss):
    loss.backward()
    return {name: p.detach().norm().item() for name, p in model.named_parameters() if p.grad is not None}


@mutant("gradient_flow", "0-dim tensors instead of floats")
def gradient_flow(model, loss):
    loss.backward()
    return {name: p.grad.norm() for name, p in model.named_parameters() if p.grad is not None}


@mutant("gradient_flow", "gradients zeroed right after backward")
def gradient_flow(model, loss):
    loss.backward()
    flow = {name: p.grad.norm().item() for name, p in model.named_parameters() if p.grad is not None}
    model.zero_grad()
    return flow


@mutant("gradient_flow", "keyed by module name, one norm per module")
def gradient_flow(model, loss):
    loss.backward()
    return {
        name: torch.cat([p.grad.reshape(-1) for p in module.parameters(recurse=False)]).norm().item()
        for name, module in model.named_modules()
        if any(True for _ in module.parameters(recurse=False))
    }


@mutant("NaNGuard", "names the last module whose output is not finite")
class NaNGuard:
    def __init__(self, model):
        self.model = model
        self.handles = []
        self.offenders = []

    def __enter__(self):
        for name, module in self.model.named_modules():
            self.handles.append(module.register_forward_hook(self._record(name)))
        return self

    def _record(self, name):
        def hook(module, inputs, output):
            if not torch.isfinite(output).all():
                self.offenders.append(name)
            if module is self.model and self.offenders:
                raise RuntimeError(f"non-finite output in {self.offenders[-1]!r}")

        return hook

    def __exit__(self, *exc):
        for handle in self.handles:
            handle.remove()
        return False


@mutant("NaNGuard", "checks each module's inputs (pre-hook), so names the module after the culprit")
class NaNGuard:
    def __init__(self, model):
        self.model = model
        self.handles = []

    def __enter__(self):
        for name, module in self.model.named_modules():
            self.handles.append(module.register_forward_pre_hook(self._check(name)))
        return self

    @staticmethod
    def _check(name):
        def hook(module, inputs):
            if any(not torch.isfinite(t).all() for t in inputs if isinstance(t, torch.Tensor)):
                raise RuntimeError(f"non-finite values in module {name!r}")

        return hook

    def __exit__(self, *exc):
        for handle in self.handles:
            handle.remove()
        return False


@mutant("NaNGuard", "torch.isnan only: Inf goes unnoticed")
class NaNGuard:
    def __init__(self, model):
        self.model = model
        self.handles = []

    def __enter__(self):
        for name, module in self.model.named_modules():
            self.handles.append(module.register_forward_hook(self._check(name)))
        return self

    @staticmethod
    def _check(name):
        def hook(module, inputs, output):
            if torch.isnan(output).any():
                raise RuntimeError(f"NaN in module {name!r}")

        return hook

    def __exit__(self, *exc):
        for handle in self.handles:
            handle.remove()
        return False


@mutant("NaNGuard", "contextmanager without try/finally: hooks stay when the block raises")
def NaNGuard(model):
    import contextlib

    def check_for(name):
        def hook(module, inputs, output):
            if not torch.isfinite(output).all():
                raise RuntimeError(f"NaN or Inf in module {name!r}")

        return hook

    @contextlib.contextmanager
    def guard():
        handles = [module.register_forward_hook(check_for(name)) for name, module in model.named_modules()]
        yield
        for handle in handles:
            handle.remove()

    return guard()


@mutant("NaNGuard", "only leaf modules guarded")
class NaNGuard:
    def __init__(self, model):
        self.model = model
        self.handles = []

    def __enter__(self):
        for name, module in self.model.named_modules():
            if next(module.children(), None) is None:
                self.handles.append(module.register_forward_hook(self._check(name)))
        return self

    @staticmethod
    def _check(name):
        def hook(module, inputs, output):
            if not torch.isfinite(output).all():
                raise RuntimeError(f"NaN or Inf in module {name!r}")

        return hook

    def __exit__(self, *exc):
        for handle in self.handles:
            handle.remove()
        return False


@mutant("NaNGuard", "__exit__ returns True and swallows every exception")
class NaNGuard:
    def __init__(self, model):
        self.model = model
        self.handles = []

    def __enter__(self):
        for name, module in self.model.named_modules():
            self.handles.append(module.register_forward_hook(self._check(name)))
        return self

    @staticmethod
    def _check(name):
        def hook(module, inputs, output):
            if not torch.isfinite(output).all():
                raise RuntimeError(f"NaN or Inf in module {name!r}")

        return hook

    def __exit__(self, *exc):
        for handle in self.handles:
            handle.remove()
        return True


@mutant("shape_trace", "containers included in the trace")
def shape_trace(model, x):
    trace = []
    handles = [
        module.register_forward_hook(
            lambda module, inputs, output, name=name: trace.append((name, type(module).__name__, tuple(output.shape)))
        )
        for name, module in model.named_modules()
    ]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    return trace


@mutant("shape_trace", "registration order (a dict by name) instead of call order")
def shape_trace(model, x):
    shapes = {}
    leaves = [(name, module) for name, module in model.named_modules() if next(module.children(), None) is None]
    handles = [
        module.register_forward_hook(
            lambda module, inputs, output, name=name: shapes.__setitem__(name, tuple(output.shape))
        )
        for name, module in leaves
    ]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    return [(name, type(module).__name__, shapes[name]) for name, module in leaves if name in shapes]


@mutant("shape_trace", "input shape recorded instead of output shape")
def shape_trace(model, x):
    trace = []
    handles = [
        module.register_forward_hook(
            lambda module, inputs, output, name=name: trace.append(
                (name, type(module).__name__, tuple(inputs[0].shape))
            )
        )
        for name, module in model.named_modules()
        if next(module.children(), None) is None
    ]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    return trace


@mutant("shape_trace", "hooks left registered")
def shape_trace(model, x):
    trace = []
    for name, module in model.named_modules():
        if next(module.children(), None) is None:
            module.register_forward_hook(
                lambda module, inputs, output, name=name: trace.append(
                    (name, type(module).__name__, tuple(output.shape))
                )
            )
    with torch.no_grad():
        model(x)
    return trace


@mutant("shape_trace", "attribute names instead of qualified names")
def shape_trace(model, x):
    trace = []
    handles = []
    for name, module in model.named_modules():
        if next(module.children(), None) is None:
            short = name.rsplit(".", 1)[-1]
            handles.append(module.register_forward_hook(
                lambda module, inputs, output, short=short: trace.append(
                    (short, type(module).__name__, tuple(output.shape))
                )
            ))
    try:
        with torch.no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    return trace


@mutant("clamp_grad_", "clamps the incoming gradient in place")
def clamp_grad_(param, limit):
    if not limit > 0:
        raise ValueError("limit")

    def hook(grad):
        grad.clamp_(-limit, limit)

    return param.register_hook(hook)


@mutant("clamp_grad_", "clamps only from above")
def clamp_grad_(param, limit):
    if not limit > 0:
        raise ValueError("limit")
    return param.register_hook(lambda grad: grad.clamp(max=limit))


@mutant("clamp_grad_", "post-accumulate hook: clamps the accumulated .grad instead of each gradient")
def clamp_grad_(param, limit):
    if not limit > 0:
        raise ValueError("limit")

    def hook(tensor):
        tensor.grad.clamp_(-limit, limit)

    return param.register_post_accumulate_grad_hook(hook)


@mutant("clamp_grad_", "handle not returned")
def clamp_grad_(param, limit):
    if not limit > 0:
        raise ValueError("limit")
    param.register_hook(lambda grad: grad.clamp(-limit, limit))


@mutant("clamp_grad_", "limit not validated")
def clamp_grad_(param, limit):
    return param.register_hook(lambda grad: grad.clamp(-limit, limit))


@mutant("clamp_grad_", "clamps the parameter's values instead of its gradient")
def clamp_grad_(param, limit):
    if not limit > 0:
        raise ValueError("limit")

    def hook(grad):
        with torch.no_grad():
            param.clamp_(-limit, limit)
        return grad

    return param.register_hook(hook)


@mutant("capture_activations", "unknown names silently ignored")
def capture_activations(model, x, names):
    modules = dict(model.named_modules())
    captured = {}
    handles = [
        modules[name].register_forward_hook(
            lambda module, inputs, output, name=name: captured.__setitem__(name, output.detach().clone())
        )
        for name in names
        if name in modules
    ]
    try:
        model(x)
    finally:
        for handle in handles:
            handle.remove()
    return captured


@mutant("NaNGuard", "hooks registered on the model only, so the model is named")
class NaNGuard:
    def __init__(self, model):
        self.model = model
        self.handle = None

    def __enter__(self):
        def hook(module, inputs, output):
            if not torch.isfinite(output).all():
                raise RuntimeError(f"NaN or Inf in the output of {type(module).__name__}")

        self.handle = self.model.register_forward_hook(hook)
        return self

    def __exit__(self, *exc):
        self.handle.remove()
        return False

