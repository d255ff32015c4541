"""``kit.comparison``: the comparison aggregates of a group's results made once per publication
set give exactly what making them for each group gives, and never outlive a publication."""

from __future__ import annotations

import dataclasses

import pandas as pd

from kit import comparison
from kit.instrument import load_instrument
from kit.results import group_results, load_scored_data


def _programme_groups(store) -> list[str]:
    groups = store.list_groups()
    gw = store.list_group_waves()
    ids = set(groups.loc[groups["cohort_id"].notna(), "id"])
    return sorted(set(gw.loc[gw["group_id"].isin(ids) & (gw["respondents"] > 0), "group_id"]))


def _same(a, b) -> None:
    for name in ("dimensions", "items", "distributions"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name))
    if a.change is None:
        assert b.change is None
    else:
        pd.testing.assert_frame_equal(a.change, b.change)
    pd.testing.assert_frame_equal(a.method["table"], b.method["table"])
    assert {k: v for k, v in a.method.items() if k != "table"} == {
        k: v for k, v in b.method.items() if k != "table"
    }
    assert (a.norm_groups, a.cohort_groups_shown, a.comparison_text) == (
        b.norm_groups,
        b.cohort_groups_shown,
        b.comparison_text,
    )


def test_shared_comparisons_equal_the_per_group_ones(demo_home):
    store, settings = demo_home.store, demo_home.settings
    inst = load_instrument(settings.instrument)
    data = load_scored_data(store, settings, inst)
    assert data.data_hash
    uncached = dataclasses.replace(data, data_hash="")  # never cached: made for each group
    comparison.clear()
    groups = _programme_groups(store)
    assert len(groups) >= 4
    for group_id in groups:
        for lang in ("nb", "en"):
            shared = group_results(store, settings, group_id, None, lang, inst, data=data)
            own = group_results(store, settings, group_id, None, lang, inst, data=uncached)
            _same(shared, own)
    # a group's view never changes what the next group's view reads
    first = group_results(store, settings, groups[0], None, "nb", inst, data=data)
    first.method["table"].loc[:, "alpha_all"] = -1.0
    again = group_results(store, settings, groups[0], None, "nb", inst, data=data)
    assert (again.method["table"]["alpha_all"].fillna(0) != -1.0).all()


def test_a_new_publication_set_is_never_served_from_the_old_one(demo_home):
    store, settings = demo_home.store, demo_home.settings
    inst = load_instrument(settings.instrument)
    data = load_scored_data(store, settings, inst)
    group_id = _programme_groups(store)[0]
    before = group_results(store, settings, group_id, None, "nb", inst, data=data)
    # the same published rows with one other group's means moved: another fingerprint
    dims = data.dimensions.copy()
    other = dims["group"] != group_id
    dims.loc[other, "mean"] = dims.loc[other, "mean"] + 0.5
    moved = dataclasses.replace(data, dimensions=dims, data_hash=data.data_hash + "-moved")
    after = group_results(store, settings, group_id, None, "nb", inst, data=moved)
    b = before.dimensions.set_index("dimension")["norm_mean"].dropna()
    a = after.dimensions.set_index("dimension")["norm_mean"].dropna()
    assert len(b) and ((a - b).between(0.39, 0.61)).all()  # norm means are rounded to 0.1
