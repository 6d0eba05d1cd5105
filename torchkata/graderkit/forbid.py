"""Replacing library functions while student code runs, also under names the student imported.

A kata that asks for something "from scratch" switches the library's ready-made version off: a
stand-in that raises takes its place. ``from torch.nn.functional import conv2d`` in the student's
module binds the original object to a name of its own; ``aliases_in`` finds such names by identity
and replaces them as well::

    with forbid.switched_off([(F, "conv2d", "F.conv2d")], "{name} is off limits in this kata.", aliases_in=impl):
        out = checks.call("conv2d(x, w)", impl.conv2d, x, w)

:func:`replacements` builds the same patches with any stand-in, such as a fake data loader or a spy;
:func:`patched` applies them for a ``with`` block, :func:`apply` until the test ends.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from types import ModuleType
from typing import TYPE_CHECKING, Any, NamedTuple, NoReturn

if TYPE_CHECKING:
    import pytest


class Target(NamedTuple):
    """An attribute to replace: ``owner.name`` (a module's function, a class's method)."""

    owner: Any
    name: str
    label: str = ""  # how a refusal names it; empty: the owner's __name__, a dot and the name

    def text(self) -> str:
        if self.label:
            return self.label
        return f"{getattr(self.owner, '__name__', type(self.owner).__name__)}.{self.name}"


class Patch(NamedTuple):
    """``owner.name`` is set to ``value`` while the patch is on."""

    owner: Any
    name: str
    value: Any


TargetLike = Target | tuple[Any, str] | tuple[Any, str, str]


def _target(item: TargetLike) -> Target:
    if isinstance(item, Target):
        return item
    if not isinstance(item, tuple) or len(item) not in (2, 3) or not all(isinstance(part, str) for part in item[1:]):
        raise TypeError(f"a target is (owner, attribute name) or (owner, attribute name, label); got {item!r}")
    return Target(*item)


def every(owners: Iterable[Any], names: Iterable[str]) -> list[Target]:
    """Each of ``names`` on each of ``owners`` (owners outer): the same functions in several modules."""
    names = list(names)
    return [Target(owner, name) for owner in owners for name in names]


def refusal(message: str, error: type[Exception] = RuntimeError) -> Callable[..., NoReturn]:
    """A stand-in that raises ``error(message)`` however it is called."""

    def refuse(*args: Any, **kwargs: Any) -> NoReturn:
        raise error(message)

    return refuse


def replacements(
    targets: Iterable[TargetLike],
    stand_in: Callable[[str], Any],
    aliases_in: ModuleType | None = None,
    skip_missing: bool = False,
) -> list[Patch]:
    """Patches putting ``stand_in(label)`` in place of every target, then of every alias in ``aliases_in``.

    An alias is an attribute of ``aliases_in`` that is (by identity) the current value of a target;
    where one object stands under several targets, the alias gets the label of the last of them.
    A missing target raises AttributeError unless ``skip_missing`` leaves it out.
    """
    found: list[tuple[Target, Any]] = []
    for item in targets:
        target = _target(item)
        if skip_missing and not hasattr(target.owner, target.name):
            continue
        found.append((target, getattr(target.owner, target.name)))
    labels = {id(original): target.text() for target, original in found}
    patches = [Patch(target.owner, target.name, stand_in(target.text())) for target, _ in found]
    if aliases_in is not None:
        for attribute, value in list(vars(aliases_in).items()):
            if id(value) in labels:
                patches.append(Patch(aliases_in, attribute, stand_in(labels[id(value)])))
    return patches


@contextlib.contextmanager
def patched(patches: Iterable[Patch]) -> Iterator[None]:
    """Apply the patches with setattr; on exit put every original back, the last patched first."""
    patches = list(patches)
    saved = [Patch(owner, name, getattr(owner, name)) for owner, name, _ in patches]
    try:
        for owner, name, value in patches:
            setattr(owner, name, value)
        yield
    finally:
        for owner, name, original in reversed(saved):
            setattr(owner, name, original)


def _refusals(message: str, error: type[Exception]) -> Callable[[str], Callable[..., NoReturn]]:
    try:
        message.format(name="")
    except (KeyError, IndexError, ValueError) as problem:
        raise ValueError(f"the message {message!r} may hold no placeholder but {{name}} ({problem!r})") from None
    return lambda label: refusal(message.format(name=label), error)


def switched_off(
    targets: Iterable[TargetLike],
    message: str,
    error: type[Exception] = RuntimeError,
    aliases_in: ModuleType | None = None,
    skip_missing: bool = False,
) -> contextlib.AbstractContextManager[None]:
    """While active, every target (and alias, see :func:`replacements`) raises ``error``.

    ``message`` is the error's text; ``{name}`` in it becomes the target's label.
    """
    return patched(replacements(targets, _refusals(message, error), aliases_in, skip_missing))


def apply(monkeypatch: pytest.MonkeyPatch, patches: Iterable[Patch]) -> None:
    """Apply the patches through ``monkeypatch``: they stay on until the test ends."""
    for owner, name, value in patches:
        monkeypatch.setattr(owner, name, value)


def switch_off(
    monkeypatch: pytest.MonkeyPatch,
    targets: Iterable[TargetLike],
    message: str,
    error: type[Exception] = RuntimeError,
    aliases_in: ModuleType | None = None,
    skip_missing: bool = False,
) -> None:
    """As :func:`switched_off`, through ``monkeypatch``: the functions stay off until the test ends."""
    apply(monkeypatch, replacements(targets, _refusals(message, error), aliases_in, skip_missing))
