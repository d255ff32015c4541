"""The group dashboard as a page the kit renders itself: no kernel, behind the group's key.

``GET /kit/dashboard?key=...&lang=...`` resolves the key (``kit.apps.keys.resolve_key``; the
group comes from the key only, every other name in the query string is ignored) and answers with
one HTML page built from ``kit.results.group_results`` - privacy-protected results, rounded as
the report shows them. The common choices (survey round, comparison, area) switch in the
browser: the page carries the Vega-Lite specs of its charts (made by ``kit.charts``, the report's
charts) and ``static/dashboard.js`` draws the chosen one with the vendored Vega (CSP-safe
interpreter, no ``eval``, no CDN). The Voilà explorer opens from a link for those who want more.

Cost: a refused key touches nothing but the key table (and counts against the client in a
``FailureLimiter``: 429 with Retry-After once it is spent). Each group's page is built once per
(group, language, ``page_version``: what pages are built from, not an open survey's new answers)
and kept in a small LRU. Builds run in ``Settings.page_builders`` processes of their own (each holds
the published snapshots of the version it builds for), so the server keeps answering while they
work; concurrent requests for one page share one build; under load a build leaves the first
chart to the page's script and the background warming adds the server-drawn SVG later. The
pages of groups with an active key are built in the background before anyone asks.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import html
import json
import logging
import math
import multiprocessing
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pandas as pd
import tornado.web

from kit.apps.assets import AssetHandler
from kit.apps.keys import KeyRefused, resolve_key
from kit.apps.view import group_report_pdf, subtitle_text
from kit.client import client_address
from kit.i18n import t
from kit.instrument import Instrument, load_instrument
from kit.ratelimit import FailureLimiter
from kit.results import GroupResults, ScoredData, group_results, load_scored_data
from kit.settings import LANGUAGES, Settings
from kit.store import Store, open_store

if TYPE_CHECKING:
    from kit import charts

log = logging.getLogger("kit.apps.dashboard_page")

STATIC_DIR = Path(__file__).resolve().parent / "static"
KIT_CSS_DIR = Path(__file__).resolve().parent / "templates" / "voila"
PAGE_PATH = "/kit/dashboard"
EXPLORER_PATH = "/voila/render/group_dashboard.ipynb"
COMPARE = ("both", "norm", "cohort")
MIN_OTHER_COHORT_GROUPS = 3  # a cohort mean beside a group's own needs 3+ other groups
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'none'; font-src 'self'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
# Vega sets a few style attributes on the SVG it draws (cursor, pointer events): allowed for
# the dashboard page only, where every script is the kit's own.
CSP_PAGE = CSP.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")


# -- numbers as the report shows them ----------------------------------------------------------
def fmt(value: Any, digits: int = 1, lang: str = "nb", *, signed: bool = False) -> str:
    """A number with ``digits`` decimals in the language's style (decimal comma in nb)."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return "–"
    text = f"{float(value):+.{digits}f}" if signed else f"{float(value):.{digits}f}"
    text = text.replace("-", "−")
    return text.replace(".", ",") if lang == "nb" else text


def _rounded(frame: pd.DataFrame, columns: dict[str, int]) -> pd.DataFrame:
    """``frame`` with only ``columns`` kept, floats rounded to the report's precision."""
    out = frame[[c for c in columns if c in frame.columns]].copy()
    for col, digits in columns.items():
        if col in out.columns and digits >= 0:
            out[col] = pd.to_numeric(out[col], errors="coerce").astype(float).round(digits)
    return out


def esc(value: object) -> str:
    return html.escape("" if value is None else str(value))


# -- one group's page, built once per (group, language, data version) ---------------------------
@dataclass(frozen=True)
class GroupView:
    """A group's dashboard in one language: HTML of every view, and the charts' specs."""

    group_id: str
    lang: str
    title: str
    waves: tuple[tuple[str, str], ...]  # (id, label), in survey order
    wave: str  # the one shown first (the latest with results)
    compares: tuple[tuple[str, str], ...]
    dimensions: tuple[tuple[str, str], ...]
    subtitles: dict[str, str]
    published: str
    body: str  # every wave's views; the page shows one at a time
    specs: dict[str, dict[str, Any]] = field(default_factory=dict)
    static: bool = True  # the first chart is drawn on the server (False: by the page's script)

    @property
    def data_json(self) -> str:
        """The specs as JSON safe inside ``<script type="application/json">``."""
        text = json.dumps({"lang": self.lang, "specs": self.specs}, separators=(",", ":"))
        return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _wave_label(wave: str, lang: str) -> str:
    try:
        return t(f"common.wave.{wave}", lang)
    except Exception:  # noqa: BLE001 - a wave without a translation shows its id
        return wave


def group_waves(data: ScoredData, group_id: str) -> list[str]:
    """The group's survey rounds with answers, in survey order."""
    gw = data.group_waves
    mine = set(gw.loc[(gw["group_id"] == group_id) & (gw["respondents"] > 0), "wave_id"])
    return [w for w in data.waves.sort_values("ordinal")["id"] if w in mine]


def _subtitle(res: GroupResults, lang: str) -> str:
    wave = _wave_label(res.wave, lang)
    return subtitle_text(res.organisation, res.respondents, res.invited, wave, lang)


def _published(res: GroupResults, lang: str) -> str:
    """'Published ... (version ...)': which published snapshot the page shows, and when."""
    when, version = res.published_at, res.version
    if when is None and version is None:
        return ""
    when_text = str(when or "")
    if isinstance(when, str):
        try:
            when_text = dt.datetime.fromisoformat(when).strftime("%Y-%m-%d %H:%M")
        except ValueError:
            pass
    elif hasattr(when, "strftime"):
        when_text = when.strftime("%Y-%m-%d %H:%M")
    key = (
        "app.dashboard.page.published" if version is not None else "app.dashboard.page.published_at"
    )
    return t(key, lang, when=when_text or "–", version=version if version is not None else "")


