"""The group dashboard: a group explores its own results, behind its own key.

The group comes only from the key (``kit.apps.keys.resolve_key``); every value shown comes from
``kit.results.group_results`` (built from privacy-protected scores) and is drawn with
``kit.charts`` as static SVG. ``prepare_dashboard`` runs before a viewer arrives (a preheated
kernel: imports, the store, the scored data, a first chart rendered to warm up ``vl_convert``);
``open_dashboard`` is what ``notebooks/group_dashboard.ipynb`` calls with the viewer's request.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import ipywidgets as w
import pandas as pd

from kit import charts
from kit.apps.keys import KeyGrant, KeyRefused, resolve_key
from kit.apps.view import (
    app_layout,
    esc,
    footer_html,
    group_report_pdf,
    header_box,
    header_html,
    notice_html,
    notice_widget,
    other_language,
    page_notice_html,
    pick_language,
    subtitle_text,
)
from kit.i18n import t
from kit.instrument import Instrument, load_instrument
from kit.results import GroupResults, ScoredData, group_results, load_scored_data
from kit.settings import Settings, load_settings
from kit.store import Store, open_store

COMPARE = ("norm", "cohort", "both")
CACHE_VERSION = "1"  # bump when GroupResults or the charts change shape
WARM_BUDGET_SECONDS = 30.0  # time a preheated kernel may spend filling the cache
log = logging.getLogger("kit.apps.dashboard")
T = TypeVar("T")


@dataclass
class DashboardApp:
    """What the dashboard notebook prepares before a viewer arrives."""

    settings: Settings
    store: Store
    instrument: Instrument
    data: ScoredData | None = None
    version: tuple[Any, ...] = ()

    def scored(self) -> ScoredData:
        """Protected scores of every group, reloaded when the stored data have changed."""
        from kit.store.access import data_version

        version = data_version(self.store)
        if self.data is None or version != self.version:
            self.data = load_scored_data(self.store, self.settings, self.instrument)
            self.version = version
        return self.data


def prepare_dashboard(
    settings: Settings | None = None, *, warm: bool | None = None
) -> DashboardApp:
    """Open the store and score the data (no group is chosen yet).

    ``warm`` (default: when Voilà preheats this kernel, i.e. before any viewer is waiting) also
    starts the chart renderer and fills the shared cache of the keyed groups' first views; a
    kernel started for a waiting viewer skips that and renders only the viewer's group.
    """
    settings = settings or load_settings()
    app = DashboardApp(settings, open_store(settings), load_instrument(settings.instrument))
    app.scored()
    if warm is None:
        warm = os.environ.get("VOILA_PREHEAT", "False") == "True"
    if warm:
        _warm_renderer()
        warm_cache(app)
    return app


def cache_dir(settings: Settings) -> Path:
    return settings.var_dir / "cache" / "dashboard"


def cached(app: DashboardApp, parts: tuple[object, ...], compute: Callable[[], T]) -> T:
    """``compute()``, kept on disk for every kernel of the server under a key of ``parts``.

    ``parts`` always include the data's fingerprint, so new answers, groups or thresholds make
    new entries; what is stored is what the dashboard shows (protected results, charts).
    """
    from kit import __version__

    key = "|".join(map(str, (CACHE_VERSION, __version__, *parts)))
    path = cache_dir(app.settings) / f"{hashlib.sha256(key.encode()).hexdigest()[:40]}.pkl"
    try:
        with path.open("rb") as f:
            return pickle.load(f)  # noqa: S301 - the server's own cache directory
    except FileNotFoundError:
        pass
    except Exception:  # noqa: BLE001 - a damaged entry is recomputed
        log.warning("dashboard cache entry %s unreadable; recomputing", path.name)
    value = compute()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        with tmp.open("wb") as f:
            pickle.dump(value, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except OSError as exc:  # a read-only disk only costs speed
        log.warning("dashboard cache not written: %s", exc)
    return value


def warm_cache(app: DashboardApp, budget: float = WARM_BUDGET_SECONDS) -> int:
    """Compute the first view of every group with an active key (until ``budget`` runs out).

    Runs in preheated kernels before a viewer arrives; the first kernel after a change of the
    data does the work, the others find it done. Returns the number of groups looked at.
    """
    from kit.apps.keys import key_status
    from kit.store.access import list_keys

    start = time.monotonic()
    groups = sorted({r["group_id"] for r in list_keys(app.store) if key_status(r) == "active"})
    done = 0
    for group_id in groups:
        if time.monotonic() - start > budget:
            break
        try:
            group = app.store.get_group(group_id)
            lang = group.get("language") or app.settings.language
            board = GroupDashboard(app, KeyGrant(0, group_id, None), "", lang)
            if board.waves:
                board.results()
                board.profile_svg()
        except Exception:  # noqa: BLE001 - warming is best effort; a viewer sees any real error
            log.exception("warming the dashboard cache for %s failed", group_id)
        done += 1
    return done


def _warm_renderer() -> None:
    """vl_convert's first conversion starts its engine (a second or so): do it before a viewer."""
    frame = pd.DataFrame(
        {
            "dimension_name": ["a"],
            "mean": [4.0],
            "norm_mean": [4.0],
            "norm_low": [3.0],
            "norm_high": [5.0],
        }
    )
    charts.profile_chart(frame, "nb", scale_min=1, scale_max=7).to_svg()


