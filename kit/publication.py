"""Publishing a group-wave: its protected results computed once, rounded, stored as a version.

Results exist only for a **published** group-wave. Staff close a group-wave when its survey is
over (``kit waves close GROUP WAVE`` or ``kit publish --close``) and publish it; every report,
dashboard, ``kit score`` export and cohort/programme/norm aggregate then reads the stored snapshot
(``kit.store.publications``), never the raw answers. So no two views differ by one person, and
showing one group costs one snapshot, not scoring every group.

Rules, each closing an attack (docs/DESIGN.md, Privacy):

- **Versions in steps of the threshold.** Answers that arrive after publication make a new
  version only when the set of responses differs from *every* earlier reportable version by at
  least ``min_respondents`` (added + removed + changed; a changed response counts twice); else
  :func:`publish` says how many more are needed. Per item and per dimension the same check runs on
  the responses that contributed to it: a cell that changed by 1..k-1 contributions since a version
  that showed it is blanked (reason ``changed``).
- **A hidden item is out of its dimension.** An item answered by fewer than ``min_respondents`` is
  hidden and its answers are removed before the dimension is scored, so the dimension's numbers do
  not depend on them at all.
- **Rounded at publication.** The snapshot keeps only numbers rounded to what reports print
  (``DIGITS``); precise sufficient statistics for pooled ICC and reliability stay in the engine
  (``pool``) and are never shown.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from kit import scoring
from kit.errors import NotFoundError
from kit.instrument import Instrument
from kit.privacy import (
    COMMENTS,
    ROLES,
    TOO_FEW,
    AnonymityRules,
    protect,
    select_comments,
    split_by_role,
)
from kit.settings import Settings
from kit.store import Store, now
from kit.store import publications as pubs

CHANGED = "changed"  # a cell changed by fewer than min_respondents since a version that showed it
NOT_PUBLISHED = "not_published"
# Decimals kept at publication: what reports print (1 for means, 2 for spreads and agreement).
DIGITS = {
    "mean": 1,
    "sd": 2,
    "se": 2,
    "ci_low": 1,
    "ci_high": 1,
    "rwg_j": 2,
    "ad_m": 2,
    "alpha": 2,
    "icc1": 2,
    "icc2": 2,
    "k": 1,
}


@dataclass(frozen=True)
class PublishOutcome:
    """What :func:`publish_group_wave` did for one group-wave.

    ``status``: ``published`` (a new version), ``unchanged`` (same responses as the current
    version), ``waiting`` (late answers, but fewer than ``needed`` more are required), ``open``
    (the group-wave is not closed yet).
    """

    group_id: str
    wave_id: str
    status: str
    version: int | None = None
    published_at: dt.datetime | None = None
    respondents: int = 0
    reportable: bool = False
    changes: int = 0  # responses added/removed since the closest earlier reportable version
    needed: int = 0  # how many more changes a new version needs


def round_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Every column named in ``DIGITS`` rounded to its decimals (what a view may show)."""
    out = frame.copy()
    for col, digits in DIGITS.items():
        if col in out:
            out[col] = pd.to_numeric(out[col], errors="coerce").astype(float).round(digits)
    return out


def _fingerprints(cell: pd.DataFrame, instrument: Instrument) -> list[str]:
    """A SHA-256 of each response's content (respondent, role, answers, comments): the same
    response keeps its fingerprint, a changed one gets a new one."""
    out = []
    items, questions = list(instrument.item_ids), list(instrument.open_question_ids)
    for rec in cell.to_dict("records"):
        answers = [None if pd.isna(rec.get(i)) else float(rec[i]) for i in items]
        texts = [rec.get(q) if isinstance(rec.get(q), str) else None for q in questions]
        role = rec.get("role") if isinstance(rec.get("role"), str) else None
        payload = json.dumps([str(rec["respondent"]), role, answers, texts])
        out.append(hashlib.sha256(payload.encode()).hexdigest())
    return out


def _mask(bits: np.ndarray) -> str:
    return "".join("1" if b else "0" for b in bits)


def _unmask(mask: str, n: int) -> np.ndarray:
    return np.array([c == "1" for c in mask[:n]] + [False] * max(0, n - len(mask)), dtype=bool)


