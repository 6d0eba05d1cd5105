"""A chapter's instructions (exercises/NN_slug/README.md, kata.toml) as notebook markdown.

The README's preamble and its general paragraphs open the notebook; each kata's item
of the "Katas" list, its title and its hints (folded, from a nudge to nearly the
answer) go above the kata's answer cell. The "Check your work" section is about the
command line and is left out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from torchkata.course.catalog import Chapter, Kata

_ITEM = re.compile(r"^\d+\.\s+\*\*(?P<name>[A-Za-z_]\w*)\*\*:?\s*(?P<text>.*)$")
_CLI_SECTIONS = ("check your work",)

HOW_IT_WORKS = (
    "**How this notebook works.** Run the setup cell first. Each kata has an answer cell: "
    "replace each `raise NotImplementedError(...)` under a `# TODO:` with your code and run the cell. "
    "The locked cell below it runs the course's checks on the code you ran and shows your points."
)


@dataclass(frozen=True)
class ChapterText:
    intro: str
    katas: dict[str, str]


def _sections(readme: str) -> list[tuple[str, list[str]]]:
    """(heading, body lines) of each ``## `` section; the preamble has the heading ""."""
    sections: list[tuple[str, list[str]]] = [("", [])]
    for line in readme.splitlines():
        if line.startswith("## "):
            sections.append((line[3:].strip(), []))
        else:
            sections[-1][1].append(line)
    return sections


def _split_items(body: list[str]) -> tuple[dict[str, str], list[str]]:
    """The numbered ``**Name**:`` items of a list, and the lines that are not part of one."""
    items: dict[str, list[str]] = {}
    rest: list[str] = []
    current: str | None = None
    for line in body:
        match = _ITEM.match(line)
        if match:
            current = match["name"]
            items[current] = [match["text"]]
        elif current is not None and line.startswith((" ", "\t")) and line.strip():
            items[current].append(line.strip())
        else:
            current = None
            rest.append(line)
    return {name: _sentence(" ".join(lines)) for name, lines in items.items()}, rest


def _sentence(text: str) -> str:
    text = text.strip()
    return text[:1].upper() + text[1:]


def _join(blocks: list[str]) -> str:
    text = "\n\n".join(block.strip("\n") for block in blocks if block.strip())
    return re.sub(r"\n{3,}", "\n\n", text)


def kata_markdown(number: int, kata: Kata, blurb: str) -> str:
    hints = "\n".join(
        f"<details><summary>Hint {index}</summary>\n\n{hint}\n\n</details>"
        for index, hint in enumerate(kata.hints, start=1)
    )
    return _join([f"## {number}. `{kata.name}`: {kata.title}", blurb, hints])


def chapter_text(chapter: Chapter, readme: str) -> ChapterText:
    """The notebook's opening markdown and each kata's markdown."""
    blurbs: dict[str, str] = {}
    intro: list[str] = []
    for heading, body in _sections(readme):
        if heading.lower().startswith(_CLI_SECTIONS):
            continue
        if heading.lower().startswith("katas"):
            found, rest = _split_items(body)
            blurbs.update(found)
            intro.append("\n".join(rest))
        else:
            intro.append("\n".join(([f"## {heading}"] if heading else []) + body))
    intro.append(HOW_IT_WORKS)
    katas = {
        kata.name: kata_markdown(number, kata, blurbs.get(kata.name, ""))
        for number, kata in enumerate(chapter.katas, start=1)
    }
    return ChapterText(_join(intro), katas)