def _spec(chart: charts.KitChart) -> dict[str, Any]:
    spec = chart.to_dict()
    spec.pop("$schema", None)
    return spec


def _figure(key: str, chart: charts.KitChart | str) -> str:
    text = chart if isinstance(chart, str) else chart.description
    return (
        f'<figure class="kit-chart kit-vl" data-kit-spec="{esc(key)}">'
        f'<div class="kit-vis" role="img" aria-label="{esc(text)}"></div>'
        f"<figcaption>{esc(text)}</figcaption></figure>"
    )


_DIST_TEMPLATES: dict[tuple[Any, ...], tuple[dict[str, Any], str, str]] = {}
_DIST_LOCK = threading.Lock()


def distribution_spec(
    frame: pd.DataFrame, lang: str, labels: list[str], scale_min: int, title: str
) -> tuple[dict[str, Any], str]:
    """``kit.charts.distribution_chart``'s spec and alt text for ``frame`` (item_text, value,
    count), with the chart made once per (language, items, title) and only the counts filled in.

    Altair builds the same chart for every group but the data; building it 16 times per group
    cost most of a page's build. The filled spec equals Altair's (tested).
    """
    return _distribution_spec(
        [str(x) for x in frame["item_text"]],
        [int(v) for v in frame["value"]],
        [int(c) for c in frame["count"]],
        lang,
        labels,
        scale_min,
        title,
    )


def _distribution_spec(
    items: list[str],
    values: list[int],
    counts: list[int],
    lang: str,
    labels: list[str],
    scale_min: int,
    title: str,
) -> tuple[dict[str, Any], str]:
    """``distribution_spec`` from plain lists (no frame: a page makes 16 of these per round)."""
    from kit import charts

    texts = [charts.shorten(x, charts.LABEL_CHARS) for x in items]
    key = (lang, tuple(dict.fromkeys(texts)), title, tuple(labels), scale_min)
    with _DIST_LOCK:
        found = _DIST_TEMPLATES.get(key)
    if found is None:
        frame = pd.DataFrame({"item_text": items, "value": values, "count": counts})
        chart = charts.distribution_chart(
            frame, lang, scale_labels=labels, scale_min=scale_min, title=title
        )
        spec = _spec(chart)
        (name,) = spec["datasets"]
        assert spec.get("data") == {"name": name}, "the distribution chart has one data set"
        # a fixed name: the page is the same whichever group made the template (any process)
        name = "kit-distribution"
        spec["data"] = {"name": name}
        found = (spec, name, chart.description)
        with _DIST_LOCK:
            _DIST_TEMPLATES[key] = found
            while len(_DIST_TEMPLATES) > 4096:
                _DIST_TEMPLATES.pop(next(iter(_DIST_TEMPLATES)))
    template, name, description = found
    rows = [
        {
            "item_text": text,
            "value": int(v),
            "count": int(c),
            "answer": labels[int(v) - scale_min],
            "order": int(v),
            "section": title,
        }
        for text, v, c in zip(texts, values, counts, strict=True)
        if c > 0
    ]
    spec = {**template, "datasets": {name: rows}}
    return spec, description


def _cohort_allowed(res: GroupResults) -> bool:
    return (
        "cohort_mean" in res.dimensions
        and res.dimensions["cohort_mean"].notna().any()
        and res.cohort_groups_shown >= MIN_OTHER_COHORT_GROUPS  # other groups (the engine's)
    )


def build_view(
    store: Store,
    settings: Settings,
    instrument: Instrument,
    data: ScoredData,
    group_id: str,
    lang: str,
    *,
    static: bool = True,
) -> GroupView:
    """Every view of ``group_id``'s dashboard, from its protected results only.

    ``static``: draw the first chart on the server (SVG in the HTML, shown before any script
    runs; about a quarter of a build). Builds for waiting viewers under load leave it to the
    page's script and the background warming adds it later.
    """
    waves = group_waves(data, group_id)
    group = store.get_group(group_id)
    title = t("app.dashboard.title", lang, group=group["name"])
    dims = tuple((d.id, d.name.get(lang, d.id)) for d in instrument.dimensions)
    if not waves:
        body = _notice(t("app.dashboard.no_results", lang), "")
        return GroupView(group_id, lang, title, (), "", (), dims, {}, "", body)
    specs: dict[str, dict[str, Any]] = {}
    results = {}
    for wave in waves:
        wl = [waves[0], wave] if wave != waves[0] else [wave]
        results[wave] = group_results(store, settings, group_id, wl, lang, instrument, data=data)
    # the page opens on the latest round with results; a later round without says why
    shown = next((w for w in reversed(waves) if results[w].reportable), waves[-1])
    later = waves[waves.index(shown) + 1 :]
    blocks, subtitles, compares_seen = [], {}, {}
    published = ""
    for wave in waves:
        res = results[wave]
        subtitles[wave] = _subtitle(res, lang)
        published = _published(res, lang) or published
        html_, wave_specs, compares = _wave_block(
            res, lang, instrument, first_view=static and wave == shown
        )
        if wave == shown and later:
            notes = "".join(
                _notice(
                    t(
                        "app.dashboard.page.later_hidden",
                        lang,
                        wave=_wave_label(w, lang),
                        shown=_wave_label(shown, lang),
                    ),
                    results[w].suppressed_text,
                    "info",
                )
                for w in later
            )
            html_ = notes + html_
        specs.update({f"{wave}|{k}": v for k, v in wave_specs.items()})
        compares_seen.update(dict.fromkeys(compares))
        hidden = "" if wave == shown else " hidden"
        blocks.append(f'<div class="kit-wave" data-kit-wave="{esc(wave)}"{hidden}>{html_}</div>')
    compares = tuple(
        (c, t(f"app.dashboard.compare.{c}", lang)) for c in COMPARE if c in compares_seen
    )
    return GroupView(
        group_id=group_id,
        lang=lang,
        title=title,
        waves=tuple((w, _wave_label(w, lang)) for w in waves),
        wave=shown,
        compares=compares,
        dimensions=dims,
        subtitles=subtitles,
        published=published,
        body="".join(blocks),
        specs=specs,
        static=static,
    )