def _changed_counts(
    current: dict[str, np.ndarray], earlier: dict[str, str], width: int, offset: int = 0
) -> tuple[int, np.ndarray]:
    """Responses in one set and not the other, and per cell how many of them contributed."""
    counts = np.zeros(width, dtype=np.int64)
    added = [fp for fp in current if fp not in earlier]
    removed = [fp for fp in earlier if fp not in current]
    for fp in added:
        counts += current[fp][offset : offset + width]
    for fp in removed:
        counts += _unmask(earlier[fp], offset + width)[offset : offset + width]
    return len(added) + len(removed), counts


def _json_number(value: Any) -> Any:
    if value is None or value is pd.NA:
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return value
    return None if np.isnan(f) else f


def build_snapshot(
    cell: pd.DataFrame,
    instrument: Instrument,
    rules: AnonymityRules,
    *,
    group_id: str,
    wave_id: str,
    min_answered_share: float = 0.5,
    earlier: list[tuple[int, bool, dict[str, Any], dict[str, str], list[dict[str, Any]]]]
    | None = None,
    seed: int | None = None,
) -> tuple[pubs.NewPublication, int, int]:
    """The protected, rounded snapshot of one group-wave's responses ``cell``.

    ``earlier``: the group-wave's stored versions (``publications.earlier_versions``); cells
    that changed by fewer than ``min_respondents`` contributions since a version that showed them
    are blanked. Returns (snapshot, fewest changes to an earlier reportable version or -1 when
    there is none, changes to the latest version or -1).
    """
    k = rules.min_respondents
    items, dims = list(instrument.item_ids), list(instrument.dimension_ids)
    n_items = len(items)
    earlier = earlier or []
    n = len(cell)
    fps = _fingerprints(cell, instrument) if n else []
    x = cell[items].to_numpy(dtype=np.float64, na_value=np.nan) if n else np.zeros((0, n_items))
    answered = ~np.isnan(x)
    rules_json = {
        "min_respondents": rules.min_respondents,
        "min_subgroup_respondents": rules.min_subgroup_respondents,
        "min_comment_respondents": rules.min_comment_respondents,
        "min_answered_share": min_answered_share,
    }
    reportable_earlier = [e for e in earlier if e[1]]
    fewest = -1
    for _, _, _, members, _ in reportable_earlier:
        changes = len(set(fps) ^ set(members))
        fewest = changes if fewest < 0 else min(fewest, changes)
    to_latest = len(set(fps) ^ set(earlier[-1][3])) if earlier else -1

    if n < k:
        members = {fp: _mask(np.zeros(n_items + len(dims), bool)) for fp in fps}
        dim_rows = [
            {"dimension": d, **{f: None for f in pubs.DIMENSION_FIELDS}, "suppressed": TOO_FEW}
            for d in dims
        ]
        snap = pubs.NewPublication(
            instrument.id, group_id, wave_id, n, False, TOO_FEW, rules_json,
            {"items": [], "distributions": {}, "comments": {"suppressed": TOO_FEW}},
            {}, dim_rows, members,
        )  # fmt: skip
        return snap, fewest, to_latest

    # Items: hidden below the threshold, or when changed by too few since a version showing them.
    item_n = answered.sum(axis=0)
    hide_item = np.where(item_n < k, TOO_FEW, None).astype(object)
    current_items = {fp: answered[i] for i, fp in enumerate(fps)}
    for _, _, view, members, _ in reportable_earlier:
        shown = {r["item"] for r in view.get("items", []) if r.get("suppressed") is None}
        _, counts = _changed_counts(current_items, members, n_items)
        for j, item in enumerate(items):
            if hide_item[j] is None and item in shown and 0 < counts[j] < k:
                hide_item[j] = CHANGED
    hidden_items = [items[j] for j in range(n_items) if hide_item[j] is not None]

    # Dimensions are scored without the hidden items' answers.
    masked = cell.copy()
    if hidden_items:
        masked.loc[:, hidden_items] = np.nan
    scores = scoring.score_responses(masked, instrument, min_answered_share=min_answered_share)
    protected = protect(scores, rules)
    pdims = protected.dimensions.set_index("dimension")
    scored = (
        scores.respondent_scores.set_index("respondent")
        .reindex(cell["respondent"].astype(str))[dims]
        .notna()
        .to_numpy()
    )
    hide_dim = {d: pdims.loc[d, "suppressed"] for d in dims}
    current_all = {fp: np.concatenate([answered[i], scored[i]]) for i, fp in enumerate(fps)}
    for _, _, _, members, earlier_dims in reportable_earlier:
        shown = {r["dimension"] for r in earlier_dims if r.get("suppressed") is None}
        _, counts = _changed_counts(current_all, members, len(dims), offset=n_items)
        for j, d in enumerate(dims):
            if hide_dim[d] is None and d in shown and 0 < counts[j] < k:
                hide_dim[d] = CHANGED

    raw = scores.dimensions.set_index("dimension")
    view_dims = round_frame(raw.reset_index())
    dim_rows, pool_dims = [], []
    for rec in view_dims.to_dict("records"):
        d = rec["dimension"]
        reason = hide_dim[d]
        row = {"dimension": d, "suppressed": reason}
        for f in pubs.DIMENSION_FIELDS:
            value = None if reason else _json_number(rec[f])
            row[f] = int(value) if f == "n" and value is not None else value
        dim_rows.append(row)
        if reason is None:
            pool_dims.append(
                {
                    "dimension": d,
                    "n": int(raw.loc[d, "n"]),
                    "mean": _json_number(raw.loc[d, "mean"]),
                    "sd": _json_number(raw.loc[d, "sd"]),
                }
            )

    # Items and distributions of the raw (unmasked) answers, hidden ones without any number.
    full = scoring.score_responses(cell, instrument, min_answered_share=min_answered_share)
    it = round_frame(full.items.astype({"item": str, "dimension": str}))
    item_rows = []
    for j, rec in enumerate(it.to_dict("records")):
        reason = hide_item[j]
        item_rows.append(
            {
                "item": rec["item"],
                "dimension": rec["dimension"],
                "n": None if reason else int(rec["n"]),
                "mean": None if reason else _json_number(rec["mean"]),
                "sd": None if reason else _json_number(rec["sd"]),
                "suppressed": reason,
            }
        )
    # One block of counts per item, in instrument order; items may be on different scales.
    dist = full.distributions
    counts = dict(iter(dist.groupby(dist["item"].astype(str), sort=False, observed=True)["count"]))
    distributions = {
        items[j]: (None if hide_item[j] else [int(c) for c in counts[items[j]]])
        for j in range(n_items)
    }
    comments = select_comments(
        cell.assign(group=group_id, wave=wave_id), instrument, group_id, wave_id, rules,
        seed if seed is not None else secrets.randbits(32),
    )  # fmt: skip
    comments_view = (
        {"suppressed": COMMENTS}
        if comments.suppressed
        else {"by_question": {q: list(v) for q, v in comments.by_question.items()}}
    )
    pool = {"dimensions": pool_dims, "alpha": _alpha_pool(scores, hide_dim, dims)}
    role_of = _roles_of(cell)
    roles_view = _role_view(
        masked.assign(group=group_id, wave=wave_id), instrument, rules, group_id, wave_id,
        min_answered_share, fps, role_of, current_all, reportable_earlier, hide_dim,
    )  # fmt: skip
    members = {fp: _mask(current_all[fp]) + ROLE_MARK[role_of[i]] for i, fp in enumerate(fps)}
    snap = pubs.NewPublication(
        instrument.id, group_id, wave_id, n, True, None, rules_json,
        {"items": item_rows, "distributions": distributions, "comments": comments_view,
         "roles": roles_view},
        pool, dim_rows, members,
    )  # fmt: skip
    return snap, fewest, to_latest


