"""The student loop: ``check``, ``watch``, ``hint``, ``list`` and ``progress``, and the state they remember.

Sits on :mod:`torchkata.sandbox` (checks run in a forked child) and :mod:`torchkata.grading`.
"""
