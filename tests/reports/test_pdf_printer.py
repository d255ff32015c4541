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


def test_one_browser_prints_on_several_pages_at_once(tmp_path) -> None:
    import threading

    files = []
    for i in range(6):
        html = tmp_path / f"r{i}.html"
        html.write_text(f"<html><body><h1>Rapport {i}</h1></body></html>", encoding="utf-8")
        files.append(html)
    busy, most, pages_seen = [0], [0], set()
    lock = threading.Lock()
    with PdfPrinter(pages=2) as printer:
        free = printer._free
        pages = [free.get_nowait() for _ in range(free.qsize())]
        assert len(pages) == 2
        for page in pages:  # count the prints on the browser at once
            real = page.pdf

            async def counted(*a, _real=real, _page=page, **kw):
                with lock:
                    busy[0] += 1
                    most[0] = max(most[0], busy[0])
                    pages_seen.add(id(_page))
                try:
                    await asyncio.sleep(0.3)
                    return await _real(*a, **kw)
                finally:
                    with lock:
                        busy[0] -= 1

            page.pdf = counted
            free.put_nowait(page)
        with ThreadPoolExecutor(max_workers=6) as pool:
            list(pool.map(lambda h: printer.print_pdf(h, h.with_suffix(".pdf"), language="en",
                                                      title=h.stem), files))  # fmt: skip
        assert len(printer._context.pages) == 2  # pages are reused, not one per report
    assert most[0] == 2 and len(pages_seen) == 2  # in parallel, never more than its pages
    for h in files:
        pdf = h.with_suffix(".pdf").read_bytes()
        assert pdf.startswith(b"%PDF") and len(pdf) > 1000
