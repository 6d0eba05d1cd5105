"""torchkata progress: a progress bar per chapter and overall, and the next kata."""

from __future__ import annotations

import argparse

from torchkata.commands.check import add_common_arguments
from torchkata.commands.list import show_progress

NAME = "progress"
HELP = "a progress bar per chapter and for the course, and the next kata to do"
ORDER = 6


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser)


def run(args: argparse.Namespace) -> int:
    return show_progress(args, with_katas=False)
