"""Writes the three report notebooks from kit.reports.params (run once; notebooks are committed)."""
from dataclasses import fields
import nbformat
from kit.reports.params import (GroupReportParams, CohortReportParams, ProgrammeReportParams,
                                parameters_cell_source)

def make(cls, opener, sections, path, doc):
    nb = nbformat.v4.new_notebook()
    p = nbformat.v4.new_code_cell(parameters_cell_source(cls))
    p.metadata["tags"] = ["parameters"]
    names = [f.name for f in fields(cls)]
    call = ",\n    ".join(f"{n}={n}" for n in names)
    setup = nbformat.v4.new_code_cell(
        f"# {doc}\n# Every section comes from kit (kit/reports/layout.py); parameters are validated first.\n"
        f"from kit.reports.notebook_api import {opener}\n\n"
        f"report = {opener}(\n    {call},\n)")
    cells = [p, setup] + [nbformat.v4.new_code_cell(f"report.{s}()") for s in sections]
    nb.cells = cells
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    for i, c in enumerate(nb.cells):
        c.id = f"cell-{i:02d}"
    nbformat.write(nb, path)

make(GroupReportParams, "open_group_report",
     ["cover", "how_to_read", "summary", "profile", "change", "disagreement", "distributions",
      "comments", "exercises", "actions", "appendix"],
     "notebooks/group_report.ipynb",
     "One leadership group's report for one wave: papermill notebooks/group_report.ipynb out.ipynb -p group_id <id>")
make(CohortReportParams, "open_cohort_report", ["cover", "side_by_side", "change"],
     "notebooks/cohort_report.ipynb",
     "A cohort's groups side by side: papermill notebooks/cohort_report.ipynb out.ipynb -p cohort_id <id>")
make(ProgrammeReportParams, "open_programme_report", ["cover", "dimensions", "groups"],
     "notebooks/programme_report.ipynb",
     "Every group's change across the programme: papermill notebooks/programme_report.ipynb out.ipynb")
