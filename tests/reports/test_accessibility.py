"""Accessible reports: tagged PDFs with bookmarks, language and title; axe-core on the HTML.

The pages are the kit's own: the report sections (``kit.reports.layout``) as the executed
notebook's outputs, exported with the report template (``export_html``), printed by the kit's
``PdfPrinter`` and checked in Debian's Chromium (the runner's papermill path is tested in
test_runner.py).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import nbformat
import pytest

from kit.reports.export import PdfPrinter, atomic_write_text, export_html
from kit.reports.index import render_index
from kit.reports.layout import CohortReport, GroupReport, ProgrammeReport
from kit.reports.runner import ReportOutcome, RunSummary
from kit.results import cohort_results, group_results, load_scored_data, programme_results

pytestmark = [pytest.mark.browser]

GROUP = "k1-kystverket"


def _notebook(fragments) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    for f in fragments:
        cell = nbformat.v4.new_code_cell("report.section()")
        cell.outputs = [nbformat.v4.new_output("display_data", data={"text/html": str(f)})]
        nb.cells.append(cell)
    return nb


@pytest.fixture(scope="module")
def pages(demo_store, demo_settings, instrument, tmp_path_factory):
    """HTML of a group, cohort and programme report and an index, in both languages."""
    data = load_scored_data(demo_store, demo_settings, instrument)
    out = tmp_path_factory.mktemp("a11y")
    made: dict[tuple[str, str], Path] = {}
    for lang in ("nb", "en"):
        g = group_results(
            demo_store, demo_settings, GROUP, ["before", "after"], lang, instrument,
            data=data, norm_wave="before",
        )  # fmt: skip
        c = cohort_results(
            demo_store, demo_settings, "kull-2", ["before", "after"], lang, instrument, data=data
        )
        p = programme_results(
            demo_store, demo_settings, None, ["before", "after"], lang, instrument, data=data
        )
        for kind, report, title in (
            ("group", GroupReport(g), g.group_name),
            ("cohort", CohortReport(c), c.cohort_name),
            ("programme", ProgrammeReport(p), p.programme),
        ):
            html = export_html(_notebook(report.all_sections()), title=title, language=lang)
            path = out / f"{kind}-{lang}.html"
            atomic_write_text(path, html)
            made[(kind, lang)] = path
        summary = RunSummary("a11y", "Tilgjengelighet", out)
        summary.outcomes = [
            ReportOutcome("groups/a", "a (after)", "group", "made", html_path="group-nb.html",
                          title=g.group_name),
            ReportOutcome("groups/b", "b (after)", "group", "skipped", hidden=True, title="B"),
            ReportOutcome("groups/c", "c (after)", "group", "failed", error="NotFoundError: c",
                          failing_cell=2),
        ]  # fmt: skip
        path = out / f"index-{lang}.html"
        atomic_write_text(path, render_index(summary, lang))
        made[("index", lang)] = path
    return made


@pytest.mark.parametrize("lang", ["nb", "en"])
def test_html_reports_and_index_have_no_serious_or_critical_axe_violations(
    browser, pages, lang, axe
) -> None:
    page = browser.new_page()
    try:
        for kind in ("group", "cohort", "programme", "index"):
            page.goto(pages[(kind, lang)].as_uri())
            assert page.evaluate("document.documentElement.lang") == lang
            found = axe(page)
            assert found == [], f"{kind} ({lang}): {found}"
        page.set_viewport_size({"width": 390, "height": 844})  # a phone
        page.goto(pages[("group", lang)].as_uri())
        assert axe(page) == []
    finally:
        page.close()


def _pdf(pages, kind: str, lang: str, tmp_path: Path, title: str = "Rapport") -> Path:
    pdf = tmp_path / f"{kind}-{lang}.pdf"
    with PdfPrinter() as printer:
        printer.print_pdf(pages[(kind, lang)], pdf, language=lang, title=title)
    return pdf


@pytest.mark.parametrize("lang", ["nb", "en"])
def test_pdf_is_tagged_with_bookmarks_language_and_title(pages, lang, tmp_path) -> None:
    pdf = _pdf(pages, "group", lang, tmp_path)
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert re.search(r"^Tagged:\s+yes$", info, re.M), info
    assert re.search(r"^Title:\s+Toppledergruppen i Kystverket$", info, re.M), info
    raw = pdf.read_bytes()
    catalog = raw[raw.rindex(b"/Type /Catalog") :].split(b"endobj", 1)[0]
    assert f"/Lang ({lang})".encode() in catalog and b"/Outlines" in catalog
    assert b"/StructTreeRoot" in catalog and b"/DisplayDocTitle true" in catalog
    titles = [_pdf_text(t) for t in re.findall(rb"/Title (\((?:[^)\\]|\\.)*\)|<[0-9A-F]+>)", raw)]
    heads = {
        "nb": ("Sammendrag", "Profil", "Slik leser du rapporten", "Om metoden"),
        "en": ("Summary", "Profile", "How to read this report", "About the method"),
    }[lang]
    for head in heads:
        assert any(x.startswith(head) for x in titles), (head, titles)
    struct = subprocess.run(
        ["pdfinfo", "-struct", str(pdf)], capture_output=True, text=True, check=True
    ).stdout
    assert "H1" in struct and "H2" in struct and "Table" in struct and "Figure" in struct


def _pdf_text(token: bytes) -> str:
    if token.startswith(b"<"):
        return bytes.fromhex(token[1:-1].decode()).decode("utf-16")
    return token[1:-1].decode("latin-1")


def test_the_first_two_pages_hold_the_essentials(pages, tmp_path) -> None:
    pdf = _pdf(pages, "group", "en", tmp_path)

    def page(n: int) -> str:
        return subprocess.run(
            ["pdftotext", "-f", str(n), "-l", str(n), "-layout", str(pdf), "-"],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip

    one, two = page(1), page(2)
    assert "Toppledergruppen i Kystverket" in one and "Summary" in one
    assert "Strengths to build on" in one and "Development areas" in one
    assert "Profile" in two and "Dimension" in two and "In words" in two
    # no half-empty pages: each of the first two holds at least 40 lines of text
    assert len([x for x in one.splitlines() if x.strip()]) >= 35
    assert len([x for x in two.splitlines() if x.strip()]) >= 35
