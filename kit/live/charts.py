"""Charts of live rounds for the projector, in the kit's theme, rendered to inline SVG offline.

Each function takes what ``kit.live.measures`` returns and gives a ``kit.charts.KitChart``.
"""

from __future__ import annotations

import altair as alt
import pandas as pd

from kit.charts import OKABE_ITO, KitChart, distribution_chart
from kit.i18n import t
from kit.instrument import Instrument

MARK = "◆ "  # prefix of the items with most disagreement


def _clip(text: str, width: int = 70) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def pulse_chart(summary: pd.DataFrame, instrument: Instrument, lang: str) -> KitChart:
    """Stacked answers per item; items with most disagreement marked with ◆."""
    lang_i = lang if lang in instrument.languages else instrument.languages[0]
    rows = []
    for rec in summary.to_dict("records"):
        text = _clip(instrument.item(rec["item"]).text[lang_i], 60)
        label = (MARK if rec["disagreement"] else "") + text
        for v in instrument.scale.values:
            rows.append({"item_text": label, "value": v, "count": rec[str(v)]})
    data = pd.DataFrame(rows, columns=["item_text", "value", "count"])
    title = t("live.console.items", lang)
    return distribution_chart(data, lang, scale_labels=list(instrument.scale.labels[lang_i]),
                              scale_min=instrument.scale.min, title=title)


def votes_chart(statements: pd.DataFrame, lang: str) -> KitChart:
    data = statements.assign(label=[_clip(x, 60) for x in statements["text"]])
    order = list(data["label"])
    chart = (alt.Chart(data).mark_bar(color=OKABE_ITO[0])
             .encode(y=alt.Y("label:N", sort=order, title=None, axis=alt.Axis(labelLimit=360)),
                     x=alt.X("votes:Q", title=t("live.console.votes", lang),
                             axis=alt.Axis(tickMinStep=1)))
             .properties(width=300, height=max(40, 24 * len(order))))
    title = t("live.console.votes", lang)
    return KitChart(chart, title, title)


def agenda_chart(split: pd.DataFrame, lang: str) -> KitChart:
    """Actual vs wanted share of meeting time per focus."""
    rows = []
    for rec in split.to_dict("records"):
        focus = t(f"live.agenda.focus.{rec['focus']}", lang)
        for kind in ("actual", "wanted"):
            value = rec[kind]
            rows.append({"focus": focus, "kind": t(f"live.agenda.{kind}", lang),
                         "share": None if pd.isna(value) else float(value)})
    data = pd.DataFrame(rows)
    kinds = [t("live.agenda.actual", lang), t("live.agenda.wanted", lang)]
    chart = (alt.Chart(data).mark_bar()
             .encode(y=alt.Y("kind:N", sort=kinds, title=None),
                     x=alt.X("share:Q", title=t("live.agenda.share", lang),
                             axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1])),
                     color=alt.Color("kind:N", sort=kinds, title=None,
                                     scale=alt.Scale(range=[OKABE_ITO[0], OKABE_ITO[1]])),
                     row=alt.Row("focus:N", title=None, sort=list(dict.fromkeys(data["focus"])),
                                 header=alt.Header(labelAngle=0, labelAlign="left")))
             .properties(width=300, height=44))
    title = t("live.agenda.share", lang)
    return KitChart(chart, title, title)


def airtime_chart(table: pd.DataFrame, lang: str) -> KitChart:
    """Each person's share of speaking time; the equal share as a line."""
    data = table.copy()
    data["who"] = [("★ " if lead else "") + str(s) for s, lead in zip(data["speaker"],
                                                                     data["leader"], strict=True)]
    equal = 1 / len(data) if len(data) else 0
    bars = (alt.Chart(data).mark_bar()
            .encode(y=alt.Y("who:N", sort=list(data["who"]), title=None),
                    x=alt.X("share:Q", title=t("live.console.share", lang),
                            axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1])),
                    color=alt.condition("datum.leader", alt.value(OKABE_ITO[1]),
                                        alt.value(OKABE_ITO[0]))))
    rule = alt.Chart(pd.DataFrame({"equal": [equal]})).mark_rule(strokeDash=[4, 3]).encode(
        x="equal:Q")
    chart = (bars + rule).properties(width=300, height=max(40, 24 * len(data)))
    title = t("live.console.share", lang)
    return KitChart(chart, title, title)


def stakeholder_chart(positions: pd.DataFrame, lang: str, axis: str = "interest") -> KitChart:
    """Actors by interest (or dependency) and power, 1-5, with the quadrants cut at 3."""
    data = positions.dropna(subset=["power", "interest"])
    x_title = t(f"live.stakeholder.{axis}", lang)
    y_title = t("live.stakeholder.power", lang)
    base = alt.Chart(data).encode(
        x=alt.X("interest:Q", title=x_title, scale=alt.Scale(domain=[1, 5])),
        y=alt.Y("power:Q", title=y_title, scale=alt.Scale(domain=[1, 5])))
    points = base.mark_point(color=OKABE_ITO[0])
    labels = base.mark_text(align="left", dx=8, fontSize=11).encode(text="actor:N")
    cuts = alt.Chart(pd.DataFrame({"v": [3]}))
    chart = (points + labels + cuts.mark_rule(color="#BBBBBB").encode(x="v:Q")
             + cuts.mark_rule(color="#BBBBBB").encode(y="v:Q")).properties(width=320, height=260)
    title = f"{y_title} / {x_title}"
    return KitChart(chart, title, title)
