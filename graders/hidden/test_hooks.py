"""Hidden checks for chapter 13, hooks: values against independent computations, call order, cleanup."""

import copy
import math
from collections import OrderedDict
from collections.abc import Callable

import pytest
import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from torchkata import checks
from torchkata.graderkit import differential, errors, hooks

_CLEANUP = "Keep every handle that register_*_hook returns and call handle.remove() in a finally block."


def _same_hooks(model: nn.Module, before: dict[str, int], call: str, hint: str = _CLEANUP) -> None:
    after = hooks.hook_counts(model)
    changed = {where: f"{before.get(where, 0)} -> {count}" for where, count in after.items()
               if count != before.get(where, 0)}
    checks.check(not changed, f"after {call}, the hooks registered changed: {changed}; expected none left over.", hint)


class SqrtOfNegative(nn.Module):
    """Always NaN: the square root of a negative number."""

    def forward(self, x):
        return (-x.abs() - 1).sqrt()


class LogOf(nn.Module):
    def forward(self, x):
        return x.log()


class Explode(nn.Module):
    """Overflows float32 to +-inf (no NaN of its own)."""

    def forward(self, x):
        return x * 1e30 * 1e30


class Boom(nn.Module):
    def forward(self, x):
        raise RuntimeError("this layer always fails")


class NaNBlock(nn.Module):
    """A container whose own forward creates NaN after a finite child."""

    def __init__(self):
        super().__init__()
        self.inner = nn.Linear(4, 4)

    def forward(self, x):
        return (-self.inner(x).abs() - 1).log()


class Reordered(nn.Module):
    """Children registered in one order, called in another; act is called twice; spare is never called."""

    def __init__(self):
        super().__init__()
        self.head = nn.Linear(8, 3)
        self.act = nn.ReLU()
        self.body = nn.Sequential(nn.Linear(4, 8), nn.Tanh())
        self.spare = nn.Linear(2, 2)

    def forward(self, x):
        return self.act(self.head(self.act(self.body(x))))


def _net() -> nn.Module:
    return nn.Sequential(
        OrderedDict(
            encoder=nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 6)),
            act=nn.Tanh(),
            head=nn.Linear(6, 3),
        )
    )


