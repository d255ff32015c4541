"""Cohort and programme heatmaps (level and change), participation per group and wave."""

from __future__ import annotations

import html
import re

import pytest

from kit.reports.layout import REASON_MARKS, CohortReport, ProgrammeReport
from kit.results import (
    _norm_groups,
    _norm_table,
    cohort_results,
    load_scored_data,
    norm_band,
    programme_results,
)

SMALL = "k2-fiskeridirektoratet"  # 4 of 11 in "after": hidden


@pytest.fixture(scope="module")
def data(demo_store, demo_settings, instrument):
    return load_scored_data(demo_store, demo_settings, instrument)


def _cohort(demo_store, demo_settings, instrument, data, lang="en", cohort="kull-2", **kw):
    return cohort_results(
        demo_store, demo_settings, cohort, ["before", "after"], lang, instrument, data=data, **kw
    )


def test_level_heatmap_has_every_group_and_dimension_with_bands_against_the_norm(
    demo_store, demo_settings, instrument, data
) -> None:
    res = _cohort(demo_store, demo_settings, instrument, data, norm_wave="before")
    h = res.heatmap
    groups = set(data.groups.loc[data.groups["cohort_id"] == "kull-2", "id"])
    assert set(h["group"]) == groups and len(h) == len(groups) * len(instrument.dimensions)
    d = data.dimensions
    norm_ids = _norm_groups(data, "norm")
    for g in groups - {SMALL}:
        own = d[(d["group"] == g) & (d["wave"] == "after")].set_index("dimension")
        norm = _norm_table(data, "before", norm_ids, g, own["mean"]).set_index("dimension")
        for rec in h[h["group"] == g].to_dict("records"):
            if rec["suppressed"] is None:
                o = own.loc[rec["dimension"]]
                assert rec["value"] == o["mean"]
                assert rec["band"] == norm_band(
                    o["mean"], o["ci_low"], o["ci_high"], norm.loc[rec["dimension"], "norm_mean"]
                )
    hidden = h[h["group"] == SMALL]
    assert set(hidden["suppressed"]) == {"too_few"} and hidden["value"].isna().all()
    assert hidden["band"].isna().all()


def test_hidden_cells_print_their_mark_and_reason_and_no_number(
    demo_store, demo_settings, instrument, data
) -> None:
    res = _cohort(demo_store, demo_settings, instrument, data)
    section = html.unescape(str(CohortReport(res).heatmaps()))
    assert f"<strong>{REASON_MARKS['too_few']}</strong> Hidden: fewer than 5 responses" in section
    level = section.split('<table class="kit-heatmap kit-heatmap-level">', 1)[1]
    level = level.split("</table>")[0]
    small_name = data.groups.set_index("id").loc[SMALL, "organisation"]
    rows = dict(re.findall(r'<th scope="row"[^>]*>([^<]*)</th>(.*?)</tr>', level))
    assert small_name in rows  # the whole name, a row of its own
    labels = re.findall(r"<td[^>]*>([^<]*)</td>", level)
    shown = res.heatmap["suppressed"].isna().sum()
    numbers = [x for x in labels if re.fullmatch(r"\d\.\d", x)]
    assert len(numbers) == shown  # one value per shown cell, none for hidden ones
    assert labels.count(REASON_MARKS["too_few"]) == res.heatmap["suppressed"].notna().sum()
    small = re.findall(r"<td[^>]*>([^<]*)</td>", rows[small_name])
    assert small == [REASON_MARKS["too_few"]] * len(instrument.dimensions)  # no number at all
    dims = re.findall(r'<th scope="col" class="kit-hm-dim"><span>([^<]*)</span>', level)
    assert dims == [d.name["en"] for d in instrument.dimensions]  # whole names, in order


def test_values_follow_the_language_and_change_bands_follow_the_interval(
    demo_store, demo_settings, instrument, data
) -> None:
    res = _cohort(demo_store, demo_settings, instrument, data, lang="nb")
    section = html.unescape(str(CohortReport(res).heatmaps()))
    labels = re.findall(r"<td[^>]*>([^<]*)</td>", section)
    assert any(re.fullmatch(r"\d,\d", x) for x in labels)
    assert not any(re.fullmatch(r"\d\.\d", x) for x in labels)
    assert any(re.fullmatch(r"[+−]\d,\d", x) for x in labels)  # signed change, true minus
    assert "tydelig styrke" in section and "tydelig opp" in section
    ch = res.change_heatmap
    from kit.results import _change_frame

    ref = _change_frame(data, list(set(ch["group"])), "before", "after").set_index(
        ["group", "dimension"]
    )
    for rec in ch[ch["suppressed"].isna()].to_dict("records"):
        x = ref.loc[(rec["group"], rec["dimension"])]
        want = "up" if x["ci_low"] > 0 else "down" if x["ci_high"] < 0 else "no_clear"
        assert rec["band"] == want and rec["value"] == x["change"]
    assert ch.loc[ch["group"] == SMALL, "value"].isna().all()


def test_participation_per_group_and_wave_is_flagged(
    demo_store, demo_settings, instrument, data
) -> None:
    res = _cohort(demo_store, demo_settings, instrument, data)
    p = res.participation.set_index(["group", "wave"])
    assert p.loc[(SMALL, "after"), "respondents"] == 4 and p.loc[(SMALL, "after"), "low"]
    assert not p.loc[("k2-kartverket", "after"), "low"]
    section = html.unescape(str(CohortReport(res).participation()))
    assert "4 of 11 invited (36 %)" in section and "read with care" in section
    assert section.count("kit-participation-low") == int(p["low"].sum())


def test_programme_report_has_both_heatmaps_over_every_group(
    demo_store, demo_settings, instrument, data
) -> None:
    res = programme_results(
        demo_store, demo_settings, None, ["before", "after"], "en", instrument, data=data,
        norm_wave="before",
    )  # fmt: skip
    programme_groups = data.groups["cohort_id"].notna().sum()
    assert res.heatmap["group"].nunique() == programme_groups
    assert res.change_heatmap["group"].nunique() == programme_groups
    assert res.participation["group"].nunique() == programme_groups
    report = ProgrammeReport(res)
    text = html.unescape(str(report.heatmaps()))
    assert "Level in 'After' against the norm" in text and "Change from 'Before' to 'After'" in text
    assert str(report.participation()).count("<tr>") == 1 + programme_groups


def test_long_agency_names_show_whole_in_the_heatmap(demo_store, demo_settings, instrument,
                                                     data) -> None:  # fmt: skip
    long = "Direktoratet for samfunnssikkerhet og beredskap, regionkontoret i Nord-Norge"
    res = _cohort(demo_store, demo_settings, instrument, data, lang="nb")
    renamed = res.heatmap.assign(
        group_name=res.heatmap["group_name"].where(res.heatmap["group"] != SMALL, long)
    )
    from kit.reports.layout import _heatmap_block

    block = _heatmap_block(renamed, "level", "Nivå", "nb")
    assert f'<th scope="row" class="kit-hm-group">{html.escape(long)}</th>' in block
    assert "…" not in block  # nothing cut
