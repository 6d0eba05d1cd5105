"""Virtual environments for tests that install the course as a user would, without downloading anything.

Such a venv sees the packages of the environment running the tests (torch, pip, setuptools, all at the
pinned versions) through a ``.pth`` file, never the base interpreter's site-packages: a venv made with
``--system-site-packages`` from inside tox sees the base interpreter's, which may hold an old setuptools
and no ``wheel``, and then installing the course fails on one machine and passes on another.
"""

from __future__ import annotations

import os
import site
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

PTH_NAME = "_tests_see_the_test_environment.pth"


def site_packages(venv: Path) -> Path:
    return venv / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"


def make_venv(venv: Path, scripts: tuple[str, ...] = ("pytest",)) -> Path:
    """A venv at ``venv`` (made without pip) whose Python also imports this environment's packages.

    ``scripts`` are console scripts of this environment that the venv gets as its own (its Python runs them).
    """
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    target = site_packages(venv)
    target.mkdir(parents=True, exist_ok=True)
    (target / PTH_NAME).write_text("".join(f"{path}\n" for path in site.getsitepackages()), encoding="utf-8")
    for name in scripts:
        _launcher(venv, name)
    return venv


def _launcher(venv: Path, name: str) -> None:
    (entry,) = entry_points(group="console_scripts", name=name)
    module, _, attribute = entry.value.partition(":")
    script = venv / "bin" / name
    script.write_text(f"#!{venv / 'bin' / 'python'}\nimport sys\nfrom {module} import {attribute}\n"
                      f"sys.exit({attribute}())\n", encoding="utf-8")
    script.chmod(0o755)


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without what would point Python or pytest elsewhere."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PYTEST_", "VIRTUAL_ENV", "TORCHKATA"))}
    return {**env, **extra}
