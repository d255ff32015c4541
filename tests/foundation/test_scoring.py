"""kit.scoring: every statistic checked against values derived by hand from the formulas
(DOMAIN.md; Bliese 2000; R package multilevel), on small groups written inline."""

from __future__ import annotations

import importlib.util
import math
import statistics
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from kit.errors import NotFoundError, ResponseFileError
from kit.instrument import parse_instrument
from kit.scoring import (
    Scores,
    cohort_position,
    compare_waves,
    cronbach_alpha_from_cov,
    icc_from_dimensions,
    norm_position,
    score_responses,
)

ITEMS = ("q1", "q2", "q3", "q4", "q5")
NaN = float("nan")


@pytest.fixture(scope="module")
def instrument():
    """Scale 1-5 (A = 5, sigma_EU^2 = 2); safe = q1, q2 (reverse), q3; goal = q4, q5."""
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
                {"id": "q3", "dimension": "safe", "text": "t3"},
                {"id": "q4", "dimension": "goal", "text": "t4"},
                {"id": "q5", "dimension": "goal", "text": "t5"},
            ],
            "open_questions": [{"id": "c1", "text": "Comment"}],
        }
    )


def make_table(groups: dict[tuple[str, str], list[tuple]]) -> pd.DataFrame:
    """{(group, wave): [(q1..q5), ...]} -> canonical response table (raw scale values)."""
    rows = []
    for (group, wave), answers in groups.items():
        for i, values in enumerate(answers):
            row = {"respondent": f"{group}-{wave}-{i}", "group": group, "wave": wave}
            row["role"] = "member"
            row.update(dict(zip(ITEMS, values, strict=True)))
            row["c1"] = None
            rows.append(row)
    return pd.DataFrame(rows)


# Group A: raw answers; q2 is reverse-keyed (x' = 6 - x).
GROUP_A = [
    (4, 2, 4, 5, 4),
    (5, 1, 4, 4, 4),
    (4, 2, 3, 5, NaN),
    (3, 3, 4, 4, 5),
    (4, 1, 5, 5, 4),
]
# Group B: polarised on safe (s_bar^2 > 2: truncated to 0), unanimous on goal (rwg_j = 1).
GROUP_B = [
    (1, 5, 1, 3, 3),
    (5, 1, 5, 3, 3),
    (1, 5, 1, 3, 3),
    (5, 1, 5, 3, 3),
    (1, 5, 5, 3, 3),
]
# Group C: missing answers; the 4th respondent answers 1 of 3 safe items (no safe score),
# q3 is answered by one scored respondent only (variance undefined: left out of s_bar^2).
GROUP_C = [
    (2, 4, NaN, 3, 4),
    (3, 3, NaN, 4, 4),
    (NaN, 3, 4, 3, 3),
    (2, NaN, NaN, 4, 3),
]


@pytest.fixture(scope="module")
def scores(instrument) -> Scores:
    table = make_table({("A", "w1"): GROUP_A, ("B", "w1"): GROUP_B, ("C", "w1"): GROUP_C})
    return score_responses(table, instrument)


def row(frame: pd.DataFrame, **keys) -> pd.Series:
    mask = np.ones(len(frame), dtype=bool)
    for k, v in keys.items():
        mask &= (frame[k] == v).to_numpy()
    assert mask.sum() == 1, keys
    return frame[mask].iloc[0]


def var(values) -> float:
    return statistics.variance(values)  # n - 1


def rwg_j(item_answers: list[list[float]], sigma: float = 2.0) -> float:
    """James, Demaree & Wolf (1984), items with fewer than 2 answers left out."""
    variances = [var(a) for a in item_answers if len(a) >= 2]
    j = len(variances)
    ratio = min(sum(variances) / j / sigma, 1.0)
    return j * (1 - ratio) / (j * (1 - ratio) + ratio)


def ad_m(item_answers: list[list[float]]) -> float:
    per_item = [sum(abs(x - sum(a) / len(a)) for x in a) / len(a) for a in item_answers]
    return sum(per_item) / len(per_item)


# --------------------------------------------------------------------------------------------


def test_reverse_keying_and_respondent_scores(scores):
    rs = scores.respondent_scores
    a = rs[rs["group"] == "A"].sort_values("respondent")
    # safe = mean(q1, 6 - q2, q3): 12/3, 14/3, 11/3, 10/3, 14/3
    assert a["safe"].tolist() == pytest.approx([4, 14 / 3, 11 / 3, 10 / 3, 14 / 3], abs=1e-12)
    # goal with q5 missing for the 3rd respondent: mean of the available item (1 of 2 = 50 %).
    assert a["goal"].tolist() == pytest.approx([4.5, 4, 5, 4.5, 4.5], abs=1e-12)
    q2 = row(scores.items, group="A", wave="w1", item="q2")
    assert q2["mean"] == pytest.approx(4.2, abs=1e-12)  # reverse-keyed 4, 5, 4, 3, 5
    assert q2["sd"] == pytest.approx(math.sqrt(0.7), abs=1e-12)
    assert q2["dimension"] == "safe" and q2["n"] == 5


