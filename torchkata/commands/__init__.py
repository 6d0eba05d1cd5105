"""Subcommands of the ``torchkata`` command line, one module each."""
