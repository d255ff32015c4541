"""The demo programme: realistic, deterministic, imported like real survey exports."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from kit.demo import NOT_APPLICABLE, make_demo, slug
from kit.errors import KitError
from kit.scoring import compare_waves, score_responses
from kit.settings import Settings
from kit.store import open_store


def test_small_demo_has_the_programme_structure(demo_summary, demo_store):
    assert (demo_summary.cohorts, demo_summary.programme_groups, demo_summary.norm_groups) == (
        4, 16, 12)
    groups = demo_store.list_groups()
    programme = groups[groups["cohort_id"].notna()]
    assert programme.groupby("cohort_id").size().tolist() == [4, 4, 4, 4]
    assert not programme["in_norm_base"].any()
    norm = groups[groups["cohort_id"].isna()]
    assert len(norm) == 12 and norm["in_norm_base"].all()
    assert list(demo_store.list_waves()["id"]) == ["before", "midway", "after"]
    gw_all = demo_store.list_group_waves()
    midway = set(gw_all.loc[gw_all["wave_id"] == "midway", "group_id"])
    assert midway == set(programme.loc[programme["cohort_id"] == "kull-1", "id"])  # a third wave
    gw = demo_store.list_group_waves()
    invited = gw[gw["group_id"].isin(programme["id"])]["invited"]
    assert invited.between(5, 12).all()
    assert all(r.skipped is False for r in demo_summary.imports)


def test_full_demo_has_a_norm_base_of_at_least_60(tmp_path):
    summary = make_demo(Settings(home_dir=tmp_path), seed=3, import_data=False)
    assert summary.norm_groups >= 60 and summary.programme_groups == 16
    assert summary.total_respondents > 600
    programme = yaml.safe_load(summary.programme_path.read_text(encoding="utf-8"))
    norm = programme["norm_base"]
    twice = [g for g in norm if "after" in g["invited"]]
    assert 0 < len(twice) < len(norm)  # some norm groups were surveyed twice, most once
    assert len({g["id"] for g in norm}) == len(norm)


def test_exports_are_what_a_norwegian_survey_tool_writes(demo_summary):
    raw = demo_summary.export_paths["before"].read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM
    text = raw.decode("utf-8-sig")
    header = text.splitlines()[0].split(";")
    assert header[:6] == ["Respondent ID", "Team", "Måling", "Rolle", "Startet", "Tid brukt (min)"]
    assert "Spm 56" in header and "Kommentar 3" in header
    assert "\r\n" in text
    frame = pd.read_csv(demo_summary.export_paths["before"], sep=";", decimal=",",
                        encoding="utf-8-sig", dtype=str, keep_default_na=False)
    assert frame["Tid brukt (min)"].str.contains(",").any()  # decimal comma
    assert (frame["Måling"] == "Før").all()
    assert set(frame["Rolle"]) == {"Leder for gruppen", "Medlem av gruppen"}
    assert (frame.filter(like="Spm ") == NOT_APPLICABLE).to_numpy().sum() > 0
    assert demo_summary.mapping_path.is_file()


def test_same_seed_same_files_and_rerun_changes_nothing(tmp_path, demo_summary, demo_settings):
    again = make_demo(Settings(home_dir=tmp_path), seed=1, small=True, import_data=False)
    for name in ("programme_path", "mapping_path"):
        assert getattr(again, name).read_bytes() == getattr(demo_summary, name).read_bytes()
    for wave, path in demo_summary.export_paths.items():
        assert again.export_paths[wave].read_bytes() == path.read_bytes()
    other = make_demo(Settings(home_dir=tmp_path / "other"), seed=2, small=True, import_data=False)
    before = demo_summary.export_paths["before"].read_bytes()
    assert other.export_paths["before"].read_bytes() != before
    rerun = make_demo(demo_settings, seed=1, small=True)
    assert [r.skipped for r in rerun.imports] == [True, True, True]


def test_another_seed_on_the_same_database_says_reset(settings):
    make_demo(settings, seed=5, small=True)
    with pytest.raises(KitError, match=r"already holds a demo file .* Run 'kit demo --reset'"):
        make_demo(settings, seed=6, small=True)
    assert len(open_store(settings).list_imports()) == 3


def test_answers_look_like_real_survey_data(demo_store, demo_summary, instrument):
    table = demo_store.load_responses(instrument)
    assert len(table) == demo_summary.total_respondents
    items = table[list(instrument.item_ids)]
    missing = items.isna().to_numpy().mean()
    assert 0.02 < missing < 0.05  # ~3 % unanswered plus a few "not applicable"
    values = items.stack().dropna()
    assert values.between(1, 7).all() and set(values.unique()) == set(range(1, 8))
    leaders = table[table["role"] == "leader"].groupby(["group", "wave"]).size()
    assert len(leaders) == len(table.groupby(["group", "wave"]))
    # one leader per team, but for the one extended leadership group (five leaders)
    extended = set(leaders[leaders > 1].index.get_level_values("group"))
    assert len(extended) == 1 and set(leaders[leaders > 1]) == {5}
    assert (leaders.drop(index=list(extended), level="group") == 1).all()
    assert table["respondent"].is_unique


def test_some_programme_groups_are_below_the_anonymity_threshold(demo_store, demo_summary):
    assert len({g for g, _, _ in demo_summary.small_group_waves}) >= 2
    gw = demo_store.list_group_waves().set_index(["group_id", "wave_id"])
    for group, wave, n in demo_summary.small_group_waves:
        assert n < 5 and gw.loc[(group, wave), "respondents"] == n


def test_team_structure_gives_plausible_icc_and_change(demo_store, instrument):
    table = demo_store.load_responses(instrument)
    scores = score_responses(table, instrument)
    icc = scores.icc[scores.icc["wave"].isin(["before", "after"])]  # midway: 4 groups only
    icc1 = icc["icc1"]
    assert 0.05 <= icc1.median() <= 0.30, scores.icc
    assert icc1.between(-0.05, 0.40).all(), scores.icc
    groups = demo_store.list_groups()
    programme = set(groups.loc[groups["cohort_id"].notna(), "id"])
    change = compare_waves(scores, "before", "after")
    per_group = change[change["group"].isin(programme)].groupby("group")["change"].mean()
    assert (per_group > 0.05).sum() >= 9  # most teams improve ...
    assert (per_group <= 0.05).sum() >= 1  # ... some do not
    spread = change[change["group"].isin(programme)].groupby("dimension")["change"].mean()
    assert spread.max() - spread.min() > 0.1  # dimension-specific effects


def test_items_correlate_within_dimensions(demo_store, instrument):
    table = demo_store.load_responses(instrument)
    x = table[list(instrument.item_ids)].copy()
    for item in instrument.reverse_item_ids:
        x[item] = 8 - x[item]
    corr = x.corr().to_numpy()
    dims = np.array([instrument.item_dimension[i] for i in instrument.item_ids])
    same = dims[:, None] == dims[None, :]
    off_diagonal = ~np.eye(len(dims), dtype=bool)
    within = corr[same & off_diagonal].mean()
    between = corr[~same].mean()
    assert within > between + 0.08 and between > 0  # a general factor plus dimensions


def test_comments_are_varied_bokmal(demo_store, instrument):
    table = demo_store.load_responses(instrument)
    comments = pd.concat([table[q] for q in instrument.open_question_ids]).dropna()
    assert len(comments) > 100 and comments.nunique() > 60
    assert comments.str.contains("[æøå]").mean() > 0.3
    assert comments.str.len().between(15, 300).all()


def test_slug_makes_ascii_ids():
    assert slug("Lånekassen") == "lanekassen"
    assert slug("Barne-, ungdoms- og familiedirektoratet") == "barne-ungdoms-og-familiedirektoratet"
    assert slug("Sjøfartsdirektoratet Ærø") == "sjofartsdirektoratet-aero"
