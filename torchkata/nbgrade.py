"""The name the nbgrader notebooks' cells import: ``from torchkata.nbgrade import record_cells, grade_kata``.

Notebooks already generated and handed out keep that line, so it stays importable here; the code lives
in :mod:`torchkata.exports.nbgrader.grade`.
"""

from torchkata.exports.nbgrader.grade import grade_kata, record_cells

__all__ = ["grade_kata", "record_cells"]
