"""Write the three report notebooks from the parameter dataclasses (keeps them in sync).

Run ``python -m kit.reports.make_notebooks`` after changing a parameter in ``params.py``;
``tests/reports`` checks that the committed notebooks match.
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import nbformat

from kit.reports.params import (
    CohortReportParams,
    GroupReportParams,
    ProgrammeReportParams,
    ReportParams,
    parameters_cell_source,
)
from kit.settings import PROJECT_DIR

# Per report kind: the opening call, the sections in chapters (one cell each: every section of a
# chapter is displayed by that cell, in order), and the setup cell's comment. A cell costs a
# round trip to the kernel and its bookkeeping (about 10 ms of CPU on each side); chapters, not
# one cell per section, keep a batch of hundreds of reports near the cost of the sections alone.
NOTEBOOKS = {
    GroupReportParams: (
        "open_group_report",
        [
            ["cover", "summary", "profile", "how_to_read"],  # the essentials, first pages
            ["roles", "change", "waves"],  # who sees what, and what changed
            ["disagreement", "distributions", "comments"],  # the answers in detail
            ["exercises", "actions", "decisions", "appendix"],  # what next; the method
        ],
        "One leadership group's report for one wave:\n"
        "#   papermill notebooks/group_report.ipynb out.ipynb -p group_id <id> "
        "-p waves before,after",
    ),
    CohortReportParams: (
        "open_cohort_report",
        [["cover", "participation"], ["heatmaps", "side_by_side", "change"]],
        "A cohort's groups side by side:\n"
        "#   papermill notebooks/cohort_report.ipynb out.ipynb -p cohort_id <id>",
    ),
    ProgrammeReportParams: (
        "open_programme_report",
        [["cover", "participation"], ["heatmaps", "dimensions", "groups"]],
        "Every group's change across the programme:\n"
        "#   papermill notebooks/programme_report.ipynb out.ipynb -p waves before,after",
    ),
}


def chapter_source(sections: list[str]) -> str:
    """The cell that shows one chapter: each section displayed in turn."""
    calls = "".join(f"    report.{s}(),\n" for s in sections)
    return f"display(\n{calls})"


def build_notebook(cls: type[ReportParams]) -> nbformat.NotebookNode:
    """The thin notebook for ``cls``: parameters, one call into kit, one cell per chapter."""
    opener, chapters, doc = NOTEBOOKS[cls]
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell(parameters_cell_source(cls))
    params.metadata["tags"] = ["parameters"]
    call = ",\n    ".join(f"{f.name}={f.name}" for f in fields(cls))
    setup = nbformat.v4.new_code_cell(
        f"# {doc}\n# Every section comes from kit (kit/reports/layout.py); parameters are "
        f"validated first.\nfrom IPython.display import display\n\n"
        f"from kit.reports.notebook_api import {opener}\n\n"
        f"report = {opener}(\n    {call},\n)"
    )
    nb.cells = [params, setup] + [nbformat.v4.new_code_cell(chapter_source(c)) for c in chapters]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    for i, cell in enumerate(nb.cells):
        cell.id = f"cell-{i:02d}"
    return nb


def write_notebooks(notebooks_dir: Path = PROJECT_DIR / "notebooks") -> list[Path]:
    paths = []
    for cls in NOTEBOOKS:
        path = notebooks_dir / cls.notebook
        nbformat.write(build_notebook(cls), str(path))
        paths.append(path)
    return paths


if __name__ == "__main__":
    for p in write_notebooks():
        print(p)
