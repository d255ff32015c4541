"""Leader and members: shown only where the engine's rule allows it; attacks on the split.

Every store test runs on SQLite and PostgreSQL (``any_store``). The split is decided once, at
publication (``kit.privacy.split_by_role``), and stored in the snapshot; a view never scores raw
answers.
"""

from __future__ import annotations

import html
import json
import re
import uuid

import numpy as np
import pandas as pd
import pytest

from kit.instrument import Instrument
from kit.privacy import AnonymityRules, split_by_role
from kit.publication import DIGITS, publish, publish_group_wave, round_frame
from kit.reports.layout import GroupReport
from kit.results import group_results
from kit.settings import Settings
from kit.store import publications as pubs


def _rows(instrument: Instrument, group: str, roles: list, seed: int, start: int = 0, level=4.5):
    rng = np.random.default_rng(seed)
    out = []
    for i, role in enumerate(roles, start=start):
        r = {"respondent": f"{group}-{i}", "group": group, "wave": "before", "role": role}
        for item in instrument.items:
            r[item.id] = float(np.clip(round(level + rng.normal(0, 1.0)), 1, 7))
        for q in instrument.open_question_ids:
            r[q] = None
        out.append(r)
    return pd.DataFrame(out)


def _setup(store) -> None:
    store.save_cohort("rk", "Kull R", "Rolleprogrammet")
    store.save_wave("before", 1)
    for g in ("big", "one", "rest"):
        store.save_group(g, f"Gruppe {g}", f"Org {g}", "rk", in_norm_base=False)
        store.save_group_wave(g, "before", invited=20)


def _load(store, instrument, table) -> int:
    return store.import_responses(table, instrument, uuid.uuid4().hex, "r.csv").import_id


def _settings(store, **kw) -> Settings:
    return Settings(database_url=store.url, **kw)


def _view(store, settings, instrument, group, lang="en"):
    return group_results(store, settings, group, ["before"], lang, instrument)


LEADERS_5_MEMBERS_6 = ["leader"] * 5 + ["member"] * 6


def test_the_split_is_shown_where_the_rule_allows_it(any_store, instrument) -> None:
    store, settings = any_store, _settings(any_store)
    _setup(store)
    table = _rows(instrument, "big", LEADERS_5_MEMBERS_6, seed=1)
    _load(store, instrument, table)
    publish(store, settings, instrument, close=True)
    res = _view(store, settings, instrument, "big")
    assert res.roles is not None and res.roles_text == ""
    expect = split_by_role(
        table, instrument, AnonymityRules.from_settings(settings), "big", "before"
    ).dimensions
    expect = round_frame(expect)  # rounded as publication rounds (numpy's half to even)
    got = res.roles.set_index(["role", "dimension"])
    for rec in expect.to_dict("records"):
        row = got.loc[(rec["role"], rec["dimension"])]
        assert row["n"] == rec["n"]
        assert row["mean"] == pytest.approx(rec["mean"], abs=1e-9)
        assert row["ci_low"] == pytest.approx(rec["ci_low"], abs=1e-9)
        assert row["ci_high"] == pytest.approx(rec["ci_high"], abs=1e-9)
        assert f"{rec['mean']:.{DIGITS['mean']}f}" == f"{row['mean']:.1f}"
    section = html.unescape(str(GroupReport(res).roles()))
    assert "Leaders" in section and "Members" in section and "<svg" in section
    for name in res.dimensions["dimension_name"]:
        assert name in section
    nb = html.unescape(str(GroupReport(_view(store, settings, instrument, "big", "nb")).roles()))
    assert "Ledere" in nb and "Forskjell" in nb


def _numbers(text: str) -> list[str]:
    """Every number in a piece of HTML text (tags dropped)."""
    return re.findall(r"\d+(?:[.,]\d+)?", html.unescape(re.sub(r"<[^>]+>", " ", text)))


@pytest.mark.parametrize(
    ("group", "roles"),
    [
        ("one", ["leader"] + ["member"] * 9),  # the usual team: one leader
        ("rest", ["leader"] * 5 + ["member"] * 5 + [None] * 2),  # 2 without a role
    ],
)
def test_a_refused_split_says_why_without_numbers_and_stores_none(
    any_store, instrument, group, roles
) -> None:
    """A member who knows the leader's answers would get the members' mean by subtraction
    (one leader), or the two role-less answers from team - leaders - members (rest)."""
    store, settings = any_store, _settings(any_store)
    _setup(store)
    _load(store, instrument, _rows(instrument, group, roles, seed=2))
    publish(store, settings, instrument, close=True)
    res = _view(store, settings, instrument, group)
    assert res.reportable and res.roles is None
    assert "not shown separately" in res.roles_text
    section = str(GroupReport(res).roles())
    assert "kit-roles-refused" in section and "<table" not in section and "<svg" not in section
    assert set(_numbers(section)) == {str(settings.min_subgroup_respondents)}  # the rule only
    pub = pubs.current_publication(store, instrument.id, group, "before")
    assert pub.view["roles"] == {"suppressed": "subgroup"}  # not even the side sizes
    nb = str(GroupReport(_view(store, settings, instrument, group, "nb")).roles())
    assert "vises ikke hver for seg" in nb


