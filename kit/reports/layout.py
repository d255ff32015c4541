"""The sections of the reports, as HTML fragments a notebook cell displays.

A report notebook calls one method per section (``report.cover()``, ``report.summary()``, ...);
each returns a :class:`Fragment` (shown by Jupyter through ``_repr_html_``). Every text comes from
``kit/data/i18n/report.yaml``; every number from ``kit.results``; every chart from ``kit.charts``.
A section with nothing to show returns an empty fragment, so an under-threshold group's report
shows no scores anywhere.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Iterable
from typing import Any

import pandas as pd

from kit import charts
from kit.i18n import t
from kit.results import (
    BANDS,
    PARTICIPATION_FLAG,
    CohortResults,
    GroupResults,
    ProgrammeResults,
)


class Fragment(str):
    """HTML that Jupyter displays as such.

    Its plain-text form is its first heading, not the HTML again: IPython would otherwise
    pretty-print the whole page into ``text/plain`` beside ``text/html``, and every message,
    executed notebook and export would carry the section twice."""

    def _repr_html_(self) -> str:
        return str(self)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        return {"text/html": str(self), "text/plain": self.plain_text()}

    def plain_text(self) -> str:
        """The fragment's first heading as text ("kit" if it has none)."""
        heading = _HEADING.search(self)
        plain = html.unescape(re.sub(r"<[^>]+>", "", heading.group(1))).strip() if heading else ""
        return plain or "kit"


_HEADING = re.compile(r"<h[1-3][^>]*>(.*?)</h[1-3]>", re.S)


def _plain_text_in_ipython() -> None:
    """In an IPython kernel, a Fragment's ``text/plain`` is its heading: IPython's plain-text
    formatter knows ``str`` and would take precedence over ``_repr_mimebundle_`` with the
    whole HTML, quoted (70 kB more a report in every message and executed notebook)."""
    import sys

    if "IPython" not in sys.modules:  # not in a kernel: nothing to register (and no import)
        return
    ip = sys.modules["IPython"].get_ipython()
    if ip is not None:
        formatter = ip.display_formatter.formatters["text/plain"]
        formatter.for_type(Fragment, lambda frag, p, cycle: p.text(frag.plain_text()))


_plain_text_in_ipython()


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _num(value: Any, digits: int = 1, signed: bool = False, lang: str = "nb") -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NA:
        return "–"
    text = f"{float(value):+.{digits}f}" if signed else f"{float(value):.{digits}f}"
    text = text.replace("-", "−")
    return text.replace(".", ",") if lang == "nb" else text


def _percent(share: float | None, lang: str) -> str:
    """A share as a whole percent in the language ("58 %")."""
    if share is None:
        return "–"
    return f"{round(100 * float(share))} %"


def _table(header: Iterable[str], rows: Iterable[Iterable[Any]], cls: str = "") -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return (
        f'<table class="kit-table {cls}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table>"
    )


def _p(text: str) -> str:
    return f"<p>{esc(text)}</p>"


def _section(cls: str, title: str, body: str, *, page_break: bool = False) -> Fragment:
    brk = " kit-page-break" if page_break else ""
    heading = f"<h2>{esc(title)}</h2>" if title else ""
    return Fragment(f'<section class="kit-section {cls}{brk}">{heading}{body}</section>')


def _today(lang: str) -> str:
    return _date(dt.date.today().isoformat(), lang)


def _date(iso: str | None, lang: str) -> str:
    if not iso:
        return "–"
    try:
        d = dt.date.fromisoformat(str(iso)[:10])
    except ValueError:
        return esc(iso)
    months = t("report.months", lang).split(",")
    return (
        f"{d.day}. {months[d.month - 1]} {d.year}"
        if lang == "nb"
        else f"{d.day} {months[d.month - 1]} {d.year}"
    )


def _publication(version: Any, published_at: str | None, lang: str) -> str:
    """The publication line ("Version 2, published 3 March 2026"), or "not published yet"."""
    if not version or not published_at:
        return t("report.cover.not_published", lang)
    return t("report.cover.version", lang, version=version, date=_date(published_at, lang))


def _percentile_phrase(p: Any, lang: str) -> str:
    if p is None or pd.isna(p):
        return t("report.summary.no_norm", lang)
    return t("report.summary.percentile", lang, p=round(float(p)))


class _Report:
    """What every report has: its results, its language and how it was made."""

    def __init__(self, res: Any, provenance: dict[str, Any] | None = None) -> None:
        self.res = res
        self.lang = res.language
        self.provenance = provenance or {}

    def _t(self, key: str, **fields: Any) -> str:
        return t(f"report.{key}", self.lang, **fields)