def _notice(title: str, body: str, kind: str = "refused") -> str:
    para = f"<p>{esc(body)}</p>" if body else ""
    return (
        f'<section class="kit-notice kit-{kind}" data-kit-notice="{esc(kind)}">'
        f"<h2>{esc(title)}</h2>{para}</section>"
    )


def _card(title: str, body: str, cls: str = "") -> str:
    return f'<section class="kit-card {cls}"><h2>{esc(title)}</h2>{body}</section>'


def static_svg(spec: dict[str, Any], lang: str) -> str:
    """``spec`` drawn as SVG on the server (vl_convert), hidden from screen readers (the figure
    carries the description)."""
    import vl_convert as vlc

    from kit.charts import NUMBER_LOCALES  # the reports' locales; dashboard.js has the same

    svg = vlc.vegalite_to_svg(spec, format_locale=NUMBER_LOCALES.get(lang, NUMBER_LOCALES["en"]))
    return svg.replace("<svg ", '<svg aria-hidden="true" focusable="false" ', 1)


def _wave_block(
    res: GroupResults, lang: str, inst: Instrument, *, first_view: bool = False
) -> tuple[str, dict[str, dict[str, Any]], list[str]]:
    """The HTML of one survey round, its charts' specs, and the comparisons it offers
    (``first_view``: the round the page opens with, its profile drawn on the server)."""
    from kit import charts

    if not res.reportable:
        return _notice(t("app.dashboard.no_results", lang), res.suppressed_text), {}, []
    specs: dict[str, dict[str, Any]] = {}
    d = res.dimensions
    has_norm = "norm_mean" in d and d["norm_mean"].notna().any()
    has_cohort = _cohort_allowed(res)
    compares = [
        c
        for c, ok in (("both", has_norm and has_cohort), ("norm", has_norm), ("cohort", has_cohort))
        if ok
    ] or ["none"]
    base = _rounded(
        d, {"dimension_name": -1, "mean": 1, "norm_mean": 1, "norm_low": 1, "norm_high": 1}
    )
    cohort = _rounded(d, {"cohort_mean": 1})["cohort_mean"] if has_cohort else None
    chart = None
    for c in compares:
        frame = base.copy()
        if c in ("cohort", "both") and cohort is not None:
            frame["cohort_mean"] = cohort
        if c in ("cohort", "none"):
            frame[["norm_mean", "norm_low", "norm_high"]] = float("nan")
        chart = charts.profile_chart(
            frame, lang, scale_min=res.scale_min, scale_max=res.scale_max, group_name=res.group_name
        )
        specs[f"profile|{c}"] = _spec(chart)
    assert chart is not None
    lead = t("app.dashboard.profile.lead", lang)
    static, drawn = "", ""
    if first_view:  # drawn here, so the page shows its chart before any script has run
        key = f"{res.wave}|profile|{compares[0]}"
        static = static_svg(specs[f"profile|{compares[0]}"], lang)
        drawn = f' data-kit-drawn="{esc(key)}" data-kit-static="{esc(key)}"'
    profile = (
        f'<p class="kit-lead">{esc(lead)}</p>'
        f'<figure class="kit-chart kit-vl" data-kit-spec="profile" '
        f'data-kit-compare="{esc(compares[0])}"{drawn}>'
        f'<div class="kit-vis" role="img" aria-label="{esc(chart.description)}">{static}</div>'
        f"<figcaption>{esc(chart.description)}</figcaption></figure>"
        + _profile_table(res, lang, has_norm, has_cohort)
    )
    parts = [_card(t("app.dashboard.tab.profile", lang), profile, "kit-profile")]
    parts.append(_card(t("app.dashboard.page.summary", lang), _summary(res, lang), "kit-summary"))
    parts.append(_items_card(res, lang, inst, specs))
    parts.append(_change_card(res, lang, specs))
    parts.append(_agreement_card(res, lang))
    parts.append(_comments_card(res, lang))
    return "".join(parts), specs, compares


def _profile_table(res: GroupResults, lang: str, has_norm: bool, has_cohort: bool) -> str:
    head = [t("app.dashboard.dimension", lang), t("report.chart.mean", lang)]
    if has_norm:
        head += [t("report.profile.norm_mean", lang), t("report.profile.percentile", lang)]
    if has_cohort:
        head.append(t("report.profile.cohort_mean", lang))
    rows = []
    for r in res.dimensions.to_dict("records"):
        cells = [esc(r["dimension_name"]), fmt(r.get("mean"), 1, lang)]
        if has_norm:
            p = r.get("percentile")
            cells += [
                fmt(r.get("norm_mean"), 1, lang),
                "–" if p is None or pd.isna(p) else str(round(float(p))),
            ]
        if has_cohort:
            cells.append(fmt(r.get("cohort_mean"), 1, lang))
        rows.append(cells)
    return _table(head, rows, "kit-profile-table")


def _table(head: list[str], rows: list[list[str]], cls: str = "") -> str:
    th = "".join(f'<th scope="col">{esc(h)}</th>' for h in head)
    body = "".join(
        "<tr>"
        + "".join(
            (f'<th scope="row">{c}</th>' if i == 0 else f'<td class="num">{c}</td>')
            for i, c in enumerate(r)
        )
        + "</tr>"
        for r in rows
    )
    return (
        f'<div class="kit-table-wrap"><table class="kit-table {cls}"><thead><tr>{th}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
    )


