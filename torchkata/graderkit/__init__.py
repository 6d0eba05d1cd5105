"""Generic helpers for writing graders, shared by the public and hidden grader files.

One module per job: :mod:`~torchkata.graderkit.forbid` (switching library functions off while
student code runs), :mod:`~torchkata.graderkit.counting` (how many torch calls a function makes),
:mod:`~torchkata.graderkit.hooks` (snapshots of the hooks registered on a model) and
:mod:`~torchkata.graderkit.ranks` (a scenario on forked gloo ranks).

These modules ship to students with the engine: test infrastructure only, never a kata's answer.
"""