def test_min_answered_share(scores, instrument):
    c = scores.respondent_scores[scores.respondent_scores["group"] == "C"]
    c = c.sort_values("respondent")
    # 1 of 3 safe items answered (< 50 %): no score; 2 of 3 is enough.
    assert c["safe"].isna().tolist() == [False, False, False, True]
    assert c["safe"].iloc[0] == pytest.approx((2 + (6 - 4)) / 2)
    strict = score_responses(
        make_table({("C", "w1"): GROUP_C}), instrument, min_answered_share=1.0
    ).respondent_scores
    assert strict["safe"].isna().all()  # nobody in C answered all three safe items
    assert strict["goal"].notna().all()
    with pytest.raises(ValueError, match=r"min_answered_share must be in \(0, 1\]"):
        score_responses(make_table({("C", "w1"): GROUP_C}), instrument, min_answered_share=0)


def test_dimension_mean_sd_and_t_interval(scores):
    d = row(scores.dimensions, group="A", wave="w1", dimension="safe")
    values = [4, 14 / 3, 11 / 3, 10 / 3, 14 / 3]
    mean = sum(values) / 5
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / 4)
    half = stats.t.ppf(0.975, 4) * sd / math.sqrt(5)
    assert d["n"] == 5
    assert d["mean"] == pytest.approx(61 / 15, abs=1e-12)
    assert d["sd"] == pytest.approx(sd, abs=1e-12)
    assert d["se"] == pytest.approx(sd / math.sqrt(5), abs=1e-12)
    assert (d["ci_low"], d["ci_high"]) == pytest.approx((mean - half, mean + half), abs=1e-12)


def test_rwg_j_by_hand(scores):
    a = row(scores.dimensions, group="A", wave="w1", dimension="safe")
    # item variances 0.5, 0.7, 0.5 -> s_bar^2 = 1.7/3; ratio = s_bar^2 / 2
    r = 1.7 / 3 / 2
    assert a["rwg_j"] == pytest.approx(3 * (1 - r) / (3 * (1 - r) + r), abs=1e-6)
    assert a["rwg_j"] == pytest.approx(0.883562, abs=1e-6)
    assert a["rwg_j"] == pytest.approx(
        rwg_j([[4, 5, 4, 3, 4], [4, 5, 4, 3, 5], [4, 4, 3, 4, 5]]), abs=1e-12
    )


def test_rwg_j_truncated_to_zero_and_perfect_agreement(scores):
    b_safe = row(scores.dimensions, group="B", wave="w1", dimension="safe")
    # q1 = 1,5,1,5,1: variance 4.8 > sigma_EU^2 = 2, so s_bar^2 > 2: rwg_j is set to 0.
    assert var([1, 5, 1, 5, 1]) == pytest.approx(4.8)
    assert b_safe["rwg_j"] == 0.0
    b_goal = row(scores.dimensions, group="B", wave="w1", dimension="goal")
    assert b_goal["rwg_j"] == 1.0 and b_goal["ad_m"] == 0.0


def test_rwg_j_and_ad_m_with_missing_answers(scores):
    c = row(scores.dimensions, group="C", wave="w1", dimension="safe")
    # Scored respondents 1-3; available answers per item: q1 = [2, 3], q2' = [2, 3, 3];
    # q3 = [4] has one answer -> no variance, left out (J = 2 for this group).
    q1, q2 = [2, 3], [2, 3, 3]
    assert c["n"] == 3
    assert c["rwg_j"] == pytest.approx(rwg_j([q1, q2]), abs=1e-12)
    s_bar = (0.5 + 1 / 3) / 2
    assert c["rwg_j"] == pytest.approx(2 * (1 - s_bar / 2) / (2 * (1 - s_bar / 2) + s_bar / 2))
    assert c["ad_m"] == pytest.approx(ad_m([q1, q2]), abs=1e-12)
    assert c["ad_m"] == pytest.approx((0.5 + (2 / 3 + 1 / 3 + 1 / 3) / 3) / 2, abs=1e-12)
    # Items table still counts every available answer (4th respondent included).
    assert row(scores.items, group="C", wave="w1", item="q1")["n"] == 3