def _summary(res: GroupResults, lang: str) -> str:
    d = res.dimensions
    names = dict(zip(d["dimension"], d["dimension_name"].astype(str), strict=True))
    strengths = "".join(f'<li class="kit-pill">{esc(names[d])}</li>' for d in res.strengths)
    develop = "".join(
        f'<li class="kit-pill kit-warn">{esc(names[d])}</li>' for d in res.development_areas
    )
    exercises = "".join(
        f"<li><b>{esc(e['name'])}</b> – {esc(e['description'])}</li>" for e in res.exercises[:4]
    )
    return (
        f"<h3>{esc(t('app.dashboard.strengths', lang))}</h3><ul class='kit-pills'>{strengths}</ul>"
        f"<h3>{esc(t('app.dashboard.development', lang))}</h3><ul class='kit-pills'>{develop}</ul>"
        + (
            f"<h3>{esc(t('app.dashboard.page.exercises', lang))}</h3>"
            f"<ul class='kit-lead'>{exercises}</ul>"
            if exercises
            else ""
        )
    )


def _items_card(
    res: GroupResults, lang: str, inst: Instrument, specs: dict[str, dict[str, Any]]
) -> str:
    blocks = []
    first = True
    rows_by_dim = {r["dimension"]: r for r in res.dimensions.to_dict("records")}
    items_by_dim: dict[str, list[dict[str, Any]]] = {}
    for x in res.items.astype({"dimension": str}).to_dict("records"):
        items_by_dim.setdefault(x["dimension"], []).append(x)
    dist = res.distributions
    dist_by_dim: dict[str, tuple[list[str], list[int], list[int]]] = {}
    for d, text, v, c in zip(
        dist["dimension"].astype(str).tolist(),
        dist["item_text"].astype(str).tolist(),
        dist["value"].tolist(),
        dist["count"].tolist(),
        strict=True,
    ):
        if c is None or c != c:  # a hidden count (NaN / NA)
            continue
        lists = dist_by_dim.setdefault(d, ([], [], []))
        lists[0].append(text)
        lists[1].append(int(v))
        lists[2].append(int(c))
    for dim in inst.dimensions:
        r = rows_by_dim.get(dim.id)
        if r is None:
            continue
        facts = _table(
            ["", t("report.chart.mean", lang), "95 %", "rwg(J)", "n"],
            [
                [
                    esc(dim.name.get(lang, dim.id)),
                    fmt(r.get("mean"), 1, lang),
                    f"{fmt(r.get('ci_low'), 1, lang)} – {fmt(r.get('ci_high'), 1, lang)}",
                    fmt(r.get("rwg_j"), 2, lang),
                    _int(r.get("n")),
                ]
            ],
        )
        item_rows = [
            [
                esc(x["item_text"]),
                fmt(x.get("mean"), 1, lang),
                fmt(x.get("sd"), 1, lang),
                _int(x.get("n")),
            ]
            for x in items_by_dim.get(dim.id, [])
        ]
        table = _table(["", t("report.chart.mean", lang), "sd", "n"], item_rows, "kit-items")
        lists = dist_by_dim.get(dim.id)
        chart_html = ""
        if lists is not None and lists[0]:
            spec, description = _distribution_spec(
                *lists, lang, list(res.scale_labels), res.scale_min, dim.name.get(lang, dim.id)
            )
            specs[f"dist|{dim.id}"] = spec
            chart_html = _figure(f"dist|{dim.id}", description)
        hidden = "" if first else " hidden"
        first = False
        blocks.append(
            f'<div class="kit-dimension" data-kit-dimension="{esc(dim.id)}"{hidden}>'
            f"<h3>{esc(dim.name.get(lang, dim.id))}</h3>"
            f'<p class="kit-lead">{esc(dim.description.get(lang, ""))}</p>'
            f"{facts}<p class='kit-lead'>{esc(t('app.dashboard.items.lead', lang))}</p>"
            f"{chart_html}{table}</div>"
        )
    return _card(t("app.dashboard.tab.items", lang), "".join(blocks), "kit-items-card")


def _change_card(res: GroupResults, lang: str, specs: dict[str, dict[str, Any]]) -> str:
    title = t("app.dashboard.tab.change", lang)
    ch = res.change
    if ch is None or ch["change"].notna().sum() == 0:
        why = res.change_text or t("app.dashboard.change.none", lang)
        return _card(title, f'<div class="kit-suppressed">{esc(why)}</div>', "kit-change")
    frame = _rounded(
        ch.dropna(subset=["change"]),
        {"dimension_name": -1, "change": 1, "ci_low": 1, "ci_high": 1},
    )
    from kit import charts

    chart = charts.change_chart(frame, lang, before=res.baseline_wave_name, after=res.wave_name)
    specs["change"] = _spec(chart)
    rows = [
        [
            esc(r["dimension_name"]),
            fmt(r.get("mean_before"), 1, lang),
            fmt(r.get("mean_after"), 1, lang),
            fmt(r.get("change"), 1, lang, signed=True),
            f"{fmt(r.get('ci_low'), 1, lang, signed=True)} – "
            f"{fmt(r.get('ci_high'), 1, lang, signed=True)}",
        ]
        for r in ch.dropna(subset=["change"]).to_dict("records")
    ]
    table = _table(
        ["", res.baseline_wave_name, res.wave_name, t("app.dashboard.tab.change", lang), "95 %"],
        rows,
    )
    body = (
        f'<p class="kit-lead">{esc(t("app.dashboard.change.lead", lang))}</p>'
        + _figure("change", chart)
        + table
    )
    return _card(title, body, "kit-change")


def _agreement_card(res: GroupResults, lang: str) -> str:
    rows = [
        [
            esc(r["dimension_name"]),
            fmt(r.get("rwg_j"), 2, lang),
            fmt(r.get("sd"), 1, lang),
            f'<span class="kit-pill kit-warn">{esc(t("app.dashboard.page.disagree", lang))}</span>'
            if r.get("disagreement") is True
            else "",
        ]
        for r in res.dimensions.to_dict("records")
    ]
    lead = (
        t("app.dashboard.agreement.lead", lang)
        if res.disagreements
        else t("app.dashboard.agreement.none", lang)
    )
    body = f'<p class="kit-lead">{esc(lead)}</p>' + _table(["", "rwg(J)", "sd", ""], rows)
    return _card(t("app.dashboard.tab.agreement", lang), body, "kit-agreement")