def _linear(layer: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    return x @ layer.weight.T + layer.bias


# ---------------------------------------------------------------- capture_activations


@pytest.mark.kata("capture_activations")
@pytest.mark.points(2)
@pytest.mark.parametrize("batch", [3, 5])
def test_capture_activations_values(impl, batch):
    model = _net()
    x = torch.randn(batch, 4)
    names = ["encoder.1", "encoder", "head"]
    call = f"capture_activations(model, x, {names}) with x of shape ({batch}, 4)"
    captured = checks.call(call, impl.capture_activations, model, x, names)
    checks.check(
        isinstance(captured, dict) and sorted(captured) == sorted(names),
        f"{call} returned {checks.describe(captured)}; expected a dict keyed by exactly {names}.",
    )
    with torch.no_grad():
        hidden = torch.relu(_linear(model.encoder[0], x))
        encoded = _linear(model.encoder[2], hidden)
        expected = {"encoder.1": hidden, "encoder": encoded, "head": _linear(model.head, torch.tanh(encoded))}
    for name in names:
        checks.close(
            captured[name], expected[name], f"{call}[{name!r}]",
            "Each value is the output of the submodule with that qualified name (a container's output too).",
            rtol=1e-5, atol=1e-6,
        )


@pytest.mark.kata("capture_activations")
@pytest.mark.points(2)
def test_capture_activations_are_detached(impl):
    model = _net()
    x = torch.randn(4, 4, requires_grad=True)
    names = ["encoder.0", "act", "head"]
    call = f"capture_activations(model, x, {names})"
    captured = checks.call(call, impl.capture_activations, model, x, names)
    for name in names:
        value = checks.tensor(captured.get(name), f"{call}[{name!r}]")
        checks.check(
            not value.requires_grad and value.grad_fn is None,
            f"{call}[{name!r}], with gradients enabled, has requires_grad={value.requires_grad} and grad_fn="
            f"{type(value.grad_fn).__name__ if value.grad_fn else None}; expected a tensor detached from the graph.",
            "Store output.detach() (and .clone()): an attached output keeps the whole graph alive.",
        )
    model(x).sum().backward()
    checks.check(
        all(p.grad is not None for p in model.parameters()),
        f"after {call}, model(x).sum().backward() did not reach every parameter.",
    )


@pytest.mark.kata("capture_activations")
@pytest.mark.points(1)
def test_capture_activations_survive_inplace_ops(impl):
    model = nn.Sequential(nn.Linear(4, 6), nn.ReLU(inplace=True), nn.Linear(6, 2))
    x = torch.randn(5, 4)
    call = "capture_activations(Sequential(Linear(4, 6), ReLU(inplace=True), Linear(6, 2)), x, ['0'])"
    captured = checks.call(call, impl.capture_activations, model, x, ["0"])
    checks.close(
        checks.tensor(captured.get("0"), f"{call}['0']"), _linear(model[0], x).detach(), f"{call}['0']",
        "The next layer, ReLU(inplace=True), overwrites the Linear's output in place; a detach() shares that "
        "memory, so store output.detach().clone().",
    )


@pytest.mark.kata("capture_activations")
@pytest.mark.points(1)
def test_capture_activations_leave_no_hooks(impl):
    model = _net()
    seen = []
    model.encoder[0].register_forward_hook(lambda module, inputs, output: seen.append(output.shape))
    before = hooks.hook_counts(model)
    call = "capture_activations(model, x, ['encoder.0', 'encoder.2', 'act']) on a model with a hook of its own"
    x = torch.randn(2, 4)
    captured = checks.call(call, impl.capture_activations, model, x, ["encoder.0", "encoder.2", "act"])
    _same_hooks(model, before, call, _CLEANUP + " Remove only your own hooks: the model's own hook must stay.")
    _expect_first_activation(captured, model, x, call)
    seen.clear()
    model(torch.randn(3, 4))
    checks.check(
        len(seen) == 1,
        f"after {call}, the model's own forward hook on 'encoder.0' fired {len(seen)} times on the next call; "
        "expected once.",
    )


@pytest.mark.kata("capture_activations")
@pytest.mark.points(2)
def test_capture_activations_cleanup_when_forward_raises(impl):
    model = nn.Sequential(OrderedDict(fc=nn.Linear(4, 4), act=nn.ReLU(), boom=Boom()))
    before = hooks.hook_counts(model)
    call = "capture_activations(model, x, ['fc', 'act']) where the layer after them raises RuntimeError"
    error = errors.raised(lambda: impl.capture_activations(model, torch.randn(2, 4), ["fc", "act"]))
    checks.check(
        isinstance(error, RuntimeError) and "always fails" in str(error),
        f"{call} raised {error!r}; expected the model's RuntimeError to propagate.",
    )
    _same_hooks(model, before, call, "Run model(x) inside try and remove the handles in finally.")


def _expect_first_activation(captured: object, model: nn.Module, x: torch.Tensor, call: str) -> None:
    """Side conditions (hooks removed, errors raised) earn points only when the activations are captured too."""
    checks.check(isinstance(captured, dict) and "encoder.0" in captured,
                 f"{call} returned {checks.describe(captured)}; expected a dict holding 'encoder.0'.")
    with torch.no_grad():
        expected = model.encoder[0](x)
    checks.close(captured["encoder.0"], expected, f"{call}['encoder.0']")


@pytest.mark.kata("capture_activations")
@pytest.mark.points(1)
def test_capture_activations_rejects_unknown_names(impl):
    model = _net()
    x = torch.randn(2, 4)
    call = "capture_activations(model, x, ['encoder.0'])"
    _expect_first_activation(checks.call(call, impl.capture_activations, model, x, ["encoder.0"]), model, x, call)
    before = hooks.hook_counts(model)
    call = "capture_activations(model, x, ['encoder.0', 'decoder'])"
    checks.raises(
        ValueError, lambda: impl.capture_activations(model, torch.randn(2, 4), ["encoder.0", "decoder"]), call,
        "A name that is not in model.named_modules() should raise ValueError naming it.",
    )
    _same_hooks(model, before, call)


# ---------------------------------------------------------------- gradient_flow


def _reference_grad_norms(model: nn.Module, loss_of: Callable[[nn.Module], torch.Tensor]) -> dict[str, float]:
    twin = copy.deepcopy(model)
    names, params = zip(*twin.named_parameters(), strict=True)
    grads = torch.autograd.grad(loss_of(twin), params)
    return {name: torch.linalg.vector_norm(grad).item() for name, grad in zip(names, grads, strict=True)}


def _conv_net() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Sequential(nn.Linear(3 * 4 * 4, 5), nn.Tanh()),
        nn.Linear(5, 2),
    )


