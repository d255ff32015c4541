"""The step rule of published live results, as a pure function (no server, no database)."""

from __future__ import annotations

import pandas as pd

from kit.live.visibility import freeze, unit_of


def answers(*rows: tuple[int, str, float | None]) -> pd.DataFrame:
    return pd.DataFrame([{"id": i, "participant": p, "group_id": None, "question": q,
                          "value": v, "text": None, "data": None}
                         for i, (p, q, v) in enumerate(rows)])


def test_units() -> None:
    assert unit_of("entry:abc") == unit_of("entry:xyz") == "entries"
    assert unit_of("vote:12") == "votes"
    assert unit_of("P01") == "P01" and unit_of("power:0") == "power:0"


def test_a_unit_enters_with_the_threshold_and_changes_only_in_steps() -> None:
    two = answers((1, "P01", 1.0), (2, "P01", 5.0))
    assert freeze(None, two, 3) is None  # two people: nothing to publish
    three = answers((1, "P01", 1.0), (2, "P01", 5.0), (3, "P01", 3.0), (3, "P02", 2.0))
    v1 = freeze(None, three, 3)
    assert sorted(v1["value"]) == [1.0, 3.0, 5.0]  # P02 (one answer) is not in it
    # one late answer and one changed answer: two differ, fewer than 3 - no new version
    late = answers((1, "P01", 2.0), (2, "P01", 5.0), (3, "P01", 3.0), (4, "P01", 4.0))
    assert freeze(v1, late, 3) is None
    # a third person differs: P01 is replaced as a whole, P02 keeps what it had (nothing)
    step = answers((1, "P01", 2.0), (2, "P01", 5.0), (3, "P01", 3.0), (4, "P01", 4.0),
                   (5, "P01", 4.0), (5, "P02", 1.0))
    v2 = freeze(v1, step, 3)
    assert sorted(v2.loc[v2["question"] == "P01", "value"]) == [2.0, 3.0, 4.0, 4.0, 5.0]
    assert (v2["question"] == "P02").sum() == 0
    assert freeze(v2, step, 3) is None  # nothing new: the same version stays


def test_taking_answers_back_counts_as_a_difference() -> None:
    three = answers((1, "entry:a", 10.0), (2, "entry:b", 20.0), (3, "entry:c", 30.0))
    v1 = freeze(None, three, 3)
    gone = answers((1, "entry:a", 10.0))  # two took their entries back: not a step
    assert freeze(v1, gone, 3) is None
    gone = answers((4, "entry:d", 5.0))  # three gone, one new: a step of four
    assert freeze(v1, gone, 3)["value"].tolist() == [5.0]
