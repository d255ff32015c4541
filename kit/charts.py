"""Altair charts in one kit theme, rendered to static SVG (no JavaScript, no CDN).

Every chart function takes plain DataFrames (as ``kit.results`` produces them) and a language,
and returns a :class:`KitChart`: the Altair chart, a title and a description (the alt text). A
``KitChart`` shows itself in a notebook as a ``<figure>`` with inline SVG rendered by
``vl_convert``, so an exported HTML or PDF needs nothing from the network. Charts never read
files or the database.

In a batch run that prints PDFs the run's headless Chromium draws them instead (``kit.drawing``).

Colours are the Okabe-Ito palette (safe for the common forms of colour blindness); ordinal
answer scales use a diverging blue-orange scheme.
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import altair as alt
import pandas as pd

from kit.drawing import PENDING_CLASS, accessible_svg, charts_drawn_in_printer
from kit.i18n import t

# Okabe & Ito (2008): colours distinguishable with protanopia, deuteranopia and tritanopia.
OKABE_ITO = (
    "#0072B2",  # blue: the group
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#D55E00",  # vermillion
    "#F0E442",  # yellow
    "#000000",
)
GROUP_COLOUR = OKABE_ITO[0]
COHORT_COLOUR = OKABE_ITO[1]
NORM_COLOUR = "#5E5E5E"  # 3:1 and more against the norm band and white
NORM_BAND_COLOUR = "#D9D9D9"
FONT = "Liberation Sans, DejaVu Sans, Arial, sans-serif"
WIDTH = 430  # px; fits an A4 page with margins next to dimension labels


def kit_theme() -> dict[str, Any]:
    """The kit's Vega-Lite config: quiet axes, readable type, Okabe-Ito categories."""
    return {
        "config": {
            "font": FONT,
            "background": "white",
            "view": {"stroke": None},
            "title": {"fontSize": 14, "fontWeight": "bold", "anchor": "start", "color": "#222"},
            "axis": {
                "labelFontSize": 11,
                "titleFontSize": 11,
                "titleFontWeight": "normal",
                "titleColor": "#444",
                "labelColor": "#333",
                "gridColor": "#EEEEEE",
                "domainColor": "#BBBBBB",
                "tickColor": "#BBBBBB",
                "labelLimit": 260,
            },
            "legend": {
                "labelFontSize": 11,
                "labelLimit": 320,
                "titleFontSize": 11,
                "orient": "bottom",
                "titleFontWeight": "normal",
                "symbolSize": 80,
            },
            "range": {"category": list(OKABE_ITO)},
            "point": {"size": 80, "filled": True},
        }
    }


@alt.theme.register("kit", enable=False)
def _kit_theme() -> alt.theme.ThemeConfig:
    return kit_theme()  # type: ignore[return-value]


# d3-format locales, so a chart's axis labels and values follow the report's language (decimal
# comma and a true minus in bokmål); the same definition as the dashboard page's.
NUMBER_LOCALES: dict[str, dict[str, Any]] = {
    "nb": {
        "decimal": ",",
        "thousands": "\u00a0",
        "grouping": [3],
        "currency": ["", " kr"],
        "minus": "\u2212",
    },
    "en": {"decimal": ".", "thousands": ",", "grouping": [3], "currency": ["", ""]},
}


@dataclass(frozen=True)
class KitChart:
    """A chart with its title and alt text; renders to static SVG (numbers in ``lang``).

    ``chart`` is the Altair chart, or None when the chart was filled into a spec template
    (``spec``, see :func:`templated_spec`): then ``spec`` is exactly what Altair would give.
    """

    chart: alt.TopLevelMixin | None
    title: str
    description: str
    lang: str = ""
    spec: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        if self.spec is not None:
            return _copy(self.spec)
        assert self.chart is not None
        with alt.theme.enable("kit"):
            return self.chart.to_dict(validate=False)

    def to_svg(self) -> str:
        """Static SVG (vl_convert), with the description as its accessible name."""
        import vl_convert as vlc

        locale = NUMBER_LOCALES.get(self.lang)
        vega = vega_spec(self.to_dict())
        svg = vlc.vega_to_svg(vega, format_locale=locale) if locale else vlc.vega_to_svg(vega)
        return accessible_svg(svg, self.description)

    def to_html(self) -> str:
        """A ``<figure>`` with the inline SVG and a caption; what reports embed. Where the
        printer draws the charts (:func:`draw_charts_in_printer`), a placeholder for the SVG."""
        drawing = pending_chart(self) if charts_drawn_in_printer() else self.to_svg()
        return (
            '<figure class="kit-chart">'
            f'<div class="kit-chart-svg">{drawing}</div>'
            f"<figcaption>{html.escape(self.description)}</figcaption></figure>"
        )

    def _repr_html_(self) -> str:
        return self.to_html()


