"""Snapshots of the hooks registered on a model, to check that a kata leaves none behind.

Two views: :func:`hook_counts` counts the hooks of each kind on every submodule, parameter and
global registry (compare two snapshots, or expect all zeros); :func:`hook_keys` records which
handles every hook registry holds, and :func:`new_hooks` names the registries that gained one.
"""

from __future__ import annotations

from torch import nn
from torch.nn.modules import module as module_globals

MODULE_HOOKS = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks")
GLOBAL_HOOKS = tuple(f"_global{name}" for name in MODULE_HOOKS)

HookKeys = dict[tuple[str, str], set]


def hook_counts(model: nn.Module) -> dict[str, int]:
    """How many hooks of each kind sit on every module, parameter and in the global registries."""
    counts = {
        f"{name or 'the model'}.{kind}": len(getattr(module, kind) or {})
        for name, module in model.named_modules()
        for kind in MODULE_HOOKS
    }
    for name, p in model.named_parameters():
        hooks = len(p._backward_hooks or {}) + len(getattr(p, "_post_accumulate_grad_hooks", None) or {})
        counts[f"parameter {name} (tensor hooks)"] = hooks
    counts.update({f"global {kind}": len(getattr(module_globals, kind, {})) for kind in GLOBAL_HOOKS})
    return counts


def hook_keys(model: nn.Module) -> HookKeys:
    """The keys of every hook registry of every submodule, and of the global module hooks.

    A registry is any dict attribute whose name holds "hook"; an instance attribute ``forward`` (a
    patched forward method) is recorded too, under "forward attribute".
    """
    state: HookKeys = {}
    for name, module in model.named_modules():
        for attr, value in vars(module).items():
            if "hook" in attr and isinstance(value, dict):
                state[(name or "<model>", attr)] = set(value)
        state[(name or "<model>", "forward attribute")] = {"forward"} & set(vars(module))
    for attr, value in vars(module_globals).items():
        if attr.startswith("_global") and isinstance(value, dict):
            state[("<global>", attr)] = set(value)
    return state


def new_hooks(before: HookKeys, model: nn.Module) -> list[str]:
    """Registries that gained an entry since ``before`` (fewer is fine: a lazy layer removes its own hook)."""
    after = hook_keys(model)
    return [f"{name}.{attr}" for (name, attr), keys in after.items() if keys - before.get((name, attr), set())]