def _comments_card(res: GroupResults, lang: str) -> str:
    title = t("app.dashboard.tab.comments", lang)
    if not res.comments:
        why = res.comments_text or t("app.dashboard.comments.none", lang)
        return _card(title, f'<div class="kit-suppressed">{esc(why)}</div>', "kit-comments-card")
    blocks = "".join(
        f"<h3>{esc(c['question'])}</h3><ul class='kit-comments'>"
        + "".join(f"<li>{esc(x)}</li>" for x in c["texts"])
        + "</ul>"
        for c in res.comments
    )
    return _card(title, blocks, "kit-comments-card")


def _int(value: Any) -> str:
    return "–" if value is None or pd.isna(value) else str(int(value))


# -- the cache -----------------------------------------------------------------------------------
def page_version(store: Store, instrument_id: str) -> tuple[Any, ...]:
    """A cheap token of everything a dashboard page is built from: the publication stamp (with
    erasures, retention runs, undone imports and restores, which edit snapshots in place) and
    a digest of the groups, cohorts, survey rounds and group-rounds (names, invited, status: a
    few hundred small rows). New answers are not in it: pages show published results only, so
    an open survey's answers do not make every page be built anew."""
    from sqlalchemy import select

    from kit.store import schema as s
    from kit.store.publications import publication_stamp

    digest = hashlib.sha256()
    with store.begin() as conn:
        for table in (s.groups, s.cohorts, s.waves, s.group_waves):
            keys = list(table.primary_key.columns)
            for row in conn.execute(select(table).order_by(*keys)).all():
                digest.update(repr(tuple(row)).encode())
            digest.update(b"|")
    return (*publication_stamp(store, instrument_id), digest.hexdigest()[:16])


