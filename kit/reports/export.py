"""From an executed notebook to a self-contained HTML page and an A4 PDF.

- :func:`export_html`: nbconvert's ``HTMLExporter`` with the kit's own template
  (``templates/kit_report``): outputs only, no code, the CSS inline, no script, no URL to
  another host.
- :class:`PdfPrinter`: one headless Chromium (Playwright, the system's ``/usr/bin/chromium``) that
  prints many HTML files to A4 PDFs with page numbers, and draws the charts a batch run's kernels
  left to it (:func:`draw_pending_charts`); start it once per run.
- :func:`atomic_write_bytes` / :func:`atomic_write_text`: temp file in the same folder, then
  ``os.replace``, so a crash never leaves half a file.
- :func:`external_references`: every place an HTML page would request something from a host.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import re
import tempfile
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

from kit import __version__
from kit.errors import KitError
from kit.i18n import t
from kit.settings import CHROMIUM_ARGS, PROJECT_DIR

TEMPLATES_DIR = PROJECT_DIR / "templates"
TEMPLATE_NAME = "kit_report"
CSS_PATH = TEMPLATES_DIR / TEMPLATE_NAME / "report.css"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temp file in the same folder and ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def temp_path_for(path: Path) -> Path:
    """A unique temp name beside ``path`` (for writers that need a path, like papermill)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent
    )
    os.close(fd)
    os.chmod(tmp, 0o644)
    return Path(tmp)


def template_files() -> list[Path]:
    """Files of the report template; part of every report's input fingerprint."""
    return sorted(p for p in (TEMPLATES_DIR / TEMPLATE_NAME).rglob("*") if p.is_file())


@lru_cache(maxsize=1)
def _exporter() -> Any:
    from nbconvert import HTMLExporter
    from nbconvert.exporters.templateexporter import TemplateExporter
    from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter

    class KitHTMLExporter(HTMLExporter):  # type: ignore[misc]
        """HTMLExporter without its BeautifulSoup pass (tabindex/alt for code cells we drop,
        and our charts carry their own accessible names): the template's HTML as it is."""

        def from_notebook_node(self, nb: Any, resources: Any = None, **kw: Any) -> Any:
            resources = self._init_resources(resources)
            self.register_filter(
                "filter_data_type",
                WidgetsDataTypeFilter(
                    notebook_metadata=self._nb_metadata, parent=self, resources=resources
                ),
            )
            return TemplateExporter.from_notebook_node(self, nb, resources, **kw)

    exporter = KitHTMLExporter(
        extra_template_basedirs=[str(TEMPLATES_DIR)],
        template_name=TEMPLATE_NAME,
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        optimistic_validation=True,  # validate once, not after each of its 11 preprocessors
    )
    return exporter


def export_html(nb: Any, *, title: str, language: str) -> str:
    """The report page for an executed notebook: no code cells, CSS inline, nothing external."""
    css = CSS_PATH.read_text(encoding="utf-8")
    resources = {
        "kit": {
            "title": title,
            "language": language,
            "css": css,
            "generator": f"leadership-team-kit {__version__}",
        }
    }
    body, _ = _exporter().from_notebook_node(nb, resources=resources)
    refs = external_references(body)
    if refs:
        raise KitError.text(
            "report.export.external", title=title, n=len(refs), refs=", ".join(refs[:3])
        )
    return body


_REF_PATTERNS = (
    re.compile(r"""<script[^>]*\bsrc\s*=\s*["']?([^"'\s>]+)""", re.I),
    re.compile(
        r"""<(?:link|img|iframe|source|embed|audio|video|image|use)\b[^>]*?"""
        r"""\b(?:href|src|xlink:href|srcset)\s*=\s*["']?([^"'\s>]+)""",
        re.I,
    ),
    re.compile(r"""url\(\s*["']?([^"')\s]+)""", re.I),
    re.compile(r"""@import\s+["']([^"']+)""", re.I),
)


def external_references(html_text: str) -> list[str]:
    """URLs an HTML page would fetch from a host (scripts, styles, images, fonts, frames).

    Namespace URIs (``xmlns=``) and plain links a reader may click (``<a href>``) are not requests.
    Any ``<script src>`` counts, even a local one: a report carries no script.
    """
    found: list[str] = []
    for i, pattern in enumerate(_REF_PATTERNS):
        for url in pattern.findall(html_text):
            if i == 0 or re.match(r"^(https?:)?//", url, re.I):
                found.append(url)
    return found


