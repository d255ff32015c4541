"""Repository of access keys and survey invitations (hashes only; see ``access_tables``).

Functions take a ``Store`` and run in one transaction each (``store.begin()``). The secrets
themselves are made and checked in ``kit.apps.keys`` and ``kit.apps.invitations``.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Sequence
from typing import Any

import numpy as np
from sqlalchemy import bindparam, case, func, insert, literal, select, update

from kit.errors import NotFoundError
from kit.store import Store, now, packed
from kit.store import lifecycle_tables as audit
from kit.store.access_tables import access_keys, invitations


def insert_key(
    store: Store,
    group_id: str,
    prefix: str,
    key_hash: str,
    label: str = "",
    expires_at: dt.datetime | None = None,
) -> int:
    """Record a new key (its hash) for ``group_id``; returns the key's id."""
    store.get_group(group_id)  # NotFoundError with a hint when the group is unknown
    with store.begin() as conn:
        key_id = conn.execute(
            insert(access_keys).values(
                group_id=group_id,
                prefix=prefix,
                key_hash=key_hash,
                label=label,
                created_at=now(),
                expires_at=expires_at,
            )
        ).inserted_primary_key[0]
        audit.record(conn, "key.create", f"group {group_id}: key {key_id}", 1)
        return key_id


def keys_with_prefix(store: Store, prefix: str) -> list[dict[str, Any]]:
    """Every key whose first characters are ``prefix`` (usually none or one)."""
    with store.begin() as conn:
        rows = conn.execute(select(access_keys).where(access_keys.c.prefix == prefix)).mappings()
        return [dict(r) for r in rows]


def list_keys(store: Store, group_id: str | None = None) -> list[dict[str, Any]]:
    """Keys (without hashes), oldest first, optionally of one group."""
    cols = [c for c in access_keys.c if c.name != "key_hash"]
    q = select(*cols).order_by(access_keys.c.id)
    if group_id is not None:
        q = q.where(access_keys.c.group_id == group_id)
    with store.begin() as conn:
        return [dict(r) for r in conn.execute(q).mappings()]


def revoke_key(store: Store, key_id: int) -> dict[str, Any]:
    """Mark key ``key_id`` revoked (idempotent); returns the key's row."""
    with store.begin() as conn:
        row = conn.execute(select(access_keys).where(access_keys.c.id == key_id)).mappings().first()
        if row is None:
            raise NotFoundError.text("engine.access.no_key", id=key_id)
        if row["revoked_at"] is None:
            conn.execute(
                update(access_keys).where(access_keys.c.id == key_id).values(revoked_at=now())
            )
        return dict(row)


def insert_invitations(
    store: Store, group_id: str, wave_id: str, code_hashes: Sequence[str], batch: str
) -> None:
    """Record single-use invitations (hashes of their codes) for a group and wave."""
    with store.begin() as conn:
        conn.execute(
            insert(invitations),
            [
                {
                    "group_id": group_id,
                    "wave_id": wave_id,
                    "code_hash": h,
                    "batch": batch,
                    "used": False,
                }
                for h in code_hashes
            ],
        )
        audit.record(conn, "invitations.create", f"group {group_id}, wave {wave_id}",
                     len(code_hashes))


def find_invitation(store: Store, code_hash: str) -> dict[str, Any] | None:
    with store.begin() as conn:
        row = (
            conn.execute(select(invitations).where(invitations.c.code_hash == code_hash))
            .mappings()
            .first()
        )
        return None if row is None else dict(row)


def claim_invitation(store: Store, code_hash: str) -> bool:
    """Mark an unused invitation used; False if it was used already (atomic, safe under races)."""
    with store.begin() as conn:
        result = conn.execute(
            update(invitations)
            .where(invitations.c.code_hash == code_hash, invitations.c.used.is_(False))
            .values(used=True)
        )
        return result.rowcount == 1


def release_invitation(store: Store, code_hash: str) -> None:
    """Undo a claim whose answers could not be stored, so the invitee can submit again."""
    with store.begin() as conn:
        conn.execute(
            update(invitations).where(invitations.c.code_hash == code_hash).values(used=False)
        )


def invitation_counts(store: Store, group_id: str | None = None) -> list[dict[str, Any]]:
    """Per group and wave: invitations made and used."""
    used = func.sum(func.cast(invitations.c.used, invitations.c.id.type))
    q = (
        select(
            invitations.c.group_id,
            invitations.c.wave_id,
            func.count().label("invitations"),
            func.coalesce(used, 0).label("used"),
        )
        .group_by(invitations.c.group_id, invitations.c.wave_id)
        .order_by(invitations.c.group_id, invitations.c.wave_id)
    )
    if group_id is not None:
        q = q.where(invitations.c.group_id == group_id)
    with store.begin() as conn:
        return [dict(r) for r in conn.execute(q).mappings()]


def data_version(store: Store) -> tuple[Any, ...]:
    """A cheap token that changes when responses, groups or waves change (apps reload then)."""
    from kit.store import schema as s

    with store.begin() as conn:
        responses = conn.execute(select(func.count(), func.max(s.responses.c.id))).one()
        groups = conn.execute(select(func.count()).select_from(s.groups)).scalar()
        waves = conn.execute(
            select(func.count(), func.sum(func.length(s.group_waves.c.status)))
        ).one()
        cohorts = conn.execute(select(func.count()).select_from(s.cohorts)).scalar()
    return (*responses, groups, *waves, cohorts)


