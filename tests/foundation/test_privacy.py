"""kit.privacy: the anonymity rules hold on small groups, in every table a report can receive."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from kit.errors import NotFoundError, PrivacyError, SettingsError
from kit.instrument import parse_instrument
from kit.privacy import (
    AnonymityRules,
    Comments,
    ProtectedScores,
    compare_waves,
    protect,
    select_comments,
    split_by_role,
)
from kit.scoring import score_responses
from kit.settings import Settings

ITEMS = ("q1", "q2", "q3", "q4")
KEY_COLUMNS = {"group", "wave", "item", "dimension", "value", "suppressed"}


@pytest.fixture(scope="module")
def instrument():
    return parse_instrument(
        {
            "id": "mini",
            "version": "1",
            "languages": ["en"],
            "name": "Mini",
            "scale": {"min": 1, "max": 5, "labels": {"en": ["1", "2", "3", "4", "5"]}},
            "categories": [{"id": "climate", "name": "Climate"}],
            "dimensions": [
                {"id": "safe", "category": "climate", "name": "Safety"},
                {"id": "goal", "category": "climate", "name": "Goal"},
            ],
            "items": [
                {"id": "q1", "dimension": "safe", "text": "t1"},
                {"id": "q2", "dimension": "safe", "text": "t2", "reverse": True},
                {"id": "q3", "dimension": "goal", "text": "t3"},
                {"id": "q4", "dimension": "goal", "text": "t4"},
            ],
            "open_questions": [
                {"id": "c1", "text": "What works?"},
                {"id": "c2", "text": "What to change?"},
            ],
        }
    )


def make_table(spec: dict[tuple[str, str], int], roles: dict | None = None, seed: int = 0):
    """{(group, wave): size} with random answers; roles: {(group, wave): [role, ...]}."""
    rng = np.random.default_rng(seed)
    rows = []
    for (group, wave), size in spec.items():
        cell_roles = (roles or {}).get((group, wave)) or ["member"] * size
        for i in range(size):
            row = {"respondent": f"{group}-{wave}-{i}", "group": group, "wave": wave}
            row["role"] = cell_roles[i]
            row.update({q: float(rng.integers(1, 6)) for q in ITEMS})
            row["c1"] = f"{group} {wave} comment {i}"
            row["c2"] = None if i % 2 else f"{group} {wave} change {i}"
            rows.append(row)
    return pd.DataFrame(rows)


RULES = AnonymityRules(min_respondents=5, min_subgroup_respondents=5, min_comment_respondents=7)


@pytest.fixture(scope="module")
def table():
    return make_table({("big", "w1"): 8, ("big", "w2"): 6, ("tiny", "w1"): 4, ("tiny", "w2"): 7,
                       ("mid", "w1"): 5, ("mid", "w2"): 9})  # fmt: skip


@pytest.fixture(scope="module")
def protected(table, instrument) -> ProtectedScores:
    return protect(score_responses(table, instrument), RULES)


def numeric_values(frame: pd.DataFrame) -> pd.DataFrame:
    cols = [c for c in frame.columns if c not in KEY_COLUMNS]
    assert all(pd.api.types.is_numeric_dtype(frame[c]) or frame[c].isna().all() for c in cols), cols
    return frame[cols]


def test_group_of_four_shows_no_number_anywhere(protected):
    tables = {
        "items": protected.items,
        "distributions": protected.distributions,
        "dimensions": protected.dimensions,
        "change": compare_waves(protected, "w1", "w2"),
    }
    for name, frame in tables.items():
        tiny = frame[frame["group"] == "tiny"]
        if "wave" in tiny:
            tiny = tiny[tiny["wave"] == "w1"]
        assert len(tiny), name
        values = numeric_values(tiny)
        assert values.isna().all().all(), f"{name} shows a number for a group of 4"
        assert (tiny["suppressed"] == "too_few").all(), name
    # Its response count stays (staff chase answers), with the reason, and nothing else.
    gw = protected.group_waves
    tiny = gw[(gw["group"] == "tiny") & (gw["wave"] == "w1")]
    assert list(tiny["n"]) == [4] and list(tiny["suppressed"]) == ["too_few"]
    assert list(tiny.columns) == ["group", "wave", "n", "suppressed"]
    # The same group in a wave with 7 respondents is shown.
    assert protected.reportable("tiny", "w2") and not protected.reportable("tiny", "w1")
    shown = protected.dimensions
    shown = shown[(shown["group"] == "tiny") & (shown["wave"] == "w2")]
    assert shown["mean"].notna().all() and shown["suppressed"].isna().all()
    assert (shown["n"] == 7).all()


def test_protected_scores_hold_no_respondent_data(protected):
    assert not hasattr(protected, "respondent_scores")
    assert not hasattr(protected, "answers")
    for frame in (protected.items, protected.dimensions, protected.distributions):
        assert "respondent" not in frame and "role" not in frame


def test_pooled_statistics_use_reportable_groups_only(table, instrument, protected):
    visible = table[~((table["group"] == "tiny") & (table["wave"] == "w1"))]
    expected = score_responses(visible, instrument)
    pd.testing.assert_frame_equal(protected.reliability, expected.reliability)
    pd.testing.assert_frame_equal(protected.icc, expected.icc)
    assert (protected.icc.loc[protected.icc["wave"] == "w1", "groups"] == 2).all()


def test_item_answered_by_too_few_is_hidden_in_a_reportable_group(instrument):
    t = make_table({("g", "w"): 6})
    t.loc[[0, 1, 2], "q3"] = np.nan  # q3 answered by 3 of 6
    p = protect(score_responses(t, instrument), RULES)
    q3 = p.items[p.items["item"] == "q3"].iloc[0]
    assert q3["suppressed"] == "too_few" and math.isnan(q3["mean"]) and pd.isna(q3["n"])
    dist = p.distributions[p.distributions["item"] == "q3"]
    assert dist["count"].isna().all() and (dist["suppressed"] == "too_few").all()
    q4 = p.items[p.items["item"] == "q4"].iloc[0]
    assert q4["suppressed"] is None and q4["n"] == 6
    # goal still has 6 scores (q4 alone is half of the dimension's items).
    goal = p.dimensions[p.dimensions["dimension"] == "goal"].iloc[0]
    assert goal["n"] == 6 and goal["suppressed"] is None


def test_change_only_where_both_waves_are_reportable(protected):
    change = compare_waves(protected, "w1", "w2")
    big = change[change["group"] == "big"]
    assert big["change"].notna().all() and big["suppressed"].isna().all()
    tiny = change[change["group"] == "tiny"]
    assert tiny["change"].isna().all() and tiny["mean_after"].isna().all()
    assert (tiny["suppressed"] == "too_few").all()
    with pytest.raises(TypeError, match="needs ProtectedScores; call protect"):
        compare_waves(object(), "w1", "w2")


def test_rules_from_settings_and_reason_texts():
    settings = Settings(min_respondents=3, min_subgroup_respondents=4, min_comment_respondents=6)
    rules = AnonymityRules.from_settings(settings)
    assert (rules.min_respondents, rules.min_subgroup_respondents) == (3, 4)
    assert rules.min_comment_respondents == 6
    assert rules.reason_text("too_few", "en") == "Hidden: fewer than 3 responses (anonymity)."
    assert "minst 6" in rules.reason_text("comments", "nb")
    assert "fewer than 4" in rules.reason_text("subgroup", "en")
    with pytest.raises(SettingsError, match="min_respondents must be at least 3 \\(got 2\\)"):
        AnonymityRules(min_respondents=2)
    with pytest.raises(SettingsError, match="min_comment_respondents must be at least"):
        AnonymityRules(min_respondents=5, min_comment_respondents=4)


# --------------------------------------------------------------------------------------------
# Leader vs members
# --------------------------------------------------------------------------------------------


def test_split_refused_in_a_group_of_seven_with_one_leader(instrument):
    roles = {("g", "w"): ["leader"] + ["member"] * 6}
    t = make_table({("g", "w"): 7}, roles)
    split = split_by_role(t, instrument, RULES, "g", "w")
    assert split.refused and split.suppressed == "subgroup" and split.min_n == 5
    assert split.dimensions.empty
    with pytest.raises(
        PrivacyError,
        match=r"Leader vs members for group 'g' in wave 'w' is not shown: too few respondents "
        r"per role \(leader 1\).*at least 5 \(min_subgroup_respondents\)",
    ):
        split.raise_if_refused()


def test_split_refused_when_the_rest_could_be_worked_out(instrument):
    rules = AnonymityRules(3, 3, 3)
    roles = {("g", "w"): ["leader"] * 3 + ["member"] * 4 + [None]}
    split = split_by_role(make_table({("g", "w"): 8}, roles), instrument, rules, "g", "w")
    assert split.refused
    assert "1 respondents have no role" in split.detail


def test_split_shown_when_every_side_is_large_enough(instrument):
    rules = AnonymityRules(3, 3, 3)
    roles = {("g", "w"): ["leader"] * 3 + ["member"] * 4}
    t = make_table({("g", "w"): 7}, roles)
    split = split_by_role(t, instrument, rules, "g", "w").raise_if_refused()
    d = split.dimensions
    assert set(d["role"]) == {"leader", "member"} and d["suppressed"].isna().all()
    members = score_responses(t[t["role"] == "member"], instrument).dimensions
    m = d[(d["role"] == "member") & (d["dimension"] == "safe")].iloc[0]
    assert m["mean"] == pytest.approx(members.loc[members["dimension"] == "safe", "mean"].iloc[0])
    assert m["n"] == 4


def test_split_hides_a_dimension_where_a_side_has_too_few_scores(instrument):
    rules = AnonymityRules(3, 3, 3)
    roles = {("g", "w"): ["leader"] * 3 + ["member"] * 4}
    t = make_table({("g", "w"): 7}, roles)
    t.loc[0, ["q3", "q4"]] = np.nan  # one leader has no goal score: 2 leaders left
    d = split_by_role(t, instrument, rules, "g", "w").dimensions
    goal = d[d["dimension"] == "goal"]
    assert (goal["suppressed"] == "subgroup").all() and goal["mean"].isna().all()
    assert goal["n"].isna().all()
    assert d.loc[d["dimension"] == "safe", "suppressed"].isna().all()


def test_split_of_unknown_group(instrument):
    with pytest.raises(NotFoundError, match="Group 'nope' has no responses in wave 'w'"):
        split_by_role(make_table({("g", "w"): 7}), instrument, RULES, "nope", "w")


# --------------------------------------------------------------------------------------------
# Comments
# --------------------------------------------------------------------------------------------


def test_comments_hidden_below_the_threshold(table, instrument):
    c = select_comments(table, instrument, "mid", "w1", RULES, seed=1)  # 5 respondents
    assert isinstance(c, Comments)
    assert c.suppressed == "comments" and c.min_n == 7 and c.texts == ()


def test_comments_unattributed_and_shuffled(table, instrument):
    c = select_comments(table, instrument, "mid", "w2", RULES, seed=3)  # 9 respondents
    assert c.suppressed is None
    originals = table[(table["group"] == "mid") & (table["wave"] == "w2")]
    assert sorted(c.by_question["c1"]) == sorted(originals["c1"])
    assert sorted(c.by_question["c2"]) == sorted(originals["c2"].dropna())  # blanks dropped
    assert list(c.by_question["c1"]) != list(originals["c1"])  # order differs from the rows
    # Deterministic with a seed, different with another one.
    assert select_comments(table, instrument, "mid", "w2", RULES, seed=3).texts == c.texts
    assert select_comments(table, instrument, "mid", "w2", RULES, seed=4).texts != c.texts
    # Texts only: no respondent id, no role anywhere in the result.
    assert set(vars(c)) == {"group", "wave", "by_question", "suppressed", "min_n"}
    ids = set(originals["respondent"]) | {"member", "leader"}
    assert all(isinstance(text, str) for text in c.texts)
    assert not any(text in ids for text in c.texts)
    # The two questions are shuffled independently (no linking a person's two comments).
    c1_rows = [int(s.rsplit(" ", 1)[1]) for s in c.by_question["c1"]]
    c2_rows = [int(s.rsplit(" ", 1)[1]) for s in c.by_question["c2"]]
    assert [r for r in c1_rows if r % 2 == 0] != c2_rows


def test_split_refused_for_a_team_below_the_threshold(instrument):
    roles = {("g", "w"): ["leader"] + ["member"] * 3}
    split = split_by_role(make_table({("g", "w"): 4}, roles), instrument, RULES, "g", "w")
    assert split.refused and "the team has only 4 respondents" in split.detail


def test_protect_needs_scores_as_scored(table, instrument):
    with pytest.raises(TypeError, match="protect\\(\\) needs kit.scoring.Scores, not dict"):
        protect({}, RULES)
    scores = score_responses(table, instrument)
    tampered = type(scores)(**{**vars(scores), "items": scores.items.iloc[:-1]})
    with pytest.raises(ValueError, match="needs Scores exactly as score_responses returned"):
        protect(tampered, RULES)
