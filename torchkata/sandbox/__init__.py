"""Grading untrusted code: the fork server, the template, the confined grading child and its layers.

Sits on :mod:`torchkata.grading` (it runs the same graders, in a child) and :mod:`torchkata.course`.
See docs/security.md for what each layer prevents.
"""
