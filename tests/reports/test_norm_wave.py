"""A fixed norm: ``norm_wave`` in the run file and report parameters, said in the report."""

from __future__ import annotations

import html

import numpy as np
import pytest

from kit.errors import NotFoundError, ParameterError
from kit.reports.layout import GroupReport
from kit.reports.params import GroupReportParams, check_run, load_run_file, validate_params
from kit.results import _norm_groups, comparison_values, group_results, load_scored_data

GROUP = "k1-kystverket"


@pytest.fixture(scope="module")
def data(demo_store, demo_settings, instrument):
    return load_scored_data(demo_store, demo_settings, instrument)


def test_norm_wave_fixes_the_norm_of_a_later_wave(
    demo_store, demo_settings, instrument, data
) -> None:
    fixed = group_results(
        demo_store, demo_settings, GROUP, ["before", "after"], "en", instrument,
        data=data, norm_wave="before",
    )  # fmt: skip
    own = group_results(
        demo_store, demo_settings, GROUP, ["before", "after"], "en", instrument, data=data
    )
    assert fixed.wave == "after" and fixed.norm_wave == "before" and fixed.norm_fixed
    assert own.norm_wave == "after" and not own.norm_fixed
    norm_ids = _norm_groups(data, "norm")
    for wave, res in (("before", fixed), ("after", own)):
        ref = comparison_values(data, wave, norm_ids, GROUP)
        d = res.dimensions.set_index("dimension")
        for did, sub in ref.groupby("dimension"):
            means = np.sort(sub["mean"].to_numpy(float))
            assert d.loc[did, "norm_groups"] == len(means)
            assert d.loc[did, "norm_mean"] == pytest.approx(round(means.mean(), 1))
            mine = d.loc[did, "mean"]
            below, equal = (means < mine).sum(), (means == mine).sum()
            assert d.loc[did, "percentile"] == pytest.approx(
                round(100 * (below + equal / 2) / len(means))
            )
    assert (
        fixed.norm_groups == comparison_values(data, "before", norm_ids, GROUP)["group"].nunique()
    )
    assert fixed.norm_groups != own.norm_groups  # the demo's after round has fewer norm groups


def test_the_report_says_which_norm_and_how_many_groups(
    demo_store, demo_settings, instrument, data
) -> None:
    fixed = group_results(
        demo_store, demo_settings, GROUP, ["before", "after"], "en", instrument,
        data=data, norm_wave="before",
    )  # fmt: skip
    profile = html.unescape(str(GroupReport(fixed).profile()))
    assert (
        f"The norm is teams marked as part of the norm with published results in the survey "
        f"round 'Before': {fixed.norm_groups} leadership teams."
    ) in profile
    assert "Every survey round is compared with the same norm (from 'Before')." in profile
    assert "from 'Before'" in html.unescape(str(GroupReport(fixed).appendix()))
    nb = group_results(
        demo_store, demo_settings, GROUP, ["before", "after"], "nb", instrument,
        data=data, norm_wave="before",
    )  # fmt: skip
    assert f"«Før»: {nb.norm_groups} ledergrupper" in str(GroupReport(nb).profile())
    own = group_results(
        demo_store, demo_settings, GROUP, ["before", "after"], "en", instrument, data=data
    )
    assert "compared with the norm teams of the same round" in str(GroupReport(own).profile())


def test_an_unknown_norm_wave_is_refused(demo_store, demo_settings, instrument, data) -> None:
    with pytest.raises(NotFoundError, match=r"Norm wave 'middle' does not exist; the waves are"):
        group_results(
            demo_store, demo_settings, GROUP, None, "en", instrument, data=data, norm_wave="middle"
        )
    with pytest.raises(ParameterError, match=r"norm_wave"):
        validate_params(GroupReportParams, {"group_id": GROUP, "norm_wave": "no wave!"})


def test_run_file_norm_wave_reaches_every_report_and_is_checked(
    tmp_path, demo_settings, demo_store
) -> None:
    path = tmp_path / "run.yaml"
    path.write_text(
        "waves: [before, after]\nnorm_wave: before\ngroups: [k1-kystverket]\ncohorts: [kull-1]\n",
        encoding="utf-8",
    )
    spec = load_run_file(path, "en")
    assert {j.params.norm_wave for j in spec.jobs} == {"before"}
    check_run(spec, demo_settings, "en")
    path.write_text("norm_wav: before\ngroups: [k1-kystverket]\n", encoding="utf-8")
    with pytest.raises(ParameterError, match=r"did you mean norm_wave"):
        load_run_file(path, "en")
    path.write_text("norm_wave: [before]\ngroups: [k1-kystverket]\n", encoding="utf-8")
    with pytest.raises(ParameterError, match=r"norm_wave"):
        load_run_file(path, "en")
    path.write_text(
        "waves: [after]\nnorm_wave: middle\ngroups: [k1-kystverket]\n", encoding="utf-8"
    )
    with pytest.raises(ParameterError, match=r"middle") as info:
        check_run(load_run_file(path, "en"), demo_settings, "en")
    assert "norm_wave" in str(info.value)


def test_the_demo_run_file_fixes_the_norm_to_before() -> None:
    from kit.settings import PROJECT_DIR

    spec = load_run_file(PROJECT_DIR / "parameters" / "demo_programme.yaml", "en")
    assert {j.params.norm_wave for j in spec.jobs} == {"before"}
