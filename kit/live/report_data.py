"""What the group reports read from live sessions besides the action plan: the decision
reviews a group ran (``decision_reviews``), under the same anonymity rules as in the room.

A group's report shows its own members' answers only: from each decision-review round of a
session the group took part in, the round's newest *published* version (what the room saw,
``kit.live.visibility``; nothing is published here), restricted to the group's participants.
A decision is shown only when at least ``min_respondents`` of the group marked it, and, in a
session with other groups, the others' part is either empty or itself at least
``min_respondents`` (otherwise the room's total minus this report would give it away).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from kit.live import measures as m
from kit.live.rounds import DECISION_SOURCES
from kit.live.visibility import min_respondents, visible_round
from kit.settings import Settings
from kit.store import Store
from kit.store import live as repo

DECISION_COLUMNS = [
    "session_id",
    "round",
    "opened_at",
    "decision",
    "n",
    "breadth",
    *DECISION_SOURCES,
]


def decision_reviews(store: Store, settings: Settings, group_id: str) -> pd.DataFrame:
    """One row per decision reviewed by ``group_id`` (columns ``DECISION_COLUMNS``: the
    session's code, round id, when it opened, the decision, n, breadth 0-1 and the share of
    members marking each knowledge source); hidden decisions are left out. Oldest first."""
    rows: list[dict[str, Any]] = []
    sessions = repo.list_sessions(store)
    for code in sessions["code"] if len(sessions) else []:
        session = repo.get_session(store, code)
        if group_id not in session["group_ids"]:
            continue
        for rnd in repo.list_rounds(store, session["id"]):
            if rnd["exercise"] != "decision_review":
                continue
            shown = visible_round(store, settings, rnd, publish=False)
            if shown.answers is None or not len(shown.answers):
                continue
            rows.extend(
                _group_rows(session, rnd, shown.answers, group_id, min_respondents(settings, rnd))
            )
    frame = pd.DataFrame(rows, columns=DECISION_COLUMNS)
    return frame.sort_values(["opened_at", "round"], kind="stable").reset_index(drop=True)


def _group_rows(
    session: dict[str, Any], rnd: dict[str, Any], answers: pd.DataFrame, group_id: str, min_n: int
) -> list[dict[str, Any]]:
    decisions = rnd["config"].get("decisions") or []
    own = m.decision_breadth(answers[answers["group_id"] == group_id], decisions, DECISION_SOURCES)
    rest = m.decision_breadth(answers[answers["group_id"] != group_id], decisions, DECISION_SOURCES)
    out = []
    for mine, others in zip(own.to_dict("records"), rest.to_dict("records"), strict=True):
        if mine["n"] < min_n or 0 < others["n"] < min_n:
            continue
        out.append(
            {
                "session_id": session["code"],
                "round": rnd["id"],
                "opened_at": str(rnd["opened_at"] or "")[:19],
                **mine,
            }
        )
    return out