class DashboardPages:
    """Each group's view once per (group, language, data version), in a small LRU.

    Builds run in ``builders`` processes of their own (``Settings.page_builders``; spawned on
    the first build, each holding the protected scores of the data version it builds for), so
    the server's process keeps answering while they work and two builds use two cores. With
    ``builders=0`` they run on one worker thread of this process (the scores held here).
    Concurrent requests for one view share one build.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        builders: int | None = None,
        cache_size: int = 256,
        version_ttl: float = 2.0,
        build_timeout: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.builders = settings.page_builders if builders is None else builders
        self.cache_size = cache_size
        self.version_ttl = version_ttl
        self.build_timeout = build_timeout
        self._clock = clock
        self._instrument: Instrument | None = None
        self._data: ScoredData | None = None
        self._version: tuple[Any, ...] | None = None
        self._data_version: tuple[Any, ...] | None = None
        self._checked = -math.inf
        self._views: OrderedDict[tuple[str, str, Any], GroupView] = OrderedDict()
        self._views_version: tuple[Any, ...] | None = None
        self._inflight: dict[tuple[str, str], Future] = {}
        self._lock = threading.Lock()  # quick bookkeeping only (the server's thread takes it)
        self._build_lock = threading.Lock()  # held while scoring
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="kit-dashboard")
        self._pool: ProcessPoolExecutor | None = None
        self.scorings = 0  # how often every group's answers were loaded and scored (here)
        self.builds = 0  # how often a group's view was built
        self._waiting = 0  # viewers waiting for a build (the server's thread counts them)

    @property
    def store(self) -> Store:
        return open_store(self.settings)

    @property
    def instrument(self) -> Instrument:
        if self._instrument is None:
            self._instrument = load_instrument(self.settings.instrument)
        return self._instrument

    def data_version(self, *, fresh: bool = False) -> tuple[Any, ...]:
        """What the pages are built from (``page_version``), asked at most every
        ``version_ttl`` seconds (``fresh``: now)."""
        now = self._clock()
        if fresh or self._version is None or now - self._checked >= self.version_ttl:
            self._version = page_version(self.store, self.instrument.id)
            self._checked = now
        return self._version

    def scored(self) -> ScoredData:
        """Every group's protected scores for the current data version (scored once)."""
        version = self.data_version()
        with self._lock:
            if self._data is not None and self._data_version == version:
                return self._data
        # the long work holds only the build lock: the server's thread never waits on it
        with self._build_lock:
            with self._lock:
                if self._data is not None and self._data_version == version:
                    return self._data
            data = load_scored_data(self.store, self.settings, self.instrument)
            with self._lock:
                self._data, self._data_version = data, version
                self.scorings += 1
            return data

    def cached_view(self, group_id: str, lang: str) -> GroupView | None:
        """The view if it is built for the current data version (cheap: no scoring)."""
        version = self.data_version()
        with self._lock:
            if self._views_version != version:
                self._views.clear()
                self._views_version = version
                return None
            view = self._views.get((group_id, lang, version))
            if view is not None:
                self._views.move_to_end((group_id, lang, version))
            return view

    def _keep(self, version: tuple[Any, ...], view: GroupView) -> GroupView:
        """``view`` (built for ``version``) kept if that is the current version; a view of a
        version that is gone meanwhile is shown to those who waited for it, not kept."""
        current = self.data_version()
        if current != version:
            current = self.data_version(fresh=True)
        with self._lock:
            self.builds += 1
            if current != version:
                return view
            if self._views_version != version:
                self._views.clear()
                self._views_version = version
            self._views[(view.group_id, view.lang, version)] = view
            while len(self._views) > self.cache_size:
                self._views.popitem(last=False)
        return view

    def _build_here(self, group_id: str, lang: str, static: bool) -> GroupView:
        data = self.scored()
        with self._lock:
            version = self._data_version
        built = build_view(
            self.store, self.settings, self.instrument, data, group_id, lang, static=static
        )
        assert version is not None
        return self._keep(version, built)

    def _build_elsewhere(self, group_id: str, lang: str, static: bool, done: Future) -> None:
        """The build in a builder process; ``done`` gets the kept view."""
        with self._lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    self.builders,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_builder_start,
                    initargs=(self.settings,),
                )
                for _ in range(self.builders):  # every builder started and scored now
                    self._pool.submit(_builder_prime)
            pool = self._pool

        def kept(f: Future) -> None:
            try:
                version, view = f.result()
                done.set_result(self._keep(version, view))
            except BrokenProcessPool as exc:  # a builder died (killed, out of memory): anew
                with self._lock:
                    if self._pool is pool:
                        self._pool = None
                pool.shutdown(wait=False, cancel_futures=True)
                done.set_exception(exc)
            except BaseException as exc:  # noqa: BLE001 - handed to whoever waits
                done.set_exception(exc)

        try:
            pool.submit(_builder_build, group_id, lang, static).add_done_callback(kept)
        except BaseException as exc:  # noqa: BLE001 - a pool shut down or broken meanwhile
            with self._lock:
                if self._pool is pool:
                    self._pool = None
            done.set_exception(exc)

    def _build(self, group_id: str, lang: str, static: bool) -> Future:
        """One build of the view (shared with any request for the same view meanwhile, with
        or without its server-drawn chart)."""
        key = (group_id, lang)
        with self._lock:
            running = self._inflight.get(key)
            if running is not None:
                return running
            if self.builders:
                future: Future = Future()
            else:
                future = self._executor.submit(self._build_here, group_id, lang, static)
            self._inflight[key] = future
        if self.builders:
            self._build_elsewhere(group_id, lang, static, future)

        def forget(_: Future) -> None:
            with self._lock:
                if self._inflight.get(key) is future:
                    del self._inflight[key]

        future.add_done_callback(forget)
        return future

    def _choose(self, group_id: str, lang: str, static: bool | None) -> GroupView | bool:
        """A built view to use as it is, or whether the new build draws the first chart."""
        found = self.cached_view(group_id, lang)
        if found is not None and (found.static or static is None):
            return found
        if static is None:
            with self._lock:
                static = self._waiting <= 1
        return static

    def view(self, group_id: str, lang: str, *, static: bool | None = None) -> GroupView:
        """``group_id``'s view in ``lang`` (built if needed; blocking).

        A viewer (``static`` None) takes any built view; a new build draws its first chart on
        the server only when no other viewer waits for a build (under load each build is a
        quarter cheaper). ``static=True`` (the warming) rebuilds a view built without it."""
        chosen = self._choose(group_id, lang, static)
        if isinstance(chosen, GroupView):
            return chosen
        return self._build(group_id, lang, chosen).result(timeout=self.build_timeout)

    async def view_async(self, group_id: str, lang: str) -> GroupView:
        """``view`` without blocking the server: a hit at once, else the build's future."""
        with self._lock:
            self._waiting += 1
        try:
            chosen = self._choose(group_id, lang, None)
            if isinstance(chosen, GroupView):
                return chosen
            future = self._build(group_id, lang, chosen)
            return await asyncio.wait_for(asyncio.wrap_future(future), self.build_timeout)
        finally:
            with self._lock:
                self._waiting -= 1

    def status(self) -> dict[str, int]:
        """Counts for ``/kit/dashboard/status`` and the benchmark."""
        with self._lock:
            return {
                "scored": int(self._data is not None),
                "pages": len(self._views),
                "builds": self.builds,
                "scorings": self.scorings,
                "builders": self.builders,
                "building": len(self._inflight),
            }

    def close(self) -> None:
        """Stop the builder processes and the worker thread (pending builds are dropped)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        self._executor.shutdown(wait=False, cancel_futures=True)

    def keyed_groups(self) -> list[tuple[str, str]]:
        """(group, its language) for every group with an active key."""
        from kit.apps.keys import key_status
        from kit.store.access import list_keys

        groups = sorted({r["group_id"] for r in list_keys(self.store) if key_status(r) == "active"})
        return self._in_own_language(groups)

    def _in_own_language(self, groups: list[str]) -> list[tuple[str, str]]:
        known = self.store.list_groups().set_index("id")
        out = []
        for group_id in groups:
            if group_id in known.index:
                lang = known.loc[group_id].get("language")
                out.append(
                    (group_id, lang if isinstance(lang, str) and lang else self.settings.language)
                )
        return out

    def warm_targets(self) -> list[tuple[str, str]]:
        """The pages to keep ready, in their group's language: groups with an active key
        first, then every group with published results (a key made later finds its page
        built), at most half the cache."""
        from kit.store.publications import list_publications

        published = list_publications(self.store, self.instrument.id)
        groups = sorted(set(published["group_id"])) if len(published) else []
        targets = list(dict.fromkeys([*self.keyed_groups(), *self._in_own_language(groups)]))
        return targets[: max(1, self.cache_size // 2)]

    def warm_one(self, group_id: str, lang: str) -> bool:
        """Build one view unless it is ready (with its chart drawn on the server); True when
        it was built. Never raises."""
        try:
            found = self.cached_view(group_id, lang)
            if found is not None and found.static:
                return False
            self.view(group_id, lang, static=True)
            return True
        except Exception:  # noqa: BLE001 - warming is best effort; a viewer sees real errors
            log.exception("warming a group's dashboard page failed")
            return False

    def warm(self, budget: float = 120.0) -> int:
        """Build the pages of ``warm_targets``, one at a time (so a viewer's request waits
        for one build at most); returns how many were built."""
        start = self._clock()
        built = 0
        try:
            targets = self.warm_targets()
            if not self.builders:
                self._executor.submit(self.scored).result()  # before the first viewer
        except Exception:  # noqa: BLE001 - no access tables yet: nothing to warm
            return 0
        for group_id, lang in targets:
            if self._clock() - start > budget:
                break
            built += self.warm_one(group_id, lang)
        return built

    def start_warming(self, interval: float = 10.0, start_delay: float = 3.0) -> threading.Thread:
        """A daemon thread that keeps ``warm_targets``' pages built (now, then every
        ``interval`` seconds: new keys, new data)."""

        def run() -> None:
            time.sleep(start_delay)  # let the server start listening first
            while True:
                self.warm()
                time.sleep(interval)

        thread = threading.Thread(target=run, name="kit-dashboard-warm", daemon=True)
        thread.start()
        return thread


# -- the builder processes ----------------------------------------------------------------------
_BUILDER: DashboardPages | None = None


def _builder_start(settings: Settings) -> None:
    """A builder process's start: its own pages object building in this process, and a
    watch that ends the process when the server is gone (killed: nobody shuts the pool)."""
    import os
    import signal

    global _BUILDER
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the server, which stops us
    _BUILDER = DashboardPages(settings, builders=0, version_ttl=0.0, cache_size=1)
    server = os.getppid()

    def watch() -> None:
        while os.getppid() == server:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="kit-builder-watch", daemon=True).start()


def _builder_prime() -> None:
    """Load the current version's scores (the pool starts a builder per waiting task)."""
    assert _BUILDER is not None, "a builder process starts with _builder_start"
    _BUILDER.scored()
    time.sleep(0.5)  # held a moment, so that the next prime goes to (and starts) another one