class GroupReport(_Report):
    """The sections of one group's report."""

    res: GroupResults

    # -- sections -----------------------------------------------------------------------------
    def cover(self) -> Fragment:
        r, _ = self.res, self._t
        facts = [
            (_("cover.organisation"), esc(r.organisation)),
            (_("cover.cohort"), esc(r.cohort_name) if r.cohort_name else "–"),
            (_("cover.wave"), esc(r.wave_name)),
            (_("cover.survey_date"), _date(r.survey_date, self.lang)),
            (
                _("cover.respondents"),
                esc(_("cover.n_of", n=r.respondents, invited=r.invited if r.invited else "–")),
            ),
            (_("cover.report_date"), _today(self.lang)),
            (_("cover.published"), esc(_publication(r.version, r.published_at, self.lang))),
        ]
        if r.participation is not None:
            facts.insert(5, (_("participation.label"), self._participation()))
        rows = "".join(f"<tr><th>{esc(k)}</th><td>{v}</td></tr>" for k, v in facts)
        notice = ""
        if not r.reportable and not getattr(r, "published", True):
            notice = (
                f'<div class="kit-notice kit-suppressed"><h2>{esc(_("unpublished.title"))}</h2>'
                f"{_p(r.suppressed_text)}"
                f"{_p(_('unpublished.body', n=r.respondents))}</div>"
            )
        elif not r.reportable:
            notice = (
                f'<div class="kit-notice kit-suppressed"><h2>{esc(_("suppressed.title"))}</h2>'
                f"{_p(r.suppressed_text)}"
                f"{_p(_('suppressed.body', n=r.respondents, min_n=r.min_respondents))}</div>"
            )
        return Fragment(
            f'<section class="kit-cover" data-lang="{self.lang}">'
            f'<p class="kit-kicker">{esc(r.instrument_name)} · {esc(_("cover.kind"))}</p>'
            f"<h1>{esc(r.group_name)}</h1>"
            f'<p class="kit-subtitle">{esc(_("cover.subtitle", wave=r.wave_name))}</p>'
            f'<table class="kit-facts">{rows}</table>{notice}</section>'
        )

    def _participation(self) -> str:
        """ "7 of 12 invited (58 %)" and, under ``PARTICIPATION_FLAG``, the read-with-care flag."""
        r = self.res
        share = _percent(r.participation, self.lang)
        text = esc(self._t("participation.share", share=share))
        if r.low_participation:
            flag = self._t("participation.low", limit=_percent(PARTICIPATION_FLAG, self.lang))
            text += f' <strong class="kit-flag kit-participation-low">{esc(flag)}</strong>'
        return text

    def how_to_read(self) -> Fragment:
        _ = self._t
        lo, hi, min_n = self.res.scale_min, self.res.scale_max, self.res.min_respondents
        items = "".join(
            f"<li>{esc(_(f'how.{k}', lo=lo, hi=hi, min_n=min_n))}</li>"
            for k in ("scale", "norm", "agreement", "anonymity", "conversation")
        )
        items += f"<li>{esc(_('band.how'))}</li>"
        return _section("kit-how", _("how.title"), f'<ul class="kit-how-list">{items}</ul>')

    def summary(self) -> Fragment:
        r, _ = self.res, self._t
        if not r.reportable:
            return Fragment("")
        d = r.dimensions.set_index("dimension")

        def bullet(did: str) -> str:
            row = d.loc[did]
            band = row.get("band")
            word = f" ({esc(_(f'band.{band}'))})" if isinstance(band, str) else ""
            return (
                f"<li><strong>{esc(row['dimension_name'])}</strong> "
                f"<span class='kit-num'>{_num(row['mean'], lang=self.lang)}</span> – "
                f"{esc(_percentile_phrase(row.get('percentile'), self.lang))}{word}"
                f"<br><span class='kit-muted'>{esc(row['description'])}</span></li>"
            )

        parts = [f"<p>{esc(_('summary.intro', n=r.respondents, norm=r.norm_groups))}</p>"]
        if r.low_participation:
            parts.append(
                f'<p class="kit-flag kit-participation-low">'
                f"{esc(_('participation.summary', share=_percent(r.participation, self.lang)))} "
                f"{esc(_('participation.low', limit=_percent(PARTICIPATION_FLAG, self.lang)))}</p>"
            )
        parts.append(self._bands_text())
        parts.append('<div class="kit-columns">')
        parts.append(
            f'<div class="kit-box kit-strengths"><h3>{esc(_("summary.strengths"))}</h3>'
            f"<ul>{''.join(bullet(x) for x in r.strengths)}</ul></div>"
        )
        parts.append(
            f'<div class="kit-box kit-development"><h3>{esc(_("summary.development"))}</h3>'
            f"<ul>{''.join(bullet(x) for x in r.development_areas)}</ul></div>"
        )
        parts.append("</div>")
        if r.change is not None and r.change["change"].notna().any():
            ch = r.change.dropna(subset=["change"]).sort_values("change", ascending=False)
            up = ch[ch["ci_low"] > 0]
            down = ch[ch["ci_high"] < 0]
            most = ", ".join(ch["dimension_name"].head(2))
            text = _(
                "summary.change",
                before=r.baseline_wave_name,
                after=r.wave_name,
                up=len(up),
                down=len(down),
                n=len(ch),
            )
            if len(ch):
                text += " " + _("summary.change_most", names=most)
            parts.append(_p(text))
        if r.disagreements:
            names = ", ".join(r.dimension_name(x) for x in r.disagreements)
            parts.append(f'<p class="kit-flag">{esc(_("summary.disagreement", names=names))}</p>')
        else:
            parts.append(f"<p>{esc(_('summary.agreement_ok'))}</p>")
        # The summary shares the first page with the cover; the profile fills the second.
        return _section("kit-summary", _("summary.title"), "".join(parts))

    def _norm_sentence(self, groups: int) -> str:
        """Which norm is used and how many groups it holds (and whether it is fixed)."""
        r, _ = self.res, self._t
        used = _(
            "norm.used",
            base=_("method.norm_base." + r.norm_base),
            wave=r.norm_wave_name or r.wave_name,
            n=groups,
        )
        fixed = _("norm.fixed", wave=r.norm_wave_name) if r.norm_fixed else _("norm.same_wave")
        return used + " " + fixed

    def _bands_text(self) -> str:
        """The dimensions by band in words, and "even your weakest ... above most of the norm"."""
        r, _ = self.res, self._t
        d = r.dimensions
        if "band" not in d or not d["band"].notna().any():
            return ""
        out = []
        for band in BANDS:
            names = list(d.loc[d["band"] == band, "dimension_name"])
            if names:
                out.append(
                    f"<li><strong>{esc(_(f'band.{band}_title', n=len(names)))}</strong> "
                    f"{esc(', '.join(names))}</li>"
                )
        text = f'<ul class="kit-bands">{"".join(out)}</ul>'
        if r.above_most_of_norm:
            text = f'<p class="kit-above-norm">{esc(_("band.above_most"))}</p>' + text
        return text

    def profile(self) -> Fragment:
        r, _ = self.res, self._t
        if not r.reportable:
            return Fragment("")
        chart = charts.profile_chart(
            r.dimensions,
            self.lang,
            scale_min=r.scale_min,
            scale_max=r.scale_max,
            group_name=r.group_name,
        )
        rows = []
        category = None
        for row in r.dimensions.to_dict("records"):
            if row["category"] != category:
                category = row["category"]
                rows.append([f"<em>{esc(row['category_name'])}</em>", "", "", "", "", "", ""])
            flag = (
                f'<span class="kit-flag-dot" title="{esc(_("profile.low_agreement"))}">●</span>'
                if row.get("disagreement")
                else ""
            )
            if isinstance(row.get("suppressed"), str):
                rows.append(
                    [
                        esc(row["dimension_name"]),
                        f'<span class="kit-muted">{esc(row.get("suppressed_text", ""))}</span>',
                        "",
                        "",
                        "",
                        "",
                        "",
                    ]
                )
                continue
            band = row.get("band")
            rows.append(
                [
                    esc(row["dimension_name"]),
                    _num(row["mean"], lang=self.lang),
                    _num(row.get("norm_mean"), lang=self.lang),
                    "–" if pd.isna(row.get("percentile")) else f"{round(row['percentile'])}",
                    _num(row.get("cohort_mean"), lang=self.lang),
                    f"{_num(row.get('rwg_j'), 2, lang=self.lang)} {flag}",
                    f'<span class="kit-band kit-band-{band}">{esc(_(f"band.{band}"))}</span>'
                    if isinstance(band, str)
                    else "–",
                ]
            )
        table = _table(
            [
                _("profile.dimension"),
                _("profile.mean"),
                _("profile.norm_mean"),
                _("profile.percentile"),
                _("profile.cohort_mean"),
                _("profile.rwg"),
                _("band.column"),
            ],
            rows,
            "kit-profile-table kit-small kit-breakable",
        )
        intro = (
            f"<p>{esc(_('profile.intro', norm=r.norm_groups, cohort=r.cohort_groups_shown))}</p>"
            f'<p class="kit-norm-used">{esc(self._norm_sentence(r.norm_groups))}</p>'
        )
        if r.comparison_text:
            intro += f'<p class="kit-muted">{esc(r.comparison_text)}</p>'
        return _section(
            "kit-profile", _("profile.title"), intro + chart.to_html() + table, page_break=True
        )

    def change(self) -> Fragment:
        r, _ = self.res, self._t
        if not r.reportable or len(r.waves) < 2:
            return Fragment("")
        if r.change is None or not r.change["change"].notna().any():
            return _section(
                "kit-change",
                _("change.title"),
                f"<p>{esc(r.change_text or _('change.none'))}</p>",
                page_break=True,
            )
        chart = charts.change_chart(
            r.change, self.lang, before=r.baseline_wave_name, after=r.wave_name
        )
        rows = [
            [
                esc(x["dimension_name"]),
                _num(x["mean_before"], lang=self.lang),
                _num(x["mean_after"], lang=self.lang),
                _num(x["change"], signed=True, lang=self.lang),
                f"{_num(x['ci_low'], signed=True, lang=self.lang)} – "
                f"{_num(x['ci_high'], signed=True, lang=self.lang)}",
            ]
            if not isinstance(x.get("suppressed"), str)
            else [
                esc(x["dimension_name"]),
                f'<span class="kit-muted">{esc(x.get("suppressed_text", ""))}</span>',
                "",
                "",
                "",
            ]
            for x in r.change.to_dict("records")
        ]
        table = _table(
            [
                _("profile.dimension"),
                r.baseline_wave_name,
                r.wave_name,
                _("change.change"),
                _("change.ci"),
            ],
            rows,
        )
        intro = f"<p>{esc(_('change.intro', before=r.baseline_wave_name, after=r.wave_name))}</p>"
        return _section(
            "kit-change", _("change.title"), intro + chart.to_html() + table, page_break=True
        )

    def roles(self) -> Fragment:
        """Leader vs members where the engine's rule allows it, else why not (no numbers)."""
        r, _ = self.res, self._t
        if not r.reportable:
            return Fragment("")
        if r.roles is None or r.roles.empty:
            body = f'<p class="kit-roles-refused">{esc(r.roles_text)}</p>'
            return _section("kit-roles", _("roles.title"), body)
        ro = r.roles.assign(role_name=[_(f"roles.{x}") for x in r.roles["role"]])
        chart = charts.role_chart(
            ro.sort_values(["order", "role"]), self.lang,
            scale_min=r.scale_min, scale_max=r.scale_max,
        )  # fmt: skip
        by = {(x["dimension"], x["role"]): x for x in ro.to_dict("records")}
        rows = []
        for d in r.dimensions.to_dict("records"):
            lead, memb = by.get((d["dimension"], "leader")), by.get((d["dimension"], "member"))
            if lead is None or memb is None or isinstance(lead.get("suppressed"), str):
                text = (lead or {}).get("suppressed_text") or ""
                rows.append(
                    [
                        esc(d["dimension_name"]),
                        f'<span class="kit-muted">{esc(text)}</span>',
                        "",
                        "",
                    ]
                )
                continue
            diff = float(memb["mean"]) - float(lead["mean"])
            rows.append(
                [
                    esc(d["dimension_name"]),
                    _num(lead["mean"], lang=self.lang),
                    _num(memb["mean"], lang=self.lang),
                    _num(diff, signed=True, lang=self.lang),
                ]
            )
        table = _table(
            [_("profile.dimension"), _("roles.leader"), _("roles.member"), _("roles.difference")],
            rows,
            "kit-small",
        )
        body = f"<p>{esc(_('roles.intro'))}</p>{chart.to_html()}{table}"
        return _section("kit-roles", _("roles.title"), body, page_break=True)

    def waves(self) -> Fragment:
        """Every wave in programme order (three or more): the mean per wave, the change between
        consecutive waves and from the first to the last, each with its interval."""
        r, _ = self.res, self._t
        lv, ch = r.wave_levels, r.wave_changes
        if not r.reportable or len(r.waves) < 3 or lv is None or ch is None or lv.empty:
            return Fragment("")
        names = list(dict.fromkeys(lv["wave_name"]))
        chart = charts.wave_chart(
            lv.sort_values(["order", "wave_order"]), self.lang,
            scale_min=r.scale_min, scale_max=r.scale_max,
        )  # fmt: skip
        pairs = list(dict.fromkeys(zip(ch["before_name"], ch["after_name"], strict=True)))
        mean = {(x["dimension"], x["wave_name"]): x for x in lv.to_dict("records")}
        step = {
            (x["dimension"], x["before_name"], x["after_name"]): x for x in ch.to_dict("records")
        }

        def level(x: dict[str, Any]) -> str:
            if isinstance(x.get("suppressed"), str):
                return f'<span class="kit-muted" title="{esc(x["suppressed_text"])}">–</span>'
            return _num(x["mean"], lang=self.lang)

        def change(x: dict[str, Any]) -> str:
            if isinstance(x.get("suppressed"), str):
                return f'<span class="kit-muted" title="{esc(x["suppressed_text"])}">–</span>'
            return (
                f"{_num(x['change'], signed=True, lang=self.lang)}"
                f'<br><span class="kit-muted">{_num(x["ci_low"], signed=True, lang=self.lang)}'
                f" – {_num(x['ci_high'], signed=True, lang=self.lang)}</span>"
            )

        rows = []
        for d in r.dimensions.to_dict("records"):
            did = d["dimension"]
            rows.append(
                [esc(d["dimension_name"])]
                + [level(mean[(did, w)]) for w in names]
                + [change(step[(did, a, b)]) for a, b in pairs]
            )
        header = [_("profile.dimension"), *names] + [
            _("waves.step", before=a, after=b) for a, b in pairs
        ]
        notes = []
        for w in names:
            hidden = lv[(lv["wave_name"] == w) & lv["suppressed"].notna()]
            if len(hidden) == len(r.dimensions):
                reason = hidden["suppressed_text"].iloc[0]
                notes.append(
                    f'<p class="kit-muted">{esc(_("waves.hidden_wave", wave=w, reason=reason))}</p>'
                )
        body = (
            f"<p>{esc(_('waves.intro', names=' → '.join(names)))}</p>{chart.to_html()}"
            + "".join(notes)
            + _table(header, rows, "kit-small kit-waves-table")
        )
        return _section("kit-waves", _("waves.title"), body, page_break=True)

    def disagreement(self) -> Fragment:
        r, _ = self.res, self._t
        if not r.reportable:
            return Fragment("")
        if not r.disagreements:
            body = f"<p>{esc(_('disagreement.none'))}</p>"
        else:
            d = r.dimensions.set_index("dimension")
            items = []
            for did in r.disagreements:
                row = d.loc[did]
                items.append(
                    f"<li><strong>{esc(row['dimension_name'])}</strong> "
                    f"(r<sub>wg(J)</sub> = {_num(row['rwg_j'], 2, lang=self.lang)}): "
                    f"{esc(_('disagreement.question', name=row['dimension_name']))}</li>"
                )
            body = f"<p>{esc(_('disagreement.intro'))}</p><ul>{''.join(items)}</ul>"
        return _section("kit-disagreement", _("disagreement.title"), body)

    def distributions(self) -> Fragment:
        r, _ = self.res, self._t
        if not r.reportable or r.distributions.empty:
            return Fragment("")
        dims = r.dimensions[["dimension", "category", "category_name", "order"]]
        dist = r.distributions.merge(dims, on="dimension", how="left")
        parts = [f"<p>{esc(_('distributions.intro'))}</p>"]
        if "suppressed" in r.items:
            hidden = r.items[r.items["suppressed"].notna()]
            if len(hidden):
                names = "; ".join(str(x) for x in hidden["item_text"])
                parts.append(
                    f'<p class="kit-muted">{esc(_("distributions.hidden", n=len(hidden)))} '
                    f"{esc(names)}</p>"
                )
        dist = dist.sort_values(["order", "item"], kind="stable")
        dist["section"] = dist["category_name"]
        # Panels of whole categories, about 30 statements per chart (one A4 page each).
        chunk: list[str] = []
        size = 0
        chunks: list[list[str]] = []
        for cat_id in dict.fromkeys(dist["category"]):
            n = dist.loc[dist["category"] == cat_id, "item"].nunique()
            if chunk and size + n > 30:
                chunks.append(chunk)
                chunk, size = [], 0
            chunk.append(cat_id)
            size += n
        if chunk:
            chunks.append(chunk)
        for cats in chunks:
            sub = dist[dist["category"].isin(cats)]
            chart = charts.distribution_chart(
                sub[["item_text", "value", "count", "section"]],
                self.lang,
                scale_labels=list(r.scale_labels),
                scale_min=r.scale_min,
            )
            parts.append(chart.to_html())
        return _section(
            "kit-distributions", _("distributions.title"), "".join(parts), page_break=True
        )

    def comments(self) -> Fragment:
        r, _ = self.res, self._t
        if not r.reportable:
            return Fragment("")
        if not r.comments:
            return _section("kit-comments", _("comments.title"), f"<p>{esc(r.comments_text)}</p>")
        parts = [f"<p>{esc(_('comments.intro'))}</p>"]
        for q in r.comments:
            quotes = "".join(f"<blockquote>{esc(x)}</blockquote>" for x in q["texts"])
            parts.append(f"<h3>{esc(q['question'])}</h3>{quotes}")
        return _section("kit-comments", _("comments.title"), "".join(parts), page_break=True)

    def exercises(self) -> Fragment:
        r, _ = self.res, self._t
        if not r.reportable or not r.exercises:
            return Fragment("")
        cards = "".join(
            f'<div class="kit-card"><h3>{esc(e["name"])}</h3><p>{esc(e["description"])}</p>'
            f'<p class="kit-muted">{esc(_("exercises.for", names=", ".join(e["dimensions"])))}'
            f"{' · ' + esc(_('exercises.live')) if e['live'] else ''}</p></div>"
            for e in r.exercises
        )
        return _section(
            "kit-exercises", _("exercises.title"), f"<p>{esc(_('exercises.intro'))}</p>{cards}"
        )

    def actions(self) -> Fragment:
        r, _ = self.res, self._t
        if not r.reportable or r.actions is None or r.actions.empty:
            return Fragment("")
        a = r.actions
        cols = [c for c in ("action", "owner", "due_date", "dimension", "status") if c in a]
        names = {c: _(f"actions.{c}") for c in cols}
        dim_names = dict(
            zip(r.dimensions["dimension"], r.dimensions["dimension_name"], strict=True)
        )
        statuses = {"open", "in_progress", "done", "dropped"}

        def cell(rec: dict[str, Any], c: str) -> str:
            value = rec.get(c)
            if c == "dimension":
                value = dim_names.get(value, value or "")
            elif c == "status" and value in statuses:
                value = _(f"actions.status.{value}")
            elif c == "due_date":
                value = _date(value, self.lang) if value else ""
            return esc(value)

        rows = [[cell(rec, c) for c in cols] for rec in a.to_dict("records")]
        return _section(
            "kit-actions",
            _("actions.title"),
            f"<p>{esc(_('actions.intro'))}</p>" + _table([names[c] for c in cols], rows),
        )

    def decisions(self) -> Fragment:
        """The decision reviews the group ran in live sessions (``kit.live.report_data``: only
        decisions at least ``min_respondents`` of the group marked): breadth and the share of
        members marking each perspective or source of knowledge."""
        r, _ = self.res, self._t
        d = getattr(r, "decision_reviews", None)
        if not r.reportable or d is None or d.empty:
            return Fragment("")
        base = ("session_id", "round", "opened_at", "decision", "n", "breadth")
        sources = [c for c in d.columns if c not in base]  # kit.live.rounds.DECISION_SOURCES
        header = [_("decisions.decision"), _("decisions.n"), _("decisions.breadth")] + [
            t(f"live.decision.{c}", self.lang) for c in sources
        ]
        rows = [
            [esc(rec["decision"]), esc(int(rec["n"])), _percent(rec["breadth"], self.lang)]
            + [_percent(rec[c], self.lang) for c in sources]
            for rec in d.to_dict("records")
        ]
        overall = _("decisions.overall", breadth=_percent(float(d["breadth"].mean()), self.lang))
        return _section(
            "kit-decisions",
            _("decisions.title"),
            f"<p>{esc(_('decisions.intro'))}</p>"
            + _table(header, rows, "kit-small")
            + f"<p>{esc(overall)}</p>",
        )

    def appendix(self) -> Fragment:
        r, _ = self.res, self._t
        m = r.method
        parts = [
            _p(_("method.scale", lo=r.scale_min, hi=r.scale_max, options=m.get("options", ""))),
            _p(_("method.anonymity", min_n=r.min_respondents, min_c=r.min_comment_respondents)),
        ]
        if r.reportable:
            parts += [
                f"<p>{esc(_('method.mean'))}</p>",
                f"<p>{esc(_('method.ci'))}</p>",
                '<p class="kit-formula">r<sub>wg(J)</sub> = J(1 − s̄²/σ²<sub>EU</sub>) / '
                "[J(1 − s̄²/σ²<sub>EU</sub>) + s̄²/σ²<sub>EU</sub>], σ²<sub>EU</sub> = (A² − 1)/12"
                f" = {_num(m.get('null_variance'), 1, lang=self.lang)}</p>",
                _p(
                    _("method.rwg", threshold=_num(m.get("agreement_threshold"), 2, lang=self.lang))
                ),
                _p(self._norm_sentence(m.get("norm_groups", 0)) + " " + _("norm.percentile")),
                f"<p>{esc(_('method.reliability'))}</p>",
            ]
            table = m.get("table")
            if table is not None and len(table):
                rows = [
                    [
                        esc(x["dimension_name"]),
                        _num(x.get("alpha_all"), 2, lang=self.lang),
                        _num(x.get("icc1"), 2, lang=self.lang),
                        _num(x.get("icc2"), 2, lang=self.lang),
                        esc("" if pd.isna(x.get("groups", float("nan"))) else int(x["groups"])),
                    ]
                    for x in table.to_dict("records")
                ]
                parts.append(
                    _table(
                        [_("profile.dimension"), "α", "ICC(1)", "ICC(2)", _("method.groups")],
                        rows,
                        "kit-small",
                    )
                )
        prov = self.provenance
        if prov:
            made = _(
                "method.provenance",
                kit=prov.get("kit_version", ""),
                instrument=r.instrument_id,
                version=r.instrument_version,
                data=str(prov.get("data_hash", ""))[:12],
            )
            parts.append(f'<p class="kit-muted">{esc(made)}</p>')
        return _section("kit-appendix", _("method.title"), "".join(parts), page_break=True)

    def all_sections(self) -> list[Fragment]:
        return [
            self.cover(),
            self.summary(),
            self.profile(),
            self.how_to_read(),
            self.roles(),
            self.change(),
            self.waves(),
            self.disagreement(),
            self.distributions(),
            self.comments(),
            self.exercises(),
            self.actions(),
            self.decisions(),
            self.appendix(),
        ]