def pending_chart(chart: KitChart) -> str:
    """The placeholder ``kit.reports.export.draw_pending_charts`` replaces by the chart's SVG: a
    JSON script element with the Vega-Lite spec, the number locale and the accessible name."""
    payload = json.dumps(
        {
            "spec": chart.to_dict(),
            "locale": NUMBER_LOCALES.get(chart.lang),
            "label": chart.description,
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )
    # no "<" inside, so the element ends at the first "</script>" (also for PENDING_PATTERN)
    payload = payload.replace("<", "\\u003c")
    return f'<script type="application/json" class="{PENDING_CLASS}">{payload}</script>'


# -- spec templates -----------------------------------------------------------------------------
# Building a chart with Altair (encodings, validation, ``to_dict``, data sanitising) costs more
# than a report's results; the charts of two groups differ only in their data. So a chart's spec
# is built by Altair once per everything-but-the-data (a key each chart function gives) and
# later calls fill in their data, converted and named exactly as Altair does (tested equal).

_TEMPLATES: dict[tuple[Any, ...], tuple[dict[str, Any], dict[str, int]]] = {}
_TEMPLATE_LOCK = threading.Lock()
_TEMPLATE_LIMIT = 512
_TEMPLATES_ON = [True]
TEMPLATE_STATS = {"built": 0, "filled": 0}


@contextlib.contextmanager
def no_templates() -> Iterator[None]:
    """Within: every chart is built by Altair (for tests and benchmarks comparing the two)."""
    _TEMPLATES_ON.append(False)
    try:
        yield
    finally:
        _TEMPLATES_ON.pop()


def clear_templates() -> None:
    with _TEMPLATE_LOCK:
        _TEMPLATES.clear()


def _records(frame: pd.DataFrame) -> list[dict[str, Any]] | None:
    """``frame``'s rows as Altair's ``to_values(sanitize_dataframe(frame))`` gives them, for the
    column types the kit's charts use (None for any other type: then Altair does it)."""
    import numpy as np

    if not all(isinstance(c, str) for c in frame.columns) or frame.columns.has_duplicates:
        return None
    columns: list[list[Any]] = []
    for name in frame.columns:
        col = frame[name]
        if not isinstance(col.dtype, np.dtype):  # pandas' own types
            dtype = str(col.dtype)
            if dtype not in ("str", "string", "Int64", "Int32", "Float64", "boolean"):
                return None  # category, datetimes, ...: Altair's own conversion
            obj = col.astype(object)
            columns.append(obj.where(col.notnull(), None).tolist())  # as Altair does
            continue
        kind = col.dtype.kind
        if kind in "biu":
            values = col.tolist()
        elif kind == "f":
            arr = col.to_numpy()
            bad = ~np.isfinite(arr)
            values = [None if b else v for v, b in zip(arr.tolist(), bad.tolist(), strict=True)]
        elif col.dtype == object:
            # Altair's own steps (pandas may infer another type in ``apply``: None becomes NaN)
            values = col.astype(object).apply(_list_if_array).tolist()
            if not all(v is None or type(v) in (str, bool, int, float) for v in values):
                return None
        else:
            return None
        columns.append(values)
    names = list(frame.columns)
    if not names:
        return [{} for _ in range(len(frame))]
    return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]


