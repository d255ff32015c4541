"""Repository of published results: save a version, read the current one, list them.

Every function takes the ``Store`` and runs in one transaction (``store.begin()``). Saving a new
version and marking it ``current`` happen together, so a reader sees the old version or the new
one, never a mixture. What is computed and when it may be published is decided in
``kit.publication``; this module only stores and reads.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import func, insert, select, update

from kit.store import Store, _bulk_insert, _fetch
from kit.store import publication_tables as pt
from kit.store import schema as s

DIMENSION_FIELDS = ("n", "mean", "sd", "se", "ci_low", "ci_high", "rwg_j", "ad_m", "alpha")
META_COLUMNS = (
    "id",
    "instrument_id",
    "group_id",
    "wave_id",
    "version",
    "published_at",
    "respondents",
    "reportable",
    "reason",
)


@dataclass(frozen=True)
class NewPublication:
    """What ``kit.publication`` hands over to be stored as the next version of a group-wave."""

    instrument_id: str
    group_id: str
    wave_id: str
    respondents: int
    reportable: bool
    reason: str | None
    rules: dict[str, Any]
    view: dict[str, Any]  # rounded: items, distributions, comments
    pool: dict[str, Any]  # precise, engine only
    dimensions: list[dict[str, Any]]  # rounded dimension rows (dimension + DIMENSION_FIELDS)
    members: dict[str, str]  # response fingerprint -> mask


@dataclass(frozen=True)
class Publication:
    """One stored version of a group-wave's results (``pool`` is for the engine only)."""

    id: int
    instrument_id: str
    group_id: str
    wave_id: str
    version: int
    published_at: dt.datetime
    respondents: int
    reportable: bool
    reason: str | None
    rules: dict[str, Any]
    view: dict[str, Any]
    dimensions: pd.DataFrame


