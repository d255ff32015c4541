"""kit.results and kit.charts without a kernel: what a report or the dashboard receives."""

from __future__ import annotations

import pandas as pd
import pytest

from kit import charts
from kit.errors import NotFoundError
from kit.reports.export import atomic_write_text, external_references
from kit.results import (
    AGREEMENT_THRESHOLD,
    cohort_results,
    group_results,
    load_scored_data,
    programme_results,
)

SMALL = "k2-fiskeridirektoratet"  # 4 respondents in "after"


@pytest.fixture(scope="module")
def data(demo_store, demo_settings, instrument):
    return load_scored_data(demo_store, demo_settings, instrument)


def test_group_results_judge_against_the_norm_base(
    demo_store, demo_settings, instrument, data
) -> None:
    res = group_results(
        demo_store, demo_settings, "k1-kystverket", ["before", "after"], "en", instrument, data=data
    )
    assert res.reportable and res.wave == "after" and res.baseline_wave == "before"
    assert len(res.dimensions) == len(instrument.dimensions)
    assert set(res.strengths).isdisjoint(res.development_areas)
    d = res.dimensions.set_index("dimension")
    assert (
        d.loc[list(res.strengths), "percentile"].min()
        >= d.loc[list(res.development_areas), "percentile"].max()
    )
    assert set(res.disagreements) == set(d.index[d["rwg_j"] < AGREEMENT_THRESHOLD])
    suggested = {e["id"] for e in res.exercises}
    expected = {x for dim in res.development_areas for x in instrument.dimension(dim).exercises}
    assert suggested == expected
    assert res.change is not None and res.change["change"].notna().all()
    assert res.distributions["count"].ge(0).all()
    assert "respondent" not in res.items.columns and "respondent" not in res.distributions


def test_under_threshold_group_carries_no_scores(
    demo_store, demo_settings, instrument, data
) -> None:
    res = group_results(
        demo_store, demo_settings, SMALL, ["before", "after"], "en", instrument, data=data
    )
    assert not res.reportable
    assert "fewer than 5" in res.suppressed_text
    assert res.dimensions.empty and res.items.empty and res.distributions.empty
    assert res.change is None and res.comments == () and res.strengths == ()


def test_unknown_group_and_wave_say_what_exists(
    demo_store, demo_settings, instrument, data
) -> None:
    with pytest.raises(NotFoundError, match=r"Group 'nope' does not exist"):
        group_results(demo_store, demo_settings, "nope", None, "nb", instrument, data=data)
    with pytest.raises(
        NotFoundError,
        match=r"Wave\(s\) middle do not exist; the waves are: "
        r"before, midway, after",
    ):
        group_results(
            demo_store, demo_settings, "k1-kystverket", ["middle"], "nb", instrument, data=data
        )


def test_cohort_results_leave_out_groups_under_threshold(
    demo_store, demo_settings, instrument, data
) -> None:
    res = cohort_results(
        demo_store, demo_settings, "kull-2", ["before", "after"], "nb", instrument, data=data
    )
    after = res.groups[res.groups["wave"] == "after"].set_index("group_id")
    assert not after.loc[SMALL, "shown"]
    assert "Fiskeridirektoratet" not in set(res.side_by_side["after"]["group_name"])
    shown = after[after["shown"]]
    assert set(res.side_by_side["after"]["group_name"]) == set(shown["organisation"])
    assert after.loc[~after["shown"], "note"].str.contains("færre enn").all()


def test_programme_results_rank_dimensions_by_change(
    demo_store, demo_settings, instrument, data
) -> None:
    res = programme_results(
        demo_store, demo_settings, None, ["before", "after"], "en", instrument, data=data
    )
    changes = list(res.dimension_change["mean_change"])
    assert changes == sorted(changes, reverse=True)
    assert len(res.groups_left_out) == 3  # the demo's three small group waves
    assert res.groups_summary["group"].nunique() == 13


def test_charts_are_static_svg_with_alt_text() -> None:
    profile = pd.DataFrame(
        {
            "dimension_name": ["Purpose", "Climate"],
            "mean": [5.2, None],
            "norm_mean": [4.8, 4.9],
            "norm_low": [4.2, 4.3],
            "norm_high": [5.3, 5.4],
            "cohort_mean": [5.0, 4.5],
        }
    )
    chart = charts.profile_chart(profile, "en", scale_min=1, scale_max=7, group_name="Team A")
    html = chart.to_html()
    assert html.startswith('<figure class="kit-chart">') and "<svg" in html
    assert 'aria-label="Dot chart: Team A' in html and "<figcaption>" in html
    assert external_references(html) == [] and "<script" not in html
    spec = chart.to_dict()
    assert spec["config"]["range"]["category"][0] == charts.OKABE_ITO[0]


def test_external_references_finds_requests_not_namespaces() -> None:
    page = (
        '<svg xmlns="http://www.w3.org/2000/svg"></svg><a href="https://example.org">x</a>'
        '<img src="https://cdn.example.org/x.png"><script src="app.js"></script>'
        '<style>@import "https://fonts.example.org/a.css"; b{background:url(//x.org/i)}'
        "</style>"
    )
    assert external_references(page) == [
        "app.js",
        "https://cdn.example.org/x.png",
        "//x.org/i",
        "https://fonts.example.org/a.css",
    ]


def test_atomic_write_leaves_no_temp_file(tmp_path) -> None:
    target = tmp_path / "a" / "report.html"
    atomic_write_text(target, "one")
    atomic_write_text(target, "two")
    assert target.read_text() == "two"
    assert [p.name for p in target.parent.iterdir()] == ["report.html"]


def test_action_plan_from_live_sessions_is_shown(settings, instrument) -> None:
    from kit.demo import make_demo
    from kit.reports.layout import GroupReport
    from kit.store import live, open_store

    make_demo(settings, seed=1, small=True)
    store = open_store(settings)
    sid = live.create_session(
        store,
        code="TESTAB",
        key_hash="x",
        title="Samling 2",
        group_ids=["k1-kystverket"],
        cohort_id="kull-1",
        language="nb",
        exercises=["action_plan"],
        instrument_id="lagprofil",
        rounds=[],
    )
    live.add_action(
        store,
        sid,
        "k1-kystverket",
        "Strategimøte hver måned",
        owner="Kari",
        due_date="2025-03-01",
        dimension="right_issues",
        status="in_progress",
    )
    res = group_results(store, settings, "k1-kystverket", ["before", "after"], "nb", instrument)
    assert list(res.actions["action"]) == ["Strategimøte hver måned"]
    html = GroupReport(res).actions()
    assert "Strategimøte hver måned" in html and "Riktige saker på agendaen" in html
    assert "i gang" in html and "1. mars 2025" in html
    other = group_results(store, settings, "k1-husbanken", None, "nb", instrument)
    assert other.actions is None and GroupReport(other).actions() == ""