def _list_if_array(value: Any) -> Any:
    import numpy as np

    return value.tolist() if isinstance(value, np.ndarray) else value


def _dataset_name(values: list[dict[str, Any]]) -> str:
    """Altair's name for inline data (``altair.vegalite.v6.api._dataset_name``)."""
    if values == [{}]:
        return "empty"
    values_json = json.dumps(values, sort_keys=True, default=str)
    return "data-" + hashlib.sha256(values_json.encode()).hexdigest()[:32]


def _copy(
    node: Any, names: dict[str, str] | None = None, numbers: dict[float, float] | None = None
) -> Any:
    """A structural copy of a spec, with data references renamed by ``names`` and placeholder
    numbers replaced by ``numbers``."""
    if isinstance(node, dict):
        out = {k: _copy(v, names, numbers) for k, v in node.items()}
        if names and isinstance(out.get("name"), str) and out["name"] in names and len(out) == 1:
            out["name"] = names[out["name"]]
        return out
    if isinstance(node, list):
        return [_copy(v, names, numbers) for v in node]
    if numbers and type(node) is float and node in numbers:
        return numbers[node]
    return node


_PLACEHOLDER = 987654.125  # exact in binary; no chart of the kit draws such a number


def templated_spec(
    key: tuple[Any, ...],
    frames: list[pd.DataFrame],
    build: Callable[..., alt.TopLevelMixin],
    numbers: dict[str, float] | None = None,
) -> dict[str, Any]:
    """The Vega-Lite spec of ``build(**numbers)`` (with the kit theme), whose data are ``frames``
    (the frames the chart's layers or panels receive, in any order) and which depends on nothing
    but ``frames``, ``numbers`` (floats the spec holds as they are, or negated, e.g. a scale's
    domain) and ``key`` (the caller's promise). Made by Altair once per key; then filled."""
    numbers = numbers or {}
    values = [_records(f) for f in frames] if _TEMPLATES_ON[-1] else None
    if values is None or any(v is None for v in values):
        TEMPLATE_STATS["built"] += 1
        with alt.theme.enable("kit"):
            return build(**numbers).to_dict(validate=False)
    names = [_dataset_name(v) for v in values]  # type: ignore[arg-type]
    pattern = tuple(names.index(n) for n in names)  # which frames hold equal data
    full_key = (key, pattern, tuple(numbers))
    placeholders = {n: _PLACEHOLDER + i for i, n in enumerate(numbers)}
    with _TEMPLATE_LOCK:
        found = _TEMPLATES.get(full_key)
    if found is None:
        TEMPLATE_STATS["built"] += 1
        with alt.theme.enable("kit"):
            spec = build(**placeholders).to_dict(validate=False)
        slots = {n: i for i, n in reversed(list(enumerate(names)))}
        datasets = spec.get("datasets", {})
        if all(n in slots for n in datasets):
            with _TEMPLATE_LOCK:
                _TEMPLATES[full_key] = (spec, {n: slots[n] for n in datasets})
                while len(_TEMPLATES) > _TEMPLATE_LIMIT:
                    _TEMPLATES.pop(next(iter(_TEMPLATES)))
            found = _TEMPLATES[full_key]
        else:
            with alt.theme.enable("kit"):
                return build(**numbers).to_dict(validate=False)
    else:
        TEMPLATE_STATS["filled"] += 1
    template, slots = found
    rename = {old: names[i] for old, i in slots.items()}
    swap: dict[float, float] = {}
    for n, ph in placeholders.items():
        swap[ph], swap[-ph] = float(numbers[n]), -float(numbers[n])
    spec = _copy({k: v for k, v in template.items() if k != "datasets"}, rename, swap)
    spec["datasets"] = {rename[old]: values[i] for old, i in slots.items()}  # type: ignore[misc]
    # the dataset entry keeps the template's position among the keys
    return {k: spec[k] for k in template}


_VEGA: dict[str, dict[str, Any]] = {}


def _rename_strings(node: Any, names: dict[str, str]) -> Any:
    if isinstance(node, dict):
        return {k: _rename_strings(v, names) for k, v in node.items()}
    if isinstance(node, list):
        return [_rename_strings(v, names) for v in node]
    if isinstance(node, str):
        return names.get(node, node)
    return node