@pytest.mark.kata("gradient_flow")
@pytest.mark.points(2)
@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_gradient_flow_values(impl, kind):
    model, x = (_net(), torch.randn(5, 4)) if kind == "mlp" else (_conv_net(), torch.randn(3, 1, 4, 4))
    target = torch.randn(x.shape[0], 3 if kind == "mlp" else 2)

    def loss_of(net: nn.Module) -> torch.Tensor:
        return ((net(x) - target) ** 2).mean()

    reference = copy.deepcopy(model)
    call = f"gradient_flow({'the MLP' if kind == 'mlp' else 'a small CNN'}, loss)"
    flow = checks.call(call, impl.gradient_flow, model, loss_of(model))
    expected = _reference_grad_norms(reference, loss_of)  # after the call: not in a frame it can read
    checks.check(
        isinstance(flow, dict) and sorted(flow) == sorted(expected),
        f"{call} returned {checks.describe(flow)}; expected keys {sorted(expected)}.",
        "Use the names of model.named_parameters().",
    )
    for name, want in expected.items():
        got = flow[name]
        checks.check(
            isinstance(got, float) and math.isclose(got, want, rel_tol=1e-5, abs_tol=1e-7),
            f"{call}[{name!r}] is {got!r}; expected {want:.6g} (a float: the L2 norm of that parameter's gradient).",
            "Backpropagate first, then take torch.linalg.vector_norm(p.grad).item(): the gradient's norm, not the "
            "parameter's.",
        )


@pytest.mark.kata("gradient_flow")
@pytest.mark.points(1)
def test_gradient_flow_fills_grads_and_leaves_no_hooks(impl):
    model = _net()
    before = hooks.hook_counts(model)
    x = torch.randn(3, 4)
    expected = _reference_grad_norms(model, lambda net: net(x).sum())
    call = "gradient_flow(model, model(x).sum())"
    checks.call(call, impl.gradient_flow, model, model(x).sum())
    for name, p in model.named_parameters():
        checks.check(
            p.grad is not None and math.isclose(p.grad.norm().item(), expected[name], rel_tol=1e-5, abs_tol=1e-7),
            f"after {call}, {name}.grad is {checks.describe(p.grad)}; expected the gradient of the loss "
            f"(norm {expected[name]:.6g}).",
            "Call loss.backward() and leave the gradients in place for the optimizer.",
        )
    _same_hooks(model, before, call)


# ---------------------------------------------------------------- NaNGuard


def _guarded_error(impl, model: nn.Module, x: torch.Tensor) -> BaseException | None:
    guard = checks.call("NaNGuard(model)", impl.NaNGuard, model)

    def run():
        with guard:
            model(x)

    return errors.raised(run)


def _check_named(error, first: str, later: list[str], story: str, hint: str) -> None:
    message = str(error)
    checks.check(
        isinstance(error, RuntimeError) and first in message and not any(name in message for name in later),
        f"with NaNGuard(model): model(x), {story}, raised {error!r}; expected a RuntimeError naming {first!r} "
        f"(and not {later}).",
        hint,
    )


@pytest.mark.kata("NaNGuard")
@pytest.mark.points(2)
def test_nan_guard_names_the_first_of_two_offenders(impl):
    model = nn.Sequential(
        OrderedDict(
            stem_block=nn.Sequential(nn.Linear(4, 6), nn.Tanh()),
            nan_block=nn.Sequential(nn.Identity(), SqrtOfNegative()),
            tail_block=nn.Sequential(nn.Linear(6, 6), LogOf()),
        )
    )
    error = _guarded_error(impl, model, torch.randn(3, 4))
    _check_named(
        error, "nan_block.1", ["tail_block", "stem_block"],
        "where 'nan_block.1' outputs NaN first and 'tail_block.1' would too",
        "Check each module's OUTPUT in a forward hook and raise at the first bad one: every module after it "
        "sees NaN too.",
    )


@pytest.mark.kata("NaNGuard")
@pytest.mark.points(1)
def test_nan_guard_names_a_container_that_creates_nan(impl):
    model = nn.Sequential(OrderedDict(pre_fc=nn.Linear(4, 4), blk=NaNBlock(), post_fc=nn.Linear(4, 2)))
    error = _guarded_error(impl, model, torch.randn(2, 4))
    _check_named(
        error, "blk", ["post_fc", "blk.inner"], "where the container 'blk' creates NaN in its own forward",
        "Guard every module of named_modules(), containers included, not only the leaves.",
    )


@pytest.mark.kata("NaNGuard")
@pytest.mark.points(1)
def test_nan_guard_catches_inf(impl):
    model = nn.Sequential(OrderedDict(first_fc=nn.Linear(4, 4), blowup=Explode(), final_fc=nn.Linear(4, 2)))
    error = _guarded_error(impl, model, torch.randn(2, 4))
    _check_named(
        error, "blowup", ["final_fc"], "where 'blowup' outputs inf (not NaN)",
        "torch.isfinite(output).all() catches Inf as well as NaN; torch.isnan misses Inf.",
    )


