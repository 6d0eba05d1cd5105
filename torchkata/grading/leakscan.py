"""Finding instructor-only material in files meant for students.

A release or an autograder bundle must not carry a solution region, reference
code or hidden grader source. ``SecretIndex`` fingerprints what is secret in a
course repository: whole files (solutions/, graders/hidden/, tests/mutants/,
tests/styles/) and their distinctive lines, that is lines long enough to mean
something and found nowhere in what may ship (starter/, graders/public/,
exercises/, the engine). ``scan`` then reads every file of a tree or zip.
"""

from __future__ import annotations

import hashlib
import io
import re
import tokenize
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from torchkata.course.project import Project
from torchkata.course.source import BEGIN, END, SourceError, find_regions

MIN_LINE_CHARS = 20
MARKERS = (BEGIN, END)


@dataclass(frozen=True)
class Leak:
    """One finding: which shipped file, where, and what secret it matches."""

    path: str
    line: int
    reason: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.reason}"


def normalize(line: str) -> str:
    """A line with its whitespace collapsed, so re-indented copies still match."""
    return " ".join(line.split())


def _distinctive(line: str) -> bool:
    text = normalize(line)
    return len(text) >= MIN_LINE_CHARS and not text.startswith("#")


@dataclass
class SecretIndex:
    """Digests and distinctive lines of a course's instructor-only files."""

    digests: dict[str, str] = field(default_factory=dict)
    lines: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, project: Project, hidden_graders: bool = True) -> SecretIndex:
        """Index ``project``: solution regions and whole reference files, mutants, other-style solutions,
        and, unless ``hidden_graders`` is False (an autograder carries them), the hidden graders."""
        index = cls()
        public = _public_lines(project, with_hidden=not hidden_graders)
        for path in sorted(project.solutions.glob("*.py")):
            label = _relative(path, project.root)
            text = path.read_text(encoding="utf-8")
            index.digests[_digest(path.read_bytes())] = f"the reference module {label}"
            try:
                regions = find_regions(text, path)
            except SourceError:
                regions = []
            for region in regions:
                index._add_lines(region.body, f"reference code of {label} ({region.owner})", public)
        folders = [(project.mutants, "mutant"), (project.root / "tests" / "styles", "other-style solution")]
        if hidden_graders:
            folders.insert(0, (project.graders / "hidden", "hidden grader"))
        for folder, what in folders:
            for path in sorted(folder.rglob("*.py")) if folder.is_dir() else ():
                label = _relative(path, project.root)
                index.digests[_digest(path.read_bytes())] = f"the {what} {label}"
                lines = path.read_text(encoding="utf-8").splitlines()
                index._add_lines(lines, f"{what} source {label}", public)
        if hidden_graders:
            for path in sorted(project.graders.glob("hidden/cases_*.pt")):
                index.digests[_digest(path.read_bytes())] = f"the recorded cases {_relative(path, project.root)}"
        return index

    def _add_lines(self, lines: Iterable[str], label: str, public: set[str]) -> None:
        for line in lines:
            text = normalize(line)
            if _distinctive(line) and text not in public:
                self.lines.setdefault(text, label)

    def check(self, name: str, data: bytes) -> list[Leak]:
        """Leaks in one file's bytes; ``name`` is how the file is reported."""
        digest = _digest(data)
        if digest in self.digests:
            return [Leak(name, 0, f"is a copy of {self.digests[digest]}")]
        text = data.decode("utf-8", errors="replace")
        found = [Leak(name, number, f"solution marker {marker!r}") for number, marker in _markers(name, text)]
        for number, line in enumerate(text.splitlines(), start=1):
            label = self.lines.get(normalize(line))
            if label:
                found.append(Leak(name, number, f"matches {label}: {normalize(line)[:80]!r}"))
        return found

    def scan(self, target: Path) -> list[Leak]:
        """Every leak in a directory tree or a zip file."""
        return [leak for name, data in _files(target) for leak in self.check(name, data)]


def _files(target: Path) -> Iterator[tuple[str, bytes]]:
    if target.is_file() and zipfile.is_zipfile(target):
        with zipfile.ZipFile(target) as archive:
            for info in archive.infolist():
                if not info.is_dir():
                    yield info.filename, archive.read(info)
        return
    if not target.is_dir():
        raise FileNotFoundError(f"{target} is neither a directory nor a zip file to scan")
    for path in sorted(target.rglob("*")):
        if path.is_file() and not path.is_symlink():
            yield _relative(path, target), path.read_bytes()


_MARKER_TEXT = re.compile("|".join(re.escape(marker) for marker in MARKERS))


def _markers(name: str, text: str) -> list[tuple[int, str]]:
    """(line, marker) of each solution marker: in Python, only real comments count.

    The engine documents the markers in docstrings and string constants; a region
    fenced in code is a comment, which is what a leaked solution looks like.
    """
    if not name.endswith(".py"):
        return [(text.count("\n", 0, m.start()) + 1, m.group()) for m in _MARKER_TEXT.finditer(text)]
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return [(number, line.strip()) for number, line in enumerate(text.splitlines(), 1) if line.strip() in MARKERS]
    return [(tok.start[0], tok.string.strip()) for tok in tokens if tok.type == tokenize.COMMENT
            and tok.string.strip() in MARKERS]


def _public_lines(project: Project, with_hidden: bool = False) -> set[str]:
    """Normalized lines of everything that may ship: a secret line found here is not distinctive."""
    folders = [project.starter, project.graders / "public", project.exercises, project.root / "torchkata"]
    if with_hidden:
        folders.append(project.graders / "hidden")
    lines: set[str] = set()
    for folder in folders:
        for path in folder.rglob("*") if folder.is_dir() else ():
            if path.is_file() and path.suffix in {".py", ".md", ".toml", ".txt"}:
                lines.update(normalize(line) for line in path.read_text(encoding="utf-8").splitlines())
    return lines


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)