def vega_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """``vl_convert.vegalite_to_vega(spec)``, compiled once per spec without its data (Vega-Lite's
    compiler reads no data values); the data go into the compiled spec by name (tested equal)."""
    import vl_convert as vlc

    datasets = spec.get("datasets")
    if not _TEMPLATES_ON[-1] or not isinstance(datasets, dict):
        return vlc.vegalite_to_vega(spec)
    slots = {name: f"kit-dataset-{i}" for i, name in enumerate(datasets)}
    shape = {k: _rename_strings(v, slots) for k, v in spec.items() if k != "datasets"}
    key = json.dumps([shape, list(slots.values())])
    with _TEMPLATE_LOCK:
        template = _VEGA.get(key)
    if template is None:
        renamed = {**shape, "datasets": {slots[n]: [] for n in datasets}}
        order = [k for k in spec]  # keep the key order of the spec
        template = vlc.vegalite_to_vega({k: renamed[k] for k in order})
        with _TEMPLATE_LOCK:
            _VEGA[key] = template
            while len(_VEGA) > _TEMPLATE_LIMIT:
                _VEGA.pop(next(iter(_VEGA)))
    back = {v: k for k, v in slots.items()}
    out = _rename_strings(template, back)
    for entry in out.get("data", []):
        name = entry.get("name")
        if name in datasets and "values" in entry:
            entry["values"] = datasets[name]
    return out


NORM_MEAN_SHAPE = "M-0.22,-1L0.22,-1L0.22,1L-0.22,1Z"  # a filled upright bar (SVG path)
LABEL_CHARS = 62  # statements are cut here (in Python: Vega's own cutting is slow)


def shorten(text: str, width: int) -> str:
    """``text`` cut at a word boundary to at most ``width`` characters, with an ellipsis."""
    if len(text) <= width:
        return text
    cut = text[: width - 1].rsplit(" ", 1)[0].rstrip(",.;:")
    return cut + "…"


# Diverging orange-purple (ColorBrewer PuOr, safe for colour blindness) with a visible grey middle.
ANSWER_COLOURS = ("#B35806", "#E08214", "#FDB863", "#C8C8C8", "#B2ABD2", "#8073AC", "#542788")


def _answer_scale(labels: list[str]) -> alt.Scale:
    if len(labels) == len(ANSWER_COLOURS):
        return alt.Scale(domain=labels, range=list(ANSWER_COLOURS))
    return alt.Scale(domain=labels, scheme="purpleorange", reverse=True)


def _scale_domain(scale_min: int, scale_max: int) -> list[float]:
    return [scale_min, scale_max]