# -- logic, tested without widgets ------------------------------------------------------------
@dataclass
class GroupDashboard:
    """One group's dashboard state: chosen wave, language, comparison and dimension."""

    app: DashboardApp
    grant: KeyGrant
    key: str
    lang: str
    waves: tuple[str, ...] = ()
    wave: str = ""
    compare: str = "both"
    dimension: str = ""
    _cache: dict[tuple[str, str], GroupResults] = field(default_factory=dict)

    def __post_init__(self) -> None:
        data = self.app.scored()
        gw = data.group_waves
        mine = gw[(gw["group_id"] == self.grant.group_id) & (gw["respondents"] > 0)]
        order = list(data.waves.sort_values("ordinal")["id"])
        self.waves = tuple(x for x in order if x in set(mine["wave_id"]))
        self.wave = self.waves[-1] if self.waves else ""
        self.dimension = self.app.instrument.dimension_ids[0]

    @property
    def group_id(self) -> str:
        """The key's group; the only group this dashboard ever reads."""
        return self.grant.group_id

    def results(self, wave: str | None = None) -> GroupResults:
        """Protected results of the key's group for ``wave`` (with change from the first wave)."""
        wave = wave or self.wave
        if (wave, self.lang) not in self._cache:
            waves = [self.waves[0], wave] if self.waves and self.waves[0] != wave else [wave]
            data = self.app.scored()
            self._cache[(wave, self.lang)] = cached(
                self.app,
                ("results", data.data_hash, self.group_id, *waves, self.lang),
                lambda: group_results(
                    self.app.store,
                    self.app.settings,
                    self.group_id,
                    waves,
                    self.lang,
                    self.app.instrument,
                    data=data,
                ),
            )
        return self._cache[(wave, self.lang)]

    def wave_label(self, wave: str) -> str:
        try:
            return t(f"common.wave.{wave}", self.lang)
        except Exception:  # noqa: BLE001 - a wave without a translation shows its id
            return wave

    def profile_frame(self) -> pd.DataFrame:
        res = self.results()
        cols = ["dimension_name", "mean", "norm_mean", "norm_low", "norm_high"]
        frame = res.dimensions[[c for c in cols if c in res.dimensions]].copy()
        if self.compare in ("cohort", "both") and "cohort_mean" in res.dimensions:
            frame["cohort_mean"] = res.dimensions["cohort_mean"]
        if self.compare == "cohort":
            frame[["norm_mean", "norm_low", "norm_high"]] = float("nan")
        return frame

    def profile_svg(self) -> str:
        res = self.results()
        parts = (
            "profile",
            self.app.scored().data_hash,
            self.group_id,
            *res.waves,
            res.wave,
            self.lang,
            self.compare,
        )
        return cached(
            self.app,
            parts,
            lambda: charts.profile_chart(
                self.profile_frame(),
                self.lang,
                scale_min=res.scale_min,
                scale_max=res.scale_max,
                group_name=res.group_name,
            ).to_html(),
        )

    def dimension_items(self) -> pd.DataFrame:
        res = self.results()
        return res.items[res.items["dimension"] == self.dimension].reset_index(drop=True)

    def distribution_svg(self) -> str:
        res = self.results()
        dist = res.distributions[res.distributions["dimension"] == self.dimension]
        title = res.dimension_name(self.dimension)
        return charts.distribution_chart(
            dist[["item_text", "value", "count"]],
            self.lang,
            scale_labels=list(res.scale_labels),
            scale_min=res.scale_min,
            title=title,
        ).to_html()

    def change_svg(self) -> str | None:
        res = self.results()
        if res.change is None or res.change["change"].notna().sum() == 0:
            return None
        return charts.change_chart(
            res.change, self.lang, before=res.baseline_wave_name, after=res.wave_name
        ).to_html()

    def report_url(self) -> str:
        return f"/kit/report?key={self.key}&lang={self.lang}"