# Marks for hidden heatmap cells (explained under the heatmap in words).
REASON_MARKS = {"too_few": "×", "not_published": "○", "changed": "Δ", "comparison": "…",
                "subgroup": "s", "comments": "c"}  # fmt: skip


HEATMAP_BANDS = {
    "level": ("strength", "in_line", "development"),
    "change": ("up", "no_clear", "down"),
}


def _heatmap_block(cells: pd.DataFrame | None, kind: str, title: str, lang: str) -> str:
    """One heatmap (level or change) as a table the A4 page holds: a row per group (its whole
    name, wrapped), a column per dimension (upright header), each cell coloured by its band
    (Okabe-Ito sky blue / grey / orange, as ``kit.charts.LEVEL_BANDS``) and printing its value
    in ``lang``; a hidden cell prints only the mark of its reason, explained below the table."""
    if cells is None or cells.empty:
        return ""
    signed = kind == "change"
    names = HEATMAP_BANDS[kind]
    labels = {
        b: t(f"report.band.{b}", lang) if kind == "level" else t(f"report.heatmap.{b}", lang)
        for b in names
    }
    labels["none"] = t("report.heatmap.none", lang)
    labels["hidden"] = t("report.heatmap.hidden", lang)
    dims = list(dict.fromkeys(cells["dimension_name"]))
    groups = list(dict.fromkeys(cells["group_name"]))
    by = {(c["group_name"], c["dimension_name"]): c for c in cells.to_dict("records")}

    def cell(c: dict[str, Any] | None) -> str:
        if c is None:
            return '<td class="kit-hm kit-hm-none"></td>'
        reason = c.get("suppressed")
        if isinstance(reason, str):
            mark = REASON_MARKS.get(reason, "?")
            return (
                f'<td class="kit-hm kit-hm-hidden" title="{esc(c.get("suppressed_text", ""))}">'
                f"{esc(mark)}</td>"
            )
        band = c.get("band")
        band = band if isinstance(band, str) and band in labels else "none"
        return (
            f'<td class="kit-hm kit-hm-{band}" title="{esc(labels[band])}">'
            f"{_num(c.get('value'), 1, signed, lang)}</td>"
        )

    head = "".join(f'<th scope="col" class="kit-hm-dim"><span>{esc(d)}</span></th>' for d in dims)
    rows = "".join(
        f'<tr><th scope="row" class="kit-hm-group">{esc(g)}</th>'
        + "".join(cell(by.get((g, d))) for d in dims)
        + "</tr>"
        for g in groups
    )
    table = (
        f'<table class="kit-heatmap kit-heatmap-{kind}"><caption>{esc(title)}</caption>'
        f'<thead><tr><th scope="col" class="kit-hm-corner">{esc(t("report.heatmap.group", lang))}'
        f"</th>{head}</tr></thead><tbody>{rows}</tbody></table>"
    )
    key = "".join(
        f'<li><span class="kit-hm-swatch kit-hm-{b}" aria-hidden="true"></span>'
        f"{esc(labels[b])}</li>"
        for b in (*names, "none", "hidden")
    )
    desc = t(f"report.chart.heatmap_{kind}_desc", lang, groups=len(groups), n=len(dims))
    hidden = cells[cells["suppressed"].notna()]
    legend = "".join(
        f"<li><strong>{esc(REASON_MARKS.get(r, '?'))}</strong> {esc(text)}</li>"
        for r, text in dict(
            zip(hidden["suppressed"], hidden["suppressed_text"], strict=True)
        ).items()
    )
    return (
        f'<figure class="kit-heatmap-figure"><div class="kit-hm-scroll" tabindex="0" '
        f'role="region" aria-label="{esc(title)}">{table}</div><ul class="kit-hm-key">{key}</ul>'
        f"<figcaption>{esc(desc)}</figcaption></figure>"
        + (f'<ul class="kit-marks">{legend}</ul>' if legend else "")
    )


