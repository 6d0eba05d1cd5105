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
import functools
import inspect
import io
import math
import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import torch

from torchkata.checks import GradingError, describe, shape_text
from torchkata.grading.hygiene import student_text

CASEBOOK_FORMAT = 1
RAISED = "__raised__"
MAX_TEXT = 160
# The course lets a bad argument raise ValueError or TypeError; either answers for the other.
ARGUMENT_ERRORS = frozenset({"ValueError", "TypeError"})
# Default tolerances per floating dtype: (rtol, atol).
TOLERANCES: dict[torch.dtype, tuple[float, float]] = {
    torch.float16: (1e-2, 1e-3),
    torch.bfloat16: (2e-2, 1e-2),
    torch.float32: (1e-4, 1e-5),
    torch.float64: (1e-7, 1e-9),
}
_PLAIN = (bool, int, float, str, type(None), torch.dtype, torch.device)


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


# --- outcomes ------------------------------------------------------------------------------------------------------


def raised(error: BaseException) -> dict[str, Any]:
    """The record of an exception: its type's name and the names of its bases."""
    return {RAISED: type(error).__name__, "bases": [kind.__name__ for kind in type(error).__mro__],
            "message": student_text(error, MAX_TEXT)}


def attempt(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)``, or the record of what it raised, so an observation goes on after a failure.

    A kata not started (NotImplementedError) and a grader's own failure (GradingError) propagate.
    """
    try:
        return fn(*args, **kwargs)
    except (NotImplementedError, GradingError):
        raise
    except Exception as error:  # noqa: BLE001 - what the kata raised is part of its outcome
        return raised(error)


def is_raised(value: Any) -> bool:
    """Whether ``value`` is ``attempt``'s record of an exception."""
    return type(value) is dict and RAISED in value



def describe_value(value: Any) -> str:
    """A case argument or outcome, short: small tensors show their values."""
    if isinstance(value, torch.Tensor):
        kind = f"tensor {shape_text(value.shape)} {str(value.dtype)[6:]}"
        if value.device.type != "cpu":
            kind += f" on {value.device}"
        if value.numel() and value.numel() <= 8 and value.device.type != "meta":
            kind += f" {[round(v, 4) if isinstance(v, float) else v for v in value.detach().cpu().flatten().tolist()]}"
        return kind
    if is_raised(value):
        return f"an error {value[RAISED]}"
    if isinstance(value, list | tuple) and len(value) > 4:
        return f"a {type(value).__name__} of {len(value)} items"
    if isinstance(value, dict):
        return f"a dict with keys {sorted(map(str, value))}"
    return describe(value)


def _tolerance(dtype: torch.dtype, overrides: Mapping[torch.dtype, tuple[float, float]]) -> tuple[float, float]:
    return overrides.get(dtype) or TOLERANCES.get(dtype, (0.0, 0.0))


def _compare_tensor(got: Any, want: torch.Tensor, where: str,
                    overrides: Mapping[torch.dtype, tuple[float, float]]) -> str | None:
    if type(got) not in (torch.Tensor, torch.nn.Parameter):
        return f"{where} is {describe_value(got)}; expected a plain {describe_value(want)}"
    if tuple(got.shape) != tuple(want.shape):
        return f"{where} has shape {shape_text(got.shape)}; expected {shape_text(want.shape)}"
    if got.dtype != want.dtype:
        return f"{where} has dtype {str(got.dtype)[6:]}; expected {str(want.dtype)[6:]}"
    if got.device.type != want.device.type:
        return f"{where} is on {got.device}; expected {want.device}"
    if want.device.type == "meta" or want.numel() == 0:
        return None
    a, b = got.detach().cpu(), want.detach().cpu()
    if a.is_floating_point() or a.is_complex():
        rtol, atol = _tolerance(a.dtype, overrides)
        a64, b64 = a.to(torch.complex128 if a.is_complex() else torch.float64), b.to(
            torch.complex128 if b.is_complex() else torch.float64)
        close = torch.isclose(a64, b64, rtol=rtol, atol=atol, equal_nan=True)
    else:
        close = a == b
    if bool(close.all()):
        return None
    index = tuple(int(i) for i in (~close).nonzero()[0])
    wrong = int((~close).sum())
    return (f"{where} differs in {wrong} of {a.numel()} entries: at index {index} got {a[index].item():.6g}, "
            f"expected {b[index].item():.6g}")


