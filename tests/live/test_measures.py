"""Pure aggregation, checked against values worked out by hand."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from kit.instrument import load_instrument
from kit.live import measures as m


def test_normalised_entropy_by_hand() -> None:
    assert m.normalised_entropy([0.25, 0.25, 0.25, 0.25]) == pytest.approx(1.0)
    assert m.normalised_entropy([1, 0, 0, 0]) == pytest.approx(0.0)
    # p = (.5, .5, 0): -(2 * .5 ln .5) / ln 3 = ln 2 / ln 3
    assert m.normalised_entropy([30, 30, 0]) == pytest.approx(math.log(2) / math.log(3))
    assert math.isnan(m.normalised_entropy([5]))
    assert math.isnan(m.normalised_entropy([0, 0]))


def test_gini_by_hand() -> None:
    assert m.gini([10, 10, 10, 10]) == pytest.approx(0.0)
    assert m.gini([0, 0, 0, 40]) == pytest.approx(0.75)  # (n-1)/n
    # x = 1, 2, 3: sum |xi-xj| over ordered pairs = 8; 8 / (2 * 9 * 2) = 2/9
    assert m.gini([1, 2, 3]) == pytest.approx(2 / 9)
    assert math.isnan(m.gini([]))


def test_airtime_summary_counts_silent_people_and_running_turn() -> None:
    turns = pd.DataFrame({"round_id": [1, 1, 1], "speaker": ["Kari", "Ola", "Kari"],
                          "started_at": [0.0, 60.0, 90.0], "ended_at": [60.0, 90.0, float("nan")]})
    table, facts = m.airtime_summary(turns, speakers=["Kari", "Ola", "Per"], leaders=["Kari"],
                                     now=120.0)
    by = table.set_index("speaker")
    assert by.loc["Kari", "seconds"] == 90 and by.loc["Kari", "turns"] == 2
    assert by.loc["Ola", "seconds"] == 30 and by.loc["Per", "seconds"] == 0
    assert by.loc["Kari", "share"] == pytest.approx(0.75)
    assert facts["leader_share"] == pytest.approx(0.75)
    assert facts["turns"] == 3 and facts["total_seconds"] == 120
    p = [0.75, 0.25]
    assert facts["entropy"] == pytest.approx(-sum(x * math.log(x) for x in p) / math.log(3))
    assert facts["gini"] == pytest.approx(m.gini([90, 30, 0]))
    assert facts["equal_share"] == pytest.approx(1 / 3)


def _answers(rows: list[tuple[int, str, float | None]]) -> pd.DataFrame:
    return pd.DataFrame({"id": range(1, len(rows) + 1), "round_id": 1,
                         "participant": [r[0] for r in rows], "group_id": "g1",
                         "question": [r[1] for r in rows], "value": [r[2] for r in rows],
                         "text": None, "data": None})


def test_pulse_summary_distribution_rwg_and_disagreement() -> None:
    inst = load_instrument("pulse")
    ans = _answers([(1, "P01", 1), (2, "P01", 5), (3, "P01", 3),   # sd 2: most disagreement
                    (1, "P02", 4), (2, "P02", 4), (3, "P02", None),  # agreement, one don't-know
                    (1, "P03", 2), (2, "P03", 3), (3, "P03", 2)])
    s = m.pulse_summary(ans, inst, ["P01", "P02", "P03"], top=1).set_index("item")
    assert [s.loc["P01", v] for v in ("1", "3", "5", "2")] == [1, 1, 1, 0]
    assert s.loc["P01", "sd"] == pytest.approx(2.0)
    assert s.loc["P01", "rwg"] == 0.0  # s^2 = 4 > sigma_EU^2 = 2 -> 0
    assert s.loc["P02", "n"] == 2 and s.loc["P02", "na"] == 1 and s.loc["P02", "rwg"] == 1.0
    assert s.loc["P03", "rwg"] == pytest.approx(1 - (1 / 3) / 2)
    assert s["disagreement"].tolist() == [True, False, False]


def test_purpose_agenda_and_stakeholder_summaries() -> None:
    ans = pd.DataFrame({
        "id": [10, 11, 12, 13, 14], "round_id": 1, "participant": [1, 2, 1, 2, 3],
        "group_id": "g1", "question": ["statement", "statement", "vote:11", "vote:11", "vote:10"],
        "value": [None, None, 2, 1, 1], "text": ["We serve citizens", "<b>We lead</b>", None,
                                                None, None], "data": None})
    st = m.purpose_summary(ans)
    assert st.to_dict("records") == [
        {"id": 11, "text": "<b>We lead</b>", "votes": 3, "voters": 2},
        {"id": 10, "text": "We serve citizens", "votes": 1, "voters": 1}]

    agenda = pd.DataFrame({
        "id": [1, 2, 3, 4], "round_id": 2, "participant": [1, 1, 2, 2], "group_id": "g1",
        "question": ["entry:a", "entry:b", "wanted", "entry:c"], "value": [30, 10, None, 60],
        "text": None,
        "data": [{"title": "Budget", "minutes": 30, "kind": "decision", "focus": "operations"},
                 {"title": "HR", "minutes": 10, "kind": "information", "focus": "operations"},
                 {"operations": 50, "strategy": 30, "development": 20},
                 {"title": "Plan", "minutes": 60, "kind": "discussion", "focus": "strategy"}]})
    split = m.agenda_split(agenda).set_index("focus")
    assert split.loc["operations", "actual"] == pytest.approx(0.4)
    assert split.loc["strategy", "actual"] == pytest.approx(0.6)
    assert split.loc["development", "actual"] == 0
    assert split.loc["operations", "wanted"] == pytest.approx(0.5)
    assert split.loc["strategy", "wanted_n"] == 1
    kinds = m.agenda_kinds(agenda).set_index(["kind", "focus"])["minutes"]
    assert kinds[("decision", "operations")] == 30 and kinds[("discussion", "strategy")] == 60
    assert kinds.sum() == 100

    ratings = _answers([(1, "power:0", 5), (2, "power:0", 4), (1, "interest:0", 2),
                        (2, "interest:0", 2), (1, "power:1", 1), (1, "interest:1", 5)])
    pos = m.stakeholder_positions(ratings, ["Ministry", "Users", "Press"]).set_index("actor")
    assert pos.loc["Ministry", "power"] == 4.5
    assert pos.loc["Ministry", "quadrant"] == "keep_satisfied"
    assert pos.loc["Users", "quadrant"] == "keep_informed"
    assert pd.isna(pos.loc["Press", "quadrant"]) and pos.loc["Press", "power_n"] == 0
    assert m.quadrant(4, 4) == "manage_closely" and m.quadrant(2, 2) == "monitor"
