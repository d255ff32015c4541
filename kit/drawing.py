"""Where a chart's SVG is drawn: by vl_convert in this process, or by the report printer.

``kit.charts`` draws a chart's static SVG with vl_convert by default (JupyterLab, Voilà, the
dashboards, ``kit report --no-pdf``). In a batch run that prints PDFs, the run's headless Chromium
draws it instead (:func:`draw_charts_in_printer`, set by ``kit.reports.runner`` in its kernels):
the chart's HTML then holds a placeholder with its Vega-Lite spec (``kit.charts.pending_chart``),
which ``kit.reports.export.draw_pending_charts`` replaces by the same SVG before the page is
written and printed. vl_convert measures every text label by laying it out as an SVG of its own
(5-7 ms a label, about 0.2 s a chart); the browser measures text with its canvas, on another
process than the kernel's.

This module imports nothing heavy, so the runner's workers and main process can use it without
pandas or altair.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

VEGA_BROWSER_BUNDLE = Path(__file__).parent / "apps" / "static" / "vendor" / "kit-vega.min.js"
PENDING_CLASS = "kit-chart-pending"
PENDING_PATTERN = re.compile(
    r'<script type="application/json" class="kit-chart-pending">(.*?)</script>', re.S
)
_IN_PRINTER = [False]


def draw_charts_in_printer(enabled: bool = True) -> None:
    """From now on (in this process) ``KitChart.to_html`` leaves the drawing to the printer."""
    _IN_PRINTER[-1] = bool(enabled)


def charts_drawn_in_printer() -> bool:
    return _IN_PRINTER[-1]


def accessible_svg(svg: str, description: str) -> str:
    """``svg`` (as Vega draws it) with ``description`` as its accessible name."""
    label = html.escape(description, quote=True)
    return svg.replace("<svg ", f'<svg role="img" aria-label="{label}" ', 1)