@pytest.mark.kata("NaNGuard")
@pytest.mark.points(1)
def test_nan_guard_is_silent_on_finite_outputs(impl):
    model = _net()
    x = torch.randn(4, 4)
    expected = model(x).detach()
    guard = checks.call("NaNGuard(model)", impl.NaNGuard, model)
    out = None

    def run():
        nonlocal out
        with guard:
            out = model(x)

    error = errors.raised(run)
    checks.check(error is None, f"with NaNGuard(model): model(x) raised {error!r} on a model with finite outputs.")
    checks.close(out, expected, "model(x) inside NaNGuard(model)", "The guard must not change outputs.")
    _same_hooks(model, {}, "leaving NaNGuard(model)")
    # Silence earns the point only from a guard that does speak up when an output is NaN.
    poisoned = nn.Sequential(OrderedDict(fc=nn.Linear(4, 4), bad_sqrt=SqrtOfNegative()))
    _check_named(_guarded_error(impl, poisoned, torch.randn(2, 4)), "bad_sqrt", [],
                 "where the layer 'bad_sqrt' outputs NaN", "Raise RuntimeError naming the first non-finite module.")


@pytest.mark.kata("NaNGuard")
@pytest.mark.points(2)
def test_nan_guard_cleans_up_after_errors(impl):
    model = nn.Sequential(OrderedDict(fc=nn.Linear(4, 4), bad_sqrt=SqrtOfNegative(), out=nn.Linear(4, 2)))
    model.fc.register_forward_hook(lambda module, inputs, output: None)
    before = hooks.hook_counts(model)
    error = _guarded_error(impl, model, torch.randn(2, 4))
    checks.check(isinstance(error, RuntimeError), f"with NaNGuard(model) on a NaN model raised {error!r}.")
    _same_hooks(
        model, before, "NaNGuard(model) exited with its RuntimeError",
        "Remove the hooks in __exit__ (or in a finally around the yield): it runs also when the block raises. "
        "Remove only your own hooks.",
    )
    guard = checks.call("NaNGuard(model)", impl.NaNGuard, model)

    def other_error():
        with guard:
            raise KeyError("raised inside the block")

    error = errors.raised(other_error)
    checks.check(
        isinstance(error, KeyError),
        f"with NaNGuard(model): raise KeyError(...) ended with {error!r}; expected the KeyError to propagate.",
        "__exit__ returns False (or None): returning True swallows exceptions.",
    )
    _same_hooks(model, before, "NaNGuard(model) exited with a KeyError")


# ---------------------------------------------------------------- shape_trace


def _trace(impl, model: nn.Module, x: torch.Tensor, call: str) -> list[tuple]:
    trace = checks.call(call, impl.shape_trace, model, x)
    checks.check(isinstance(trace, list), f"{call} returned {checks.describe(trace)}; expected a list.")
    return [tuple(entry) if isinstance(entry, list | tuple) else entry for entry in trace]


@pytest.mark.kata("shape_trace")
@pytest.mark.points(2)
@pytest.mark.parametrize("batch", [2, 5])
def test_shape_trace_follows_call_order(impl, batch):
    model = Reordered()
    call = f"shape_trace(model, x) with x of shape ({batch}, 4)"
    trace = _trace(impl, model, torch.randn(batch, 4), call)
    expected = [
        ("body.0", "Linear", (batch, 8)),
        ("body.1", "Tanh", (batch, 8)),
        ("act", "ReLU", (batch, 8)),
        ("head", "Linear", (batch, 3)),
        ("act", "ReLU", (batch, 3)),
    ]
    checks.check(
        trace == expected,
        f"{call} returned {trace}; expected {expected}.",
        "Record calls as they happen (forward hooks appending to a list): head is registered first but runs "
        "last, act runs twice, spare never runs, and the container 'body' is not a leaf.",
    )


@pytest.mark.kata("shape_trace")
@pytest.mark.points(1)
def test_shape_trace_lists_only_leaves(impl):
    model = nn.Sequential(
        nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU()), nn.Flatten(), nn.Sequential(nn.Linear(32, 5))
    )
    call = "shape_trace(Sequential(Sequential(Conv2d, ReLU), Flatten, Sequential(Linear)), x) with x (3, 1, 4, 4)"
    trace = _trace(impl, model, torch.randn(3, 1, 4, 4), call)
    expected = [
        ("0.0", "Conv2d", (3, 2, 4, 4)),
        ("0.1", "ReLU", (3, 2, 4, 4)),
        ("1", "Flatten", (3, 32)),
        ("2.0", "Linear", (3, 5)),
    ]
    checks.check(
        trace == expected,
        f"{call} returned {trace}; expected {expected}.",
        "Only modules without children, each with its qualified name from named_modules() and its OUTPUT shape.",
    )


@pytest.mark.kata("shape_trace")
@pytest.mark.points(1)
def test_shape_trace_leaves_no_hooks(impl):
    model = Reordered()
    call = "shape_trace(model, x)"
    _trace(impl, model, torch.randn(2, 4), call)
    _same_hooks(model, {}, call)
    failing = nn.Sequential(OrderedDict(fc=nn.Linear(4, 4), boom=Boom()))
    call = "shape_trace(model, x) where a layer raises RuntimeError"
    error = errors.raised(lambda: impl.shape_trace(failing, torch.randn(2, 4)))
    checks.check(isinstance(error, RuntimeError), f"{call} raised {error!r}; expected the RuntimeError to propagate.")
    _same_hooks(failing, {}, call, "Remove the handles in a finally block.")


