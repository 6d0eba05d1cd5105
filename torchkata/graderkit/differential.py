"""Differential checks: the student's kata against the reference's recorded outcomes on generated cases.

A hidden grader declares a *scenario*: how to call a kata on one case and what to observe
(returned values, the arguments after the call, module modes, files written). ``torchkata build``
generates the cases (hypothesis strategies, derandomized, edge cases always included), runs the
reference on each in the build process and records the outcomes in ``cases_<slug>.pt`` beside the
grader file. At grading time only the student's code runs; each outcome is compared with the
recorded one, everything observable, and the smallest failing case is reported::

    @differential.scenario(
        "standardize",
        cases=lambda st: st.fixed_dictionaries({"x": differential.tensors(st), "dim": st.integers(-1, 0)}),
        edge=lambda: [{"x": torch.full((1, 11), 0.1), "dim": 1}],
    )
    def standardize_outcome(impl, x, dim):
        return {"result": impl.standardize(x, dim), "x after the call": x}

    @pytest.mark.kata("standardize")
    @pytest.mark.points(2)
    def test_standardize_agrees_with_the_reference(impl):
        standardize_outcome.check(impl)

An observation is made of tensors, numbers, strings, None, dtypes, devices, tuples, lists and dicts
with string keys. An exception raised while observing is recorded as its type: the student's must be
of the reference's type (ValueError and TypeError stand in for each other, as the course allows).
"""

from __future__ import annotations

import copy
import inspect
import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import torch

from torchkata.checks import GradingError
from torchkata.graderkit.casebooks import (
    CASEBOOK_FORMAT,
    Recorded,
    casebook_path,
    decode,
    encode,
    load_casebook,
    read_casebook,
)
from torchkata.graderkit.outcomes import (
    ARGUMENT_ERRORS,
    MAX_TEXT,
    RAISED,
    TOLERANCES,
    attempt,
    compare,
    describe_value,
    is_raised,
    raised,
)

# The graders' API is this module's: what moved to outcomes and casebooks is still differential.<name>.
__all__ = [
    "ARGUMENT_ERRORS", "CASEBOOK_FORMAT", "MAX_TEXT", "RAISED", "TOLERANCES", "Recorded", "Scenario", "attempt",
    "casebook_path", "compare", "decode", "describe_value", "encode", "fill_by_shape_", "is_raised", "load_casebook",
    "modes", "parameter_shapes", "preload_casebooks", "raised", "read_casebook", "scenario", "scenarios_in",
    "seed_everything", "tensors",
]


@dataclass(frozen=True)
class Scenario:
    """One kata called on generated cases; ``observe(impl, **case)`` returns what is compared."""

    kata: str
    observe: Callable[..., Any]
    cases: Callable[[Any], Any] | None = None
    edge: Callable[[], list[dict[str, Any]]] | None = None
    count: int = 30
    tolerances: Mapping[torch.dtype, tuple[float, float]] = field(default_factory=dict)
    call: Callable[[dict[str, Any]], str] | None = None

    @property
    def name(self) -> str:
        return self.observe.__name__

    @property
    def chapter(self) -> str:
        stem = Path(inspect.getfile(self.observe)).stem
        return stem[len("test_"):] if stem.startswith("test_") else stem

    @property
    def casebook_path(self) -> Path:
        return casebook_path(Path(inspect.getfile(self.observe)).parent, self.chapter)

    def __call__(self, impl: ModuleType, **case: Any) -> Any:
        return self.observe(impl, **case)

    def outcome(self, impl: ModuleType, case: dict[str, Any], index: int) -> Any:
        """What ``observe`` gives on a private copy of the case, seeded; an exception becomes its record."""
        seed_everything(index)
        return attempt(self.observe, impl, **copy.deepcopy(case))

    def describe_call(self, case: dict[str, Any]) -> str:
        if self.call is not None:
            return self.call(case)
        order = list(inspect.signature(self.observe).parameters)
        ordered = sorted(case.items(), key=lambda item: order.index(item[0]) if item[0] in order else len(order))
        arguments = ", ".join(f"{key}={describe_value(value)}" for key, value in ordered)
        return f"{self.kata}({arguments})"

    def check(self, impl: ModuleType) -> None:
        """Fail with the smallest recorded case whose outcome differs from the reference's."""
        book = load_casebook(self.casebook_path)
        recorded = book.get(self.name)
        if recorded is None:
            raise GradingError(
                f"no recorded cases for {self.name} in {self.casebook_path.name}: the casebook is stale "
                "(instructors: run `torchkata build`)."
            )
        for index, case in enumerate(recorded.cases):
            got = self.outcome(impl, case, index)
            problem = compare(got, recorded.expected(index), "", self.tolerances)
            if problem:
                raise GradingError(
                    f"{self.describe_call(case)}: {problem}\n"
                    f"(the smallest of {len(recorded.cases)} generated cases on which it differs from the reference)"
                )