def _utc(value: Any) -> dt.datetime:
    """SQLite returns naive datetimes; every time the kit stores is UTC."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def save_publication(store: Store, new: NewPublication, when: dt.datetime) -> tuple[int, int]:
    """Store ``new`` as the next version of its group-wave and make it current.

    Returns (publication id, version). One transaction: the previous version stops being current
    in the same commit that makes this one current.
    """
    p = pt.publications
    key = (
        (p.c.instrument_id == new.instrument_id)
        & (p.c.group_id == new.group_id)
        & (p.c.wave_id == new.wave_id)
    )
    with store.begin() as conn:
        last = conn.execute(select(func.max(p.c.version)).where(key)).scalar()
        version = int(last or 0) + 1
        conn.execute(update(p).where(key).values(current=False))
        pub_id = conn.execute(
            insert(p).values(
                instrument_id=new.instrument_id,
                group_id=new.group_id,
                wave_id=new.wave_id,
                version=version,
                published_at=when,
                respondents=new.respondents,
                reportable=new.reportable,
                reason=new.reason,
                rules=json.dumps(new.rules, sort_keys=True),
                view=json.dumps(new.view, ensure_ascii=False, allow_nan=False),
                pool=json.dumps(new.pool, allow_nan=False),
                current=True,
            )
        ).inserted_primary_key[0]
        if new.dimensions:
            conn.execute(
                insert(pt.published_dimensions),
                [
                    {
                        "publication_id": pub_id,
                        "dimension": d["dimension"],
                        **{f: d.get(f) for f in DIMENSION_FIELDS},
                        "suppressed": d.get("suppressed"),
                    }
                    for d in new.dimensions
                ],
            )
        if new.members:
            _bulk_insert(
                conn,
                pt.publication_members.name,
                ("publication_id", "fingerprint", "mask"),
                [(int(pub_id), fp, mask) for fp, mask in sorted(new.members.items())],
            )
    return int(pub_id), version


def list_publications(
    store: Store,
    instrument_id: str | None = None,
    *,
    group_ids: Sequence[str] | None = None,
    wave_ids: Sequence[str] | None = None,
    current_only: bool = True,
) -> pd.DataFrame:
    """Publications (no view, no pool): id, instrument_id, group_id, wave_id, version,
    published_at, respondents, reportable, reason, current; sorted by group, wave, version."""
    p = pt.publications
    where = []
    if instrument_id is not None:
        where.append(p.c.instrument_id == instrument_id)
    if group_ids is not None:
        where.append(p.c.group_id.in_(list(group_ids)))
    if wave_ids is not None:
        where.append(p.c.wave_id.in_(list(wave_ids)))
    if current_only:
        where.append(p.c.current.is_(True))
    cols = [p.c[c] for c in META_COLUMNS] + [p.c.current]
    with store.begin() as conn:
        rows = _fetch(
            conn, select(*cols).where(*where).order_by(p.c.group_id, p.c.wave_id, p.c.version)
        )
    frame = pd.DataFrame.from_records(rows, columns=[*META_COLUMNS, "current"])
    if len(frame):
        frame["published_at"] = [_utc(v) for v in frame["published_at"]]
        frame["reportable"] = frame["reportable"].astype(bool)
        frame["current"] = frame["current"].astype(bool)
    return frame


def current_publication(
    store: Store, instrument_id: str, group_id: str, wave_id: str
) -> Publication | None:
    """The current version of one group-wave (with its view and dimension rows), or None."""
    p = pt.publications
    with store.begin() as conn:
        row = (
            conn.execute(
                select(*[p.c[c] for c in META_COLUMNS], p.c.rules, p.c.view).where(
                    p.c.instrument_id == instrument_id,
                    p.c.group_id == group_id,
                    p.c.wave_id == wave_id,
                    p.c.current.is_(True),
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            return None
        d = pt.published_dimensions
        dims = _fetch(
            conn,
            select(d.c.dimension, *[d.c[f] for f in DIMENSION_FIELDS], d.c.suppressed).where(
                d.c.publication_id == row["id"]
            ),
        )
    frame = pd.DataFrame.from_records(dims, columns=["dimension", *DIMENSION_FIELDS, "suppressed"])
    return Publication(
        id=int(row["id"]),
        instrument_id=row["instrument_id"],
        group_id=row["group_id"],
        wave_id=row["wave_id"],
        version=int(row["version"]),
        published_at=_utc(row["published_at"]),
        respondents=int(row["respondents"]),
        reportable=bool(row["reportable"]),
        reason=row["reason"],
        rules=json.loads(row["rules"]),
        view=json.loads(row["view"]),
        dimensions=frame,
    )


def current_dimensions(
    store: Store, instrument_id: str, wave_ids: Sequence[str] | None = None
) -> pd.DataFrame:
    """Rounded dimension rows of every group's current version: group, wave, version,
    published_at, reportable, dimension, n, mean, ..., suppressed."""
    p, d = pt.publications, pt.published_dimensions
    where = [p.c.instrument_id == instrument_id, p.c.current.is_(True)]
    if wave_ids is not None:
        where.append(p.c.wave_id.in_(list(wave_ids)))
    q = (
        select(
            p.c.group_id,
            p.c.wave_id,
            p.c.version,
            p.c.published_at,
            p.c.reportable,
            d.c.dimension,
            *[d.c[f] for f in DIMENSION_FIELDS],
            d.c.suppressed,
        )
        .join(d, d.c.publication_id == p.c.id)
        .where(*where)
        .order_by(p.c.group_id, p.c.wave_id)
    )
    with store.begin() as conn:
        rows = _fetch(conn, q)
    columns = [
        "group",
        "wave",
        "version",
        "published_at",
        "reportable",
        "dimension",
        *DIMENSION_FIELDS,
        "suppressed",
    ]
    frame = pd.DataFrame.from_records(rows, columns=columns)
    if len(frame):
        frame["published_at"] = [_utc(v) for v in frame["published_at"]]
        frame["reportable"] = frame["reportable"].astype(bool)
        for f in DIMENSION_FIELDS:
            frame[f] = pd.to_numeric(frame[f], errors="coerce")
        frame["n"] = frame["n"].astype("Int64")
    return frame


def current_pools(store: Store, instrument_id: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(group, wave, pool) of every current, reportable version: for the engine's pooled
    statistics (ICC, reliability) only."""
    p = pt.publications
    with store.begin() as conn:
        rows = _fetch(
            conn,
            select(p.c.group_id, p.c.wave_id, p.c.pool)
            .where(
                p.c.instrument_id == instrument_id,
                p.c.current.is_(True),
                p.c.reportable.is_(True),
            )
            .order_by(p.c.group_id, p.c.wave_id),
        )
    return [(g, w, json.loads(pool)) for g, w, pool in rows]