def profile_chart(
    profile: pd.DataFrame, lang: str, *, scale_min: int, scale_max: int, group_name: str = ""
) -> KitChart:
    """Every dimension's mean for the group against the norm base and the cohort.

    ``profile`` columns: ``dimension_name`` (in display order), ``mean``, ``norm_mean``,
    ``norm_low`` / ``norm_high`` (the norm base's middle half, or mean +- sd), optionally
    ``cohort_mean``. Rows with a missing ``mean`` are drawn without the group's dot.
    """
    order = list(profile["dimension_name"])
    group_label = t("report.chart.group", lang)
    norm_label = t("report.chart.norm_base", lang)
    cohort_label = t("report.chart.cohort", lang)
    long = []
    for rec in profile.to_dict("records"):
        long.append(
            {
                "dimension_name": rec["dimension_name"],
                "series": group_label,
                "value": rec.get("mean"),
            }
        )
        long.append(
            {
                "dimension_name": rec["dimension_name"],
                "series": norm_label,
                "value": rec.get("norm_mean"),
            }
        )
        if "cohort_mean" in profile.columns:
            long.append(
                {
                    "dimension_name": rec["dimension_name"],
                    "series": cohort_label,
                    "value": rec.get("cohort_mean"),
                }
            )
    points = pd.DataFrame(long).dropna(subset=["value"])
    series = [group_label, norm_label] + (
        [cohort_label] if "cohort_mean" in profile.columns else []
    )
    colours = [GROUP_COLOUR, NORM_COLOUR, COHORT_COLOUR][: len(series)]
    # the norm's mean is a short upright bar across its band: a filled shape ("stroke", a line,
    # has no area and was drawn invisible in the chart and its legend)
    shapes = ["circle", NORM_MEAN_SHAPE, "diamond"][: len(series)]
    band_data = profile.dropna(subset=["norm_low", "norm_high"])
    title = t("report.chart.profile_title", lang)

    def build() -> alt.TopLevelMixin:
        y = alt.Y("dimension_name:N", sort=order, title=None)
        x_scale = alt.Scale(domain=_scale_domain(scale_min, scale_max), nice=False)
        band = (
            alt.Chart(band_data)
            .mark_bar(color=NORM_BAND_COLOUR, height=10, opacity=0.8)
            .encode(
                y=y,
                x=alt.X("norm_low:Q", scale=x_scale, title=t("report.chart.mean", lang)),
                x2="norm_high:Q",
            )
        )
        dots = (
            alt.Chart(points)
            .mark_point(filled=True, size=90, opacity=1)
            .encode(
                y=y,
                x=alt.X("value:Q", scale=x_scale),
                color=alt.Color(
                    "series:N", scale=alt.Scale(domain=series, range=colours), title=None
                ),
                shape=alt.Shape(
                    "series:N", scale=alt.Scale(domain=series, range=shapes), title=None
                ),
            )
        )
        return (band + dots).properties(width=WIDTH, height=max(120, 22 * len(order)), title=title)

    key = ("profile", lang, tuple(order), tuple(series), scale_min, scale_max)
    spec = templated_spec(key, [band_data, points], build)
    desc = t(
        "report.chart.profile_desc",
        lang,
        group=group_name,
        n=len(order),
        lo=scale_min,
        hi=scale_max,
    )
    return KitChart(None, title, desc, lang, spec)


def change_chart(change: pd.DataFrame, lang: str, *, before: str, after: str) -> KitChart:
    """Change per dimension from ``before`` to ``after`` with its 95 % interval.

    ``change`` columns: ``dimension_name``, ``change``, ``ci_low``, ``ci_high``.
    """
    data = change.dropna(subset=["change"]).copy()
    order = list(data["dimension_name"])
    reach = float(max(1.0, data[["ci_low", "ci_high"]].abs().max().max())) if len(data) else 1.0
    x_title = t("report.chart.change_axis", lang, before=before, after=after)
    title = t("report.chart.change_title", lang, before=before, after=after)
    zero_data = pd.DataFrame({"x": [0]})

    def build(reach: float) -> alt.TopLevelMixin:
        x_scale = alt.Scale(domain=[-reach, reach], nice=True)
        y = alt.Y("dimension_name:N", sort=order, title=None)
        zero = alt.Chart(zero_data).mark_rule(color="#666").encode(x="x:Q")
        bars = (
            alt.Chart(data)
            .mark_rule(color=OKABE_ITO[4], strokeWidth=3)
            .encode(y=y, x=alt.X("ci_low:Q", scale=x_scale, title=x_title), x2="ci_high:Q")
        )
        dots = (
            alt.Chart(data)
            .mark_point(filled=True, size=80, color=GROUP_COLOUR, opacity=1)
            .encode(y=y, x=alt.X("change:Q", scale=x_scale))
        )
        return (zero + bars + dots).properties(
            width=WIDTH, height=max(120, 22 * len(order)), title=title
        )

    key = ("change", lang, tuple(order), x_title, title)
    spec = templated_spec(key, [zero_data, data], build, {"reach": reach})
    desc = t("report.chart.change_desc", lang, before=before, after=after, n=len(order))
    return KitChart(None, title, desc, lang, spec)


