"""A round's results as plain JSON-ready data, for the console API and revealed participant views.

Anonymity: a pulse's distribution is shown only when at least ``settings.min_respondents``
participants answered (fewer could be traced to a person in the room); before that the console
sees only how many have answered.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from kit.live import measures as m
from kit.live.rounds import pulse_items
from kit.settings import Settings


def clean(value: Any) -> Any:
    """NaN -> None, numpy scalars -> Python, recursively (JSON has no NaN)."""
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return clean(frame.to_dict("records"))


def round_results(rnd: dict[str, Any], answers: pd.DataFrame, settings: Settings, lang: str,
                  turns: pd.DataFrame | None = None, now: float | None = None) -> dict[str, Any]:
    """What the facilitator sees of one round (JSON-ready)."""
    ex = rnd["exercise"]
    n = m.respondents(answers)
    out: dict[str, Any] = {"respondents": n}
    if ex == "pulse":
        inst, items = pulse_items(rnd["config"])
        hidden = n < settings.min_respondents
        out.update({"hidden": hidden, "min_n": settings.min_respondents})
        if not hidden:
            summary = m.pulse_summary(answers, inst, items)
            lang_i = lang if lang in inst.languages else inst.languages[0]
            summary.insert(1, "text", [inst.item(i).text[lang_i] for i in summary["item"]])
            out["items"] = records(summary)
            out["scale"] = list(inst.scale.values)
    elif ex == "purpose":
        out["statements"] = records(m.purpose_summary(answers))
        out["agreed"] = (rnd.get("outcome") or {}).get("statement")
    elif ex == "agenda_audit":
        out["split"] = records(m.agenda_split(answers))
        out["kinds"] = records(m.agenda_kinds(answers))
        out["entries"] = len(m.agenda_entries(answers))
    elif ex == "stakeholder_map":
        out["actors"] = records(m.stakeholder_positions(answers, rnd["config"].get("actors") or []))
    elif ex == "airtime" and turns is not None:
        speakers = rnd["config"].get("speakers") or []
        table, facts = m.airtime_summary(turns, [s["name"] for s in speakers],
                                         [s["name"] for s in speakers if s.get("leader")], now)
        out["speakers"] = records(table)
        out.update(clean(facts))
    return out
