"""What became of the reports of a run (shared by the runner and the index page)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class ReportOutcome:
    """What became of one report of a run."""

    stem: str
    label: str
    kind: str
    status: str  # made / skipped / failed
    key: str = ""
    notebook_path: str = ""
    html_path: str = ""
    pdf_path: str = ""
    title: str = ""
    error: str = ""
    failing_cell: int | None = None
    seconds: float = 0.0
    hidden: bool = False  # a group report whose results are hidden (too few, not published)
    # Time per phase of a made report: notebook execution, HTML export, charts drawn by the
    # printer (0 where the kernel drew them), PDF printing.
    execute_seconds: float = 0.0
    html_seconds: float = 0.0
    charts_seconds: float = 0.0
    pdf_seconds: float = 0.0


@dataclass
class RunSummary:
    """The outcome of a whole run, as the CLI prints it and the index page shows it."""

    name: str
    title: str
    output_dir: Path
    outcomes: list[ReportOutcome] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failed(self) -> list[ReportOutcome]:
        return [o for o in self.outcomes if o.status == "failed"]

    @property
    def made(self) -> list[ReportOutcome]:
        return [o for o in self.outcomes if o.status == "made"]

    @property
    def skipped(self) -> list[ReportOutcome]:
        return [o for o in self.outcomes if o.status == "skipped"]

    @property
    def hidden(self) -> list[ReportOutcome]:
        return [o for o in self.outcomes if o.hidden and o.status != "failed"]

    @property
    def index_path(self) -> Path:
        return self.output_dir / "index.html"

    @property
    def ok(self) -> bool:
        return not self.failed
