"""Pure aggregation of live answers (no database, no widgets): tested by hand.

Input frames are what ``kit.store.live.load_answers`` / ``list_turns`` return.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from kit.instrument import Instrument

AGENDA_FOCUSES = ("operations", "strategy", "development")
AGENDA_KINDS = ("information", "discussion", "decision")


# -- equality of shares (airtime) ---------------------------------------------------------------
def normalised_entropy(shares: Sequence[float]) -> float:
    """-sum(p ln p) / ln n over n people (zeros count as people who did not speak).

    1 = everyone had the same share, 0 = one person had it all. NaN for fewer than two people or
    when nobody has a share yet.
    """
    p = np.asarray(list(shares), dtype=float)
    n = len(p)
    if n < 2 or p.sum() <= 0:
        return float("nan")
    p = p / p.sum()
    nz = p[p > 0]
    return float(-(nz * np.log(nz)).sum() / math.log(n))


def gini(values: Sequence[float]) -> float:
    """Gini coefficient sum_i sum_j |x_i - x_j| / (2 n^2 mean): 0 = equal, (n-1)/n = one has all.

    NaN for no people or a zero total.
    """
    x = np.asarray(list(values), dtype=float)
    n = len(x)
    if n == 0 or x.sum() <= 0:
        return float("nan")
    return float(np.abs(x[:, None] - x[None, :]).sum() / (2 * n * n * x.mean()))


def airtime_summary(turns: pd.DataFrame, speakers: Sequence[str] = (),
                    leaders: Sequence[str] = (), now: float | None = None
                    ) -> tuple[pd.DataFrame, dict[str, float]]:
    """Per speaker seconds, turns and share; plus equality (entropy, Gini) and the leader's share.

    ``speakers`` lists everyone present (those who never spoke count, with share 0); a turn still
    running (``ended_at`` NaN) counts until ``now``.
    """
    names = list(dict.fromkeys([*speakers, *turns.get("speaker", pd.Series(dtype=str))]))
    seconds = dict.fromkeys(names, 0.0)
    counts = dict.fromkeys(names, 0)
    for rec in turns.to_dict("records"):
        end = rec["ended_at"]
        if end is None or (isinstance(end, float) and math.isnan(end)):
            end = now if now is not None else rec["started_at"]
        seconds[rec["speaker"]] += max(0.0, float(end) - float(rec["started_at"]))
        counts[rec["speaker"]] += 1
    total = sum(seconds.values())
    table = pd.DataFrame({
        "speaker": names,
        "seconds": [seconds[n] for n in names],
        "turns": [counts[n] for n in names],
        "share": [seconds[n] / total if total > 0 else 0.0 for n in names],
        "leader": [n in set(leaders) for n in names],
    })
    shares = table["share"].tolist()
    facts = {
        "total_seconds": total,
        "turns": float(sum(counts.values())),
        "entropy": normalised_entropy(shares),
        "gini": gini(table["seconds"].tolist()),
        "leader_share": float(table.loc[table["leader"], "share"].sum())
        if table["leader"].any() else float("nan"),
        "equal_share": 1 / len(names) if names else float("nan"),
    }
    return table, facts


# -- pulse --------------------------------------------------------------------------------------
def pulse_summary(answers: pd.DataFrame, instrument: Instrument, items: Sequence[str],
                  top: int = 2) -> pd.DataFrame:
    """Per item: n, don't-know count, mean, sd, rwg, counts per scale value, and a flag on the
    ``top`` items with the most disagreement (highest sd, at least two answers, sd > 0)."""
    scale = instrument.scale
    rows = []
    for item in items:
        sub = answers[answers["question"] == item] if len(answers) else answers
        vals = sub["value"].dropna().astype(float) if len(sub) else pd.Series(dtype=float)
        n = len(vals)
        sd = float(vals.std(ddof=1)) if n >= 2 else float("nan")
        rwg = float("nan")
        if n >= 2:
            rwg = max(0.0, 1 - sd**2 / scale.null_variance)
        row: dict[str, Any] = {"item": item, "n": n, "na": int(len(sub) - n),
                               "mean": float(vals.mean()) if n else float("nan"),
                               "sd": sd, "rwg": rwg}
        for v in scale.values:
            row[str(v)] = int((vals == v).sum())
        rows.append(row)
    out = pd.DataFrame(rows, columns=["item", "n", "na", "mean", "sd", "rwg",
                                      *map(str, scale.values)])
    out["disagreement"] = False
    ranked = out[(out["n"] >= 2) & (out["sd"] > 0)].sort_values(["sd", "item"],
                                                               ascending=[False, True])
    out.loc[ranked.index[:top], "disagreement"] = True
    return out


def pulse_distribution(answers: pd.DataFrame, instrument: Instrument, items: Sequence[str]
                       ) -> pd.DataFrame:
    """Long form for charts: item, value, label, count (every scale value, zeros included)."""
    summary = pulse_summary(answers, instrument, items)
    rows = []
    for rec in summary.to_dict("records"):
        for v in instrument.scale.values:
            rows.append({"item": rec["item"], "value": v, "count": rec[str(v)]})
    return pd.DataFrame(rows, columns=["item", "value", "count"])


def respondents(answers: pd.DataFrame) -> int:
    return int(answers["participant"].nunique()) if len(answers) else 0


# -- purpose ------------------------------------------------------------------------------------
def purpose_summary(answers: pd.DataFrame) -> pd.DataFrame:
    """Statements with their dot-votes: id, text, votes, voters; most votes first."""
    cols = ["id", "text", "votes", "voters"]
    if not len(answers):
        return pd.DataFrame(columns=cols)
    st = answers[answers["question"] == "statement"]
    votes = answers[answers["question"].str.startswith("vote:")].copy()
    votes["sid"] = votes["question"].str.removeprefix("vote:").astype(int)
    tally = votes.groupby("sid")["value"].sum()
    voters = votes.groupby("sid")["participant"].nunique()
    out = pd.DataFrame({
        "id": st["id"].astype(int).to_numpy(),
        "text": st["text"].to_numpy(),
    })
    out["votes"] = out["id"].map(tally).fillna(0).astype(int)
    out["voters"] = out["id"].map(voters).fillna(0).astype(int)
    return out.sort_values(["votes", "id"], ascending=[False, True]).reset_index(drop=True)[cols]


# -- agenda audit -------------------------------------------------------------------------------
def agenda_entries(answers: pd.DataFrame) -> pd.DataFrame:
    """Agenda items entered: participant, title, minutes, kind, focus."""
    cols = ["participant", "title", "minutes", "kind", "focus"]
    if not len(answers):
        return pd.DataFrame(columns=cols)
    e = answers[answers["question"].str.startswith("entry:")]
    rows = [{"participant": p, **d} for p, d in zip(e["participant"], e["data"], strict=True)
            if isinstance(d, dict)]
    return pd.DataFrame(rows, columns=cols)


def agenda_split(answers: pd.DataFrame) -> pd.DataFrame:
    """Actual vs wanted share of meeting time per focus (operations / strategy / development).

    actual = minutes of entered items per focus / all minutes; wanted = the mean of the
    participants' wanted splits. Columns: focus, actual_minutes, actual, wanted, wanted_n.
    """
    entries = agenda_entries(answers)
    minutes = entries.groupby("focus")["minutes"].sum() if len(entries) else pd.Series(dtype=float)
    total = float(minutes.sum()) if len(minutes) else 0.0
    wanted = (answers[answers["question"] == "wanted"]["data"].tolist()
              if len(answers) else [])
    rows = []
    for f in AGENDA_FOCUSES:
        m = float(minutes.get(f, 0.0))
        w = [float(d[f]) / 100 for d in wanted if isinstance(d, dict) and f in d]
        rows.append({"focus": f, "actual_minutes": m,
                     "actual": m / total if total else float("nan"),
                     "wanted": float(np.mean(w)) if w else float("nan"), "wanted_n": len(w)})
    return pd.DataFrame(rows)


def agenda_kinds(answers: pd.DataFrame) -> pd.DataFrame:
    """Minutes per kind (information / discussion / decision) and focus."""
    entries = agenda_entries(answers)
    full = pd.MultiIndex.from_product([AGENDA_KINDS, AGENDA_FOCUSES], names=["kind", "focus"])
    if not len(entries):
        return pd.DataFrame(index=full, data={"minutes": 0.0}).reset_index()
    got = entries.groupby(["kind", "focus"])["minutes"].sum()
    return got.reindex(full, fill_value=0.0).rename("minutes").reset_index()


# -- stakeholder map ----------------------------------------------------------------------------
def stakeholder_positions(answers: pd.DataFrame, actors: Sequence[str]) -> pd.DataFrame:
    """Per actor: mean power and interest (or dependency) on 1-5, their spread and how many rated,
    and the quadrant (manage_closely / keep_satisfied / keep_informed / monitor, cut at 3)."""
    rows = []
    for i, name in enumerate(actors):
        rec: dict[str, Any] = {"actor": name}
        for axis in ("power", "interest"):
            vals = (answers[answers["question"] == f"{axis}:{i}"]["value"].dropna()
                    if len(answers) else pd.Series(dtype=float))
            rec[axis] = float(vals.mean()) if len(vals) else float("nan")
            rec[f"{axis}_sd"] = float(vals.std(ddof=1)) if len(vals) >= 2 else float("nan")
            rec[f"{axis}_n"] = len(vals)
        rec["quadrant"] = quadrant(rec["power"], rec["interest"])
        rows.append(rec)
    return pd.DataFrame(rows, columns=["actor", "power", "power_sd", "power_n", "interest",
                                       "interest_sd", "interest_n", "quadrant"])


def quadrant(power: float, interest: float, cut: float = 3.0) -> str | None:
    if math.isnan(power) or math.isnan(interest):
        return None
    if power > cut:
        return "manage_closely" if interest > cut else "keep_satisfied"
    return "keep_informed" if interest > cut else "monitor"


# -- ad hoc polls ---------------------------------------------------------------------------------
def _values(answers: pd.DataFrame, question: str) -> pd.Series:
    if not len(answers):
        return pd.Series(dtype=float)
    return answers.loc[answers["question"] == question, "value"].dropna().astype(float)


def _sd(values: pd.Series) -> float:
    return float(values.std(ddof=1)) if len(values) >= 2 else float("nan")


def poll_scale(answers: pd.DataFrame, lo: int, hi: int) -> dict[str, Any]:
    """A scale poll: n, mean, sd (n-1) and the count of each value lo..hi."""
    vals = _values(answers, "value")
    counts = {str(v): int((vals == v).sum()) for v in range(lo, hi + 1)}
    return {"n": len(vals), "mean": float(vals.mean()) if len(vals) else float("nan"),
            "sd": _sd(vals), "counts": counts}


def poll_ranking(answers: pd.DataFrame, options: Sequence[str]) -> pd.DataFrame:
    """A ranking poll per option: n, mean rank (1 = first) and Borda points (k - rank summed
    over participants, k options); best first."""
    k = len(options)
    rows = []
    for i, text in enumerate(options):
        ranks = _values(answers, f"rank:{i}")
        rows.append({"option": text, "n": len(ranks),
                     "mean_rank": float(ranks.mean()) if len(ranks) else float("nan"),
                     "borda": float((k - ranks).sum())})
    frame = pd.DataFrame(rows, columns=["option", "n", "mean_rank", "borda"])
    return frame.sort_values(["borda", "option"], ascending=[False, True]).reset_index(drop=True)


def poll_points(answers: pd.DataFrame, options: Sequence[str]) -> pd.DataFrame:
    """A 100-point poll per option: total points, mean per participant (0 for those who gave
    none) and how many gave it any; most points first."""
    people = (answers.loc[answers["question"].str.startswith("points:"), "participant"].nunique()
              if len(answers) else 0)
    rows = []
    for i, text in enumerate(options):
        pts = _values(answers, f"points:{i}")
        total = float(pts.sum())
        rows.append({"option": text, "points": total,
                     "mean": total / people if people else float("nan"), "givers": len(pts)})
    frame = pd.DataFrame(rows, columns=["option", "points", "mean", "givers"])
    return frame.sort_values(["points", "option"], ascending=[False, True]).reset_index(drop=True)


def poll_matrix(answers: pd.DataFrame, options: Sequence[str]) -> pd.DataFrame:
    """A 2×2 matrix per option: mean and sd of x and y, how many placed it on each axis."""
    rows = []
    for i, text in enumerate(options):
        rec: dict[str, Any] = {"option": text}
        for axis in ("x", "y"):
            vals = _values(answers, f"{axis}:{i}")
            rec[axis] = float(vals.mean()) if len(vals) else float("nan")
            rec[f"{axis}_sd"] = _sd(vals)
            rec[f"{axis}_n"] = len(vals)
        rows.append(rec)
    return pd.DataFrame(rows, columns=["option", "x", "x_sd", "x_n", "y", "y_sd", "y_n"])


# -- questions and ideas (Q&A) ------------------------------------------------------------------
def qa_entries(answers: pd.DataFrame) -> pd.DataFrame:
    """Entries with their upvotes (one per participant and entry): id, text, votes; most
    votes first, then oldest first."""
    cols = ["id", "text", "votes"]
    if not len(answers):
        return pd.DataFrame(columns=cols)
    e = answers[answers["question"].str.startswith("entry:")]
    v = answers[answers["question"].str.startswith("vote:")]
    tally = v["question"].str.slice(5).astype(int).value_counts() if len(v) else pd.Series(
        dtype=int)
    frame = pd.DataFrame({"id": e["id"].astype(int), "text": e["text"]})
    frame["votes"] = [int(tally.get(i, 0)) for i in frame["id"]]
    return frame.sort_values(["votes", "id"], ascending=[False, True]).reset_index(drop=True)


# -- boundedness check ---------------------------------------------------------------------------
def boundedness_spread(answers: pd.DataFrame) -> pd.DataFrame:
    """Who is named as a member of the team, by how many: name (as most often written), count,
    share of the participants who answered, band (``all`` / ``some`` / ``one``); most named
    first. Names are compared case-insensitively with single spaces."""
    cols = ["name", "count", "share", "band"]
    if not len(answers):
        return pd.DataFrame(columns=cols)
    a = answers[answers["question"].str.startswith("name:")]
    people = a["participant"].nunique()
    named: dict[str, set[int]] = {}
    spelled: dict[str, dict[str, int]] = {}
    for person, text in zip(a["participant"], a["text"], strict=True):
        if not isinstance(text, str):
            continue
        key = " ".join(text.split()).casefold()
        named.setdefault(key, set()).add(int(person))
        spelled.setdefault(key, {})
        spelled[key][text] = spelled[key].get(text, 0) + 1
    rows = []
    for key, who in named.items():
        n = len(who)
        band = "all" if n == people else "one" if n == 1 else "some"
        rows.append({"name": max(spelled[key].items(), key=lambda kv: (kv[1], kv[0]))[0],
                     "count": n, "share": n / people if people else float("nan"), "band": band})
    rows.sort(key=lambda r: (-r["count"], r["name"].casefold()))
    return pd.DataFrame(rows, columns=cols)


# -- decision review -----------------------------------------------------------------------------
def decision_breadth(answers: pd.DataFrame, decisions: Sequence[str],
                     sources: Sequence[str]) -> pd.DataFrame:
    """Per decision: n (participants who marked it), breadth (mean share of the knowledge
    sources marked as used, 0-1) and the share of participants marking each source."""
    rows = []
    for i, text in enumerate(decisions):
        a = answers[answers["question"] == f"decision:{i}"] if len(answers) else answers
        marks = [d.get("sources", []) for d in a["data"] if isinstance(d, dict)] if len(a) else []
        n = len(marks)
        rec: dict[str, Any] = {"decision": text, "n": n,
                               "breadth": (float(np.mean([len(m) / len(sources) for m in marks]))
                                           if n else float("nan"))}
        for src in sources:
            rec[src] = sum(src in m for m in marks) / n if n else float("nan")
        rows.append(rec)
    return pd.DataFrame(rows, columns=["decision", "n", "breadth", *sources])


def proposals(answers: pd.DataFrame) -> pd.DataFrame:
    """Actions participants proposed: id, text (oldest first)."""
    if not len(answers):
        return pd.DataFrame(columns=["id", "text"])
    e = answers[answers["question"].str.startswith("entry:")]
    return pd.DataFrame({"id": e["id"].astype(int), "text": e["text"]}).reset_index(drop=True)