def scenario(
    kata: str,
    *,
    cases: Callable[[Any], Any] | None = None,
    edge: Callable[[], list[dict[str, Any]]] | None = None,
    count: int = 30,
    tolerances: Mapping[torch.dtype, tuple[float, float]] | None = None,
    call: Callable[[dict[str, Any]], str] | None = None,
) -> Callable[[Callable[..., Any]], Scenario]:
    """Declare the decorated ``observe(impl, **case)`` as a scenario of ``kata``.

    ``cases(st)`` returns a hypothesis strategy of case dicts (``st`` is ``hypothesis.strategies``,
    imported only when cases are generated); ``edge()`` the cases always included; ``count`` how many
    to generate; ``tolerances`` overrides :data:`TOLERANCES`; ``call(case)`` describes a call in messages.
    """
    if cases is None and edge is None:
        raise ValueError(f"scenario of {kata} needs generated cases, edge cases, or both")

    def wrap(observe: Callable[..., Any]) -> Scenario:
        return Scenario(kata, observe, cases, edge, count, dict(tolerances or {}), call)

    return wrap


def scenarios_in(module: ModuleType) -> list[Scenario]:
    """The scenarios a grader module defines, in definition order."""
    return [value for value in vars(module).values() if isinstance(value, Scenario)]


def seed_everything(index: int) -> None:
    """The same RNG state for a case at build time and at grading time."""
    random.seed(index)
    torch.manual_seed(index)
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy comes with torch here
        return
    np.random.seed(index)


# --- observation helpers -------------------------------------------------------------------------------------------


def fill_by_shape_(module: torch.nn.Module) -> torch.nn.Module:
    """Set every parameter to values that depend only on its shape, so two styles of one model agree."""
    with torch.no_grad():
        for parameter in module.parameters():
            n = parameter.numel()
            values = torch.sin(torch.arange(n, dtype=torch.float64) * 0.7 + n) * 0.5
            parameter.copy_(values.reshape(parameter.shape).to(parameter.dtype))
    return module


def parameter_shapes(module: torch.nn.Module) -> list[tuple[int, ...]]:
    """The shapes of a module's parameters (each shared tensor once), sorted: names differ by style."""
    return sorted(tuple(parameter.shape) for parameter in module.parameters())


def modes(module: torch.nn.Module) -> list[tuple[str, bool]]:
    """(class name, training) of every submodule, sorted: which modules are in train mode."""
    return sorted((type(sub).__name__, sub.training) for sub in module.modules())


def preload_casebooks(modules: Iterable[ModuleType]) -> list[Path]:
    """Read the casebook of every scenario the grader ``modules`` declare now, while they may be read.

    The grading child makes its graders folder unreadable once they are loaded; later checks find their
    recorded cases in this process's cache. A casebook that cannot be read is left for its check to report.
    """
    loaded = []
    for module in modules:
        for found in scenarios_in(module):
            try:
                load_casebook(found.casebook_path)
            except Exception:  # noqa: BLE001 - the check itself says what is wrong with it
                continue
            loaded.append(found.casebook_path)
    return loaded


# --- case strategies -----------------------------------------------------------------------------------------------


def tensors(
    st: Any,
    shape: Any = None,
    dtype: torch.dtype = torch.float32,
    low: float = -4.0,
    high: float = 4.0,
    min_dims: int = 1,
    max_dims: int = 3,
    min_side: int = 1,
    max_side: int = 5,
) -> Any:
    """A hypothesis strategy of tensors: ``shape`` (a tuple or a strategy of tuples) or a generated one."""
    import numpy as np
    from hypothesis.extra import numpy as hnp

    shapes = shape if shape is not None and not isinstance(shape, tuple) else (
        st.just(shape) if shape is not None else
        hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side))
    made = torch.float32 if dtype == torch.bfloat16 else dtype  # numpy has no bfloat16
    numpy_dtype = torch.empty((), dtype=made).numpy().dtype
    if dtype.is_floating_point:
        width = {torch.float16: 16, torch.float32: 32}.get(dtype, 64)
        elements = st.floats(low, high, width=width, allow_nan=False, allow_infinity=False)
    elif dtype == torch.bool:
        elements = st.booleans()
    else:
        elements = st.integers(int(low), int(high))
    arrays = hnp.arrays(np.dtype(numpy_dtype), shapes, elements=elements)
    return arrays.map(lambda a: torch.from_numpy(np.array(a, copy=True)).to(dtype))
