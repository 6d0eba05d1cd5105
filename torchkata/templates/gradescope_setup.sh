#!/usr/bin/env bash
# Gradescope runs this once, when it builds the autograder image: it installs the
# course's pinned environment into $$AUTOGRADER_ROOT/venv. Written by `torchkata gradescope`.
#
# Settings (environment variables, for trying the autograder outside Gradescope):
#   AUTOGRADER_ROOT          where the autograder lives (default /autograder)
#   TORCHKATA_TORCH_INDEX    extra wheel index for torch (default: $torch_index_text)
#   TORCHKATA_VENV_OPTIONS   extra options for `python -m venv` (default: none)
#   TORCHKATA_PYTHON         the Python that makes the venv (default: the newest 3.11+ on PATH)
set -euo pipefail
cd "$$(dirname "$$0")"
ROOT="$${AUTOGRADER_ROOT:-/autograder}"
TORCH_INDEX="$${TORCHKATA_TORCH_INDEX-$torch_index}"

find_python() {
    for candidate in python3.13 python3.12 python3.11 python3; do
        if command -v "$$candidate" >/dev/null 2>&1 &&
            "$$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "$$candidate"
            return 0
        fi
    done
    return 1
}

PYTHON="$${TORCHKATA_PYTHON:-$$(find_python || true)}"
if [ -z "$$PYTHON" ]; then
    echo "No Python 3.11 or newer found: installing python3.11 with apt-get."
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y python3.11 python3.11-venv
    PYTHON=python3.11
fi
echo "Using $$("$$PYTHON" --version) at $$(command -v "$$PYTHON")."

# shellcheck disable=SC2086  # the options are words to split
"$$PYTHON" -m venv $${TORCHKATA_VENV_OPTIONS:-} "$$ROOT/venv"
INDEX_ARGS=()
if [ -n "$$TORCH_INDEX" ]; then
    INDEX_ARGS=(--extra-index-url "$$TORCH_INDEX")
fi
"$$ROOT/venv/bin/python" -m pip install --no-input -c constraints.txt $${INDEX_ARGS[@]+"$${INDEX_ARGS[@]}"} .
"$$ROOT/venv/bin/python" -c 'import torch, torchkata; print("torch", torch.__version__, "and torchkata", torchkata.__version__, "are installed.")'