# ---------------------------------------------------------------- clamp_grad_


@pytest.mark.kata("clamp_grad_")
@pytest.mark.points(2)
@pytest.mark.parametrize("shape, limit", [((3, 4), 0.1), ((5,), 2.0), ((2, 2, 3), 0.75)])
def test_clamp_grad_values(impl, shape, limit):
    param = nn.Parameter(torch.randn(shape))
    weight = torch.randn(shape) * 2
    expected = (weight + 2 * param.detach()).clamp(-limit, limit)
    call = f"clamp_grad_(param, {limit}) with param of shape {checks.shape_text(shape)}"
    checks.call(call, impl.clamp_grad_, param, limit)
    ((param * weight).sum() + (param**2).sum()).backward()
    checks.close(param.grad, expected, f"param.grad after {call} and backward()",
                 "Clamp both ways: grad.clamp(-limit, limit).", rtol=1e-6, atol=1e-7)


@pytest.mark.kata("clamp_grad_")
@pytest.mark.points(1)
def test_clamp_grad_handle_removes_the_clamp(impl):
    param = nn.Parameter(torch.randn(4))
    weight = torch.tensor([5.0, -5.0, 0.5, -0.5])
    call = "clamp_grad_(param, 1.0)"
    handle = checks.call(call, impl.clamp_grad_, param, 1.0)
    (param * weight).sum().backward()
    checks.close(param.grad, weight.clamp(-1, 1), f"param.grad after {call} and backward()")
    checks.check(callable(getattr(handle, "remove", None)), f"{call} returned {checks.describe(handle)}; "
                 "expected the handle of the hook.", "Return what param.register_hook(...) returns.")
    handle.remove()
    param.grad = None
    (param * weight).sum().backward()
    checks.close(param.grad, weight, "param.grad after handle.remove() and another backward()",
                 "The hook must be the tensor hook whose handle you returned.")


@pytest.mark.kata("clamp_grad_")
@pytest.mark.points(1)
def test_clamp_grad_leaves_other_gradients_alone(impl):
    param = nn.Parameter(torch.zeros(3))
    other = torch.zeros(3, requires_grad=True)
    call = "clamp_grad_(param, 1.0)"
    checks.call(call, impl.clamp_grad_, param, 1.0)

    def backward():
        ((param + other) * 3).sum().backward()

    error = errors.raised(backward)
    checks.check(error is None, f"after {call}, ((param + other) * 3).sum().backward() raised {error!r}.",
                 "Return a new tensor from the hook instead of clamping grad in place.")
    story = f"after {call} and ((param + other) * 3).sum().backward()"
    checks.close(param.grad, torch.ones(3), f"param.grad {story}")
    checks.close(
        other.grad, torch.full((3,), 3.0), f"other.grad {story}",
        "The gradient tensor passed to the hook is shared with other: clamping it in place changed "
        "other's gradient. Return grad.clamp(-limit, limit), a new tensor.",
    )


@pytest.mark.kata("clamp_grad_")
@pytest.mark.points(1)
def test_clamp_grad_clamps_each_backward(impl):
    param = nn.Parameter(torch.zeros(2))
    call = "clamp_grad_(param, 1.0)"
    checks.call(call, impl.clamp_grad_, param, 1.0)
    (param * torch.tensor([3.0, -0.5])).sum().backward()
    (param * torch.tensor([0.8, -4.0])).sum().backward()
    checks.close(
        param.grad, torch.tensor([1.8, -1.5]),
        f"param.grad after {call} and two backward() calls with gradients [3, -0.5] and [0.8, -4]",
        "A tensor hook (param.register_hook) clamps each incoming gradient before it is added to .grad: "
        "clamp(3) + clamp(0.8) = 1.8.",
    )


@pytest.mark.kata("clamp_grad_")
@pytest.mark.points(1)
def test_clamp_grad_rejects_non_positive_limit(impl):
    param = nn.Parameter(torch.tensor([-2.0, 0.1, 3.0]))  # a valid limit first: refusing all earns nothing
    handle = checks.call("clamp_grad_(param, 0.5)", impl.clamp_grad_, param, 0.5)
    (param * torch.tensor([-2.0, 0.1, 3.0])).sum().backward()
    checks.close(param.grad, torch.tensor([-0.5, 0.1, 0.5]), "param.grad after clamp_grad_(param, 0.5) and backward()")
    checks.call("handle.remove()", handle.remove)
    for limit in (0.0, -1.0):
        param = nn.Parameter(torch.randn(3))
        checks.raises(ValueError, lambda param=param, limit=limit: impl.clamp_grad_(param, limit),
                      f"clamp_grad_(param, {limit})", "limit must be positive: raise ValueError naming it.")


