"""torchkata: an autograded course of PyTorch katas."""

__version__ = "0.1.0"