def _heatmaps(res: Any, before: str, after: str, lang: str) -> Fragment:
    """Both heatmaps of a cohort or programme report, in one section."""
    if res.heatmap is None or res.heatmap.empty:
        return Fragment("")
    parts = [f"<p>{esc(t('report.heatmap.intro', lang))}</p>"]
    parts.append(
        _heatmap_block(
            res.heatmap, "level", t("report.heatmap.level_title", lang, wave=after), lang
        )
    )
    if res.change_heatmap is not None and len(res.change_heatmap):
        parts.append('<div class="kit-page-break">')
        parts.append(
            _heatmap_block(
                res.change_heatmap,
                "change",
                t("report.heatmap.change_title", lang, before=before, after=after),
                lang,
            )  # fmt: skip
        )
        parts.append("</div>")
    return _section("kit-heatmaps", t("report.heatmap.section", lang), "".join(parts),
                    page_break=True)  # fmt: skip


def _participation(res: Any, lang: str) -> Fragment:
    """Responses of invited per group (rows) and wave (columns), flagged under 60 %."""
    p = res.participation
    if p is None or p.empty:
        return Fragment("")
    waves = list(dict.fromkeys(p["wave_name"]))
    cell = {(x["group_name"], x["wave_name"]): x for x in p.to_dict("records")}
    rows = []
    for g in dict.fromkeys(p["group_name"]):
        row = [esc(g)]
        for w in waves:
            x = cell.get((g, w))
            if x is None:
                row.append("–")
                continue
            text = esc(t("report.cover.n_of", lang, n=x["respondents"],
                         invited=x["invited"] if x["invited"] else "–"))  # fmt: skip
            if x["share"] is not None:
                text += f" ({_percent(x['share'], lang)})"
            if x["low"]:
                flag = esc(t("report.participation.flag", lang))
                text += f' <strong class="kit-flag kit-participation-low">{flag}</strong>'
            row.append(text)
        rows.append(row)
    intro = t("report.participation.intro", lang, limit=_percent(PARTICIPATION_FLAG, lang))
    body = f"<p>{esc(intro)}</p>"
    body += _table([t("report.cohort.group", lang), *waves], rows, "kit-small")
    return _section("kit-participation", t("report.participation.title", lang), body)


