"""The course model: what a course repository holds (exercises, solutions, starter, graders), read from disk.

The bottom layer: it imports nothing else of torchkata. See docs/architecture.md.
"""