# A response's role, appended to its mask (after the item and dimension bits), so a later version
# can tell how each side of a leader/member split changed.
ROLE_MARK = {"leader": "L", "member": "M", None: "R"}
_MARK_ROLE = {v: k for k, v in ROLE_MARK.items()}


def _roles_of(cell: pd.DataFrame) -> list[str | None]:
    """Each response's role as ``split_by_role`` counts it (leader, member, or None)."""
    if "role" not in cell:
        return [None] * len(cell)
    return [r if r in ROLES else None for r in cell["role"]]


def _mask_role(mask: str, width: int) -> str | None | bool:
    """The role stored after the bits of ``mask``; False when the mask has none (older)."""
    mark = mask[width : width + 1]
    return _MARK_ROLE.get(mark, False) if mark else False


def _role_view(
    cell: pd.DataFrame,
    instrument: Instrument,
    rules: AnonymityRules,
    group_id: str,
    wave_id: str,
    min_answered_share: float,
    fps: list[str],
    role_of: list[str | None],
    bits: dict[str, np.ndarray],
    earlier: list[tuple[int, bool, dict[str, Any], dict[str, str], list[dict[str, Any]]]],
    hide_dim: dict[str, Any],
) -> dict[str, Any]:
    """Leader vs members of the cell, rounded, or only the reason it is not shown.

    The engine's ``split_by_role`` decides (every side and the rest at least
    ``min_subgroup_respondents``). Across versions the step rule holds per side: when a side
    (leaders, members, the rest) changed by 1..k-1 responses since a version that showed the
    split, the split is blanked (``changed``); per dimension the same on the responses scored in
    it. A dimension hidden for the team is hidden for both sides.
    """
    split = split_by_role(
        cell, instrument, rules, group_id, wave_id, min_answered_share=min_answered_share
    )
    if split.refused:
        return {"suppressed": split.suppressed}
    k = rules.min_subgroup_respondents
    n_items, dims = len(instrument.item_ids), list(instrument.dimension_ids)
    width = n_items + len(dims)
    blank: set[str] = set()
    for _, _, view, members, _ in earlier:
        shown = view.get("roles") or {}
        if shown.get("suppressed") is not None or not shown.get("dimensions"):
            continue
        shown_dims = {r["dimension"] for r in shown["dimensions"] if r.get("suppressed") is None}
        for side in (*ROLES, None):
            now_side = {fp: bits[fp] for fp, r in zip(fps, role_of, strict=True) if r == side}
            old_side = {fp: m for fp, m in members.items() if _mask_role(m, width) == side}
            changes, counts = _changed_counts(now_side, old_side, len(dims), offset=n_items)
            if 0 < changes < k:
                return {"suppressed": CHANGED}
            blank |= {d for j, d in enumerate(dims) if d in shown_dims and 0 < counts[j] < k}
    sizes = {r: sum(1 for x in role_of if x == r) for r in ROLES}
    sizes["rest"] = sum(1 for x in role_of if x is None)
    rows = []
    for rec in round_frame(split.dimensions).to_dict("records"):
        d = rec["dimension"]
        reason = rec["suppressed"] or hide_dim.get(d) or (CHANGED if d in blank else None)
        row = {"role": rec["role"], "dimension": d, "suppressed": reason}
        for f in ("n", "mean", "sd", "se", "ci_low", "ci_high"):
            value = None if reason else _json_number(rec[f])
            row[f] = int(value) if f == "n" and value is not None else value
        rows.append(row)
    return {"suppressed": None, "sizes": sizes, "dimensions": rows}


