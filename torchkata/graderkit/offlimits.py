"""Switching library code off however a submission reaches it, not only under the names it was patched.

:mod:`~torchkata.graderkit.forbid` replaces attributes. A reference the student's module kept elsewhere
still reaches the original: a default argument (``def conv2d(x, w, _f=F.conv2d)``), a closure, a copy of
a module's ``__dict__``, ``torch._C._VariableFunctions.conv2d``, or the same kernel under another name
(``F.conv3d`` over a depth of one). The two switches here do not depend on names:

- :func:`ops_switched_off` refuses aten ops by name while it is active (a dispatch mode): every route to a
  convolution ends in ``aten.convolution``, every max pooling in an ``aten.max_pool*`` op;
- :func:`code_switched_off` swaps the code of Python functions for code that raises, so the function
  object itself refuses, under any name and from any reference::

    with forbid.switched_off(OFF_LIMITS, message, aliases_in=impl), offlimits.ops_switched_off(CONV_OPS, message):
        out = checks.call("conv2d(x, w)", impl.conv2d, x, w)

Both undo themselves when the ``with`` block ends, also after an error.
"""

from __future__ import annotations

import contextlib
import types
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from torch.utils._python_dispatch import TorchDispatchMode

if TYPE_CHECKING:
    import pytest

CONVOLUTION_OPS = ("convolution", "_convolution", "conv", "cudnn_conv", "miopen_conv", "mkldnn_conv", "slow_conv",
                   "thnn_conv", "_slow_conv", "_nnpack_spatial_convolution")
MAX_POOL_OPS = ("max_pool", "adaptive_max_pool", "fractional_max_pool", "mkldnn_max_pool", "quantized_max_pool")


class _RefuseOps(TorchDispatchMode):
    def __init__(self, prefixes: tuple[str, ...], message: str, error: type[Exception]) -> None:
        super().__init__()
        self.prefixes, self.message, self.error = prefixes, message, error

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        name = func.overloadpacket.__name__
        if name.startswith(self.prefixes):
            raise self.error(self.message.format(name=f"aten.{name}"))
        return func(*args, **(kwargs or {}))


def ops_switched_off(
    prefixes: Iterable[str], message: str, error: type[Exception] = RuntimeError
) -> contextlib.AbstractContextManager[Any]:
    """While active, any aten op whose name starts with one of ``prefixes`` raises ``error(message)``.

    ``{name}`` in ``message`` becomes the op, e.g. ``aten.convolution``. Ops of every other name run as usual.
    """
    prefixes = tuple(prefixes)
    if not prefixes or not all(isinstance(prefix, str) and prefix for prefix in prefixes):
        raise ValueError(f"prefixes must be non-empty op name prefixes, got {prefixes!r}")
    _check_message(message)
    return _RefuseOps(prefixes, message, error)


def _check_message(message: str) -> None:
    """A bad placeholder fails here, in the grader, not later inside the student's call."""
    try:
        message.format(name="x")
    except (KeyError, IndexError, ValueError) as error:
        raise ValueError(f"message may hold only the placeholder {{name}}: {message!r} ({error!r})") from None


def refusing_code(function: types.FunctionType, message: str) -> types.CodeType:
    """Code that fits ``function`` (the same free variables) and raises RuntimeError(message) when run."""
    free = function.__code__.co_freevars
    lines = ["def outer():", *(f"    {name} = None" for name in free), "    def refuse(*args, **kwargs):"]
    if free:
        lines.append(f"        ({', '.join(free)},)")  # makes them free variables of refuse, in the same order
    lines += [f"        raise RuntimeError({message!r})", "    return refuse"]
    scope: dict[str, Any] = {}
    exec(compile("\n".join(lines), f"<{function.__qualname__} switched off>", "exec"), scope)
    code = scope["outer"]().__code__
    if code.co_freevars != free:
        raise ValueError(f"cannot switch off {function.__qualname__}: free variables {free} came out reordered")
    return code


def _code_swaps(functions: Iterable[Any], message: str) -> list[tuple[types.FunctionType, types.CodeType]]:
    _check_message(message)
    found = list(dict.fromkeys(functions))
    for function in found:
        if not isinstance(function, types.FunctionType):
            raise ValueError(f"only Python functions can be switched off by their code, got {function!r}")
    return [(fn, refusing_code(fn, message.format(name=f"{fn.__module__}.{fn.__qualname__}"))) for fn in found]


def switch_off_code(monkeypatch: pytest.MonkeyPatch, functions: Iterable[Any], message: str) -> None:
    """As :func:`code_switched_off`, through ``monkeypatch``: the functions refuse until the test ends."""
    for fn, code in _code_swaps(functions, message):
        monkeypatch.setattr(fn, "__code__", code)


@contextlib.contextmanager
def code_switched_off(functions: Iterable[Any], message: str) -> Iterator[None]:
    """While active, each Python function raises RuntimeError(message) however it is reached.

    ``{name}`` in ``message`` becomes the function's module and qualified name. Anything that is not a
    plain Python function (a builtin, a class) is a ValueError: switch those off by name or by op.
    """
    swaps = _code_swaps(functions, message)
    saved = [(fn, fn.__code__) for fn, _ in swaps]
    try:
        for fn, code in swaps:
            fn.__code__ = code
        yield
    finally:
        for fn, code in saved:
            fn.__code__ = code