class CohortReport(_Report):
    """The sections of a cohort report."""

    res: CohortResults

    def cover(self) -> Fragment:
        r, _ = self.res, self._t
        rows = [
            [
                esc(g["group_name"]),
                esc(g["wave_name"]),
                esc(_("cover.n_of", n=g["respondents"], invited=g["invited"] or "–")),
                esc(_("cohort.shown"))
                if g["shown"]
                else f'<span class="kit-muted">{esc(g["note"])}</span>',
            ]
            for g in r.groups.to_dict("records")
        ]
        table = _table(
            [_("cohort.group"), _("cover.wave"), _("cover.respondents"), _("cohort.status")], rows
        )
        subtitle = _(
            "cohort.subtitle", n=r.groups["group_id"].nunique(), report_date=_today(self.lang)
        )
        return Fragment(
            f'<section class="kit-cover" data-lang="{self.lang}">'
            f'<p class="kit-kicker">{esc(r.programme)} · {esc(_("cohort.kind"))}</p>'
            f"<h1>{esc(r.cohort_name)}</h1>"
            f'<p class="kit-subtitle">{esc(subtitle)}</p>'
            f"{table}<p>{esc(_('cohort.intro', min_n=r.min_respondents))}</p>"
            f"<p>{esc(_('cover.published_until', date=_date(r.published_at, self.lang)))}</p>"
            "</section>"
        )

    def side_by_side(self) -> Fragment:
        r, _ = self.res, self._t
        parts = []
        for w, name in zip(r.waves, r.wave_names, strict=True):
            data = r.side_by_side.get(w)
            if data is None or data.empty:
                parts.append(f"<h3>{esc(name)}</h3><p>{esc(_('cohort.none_shown'))}</p>")
                continue
            chart = charts.cohort_chart(
                data, self.lang, scale_min=r.scale_min, scale_max=r.scale_max
            )
            wide = (
                data.pivot_table(
                    index=["order", "dimension_name"], columns="group_name", values="mean"
                )
                .reset_index()
                .sort_values("order")
            )
            groups = [c for c in wide.columns if c not in ("order", "dimension_name")]
            rows = [
                [esc(x["dimension_name"])] + [_num(x[g], lang=self.lang) for g in groups]
                for x in wide.to_dict("records")
            ]
            parts.append(
                f'<div class="{"kit-page-break" if parts else ""}"><h3>{esc(name)}</h3>'
                f"{chart.to_html()}"
                f"{_table([_('profile.dimension'), *groups], rows, 'kit-small')}</div>"
            )
        return _section("kit-cohort", _("cohort.title"), "".join(parts), page_break=True)

    def change(self) -> Fragment:
        r, _ = self.res, self._t
        if r.change is None or r.change.empty:
            return Fragment("")
        chart = charts.programme_change_chart(
            r.change, self.lang, before=r.wave_names[0], after=r.wave_names[-1]
        )
        return _section("kit-change", _("cohort.change_title"), chart.to_html(), page_break=True)

    def heatmaps(self) -> Fragment:
        r = self.res
        return (
            _heatmaps(r, r.wave_names[0], r.wave_names[-1], self.lang)
            if r.wave_names
            else Fragment("")
        )

    def participation(self) -> Fragment:
        return _participation(self.res, self.lang)

    def all_sections(self) -> list[Fragment]:
        return [self.cover(), self.participation(), self.heatmaps(), self.side_by_side(),
                self.change()]  # fmt: skip