def _alpha_pool(scores: scoring.Scores, hide_dim: dict[str, Any], dims: list[str]) -> dict:
    """Cronbach sufficient statistics of the cell, zero for blanked dimensions (engine only)."""
    p = scores.alpha_parts
    if p is None:
        return {}
    keep = np.array([hide_dim[d] is None for d in dims])
    item_keep = keep[[dims.index(d) for d in scores.item_dimensions]]

    def clean(a: np.ndarray, mask: np.ndarray) -> list[float]:
        return [float(v) if m and np.isfinite(v) else 0.0 for v, m in zip(a[0], mask, strict=True)]

    return {
        "n": clean(p.n, keep),
        "item_mean": clean(p.item_mean, item_keep),
        "item_ss": clean(p.item_ss, item_keep),
        "total_mean": clean(p.total_mean, keep),
        "total_ss": clean(p.total_ss, keep),
    }


def pooled_statistics(
    pools: list[tuple[str, str, dict[str, Any]]], instrument: Instrument
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """ICC per wave and dimension, and reliability per wave and dimension, from the precise
    statistics of published, reportable snapshots; both rounded as a view shows them."""
    dims = instrument.dimension_ids
    rows = [
        {"group": g, "wave": w, **d}
        for g, w, pool in pools
        for d in pool.get("dimensions", [])
        if d.get("mean") is not None
    ]
    frame = pd.DataFrame(rows, columns=["group", "wave", "dimension", "n", "mean", "sd"])
    frame["sd"] = pd.to_numeric(frame["sd"], errors="coerce")
    icc = scoring.icc_from_dimensions(frame) if len(frame) else scoring._empty(scoring.ICC_COLUMNS)
    with_alpha = [(w, pool["alpha"]) for _, w, pool in pools if pool.get("alpha")]
    if with_alpha:
        parts = scoring._AlphaParts(
            *(np.array([a[f] for _, a in with_alpha], dtype=np.float64)
              for f in ("n", "item_mean", "item_ss", "total_mean", "total_ss"))
        )  # fmt: skip
        m = scoring._dimension_matrix([it.dimension for it in instrument.items], dims)
        waves = np.array([w for w, _ in with_alpha], dtype=object)
        reliability = scoring._reliability(parts, waves, dims, m)
    else:
        reliability = scoring._empty(scoring.RELIABILITY_COLUMNS)
    return round_frame(icc), round_frame(reliability)


def _group_wave_row(store: Store, group_id: str, wave_id: str) -> dict[str, Any]:
    gw = store.list_group_waves()
    row = gw[(gw["group_id"] == group_id) & (gw["wave_id"] == wave_id)]
    if row.empty:
        raise NotFoundError.text("engine.group_wave.missing", group=group_id, wave=wave_id)
    return row.iloc[0].to_dict()


def publish_group_wave(
    store: Store,
    settings: Settings,
    instrument: Instrument,
    group_id: str,
    wave_id: str,
    *,
    when: dt.datetime | None = None,
    seed: int | None = None,
    row: dict[str, Any] | None = None,
) -> PublishOutcome:
    """Publish the closed group-wave's results as a new version when the rules allow it.

    ``row``: the group-wave's row of ``Store.list_group_waves()`` when the caller has it.
    """
    row = row or _group_wave_row(store, group_id, wave_id)
    if row.get("status") != "closed":
        return PublishOutcome(group_id, wave_id, "open", respondents=int(row["respondents"]))
    rules = AnonymityRules.from_settings(settings)
    k = rules.min_respondents
    cell = store.load_responses(instrument, group_ids=[group_id], wave_ids=[wave_id])
    earlier = pubs.earlier_versions(store, instrument.id, group_id, wave_id)
    snap, fewest, to_latest = build_snapshot(
        cell, instrument, rules, group_id=group_id, wave_id=wave_id,
        min_answered_share=settings.min_answered_share, earlier=earlier, seed=seed,
    )  # fmt: skip
    latest = earlier[-1] if earlier else None
    if latest is not None and to_latest == 0:
        return PublishOutcome(
            group_id, wave_id, "unchanged", latest[0], None, snap.respondents, latest[1], 0, 0
        )
    if snap.reportable and 0 < fewest < k:
        return PublishOutcome(
            group_id, wave_id, "waiting", latest[0] if latest else None, None,
            snap.respondents, bool(latest and latest[1]), fewest, k - fewest,
        )  # fmt: skip
    when = when or now()
    _, version = pubs.save_publication(store, snap, when)
    _invalidate()
    return PublishOutcome(
        group_id, wave_id, "published", version, when, snap.respondents, snap.reportable,
        max(fewest, 0), 0,
    )  # fmt: skip


def publish(
    store: Store,
    settings: Settings,
    instrument: Instrument,
    *,
    group_ids: list[str] | None = None,
    wave_ids: list[str] | None = None,
    close: bool = False,
    when: dt.datetime | None = None,
) -> list[PublishOutcome]:
    """Publish every closed group-wave matching the filters (``close`` closes them first).

    Group-waves with no responses and no earlier version are left alone (nothing to show).
    """
    gw = store.list_group_waves()
    known_groups, known_waves = set(gw["group_id"]), set(gw["wave_id"])
    for g in group_ids or []:
        if g not in known_groups:
            raise NotFoundError.text("cli.no_group", group=g)
    for w in wave_ids or []:
        if w not in known_waves:
            raise NotFoundError.text("cli.no_wave", wave=w, known=", ".join(sorted(known_waves)))
    sel = gw
    if group_ids:
        sel = sel[sel["group_id"].isin(group_ids)]
    if wave_ids:
        sel = sel[sel["wave_id"].isin(wave_ids)]
    published = pubs.list_publications(store, instrument.id)
    has_version = set(zip(published.get("group_id", []), published.get("wave_id", []), strict=True))
    out = []
    for rec in sel.to_dict("records"):
        g, w = rec["group_id"], rec["wave_id"]
        if int(rec["respondents"]) == 0 and (g, w) not in has_version:
            continue
        if close:
            pubs.close_group_wave(store, g, w)
            rec = {**rec, "status": "closed"}
        elif rec["status"] != "closed" and not (group_ids or wave_ids):
            continue  # publish without filters: only the closed ones
        out.append(publish_group_wave(store, settings, instrument, g, w, when=when, row=rec))
    return out


# A process-wide token bumped by every publication of this process (readers also compare the
# database's own stamp, so publications by other processes are seen too).
_GENERATION = [0]


def _invalidate() -> None:
    _GENERATION[0] += 1
