"""Chart spec templates (kit.charts.templated_spec): a chart filled into a template equals the one
Altair builds, spec and SVG, for every group of the demo and the three-wave programme, in both
languages; and the template is really used (one Altair build per key)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from kit import charts
from kit.reports.layout import GroupReport
from kit.results import group_results, load_scored_data
from kit.store import open_store


def _report_charts(monkeypatch: pytest.MonkeyPatch, report: GroupReport) -> list[charts.KitChart]:
    """Every chart a group report draws, with the HTML of its sections."""
    made: list[charts.KitChart] = []
    real = charts.KitChart.to_html

    def keep(self: charts.KitChart) -> str:
        made.append(self)
        return real(self)

    monkeypatch.setattr(charts.KitChart, "to_html", keep)
    report.all_sections()
    monkeypatch.setattr(charts.KitChart, "to_html", real)
    return made


def _json(chart: charts.KitChart) -> str:
    """The spec as JSON (NaN compares equal to NaN there, as Altair may pass it on)."""
    return json.dumps(chart.to_dict())


def _pairs(monkeypatch, store, settings, instrument, groups, waves, data):
    for lang in ("nb", "en"):
        for gid in groups:
            res = group_results(store, settings, gid, waves, lang, instrument, data=data)
            filled = _report_charts(monkeypatch, GroupReport(res))
            built = charts.TEMPLATE_STATS["built"]
            with charts.no_templates():
                direct = _report_charts(monkeypatch, GroupReport(res))
            assert charts.TEMPLATE_STATS["built"] - built == len(direct)  # all by Altair
            assert len(filled) == len(direct)
            yield from zip(filled, direct, strict=True)


def test_filled_specs_equal_altairs_for_every_demo_group(monkeypatch, demo_store, demo_settings,
                                                         instrument) -> None:  # fmt: skip
    charts.clear_templates()
    before = dict(charts.TEMPLATE_STATS)
    data = load_scored_data(demo_store, demo_settings, instrument)
    groups = list(demo_store.list_groups()["id"])[::5]  # every cohort, norm groups too
    n = 0
    for filled, direct in _pairs(
        monkeypatch, demo_store, demo_settings, instrument, groups, ["before", "after"], data
    ):
        assert _json(filled) == _json(direct)  # key order too
        assert (filled.title, filled.description) == (direct.title, direct.description)
        n += 1
    assert n > 4 * len(groups)  # profile, change and distributions for most groups, twice
    filled_count = charts.TEMPLATE_STATS["filled"] - before["filled"]
    assert filled_count > n / 2  # most charts were filled, not built


def test_filled_charts_render_the_same_svg_and_three_waves(monkeypatch, three_waves,
                                                           instrument) -> None:  # fmt: skip
    settings = three_waves.settings
    store = open_store(settings)
    data = load_scored_data(store, settings, instrument)
    kinds = set()
    for filled, direct in _pairs(
        monkeypatch, store, settings, instrument, three_waves.groups, list(three_waves.waves), data
    ):
        assert _json(filled) == _json(direct)
        svg = filled.to_svg()  # from the Vega template, filled
        with charts.no_templates():
            assert svg == direct.to_svg()  # vl_convert.vegalite_to_svg of Altair's spec
        kinds.add(filled.title)
    assert len(kinds) >= 4  # profile, change, waves, distributions (in two languages)


def test_records_are_altairs_values_or_refused() -> None:
    import altair as alt

    frame = pd.DataFrame(
        {
            "s": ["a", "b", None],
            "f": [1.5, np.nan, np.inf],
            "i": [1, 2, 3],
            "b": [True, False, True],
        }
    )
    chart = alt.Chart(frame).mark_point().encode(x="f:Q")
    (expected,) = chart.to_dict(validate=False)["datasets"].values()
    assert charts._records(frame) == expected
    assert charts._dataset_name(expected) == next(iter(chart.to_dict()["datasets"]))
    # pandas' own types and mixed object columns, converted as Altair converts them
    for other in (
        pd.DataFrame({"n": pd.array([1, None], dtype="Int64")}),
        pd.DataFrame({"s": pd.array(["a", None], dtype="str"), "o": [None, "x"]}),
        pd.DataFrame({"o": [float("nan"), "x"]}),
    ):
        (values,) = alt.Chart(other).mark_point().to_dict(validate=False)["datasets"].values()
        assert json.dumps(charts._records(other)) == json.dumps(values)
    # types the template does not know are left to Altair
    assert charts._records(pd.DataFrame({"o": [object(), "x"]})) is None
    assert charts._records(pd.DataFrame({"c": pd.Categorical(["a"])})) is None


def test_a_template_is_per_key_and_data_pattern() -> None:
    charts.clear_templates()
    profile = pd.DataFrame(
        {
            "dimension_name": ["A", "B"],
            "mean": [5.0, 4.0],
            "norm_mean": [4.5, 4.5],
            "norm_low": [4.0, 4.0],
            "norm_high": [5.0, 5.0],
        }
    )
    one = charts.profile_chart(profile, "en", scale_min=1, scale_max=7)
    other = profile.assign(mean=[6.0, 3.0])
    two = charts.profile_chart(other, "en", scale_min=1, scale_max=7)
    with charts.no_templates():
        direct = charts.profile_chart(other, "en", scale_min=1, scale_max=7)
    assert two.to_dict() == direct.to_dict() != one.to_dict()
    renamed = profile.assign(dimension_name=["A", "C"])  # another key: built anew
    with charts.no_templates():
        expected = charts.profile_chart(renamed, "en", scale_min=1, scale_max=7).to_dict()
    assert charts.profile_chart(renamed, "en", scale_min=1, scale_max=7).to_dict() == expected
    # a filled spec is a copy: changing it changes no later chart
    spec = two.to_dict()
    spec["layer"][0]["mark"]["color"] = "red"
    assert charts.profile_chart(other, "en", scale_min=1, scale_max=7).to_dict() == (
        direct.to_dict()
    )


def test_the_norm_mean_is_drawn_in_the_profile_and_its_legend() -> None:
    """Each series of the profile has a filled, visible mark: the norm's mean a short bar in the
    norm colour across its band (a 'stroke' shape had no area: drawn invisible)."""
    import re

    import pandas as pd

    from kit import charts

    frame = pd.DataFrame(
        {
            "dimension_name": ["A", "B"],
            "mean": [4.0, 5.0],
            "norm_mean": [4.5, 4.6],
            "norm_low": [4.0, 4.2],
            "norm_high": [5.0, 5.1],
        }
    )
    chart = charts.profile_chart(frame, "nb", scale_min=1, scale_max=7, group_name="X")
    spec = chart.to_dict()
    assert "stroke" not in json.dumps(spec["layer"][1]["encoding"]["shape"])
    svg = chart.to_svg()
    norm = charts.NORM_COLOUR.lower()
    marks = re.findall(rf'<path[^>]*fill="{norm}"[^>]*>', svg.lower())
    assert len(marks) >= 3  # two dimensions and the legend's symbol