def earlier_versions(
    store: Store, instrument_id: str, group_id: str, wave_id: str
) -> list[tuple[int, bool, dict[str, Any], dict[str, str], list[dict[str, Any]]]]:
    """Every stored version of a group-wave: (version, reportable, view, members, dimensions),
    oldest first; what a new version is checked against."""
    p, m, d = pt.publications, pt.publication_members, pt.published_dimensions
    with store.begin() as conn:
        pubs = _fetch(
            conn,
            select(p.c.id, p.c.version, p.c.reportable, p.c.view)
            .where(
                p.c.instrument_id == instrument_id,
                p.c.group_id == group_id,
                p.c.wave_id == wave_id,
            )
            .order_by(p.c.version),
        )
        ids = [int(r[0]) for r in pubs]
        members: dict[int, dict[str, str]] = {i: {} for i in ids}
        dims: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
        if ids:
            for pid, fp, mask in _fetch(
                conn,
                select(m.c.publication_id, m.c.fingerprint, m.c.mask).where(
                    m.c.publication_id.in_(ids)
                ),
            ):
                members[int(pid)][fp] = mask
            for pid, dim, sup in _fetch(
                conn,
                select(d.c.publication_id, d.c.dimension, d.c.suppressed).where(
                    d.c.publication_id.in_(ids)
                ),
            ):
                dims[int(pid)].append({"dimension": dim, "suppressed": sup})
    return [
        (int(v), bool(rep), json.loads(view), members[int(pid)], dims[int(pid)])
        for pid, v, rep, view in pubs
    ]


# Audit actions that change published snapshots in place or replace them (kit.lifecycle): the
# stamp moves with them although no publication was added.
EDITS_PUBLISHED = ("erase.", "retention", "restore", "import.undo")


def publication_stamp(store: Store, instrument_id: str | None = None) -> tuple[int, int, int]:
    """A cheap token that changes with every publication and every change made to published
    snapshots since (erasure, retention, undone import, restore): (count, highest id, the
    last such change's audit id)."""
    from sqlalchemy import or_

    from kit.store.lifecycle_tables import audit_log

    p = pt.publications
    where = [] if instrument_id is None else [p.c.instrument_id == instrument_id]
    edits = or_(*[audit_log.c.action.startswith(a) for a in EDITS_PUBLISHED])
    with store.begin() as conn:
        count, top = conn.execute(select(func.count(), func.max(p.c.id)).where(*where)).one()
        edited = conn.execute(select(func.max(audit_log.c.id)).where(edits)).scalar()
    return int(count or 0), int(top or 0), int(edited or 0)


def close_group_wave(store: Store, group_id: str, wave_id: str) -> bool:
    """Mark a group-wave closed (its survey is over); returns whether it was open before."""
    gw = s.group_waves
    with store.begin() as conn:
        row = conn.execute(
            select(gw.c.status).where(gw.c.group_id == group_id, gw.c.wave_id == wave_id)
        ).first()
        if row is None:
            from kit.errors import NotFoundError

            raise NotFoundError.text("engine.group_wave.missing", group=group_id, wave=wave_id)
        if row[0] == "closed":
            return False
        conn.execute(
            update(gw)
            .where(gw.c.group_id == group_id, gw.c.wave_id == wave_id)
            .values(status="closed")
        )
    return True