# -- a survey submission: the code's claim and the answers in one transaction ----------------------
# Survey responses get a random id from this range (imports keep the database's own sequence,
# which never gets near it), so neither a response's id nor its place in the table tells in which
# order the invitees answered.
RANDOM_RESPONSE_IDS = (1 << 30, (1 << 31) - 1)


def invitation_details(store: Store, code_hash: str) -> dict[str, Any] | None:
    """The invitation with ``code_hash`` and what the survey page needs: the group's name and
    language and the wave's status (one query), or None."""
    from kit.store import schema as s

    q = (
        select(
            invitations.c.code_hash,
            invitations.c.group_id,
            invitations.c.wave_id,
            invitations.c.used,
            s.group_waves.c.status,
            s.groups.c.name.label("group_name"),
            s.groups.c.language.label("group_language"),
        )
        .select_from(
            invitations.join(s.groups, s.groups.c.id == invitations.c.group_id).outerjoin(
                s.group_waves,
                (s.group_waves.c.group_id == invitations.c.group_id)
                & (s.group_waves.c.wave_id == invitations.c.wave_id),
            )
        )
        .where(invitations.c.code_hash == code_hash)
    )
    with store.begin() as conn:
        row = conn.execute(q).mappings().first()
    return None if row is None else dict(row)


def _submission_statements() -> dict[str, Any]:
    """The statements of a submission, built once (SQLAlchemy then reuses their compiled form)."""
    from kit.store import schema as s

    inv, gw, resp = invitations.c, s.group_waves.c, s.responses.c
    g, w, h = bindparam("g"), bindparam("w"), bindparam("h")
    claimed = invitations.alias("claimed")
    same_wave = (inv.group_id == g) & (inv.wave_id == w)
    unused = (
        select(claimed.c.id).where(claimed.c.code_hash == h, claimed.c.used.is_(False)).exists()
    )
    return {
        "find": select(inv.group_id, inv.wave_id).where(inv.code_hash == h),
        "lock": select(inv.id).where(same_wave).order_by(inv.id).with_for_update(),
        "status": select(gw.status).where(gw.group_id == g, gw.wave_id == w),
        # every invitation of the wave is rewritten, the claimed one gets used = true
        "claim": update(invitations)
        .where(same_wave, unused)
        .values(used=case((inv.code_hash == h, literal(True)), else_=inv.used)),
        "taken": select(resp.id).where(resp.id == bindparam("id")),
        "response": insert(s.responses),
        "comments": insert(s.comments),
    }


_STATEMENTS: dict[str, Any] = {}


def store_invited_response(
    store: Store,
    code_hash: str,
    instrument_id: str,
    values: dict[str, float],
    texts: dict[str, str],
    role: str | None = None,
) -> tuple[str, str | None]:
    """Claim the invitation ``code_hash`` and store its answers, both or neither.

    Returns ``("ok", respondent)``, or ``(reason, None)`` with reason ``wrong``, ``used`` or
    ``closed`` and nothing written. Nothing links the claim to the response: every invitation of
    the group and wave is rewritten by the claim (on PostgreSQL they all carry the same
    transaction id afterwards, in their old order), the response gets a random id and
    respondent id, and its ``submitted_at`` is the day only (midnight UTC).
    """
    q = _STATEMENTS or _STATEMENTS.update(_submission_statements()) or _STATEMENTS
    with store.begin() as conn:
        row = conn.execute(q["find"], {"h": code_hash}).first()
        if row is None:
            return "wrong", None
        wave = {"g": row[0], "w": row[1]}
        if conn.dialect.name == "postgresql":
            # Lock the wave's invitations in one order, so two invitees of a team answering at
            # once wait for each other instead of deadlocking.
            conn.execute(q["lock"], wave)
        status = conn.execute(q["status"], wave).scalar()
        if (status or "open") != "open":
            return "closed", None
        if not conn.execute(q["claim"], {**wave, "h": code_hash}).rowcount:
            return "used", None
        low, high = RANDOM_RESPONSE_IDS
        while True:
            response_id = low + secrets.randbelow(high - low)
            if conn.execute(q["taken"], {"id": response_id}).first() is None:
                break
        respondent = "web-" + secrets.token_hex(8)
        today = now().replace(hour=0, minute=0, second=0, microsecond=0)
        layout, blob = _packed_answers(conn, values)
        conn.execute(
            q["response"],
            {
                "id": response_id,
                "instrument_id": instrument_id,
                "group_id": row[0],
                "wave_id": row[1],
                "respondent": respondent,
                "role": role,
                "import_id": None,
                "submitted_at": today,
                "layout_id": layout,
                "answers": blob,
            },
        )
        if texts:
            conn.execute(
                q["comments"],
                [
                    {"response_id": response_id, "question_id": qid, "text": x}
                    for qid, x in texts.items()
                ],
            )
    return "ok", respondent


def _packed_answers(conn: Any, values: dict[str, float]) -> tuple[str | None, bytes | None]:
    """A submission's answers packed in a layout already stored that holds every answered item
    (the smallest such), so a respondent who skipped items makes no layout of their own whose
    creation could tell when they answered; a new layout only when none fits."""
    if not values:
        return None, None
    wanted = set(values)
    fitting = [
        (len(items), key, items)
        for key, items in packed.layouts(conn).items()
        if wanted <= set(items)
    ]
    if fitting:
        _, layout, items = min(fitting)
    else:
        items = sorted(values)
        layout = packed.ensure_layout(conn, items)
    matrix = np.array([[values.get(i, np.nan) for i in items]], dtype=float)
    return layout, packed.pack(matrix)[0]
