"""A round's results as plain JSON-ready data, for the console API and revealed participant views.

Anonymity: ``round_results`` is given a published version's answers
(``kit.live.visibility``), and every aggregate in it needs ``min_respondents`` participants (the
round and each part on its own); below that it carries no number.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from kit.live import measures as m
from kit.live.rounds import pulse_items
from kit.live.visibility import min_respondents
from kit.live.words import word_counts
from kit.settings import Settings

# exercises whose results are participants' answers, shown only as published versions
PUBLISHED = ("pulse", "purpose", "agenda_audit", "stakeholder_map", "poll", "wordcloud", "qa",
             "boundedness", "decision_review", "action_plan")


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


def _writers(answers: pd.DataFrame, mask: pd.Series) -> int:
    return int(answers.loc[mask, "participant"].nunique()) if len(answers) else 0


def round_results(rnd: dict[str, Any], answers: pd.DataFrame, settings: Settings, lang: str,
                  turns: pd.DataFrame | None = None, now: float | None = None) -> dict[str, Any]:
    """What anyone may see of one round (JSON-ready), from a published version's answers.

    Every aggregate of participants' answers obeys the threshold ``min_n`` (the kit's
    ``min_respondents``): the round as a whole, and each item, statement list, vote tally, agenda
    split and stakeholder axis on its own. A part below it carries no number at all (no n, mean
    or counts) and ``hidden: True``. Airtime is the facilitator's record of who spoke, not
    anyone's anonymous answer, and is shown as recorded (console only)."""
    ex = rnd["exercise"]
    min_n = min_respondents(settings, rnd)
    n = m.respondents(answers)
    out: dict[str, Any] = {"respondents": n, "min_n": min_n, "hidden": n < min_n}
    if ex == "airtime":
        out["hidden"] = False
        if turns is not None:
            speakers = rnd["config"].get("speakers") or []
            table, facts = m.airtime_summary(turns, [s["name"] for s in speakers],
                                             [s["name"] for s in speakers if s.get("leader")],
                                             now)
            out["speakers"] = records(table)
            out.update(clean(facts))
        return out
    if ex not in PUBLISHED:
        out["hidden"] = False
        return out
    if out["hidden"]:
        out["respondents"] = None  # not even how few: the participation count is elsewhere
        return out
    q = answers["question"]
    if ex == "pulse":
        inst, items = pulse_items(rnd["config"])
        summary = m.pulse_summary(answers, inst, items)
        lang_i = lang if lang in inst.languages else inst.languages[0]
        summary.insert(1, "text", [inst.item(i).text[lang_i] for i in summary["item"]])
        shown = summary["n"] >= min_n
        summary["disagreement"] = False
        ranked = summary[shown & (summary["sd"] > 0)].sort_values(["sd", "item"],
                                                                   ascending=[False, True])
        summary.loc[ranked.index[:2], "disagreement"] = True
        rows = records(summary)
        numbers = [c for c in summary.columns if c not in ("item", "text")]
        for rec, ok in zip(rows, shown, strict=True):
            rec["hidden"] = not ok
            if not ok:
                rec.update(dict.fromkeys(numbers))
                rec["disagreement"] = False
        out["items"] = rows
        out["scale"] = list(inst.scale.values)
    elif ex == "purpose":
        writers = _writers(answers, q == "statement")
        voters = _writers(answers, q.str.startswith("vote:"))
        statements = m.purpose_summary(answers)
        out["statements_hidden"] = writers < min_n
        out["votes_hidden"] = voters < min_n
        if out["statements_hidden"]:
            statements = statements.iloc[0:0]
        elif out["votes_hidden"]:
            statements["votes"] = None
            statements["voters"] = None
            statements = statements.sample(frac=1, random_state=rnd["id"]).reset_index(drop=True)
        out["statements"] = records(statements)
        out["agreed"] = (rnd.get("outcome") or {}).get("statement")
    elif ex == "agenda_audit":
        entered = _writers(answers, q.str.startswith("entry:"))
        wanted = _writers(answers, q == "wanted")
        split = m.agenda_split(answers)
        kinds = m.agenda_kinds(answers)
        out["entries_hidden"] = entered < min_n
        out["wanted_hidden"] = wanted < min_n
        if out["entries_hidden"]:
            split["actual_minutes"] = None
            split["actual"] = None
            kinds["minutes"] = None
        if out["wanted_hidden"]:
            split["wanted"] = None
            split["wanted_n"] = None
        out["split"] = records(split)
        out["kinds"] = records(kinds)
        out["entries"] = None if out["entries_hidden"] else len(m.agenda_entries(answers))
    elif ex == "stakeholder_map":
        pos = m.stakeholder_positions(answers, rnd["config"].get("actors") or [])
        for axis in ("power", "interest"):
            hide = pos[f"{axis}_n"] < min_n
            pos[f"{axis}_hidden"] = hide
            pos[axis] = pos[axis].mask(hide)
            pos[f"{axis}_sd"] = pos[f"{axis}_sd"].mask(hide)
            pos[f"{axis}_n"] = pos[f"{axis}_n"].astype(object).mask(hide, None)
        pos["quadrant"] = [m.quadrant(p, i) for p, i in zip(pos["power"], pos["interest"],
                                                             strict=True)]
        out["actors"] = records(pos)
    elif ex == "poll":
        out.update(_poll_results(rnd["config"], answers, min_n))
    elif ex == "wordcloud":
        cloud = word_counts(answers, rnd["config"].get("hidden"))
        out["words"] = records(cloud)
        out["hidden_words"] = list(rnd["config"].get("hidden") or [])
    elif ex == "qa":
        entries = m.qa_entries(answers)
        approved = set(rnd["config"].get("approved") or [])
        out["votes_hidden"] = _writers(answers, q.str.startswith("vote:")) < min_n
        entries["approved"] = entries["id"].isin(approved)
        if out["votes_hidden"]:
            entries["votes"] = None
            entries = entries.sort_values("id").reset_index(drop=True)
        out["entries"] = records(entries)
    elif ex == "boundedness":
        out["names"] = records(m.boundedness_spread(answers))
    elif ex == "decision_review":
        from kit.live.rounds import DECISION_SOURCES

        table = m.decision_breadth(answers, rnd["config"].get("decisions") or [],
                                   DECISION_SOURCES)
        shown = table["n"] >= min_n
        for col in ("breadth", *DECISION_SOURCES):
            table[col] = table[col].mask(~shown)
        table["n"] = table["n"].astype(object).mask(~shown, None)
        table["hidden"] = ~shown
        out["decisions"] = records(table)
        out["sources"] = list(DECISION_SOURCES)
        seen = table[shown]
        out["breadth"] = float(seen["breadth"].mean()) if len(seen) else None
        out["source_shares"] = ({src: float(seen[src].mean()) for src in DECISION_SOURCES}
                                if len(seen) else None)
    elif ex == "action_plan":
        out["proposals"] = records(m.proposals(answers))
    return out


def _poll_results(cfg: dict[str, Any], answers: pd.DataFrame, min_n: int) -> dict[str, Any]:
    """A poll's aggregate; each part (a matrix axis of one option) hidden below ``min_n``."""
    kind = cfg.get("kind", "scale")
    options = cfg.get("options") or []
    if kind == "scale":
        res = m.poll_scale(answers, int(cfg.get("min", 1)), int(cfg.get("max", 5)))
        return {"kind": kind, **clean(res)}
    if kind == "ranking":
        return {"kind": kind, "options": records(m.poll_ranking(answers, options))}
    if kind == "points":
        return {"kind": kind, "options": records(m.poll_points(answers, options))}
    pos = m.poll_matrix(answers, options)
    for axis in ("x", "y"):
        hide = pos[f"{axis}_n"] < min_n
        pos[axis] = pos[axis].mask(hide)
        pos[f"{axis}_sd"] = pos[f"{axis}_sd"].mask(hide)
        pos[f"{axis}_n"] = pos[f"{axis}_n"].astype(object).mask(hide, None)
    return {"kind": kind, "options": records(pos), "axes": cfg.get("axes") or {}}