def distribution_chart(
    distributions: pd.DataFrame,
    lang: str,
    *,
    scale_labels: list[str],
    scale_min: int,
    title: str = "",
) -> KitChart:
    """Stacked counts of answers per item (how many chose each value; never who).

    ``distributions`` columns: ``item_text`` (in display order), ``value`` (raw scale value),
    ``count``, and optionally ``section`` (e.g. the category): then one panel per section,
    stacked in one chart (one SVG to render, one legend).
    """
    data = distributions.copy()
    data["item_text"] = [shorten(str(x), LABEL_CHARS) for x in data["item_text"]]
    data["answer"] = [scale_labels[int(v) - scale_min] for v in data["value"]]
    data["order"] = data["value"].astype(int)
    if "section" not in data:
        data["section"] = title or t("report.chart.dist_title", lang)
    sections = []
    for section in dict.fromkeys(data["section"]):
        sub = data[data["section"] == section]
        order = list(dict.fromkeys(sub["item_text"]))
        sections.append((str(section), order, sub[sub["count"] > 0]))
    n_items = sum(len(order) for _, order, _ in sections)

    def panel(section: str, order: list[str], rows: pd.DataFrame) -> alt.Chart:
        return (
            alt.Chart(rows, title=section)
            .mark_bar(stroke="white", strokeWidth=0.5)
            .encode(
                y=alt.Y(
                    "item_text:N",
                    sort=order,
                    title=None,
                    axis=alt.Axis(labelLimit=0, labelFontSize=10),
                ),
                x=alt.X(
                    "sum(count):Q",
                    title=t("report.chart.count", lang),
                    axis=alt.Axis(tickMinStep=1),
                ),
                color=alt.Color(
                    "answer:N",
                    sort=list(scale_labels),
                    title=None,
                    scale=_answer_scale(list(scale_labels)),
                    legend=alt.Legend(columns=4, labelLimit=180),
                ),
                order=alt.Order("order:Q"),
            )
            .properties(width=240, height=max(40, 15 * len(order)))
        )

    def build() -> alt.TopLevelMixin:
        panels = [panel(*x) for x in sections]
        return panels[0] if len(panels) == 1 else alt.vconcat(*panels, spacing=18)

    key = (
        "distribution", lang, tuple(scale_labels),
        tuple((section, tuple(order)) for section, order, _ in sections),
    )  # fmt: skip
    spec = templated_spec(key, [rows for _, _, rows in sections], build)
    name = title or t("report.chart.dist_title", lang)
    desc = t("report.chart.dist_desc", lang, n=n_items)
    return KitChart(None, name, desc, lang, spec)


def cohort_chart(cohort: pd.DataFrame, lang: str, *, scale_min: int, scale_max: int) -> KitChart:
    """The cohort's groups side by side on every dimension.

    ``cohort`` columns: ``dimension_name`` (display order), ``group_name``, ``mean``. Groups under
    the threshold must be left out by the caller (``kit.results`` does).
    """
    order = list(dict.fromkeys(cohort["dimension_name"]))
    groups = list(dict.fromkeys(cohort["group_name"]))
    chart = (
        alt.Chart(cohort.dropna(subset=["mean"]))
        .mark_point(filled=True, size=80, opacity=0.95)
        .encode(
            y=alt.Y("dimension_name:N", sort=order, title=None),
            x=alt.X(
                "mean:Q",
                scale=alt.Scale(domain=[scale_min, scale_max], nice=False),
                title=t("report.chart.mean", lang),
            ),
            color=alt.Color(
                "group_name:N",
                sort=groups,
                title=None,
                scale=alt.Scale(domain=groups, range=list(OKABE_ITO[: len(groups)])),
                legend=alt.Legend(columns=2),
            ),
        )
        .properties(
            width=WIDTH,
            height=max(120, 22 * len(order)),
            title=t("report.chart.cohort_title", lang),
        )
    )
    desc = t("report.chart.cohort_desc", lang, groups=len(groups), n=len(order))
    return KitChart(chart, t("report.chart.cohort_title", lang), desc, lang)


