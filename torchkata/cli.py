"""The ``torchkata`` command: one subcommand per module in torchkata/commands/.

A command module defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and
``run(args) -> int``, and keeps heavy imports (torch) inside ``run``.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence
from types import ModuleType

from torchkata import __version__, commands
from torchkata.optional import missing_message


def command_modules() -> list[ModuleType]:
    """Every command module, in the order of their ``ORDER`` (then name)."""
    found = [
        importlib.import_module(f"{commands.__name__}.{info.name}")
        for info in pkgutil.iter_modules(commands.__path__)
        if not info.name.startswith("_")
    ]
    return sorted(found, key=lambda module: (getattr(module, "ORDER", 50), module.NAME))


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="torchkata", description="An autograded course of PyTorch katas.")
    parser.add_argument("--version", action="version", version=f"torchkata {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in command_modules():
        command = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(command)
        command.set_defaults(handler=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = make_parser()
    args = parser.parse_args(argv)
    if getattr(args, "handler", None) is None:
        parser.print_help()
        return 2
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        print(f"torchkata {args.command}: interrupted (Ctrl-C).", file=sys.stderr)
        return 130
    except ModuleNotFoundError as error:
        message = missing_message(error, args.command)
        if message is None:
            raise
        print(message, file=sys.stderr)
        return 2
    except (FileNotFoundError, KeyError, ValueError) as error:
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"torchkata {args.command}: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