class ProgrammeReport(_Report):
    """The sections of a programme report."""

    res: ProgrammeResults

    def cover(self) -> Fragment:
        r, _ = self.res, self._t
        shown = r.groups_summary["group"].nunique() if len(r.groups_summary) else 0
        improved = int((r.groups_summary["mean_change"] > 0).sum()) if shown else 0
        rows = [[esc(c["name"]), esc(c["groups"])] for c in r.cohorts.to_dict("records")]
        subtitle = _(
            "programme.subtitle",
            before=r.before_name,
            after=r.after_name,
            report_date=_today(self.lang),
        )
        left = len(r.groups_left_out)
        return Fragment(
            f'<section class="kit-cover" data-lang="{self.lang}">'
            f'<p class="kit-kicker">{esc(_("programme.kind"))}</p>'
            f"<h1>{esc(r.programme or _('programme.kind'))}</h1>"
            f'<p class="kit-subtitle">{esc(subtitle)}</p>'
            f"{_table([_('cover.cohort'), _('programme.groups')], rows)}"
            f"{_p(_('programme.headline', shown=shown, improved=improved, left=left))}"
            f"{_p(_('cover.published_until', date=_date(r.published_at, self.lang)))}</section>"
        )

    def dimensions(self) -> Fragment:
        r, _ = self.res, self._t
        if r.group_change.empty:
            return _section(
                "kit-programme", _("programme.title"), f"<p>{esc(_('programme.none'))}</p>"
            )
        order = list(r.dimension_change["dimension_name"])
        data = r.group_change[["dimension_name", "group_name", "change"]].copy()
        data["dimension_name"] = pd.Categorical(data["dimension_name"], order, ordered=True)
        data = data.sort_values("dimension_name")
        data["dimension_name"] = data["dimension_name"].astype(str)
        chart = charts.programme_change_chart(
            data, self.lang, before=r.before_name, after=r.after_name
        )
        rows = [
            [
                esc(x["dimension_name"]),
                _num(x["mean_change"], 2, True, self.lang),
                f"{_num(x['ci_low'], 2, True, self.lang)} – "
                f"{_num(x['ci_high'], 2, True, self.lang)}",
                esc(_("programme.improved_of", k=x["improved"], n=x["groups"])),
            ]
            for x in r.dimension_change.to_dict("records")
        ]
        table = _table(
            [_("profile.dimension"), _("change.change"), _("change.ci"), _("programme.improved")],
            rows,
            "kit-small",
        )
        top = ", ".join(order[:3])
        left_out = getattr(r, "dimensions_left_out", None)
        if left_out is not None and len(left_out):
            table += "".join(
                f'<p class="kit-muted">{esc(x["dimension_name"])}: {esc(x["note"])}</p>'
                for x in left_out.to_dict("records")
            )
        return _section(
            "kit-programme",
            _("programme.title"),
            f"<p>{esc(_('programme.moved_most', names=top))}</p>" + chart.to_html() + table,
            page_break=True,
        )

    def groups(self) -> Fragment:
        r, _ = self.res, self._t
        rows = [
            [
                esc(g["group_name"]),
                esc(g["cohort_name"]),
                _num(g["mean_change"], 2, True, self.lang),
                esc(_("programme.improved_of", k=g["dimensions_up"], n=g["dimensions"])),
            ]
            for g in r.groups_summary.to_dict("records")
        ]
        body = _table(
            [
                _("cohort.group"),
                _("cover.cohort"),
                _("programme.mean_change"),
                _("programme.dims_up"),
            ],
            rows,
            "kit-small",
        )
        if len(r.groups_left_out):
            left = "".join(
                f"<li>{esc(x['group_name'])}: {esc(x['note'])}</li>"
                for x in r.groups_left_out.to_dict("records")
            )
            body += f"<h3>{esc(_('programme.left_out'))}</h3><ul>{left}</ul>"
        return _section("kit-groups", _("programme.groups_title"), body, page_break=True)

    def heatmaps(self) -> Fragment:
        return _heatmaps(self.res, self.res.before_name, self.res.after_name, self.lang)

    def participation(self) -> Fragment:
        return _participation(self.res, self.lang)

    def all_sections(self) -> list[Fragment]:
        return [self.cover(), self.participation(), self.heatmaps(), self.dimensions(),
                self.groups()]  # fmt: skip