def programme_change_chart(change: pd.DataFrame, lang: str, *, before: str, after: str) -> KitChart:
    """Every group's change per dimension (small dots) and the programme's mean change.

    ``change`` columns: ``dimension_name`` (display order, e.g. largest mean change first),
    ``group_name``, ``change``.
    """
    data = change.dropna(subset=["change"])
    order = list(dict.fromkeys(change["dimension_name"]))
    y = alt.Y("dimension_name:N", sort=order, title=None)
    x_title = t("report.chart.change_axis", lang, before=before, after=after)
    zero = alt.Chart(pd.DataFrame({"x": [0]})).mark_rule(color="#666").encode(x="x:Q")
    groups = (
        alt.Chart(data)
        .mark_tick(color=OKABE_ITO[4], thickness=2, size=12, opacity=0.8)
        .encode(y=y, x=alt.X("change:Q", title=x_title))
    )
    means = (
        alt.Chart(data)
        .mark_point(filled=True, size=110, color=GROUP_COLOUR, opacity=1, shape="diamond")
        .encode(y=y, x="mean(change):Q")
    )
    title = t("report.chart.programme_title", lang, before=before, after=after)
    chart = (zero + groups + means).properties(
        width=WIDTH, height=max(120, 22 * len(order)), title=title
    )
    desc = t("report.chart.programme_desc", lang, groups=data["group_name"].nunique(), n=len(order))
    return KitChart(chart, title, desc, lang)


WAVE_SHAPES = ("circle", "square", "triangle-up", "diamond", "cross", "triangle-down")


def wave_chart(levels: pd.DataFrame, lang: str, *, scale_min: int, scale_max: int) -> KitChart:
    """The group's mean on every dimension in every wave (programme order), one colour and one
    shape per wave (Okabe-Ito; shapes so the waves differ without colour).

    ``levels`` columns: ``dimension_name`` (display order), ``wave_name`` (in wave order),
    ``mean`` (missing where hidden: no dot).
    """
    order = list(dict.fromkeys(levels["dimension_name"]))
    waves = list(dict.fromkeys(levels["wave_name"]))
    data = levels.dropna(subset=["mean"])[["dimension_name", "wave_name", "mean"]]
    title = t("report.chart.waves_title", lang)

    def build() -> alt.TopLevelMixin:
        y = alt.Y("dimension_name:N", sort=order, title=None)
        x = alt.X(
            "mean:Q",
            scale=alt.Scale(domain=_scale_domain(scale_min, scale_max), nice=False),
            title=t("report.chart.mean", lang),
        )
        line = (
            alt.Chart(data)
            .mark_line(color="#BBBBBB", strokeWidth=1)
            .encode(y=y, x=x, detail="dimension_name:N", order="wave_order:O")
            .transform_calculate(wave_order=f"indexof({waves!r}, datum.wave_name)")
        )
        dots = (
            alt.Chart(data)
            .mark_point(filled=True, size=80, opacity=1)
            .encode(
                y=y,
                x=x,
                color=alt.Color(
                    "wave_name:N",
                    sort=waves,
                    title=None,
                    scale=alt.Scale(domain=waves, range=list(OKABE_ITO[: len(waves)])),
                ),
                shape=alt.Shape(
                    "wave_name:N",
                    sort=waves,
                    title=None,
                    scale=alt.Scale(domain=waves, range=list(WAVE_SHAPES[: len(waves)])),
                ),
            )
        )
        return (line + dots).properties(width=WIDTH, height=max(120, 22 * len(order)), title=title)

    key = ("waves", lang, tuple(order), tuple(waves), scale_min, scale_max)
    spec = templated_spec(key, [data], build)
    desc = t("report.chart.waves_desc", lang, n=len(order), waves=", ".join(waves))
    return KitChart(None, title, desc, lang, spec)