# ---------------------------------------------------------------- differential: every observable against the reference
#
# The reference's outcomes on generated cases are recorded by `torchkata build` in cases_hooks.pt. The models are
# the grader's own (so their names may be observed), built inside each observation from plain case values and
# filled by shape; compared are the results, the hooks left on every module, parameter and global registry, the
# modes of every submodule, the gradients, and what is raised.


def _given_as(names: list[str], how: str):
    return {"list": lambda: list(names), "tuple": lambda: tuple(names), "generator": lambda: (n for n in names)}[how]()


def _nothing(*args) -> None:
    return None


class _Probe(nn.Module):
    """A nested encoder whose in-place ReLU rewrites its Linear's output, a layer called twice, dropout, a head."""

    def __init__(self, fails: bool = False):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(4, 6), nn.ReLU(inplace=True))
        self.shared = nn.Linear(6, 6)
        self.drop = nn.Dropout(0.5)
        self.head = Boom() if fails else nn.Linear(6, 3)

    def forward(self, x):
        hidden = torch.tanh(self.shared(self.encoder(x)))
        return self.head(self.drop(self.shared(hidden)))


_PROBE_NAMES = ["", "encoder", "encoder.0", "encoder.1", "shared", "drop", "head"]


def _probe(fails: bool = False) -> nn.Module:
    model = differential.fill_by_shape_(_Probe(fails))
    model.train()
    model.encoder.eval()  # mixed modes: the kata must leave each as it is
    model.shared.register_forward_hook(_nothing)  # a hook of the model's own, which must stay
    return model


@differential.scenario(
    "capture_activations",
    cases=lambda st: st.fixed_dictionaries({
        "names": st.lists(st.sampled_from(_PROBE_NAMES + ["decoder", "encoder.2"]), max_size=4, unique=True),
        "given_as": st.sampled_from(("list", "tuple", "generator")),
        "x": differential.tensors(st, shape=st.integers(0, 3).map(lambda b: (b, 4))),
        "fails": st.sampled_from((False, False, False, True)),
    }),
    edge=lambda: [
        {"names": [], "given_as": "list", "x": torch.ones(1, 4), "fails": False},
        {"names": ["encoder.0", "shared", ""], "given_as": "generator", "x": torch.randn(2, 4), "fails": False},
        {"names": ["encoder.0", "drop"], "given_as": "tuple", "x": torch.zeros(0, 4), "fails": False},
        {"names": ["encoder.0", "decoder"], "given_as": "list", "x": torch.randn(2, 4), "fails": False},
        {"names": ["encoder", "shared"], "given_as": "list", "x": torch.randn(2, 4), "fails": True},
    ],
    count=30,
)
def capture_activations_outcome(impl, names, given_as, x, fails):
    model = _probe(fails)
    x = x.requires_grad_()
    captured = differential.attempt(impl.capture_activations, model, x, _given_as(names, given_as))
    plain = type(captured) is dict and all(isinstance(v, torch.Tensor) for v in captured.values())
    return {
        "result": captured,
        "requires_grad of each captured tensor": {k: v.requires_grad for k, v in captured.items()} if plain else None,
        "hooks after the call": hooks.hook_counts(model),
        "modes after the call": differential.modes(model),
    }