def open_group(app: DashboardApp, params: dict[str, str]) -> GroupDashboard:
    """The dashboard of the group the key in ``params`` opens; ``KeyRefused`` otherwise.

    Nothing but ``key`` and ``lang`` is read from the request: a ``group`` or any other name in
    the query string is ignored.
    """
    key = params.get("key", "")
    grant = resolve_key(app.store, key)
    group = app.store.get_group(grant.group_id)
    lang = pick_language(params.get("lang"), group.get("language") or app.settings.language)
    return GroupDashboard(app, grant, key, lang)


# -- the view --------------------------------------------------------------------------------
class DashboardView:
    """Widgets over a ``GroupDashboard``: header, controls, tabs rendered when first opened."""

    TABS = ("profile", "items", "change", "agreement", "comments")

    def __init__(self, board: GroupDashboard) -> None:
        self.board = board
        self.header = w.HTML()
        self.language_button = w.Button(layout=w.Layout(width="auto"))
        self.language_button.on_click(lambda _b: self.set_language(other_language(board.lang)))
        self.download = w.HTML()
        self.wave = w.ToggleButtons(style={"button_width": "auto"})
        self.compare = w.ToggleButtons(style={"button_width": "auto"})
        self.dimension = w.Dropdown(layout=w.Layout(width="320px"))
        self.wave_label, self.compare_label, self.dimension_label = w.HTML(), w.HTML(), w.HTML()
        self.tabs = w.Tab()
        self.panes = {name: w.VBox() for name in self.TABS}
        self.tabs.children = [self.panes[n] for n in self.TABS]
        self._rendered: set[str] = set()
        self._quiet = False
        self.wave.observe(self._on_wave, names="value")
        self.compare.observe(self._on_compare, names="value")
        self.dimension.observe(self._on_dimension, names="value")
        self.tabs.observe(lambda _c: self._render_tab(self.current_tab()), names="selected_index")
        controls = w.HBox(
            [
                w.VBox([self.wave_label, self.wave]),
                w.VBox([self.compare_label, self.compare]),
                w.VBox([self.dimension_label, self.dimension]),
            ]
        )
        controls.add_class("kit-controls")
        self.footer = w.HTML()
        top = header_box(
            self.header,
            w.HBox([self.download, self.language_button], layout=w.Layout(align_items="center")),
        )
        self.widget = w.VBox([top, controls, self.tabs, self.footer], layout=app_layout())
        self.widget.add_class("kit-app")
        self.widget.add_class("kit-dashboard")
        self.refresh()

    def preview_html(self) -> str:
        """The first view (header and profile) as static HTML, shown until the widgets load."""
        profile = "".join(
            f'<div class="kit-card">{c.value}</div>'
            for c in self.panes["profile"].children
            if isinstance(c, w.HTML)
        )
        return (
            f'<div class="kit-preview" data-kit-preview="1">'
            f'<div class="kit-header"><div>{self.header.value}</div></div>'
            f'<div class="kit-controls kit-skeleton"></div><div class="kit-skeleton-tabs"></div>'
            f"{profile}</div>"
        )

    def current_tab(self) -> str:
        return self.TABS[self.tabs.selected_index or 0]

    # -- events -------------------------------------------------------------------------------
    def set_language(self, lang: str) -> None:
        self.board.lang = lang
        self.refresh()

    def _on_wave(self, change: dict) -> None:
        if not self._quiet and change["new"]:
            self.board.wave = change["new"]
            self.refresh()

    def _on_compare(self, change: dict) -> None:
        if not self._quiet and change["new"]:
            self.board.compare = change["new"]
            self._rerender({"profile"})

    def _on_dimension(self, change: dict) -> None:
        if not self._quiet and change["new"]:
            self.board.dimension = change["new"]
            self._rerender({"items"})

    # -- rendering ----------------------------------------------------------------------------
    def refresh(self) -> None:
        """Redraw texts and controls for the current wave and language; tabs lazily."""
        b, lang = self.board, self.board.lang
        res = b.results()
        self._quiet = True
        try:
            self.wave.options = [(b.wave_label(x), x) for x in b.waves]
            self.wave.value = b.wave
            self.compare.options = [(t(f"app.dashboard.compare.{c}", lang), c) for c in COMPARE]
            self.compare.value = b.compare
            self.dimension.options = [(d.name[lang], d.id) for d in b.app.instrument.dimensions]
            self.dimension.value = b.dimension
        finally:
            self._quiet = False
        self.wave_label.value = (
            f'<span class="kit-muted">{esc(t("app.dashboard.wave", lang))}</span>'
        )
        self.compare_label.value = (
            f'<span class="kit-muted">{esc(t("app.dashboard.compare", lang))}</span>'
        )
        self.dimension_label.value = (
            f'<span class="kit-muted">{esc(t("app.dashboard.dimension", lang))}</span>'
        )
        self.header.value = header_html(
            lang, t("app.dashboard.title", lang, group=res.group_name), self._subtitle(res)
        )
        self.language_button.description = t("app.language.toggle", lang)
        if report_exists(b):
            self.download.value = (
                f'<a class="kit-button" href="{esc(b.report_url())}" '
                f"download>{esc(t('app.dashboard.download', lang))}</a>"
            )
        else:
            self.download.value = ""
        for i, name in enumerate(self.TABS):
            self.tabs.set_title(i, t(f"app.dashboard.tab.{name}", lang))
        self.footer.value = footer_html(lang)
        self._rerender(set(self.TABS))

    def _subtitle(self, res: GroupResults) -> str:
        wave = self.board.wave_label(res.wave)
        return subtitle_text(res.organisation, res.respondents, res.invited, wave, self.board.lang)

    def _rerender(self, names: set[str]) -> None:
        self._rendered -= names
        self._render_tab(self.current_tab())

    def _render_tab(self, name: str) -> None:
        if name in self._rendered:
            return
        res = self.board.results()
        if not res.reportable:
            content: list[w.Widget] = [
                w.HTML(
                    notice_html(
                        t("app.dashboard.no_results", self.board.lang),
                        res.suppressed_text,
                        "refused",
                    )
                )
            ]
        else:
            content = getattr(self, f"_tab_{name}")(res)
        self.panes[name].children = content
        self._rendered.add(name)

    def _card(self, html: str) -> w.HTML:
        box = w.HTML(html)
        box.add_class("kit-card")
        return box

    def _tab_profile(self, res: GroupResults) -> list[w.Widget]:
        b, lang = self.board, self.board.lang
        names = {d: res.dimension_name(d) for d in res.dimensions["dimension"]}
        strengths = "".join(f'<span class="kit-pill">{esc(names[d])}</span>' for d in res.strengths)
        develop = "".join(
            f'<span class="kit-pill kit-warn">{esc(names[d])}</span>' for d in res.development_areas
        )
        exercises = "".join(
            f"<li><b>{esc(e['name'])}</b> – {esc(e['description'])}</li>" for e in res.exercises[:4]
        )
        summary = (
            f"<h3>{esc(t('app.dashboard.strengths', lang))}</h3><div>{strengths}</div>"
            f"<h3>{esc(t('app.dashboard.development', lang))}</h3><div>{develop}</div>"
            + (f"<ul class='kit-lead'>{exercises}</ul>" if exercises else "")
        )
        chart = (
            f'<p class="kit-lead">{esc(t("app.dashboard.profile.lead", lang))}</p>'
            f'<div class="kit-chart" data-kit-chart="profile">{b.profile_svg()}</div>'
        )
        return [self._card(chart), self._card(summary)]

    def _tab_items(self, res: GroupResults) -> list[w.Widget]:
        b, lang = self.board, self.board.lang
        dim = b.app.instrument.dimension(b.dimension)
        row = res.dimensions[res.dimensions["dimension"] == b.dimension].iloc[0]
        facts = (
            f'<p class="kit-lead">{esc(dim.description[lang])}</p>'
            f'<table class="kit-table"><tr><th></th><th>{esc(t("report.chart.mean", lang))}</th>'
            f"<th>95 %</th><th>rwg(J)</th><th>n</th></tr><tr><td>{esc(dim.name[lang])}</td>"
            f"<td class='num'>{_num(row.get('mean'))}</td>"
            f"<td class='num'>{_num(row.get('ci_low'))}–{_num(row.get('ci_high'))}</td>"
            f"<td class='num'>{_num(row.get('rwg_j'), 2)}</td>"
            f"<td class='num'>{_int(row.get('n'))}</td></tr></table>"
        )
        items = b.dimension_items()
        lines = "".join(
            f"<tr><td>{esc(r['item_text'])}</td><td class='num'>{_num(r['mean'])}</td>"
            f"<td class='num'>{_num(r['sd'])}</td><td class='num'>{_int(r['n'])}</td></tr>"
            for r in items.to_dict("records")
        )
        table = (
            f'<table class="kit-table"><tr><th></th><th>{esc(t("report.chart.mean", lang))}'
            f"</th><th>sd</th><th>n</th></tr>{lines}</table>"
        )
        chart = (
            f'<p class="kit-lead">{esc(t("app.dashboard.items.lead", lang))}</p>'
            f'<div class="kit-chart" data-kit-chart="distribution">{b.distribution_svg()}</div>'
        )
        return [
            self._card(f"<h2>{esc(dim.name[lang])}</h2>{facts}"),
            self._card(chart),
            self._card(table),
        ]

    def _tab_change(self, res: GroupResults) -> list[w.Widget]:
        lang = self.board.lang
        svg = self.board.change_svg()
        if svg is None:
            why = res.change_text or t("app.dashboard.change.none", lang)
            return [self._card(f'<div class="kit-suppressed">{esc(why)}</div>')]
        return [
            self._card(
                f'<p class="kit-lead">{esc(t("app.dashboard.change.lead", lang))}</p>'
                f'<div class="kit-chart" data-kit-chart="change">{svg}</div>'
            )
        ]

    def _tab_agreement(self, res: GroupResults) -> list[w.Widget]:
        lang = self.board.lang
        d = res.dimensions
        lines = "".join(
            f"<tr><td>{esc(r['dimension_name'])}</td><td class='num'>{_num(r.get('rwg_j'), 2)}</td>"
            f"<td class='num'>{_num(r.get('sd'))}</td><td>"
            + (
                '<span class="kit-pill kit-warn">rwg &lt; 0,70</span>'
                if r.get("disagreement")
                else ""
            )
            + "</td></tr>"
            for r in d.to_dict("records")
        )
        lead = (
            t("app.dashboard.agreement.lead", lang)
            if res.disagreements
            else t("app.dashboard.agreement.none", lang)
        )
        return [
            self._card(
                f'<p class="kit-lead">{esc(lead)}</p><table class="kit-table">'
                f"<tr><th></th><th>rwg(J)</th><th>sd</th><th></th></tr>{lines}</table>"
            )
        ]

    def _tab_comments(self, res: GroupResults) -> list[w.Widget]:
        lang = self.board.lang
        if not res.comments:
            why = res.comments_text or t("app.dashboard.comments.none", lang)
            return [self._card(f'<div class="kit-suppressed">{esc(why)}</div>')]
        blocks = "".join(
            f"<h3>{esc(c['question'])}</h3><ul class='kit-comments'>"
            + "".join(f"<li>{esc(x)}</li>" for x in c["texts"])
            + "</ul>"
            for c in res.comments
        )
        return [self._card(blocks)]


