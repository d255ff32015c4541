"""Team statistics from the canonical response table: pure pandas/numpy, vectorised.

``score_responses(table, instrument)`` turns one row per respondent into per-team statistics
(the field's standard ones, as in Bliese 2000 and the R package ``multilevel``): item means and
spreads, answer distributions, dimension scores with 95 % t intervals, agreement (rwg(J), AD_M),
reliability (Cronbach's alpha) and the between-team share of variance (ICC(1), ICC(2)).

Every statistic is computed for all (group, wave) cells at once: rows are sorted by cell and
summed with one sparse matrix product; there is no Python loop over groups. Choices where
the formulas leave room (missing answers, tiny groups) are documented in docs/DESIGN.md,
section Scoring.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from kit.errors import Problem, ResponseFileError
from kit.instrument import Instrument

ID_COLUMNS = ("respondent", "group", "wave", "role")
ITEM_COLUMNS = ("group", "wave", "item", "dimension", "n", "mean", "sd")
DISTRIBUTION_COLUMNS = ("group", "wave", "item", "value", "count")
DIMENSION_COLUMNS = (
    "group", "wave", "dimension", "n", "mean", "sd", "se", "ci_low", "ci_high",
    "rwg_j", "ad_m", "alpha",
)  # fmt: skip
ICC_COLUMNS = ("wave", "dimension", "icc1", "icc2", "groups", "k")
RELIABILITY_COLUMNS = ("wave", "dimension", "alpha", "n_complete")
GROUP_WAVE_COLUMNS = ("group", "wave", "n")
CHANGE_COLUMNS = (
    "group", "dimension", "mean_before", "mean_after", "n_before", "n_after", "change", "se",
    "df", "ci_low", "ci_high",
)  # fmt: skip


@dataclass(frozen=True, eq=False)
class Scores:
    """Everything ``score_responses`` computes. Respondent-level parts never leave the engine:
    reports and apps receive ``kit.privacy.protect(scores, rules)`` instead."""

    respondent_scores: pd.DataFrame  # respondent-level: never passed to reports or apps
    items: pd.DataFrame
    distributions: pd.DataFrame
    dimensions: pd.DataFrame
    icc: pd.DataFrame
    reliability: pd.DataFrame
    group_waves: pd.DataFrame
    instrument_id: str = ""
    dimension_ids: tuple[str, ...] = ()
    item_ids: tuple[str, ...] = ()
    item_dimensions: tuple[str, ...] = ()  # dimension of each item, in item order
    scale_values: tuple[int, ...] = ()  # the instrument's scale
    item_options: tuple[int, ...] = ()  # options of each item's own scale (rows in distributions)
    alpha_parts: _AlphaParts | None = field(default=None, repr=False)  # for pooled alpha


# --------------------------------------------------------------------------------------------
# Small vectorised building blocks
# --------------------------------------------------------------------------------------------


def _cells(keys: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    """Codes 0..C-1 for the distinct combinations of ``keys`` (sorted), and the key per code."""
    combined = np.zeros(len(keys[0]), dtype=np.int64)
    uniques = []
    for k in keys:
        codes, u = pd.factorize(pd.Index(k, dtype=object), sort=True)
        combined = combined * len(u) + codes
        uniques.append(np.asarray(u, dtype=object))
    cells, inverse = np.unique(combined, return_inverse=True)
    levels = []
    for u in reversed(uniques):
        levels.append(u[cells % len(u)])
        cells = cells // len(u)
    return inverse.astype(np.int64), levels[::-1]


def _csr_matrix(*args: Any, **kwargs: Any) -> Any:
    """scipy.sparse's CSR matrix; scipy is imported on first use, not with the kit (0.35 s that
    the processes which only read stored results, e.g. the report runner's, never need)."""
    from scipy import sparse

    return sparse.csr_matrix(*args, **kwargs)