def test_ad_m_by_hand(scores):
    a = row(scores.dimensions, group="A", wave="w1", dimension="safe")
    # |x - mean| / N per item: 2/5, 3.2/5, 2/5 -> averaged over 3 items
    assert a["ad_m"] == pytest.approx((0.4 + 0.64 + 0.4) / 3, abs=1e-12)
    assert a["ad_m"] == pytest.approx(ad_m([[4, 5, 4, 3, 4], [4, 5, 4, 3, 5], [4, 4, 3, 4, 5]]))


def test_cronbach_alpha_licence_free_check():
    cov = [[10, 6, 6, 6], [6, 11, 6, 6], [6, 6, 12, 6], [6, 6, 6, 13]]
    assert round(cronbach_alpha_from_cov(cov), 4) == 0.8136
    assert cronbach_alpha_from_cov(cov) == pytest.approx(4 / 3 * (1 - 46 / 118), abs=1e-12)
    with pytest.raises(ValueError, match="square covariance matrix of 2\\+ items"):
        cronbach_alpha_from_cov([[1.0]])


def test_alpha_per_group_complete_cases(scores):
    a = row(scores.dimensions, group="A", wave="w1", dimension="safe")
    # totals 12, 14, 11, 10, 14 -> var 3.2; item variances sum 1.7
    assert a["alpha"] == pytest.approx(1.5 * (1 - 1.7 / 3.2), abs=1e-12)
    # goal in A: respondent 3 misses q5 -> complete cases are the other four.
    q4, q5 = [5, 4, 4, 5], [4, 4, 5, 4]
    totals = [x + y for x, y in zip(q4, q5, strict=True)]
    expected = 2 * (1 - (var(q4) + var(q5)) / var(totals))
    assert row(scores.dimensions, group="A", wave="w1", dimension="goal")["alpha"] == (
        pytest.approx(expected, abs=1e-12)
    )
    # C has no complete safe case: no alpha.
    assert math.isnan(row(scores.dimensions, group="C", wave="w1", dimension="safe")["alpha"])


def test_reliability_over_all_respondents_of_the_wave(scores):
    rel = row(scores.reliability, wave="w1", dimension="safe")
    complete = []
    for answers in (GROUP_A, GROUP_B, GROUP_C):
        for q1, q2, q3, *_ in answers:
            if not any(math.isnan(v) for v in (q1, q2, q3)):
                complete.append((q1, 6 - q2, q3))
    cov = np.cov(np.array(complete).T, ddof=1)
    assert rel["n_complete"] == len(complete) == 10
    assert rel["alpha"] == pytest.approx(cronbach_alpha_from_cov(cov), abs=1e-12)


def test_icc_unbalanced_design(instrument):
    goal = {
        "G1": [(3, 3), (4, 4)],
        "G2": [(2, 3), (3, 3), (2, 2)],
        "G3": [(5, 4), (4, 4), (5, 5), (4, 5)],
    }
    groups = {(g, "w"): [(3, 3, 3, a, b) for a, b in pairs] for g, pairs in goal.items()}
    groups[("G3", "w")].append((3, 3, 3, NaN, NaN))  # no goal score: dropped from the ANOVA
    result = score_responses(make_table(groups), instrument)
    scores_by_group = {g: [(a + b) / 2 for a, b in pairs] for g, pairs in goal.items()}
    all_scores = [s for v in scores_by_group.values() for s in v]
    big_n, g = len(all_scores), len(scores_by_group)
    grand = sum(all_scores) / big_n
    ssb = sum(len(v) * (sum(v) / len(v) - grand) ** 2 for v in scores_by_group.values())
    ssw = sum(sum((x - sum(v) / len(v)) ** 2 for x in v) for v in scores_by_group.values())
    msb, msw = ssb / (g - 1), ssw / (big_n - g)
    k = big_n / g  # multilevel: GSIZE = (GDF + EDF + 1) / (GDF + 1)
    assert k == ((g - 1) + (big_n - g) + 1) / ((g - 1) + 1) == 3
    icc = row(result.icc, wave="w", dimension="goal")
    assert icc["groups"] == 3 and icc["k"] == pytest.approx(3)
    assert icc["icc1"] == pytest.approx((msb - msw) / (msb + (k - 1) * msw), abs=1e-6)
    assert icc["icc2"] == pytest.approx((msb - msw) / msb, abs=1e-6)
    # safe has no variance anywhere: MSB = 0, ICC undefined.
    assert math.isnan(row(result.icc, wave="w", dimension="safe")["icc1"])


