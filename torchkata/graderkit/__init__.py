"""Generic helpers for writing graders, shared by the public and hidden grader files.

One module per job: :mod:`~torchkata.graderkit.forbid` (switching library functions off, or
standing a spy or a fake in for them, while student code runs), :mod:`~torchkata.graderkit.counting`
(how many torch calls a function makes), :mod:`~torchkata.graderkit.hooks` (snapshots of the hooks
registered on a model), :mod:`~torchkata.graderkit.ranks` (a scenario on forked gloo ranks),
:mod:`~torchkata.graderkit.errors` (what student code raised) and :mod:`~torchkata.graderkit.loading`
(reading a saved file back with ``weights_only=True``), :mod:`~torchkata.graderkit.offlimits` (switching
library code off under any name: aten ops by a dispatch mode, Python functions by their code).

These modules ship to students with the engine: test infrastructure only, never a kata's answer.
"""
