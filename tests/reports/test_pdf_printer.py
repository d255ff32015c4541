"""The PDF printer works wherever it is called: beside another Playwright, inside an event loop."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest

from kit.reports.export import PdfPrinter

pytestmark = [pytest.mark.browser]


def _print(tmp_path, name: str) -> bytes:
    html = tmp_path / f"{name}.html"
    html.write_text("<html><body><h1>Rapport for gruppa</h1></body></html>", encoding="utf-8")
    with PdfPrinter() as printer:
        printer.print_pdf(html, tmp_path / f"{name}.pdf", language="nb", title="Gruppa")
    return (tmp_path / f"{name}.pdf").read_bytes()


def test_printer_works_beside_a_running_sync_playwright(browser, tmp_path) -> None:
    page = browser.new_page()  # the test process's own Playwright is in use on this thread
    try:
        assert _print(tmp_path, "beside").startswith(b"%PDF")
    finally:
        page.close()


def test_printer_works_inside_an_event_loop(tmp_path) -> None:
    async def in_a_notebook() -> bytes:  # a kernel runs an asyncio loop
        return _print(tmp_path, "loop")

    # A thread of its own: this test process may already run a loop for its shared browser.
    with ThreadPoolExecutor(max_workers=1) as kernel_thread:
        pdf = kernel_thread.submit(asyncio.run, in_a_notebook()).result()
    assert pdf.startswith(b"%PDF")
