"""The fork server: imports torch and pytest once, then forks one sandboxed child per chapter run.

Run as ``python -m torchkata.sandbox.forkserver`` by :mod:`torchkata.sandbox.isolated`. It reads one
JSON request on stdin and writes one JSON line per graded chapter on stdout, then
``{"t": "done"}``. It trusts nothing a child does except frames on that child's
channel that carry the run's nonce and name the next test of the run's order.

Its parts: :mod:`~torchkata.sandbox.template` (the process children are forked from),
:mod:`~torchkata.sandbox.preload` (what it imports first), :mod:`~torchkata.sandbox.collect` (the
expected tests), :mod:`~torchkata.sandbox.tasks` (a chapter's order, the frames it accepts, its report),
:mod:`~torchkata.sandbox.scheduler` (the loop) and :mod:`~torchkata.sandbox.processes` (the system calls).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from torchkata.course.project import Project
from torchkata.grading.limits import Limits
from torchkata.sandbox.preload import preload_modules, warm_later
from torchkata.sandbox.processes import become_subreaper
from torchkata.sandbox.scheduler import Server
from torchkata.sandbox.staging import read_chapter, read_submitted
from torchkata.sandbox.template import Template


def serve(request: dict[str, Any], out: Any, template: Template) -> None:
    """Grade every submission of ``request`` (root, chapters, submissions, limits, jobs), reporting to ``out``.

    Everything the children could touch (submissions, graders, starters) is read before the first fork.
    """
    project = Project(Path(request["root"]))
    limits = Limits.from_dict(request.get("limits", {}))
    slugs: list[str] = list(request["chapters"])
    chapters = [read_chapter(project, slug) for slug in slugs]
    submissions = [
        (name, {slug: read_submitted(Path(path), slug) for slug in slugs}) for name, path in request["submissions"]
    ]
    server = Server(limits, int(request.get("jobs", 1)), out, template)
    # The folders holding the submissions, not each one: a child must not learn its classmates' names.
    holders = sorted({str(Path(path).resolve().parent) for _, path in request["submissions"]})
    server.protected += [str(project.root.resolve()), *holders]
    try:
        server.install()
        template.warm(preload_modules(chapters))
        expected, errors = server.collect(chapters)
        tasks = []
        for name, files in submissions:
            for chapter in chapters:
                submitted = files[chapter.slug]
                task = server.make_task(name, chapter, submitted, expected)
                if chapter.slug in errors:
                    task.flag("error", errors[chapter.slug])
                if submitted.source is None:
                    for nodeid in task.expected:
                        task.results[nodeid] = (False, submitted.problem)
                    server.finish(task)
                elif not task.order:
                    server.finish(task)
                else:
                    tasks.append(task)
        if len(tasks) > server.jobs:
            template.warm(warm_later(chapters), later=True)
        server.run(tasks)
        measured = [json.loads(text) for text in server.layers]
        server.emit({"t": "done", "landlock": server.landlock, "layers": measured})
    finally:
        server.close()


def main() -> int:
    become_subreaper()
    template = Template.start()  # before the request is read: no child inherits it
    request = json.loads(sys.stdin.read())
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # stray prints (ours or a library's) never reach the result stream
    serve(request, out, template)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
