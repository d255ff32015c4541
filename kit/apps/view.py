"""Small pieces shared by the served apps' views: the viewer's request, page frame, notices."""

from __future__ import annotations

import html
import json
import logging
import os
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from kit.i18n import t
from kit.settings import LANGUAGES, Settings

log = logging.getLogger("kit.apps")


def request_params() -> dict[str, str]:
    """The viewer's query string as a dict (first value of each name).

    Under Voilà with preheated kernels this waits until a viewer's request reaches the kernel
    (``voila.utils.wait_for_request``); elsewhere (tests, papermill) it reads ``QUERY_STRING``.
    """
    wait_for_request()
    return parse_query(os.environ.get("QUERY_STRING", ""))


def wait_for_request(timeout: float = 3600.0) -> None:
    """In a preheated kernel: wait for the viewer's request and put it into the environment.

    What ``voila.utils.wait_for_request`` does (one message on ``<ws base>voila/query/<kernel>``,
    a JSON object of variables), without importing ``voila``: its package imports the whole
    Jupyter server (about 100 MB in every kernel). A kernel started for a waiting viewer already
    has the request in its environment and returns at once.
    """
    import json

    if os.environ.get("VOILA_PREHEAT", "False") != "True":
        return
    from websockets.exceptions import WebSocketException
    from websockets.sync.client import connect

    env = os.environ.get
    base = env("VOILA_WS_BASE_URL") or env("VOILA_SERVER_URL", "/")
    url = (
        f"{env('VOILA_WS_PROTOCOL', 'ws')}://{env('VOILA_APP_IP', '127.0.0.1')}:"
        f"{env('VOILA_APP_PORT', '8866')}{base}voila/query/{env('VOILA_KERNEL_ID', '')}"
    )
    try:
        with connect(url, open_timeout=10, close_timeout=2) as socket:
            info = json.loads(socket.recv(timeout=timeout))
    except (OSError, TimeoutError, ValueError, WebSocketException):
        return  # as Voilà's: no request, and the page says that the link has no key
    for name, value in info.items():
        os.environ[str(name)] = str(value)


def parse_query(query: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(query, keep_blank_values=True).items() if v}


def pick_language(requested: str | None, default: str) -> str:
    """``requested`` if it is a language of the kit, else ``default``."""
    return requested if requested in LANGUAGES else default


def other_language(lang: str) -> str:
    return next(x for x in LANGUAGES if x != lang)


def esc(text: object) -> str:
    return html.escape(str(text))


def header_html(lang: str, title: str, subtitle: str = "") -> str:
    """Brand, title and subtitle; shown inside a ``kit-header`` box (see ``header_box``)."""
    sub = f'<div class="kit-sub">{esc(subtitle)}</div>' if subtitle else ""
    brand = esc(t("app.site.title", lang))
    return f'<div class="kit-brand">{brand}</div><h1>{esc(title)}</h1>{sub}'


def header_box(content: object, *extra: object) -> object:
    """The page's header band: ``content`` (an HTML widget) and controls on the right."""
    import ipywidgets as w

    box = w.HBox(
        [content, *extra], layout=w.Layout(justify_content="space-between", align_items="center")
    )
    box.add_class("kit-header")
    return box


def page_notice_html(lang: str, title: str, body: str, kind: str = "refused") -> str:
    """A whole page of one short message under the brand (refusals, thank-you)."""
    brand = esc(t("app.site.title", lang))
    return (
        f'<div class="kit-notice-page"><div class="kit-brandbar">{brand}</div>'
        + notice_html(title, body, kind)
        + "</div>"
    )


def notice_widget(html_text: str) -> object:
    """An HTML widget as wide as the page, for a page notice."""
    import ipywidgets as w

    return w.HTML(html_text, layout=w.Layout(width="100%"))


def app_layout() -> object:
    """The layout of an app's outermost box: the page's width, centred."""
    import ipywidgets as w

    return w.Layout(width="100%", max_width="1080px", margin="0 auto")


def notice_html(title: str, body: str, kind: str = "refused") -> str:
    """A short message in a card: a refusal (no data), a thank-you, a hint."""
    return (
        f'<section class="kit-notice kit-{kind}" data-kit-notice="{esc(kind)}">'
        f"<h1>{esc(title)}</h1><p>{esc(body)}</p></section>"
    )


def footer_html(lang: str) -> str:
    return f'<div class="kit-footer">{esc(t("app.site.footer", lang))}</div>'


def group_report_pdf(settings: Settings, group_id: str, language: str) -> Path | None:
    """The newest PDF of ``group_id``'s own group report, found in the report runs' manifests
    (``outputs/<run>/.kit-run.json``): an entry of kind ``group`` whose parameters name exactly
    this group. Never matched by file name; never a file outside its run's folder."""
    from kit.reports.runner import MANIFEST_NAME

    root = settings.outputs_dir
    found: list[tuple[bool, float, Path]] = []
    if not root.is_dir():
        return None
    for manifest_path in sorted(root.glob(f"*/{MANIFEST_NAME}")):
        run_dir = manifest_path.parent.resolve()
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            log.warning("unreadable report manifest %s", manifest_path)
            continue
        if not isinstance(manifest, dict):
            continue
        for entry in manifest.values():
            if not isinstance(entry, dict) or entry.get("kind") != "group":
                continue
            if entry.get("status") not in ("made", "skipped") or not entry.get("pdf_path"):
                continue
            params = _report_parameters(run_dir, entry)
            if params.get("group_id") != group_id:
                continue
            pdf = (run_dir / str(entry["pdf_path"])).resolve()
            if not pdf.is_relative_to(run_dir) or not pdf.is_file():
                continue
            found.append((params.get("language") == language, pdf.stat().st_mtime, pdf))
    return max(found)[2] if found else None


def _report_parameters(run_dir: Path, entry: dict[str, Any]) -> dict[str, Any]:
    """The parameters a report was made with: from the manifest entry, else from its executed
    notebook (``metadata.kit.parameters``, written by ``kit.reports.runner``)."""
    if entry.get("group_id"):
        return {"group_id": entry["group_id"], "language": entry.get("language")}
    nb_path = (run_dir / str(entry.get("notebook_path") or "")).resolve()
    if not entry.get("notebook_path") or not nb_path.is_relative_to(run_dir):
        return {}
    return dict(_notebook_parameters(str(nb_path), _mtime(nb_path)))


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


@lru_cache(maxsize=512)
def _notebook_parameters(path: str, mtime: float) -> tuple[tuple[str, Any], ...]:
    try:
        meta = json.loads(Path(path).read_text(encoding="utf-8")).get("metadata", {})
    except (OSError, ValueError):
        return ()
    params = (meta.get("kit") or {}).get("parameters") or {}
    return tuple((k, v) for k, v in params.items() if k in ("group_id", "language"))


def subtitle_text(
    organisation: str, respondents: int, invited: int | None, wave: str, lang: str
) -> str:
    """A dashboard's line under its title (the explorer's and the kit page's): organisation,
    respondents (of invited, when known) and the survey round's name ``wave``."""
    fields: dict[str, Any] = {"organisation": organisation, "respondents": respondents}
    if invited:
        return t("app.dashboard.subtitle", lang, **fields, invited=invited, wave=wave)
    return t("app.dashboard.subtitle_no_invited", lang, **fields, wave=wave)
