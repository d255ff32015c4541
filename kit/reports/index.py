"""The index page of a run: every report with links to its HTML, PDF and notebook; failures
marked."""

from __future__ import annotations

import datetime as dt
import html

from kit.i18n import t
from kit.reports.export import CSS_PATH, atomic_write_text
from kit.reports.outcomes import RunSummary
from kit.settings import Settings


def render_index(summary: RunSummary, lang: str) -> str:
    """A self-contained HTML page (inline CSS, relative links only)."""
    esc = html.escape
    rows = []
    for o in summary.outcomes:
        links = []
        for key, label in (
            ("html_path", "HTML"),
            ("pdf_path", "PDF"),
            ("notebook_path", t("report.index.notebook", lang)),
        ):
            path = getattr(o, key)
            if path:
                links.append(f'<a href="{esc(path)}">{esc(label)}</a>')
        status = t(f"report.index.status.{o.status}", lang)
        detail = ""
        hidden = ""
        if o.hidden and o.status != "failed":
            hidden = (
                f' <strong class="kit-flag kit-hidden-mark">{esc(t("report.index.hidden", lang))}'
                "</strong>"
            )
        if o.status == "failed":
            cell = (
                t("report.index.failed_cell", lang, cell=o.failing_cell)
                if o.failing_cell is not None
                else ""
            )
            detail = f'<div class="kit-error-detail">{esc(cell)} {esc(o.error)}</div>'
        cls = f"kit-status-{o.status}" + (" kit-hidden" if hidden else "")
        rows.append(
            f'<tr class="{cls}"><td>{esc(o.title or o.label)}{hidden}'
            f'<div class="kit-muted">{esc(o.label)}</div></td>'
            f"<td>{esc(t(f'report.index.kind.{o.kind}', lang))}</td>"
            f'<td class="kit-status">{esc(status)}{detail}</td><td>{" · ".join(links)}</td></tr>'
        )
    when = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    counts = t(
        "report.index.made",
        lang,
        made=len(summary.made),
        skipped=len(summary.skipped),
        failed=len(summary.failed),
        when=when,
    )
    hidden_count = len(summary.hidden)
    if hidden_count:
        counts += " · " + t("report.index.hidden_count", lang, n=hidden_count)
    head = "".join(
        f"<th>{esc(t(f'report.index.{k}', lang))}</th>"
        for k in ("report", "kind", "status", "files")
    )
    css = CSS_PATH.read_text(encoding="utf-8")
    return (
        f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8">'
        f"<title>{esc(summary.title)}</title><style>{css}</style></head><body>"
        f'<main class="kit-report kit-index">'
        f'<p class="kit-kicker">{esc(t("report.index.title", lang))}</p>'
        f'<h1>{esc(summary.title)}</h1><p class="kit-run-counts">{esc(counts)}</p>'
        f'<table class="kit-table kit-index-table"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></main></body></html>"
    )


def write_index(summary: RunSummary, settings: Settings) -> None:
    """Write ``<run>/index.html`` atomically, in the settings' language."""
    atomic_write_text(summary.index_path, render_index(summary, settings.language))
