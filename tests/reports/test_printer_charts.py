"""Charts drawn by the report printer (``kit.drawing``): the kernel leaves a
placeholder with the chart's spec, the run's Chromium draws it. The drawing equals vl_convert's
(marks, texts and numbers in the report's language, accessible name), a chart that cannot be drawn
fails its report with no page left, and the placeholder never reaches a reader."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from kit import charts, drawing
from kit.reports.export import PdfPrinter, draw_notebook_charts, draw_pending_charts
from kit.reports.layout import GroupReport
from kit.reports.outcomes import ReportOutcome
from kit.results import group_results, load_scored_data

pytestmark = [pytest.mark.browser]

_TEXT = re.compile(r"<text[^>]*>(.*?)</text>", re.S)
_MARK = re.compile(r"<(path|rect|line|circle)\b")
_LABEL = re.compile(r'aria-label="([^"]*)"')


@pytest.fixture(scope="module")
def printer(demo_settings):
    with PdfPrinter(demo_settings.chromium_path) as p:
        yield p


@pytest.fixture
def in_printer():
    drawing.draw_charts_in_printer(True)
    try:
        yield
    finally:
        drawing.draw_charts_in_printer(False)


def _sections(report: GroupReport) -> str:
    return "".join(str(f) for f in report.all_sections())


def _svgs(html_text: str) -> list[str]:
    return re.findall(r"<svg\b.*?</svg>", html_text, re.S)


@pytest.mark.parametrize(
    ("group", "lang"),
    [("k1-husbanken", "nb"), ("k1-husbanken", "en"), ("k1-lanekassen", "nb")],
)
def test_printer_draws_what_vl_convert_draws(demo_store, demo_settings, instrument, printer,
                                            group, lang) -> None:  # fmt: skip
    data = load_scored_data(demo_store, demo_settings, instrument)
    res = group_results(
        demo_store, demo_settings, group, ["before", "after"], lang, instrument, data=data
    )
    by_kernel = _sections(GroupReport(res))
    drawing.draw_charts_in_printer(True)
    try:
        pending = _sections(GroupReport(res))
    finally:
        drawing.draw_charts_in_printer(False)
    assert "<svg" not in pending and pending.count(charts.PENDING_CLASS) >= 4
    if group == "k1-lanekassen":  # Altair leaves NaN in its data (gaps in an object column)
        assert ":NaN" in pending
    drawn, replaced = draw_pending_charts(pending, printer)
    assert charts.PENDING_CLASS not in drawn and len(replaced) == pending.count(
        charts.PENDING_CLASS
    )
    # the page around the charts is untouched
    assert re.sub(r"<svg\b.*?</svg>", "", drawn, flags=re.S) == re.sub(
        r"<svg\b.*?</svg>", "", by_kernel, flags=re.S
    )
    mine, theirs = _svgs(drawn), _svgs(by_kernel)
    assert len(mine) == len(theirs) >= 4
    for a, b in zip(mine, theirs, strict=True):
        assert a.startswith('<svg role="img" aria-label="')
        assert _LABEL.search(a).group(1) == _LABEL.search(b).group(1)  # the same accessible name
        assert _TEXT.findall(a) == _TEXT.findall(b)  # every label, value and title
        assert len(_MARK.findall(a)) == len(_MARK.findall(b))
    numbers = [t for s in mine for t in _TEXT.findall(s) if re.fullmatch(r"[\d.,\u2212-]+", t)]
    assert numbers, "the charts print numbers"
    if lang == "nb":
        assert any("," in t for t in numbers) and not any("." in t for t in numbers)
    else:
        assert not any("," in t for t in numbers)


def test_the_kept_notebook_gets_the_drawn_charts(tmp_path: Path, printer, in_printer) -> None:
    import altair as alt
    import nbformat
    import pandas as pd

    chart = charts.KitChart(
        alt.Chart(pd.DataFrame({"x": [1.5, 2.25]})).mark_point().encode(x="x:Q"), "T", "Two </p>"
    )
    fragment = chart.to_html()
    assert "</p>" not in fragment.split("<figcaption>")[0]  # nothing ends the placeholder early
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("")
    cell.outputs = [nbformat.v4.new_output("display_data", data={"text/html": fragment})]
    nb.cells.append(cell)
    path = tmp_path / "r.ipynb"
    nbformat.write(nb, str(path))
    page, drawn = draw_pending_charts(f"<html><body>{fragment}</body></html>", printer)
    draw_notebook_charts(path, drawn)
    kept = nbformat.read(str(path), as_version=4)  # still a valid notebook
    html_out = kept.cells[0].outputs[0]["data"]["text/html"]
    assert charts.PENDING_CLASS not in html_out and charts.PENDING_CLASS not in page
    assert html_out.count("<svg") == 1 and 'aria-label="Two &lt;/p&gt;"' in html_out
    assert html_out in page


def test_a_chart_the_printer_cannot_draw_fails_its_report_and_leaves_no_page(
    tmp_path: Path, printer
) -> None:
    import nbformat

    from kit.reports.runner import Unprinted, _print

    def unprinted(spec: dict) -> Unprinted:
        chart = json.dumps({"spec": spec, "locale": None, "label": "x"})
        kind = f'type="application/json" class="{charts.PENDING_CLASS}"'
        fragment = f"<script {kind}>{chart}</script>"
        nb = nbformat.v4.new_notebook()
        cell = nbformat.v4.new_code_cell("report.profile()")
        cell.outputs = [nbformat.v4.new_output("display_data", data={"text/html": fragment})]
        nb.cells.append(cell)
        return Unprinted(f"<html><body>{fragment}</body></html>", nb, tmp_path / "r.ipynb")

    html_path = tmp_path / "r.html"
    outcome = ReportOutcome("r", "r", "group", "made", html_path=str(html_path), title="r")
    outcome = _print(outcome, "nb", tmp_path, printer, unprinted({"mark": "no-such-mark"}), "nb")
    assert outcome.status == "failed"  # said in the run's language (the index's)
    assert outcome.error.startswith("diagrammene kunne ikke tegnes: "), outcome.error
    again = ReportOutcome("r", "r", "group", "made", html_path=str(html_path), title="r")
    again = _print(again, "nb", tmp_path, printer, unprinted({"mark": "no-such-mark"}), "en")
    assert again.error.startswith("the charts could not be drawn: "), again.error
    assert not html_path.exists() and not (tmp_path / "r.pdf").exists()
    kept = nbformat.read(str(tmp_path / "r.ipynb"), as_version=4)  # kept, as it was executed
    assert charts.PENDING_CLASS in kept.cells[0].outputs[0]["data"]["text/html"]
    assert not [p for p in tmp_path.iterdir() if ".tmp" in p.name]  # no half-written file
    # the printer still draws the next report's charts; page and notebook are written complete
    good = {"data": {"values": [{"a": 1, "gap": float("nan")}]}, "mark": "bar",
            "encoding": {"x": {"field": "a", "type": "quantitative"}}}  # fmt: skip
    outcome = ReportOutcome("r", "r", "group", "made", html_path=str(html_path), title="r")
    outcome = _print(outcome, "en", tmp_path, printer, unprinted(good))
    assert outcome.status == "made", outcome.error
    assert "<svg" in html_path.read_text(encoding="utf-8") and (tmp_path / "r.pdf").is_file()
    kept = nbformat.read(str(tmp_path / "r.ipynb"), as_version=4)
    out = kept.cells[0].outputs[0]["data"]["text/html"]
    assert charts.PENDING_CLASS not in out and out.count("<svg") == 1
    assert outcome.charts_seconds > 0
    assert not [p for p in tmp_path.iterdir() if ".tmp" in p.name]


def test_vl_convert_draws_where_no_printer_is_asked_for() -> None:
    import altair as alt
    import pandas as pd

    assert not drawing.charts_drawn_in_printer()  # the default: Voilà, JupyterLab, --no-pdf
    chart = charts.KitChart(
        alt.Chart(pd.DataFrame({"x": [1]})).mark_point().encode(x="x:Q"), "", ""
    )
    assert "<svg" in chart.to_html() and charts.PENDING_CLASS not in chart.to_html()


def test_the_runner_worker_side_loads_neither_pandas_nor_altair() -> None:
    """A report worker only runs papermill and the HTML export: the placeholders' module is
    light, so the worker processes pay no import of the data libraries."""
    import subprocess
    import sys

    code = (
        "import sys, kit.reports.runner, kit.reports.export, kit.drawing; "
        "print(sorted(m for m in ('pandas', 'altair', 'vl_convert') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stderr
