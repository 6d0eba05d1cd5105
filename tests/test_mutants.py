"""Mutant files: parsed without running them, overlaid on the reference."""

from __future__ import annotations

import textwrap

from torchkata.grading.loader import load_module
from torchkata.mutants import load_mutants, write_overlay


def test_mutants_are_parsed_and_shadow_the_reference(tmp_path):
    solution = tmp_path / "solutions" / "arith.py"
    solution.parent.mkdir()
    solution.write_text("SCALE = 2\n\ndef double(x):\n    return x * SCALE\n\ndef keep(x):\n    return x\n")
    mutants_file = tmp_path / "arith.py"
    mutants_file.write_text(
        textwrap.dedent(
            """
            from torchkata.mutants import mutant

            def helper():
                return 0

            @mutant("double", "adds instead of multiplying")
            def double(x):
                return x + SCALE
            """
        )
    )
    (item,) = load_mutants(mutants_file)
    assert (item.slug, item.kata, item.name) == ("arith", "double", "double")
    assert item.mistake == "adds instead of multiplying"
    assert "@mutant" not in item.source and item.source.startswith("def double")
    module = load_module(write_overlay(solution, item, tmp_path / "overlay"), "arith")
    assert module.double(5) == 7 and module.keep(5) == 5


def test_every_mutant_file_names_katas_of_its_chapter(project):
    from torchkata.course.catalog import load_chapters

    katas = {chapter.slug: {kata.name for kata in chapter.katas} for chapter in load_chapters(project)}
    for path in sorted(project.mutants.glob("*.py")):
        for item in load_mutants(path):
            assert item.kata in katas.get(item.slug, set()), f"{item.id} names unknown kata {item.kata}"
