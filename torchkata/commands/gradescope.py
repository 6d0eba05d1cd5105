"""torchkata gradescope: write the Gradescope autograder zip."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "gradescope"
HELP = "write a Gradescope autograder zip (setup.sh, run_autograder, the hidden graders; no solutions)"
ORDER = 71


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from torchkata.exports.classroom.workflow import CPU_TORCH_INDEX
    from torchkata.exports.gradescope.run import VISIBILITIES

    parser.add_argument("out", type=Path, metavar="OUT.zip", help="the zip file to write")
    parser.add_argument("--chapter", action="append", help="grade only this chapter (repeatable; default: all)")
    parser.add_argument("--hidden-visibility", choices=VISIBILITIES, default="hidden",
                        help="when students see the hidden checks' results (default: %(default)s)")
    parser.add_argument("--torch-index", default=CPU_TORCH_INDEX, metavar="URL",
                        help="extra wheel index for torch in setup.sh (default: %(default)s; '' for none)")
    parser.add_argument("--force", action="store_true", help="replace OUT.zip if it exists")


def run(args: argparse.Namespace) -> int:
    from torchkata.course.project import Project
    from torchkata.exports.gradescope.bundle import build_gradescope_zip

    autograder = build_gradescope_zip(
        Project.find(), args.out, args.chapter, args.hidden_visibility, args.torch_index or None, args.force
    )
    print(f"wrote {autograder.path}: {autograder.files} files, {len(autograder.chapters)} chapters; "
          "public and hidden graders, no solutions.")
    print("Next: upload it as the autograder of a Gradescope programming assignment (Ubuntu base image).")
    return 0