def compare(got: Any, want: Any, where: str = "",
            tolerances: Mapping[torch.dtype, tuple[float, float]] | None = None) -> str | None:
    """The first difference between the student's outcome and the reference's, in words; None if none."""
    overrides = tolerances or {}
    label = where or "the result"
    if is_raised(want):
        if is_raised(got):
            accepted = {want[RAISED]} | (ARGUMENT_ERRORS if want[RAISED] in ARGUMENT_ERRORS else set())
            if accepted & set(got["bases"]):
                return None
            return f"raised {got[RAISED]} ({got['message']}); expected {want[RAISED]}"
        if not where:
            return f"returned normally; expected it to raise {want[RAISED]}"
        return f"{label} is {describe_value(got)}; expected the call to raise {want[RAISED]}"
    if is_raised(got):
        return f"raised {got[RAISED]}: {got['message']}"
    if isinstance(want, torch.Tensor):
        return _compare_tensor(got, want, label, overrides)
    if isinstance(want, dict):
        if type(got) is not dict:
            return f"{label} is {describe_value(got)}; expected a dict with keys {sorted(want)}"
        if any(type(key) is not str for key in got) or set(got) != set(want):
            return f"{label} has keys {sorted(map(str, got))}; expected {sorted(want)}"
        for key in want:
            problem = compare(got[key], want[key], f"{where}[{key!r}]" if where else key, overrides)
            if problem:
                return problem
        return None
    if isinstance(want, list | tuple) and not isinstance(want, torch.Size):
        if type(got) is not type(want):
            return f"{label} is {describe_value(got)}; expected a {type(want).__name__}"
        if len(got) != len(want):
            return f"{label} has {len(got)} items; expected {len(want)}"
        for index, (item, expected) in enumerate(zip(got, want, strict=True)):
            problem = compare(item, expected, f"{label}[{index}]", overrides)
            if problem:
                return problem
        return None
    return _compare_plain(got, want, label)


def _compare_plain(got: Any, want: Any, label: str) -> str | None:
    if isinstance(want, torch.Size):
        want = tuple(want)
        got = tuple(got) if type(got) is torch.Size else got
    if type(want) is float:
        if type(got) not in (float, int) or (math.isnan(want) != math.isnan(float(got))):
            return f"{label} is {describe_value(got)}; expected the float {want:.6g}"
        if math.isnan(want) or math.isclose(got, want, rel_tol=1e-4, abs_tol=1e-6):
            return None
        return f"{label} is {got:.6g}; expected {want:.6g}"
    if type(got) is not type(want) or not isinstance(got, _PLAIN + (tuple,)) or got != want:
        return f"{label} is {describe_value(got)}; expected {describe_value(want)}"
    return None


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


# --- casebooks -----------------------------------------------------------------------------------------------------


def casebook_path(grader_dir: Path, slug: str) -> Path:
    return grader_dir / f"cases_{slug}.pt"


@dataclass(frozen=True)
class Recorded:
    """A scenario's cases and the reference's outcomes, kept serialized until each is compared."""

    cases: list[dict[str, Any]]
    outcomes: list[bytes]

    def expected(self, index: int) -> Any:
        return decode(self.outcomes[index])


def encode(value: Any) -> bytes:
    buffer = io.BytesIO()
    torch.save(value, buffer, _use_new_zipfile_serialization=False)
    return buffer.getvalue()


def decode(data: bytes) -> Any:
    return torch.load(io.BytesIO(data), weights_only=True)


def read_casebook(path: Path) -> dict[str, Any]:
    """The whole file: ``format``, ``digest`` and ``scenarios`` (name -> cases and outcomes)."""
    return torch.load(path, weights_only=True)


@functools.cache
def _load(path: str, mtime_ns: int) -> dict[str, Recorded]:
    data = read_casebook(Path(path))
    if data.get("format") != CASEBOOK_FORMAT:
        raise GradingError(f"{Path(path).name} has format {data.get('format')}; expected {CASEBOOK_FORMAT}.")
    return {name: Recorded(entry["cases"], entry["outcomes"]) for name, entry in data["scenarios"].items()}


def load_casebook(path: Path) -> dict[str, Recorded]:
    """The recorded cases of a chapter, read once per process (again if the file changes)."""
    try:
        mtime = path.stat().st_mtime_ns
    except OSError as error:
        raise GradingError(f"the recorded cases {path.name} cannot be read ({error.strerror}): "
                           "instructors, run `torchkata build`.") from None
    return _load(str(path), mtime)


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