class PdfPrinter:
    """One headless Chromium that prints HTML files to A4 PDFs with page numbers.

    Use as a context manager; :meth:`print_pdf` may be called many times, and from several
    threads at once: up to ``pages`` prints run in parallel, each on a page of its own in the one
    browser (a page is reused from report to report). Requests to any host are blocked while
    printing, so a PDF is made from the file alone. Playwright runs on an event loop in a thread
    of its own, so the printer also works where an event loop is already running (a notebook, a
    kernel, a test process that drives its own browser).
    """

    def __init__(self, chromium_path: str = "/usr/bin/chromium", pages: int = 1) -> None:
        self.chromium_path = chromium_path
        self.pages = max(1, int(pages))
        self._loop: Any = None
        self._thread: threading.Thread | None = None
        self._pw: Any = None
        self._browser: Any = None
        self._context: Any = None
        self._free: Any = None  # asyncio.Queue of pages
        self._drawer: Any = None  # the page that draws charts (Vega loaded once)
        self._drawer_lock: Any = None

    def _call(self, coro: Any) -> Any:
        assert self._loop is not None, "use PdfPrinter as a context manager"
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def __enter__(self) -> PdfPrinter:
        if not Path(self.chromium_path).exists():
            raise KitError.text("report.export.no_chromium", path=self.chromium_path)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="kit-pdf", daemon=True)
        self._thread.start()
        try:
            self._call(self._start())
        except BaseException:
            self._close_loop()
            raise
        return self

    async def _start(self) -> None:
        from playwright.async_api import async_playwright

        self._pw = await async_playwright().start()
        try:
            self._browser = await self._pw.chromium.launch(
                executable_path=self.chromium_path, args=list(CHROMIUM_ARGS)
            )
            self._context = await self._browser.new_context()

            async def block(route: Any) -> None:
                await route.abort()

            await self._context.route(re.compile(r"^(https?|wss?)://"), block)
            self._free = asyncio.Queue()
            self._drawer_lock = asyncio.Lock()
            for _ in range(self.pages):
                self._free.put_nowait(await self._context.new_page())
        except Exception:
            await self._pw.stop()
            raise

    async def _stop(self) -> None:
        try:
            if self._browser is not None:
                await self._browser.close()
        finally:
            if self._pw is not None:
                await self._pw.stop()

    def _close_loop(self) -> None:
        loop, thread = self._loop, self._thread
        self._loop = self._thread = None
        if loop is not None:
            loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(timeout=30)
        if loop is not None and not loop.is_running():
            loop.close()

    def __exit__(self, *exc: object) -> None:
        if self._loop is None:
            return
        try:
            self._call(self._stop())
        finally:
            self._close_loop()

    def draw_charts(self, items: list[dict[str, Any]]) -> list[str]:
        """The SVG of each ``{"spec": Vega-Lite spec, "locale": d3 number locale or None}``,
        drawn by Vega in the browser, as ``vl_convert`` draws it (tested alike)."""
        if not items:
            return []
        return list(self._call(self._draw(items)))

    async def _draw(self, items: list[dict[str, Any]]) -> list[str]:
        from kit.drawing import VEGA_BROWSER_BUNDLE

        async with self._drawer_lock:
            if self._drawer is None:
                page = await self._context.new_page()
                await page.goto("about:blank")
                await page.add_script_tag(content=VEGA_BROWSER_BUNDLE.read_text(encoding="utf-8"))
                self._drawer = page
        try:
            # one JSON string each way: Playwright checks and converts a structured argument
            # value by value in Python (70 ms of the main process's CPU for a report's charts)
            drawn = await asyncio.wait_for(
                self._drawer.evaluate(_DRAW_JS, _strict_json(items)), DRAW_TIMEOUT
            )
            return list(json.loads(drawn))
        except Exception:
            async with self._drawer_lock:  # a page in an unknown state: the next draw loads anew
                page, self._drawer = self._drawer, None
            if page is not None:
                with contextlib.suppress(Exception):
                    await page.close()
            raise

    def print_pdf(self, html_path: Path, pdf_path: Path, *, language: str, title: str) -> None:
        """Print ``html_path`` to ``pdf_path`` (A4, page x of y in the footer), atomically."""
        footer = (
            '<div style="font-family: Liberation Sans, Arial, sans-serif; font-size: 8px; '
            "color: #666; width: 100%; padding: 0 14mm; display: flex; "
            'justify-content: space-between;">'
            f"<span>{_escape(title)}</span><span>"
            + t(
                "report.pdf.page",
                language,
                page='<span class="pageNumber"></span>',
                pages='<span class="totalPages"></span>',
            )
            + "</span></div>"
        )
        data = self._call(self._render(Path(html_path), footer))
        atomic_write_bytes(pdf_path, data)

    async def _render(self, html_path: Path, footer: str) -> bytes:
        page = await self._free.get()
        try:
            await page.goto(html_path.resolve().as_uri(), wait_until="load")
            return await page.pdf(
                format="A4",
                print_background=True,
                display_header_footer=True,
                header_template="<span></span>",
                footer_template=footer,
                margin={"top": "16mm", "bottom": "18mm", "left": "14mm", "right": "14mm"},
                tagged=True,  # structure tags for screen readers (universell utforming)
                outline=True,  # bookmarks from the headings
            )
        except Exception:
            with contextlib.suppress(Exception):  # a page in an unknown state: a fresh one
                await page.close()
            page = await self._context.new_page()
            raise
        finally:
            self._free.put_nowait(page)


