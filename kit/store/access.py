"""Repository of access keys and survey invitations (hashes only; see ``access_tables``).

Functions take a ``Store`` and run in one transaction each (``store.begin()``). The secrets
themselves are made and checked in ``kit.apps.keys`` and ``kit.apps.invitations``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, insert, select, update

from kit.errors import NotFoundError
from kit.store import Store, now
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
        return conn.execute(
            insert(access_keys).values(
                group_id=group_id,
                prefix=prefix,
                key_hash=key_hash,
                label=label,
                created_at=now(),
                expires_at=expires_at,
            )
        ).inserted_primary_key[0]


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
            raise NotFoundError(f"There is no access key with id {key_id}; see 'kit keys list'.")
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
