"""Words for the numbers: bands against the norm, "above most of the norm", participation."""

from __future__ import annotations

import dataclasses
import re

import pytest

from kit.reports.layout import GroupReport
from kit.results import (
    DEVELOPMENT,
    IN_LINE,
    STRENGTH,
    group_results,
    load_scored_data,
    low_participation,
    norm_band,
    participation_share,
)


@pytest.fixture(scope="module")
def data(demo_store, demo_settings, instrument):
    return load_scored_data(demo_store, demo_settings, instrument)


def _res(demo_store, demo_settings, instrument, data, group, lang="en", waves=("before", "after")):
    return group_results(demo_store, demo_settings, group, list(waves), lang, instrument, data=data)


def test_a_band_follows_the_interval_against_the_norm_mean() -> None:
    assert norm_band(5.5, 5.1, 5.9, 5.0) == STRENGTH  # whole interval above
    assert norm_band(4.4, 4.0, 4.8, 5.0) == DEVELOPMENT  # whole interval below
    assert norm_band(5.2, 4.7, 5.7, 5.0) == IN_LINE  # holds the norm mean
    assert norm_band(5.0, 5.0, 5.4, 5.0) == IN_LINE  # touching is not above
    assert norm_band(5.0, 4.5, 5.5, float("nan")) is None  # no norm: no band
    assert norm_band(float("nan"), float("nan"), float("nan"), 5.0) is None  # hidden dimension


def test_participation_flag_below_sixty_percent() -> None:
    assert participation_share(6, 10) == pytest.approx(0.6)
    assert not low_participation(6, 10)
    assert low_participation(5, 9)  # 55.6 %
    assert participation_share(5, None) is None and not low_participation(5, None)
    assert participation_share(5, 0) is None


def test_every_shown_dimension_gets_its_band_in_the_profile_and_summary(
    demo_store, demo_settings, instrument, data
) -> None:
    res = _res(demo_store, demo_settings, instrument, data, "k1-kystverket")
    d = res.dimensions
    assert d["band"].notna().all()
    for rec in d.to_dict("records"):
        expected = norm_band(rec["mean"], rec["ci_low"], rec["ci_high"], rec["norm_mean"])
        assert rec["band"] == expected
    report = GroupReport(res)
    profile = str(report.profile())
    assert profile.count('class="kit-band kit-band-') == len(d)
    summary = str(report.summary())
    for band, word in ((STRENGTH, "Clear strengths"), (DEVELOPMENT, "Development areas (")):
        names = list(d.loc[d["band"] == band, "dimension_name"])
        if names:
            assert word in summary
            assert all(n in summary for n in names)
    assert "Even your weakest" not in summary  # this team has dimensions below most of the norm


def test_weakest_above_most_of_the_norm_is_said_in_words(
    demo_store, demo_settings, instrument, data
) -> None:
    res = _res(demo_store, demo_settings, instrument, data, "k1-kystverket")
    high = res.dimensions.assign(percentile=[60.0 + i for i in range(len(res.dimensions))])
    strong = dataclasses.replace(res, dimensions=high)
    assert strong.above_most_of_norm and not res.above_most_of_norm
    assert "Even your weakest dimensions sit above most of the norm" in str(
        GroupReport(strong).summary()
    )
    nb = dataclasses.replace(strong, language="nb")
    assert "Selv de svakeste dimensjonene" in str(GroupReport(nb).summary())
    # one dimension at the median is not "above most"
    at_median = high.assign(percentile=[50.0] + list(high["percentile"][1:]))
    assert not dataclasses.replace(res, dimensions=at_median).above_most_of_norm


def test_low_participation_is_flagged_on_the_cover_even_when_results_are_hidden(
    demo_store, demo_settings, instrument, data
) -> None:
    res = _res(demo_store, demo_settings, instrument, data, "k2-fiskeridirektoratet")
    assert res.respondents == 4 and res.invited == 11 and res.low_participation
    cover = str(GroupReport(res).cover())
    assert "36 % of those invited" in cover
    assert "Below 60 %: read the results with care" in cover
    nb = str(GroupReport(_res(demo_store, demo_settings, instrument, data,
                              "k2-fiskeridirektoratet", "nb")).cover())  # fmt: skip
    assert "Under 60 %: les resultatene med varsomhet" in nb
    full = _res(demo_store, demo_settings, instrument, data, "k1-kystverket")
    assert not full.low_participation
    assert "read the results with care" not in str(GroupReport(full).cover())


def test_a_group_with_every_dimension_visible_shows_every_dimension(
    demo_store, demo_settings, instrument, data
) -> None:
    res = _res(demo_store, demo_settings, instrument, data, "k1-kystverket")
    assert res.reportable and res.dimensions["suppressed"].isna().all()
    report = GroupReport(res)
    profile = str(report.profile())
    rows = re.findall(r"<tr><td>(.*?)</td><td>(.*?)</td>", profile)
    shown = {name: mean for name, mean in rows if not name.startswith("<em>")}
    for rec in res.dimensions.to_dict("records"):
        assert rec["dimension_name"] in shown, rec["dimension"]
        assert re.fullmatch(r"\d\.\d", shown[rec["dimension_name"]]), shown[rec["dimension_name"]]
    assert "kit-muted" not in "".join(shown.values())
    change = str(report.change())
    assert all(rec["dimension_name"] in change for rec in res.dimensions.to_dict("records"))


@pytest.mark.parametrize("lang", ["nb", "en"])
def test_numbers_follow_the_language_in_text_tables_and_charts(
    demo_store, demo_settings, instrument, data, lang
) -> None:
    import html

    from kit.reports.layout import CohortReport, ProgrammeReport
    from kit.results import cohort_results, programme_results

    waves = ["before", "after"]
    reports = [
        GroupReport(_res(demo_store, demo_settings, instrument, data, "k1-kystverket", lang)),
        CohortReport(cohort_results(demo_store, demo_settings, "kull-1", waves, lang,
                                    instrument, data=data)),
        ProgrammeReport(programme_results(demo_store, demo_settings, None, waves, lang,
                                          instrument, data=data)),
    ]  # fmt: skip
    wrong = r"\d\.\d" if lang == "nb" else r"\d,\d"
    right = r"\d,\d" if lang == "nb" else r"\d\.\d"
    for report in reports:
        page = "".join(report.all_sections())
        text = html.unescape(
            re.sub(r"<[^>]+>", " ", re.sub(r"<svg.*?</svg>", " ", page, flags=re.S))
        )
        labels = " ".join(re.findall(r"<text[^>]*>([^<]*)</text>", page))  # chart axes, values
        assert not re.search(wrong, text), re.findall(r".{20}" + wrong + r".{10}", text)
        assert not re.search(wrong, labels), labels[:300]
        assert re.search(right, text) and re.search(right, labels)
