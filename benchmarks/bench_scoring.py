"""Benchmark: vectorised ``score_responses`` against a naive per-group pandas loop.

100,000 respondents of a 60-item instrument (scale 1-7, 10 dimensions, every fifth item
reverse-keyed, ~3 % missing) in 10,000 groups, one wave. The naive loop computes the same
statistics group by group (ICC and pooled alpha from its per-group results); it is measured
on a random subset of groups and extrapolated
(said so in the output), and its results are checked against the vectorised ones.

    python benchmarks/bench_scoring.py [--respondents 100000] [--groups 10000] [--naive-groups 200]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import pandas as pd

from kit.instrument import Instrument, parse_instrument
from kit.privacy import AnonymityRules, protect
from kit.scoring import score_responses

N_ITEMS, N_DIMS = 60, 10


def bench_instrument() -> Instrument:
    dims = [f"d{j:02d}" for j in range(N_DIMS)]
    return parse_instrument(
        {
            "id": "bench",
            "version": "1",
            "languages": ["en"],
            "name": "Benchmark",
            "scale": {"min": 1, "max": 7, "labels": {"en": [str(v) for v in range(1, 8)]}},
            "categories": [{"id": "processes", "name": "Processes"}],
            "dimensions": [{"id": d, "category": "processes", "name": d} for d in dims],
            "items": [
                {
                    "id": f"q{i:02d}",
                    "dimension": dims[i % N_DIMS],
                    "text": f"item {i}",
                    "reverse": i % 5 == 4,
                }
                for i in range(N_ITEMS)
            ],
        },
        source="bench",
    )


def bench_table(n_respondents: int, n_groups: int, seed: int = 7) -> pd.DataFrame:
    """Team-structured answers: a group effect per dimension plus individual noise."""
    rng = np.random.default_rng(seed)
    group_of = np.sort(rng.integers(0, n_groups, n_respondents))
    group_of[:n_groups] = np.arange(n_groups)  # every group has someone
    group_effect = rng.normal(0, 0.8, (n_groups, N_DIMS))
    dim_of_item = np.arange(N_ITEMS) % N_DIMS
    latent = 4.5 + group_effect[group_of][:, dim_of_item] + rng.normal(0, 1.0, (n_respondents, 1))
    x = np.clip(np.rint(latent + rng.normal(0, 1.0, latent.shape)), 1, 7)
    reverse = np.arange(N_ITEMS) % 5 == 4
    x[:, reverse] = 8 - x[:, reverse]
    x[rng.random(x.shape) < 0.03] = np.nan
    table = pd.DataFrame(x, columns=[f"q{i:02d}" for i in range(N_ITEMS)])
    table.insert(0, "respondent", [f"r{i}" for i in range(n_respondents)])
    table.insert(1, "group", [f"g{g:05d}" for g in group_of])
    table.insert(2, "wave", "before")
    table.insert(3, "role", "member")
    return table


def naive_scores(
    table: pd.DataFrame, instrument: Instrument, min_answered_share: float = 0.5
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Same statistics, one (group, wave) at a time with pandas; returns (items, dimensions)."""
    lo, hi = instrument.scale.min, instrument.scale.max
    sigma = instrument.scale.null_variance
    item_rows, dim_rows = [], []
    score_parts = []
    for (group, wave), g in table.groupby(["group", "wave"], sort=True):
        answers = g[list(instrument.item_ids)].astype(float).copy()
        for it in instrument.items:
            if it.reverse:
                answers[it.id] = lo + hi - answers[it.id]
        for it in instrument.items:
            col = answers[it.id]
            counts = g[it.id].value_counts().reindex(instrument.scale.values, fill_value=0)
            item_rows.append((group, wave, it.id, int(col.count()), col.mean(), col.std(),
                              tuple(counts)))  # fmt: skip
        for d in instrument.dimensions:
            block = answers[list(d.item_ids)]
            answered = block.notna().sum(axis=1)
            score = block.mean(axis=1).where(answered >= min_answered_share * len(d.item_ids))
            scored = block[score.notna()]
            variances = scored.var().dropna()
            j = len(variances)
            rwg = np.nan
            if j:
                ratio = min(variances.mean() / sigma, 1.0)
                rwg = j * (1 - ratio) / (j * (1 - ratio) + ratio)
            ad = (scored - scored.mean()).abs().mean()[variances.index].mean() if j else np.nan
            complete = block.dropna()
            alpha = np.nan
            if len(d.item_ids) > 1 and len(complete) > 1:
                total = complete.sum(axis=1).var()
                if total > 0:
                    k = len(d.item_ids)
                    alpha = k / (k - 1) * (1 - complete.var().sum() / total)
            s = score.dropna()
            score_parts.append((wave, d.id, group, s.tolist()))
            dim_rows.append((group, wave, d.id, len(s), s.mean(), s.std(), rwg, ad, alpha))
    _naive_pooled(table, instrument, score_parts)
    items = pd.DataFrame(item_rows, columns=["group", "wave", "item", "n", "mean", "sd", "counts"])
    dims = pd.DataFrame(
        dim_rows,
        columns=["group", "wave", "dimension", "n", "mean", "sd", "rwg_j", "ad_m", "alpha"],
    )
    return items, dims


