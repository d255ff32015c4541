"""Decision reviews flow into the group's report data like the action plan: the group's own
members' answers from the published version, each decision only with enough members, and
never what the room's total minus the report would give away."""

from __future__ import annotations

import pytest

from kit.live import facilitate
from kit.live import session as ls
from kit.live.report_data import DECISION_COLUMNS, decision_reviews
from kit.live.visibility import visible_round
from kit.results import _decision_reviews, group_fingerprint
from kit.store import live as repo
from kit.store.live import AnswerIn


def _people(store, code: str, group: str, n: int, start: int) -> list[str]:
    tokens = [f"member-{group}-{start + i:06d}-xxxxxx" for i in range(n)]
    for token in tokens:
        repo.add_participant(store, code, token, group, "en")
    return tokens


def test_decision_review_reaches_the_group_report(live_store, live_settings) -> None:
    made = ls.create_session(
        live_store,
        live_settings,
        expected=20,
        title="Cohort",
        group_ids=["g1", "g2"],
        language="en",
        exercises=["pulse"],
    )
    rid = facilitate.add_round(
        live_store,
        made.session_id,
        "decision_review",
        {"decisions": ["Reorganise", "New IT system"]},
    )
    g1 = _people(live_store, made.code, "g1", 4, 0)
    g2 = _people(live_store, made.code, "g2", 2, 100)
    marks = {
        g1[0]: {0: ["own_unit", "data"], 1: ["own_unit"]},
        g1[1]: {0: ["own_unit"], 1: ["research"]},
        g1[2]: {0: ["users", "data", "research"]},
        g1[3]: {0: []},
        g2[0]: {1: ["data"]},
        g2[1]: {1: ["data", "users"]},
    }
    for token, per in marks.items():
        repo.save_answers(
            live_store,
            made.code,
            token,
            rid,
            [
                AnswerIn(f"decision:{i}", float(len(s)), None, {"sources": s})
                for i, s in per.items()
            ],
        )
    assert decision_reviews(live_store, live_settings, "g1").empty  # nothing published yet
    visible_round(live_store, live_settings, repo.get_round(live_store, rid))  # the room saw it
    frame = decision_reviews(live_store, live_settings, "g1")
    assert list(frame.columns) == DECISION_COLUMNS
    # decision 0: four g1 members, no g2 member -> shown; decision 1: two g1 members -> hidden
    assert frame["decision"].tolist() == ["Reorganise"]
    row = frame.iloc[0]
    assert row["n"] == 4 and row["session_id"] == made.code
    assert row["breadth"] == pytest.approx((2 / 7 + 1 / 7 + 3 / 7 + 0) / 4)
    assert row["own_unit"] == pytest.approx(0.5) and row["research"] == pytest.approx(0.25)
    assert decision_reviews(live_store, live_settings, "g2").empty  # 2 of g2: below 3
    assert _decision_reviews(live_store, live_settings, "g2") is None
    assert len(_decision_reviews(live_store, live_settings, "g1")) == 1
    before = group_fingerprint("base", live_store, "g1")
    assert group_fingerprint("base", live_store, "g2") != before


def test_a_remainder_below_the_threshold_hides_the_decision(live_store, live_settings) -> None:
    made = ls.create_session(
        live_store,
        live_settings,
        expected=20,
        title="Cohort",
        group_ids=["g1", "g2"],
        language="en",
        exercises=["pulse"],
    )
    rid = facilitate.add_round(
        live_store, made.session_id, "decision_review", {"decisions": ["Budget cut"]}
    )
    people = _people(live_store, made.code, "g1", 3, 0) + _people(
        live_store, made.code, "g2", 1, 100
    )
    for token in people:
        repo.save_answers(
            live_store,
            made.code,
            token,
            rid,
            [AnswerIn("decision:0", 1.0, None, {"sources": ["data"]})],
        )
    visible_round(live_store, live_settings, repo.get_round(live_store, rid))
    # the room saw 4; g1's report showing its 3 would give away g2's single member
    assert decision_reviews(live_store, live_settings, "g1").empty