class _Tied(nn.Module):
    """A shared layer called twice, a weight tied between two layers, a frozen bias, an unused layer."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(3, 4)
        self.shared = nn.Linear(4, 4)
        self.decode = nn.Linear(4, 4)
        self.decode.weight = self.shared.weight
        self.decode.bias.requires_grad_(False)
        self.spare = nn.Linear(2, 2)
        self.out = nn.Linear(4, 2)

    def forward(self, x):
        h = torch.tanh(self.shared(torch.tanh(self.shared(self.embed(x)))))
        return self.out(torch.tanh(self.decode(h)))


@differential.scenario(
    "gradient_flow",
    cases=lambda st: st.integers(0, 3).flatmap(lambda b: st.fixed_dictionaries({
        "x": differential.tensors(st, shape=(b, 3)),
        "weights": differential.tensors(st, shape=(b, 2)),
        "grads_before": st.booleans(),
        "dtype": st.sampled_from((torch.float32, torch.float64)),
    })),
    edge=lambda: [
        {"x": torch.zeros(0, 3), "weights": torch.zeros(0, 2), "grads_before": False, "dtype": torch.float32},
        {"x": torch.ones(2, 3), "weights": torch.ones(2, 2), "grads_before": True, "dtype": torch.float64},
    ],
    count=20,
    tolerances={torch.float64: (1e-9, 1e-12)},
)
def gradient_flow_outcome(impl, x, weights, grads_before, dtype):
    model = differential.fill_by_shape_(_Tied()).to(dtype)
    if grads_before:
        for p in model.parameters():
            if p.requires_grad:
                p.grad = torch.full_like(p, 0.25)
    loss = (model(x.to(dtype)) * weights.to(dtype)).sum()
    norms = impl.gradient_flow(model, loss)
    return {
        "result": norms,
        "grads after the call": {name: p.grad for name, p in model.named_parameters()},
        "hooks after the call": hooks.hook_counts(model),
    }


class _Stage(nn.Module):
    """A leaf that passes x on, or makes NaN / Inf, or returns a tuple with NaN in its second item, or raises."""

    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind

    def forward(self, x):
        if self.kind == "nan":
            return x * float("nan")
        if self.kind == "inf":
            return x + float("inf")
        if self.kind == "tuple-nan":
            return x * 1.0, x * float("nan")
        if self.kind == "fails":
            raise ValueError("this stage always fails")
        return x * 2.0 - 1.0


class _Chain(nn.Module):
    """Runs its children in order (the first item of a tuple goes on); may create NaN itself afterwards."""

    def __init__(self, children: dict[str, nn.Module], poisons: bool = False):
        super().__init__()
        for name, child in children.items():
            self.add_module(name, child)
        self.poisons = poisons

    def forward(self, x):
        for child in self.children():
            out = child(x)
            x = out[0] if isinstance(out, tuple) else out
        return x.abs().neg().sub(1.0).log() if self.poisons else x


_STAGES = ("pass", "pass", "nan", "inf", "tuple-nan", "fails")
_GUARDED = ["alpha", "bravo", "bravo.charlie", "bravo.delta", "echo"]


def _guarded_model(kinds: list[str], bravo_poisons: bool) -> nn.Module:
    alpha, charlie, delta, echo = (_Stage(kind) for kind in kinds)
    model = _Chain({"alpha": alpha, "bravo": _Chain({"charlie": charlie, "delta": delta}, bravo_poisons),
                    "echo": echo})
    model.bravo.register_forward_hook(_nothing)  # a hook of the model's own, which must stay
    return model


def _named(error: object) -> str | None:
    """The longest of the model's qualified names that the message holds (None: it names none)."""
    text = str(error)
    return max((name for name in _GUARDED if name in text), key=len, default=None)


@differential.scenario(
    "NaNGuard",
    cases=lambda st: st.fixed_dictionaries({
        "kinds": st.lists(st.sampled_from(_STAGES), min_size=4, max_size=4),
        "bravo_poisons": st.sampled_from((False, False, True)),
        "x": differential.tensors(st, shape=st.integers(1, 3).map(lambda b: (b, 3))),
        "nan_input": st.sampled_from((False, False, False, True)),
    }),
    edge=lambda: [
        {"kinds": ["pass"] * 4, "bravo_poisons": False, "x": torch.ones(2, 3), "nan_input": False},
        {"kinds": ["pass", "nan", "inf", "pass"], "bravo_poisons": False, "x": torch.ones(2, 3), "nan_input": False},
        {"kinds": ["pass", "pass", "pass", "inf"], "bravo_poisons": True, "x": torch.ones(2, 3), "nan_input": False},
        {"kinds": ["pass", "tuple-nan", "pass", "nan"], "bravo_poisons": False, "x": torch.ones(1, 3),
         "nan_input": False},
        {"kinds": ["pass", "pass", "fails", "pass"], "bravo_poisons": False, "x": torch.ones(1, 3),
         "nan_input": False},
        {"kinds": ["pass"] * 4, "bravo_poisons": False, "x": torch.ones(1, 3), "nan_input": True},
    ],
    count=30,
)
def nan_guard_outcome(impl, kinds, bravo_poisons, x, nan_input):
    model = _guarded_model(kinds, bravo_poisons)
    if nan_input:
        x[0, 0] = float("nan")
    guard = impl.NaNGuard(model)
    made = hooks.hook_counts(model)
    try:
        with guard:
            outcome = {"output": model(x)}
    except (NotImplementedError, checks.GradingError):
        raise
    except Exception as error:  # noqa: BLE001 - the error and the module it names are the outcome
        outcome = {"raised": differential.raised(error), "module named": _named(error)}
    outcome["hooks once NaNGuard(model) is made"] = made
    outcome["hooks after the block"] = hooks.hook_counts(model)
    outcome["model(x) after the block"] = differential.attempt(model, x)
    return outcome


class _Branches(nn.Module):
    """A custom container: children registered in one order, called in another, one twice, one never."""

    def __init__(self):
        super().__init__()
        self.head = nn.Linear(8, 3)
        self.act = nn.ReLU()
        self.body = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Dropout(0.25))
        self.blocks = nn.ModuleList([nn.Identity(), nn.Flatten(0)])
        self.spare = nn.Linear(2, 2)

    def forward(self, x):
        h = self.act(self.head(self.act(self.body(x))))
        return self.blocks[1](self.blocks[0](h))