def _naive_pooled(table: pd.DataFrame, instrument: Instrument, score_parts: list) -> list:
    """ICC(1)/ICC(2) per wave and dimension from one-way ANOVA sums, and pooled alpha."""
    out = []
    by_key: dict[tuple[str, str], list[list[float]]] = {}
    for wave, dim, _group, values in score_parts:
        if values:
            by_key.setdefault((wave, dim), []).append(values)
    for (wave, dim), groups in by_key.items():
        flat = [v for g in groups for v in g]
        grand = sum(flat) / len(flat)
        ssb = sum(len(g) * (sum(g) / len(g) - grand) ** 2 for g in groups)
        ssw = sum(sum((v - sum(g) / len(g)) ** 2 for v in g) for g in groups)
        msb, msw = ssb / (len(groups) - 1), ssw / (len(flat) - len(groups))
        k = len(flat) / len(groups)
        out.append((wave, dim, (msb - msw) / (msb + (k - 1) * msw), (msb - msw) / msb))
    lo, hi = instrument.scale.min, instrument.scale.max
    for wave, w in table.groupby("wave"):
        for d in instrument.dimensions:
            block = w[list(d.item_ids)].dropna().astype(float)
            for it in d.item_ids:
                if instrument.item(it).reverse:
                    block[it] = lo + hi - block[it]
            k = len(d.item_ids)
            alpha = k / (k - 1) * (1 - block.var().sum() / block.sum(axis=1).var())
            out.append((wave, d.id, alpha))
    return out


def _check(scores, naive_items: pd.DataFrame, naive_dims: pd.DataFrame) -> float:
    """Largest absolute difference between the vectorised and the naive statistics."""
    keys = ["group", "wave", "dimension"]
    v = scores.dimensions.merge(naive_dims, on=keys, suffixes=("", "_naive"))
    assert len(v) == len(naive_dims)
    worst = 0.0
    for c in ("n", "mean", "sd", "rwg_j", "ad_m", "alpha"):
        a, b = v[c].to_numpy(float), v[c + "_naive"].to_numpy(float)
        assert (np.isnan(a) == np.isnan(b)).all(), c
        worst = max(worst, float(np.nanmax(np.abs(a - b), initial=0.0)))
    vi = scores.items.merge(naive_items, on=["group", "wave", "item"], suffixes=("", "_naive"))
    for c in ("n", "mean", "sd"):
        worst = max(worst, float(np.nanmax(np.abs(vi[c] - vi[c + "_naive"]), initial=0.0)))
    return worst


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--respondents", type=int, default=100_000)
    p.add_argument("--groups", type=int, default=10_000)
    p.add_argument("--naive-groups", type=int, default=200, help="groups timed in the naive loop")
    p.add_argument("--repeat", type=int, default=3, help="vectorised runs; the best is reported")
    args = p.parse_args(argv)

    instrument = bench_instrument()
    table = bench_table(args.respondents, args.groups)
    n = len(table)
    missing = table[list(instrument.item_ids)].isna().mean().mean()
    print(f"data: {n:,} respondents, {table['group'].nunique():,} groups, {N_ITEMS} items, "
          f"{N_DIMS} dimensions, scale 1-7, {missing:.1%} missing")  # fmt: skip

    times, cpu = [], []
    for _ in range(args.repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        scores = score_responses(table, instrument)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    vec = min(times)
    print(f"vectorised: {vec:.2f} s ({n / vec:,.0f} respondents/s), best of {args.repeat}; "
          f"{len(scores.dimensions):,} dimension rows, {len(scores.distributions):,} "
          "distribution rows, ICC and reliability included")  # fmt: skip
    print(f"vectorised CPU time: {min(cpu):.2f} s (all threads; the machine is shared, "
          f"load average {os.getloadavg()[0]:.1f})")  # fmt: skip

    rng = np.random.default_rng(1)
    groups = np.sort(table["group"].unique())
    subset = rng.choice(groups, size=min(args.naive_groups, len(groups)), replace=False)
    part = table[table["group"].isin(set(subset))]
    t0 = time.perf_counter()
    naive_items, naive_dims = naive_scores(part, instrument)
    naive_part = time.perf_counter() - t0
    naive = naive_part * len(groups) / len(subset)
    extrapolated = len(subset) < len(groups)
    note = (
        f" (measured on {len(subset):,} groups / {len(part):,} respondents in "
        f"{naive_part:.2f} s, extrapolated to {len(groups):,} groups)"
        if extrapolated
        else ""
    )
    print(f"naive per-group loop: {naive:.2f} s ({n / naive:,.0f} respondents/s){note}")
    print(f"speed-up: {naive / vec:.0f}x")
    t0 = time.perf_counter()
    protect(scores, AnonymityRules())
    print(f"protect (anonymity rules on the same scores): {time.perf_counter() - t0:.2f} s")
    worst = _check(scores, naive_items, naive_dims)
    print(f"largest difference vectorised vs naive: {worst:.2e}")

    def verdict(ok: bool) -> str:
        return "met" if ok else "NOT met"

    print(
        f"target < 2 s: wall {verdict(vec < 2.0)}, CPU {verdict(min(cpu) < 2.0)}; "
        f">= 20x: {verdict(naive / vec >= 20)}; equal results: {verdict(worst < 1e-9)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