def _strict_json(value: Any) -> str:
    """``value`` as JSON that JavaScript's ``JSON.parse`` reads: NaN and infinities (which Altair
    leaves in data, e.g. an object column with gaps) become null, as vl_convert reads them."""
    try:
        return json.dumps(value, allow_nan=False)
    except ValueError:
        return json.dumps(_finite(value), allow_nan=False)


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


DRAW_TIMEOUT = 120.0  # seconds for the charts of one report
# Vega-Lite -> Vega -> SVG, as vl_convert does it (its ``vegalite_to_svg`` with a format locale).
_DRAW_JS = """async (itemsJson) => {
  const items = JSON.parse(itemsJson);
  const out = [];
  for (const item of items) {
    const vega = kitVega.compile(item.spec).spec;
    const options = {renderer: "none"};
    if (item.locale) options.locale = {number: item.locale};
    const view = new kitVega.View(kitVega.parse(vega), options);
    try { out.push(await view.toSVG()); } finally { view.finalize(); }
  }
  return JSON.stringify(out);
}"""


def draw_pending_charts(text: str, printer: PdfPrinter) -> tuple[str, dict[str, str]]:
    """``text`` with every chart placeholder (``kit.charts.pending_chart``) replaced by its SVG,
    drawn by ``printer`` in one call; and each placeholder's replacement (for the notebook)."""
    from kit.drawing import PENDING_PATTERN, accessible_svg

    found = list(PENDING_PATTERN.finditer(text))
    if not found:
        return text, {}
    items = [json.loads(m.group(1)) for m in found]
    svgs = printer.draw_charts([{"spec": i["spec"], "locale": i.get("locale")} for i in items])
    drawn = {
        m.group(0): accessible_svg(svg, item.get("label", ""))
        for m, item, svg in zip(found, items, svgs, strict=True)
    }
    return PENDING_PATTERN.sub(lambda m: drawn[m.group(0)], text), drawn


def draw_notebook_charts(nb_path: Path, drawn: dict[str, str]) -> None:
    """The executed notebook at ``nb_path`` with its chart placeholders replaced by ``drawn``
    (from :func:`draw_pending_charts` on its HTML), written atomically."""
    if not drawn or not nb_path.is_file():
        return
    nb = json.loads(nb_path.read_text(encoding="utf-8"))
    if patch_notebook_charts(nb, drawn):  # as nbformat writes it
        text = json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False)
        atomic_write_text(nb_path, text + "\n")


def patch_notebook_charts(nb: Any, drawn: dict[str, str]) -> bool:
    """Replace the chart placeholders in the HTML outputs of notebook ``nb`` (a dict or an
    ``nbformat.NotebookNode``, changed in place) by ``drawn``; whether any was replaced."""
    from kit.drawing import PENDING_PATTERN

    changed = False
    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            value = data.get("text/html")
            if value is None:
                continue
            joined = "".join(value) if isinstance(value, list) else value
            if PENDING_PATTERN.search(joined):
                data["text/html"] = PENDING_PATTERN.sub(
                    lambda m: drawn.get(m.group(0), m.group(0)), joined
                )
                changed = True
    return changed


def title_and_language(nb: Any, params: dict[str, Any]) -> tuple[str, str]:
    """The report's title (its first ``<h1>``) and language (``data-lang`` of the cover)."""
    title, language = "", params.get("language") or ""
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            text = out.get("data", {}).get("text/html", "")
            if isinstance(text, list):
                text = "".join(text)
            if not title and (m := re.search(r"<h1[^>]*>(.*?)</h1>", text, re.S)):
                title = re.sub(r"<[^>]+>", "", m.group(1)).strip()
            if not language and (m := re.search(r'data-lang="(nb|en)"', text)):
                language = m.group(1)
    return title or "Report", language or "nb"


def _escape(text: str) -> str:
    import html

    return html.escape(text, quote=True)


def export_notebook(
    nb_path: Path, *, pdf: bool = True, chromium_path: str = "/usr/bin/chromium", language: str = ""
) -> tuple[Path, Path | None]:
    """HTML (and PDF) beside an executed report notebook, e.g. one made by the papermill CLI."""
    import nbformat

    nb = nbformat.read(str(nb_path), as_version=4)
    params = nb.metadata.get("papermill", {}).get("parameters", {})
    title, lang = title_and_language(nb, {"language": language or params.get("language", "")})
    html_path = nb_path.with_suffix(".html")
    page = export_html(nb, title=title, language=lang)
    from kit.drawing import PENDING_PATTERN

    if not pdf and not PENDING_PATTERN.search(page):
        atomic_write_text(html_path, page)
        return html_path, None
    with PdfPrinter(chromium_path) as printer:  # also draws charts a batch kernel left to it
        page, drawn = draw_pending_charts(page, printer)
        atomic_write_text(html_path, page)
        draw_notebook_charts(nb_path, drawn)
        if not pdf:
            return html_path, None
        pdf_path = nb_path.with_suffix(".pdf")
        printer.print_pdf(html_path, pdf_path, language=lang, title=title)
    return html_path, pdf_path
