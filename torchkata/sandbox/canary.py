"""Canary checks: tests that must fail in every chapter run; one that passes means tampering.

Two kinds run interleaved with the real graders, in the same child process:

- real grader tests against a known-wrong implementation, ``KNOWN_WRONG_SOURCE`` (a
  module whose every name raises NotImplementedError, so it needs neither solutions/
  nor a pristine starter/, which in a student's repository is their work), staged
  under a random alias slug so the grader file copy ``test_<alias>.py`` loads
  ``<alias>.py`` (the plugin derives the module from the grader's file name);
- sentinel tests the runner writes: failing comparisons through ``assert``,
  ``torchkata.checks``, torch and NumPy, and ``pytest.fail``, in a file with a
  random name.

Only a canary that passes marks tampering: a canary may fail for honest reasons
too (a timeout on a loaded machine), and failing is what it should do.
"""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass

KNOWN_WRONG_SOURCE = (
    b'"""The canaries\' known-wrong chapter module: every name it is asked for is unwritten."""\n\n\n'
    b"def __getattr__(name):\n"
    b'    raise NotImplementedError(f"{name}: the canary module implements nothing")\n'
)

SENTINEL_BODIES = (
    "assert torch.zeros(2).sum().item() == 1.0, TOKEN",
    "assert torch.allclose(torch.zeros(3), torch.ones(3)), TOKEN",
    "assert torch.equal(torch.zeros(3), torch.ones(3)), TOKEN",
    "assert np.allclose(np.zeros(3), np.ones(3)), TOKEN",
    "checks.close(torch.zeros(3), torch.zeros(3, dtype=torch.float64), TOKEN)",
    "checks.shape(torch.zeros(2, 3), (3, 2), TOKEN)",
    "checks.parameter_count(torch.nn.Linear(2, 2), 5, TOKEN)",
    "checks.check(False, TOKEN)",
    "pytest.fail(TOKEN)",
)


def _name(rng: random.Random) -> str:
    return "k" + "".join(rng.choice("0123456789abcdef") for _ in range(8))


@dataclass(frozen=True)
class CanaryPlan:
    """The canaries of one chapter run: the alias slug, the sentinel file and the token."""

    alias: str
    sentinel_stem: str
    token: str
    sentinel_tests: tuple[str, ...]

    @property
    def sentinel_source(self) -> str:
        lines = [
            '"""Checks that must fail in every run."""',
            "",
            "import numpy as np",
            "import pytest",
            "import torch",
            "",
            "from torchkata import checks",
            "",
            f"TOKEN = {self.token!r}",
        ]
        for name, body in zip(self.sentinel_tests, SENTINEL_BODIES, strict=True):
            lines += ["", "", f"@pytest.mark.kata({self.sentinel_stem!r})", "@pytest.mark.points(1)"]
            lines += [f"def {name}():", f"    {body}"]
        return "\n".join(lines) + "\n"

    def sentinel_nodeids(self, directory: str) -> list[str]:
        return [f"{directory}/test_{self.sentinel_stem}.py::{name}" for name in self.sentinel_tests]


def make_plan(rng: random.Random | None = None) -> CanaryPlan:
    rng = rng or random.Random(secrets.randbits(64))
    return CanaryPlan(
        alias=_name(rng),
        sentinel_stem=_name(rng),
        token=secrets.token_hex(8),
        sentinel_tests=tuple(f"test_{_name(rng)}" for _ in SENTINEL_BODIES),
    )


def alias_nodeid(nodeid: str, slug: str, alias: str) -> str:
    """``graders/public/test_<slug>.py::t`` as the same test in the alias file."""
    path, sep, rest = nodeid.partition("::")
    return path.replace(f"test_{slug}.py", f"test_{alias}.py") + sep + rest


def interleave(real: list[str], canaries: list[str], rng: random.Random) -> list[str]:
    """``real`` in order with each canary at a random place after the first real test."""
    order = list(real)
    for canary in canaries:
        order.insert(rng.randint(1 if order else 0, len(order)), canary)
    return order
