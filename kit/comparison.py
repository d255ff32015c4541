"""Comparison aggregates computed once per set of publications, not once per group view.

A group's results compare it with other groups (the norm base, its cohort, the pooled method
figures, every group's change between two waves). Those aggregates depend only on the
published data (``ScoredData.data_hash``: the current publications, the reference tables and
the thresholds) and on the wave, not on the group looked at, so a server building 32 groups'
dashboards made the same aggregates 32 times. Here they are made once per publication set and
kept per process (a new publication makes a new ``data_hash``, so nothing stale is ever read);
a group's view then only subtracts itself. ``kit.results`` calls this; it imports nothing of
``kit.results``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

import numpy as np
import pandas as pd

T = TypeVar("T")

_CACHE: OrderedDict[tuple[Hashable, ...], Any] = OrderedDict()
_CACHE_SIZE = 512
_LOCK = threading.Lock()


def memo(data: Any, key: tuple[Hashable, ...], make: Callable[[], T]) -> T:
    """``make()``, made once per publication set (``data.data_hash``) and ``key``.

    Data without a fingerprint (made by hand, tests) are never cached."""
    digest = getattr(data, "data_hash", "")
    if not digest:
        return make()
    full = (digest, *key)
    with _LOCK:
        if full in _CACHE:
            _CACHE.move_to_end(full)
            return _CACHE[full]
    value = make()  # outside the lock: two threads may both make it, with the same result
    with _LOCK:
        _CACHE[full] = value
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return value


def clear() -> None:
    with _LOCK:
        _CACHE.clear()


def norm_reference(
    data: Any, wave: str, norm_ids: list[str]
) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Per dimension (in the order of the wave's rows): the norm groups' ids and shown means."""

    def make() -> list[tuple[str, np.ndarray, np.ndarray]]:
        vis = data.visible_dimensions(wave)
        if vis.empty:
            return []
        sel = vis[vis["group"].isin(set(norm_ids))]
        return [
            (
                str(did),
                sub["group"].to_numpy(dtype=object),
                sub["mean"].to_numpy(dtype=float),
            )
            for did, sub in sel.groupby("dimension", sort=False)
        ]

    return memo(data, ("norm_reference", wave, tuple(sorted(norm_ids))), make)


NORM_COLUMNS = [
    "dimension",
    "norm_groups",
    "norm_mean",
    "norm_sd",
    "norm_low",
    "norm_high",
    "percentile",
]


def norm_table(
    data: Any, wave: str, norm_ids: list[str], group_id: str, own: pd.Series
) -> pd.DataFrame:
    """norm_mean, norm_sd, norm_groups, percentile, norm_low, norm_high per dimension against
    the norm groups other than ``group_id``; each missing where fewer than
    ``data.min_comparison_groups`` of them have a shown mean (unrounded)."""
    rows = []
    for did, groups, means in norm_reference(data, wave, norm_ids):
        keep = groups != group_id
        if not keep.any():
            continue
        ref = np.sort(means[keep])
        count = len(ref)
        row: dict[str, Any] = {"dimension": did, "norm_groups": count}
        if count >= data.min_comparison_groups:
            mine = own.get(did, np.nan)
            row["norm_mean"] = float(ref.mean())
            row["norm_sd"] = float(ref.std(ddof=1)) if count > 1 else np.nan
            row["norm_low"] = float(np.quantile(ref, 0.25))
            row["norm_high"] = float(np.quantile(ref, 0.75))
            if mine is not None and not pd.isna(mine):
                below = np.searchsorted(ref, mine, side="left")
                equal = np.searchsorted(ref, mine, side="right") - below
                row["percentile"] = 100.0 * (below + equal / 2) / count
        rows.append(row)
    out = pd.DataFrame(rows, columns=NORM_COLUMNS)
    ok = out["norm_groups"] >= data.min_comparison_groups
    out.loc[~ok, "norm_groups"] = 0
    return out


def group_rows(frame: pd.DataFrame, group_id: str, column: str = "group") -> pd.DataFrame:
    """The rows of ``frame`` (a cached all-groups frame) that belong to ``group_id``, a copy."""
    if frame.empty:
        return frame.copy()
    return frame[frame[column] == group_id].copy()