def _builder_build(group_id: str, lang: str, static: bool) -> tuple[tuple[Any, ...], GroupView]:
    """One view, built here, with the data version it was built for."""
    assert _BUILDER is not None, "a builder process starts with _builder_start"
    data = _BUILDER.scored()
    with _BUILDER._lock:
        version = _BUILDER._data_version
    view = build_view(
        _BUILDER.store,
        _BUILDER.settings,
        _BUILDER.instrument,
        data,
        group_id,
        lang,
        static=static,
    )
    assert version is not None
    return version, view


# -- the page ------------------------------------------------------------------------------------
def _asset(name: str) -> str:
    """``/kit/static/NAME?v=HASH``: cached for long, renamed when the file changes."""
    path = (KIT_CSS_DIR if name == "kit.css" else STATIC_DIR) / name
    return f"/kit/static/{name}?v={_digest(path)}"


_DIGESTS: dict[Path, tuple[float, str]] = {}


def _digest(path: Path) -> str:
    mtime = path.stat().st_mtime
    got = _DIGESTS.get(path)
    if got is None or got[0] != mtime:
        got = (mtime, hashlib.sha256(path.read_bytes()).hexdigest()[:12])
        _DIGESTS[path] = got
    return got[1]


def _head(title: str, lang: str, scripts: bool) -> str:
    js = (
        f'<script src="{_asset("vendor/kit-vega.min.js")}" defer></script>'
        f'<script src="{_asset("dashboard.js")}" defer></script>'
        if scripts
        else ""
    )
    return (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="no-referrer"><link rel="icon" href="data:,">'
        f"<title>{esc(title)}</title>"
        f'<link rel="stylesheet" href="{_asset("kit.css")}">'
        f'<link rel="stylesheet" href="{_asset("dashboard.css")}">{js}</head>'
    )


def page_url(key: str, lang: str | None = None) -> str:
    q = f"?key={quote(key, safe='')}" + (f"&lang={lang}" if lang else "")
    return PAGE_PATH + q


def render_page(view: GroupView, key: str, settings: Settings) -> str:
    """The whole page for a viewer holding ``key`` (the links carry the key, nothing else)."""
    lang = view.lang
    other = next(x for x in LANGUAGES if x != lang)
    k = quote(key, safe="")
    links = [
        f'<a class="kit-link" href="{esc(page_url(key, other))}" lang="{other}" '
        f'hreflang="{other}">{esc(t("app.language.toggle", lang))}</a>'
    ]
    if group_report_pdf(settings, view.group_id, lang) is not None:
        links.append(
            f'<a class="kit-button" data-kit-link="report" '
            f'href="/kit/report?key={k}&amp;lang={lang}"'
            f" download>{esc(t('app.dashboard.download', lang))}</a>"
        )
    links.append(
        f'<a class="kit-button kit-secondary" data-kit-link="explorer" '
        f'href="{EXPLORER_PATH}?key={k}&amp;lang={lang}">'
        f"{esc(t('app.dashboard.page.explorer', lang))}</a>"
    )
    sub = view.subtitles.get(view.wave, "")
    published = f'<p class="kit-published">{esc(view.published)}</p>' if view.published else ""
    header = (
        '<header class="kit-header kit-dash-header"><div>'
        f'<div class="kit-brand">{esc(t("app.site.title", lang))}</div>'
        f"<h1>{esc(view.title)}</h1>"
        f'<p class="kit-sub" id="kit-subtitle" aria-live="polite">{esc(sub)}</p>{published}</div>'
        f'<nav class="kit-actions" aria-label="{esc(t("app.dashboard.page.links", lang))}">'
        + "".join(links)
        + "</nav></header>"
    )
    controls = ""
    if view.waves:
        controls = (
            '<form class="kit-controls kit-dash-controls" id="kit-controls" '
            f'aria-label="{esc(t("app.dashboard.page.choices", lang))}">'
            + _select("kit-wave", t("app.dashboard.wave", lang), view.waves, view.wave, view)
            + (
                _select(
                    "kit-compare",
                    t("app.dashboard.compare", lang),
                    view.compares,
                    view.compares[0][0],
                    None,
                )
                if len(view.compares) > 1
                else ""
            )
            + _select(
                "kit-dimension",
                t("app.dashboard.dimension", lang),
                view.dimensions,
                view.dimensions[0][0],
                None,
            )
            + "</form>"
        )
    noscript = (
        '<noscript><p class="kit-suppressed">'
        f"{esc(t('app.dashboard.page.noscript', lang))}</p></noscript>"
    )
    return (
        _head(view.title, lang, scripts=bool(view.specs))
        + '<body class="kit-page kit-dash"><div class="kit-dash-app">'
        + header
        + f'<main id="kit-main">{noscript}{controls}{view.body}</main>'
        + f'<footer class="kit-footer">{esc(t("app.site.footer", lang))}</footer></div>'
        + f'<script type="application/json" id="kit-dashboard-data">{view.data_json}</script>'
        + "</body></html>"
    )


