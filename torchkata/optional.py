"""Optional dependencies: which extra brings each, and the one line that says how to install it."""

from __future__ import annotations

# Top-level module -> (package to name, extra of pyproject.toml that installs it).
OPTIONAL: dict[str, tuple[str, str]] = {
    "nbformat": ("nbgrader", "nbgrader"),
    "nbconvert": ("nbgrader", "nbgrader"),
    "nbgrader": ("nbgrader", "nbgrader"),
    "jupyter_client": ("nbgrader", "nbgrader"),
    "hypothesis": ("hypothesis", "dev"),
    "yaml": ("PyYAML", "dev"),
}


def install_command(extra: str) -> str:
    return f"pip install -c constraints.txt -e '.[{extra}]'"


def missing_message(error: ModuleNotFoundError, command: str) -> str | None:
    """One line naming the missing package and its install command; None for a module that is not optional."""
    top = (error.name or "").split(".")[0]
    if top not in OPTIONAL:
        return None
    package, extra = OPTIONAL[top]
    return (f"torchkata {command} needs the {package} package, which is not installed. "
            f"From the course folder: {install_command(extra)}")
