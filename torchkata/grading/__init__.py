"""The grader runtime: running the graders with pytest, recording outcomes, the grade and its reports.

What the graders themselves import lives beside this package, under the names graders already use:
:mod:`torchkata.plugin` (the pytest11 entry point), :mod:`torchkata.checks` and :mod:`torchkata.graderkit`.
This layer sits on :mod:`torchkata.course` and never imports the sandbox, the student loop or the exports.
"""