def _traced_model(kind: str) -> nn.Module:
    if kind == "leaf":
        return differential.fill_by_shape_(nn.Linear(4, 3))
    if kind == "fails":
        return nn.Sequential(nn.Linear(4, 4), nn.ReLU(), Boom())
    model = differential.fill_by_shape_(_Branches())
    model.train()
    model.body.eval()
    return model


@differential.scenario(
    "shape_trace",
    cases=lambda st: st.fixed_dictionaries({
        "kind": st.sampled_from(("branches", "branches", "leaf", "fails")),
        "x": differential.tensors(st, shape=st.integers(0, 3).map(lambda b: (b, 4))),
    }),
    edge=lambda: [
        {"kind": "leaf", "x": torch.ones(2, 4)},
        {"kind": "branches", "x": torch.zeros(0, 4)},
        {"kind": "branches", "x": torch.ones(3, 4)},
        {"kind": "fails", "x": torch.ones(1, 4)},
    ],
    count=12,
)
def shape_trace_outcome(impl, kind, x):
    model = _traced_model(kind)
    model.register_forward_hook(_nothing)  # a hook of the model's own, which must stay
    trace = differential.attempt(impl.shape_trace, model, x)
    return {"result": trace, "hooks after the call": hooks.hook_counts(model),
            "modes after the call": differential.modes(model), "gradients enabled after": torch.is_grad_enabled()}


@differential.scenario(
    "clamp_grad_",
    cases=lambda st: st.tuples(st.sampled_from((torch.float32, torch.float64)), st.integers(1, 5)).flatmap(
        lambda spec: st.fixed_dictionaries({
            "values": differential.tensors(st, shape=(spec[1],), dtype=spec[0]),
            "first": differential.tensors(st, shape=(spec[1],), dtype=spec[0]),
            "second": differential.tensors(st, shape=(spec[1],), dtype=spec[0]),
            "limit": st.sampled_from((0.5, 1.0, 2.5, 1e-3, 100.0, 0.0, -1.0)),
        })),
    edge=lambda: [
        {"values": torch.ones(3), "first": torch.tensor([3.0, -3.0, 0.5]), "second": torch.tensor([1.0, 1, 1]),
         "limit": 1.0},
        {"values": torch.ones(2), "first": torch.ones(2), "second": torch.ones(2), "limit": 0.0},
        {"values": torch.ones(2), "first": torch.ones(2), "second": torch.ones(2), "limit": -0.5},
        {"values": torch.ones(3, dtype=torch.float64), "first": torch.tensor([2.0, -0.1, -9], dtype=torch.float64),
         "second": torch.tensor([0.4, 0.4, -0.4], dtype=torch.float64), "limit": 0.3},
    ],
    count=25,
)
def clamp_grad_outcome(impl, values, first, second, limit):
    param = values.clone().requires_grad_()
    other = torch.ones_like(values, requires_grad=True)
    handle = impl.clamp_grad_(param, limit)
    outcome = {"returns a RemovableHandle": isinstance(handle, RemovableHandle)}
    (param * other * first).sum().backward()
    outcome["param.grad after one backward"] = param.grad.clone()
    outcome["other.grad (the other factor, not clamped)"] = other.grad.clone()
    (param * second).sum().backward()
    outcome["param.grad after a second backward"] = param.grad.clone()
    handle.remove()
    param.grad = None
    (param * first).sum().backward()
    outcome["param.grad after handle.remove() and another backward"] = param.grad
    outcome["param after it all"] = param.detach()
    outcome["tensor hooks left on param"] = len(param._backward_hooks or {})
    return outcome


@pytest.mark.kata("capture_activations")
@pytest.mark.points(2)
def test_capture_activations_agrees_with_the_reference_on_generated_cases(impl):
    capture_activations_outcome.check(impl)


@pytest.mark.kata("gradient_flow")
@pytest.mark.points(2)
def test_gradient_flow_agrees_with_the_reference_on_generated_cases(impl):
    gradient_flow_outcome.check(impl)


@pytest.mark.kata("NaNGuard")
@pytest.mark.points(2)
def test_nan_guard_agrees_with_the_reference_on_generated_cases(impl):
    nan_guard_outcome.check(impl)


@pytest.mark.kata("shape_trace")
@pytest.mark.points(2)
def test_shape_trace_agrees_with_the_reference_on_generated_cases(impl):
    shape_trace_outcome.check(impl)


@pytest.mark.kata("clamp_grad_")
@pytest.mark.points(2)
def test_clamp_grad_agrees_with_the_reference_on_generated_cases(impl):
    clamp_grad_outcome.check(impl)