def test_distributions_keep_every_scale_value(scores):
    dist = scores.distributions
    q1 = dist[(dist["group"] == "B") & (dist["item"] == "q1")]
    assert q1["value"].tolist() == [1, 2, 3, 4, 5]
    assert q1["count"].tolist() == [3, 0, 0, 0, 2]
    q2 = dist[(dist["group"] == "A") & (dist["item"] == "q2")]  # raw values, not reversed
    assert q2["count"].tolist() == [2, 2, 1, 0, 0]
    q3 = dist[(dist["group"] == "C") & (dist["item"] == "q3")]
    assert q3["count"].tolist() == [0, 0, 0, 1, 0]
    assert len(dist) == 3 * 5 * 5


def test_group_waves_and_item_columns(scores):
    gw = scores.group_waves
    assert gw.to_dict("list") == {"group": ["A", "B", "C"], "wave": ["w1"] * 3, "n": [5, 5, 4]}
    assert list(scores.items.columns) == ["group", "wave", "item", "dimension", "n", "mean", "sd"]
    assert list(scores.dimensions.columns[-3:]) == ["rwg_j", "ad_m", "alpha"]
    # Respondent-level scores keep ids and role, one column per dimension.
    assert list(scores.respondent_scores.columns) == [
        "respondent", "group", "wave", "role", "safe", "goal",
    ]  # fmt: skip


def test_single_respondent_group_gives_no_agreement(instrument):
    result = score_responses(make_table({("S", "w"): [(3, 3, 3, 3, 3)]}), instrument)
    d = row(result.dimensions, group="S", wave="w", dimension="safe")
    assert d["n"] == 1 and d["mean"] == 3
    for col in ("sd", "se", "ci_low", "rwg_j", "ad_m", "alpha"):
        assert math.isnan(d[col]), col


def test_compare_waves_welch(instrument):
    before = [(3, 3, 3, 2, 2), (3, 3, 3, 3, 3), (3, 3, 3, 2, 3), (3, 3, 3, 4, 4)]
    after = [(3, 3, 3, 4, 4), (3, 3, 3, 5, 5), (3, 3, 3, 4, 3), (3, 3, 3, 5, 4), (3, 3, 3, 5, 5)]
    result = score_responses(
        make_table({("A", "before"): before, ("A", "after"): after}), instrument
    )
    ch = row(compare_waves(result, "before", "after"), group="A", dimension="goal")
    xb = [(r[3] + r[4]) / 2 for r in before]
    xa = [(r[3] + r[4]) / 2 for r in after]
    vb, va = var(xb) / len(xb), var(xa) / len(xa)
    df = (vb + va) ** 2 / (vb**2 / (len(xb) - 1) + va**2 / (len(xa) - 1))
    diff = sum(xa) / len(xa) - sum(xb) / len(xb)
    half = stats.t.ppf(0.975, df) * math.sqrt(vb + va)
    assert ch["change"] == pytest.approx(diff, abs=1e-12)
    assert ch["df"] == pytest.approx(df, abs=1e-9)
    assert (ch["ci_low"], ch["ci_high"]) == pytest.approx((diff - half, diff + half), abs=1e-9)
    assert (ch["n_before"], ch["n_after"]) == (4, 5)
    with pytest.raises(NotFoundError, match="Wave 'later' has no scores; waves with scores"):
        compare_waves(result, "before", "later")


def _dims(rows: list[tuple[str, str, float]]) -> SimpleNamespace:
    return SimpleNamespace(
        dimensions=pd.DataFrame(
            [(g, "w", d, m) for g, d, m in rows], columns=["group", "wave", "dimension", "mean"]
        )
    )


def test_norm_position_ties_count_half():
    fake = _dims(
        [("N1", "goal", 2.0), ("N2", "goal", 3.0), ("N3", "goal", 3.0), ("N4", "goal", 4.0),
         ("T", "goal", 3.0), ("U", "goal", 5.0), ("V", "goal", NaN)]
    )  # fmt: skip
    out = norm_position(fake, "w", ["N1", "N2", "N3", "N4"])
    t = row(out, group="T")
    assert t["percentile"] == pytest.approx(100 * (1 + 0.5 * 2) / 4)  # 1 below, 2 equal
    assert t["norm_groups"] == 4 and t["norm_mean"] == pytest.approx(3.0)
    assert t["norm_sd"] == pytest.approx(statistics.stdev([2, 3, 3, 4]))
    assert row(out, group="U")["percentile"] == 100.0
    assert math.isnan(row(out, group="V")["percentile"])
    # A norm group is compared with the other norm groups: N2 vs [2, 3, 4] -> (1 + 0.5) / 3.
    n2 = row(out, group="N2")
    assert n2["percentile"] == pytest.approx(50.0) and n2["norm_groups"] == 3
    assert n2["norm_mean"] == pytest.approx(3.0)