def _stdtrit(df: Any, p: float) -> Any:
    """The ``p`` quantile of t with ``df`` degrees of freedom (scipy.special, on first use)."""
    from scipy import special

    return special.stdtrit(df, p)


class _Segments:
    """Rows sorted by cell; per-cell sums are one product with a sparse cell x row indicator."""

    def __init__(self, counts: np.ndarray) -> None:
        self.rows = counts
        n_rows = int(counts.sum())
        cell_of_row = np.repeat(np.arange(len(counts)), counts)
        self.indicator = _csr_matrix(
            (np.ones(n_rows), (cell_of_row, np.arange(n_rows))), shape=(len(counts), n_rows)
        )

    def sum(self, values: np.ndarray) -> np.ndarray:
        """Per-cell sum of ``values`` (rows x columns, NaN must already be zeroed)."""
        return np.asarray(self.indicator @ values)

    def spread(self, per_cell: np.ndarray) -> np.ndarray:
        """A per-cell array repeated onto the cell's rows."""
        return np.repeat(per_cell, self.rows, axis=0)

    def moments(
        self, x: np.ndarray, absolute: bool = False, whole: bool = False
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
        """Per cell and column: n (non-NaN), mean, variance (n-1), mean |x - mean| (if asked).

        With ``absolute`` (or for data that are not ``whole`` numbers) two passes, deviations from
        the cell mean; for ``whole`` numbers (answers on the scale, sums of them) one pass over
        sums of x and x^2, which is exact (the sums are integers far below 2^53).
        NaN where n is too small.
        """
        ok = ~np.isnan(x)
        x0 = np.where(ok, x, 0.0)
        n = self.sum(ok.astype(np.float64))
        total = self.sum(x0)
        mad = None
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = total / n
            if absolute or not whole:
                dev = np.where(ok, x0 - self.spread(mean), 0.0)
                ss = self.sum(dev * dev)
                if absolute:
                    mad = np.where(n >= 1, self.sum(np.abs(dev)) / n, np.nan)
            else:
                ss = (n * self.sum(x0 * x0) - total * total) / n
            var = np.where(n >= 2, ss / (n - 1), np.nan)
        return n, mean, var, mad


def _dimension_matrix(item_dimensions: Iterable[str], dimension_ids: Iterable[str]) -> np.ndarray:
    """items x dimensions indicator matrix (1.0 where the item belongs to the dimension)."""
    dim_index = {d: j for j, d in enumerate(dimension_ids)}
    item_dims = list(item_dimensions)
    m = np.zeros((len(item_dims), len(dim_index)))
    for i, d in enumerate(item_dims):
        m[i, dim_index[d]] = 1.0
    return m


def _nan_matmul(values: np.ndarray, m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sum over the items of each dimension ignoring NaN, and how many were not NaN."""
    ok = ~np.isnan(values)
    return _dim_sum(np.where(ok, values, 0.0), m), _dim_sum(ok.astype(np.float64), m)


def _dim_sum(values: np.ndarray, m: np.ndarray) -> np.ndarray:
    """``values @ m`` through scipy.sparse: single-threaded (a multi-threaded BLAS stalls on a
    busy shared machine) and as fast for an indicator matrix."""
    return np.asarray(values @ _csr_matrix(m))


def cronbach_alpha_from_cov(cov: Any) -> float:
    """Cronbach's alpha from an item covariance matrix: J/(J-1) (1 - sum s_i^2 / s_total^2)."""
    c = np.asarray(cov, dtype=np.float64)
    if c.ndim != 2 or c.shape[0] != c.shape[1] or c.shape[0] < 2:
        raise ValueError(  # dev-text
            f"alpha needs a square covariance matrix of 2+ items, got {c.shape}"
        )
    j = c.shape[0]
    return float(j / (j - 1) * (1 - np.trace(c) / c.sum()))


@dataclass(frozen=True)
class _AlphaParts:
    """Sufficient statistics of Cronbach's alpha per cell (complete cases of each dimension), so
    pooled alpha over any set of cells follows without going back to the answers."""

    n: np.ndarray  # cells x dimensions: complete cases
    item_mean: np.ndarray  # cells x items (0 where no complete case)
    item_ss: np.ndarray  # cells x items: sum of squared deviations from the cell mean
    total_mean: np.ndarray  # cells x dimensions: mean of the dimension's item sum
    total_ss: np.ndarray  # cells x dimensions


def _alpha_parts(
    rows: _Segments, xr: np.ndarray, sums: np.ndarray, answered: np.ndarray, m: np.ndarray
) -> _AlphaParts:
    """Per cell: complete cases of each dimension (multilevel::cronbach's na.exclude)."""
    complete = answered == m.sum(axis=0)  # rows x dims
    x_item = np.where(complete[:, m.argmax(axis=1)], xr, np.nan)
    n_i, mean_i, var_i, _ = rows.moments(x_item, whole=True)
    n_t, mean_t, var_t, _ = rows.moments(np.where(complete, sums, np.nan), whole=True)
    return _AlphaParts(
        n=n_t,
        item_mean=np.where(n_i > 0, mean_i, 0.0),
        item_ss=np.where(n_i >= 2, var_i * (n_i - 1), 0.0),
        total_mean=np.where(n_t > 0, mean_t, 0.0),
        total_ss=np.where(n_t >= 2, var_t * (n_t - 1), 0.0),
    )


def _alpha_from_parts(p: _AlphaParts, m: np.ndarray) -> np.ndarray:
    """alpha = J/(J-1) (1 - sum s_i^2 / s_total^2); the n-1 of the variances cancels."""
    j = m.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        alpha = j / (j - 1) * (1 - _dim_sum(p.item_ss, m) / p.total_ss)
    return np.where((j >= 2) & (p.n >= 2) & (p.total_ss > 0), alpha, np.nan)


def _pool_alpha_parts(p: _AlphaParts, codes: np.ndarray, n_out: int, m: np.ndarray) -> _AlphaParts:
    """Combine cells into ``n_out`` pools (cell -> ``codes``): within + between sums of squares."""
    n_cells = len(codes)
    pool = _csr_matrix((np.ones(n_cells), (codes, np.arange(n_cells))), shape=(n_out, n_cells))
    n_item = p.n[:, m.argmax(axis=1)]

    def combine(n: np.ndarray, mean: np.ndarray, ss: np.ndarray) -> tuple[np.ndarray, ...]:
        big_n = np.asarray(pool @ n)
        with np.errstate(invalid="ignore", divide="ignore"):
            grand = np.asarray(pool @ (n * mean)) / big_n
        between = n * (mean - np.nan_to_num(grand)[codes]) ** 2
        return big_n, np.nan_to_num(grand), np.asarray(pool @ (ss + between))

    big_n, total_mean, total_ss = combine(p.n, p.total_mean, p.total_ss)
    _, item_mean, item_ss = combine(n_item, p.item_mean, p.item_ss)
    return _AlphaParts(big_n, item_mean, item_ss, total_mean, total_ss)


def _t_quantile(df: np.ndarray) -> np.ndarray:
    """97.5 % quantile of t with ``df`` degrees of freedom (computed once per distinct df)."""
    values, inverse = np.unique(df, return_inverse=True)
    return _stdtrit(values, 0.975)[inverse].reshape(df.shape)  # = stats.t.ppf


TABLE = "response_table"  # the source named in a refusal of a table given in code


def _validate(table: pd.DataFrame, instrument: Instrument) -> np.ndarray:
    """The item block as floats; refuses tables that are not the canonical response table."""
    problems = []
    missing = [c for c in ("respondent", "group", "wave", *instrument.item_ids) if c not in table]
    if missing:
        problems.append(
            Problem.of(
                TABLE,
                "engine.scoring.columns_missing",
                columns=", ".join(missing),
                instrument=instrument.id,
            )
        )
        raise ResponseFileError(TABLE, problems)
    try:
        x = table[list(instrument.item_ids)].to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError) as exc:
        raise ResponseFileError(
            TABLE, [Problem.of(TABLE, "engine.scoring.not_numbers", error=str(exc))]
        ) from None
    lo_i = np.array([sc.min for sc in instrument.item_scales], dtype=np.float64)
    hi_i = np.array([sc.max for sc in instrument.item_scales], dtype=np.float64)
    bad = ~np.isnan(x) & ((x < lo_i) | (x > hi_i) | (x != np.round(x)))
    if bad.any():
        rows, cols = np.nonzero(bad)
        for r, c in zip(rows[:50], cols[:50], strict=True):
            lo, hi = int(lo_i[c]), int(hi_i[c])
            problems.append(
                Problem.of(
                    TABLE,
                    "ingest.answer.outside"
                    if x[r, c] < lo or x[r, c] > hi
                    else "ingest.answer.whole",
                    row=int(r) + 1,
                    column=instrument.item_ids[c],
                    value=f"{x[r, c]:g}",
                    scale=f"{lo}-{hi}",
                    instrument=instrument.id,
                )
            )
        raise ResponseFileError(
            TABLE, problems, hints=(("engine.scoring.fix_hint", {"n": int(bad.sum())}),)
        )
    return x


def _empty(columns: Iterable[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})


# --------------------------------------------------------------------------------------------
# score_responses
# --------------------------------------------------------------------------------------------


def score_responses(
    table: pd.DataFrame, instrument: Instrument, *, min_answered_share: float = 0.5
) -> Scores:
    """Team statistics for every (group, wave) of the canonical response table."""
    if not 0 < min_answered_share <= 1:
        raise ValueError(  # dev-text
            f"min_answered_share must be in (0, 1], not {min_answered_share!r}"
        )
    x = _validate(table, instrument)
    scale = instrument.scale
    item_scales = instrument.item_scales  # a dimension's items share one (kit.instrument)
    item_min = np.array([sc.min for sc in item_scales], dtype=np.int64)
    item_max = np.array([sc.max for sc in item_scales], dtype=np.int64)
    item_opts = item_max - item_min + 1
    dim_null_variance = np.array(
        [(d.scale or scale).null_variance for d in instrument.dimensions], dtype=np.float64
    )
    dims = instrument.dimension_ids
    items = instrument.item_ids
    item_dimensions = tuple(it.dimension for it in instrument.items)
    m = _dimension_matrix(item_dimensions, instrument.dimension_ids)
    dim_of_item = m.argmax(axis=1)
    n_items_dim = m.sum(axis=0)

    group = table["group"].astype(str).to_numpy(dtype=object)
    wave = table["wave"].astype(str).to_numpy(dtype=object)
    role = table["role"].to_numpy(dtype=object) if "role" in table else np.full(len(table), None)
    respondent = table["respondent"].astype(str).to_numpy(dtype=object)
    n_items, n_dims = len(items), len(dims)
    base = dict(
        instrument_id=instrument.id,
        dimension_ids=dims,
        item_ids=items,
        item_dimensions=item_dimensions,
        scale_values=scale.values,
        item_options=tuple(sc.options for sc in item_scales),
    )

    if len(table) == 0:
        empty_ids = {c: pd.Series(dtype=object) for c in ID_COLUMNS}
        return Scores(
            respondent_scores=pd.DataFrame(
                {**empty_ids, **{d: pd.Series(dtype=float) for d in dims}}
            ),
            items=_empty(ITEM_COLUMNS),
            distributions=_empty(DISTRIBUTION_COLUMNS),
            dimensions=_empty(DIMENSION_COLUMNS),
            icc=_empty(ICC_COLUMNS),
            reliability=_empty(RELIABILITY_COLUMNS),
            group_waves=_empty(GROUP_WAVE_COLUMNS),
            **base,
        )

    # Sort rows by (group, wave) once; every per-cell statistic is then one sparse product.
    codes, (cell_group, cell_wave) = _cells([group, wave])
    n_cells = len(cell_group)
    order = np.argsort(codes, kind="stable")
    codes, x = codes[order], x[order]
    group, wave, role, respondent = group[order], wave[order], role[order], respondent[order]
    rows = _Segments(np.bincount(codes, minlength=n_cells))

    # Reverse keying: x' = min + max - x, on each item's own scale.
    reverse = np.array([it.reverse for it in instrument.items], dtype=bool)
    xr = x.copy()
    xr[:, reverse] = (item_min + item_max)[reverse] - xr[:, reverse]

    # Respondent dimension scores: mean of available items, NaN below the answered share.
    sums, answered = _nan_matmul(xr, m)
    with np.errstate(invalid="ignore", divide="ignore"):
        resp = np.where(
            answered >= min_answered_share * n_items_dim - 1e-9, sums / answered, np.nan
        )
    resp[answered == 0] = np.nan

    ids = {"respondent": respondent, "group": group, "wave": wave, "role": role}
    respondent_scores = pd.concat(
        [pd.DataFrame(ids), pd.DataFrame(resp, columns=list(dims))], axis=1
    )

    # Cell labels as categoricals for the long tables (millions of rows at programme scale).
    g_codes, g_cats = pd.factorize(cell_group, sort=True)
    w_codes, w_cats = pd.factorize(cell_wave, sort=True)
    item_cats = pd.Index(list(items), dtype=object)
    dim_cats = pd.Index(list(dims), dtype=object)

    def cat(codes_: np.ndarray, cats: Any) -> pd.Categorical:
        return pd.Categorical.from_codes(codes_, categories=cats)

    group_waves = pd.DataFrame({"group": cell_group, "wave": cell_wave, "n": rows.rows})

    # Items: n, mean, sd of reverse-keyed answers.
    item_n, item_mean, item_var, item_mad = rows.moments(xr, absolute=True)
    items_df = pd.DataFrame(
        {
            "group": cat(np.repeat(g_codes, n_items), g_cats),
            "wave": cat(np.repeat(w_codes, n_items), w_cats),
            "item": cat(np.tile(np.arange(n_items), n_cells), item_cats),
            "dimension": cat(np.tile(dim_of_item, n_cells), dim_cats),
            "n": item_n.ravel().astype(np.int64),
            "mean": item_mean.ravel(),
            "sd": np.sqrt(item_var.ravel()),
        }
    )

    # Distributions of raw answers: one bincount over (cell, item, value); every value of the
    # item's own scale has a row (items on a shorter scale have fewer rows).
    n_values = int(item_opts.max())
    ok = ~np.isnan(x)
    flat = (codes[:, None] * n_items + np.arange(n_items)[None, :]) * n_values + np.where(
        ok, x - item_min, 0
    ).astype(np.int64)
    counts = np.bincount(flat[ok], minlength=n_cells * n_items * n_values)
    offset = np.tile(np.arange(n_values, dtype=np.int64), n_cells * n_items)
    item_of_row = np.tile(np.repeat(np.arange(n_items), n_values), n_cells)
    on_scale = offset < item_opts[item_of_row]
    distributions = pd.DataFrame(
        {
            "group": cat(np.repeat(g_codes, n_items * n_values)[on_scale], g_cats),
            "wave": cat(np.repeat(w_codes, n_items * n_values)[on_scale], w_cats),
            "item": cat(item_of_row[on_scale], item_cats),
            "value": (item_min[item_of_row] + offset)[on_scale],
            "count": counts.astype(np.int64)[on_scale],
        }
    )

    # Dimensions: mean, sd, t interval of respondent scores.
    dim_n, dim_mean, dim_var, _ = rows.moments(resp)
    dim_sd = np.sqrt(dim_var)
    with np.errstate(invalid="ignore", divide="ignore"):
        se = dim_sd / np.sqrt(dim_n)
        tq = _t_quantile(np.where(dim_n >= 2, dim_n - 1, np.nan))

    # Agreement within the group (rwg(J), AD_M): answers of respondents with a score in the
    # dimension, available answers per item; items with fewer than 2 answers are left out.
    scored_item = ~np.isnan(resp)[:, dim_of_item]
    if not (~scored_item & ~np.isnan(xr)).any():
        nv, var_v, mad_v = item_n, item_var, item_mad  # every answer counts: as in items
    else:
        nv, _, var_v, mad_v = rows.moments(np.where(scored_item, xr, np.nan), absolute=True)
    usable = nv >= 2
    j_eff = _dim_sum(usable.astype(np.float64), m)
    s_bar = _dim_sum(np.where(usable, var_v, 0.0), m) / np.where(j_eff > 0, j_eff, np.nan)
    ratio = np.minimum(s_bar / dim_null_variance[None, :], 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        rwg_j = j_eff * (1 - ratio) / (j_eff * (1 - ratio) + ratio)
        ad_m = _dim_sum(np.where(usable, mad_v, 0.0), m) / np.where(j_eff > 0, j_eff, np.nan)

    alpha_parts = _alpha_parts(rows, xr, sums, answered, m)
    alpha = _alpha_from_parts(alpha_parts, m)

    dimensions = pd.DataFrame(
        {
            "group": np.repeat(cell_group, n_dims),
            "wave": np.repeat(cell_wave, n_dims),
            "dimension": np.tile(np.array(dims, dtype=object), n_cells),
            "n": dim_n.ravel().astype(np.int64),
            "mean": dim_mean.ravel(),
            "sd": dim_sd.ravel(),
            "se": se.ravel(),
            "ci_low": (dim_mean - tq * se).ravel(),
            "ci_high": (dim_mean + tq * se).ravel(),
            "rwg_j": rwg_j.ravel(),
            "ad_m": ad_m.ravel(),
            "alpha": alpha.ravel(),
        }
    )

    icc = icc_from_dimensions(dimensions)
    reliability = _reliability(alpha_parts, cell_wave, dims, m)
    return Scores(
        respondent_scores=respondent_scores,
        items=items_df,
        distributions=distributions,
        dimensions=dimensions,
        icc=icc,
        reliability=reliability,
        group_waves=group_waves,
        alpha_parts=alpha_parts,
        **base,
    )


def icc_from_dimensions(dimensions: pd.DataFrame) -> pd.DataFrame:
    """ICC(1), ICC(2) per wave and dimension from the one-way ANOVA of score on group.

    Uses each group's n, mean and sd (the ANOVA's sufficient statistics), so it can be recomputed
    on any subset of groups (``kit.privacy`` keeps only groups meeting the threshold).
    """
    d = dimensions[dimensions["n"] > 0]
    if d.empty:
        return _empty(ICC_COLUMNS)
    n = d["n"].astype(np.float64)
    frame = pd.DataFrame(
        {
            "wave": d["wave"],
            "dimension": d["dimension"],
            "n": n,
            "sum": n * d["mean"],
            "ssw": (n - 1) * d["sd"].fillna(0.0) ** 2,
            "g": 1.0,
        }
    )
    agg = frame.groupby(["wave", "dimension"], sort=False).sum()
    big_n, g = agg["n"], agg["g"]
    grand = (agg["sum"] / big_n).rename("grand")
    # SSB = sum n_g (mean_g - grand)^2, from deviations (more accurate than sumsq - N grand^2).
    dev = frame.join(grand, on=["wave", "dimension"])
    dev_ss = dev["n"] * (dev["sum"] / dev["n"] - dev["grand"]) ** 2
    ssb = dev_ss.groupby([dev["wave"], dev["dimension"]], sort=False).sum().reindex(agg.index)
    with np.errstate(invalid="ignore", divide="ignore"):
        msb = ssb / (g - 1)
        msw = agg["ssw"] / (big_n - g)
        k = big_n / g
        icc1 = (msb - msw) / (msb + (k - 1) * msw)
        icc2 = (msb - msw) / msb
    valid = (g >= 2) & (big_n > g) & (msb > 0)
    out = pd.DataFrame(
        {"icc1": icc1.where(valid), "icc2": icc2.where(valid), "groups": g.astype(np.int64), "k": k}
    ).reset_index()
    dim_rank = {dim: i for i, dim in enumerate(pd.unique(dimensions["dimension"]))}
    out = out.assign(_r=out["dimension"].map(dim_rank)).sort_values(["wave", "_r"], kind="stable")
    return out[list(ICC_COLUMNS)].reset_index(drop=True)


def _reliability(
    parts: _AlphaParts, cell_wave: np.ndarray, dims: tuple[str, ...], m: np.ndarray
) -> pd.DataFrame:
    """Cronbach's alpha per wave and dimension over all complete respondents of the wave."""
    if len(cell_wave) == 0:
        return _empty(RELIABILITY_COLUMNS)
    codes, waves = pd.factorize(pd.Index(cell_wave, dtype=object), sort=True)
    pooled = _pool_alpha_parts(parts, np.asarray(codes), len(waves), m)
    return pd.DataFrame(
        {
            "wave": np.repeat(np.asarray(waves, dtype=object), len(dims)),
            "dimension": np.tile(np.array(dims, dtype=object), len(waves)),
            "alpha": _alpha_from_parts(pooled, m).ravel(),
            "n_complete": pooled.n.ravel().astype(np.int64),
        }
    )


def reliability_for(scores: Scores, keep: np.ndarray) -> pd.DataFrame:
    """Pooled alpha per wave and dimension from the ``group_waves`` rows where ``keep`` is true
    (``kit.privacy`` keeps the cells that meet the threshold)."""
    keep = np.asarray(keep, dtype=bool)
    if keep.all() or scores.alpha_parts is None:
        return scores.reliability.copy()
    p = scores.alpha_parts
    kept = _AlphaParts(
        p.n[keep], p.item_mean[keep], p.item_ss[keep], p.total_mean[keep], p.total_ss[keep]
    )
    m = _dimension_matrix(scores.item_dimensions, scores.dimension_ids)
    waves = scores.group_waves["wave"].to_numpy(dtype=object)[keep]
    return _reliability(kept, waves, scores.dimension_ids, m)


# --------------------------------------------------------------------------------------------
# Comparisons
# --------------------------------------------------------------------------------------------


def compare_waves(scores: Any, before: str, after: str) -> pd.DataFrame:
    """Change in each group's dimension means from ``before`` to ``after`` with a Welch 95 % CI.

    Works on ``Scores`` and on ``kit.privacy.ProtectedScores`` (anything with ``dimensions``):
    a suppressed side gives no change, and its reason is carried in ``suppressed``.
    """
    d = scores.dimensions
    waves = set(d["wave"])
    for w in (before, after):
        if w not in waves:
            from kit.errors import NotFoundError

            raise NotFoundError.text(
                "engine.scoring.no_wave_scores", wave=w, known=", ".join(sorted(waves))
            )
    cols = ["group", "dimension", "n", "mean", "sd"]
    has_reason = "suppressed" in d
    if has_reason:
        cols.append("suppressed")
    b = d.loc[d["wave"] == before, cols]
    a = d.loc[d["wave"] == after, cols]
    j = b.merge(a, on=["group", "dimension"], suffixes=("_before", "_after"))
    nb, na = j["n_before"].astype(np.float64), j["n_after"].astype(np.float64)
    vb, va = j["sd_before"] ** 2 / nb, j["sd_after"] ** 2 / na
    with np.errstate(invalid="ignore", divide="ignore"):
        se = np.sqrt(vb + va)
        df = (vb + va) ** 2 / (vb**2 / (nb - 1) + va**2 / (na - 1))
        tq = _stdtrit(df, 0.975)  # the t quantile (scipy.stats costs 1 s to import)
    change = j["mean_after"] - j["mean_before"]
    out = pd.DataFrame(
        {
            "group": j["group"],
            "dimension": j["dimension"],
            "mean_before": j["mean_before"],
            "mean_after": j["mean_after"],
            "n_before": j["n_before"],
            "n_after": j["n_after"],
            "change": change,
            "se": se,
            "df": df,
            "ci_low": change - tq * se,
            "ci_high": change + tq * se,
        }
    )
    if has_reason:
        reason = j["suppressed_before"].where(j["suppressed_before"].notna(), j["suppressed_after"])
        hide = reason.notna()
        for c in ("mean_before", "mean_after", "change", "se", "df", "ci_low", "ci_high"):
            out.loc[hide, c] = np.nan
        for c in ("n_before", "n_after"):
            out[c] = out[c].astype("Int64")
            out.loc[hide, c] = pd.NA
        out["suppressed"] = reason.astype(object).where(hide, None)
    return out.reset_index(drop=True)


def norm_position(scores: Any, wave: str, norm_groups: Iterable[str]) -> pd.DataFrame:
    """Where each group's dimension mean lies among the norm base's group means in ``wave``.

    percentile = 100 * (norm groups below + half of those equal) / norm groups. A group that is
    itself in the norm base is compared with the *other* norm groups. Groups whose mean is
    missing (or suppressed) are not part of the norm and get no percentile.
    """
    d = scores.dimensions
    d = d.loc[d["wave"] == wave, ["group", "dimension", "mean"]].reset_index(drop=True)
    norm_set = set(norm_groups)
    in_norm = d["group"].isin(norm_set) & d["mean"].notna()
    nd = d[in_norm]
    out = d.copy()
    out["norm_mean"] = np.nan
    out["norm_sd"] = np.nan
    out["norm_groups"] = 0
    out["percentile"] = np.nan
    for dim, idx in out.groupby("dimension", sort=False).groups.items():  # per dimension (~20)
        ref = np.sort(nd.loc[nd["dimension"] == dim, "mean"].to_numpy())
        vals = out.loc[idx, "mean"].to_numpy()
        self_in = in_norm.loc[idx].to_numpy()
        below = np.searchsorted(ref, vals, side="left").astype(np.float64)
        equal = np.searchsorted(ref, vals, side="right") - below
        count = len(ref) - self_in
        equal = equal - self_in
        s1 = ref.sum() - np.where(self_in, vals, 0.0)
        s2 = (ref**2).sum() - np.where(self_in, vals**2, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = s1 / count
            var = np.maximum(s2 - count * mean**2, 0.0) / (count - 1)
            pct = 100 * (below + equal / 2) / count
        out.loc[idx, "norm_mean"] = np.where(count > 0, mean, np.nan)
        out.loc[idx, "norm_sd"] = np.where(count > 1, np.sqrt(var), np.nan)
        out.loc[idx, "norm_groups"] = count
        out.loc[idx, "percentile"] = np.where((count > 0) & ~np.isnan(vals), pct, np.nan)
    out["norm_groups"] = out["norm_groups"].astype(np.int64)
    return out


def cohort_position(scores: Any, wave: str, groups: Iterable[str]) -> pd.DataFrame:
    """Rank of each of ``groups`` among ``groups`` per dimension (1 = highest mean; ties share
    the best rank), with ``of`` = how many of them have a mean."""
    d = scores.dimensions
    wanted = list(dict.fromkeys(groups))
    d = d.loc[(d["wave"] == wave) & d["group"].isin(wanted), ["group", "dimension", "mean"]]
    out = d.reset_index(drop=True)
    out["rank"] = out.groupby("dimension")["mean"].rank(ascending=False, method="min")
    out["rank"] = out["rank"].astype("Int64")
    out["of"] = out.groupby("dimension")["mean"].transform("count").astype(np.int64)
    return out