def test_one_changed_member_cannot_be_read_from_two_versions_of_the_split(
    any_store, instrument
) -> None:
    """v1 shows leaders 5 / members 6. Four leaders join and one member changes an answer:
    6 changes, so a new version is published, but the members' side moved by 2 responses (one
    out, one in): its mean would give the changed member's answers. The split is blanked."""
    store, settings = any_store, _settings(any_store)
    _setup(store)
    base = _rows(instrument, "big", LEADERS_5_MEMBERS_6, seed=3)
    first = _load(store, instrument, base)
    publish(store, settings, instrument, close=True)
    assert _view(store, settings, instrument, "big").roles is not None
    changed = base.copy()
    item = instrument.items[0].id
    changed.loc[changed.index[-1], item] = 8 - changed.loc[changed.index[-1], item]
    changed.loc[changed.index[-1], instrument.items[1].id] = 1.0
    store.delete_import(first)
    _load(store, instrument, changed)
    _load(store, instrument, _rows(instrument, "big", ["leader"] * 4, seed=4, start=50))
    out = publish_group_wave(store, settings, instrument, "big", "before")
    assert out.status == "published" and out.version == 2
    res = _view(store, settings, instrument, "big")
    assert res.roles is None and "fewer than" in res.roles_text.lower()
    pub = pubs.current_publication(store, instrument.id, "big", "before")
    assert pub.view["roles"] == {"suppressed": "changed"}
    assert res.dimensions["mean"].notna().any()  # the team itself is still shown


def test_a_side_that_moved_by_the_threshold_is_shown_again(any_store, instrument) -> None:
    store, settings = any_store, _settings(any_store)
    _setup(store)
    _load(store, instrument, _rows(instrument, "big", LEADERS_5_MEMBERS_6, seed=5))
    publish(store, settings, instrument, close=True)
    _load(store, instrument, _rows(instrument, "big", ["member"] * 5, seed=6, start=60))
    assert publish_group_wave(store, settings, instrument, "big", "before").version == 2
    res = _view(store, settings, instrument, "big")
    assert res.roles is not None
    assert set(res.roles.loc[res.roles["role"] == "member", "n"].dropna()) <= {11}


def test_a_stricter_view_only_hides_more(any_store, instrument) -> None:
    store, settings = any_store, _settings(any_store)
    _setup(store)
    _load(store, instrument, _rows(instrument, "big", LEADERS_5_MEMBERS_6, seed=7))
    publish(store, settings, instrument, close=True)
    strict = _settings(store, min_respondents=6, min_subgroup_respondents=6)
    res = _view(store, strict, instrument, "big")
    assert res.roles is None and "at least 6 leaders" in res.roles_text
    assert json.dumps(pubs.current_publication(store, instrument.id, "big", "before").view)


def test_the_demo_shows_leaders_and_members_for_one_team_and_the_refusal_for_others(
    demo_store, demo_settings, instrument
) -> None:
    """The demo's extended leadership group (five leaders) gets the split; every other team of
    the demo (one leader each) gets the refusal, with no number but the threshold."""
    from kit.results import load_scored_data

    data = load_scored_data(demo_store, demo_settings, instrument)
    groups = demo_store.list_groups()
    shown, refused = [], []
    for gid in groups.loc[groups["cohort_id"].notna(), "id"]:
        res = group_results(demo_store, demo_settings, gid, None, "en", instrument, data=data)
        if not res.reportable:
            continue
        section = html.unescape(str(GroupReport(res).roles()))
        if res.roles is not None:
            shown.append(gid)
            assert "<table" in section and "<svg" in section and "kit-roles-refused" not in section
            leaders = res.roles[res.roles["role"] == "leader"]
            assert leaders["mean"].notna().any() and (leaders["n"].dropna() >= 5).all()
        else:
            refused.append(gid)
            assert "kit-roles-refused" in section and "<table" not in section
            text = re.sub(r"<[^>]+>", " ", section)
            assert set(re.findall(r"\d+", text)) <= {"5"}  # the threshold, nothing else
    assert len(shown) == 1 and len(refused) >= 10
