"""The static review lists every construct that reaches for the grader, with file:line, and nothing else."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import CHAPTERS, PROJECT
from torchkata.cli import main
from torchkata.grading.review import review_source

SLUGS = [chapter.slug for chapter in CHAPTERS]

REACHES = {
    "import gc": "imports gc",
    "from inspect import currentframe": "imports inspect",
    "import ctypes": "imports ctypes",
    "import _pytest.runner": "imports _pytest.runner",
    "from torchkata import checks": "imports torchkata",
    "import pluggy": "imports pluggy",
    "import socket": "imports socket",
    "import subprocess": "imports subprocess",
    "f = sys._getframe(1)": "uses ._getframe",
    "g = f.f_back.f_locals": "uses .f_locals",
    "c = fn.__code__": "uses .__code__",
    "g = fn.__globals__": "uses .__globals__",
    "s = object.__subclasses__()": "uses .__subclasses__",
    "b = __builtins__": "uses __builtins__",
    "sys.settrace(None)": "uses .settrace",
    "m = sys.modules['pytest']": "uses sys.modules",
    "os._exit(0)": "uses os._exit",
    "os.kill(1, 9)": "uses os.kill",
    "exec('x = 1')": "calls exec()",
    "code = compile('1', 'x', 'eval')": "calls compile()",
    "v = eval('1')": "calls eval()",
    "v = getattr(obj, name)": "calls getattr() with a computed attribute name",
    "setattr(torch, 'a' + 'b', None)": "calls setattr() with a computed attribute name",
    "t = e.__traceback__.tb_frame": "uses .tb_frame",
}


@pytest.mark.parametrize("line", sorted(REACHES))
def test_each_reach_for_the_grader_is_found_at_its_line(line):
    source = f"import os\nimport sys\n\n\ndef kata(obj, name, fn, e):\n    {line}\n"
    found = review_source(source, "modules.py")
    assert [str(f) for f in found if f.line == 6] and all(f.line == 6 for f in found), found
    assert any(REACHES[line] in f.what for f in found), [f.what for f in found]


def test_ordinary_module_code_is_not_a_finding():
    source = (
        "import torch\nfrom torch import nn\n\n\nclass Stack(nn.Module):\n"
        "    def __init__(self, *blocks):\n        super().__init__()\n"
        "        for i, block in enumerate(blocks):\n            setattr(self, f'block{i}', block)\n\n"
        "    def forward(self, x):\n        for m in self.modules():\n            pass\n"
        "        return getattr(self, 'block0')(x)\n"
    )
    assert review_source(source, "modules.py") == []


@pytest.mark.parametrize("folder", ["solutions", "tests/styles"])
def test_the_reference_and_other_styles_have_no_finding(folder):
    for path in sorted((PROJECT.root / folder).glob("*.py")):
        assert review_source(path.read_bytes(), path.name) == [], path


def test_findings_reach_every_report_and_change_no_point(tmp_path: Path, capsys):
    source = (PROJECT.solutions / "tensors.py").read_text()
    (tmp_path / "tensors.py").write_text(source + "\n\nimport gc\n\n\ndef _look():\n    return gc.get_objects()\n")
    lines = source.count("\n") + 3
    report = tmp_path / "result.json"
    assert main(["grade", str(tmp_path), "--chapter", "tensors", "--json", str(report), "-j", "1"]) == 0
    data = json.loads(report.read_text())["chapters"]["tensors"]
    assert data["points"] == data["max_points"] > 0
    assert data["review"] == [
        f"tensors.py:{lines}: imports gc (the garbage collector's object lists)",
        f"tensors.py:{lines + 4}: uses .get_objects",
    ]
    assert f"REVIEW tensors: tensors.py:{lines}: imports gc" in capsys.readouterr().out
