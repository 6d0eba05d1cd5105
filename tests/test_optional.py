"""A missing optional dependency ends the command with one line: the package and the install command."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import PROJECT
from torchkata.optional import OPTIONAL, install_command

# The module is made unimportable, as on a machine where the extra was never installed.
WITHOUT = "import sys; sys.modules[{module!r}] = None; from torchkata.cli import main; raise SystemExit(main({argv!r}))"


def run_without(module: str, argv: list[str], cwd) -> subprocess.CompletedProcess[str]:
    code = WITHOUT.format(module=module, argv=argv)
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=120,
                          check=False)


def test_nbgrader_without_its_extra_names_the_install_command(tmp_path):
    done = run_without("nbformat", ["nbgrader", str(tmp_path / "course")], PROJECT.root)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "torchkata nbgrader needs the nbgrader package, which is not installed. "
        "From the course folder: pip install -c constraints.txt -e '.[nbgrader]'"
    ]
    assert "Traceback" not in done.stderr and not (tmp_path / "course").exists()


@pytest.mark.parametrize("module", sorted(OPTIONAL))
def test_every_optional_module_belongs_to_an_extra_of_the_package(module):
    import tomllib

    extras = tomllib.loads((PROJECT.root / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    package, extra = OPTIONAL[module]
    assert any(requirement.lower().startswith(package.lower()) for requirement in extras[extra]), (
        f"{install_command(extra)} does not install {package}"
    )
