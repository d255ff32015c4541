"""More than two waves: every wave in programme order, consecutive and first-to-last change."""

from __future__ import annotations

import html

import numpy as np
import pytest
from scipy import stats

from kit.instrument import Instrument
from kit.reports.layout import GroupReport
from kit.reports.params import load_run_file
from kit.results import group_results, load_scored_data
from kit.store import open_store


@pytest.fixture(scope="module")
def ctx(three_waves, instrument: Instrument):
    store = open_store(three_waves.settings)
    return store, three_waves.settings, load_scored_data(store, three_waves.settings, instrument)


def _res(ctx, instrument, group, waves=None, lang="en", **kw):
    store, settings, data = ctx
    return group_results(store, settings, group, waves, lang, instrument, data=data, **kw)


def _welch(b: dict, a: dict) -> tuple[float, float, float]:
    """Hand-derived Welch change and 95 % interval from two published (rounded) rows."""
    vb, va = b["sd"] ** 2 / b["n"], a["sd"] ** 2 / a["n"]
    se = np.sqrt(vb + va)
    df = (vb + va) ** 2 / (vb**2 / (b["n"] - 1) + va**2 / (a["n"] - 1))
    q = stats.t.ppf(0.975, df)
    change = a["mean"] - b["mean"]
    return round(change, 2), round(change - q * se, 2), round(change + q * se, 2)


def test_every_wave_in_programme_order_with_steps_and_overall(ctx, instrument) -> None:
    res = _res(ctx, instrument, "tw-a")
    assert res.waves == ("before", "midway", "after")  # ordinal order, not alphabetical
    lv, ch = res.wave_levels, res.wave_changes
    assert list(dict.fromkeys(lv["wave"])) == ["before", "midway", "after"]
    assert len(lv) == 3 * len(instrument.dimensions) and lv["mean"].notna().all()
    pairs = list(dict.fromkeys(zip(ch["before"], ch["after"], ch["kind"], strict=True)))
    assert pairs == [
        ("before", "midway", "step"),
        ("midway", "after", "step"),
        ("before", "after", "overall"),
    ]
    d = ctx[2].dimensions
    rows = {
        (w, dim): rec
        for rec in d[d["group"] == "tw-a"].to_dict("records")
        for w, dim in [(rec["wave"], rec["dimension"])]
    }
    for rec in ch.to_dict("records"):
        b, a = rows[(rec["before"], rec["dimension"])], rows[(rec["after"], rec["dimension"])]
        change, lo, hi = _welch(b, a)
        assert rec["change"] == pytest.approx(change, abs=1e-6)
        assert rec["ci_low"] == pytest.approx(lo, abs=0.011)
        assert rec["ci_high"] == pytest.approx(hi, abs=0.011)
    overall = ch[ch["kind"] == "overall"].set_index("dimension")["change"]
    assert overall.round(2).equals(res.change.set_index("dimension")["change"].round(2))
    for rec in lv.to_dict("records"):
        assert rec["mean"] == rows[(rec["wave"], rec["dimension"])]["mean"]


def test_a_hidden_middle_wave_hides_its_steps_but_not_first_to_last(ctx, instrument) -> None:
    res = _res(ctx, instrument, "tw-d", lang="en")
    lv, ch = res.wave_levels, res.wave_changes
    mid = lv[lv["wave"] == "midway"]
    assert mid["mean"].isna().all() and mid["n"].isna().all()
    assert set(mid["suppressed"]) == {"too_few"}
    steps = ch[ch["kind"] == "step"]
    assert steps["change"].isna().all() and steps["ci_low"].isna().all()
    assert ch[ch["kind"] == "overall"]["change"].notna().all()
    section = html.unescape(str(GroupReport(res).waves()))
    assert "Midway: Hidden: fewer than 5 responses" in section
    assert "Before → Midway" in section and "Before → After" in section
    # the middle wave's number is nowhere: three responses
    assert section.count("<tr>") == 1 + len(instrument.dimensions)


def test_waves_section_shows_every_dimension_and_wave_in_both_languages(ctx, instrument) -> None:
    res = _res(ctx, instrument, "tw-a", lang="nb")
    section = html.unescape(str(GroupReport(res).waves()))
    assert "Før → Midtveis → Etter" in section
    for name in res.dimensions["dimension_name"]:
        assert name in section
    first = res.wave_levels.iloc[0]
    assert f"{first['mean']:.1f}".replace(".", ",") in section
    assert "<svg" in section and 'aria-label="Prikkdiagram' in section
    assert "−" in section or "+" in section  # signed changes with a true minus
    en = html.unescape(str(GroupReport(_res(ctx, instrument, "tw-a")).waves()))
    assert "Before → Midway → After" in en


def test_two_waves_show_no_waves_section(ctx, instrument) -> None:
    res = _res(ctx, instrument, "tw-a", waves=["before", "after"])
    assert res.waves == ("before", "after")
    assert str(GroupReport(res).waves()) == ""
    assert set(res.wave_changes["kind"]) == {"step"}


def test_a_run_file_names_the_waves_to_compare(tmp_path, ctx, instrument) -> None:
    path = tmp_path / "run.yaml"
    path.write_text(
        "waves: [before, after]\nnorm_wave: before\ngroups: [tw-a, tw-d]\n", encoding="utf-8"
    )
    spec = load_run_file(path, "en")
    assert {j.params.waves for j in spec.jobs} == {"before,after"}
    res = _res(ctx, instrument, "tw-d", waves=spec.jobs[1].params.wave_list, norm_wave="before")
    assert res.waves == ("before", "after") and "midway" not in set(res.wave_levels["wave"])
    assert res.change["change"].notna().all() and res.norm_groups == 5
    path.write_text("waves: [before, midway, after]\ngroups: [tw-a]\n", encoding="utf-8")
    job = load_run_file(path, "en").jobs[0]
    assert job.params.wave_list == ["before", "midway", "after"]
    assert _res(ctx, instrument, "tw-a", waves=job.params.wave_list).waves == (
        "before", "midway", "after",
    )  # fmt: skip