def role_chart(roles: pd.DataFrame, lang: str, *, scale_min: int, scale_max: int) -> KitChart:
    """Leaders' and members' mean per dimension (``roles``: ``dimension_name`` in display order,
    ``role_name``, ``mean``; hidden rows without a mean get no dot)."""
    order = list(dict.fromkeys(roles["dimension_name"]))
    sides = list(dict.fromkeys(roles["role_name"]))
    data = roles.dropna(subset=["mean"])[["dimension_name", "role_name", "mean"]]
    x = alt.X(
        "mean:Q",
        scale=alt.Scale(domain=_scale_domain(scale_min, scale_max), nice=False),
        title=t("report.chart.mean", lang),
    )
    title = t("report.chart.roles_title", lang)

    def build() -> alt.TopLevelMixin:
        chart = (
            alt.Chart(data)
            .mark_point(filled=True, size=80, opacity=1)
            .encode(
                y=alt.Y("dimension_name:N", sort=order, title=None),
                x=x,
                color=alt.Color(
                    "role_name:N",
                    sort=sides,
                    title=None,
                    scale=alt.Scale(domain=sides, range=[OKABE_ITO[5], OKABE_ITO[0]]),
                ),
                shape=alt.Shape(
                    "role_name:N",
                    sort=sides,
                    title=None,
                    scale=alt.Scale(domain=sides, range=["square", "circle"]),
                ),
            )  # fmt: skip
        )
        return chart.properties(width=WIDTH, height=max(120, 22 * len(order)), title=title)

    key = ("roles", lang, tuple(order), tuple(sides), scale_min, scale_max)
    spec = templated_spec(key, [data], build)
    return KitChart(None, title, t("report.chart.roles_desc", lang, n=len(order)), lang, spec)


# Heatmap bands: sky blue above the norm (or up), orange below (or down), light grey in between;
# blue/orange stays apart in the common forms of colour blindness, and every cell prints its value.
LEVEL_BANDS = (("strength", OKABE_ITO[4]), ("in_line", "#E3E3E3"), ("development", OKABE_ITO[1]))
CHANGE_BANDS = (("up", OKABE_ITO[4]), ("no_clear", "#E3E3E3"), ("down", OKABE_ITO[1]))
HIDDEN_FILL = "#FFFFFF"


def heatmap_chart(
    cells: pd.DataFrame, lang: str, *, kind: str, title: str, labels: dict[str, str]
) -> KitChart:
    """Groups (rows) x dimensions (columns), each cell coloured by its band and printing its
    value (already formatted in the language: ``label``); hidden cells are white and print a
    short reason mark. ``cells`` columns: group_name, dimension_name (display order), band,
    label, and ``band`` None for hidden or unbanded cells. ``labels``: band -> legend text."""
    bands = LEVEL_BANDS if kind == "level" else CHANGE_BANDS
    data = cells.copy()
    data["band_name"] = [
        labels.get(b, labels["none"]) if isinstance(b, str) else
        labels["hidden"] if isinstance(s, str) else labels["none"]
        for b, s in zip(data["band"], data["suppressed"], strict=True)
    ]  # fmt: skip
    domain = [labels[b] for b, _ in bands] + [labels["none"], labels["hidden"]]
    colours = [c for _, c in bands] + ["#F4F4F4", HIDDEN_FILL]
    cols = list(dict.fromkeys(data["dimension_name"]))
    rows = list(dict.fromkeys(data["group_name"]))
    x = alt.X(
        "dimension_name:N", sort=cols, title=None,
        axis=alt.Axis(orient="top", labelAngle=-50, labelLimit=150, labelFontSize=9),
    )  # fmt: skip
    y = alt.Y("group_name:N", sort=rows, title=None, axis=alt.Axis(labelLimit=160))
    base = alt.Chart(data).encode(x=x, y=y)
    rect = base.mark_rect(stroke="#9A9A9A", strokeWidth=0.5).encode(
        color=alt.Color(
            "band_name:N", title=None, sort=domain,
            scale=alt.Scale(domain=domain, range=colours),
            legend=alt.Legend(orient="bottom", columns=3, symbolType="square"),
        )
    )  # fmt: skip
    text = base.mark_text(fontSize=9, color="#111").encode(text="label:N")
    size = 24
    chart = (rect + text).properties(width=size * len(cols), height=size * len(rows), title=title)
    desc = t(f"report.chart.heatmap_{kind}_desc", lang, groups=len(rows), n=len(cols))
    return KitChart(chart, title, desc, lang)