def _select(
    ident: str,
    label: str,
    options: tuple[tuple[str, str], ...],
    chosen: str,
    view: GroupView | None,
) -> str:
    opts = "".join(
        f'<option value="{esc(v)}"'
        + (f' data-kit-subtitle="{esc(view.subtitles.get(v, ""))}"' if view else "")
        + (" selected" if v == chosen else "")
        + f">{esc(text)}</option>"
        for v, text in options
    )
    return (
        f'<div class="kit-field"><label for="{ident}">{esc(label)}</label>'
        f'<select id="{ident}" name="{ident[4:]}">{opts}</select></div>'
    )


def notice_page(lang: str, title: str, body: str, kind: str = "refused") -> str:
    """A short page of one message (refusals): no data, no scripts."""
    return (
        _head(t("app.site.title", lang), lang, scripts=False)
        + '<body class="kit-page"><div class="kit-notice-page">'
        + f'<div class="kit-brandbar">{esc(t("app.site.title", lang))}</div>'
        + f'<section class="kit-notice kit-{kind}" data-kit-notice="{esc(kind)}">'
        + f"<h1>{esc(title)}</h1><p>{esc(body)}</p></section></div></body></html>"
    )


# -- tornado ---------------------------------------------------------------------------------
def _pick_language(value: str | None, default: str) -> str:
    return value if value in LANGUAGES else default


class DashboardPageHandler(tornado.web.RequestHandler):
    """``/kit/dashboard?key=...``: the key's group's dashboard, rendered without a kernel."""

    def initialize(
        self, kit_settings: Settings, pages: DashboardPages, limiter: FailureLimiter
    ) -> None:
        self.kit_settings = kit_settings
        self.pages = pages
        self.limiter = limiter

    def set_default_headers(self) -> None:
        self.set_header("Cache-Control", "no-store")
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Referrer-Policy", "no-referrer")
        self.set_header("X-Frame-Options", "DENY")
        self.set_header("Content-Security-Policy", CSP)

    def _lang(self) -> str:
        return _pick_language(self.get_query_argument("lang", None), self.kit_settings.language)

    def _page(self, status: int, text: str) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(text)

    async def get(self) -> None:
        client = client_address(self.request, self.kit_settings.trusted_proxies)
        lang = self._lang()
        wait = self.limiter.retry_after(client)
        if wait:
            self.set_header("Retry-After", str(wait))
            body = t("app.dashboard.page.too_many", lang, seconds=wait)
            self._page(429, notice_page(lang, t("app.key.title", lang), body))
            return
        key = self.get_query_argument("key", None)
        try:
            grant = resolve_key(self.pages.store, key)
        except KeyRefused as exc:
            self.limiter.fail(client)
            body = t(f"app.key.{exc.reason}", lang)
            self._page(403, notice_page(lang, t("app.key.title", lang), body))
            return
        group = self.pages.store.get_group(grant.group_id)
        lang = _pick_language(
            self.get_query_argument("lang", None),
            group.get("language") or self.kit_settings.language,
        )
        view = await self.pages.view_async(grant.group_id, lang)
        self.set_header("Content-Security-Policy", CSP_PAGE)
        self._page(200, render_page(view, key or "", self.kit_settings))

    def _request_summary(self) -> str:
        """What tornado's access log writes: the path, never the query (it holds the key)."""
        client = client_address(self.request, self.kit_settings.trusted_proxies)
        return f"{self.request.method} {self.request.path} ({client})"

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, tornado.web.HTTPError):
            log.warning("%d %s", value.status_code, self._request_summary())
        else:
            log.error("%s failed", self._request_summary(), exc_info=(typ, value, tb))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        lang = self._lang()
        body = t("app.error.general", lang)
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(notice_page(lang, t("app.site.title", lang), body, "info"))


class PagesStatusHandler(tornado.web.RequestHandler):
    """``/kit/dashboard/status``: how many pages are built (counts only: no group, no data)."""

    def initialize(self, pages: DashboardPages) -> None:
        self.pages = pages

    def get(self) -> None:
        self.set_header("Cache-Control", "no-store")
        self.finish(self.pages.status())


def dashboard_page_handlers(
    settings: Settings,
    pages: DashboardPages | None = None,
    limiter: FailureLimiter | None = None,
    *,
    warm: bool = True,
) -> list[tuple]:
    """The page, its assets and the kit's CSS, for ``kit_handlers`` in ``kit.apps.server``.

    ``warm``: keep the pages of groups with an active key built in the background.
    """
    if pages is None:
        pages = DashboardPages(settings)
        if warm:
            pages.start_warming()
    limiter = limiter or FailureLimiter()
    own = {"kit_settings": settings, "pages": pages, "limiter": limiter}
    return [
        (rf"{PAGE_PATH}/?", DashboardPageHandler, own),
        (rf"{PAGE_PATH}/status", PagesStatusHandler, {"pages": pages}),
        (r"/kit/static/(kit\.css)", AssetHandler, {"path": str(KIT_CSS_DIR)}),
        (
            r"/kit/static/((?:vendor/)?[A-Za-z0-9_.-]+\.(?:js|css))",
            AssetHandler,
            {"path": str(STATIC_DIR)},
        ),
    ]
