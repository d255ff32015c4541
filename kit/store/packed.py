"""A respondent's answers packed into one value: a float64 per item, NaN = no answer.

A big import writes one row per respondent instead of one per answer (200,000 respondents of a
65-item instrument: 200,000 rows, not 13 million), and reading them back is one ``frombuffer``.
The order of the items is a *layout* (``answer_layouts``), keyed by a hash of its item ids: no
sequence, so a layout tells nothing about when a response was written. A layout is never
changed; an instrument that gains or drops items gets a new one, and old responses keep theirs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np
from sqlalchemy import Connection, insert, select

from kit.store import schema as s

DTYPE = np.dtype("<f8")


def layout_key(items: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(items).encode("utf-8")).hexdigest()[:16]


def ensure_layout(conn: Connection, items: Sequence[str]) -> str:
    """The key of the layout of ``items`` (in this order), stored if new."""
    key = layout_key(items)
    known = conn.execute(select(s.answer_layouts.c.id).where(s.answer_layouts.c.id == key)).first()
    if known is None:
        conn.execute(insert(s.answer_layouts).values(id=key, item_ids="\n".join(items)))
    return key


def pack(values: np.ndarray) -> list[bytes]:
    """One ``bytes`` per row of ``values`` (rows x items, NaN = no answer)."""
    matrix = np.ascontiguousarray(values, dtype=DTYPE)
    width = matrix.shape[1] * DTYPE.itemsize
    buffer = matrix.tobytes()
    return [buffer[i : i + width] for i in range(0, len(buffer), width)]


def unpack(
    layouts: Sequence[str | None],
    blobs: Sequence[Any],
    items_of: dict[str, list[str]],
    item_ids: Sequence[str],
) -> np.ndarray:
    """Rows x ``item_ids`` (NaN where not answered, or an item not in a row's layout)."""
    out = np.full((len(blobs), len(item_ids)), np.nan)
    col_of = {item: k for k, item in enumerate(item_ids)}
    by_layout: dict[str, list[int]] = {}
    for i, (layout, blob) in enumerate(zip(layouts, blobs, strict=True)):
        if layout is not None and blob is not None:
            by_layout.setdefault(layout, []).append(i)
    for layout, rows in by_layout.items():
        items = items_of[layout]
        block = np.frombuffer(b"".join(bytes(blobs[i]) for i in rows), dtype=DTYPE)
        block = block.reshape(len(rows), len(items))
        here = [(k, col_of[item]) for k, item in enumerate(items) if item in col_of]
        if here:
            src, dst = (list(x) for x in zip(*here, strict=True))
            out[np.ix_(rows, dst)] = block[:, src]
    return out


def layouts(conn: Connection) -> dict[str, list[str]]:
    rows = conn.execute(select(s.answer_layouts.c.id, s.answer_layouts.c.item_ids)).all()
    return {key: items.split("\n") for key, items in rows}


def migrate_answers(conn: Connection) -> None:
    """Schema 1 -> 2: the long ``answers`` table (one row per answer) into packed rows."""
    blob = "BYTEA" if conn.dialect.name == "postgresql" else "BLOB"
    conn.exec_driver_sql(
        "ALTER TABLE responses ADD COLUMN layout_id VARCHAR(16) REFERENCES answer_layouts(id)"
    )
    conn.exec_driver_sql(f"ALTER TABLE responses ADD COLUMN answers {blob}")
    from sqlalchemy import inspect

    if not inspect(conn).has_table("answers"):
        return
    found = conn.exec_driver_sql(
        "SELECT r.instrument_id, a.response_id, a.item_id, a.value FROM answers a "
        "JOIN responses r ON r.id = a.response_id ORDER BY r.instrument_id, a.response_id"
    ).all()
    per_instrument: dict[str, list[tuple[int, str, float]]] = {}
    for instrument_id, response_id, item_id, value in found:
        per_instrument.setdefault(instrument_id, []).append((response_id, item_id, value))
    for rows in per_instrument.values():
        items = sorted({item for _, item, _ in rows})
        key = ensure_layout(conn, items)
        ids = sorted({rid for rid, _, _ in rows})
        row_of = {rid: k for k, rid in enumerate(ids)}
        col_of = {item: k for k, item in enumerate(items)}
        values = np.full((len(ids), len(items)), np.nan)
        for rid, item, value in rows:
            values[row_of[rid], col_of[item]] = value
        conn.execute(
            s.responses.update()
            .where(s.responses.c.id == _bind("rid"))
            .values(layout_id=key, answers=_bind("blob")),
            [{"rid": rid, "blob": b} for rid, b in zip(ids, pack(values), strict=True)],
        )
    conn.exec_driver_sql("DROP TABLE answers")


def _bind(name: str) -> Any:
    from sqlalchemy import bindparam

    return bindparam(name)