def report_exists(board: GroupDashboard) -> bool:
    return group_report_pdf(board.app.settings, board.group_id, board.lang) is not None


def _num(value: Any, digits: int = 1) -> str:
    if value is None or pd.isna(value):
        return "–"
    return f"{float(value):.{digits}f}"


def _int(value: Any) -> str:
    return "–" if value is None or pd.isna(value) else str(int(value))


def refusal_html(reason: str, lang: str) -> str:
    return page_notice_html(lang, t("app.key.title", lang), t(f"app.key.{reason}", lang))


def open_dashboard(app: DashboardApp, params: dict[str, str], *, preview: bool = True) -> w.Widget:
    """The dashboard for the key in ``params``, or a short refusal without any data.

    With ``preview`` the first view is also displayed as static HTML (see the kit's Voilà
    template), so the profile chart shows before the widgets' scripts have loaded.
    """
    lang = pick_language(params.get("lang"), app.settings.language)
    try:
        board = open_group(app, params)
    except KeyRefused as exc:
        return notice_widget(refusal_html(exc.reason, lang))
    if not board.waves:
        return notice_widget(
            page_notice_html(board.lang, t("app.dashboard.no_results", board.lang), "")
        )
    view = DashboardView(board)
    if preview:
        from IPython.display import HTML, display

        display(HTML(view.preview_html()), metadata={"kit": "static"})
    return view.widget