def test_cohort_position_ranks_highest_first():
    fake = _dims([("A", "goal", 3.0), ("B", "goal", 4.0), ("C", "goal", 3.0), ("D", "goal", 1.0)])
    out = cohort_position(fake, "w", ["A", "B", "C"])
    assert dict(zip(out["group"], out["rank"], strict=True)) == {"A": 2, "B": 1, "C": 2}
    assert set(out["of"]) == {3}


def test_errors_name_what_and_where(instrument):
    table = make_table({("A", "w1"): GROUP_A})
    with pytest.raises(ResponseFileError, match="misses the columns q5 of instrument 'mini'"):
        score_responses(table.drop(columns=["q5"]), instrument)
    bad = table.copy()
    bad.loc[2, "q3"] = 8
    with pytest.raises(
        ResponseFileError, match=r"(?s)3 +q3 +8 +is outside the scale 1-5 .*Fix or blank the 1"
    ):
        score_responses(bad, instrument)
    bad["q3"] = bad["q3"].astype(float)
    bad.loc[2, "q3"] = 2.5
    with pytest.raises(ResponseFileError, match=r"2\.5 +is not a whole number; the scale 1-5"):
        score_responses(bad, instrument)


def test_empty_table(instrument):
    columns = ["respondent", "group", "wave", "role", *ITEMS]
    result = score_responses(pd.DataFrame(columns=columns), instrument)
    assert result.dimensions.empty and result.icc.empty and result.group_waves.empty
    assert "alpha" in result.dimensions and "safe" in result.respondent_scores


def test_icc_from_dimensions_matches_scores(scores):
    again = icc_from_dimensions(scores.dimensions)
    pd.testing.assert_frame_equal(again, scores.icc)


# --------------------------------------------------------------------------------------------
# The vectorised engine equals a naive per-group loop on random data.
# --------------------------------------------------------------------------------------------


def _naive_module():
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_scoring.py"
    spec = importlib.util.spec_from_file_location("bench_scoring", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_vectorised_equals_naive_loop(instrument, seed):
    rng = np.random.default_rng(seed)
    groups = {}
    for g in range(25):
        for wave in ("before", "after"):
            size = int(rng.integers(1, 10))
            x = rng.integers(1, 6, (size, 5)).astype(float)
            x[rng.random(x.shape) < 0.15] = np.nan
            groups[(f"g{g:02d}", wave)] = [tuple(r) for r in x]
    table = make_table(groups)
    fast = score_responses(table, instrument)
    naive_items, naive_dims = _naive_module().naive_scores(table, instrument)

    merged = fast.dimensions.merge(
        naive_dims, on=["group", "wave", "dimension"], suffixes=("", "_")
    )
    assert len(merged) == len(fast.dimensions) == len(naive_dims)
    for col in ("n", "mean", "sd", "rwg_j", "ad_m", "alpha"):
        np.testing.assert_allclose(merged[col], merged[col + "_"], atol=1e-9, err_msg=col)
    fi = fast.items.astype({"group": str, "wave": str, "item": str})
    mi = fi.merge(naive_items, on=["group", "wave", "item"], suffixes=("", "_"))
    for col in ("n", "mean", "sd"):
        np.testing.assert_allclose(mi[col], mi[col + "_"], atol=1e-9, err_msg=col)
    counts = fast.distributions["count"].to_numpy().reshape(-1, 5)
    np.testing.assert_array_equal(counts, np.array(mi["counts"].tolist()))

    # ICC with a plain loop over groups.
    rs = fast.respondent_scores
    for wave in ("before", "after"):
        per_group = [
            v.dropna().tolist()
            for _, v in rs[rs["wave"] == wave].groupby("group")["goal"]
            if v.notna().any()
        ]
        flat = [s for v in per_group for s in v]
        grand = sum(flat) / len(flat)
        g, n = len(per_group), len(flat)
        msb = sum(len(v) * (sum(v) / len(v) - grand) ** 2 for v in per_group) / (g - 1)
        msw = sum(sum((s - sum(v) / len(v)) ** 2 for s in v) for v in per_group) / (n - g)
        icc = row(fast.icc, wave=wave, dimension="goal")
        assert icc["icc1"] == pytest.approx((msb - msw) / (msb + (n / g - 1) * msw), abs=1e-9)
        assert icc["icc2"] == pytest.approx((msb - msw) / msb, abs=1e-9)
