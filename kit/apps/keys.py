"""Access keys: one random secret per link that opens a group's dashboard.

A key is ``secrets.token_urlsafe`` text; the store keeps its first characters (to find it and to
show it in ``kit keys list``) and a SHA-256 hash of the whole key, compared in constant time.
The group a dashboard shows comes only from the key, never from the URL.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from kit.errors import AccessError, ParameterError, Problem
from kit.store import Store, now
from kit.store import access as repo

PREFIX_LENGTH = 8
KEY_BYTES = 24  # 32 characters of urlsafe base64, 192 bits
REASONS = ("missing", "wrong", "expired", "revoked")


class KeyRefused(AccessError):
    """A dashboard key is missing, wrong, expired or revoked; ``reason`` is one of ``REASONS``."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"Access key refused: {reason}.")


@dataclass(frozen=True)
class IssuedKey:
    """A newly created key: the only time the secret itself is seen."""

    id: int
    group_id: str
    key: str
    expires_at: dt.datetime | None


@dataclass(frozen=True)
class KeyGrant:
    """What a valid key opens: one group."""

    key_id: int
    group_id: str
    expires_at: dt.datetime | None


def hash_secret(secret: str) -> str:
    """SHA-256 hex of a high-entropy secret (keys, invitation codes)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def create_key(
    store: Store, group_id: str, expires_days: float | None = None, label: str = ""
) -> IssuedKey:
    """Make a key for ``group_id``, valid ``expires_days`` days (None: until revoked)."""
    if expires_days is not None and not expires_days > 0:
        source = "kit keys create"  # the command, named in the problem table
        raise ParameterError(
            source,
            [
                Problem.of(
                    source,
                    "app.problem.positive_days",
                    column="--expires",
                    value=str(expires_days),
                )
            ],
            hints=(("app.hint.no_expiry", {}),),
        )
    key = secrets.token_urlsafe(KEY_BYTES)
    expires_at = None if expires_days is None else now() + dt.timedelta(days=expires_days)
    key_id = repo.insert_key(
        store, group_id, key[:PREFIX_LENGTH], hash_secret(key), label, expires_at
    )
    return IssuedKey(key_id, group_id, key, expires_at)


def resolve_key(store: Store, key: str | None, at: dt.datetime | None = None) -> KeyGrant:
    """The group ``key`` opens, or ``KeyRefused`` saying why not (no data either way)."""
    key = (key or "").strip()
    if not key:
        raise KeyRefused("missing")
    if len(key) < PREFIX_LENGTH or len(key) > 200:
        raise KeyRefused("wrong")
    digest = hash_secret(key)
    match = None
    for row in repo.keys_with_prefix(store, key[:PREFIX_LENGTH]):
        if hmac.compare_digest(row["key_hash"], digest):
            match = row
    if match is None:
        raise KeyRefused("wrong")
    if match["revoked_at"] is not None:
        raise KeyRefused("revoked")
    expires_at = _aware(match["expires_at"])
    if expires_at is not None and expires_at <= (at or now()):
        raise KeyRefused("expired")
    return KeyGrant(match["id"], match["group_id"], expires_at)


def key_status(row: dict, at: dt.datetime | None = None) -> str:
    """``active``, ``expired`` or ``revoked`` for a row of ``kit.store.access.list_keys``."""
    if row.get("revoked_at") is not None:
        return "revoked"
    expires_at = _aware(row.get("expires_at"))
    if expires_at is not None and expires_at <= (at or now()):
        return "expired"
    return "active"


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    """SQLite returns naive datetimes; the kit stores UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value


def dashboard_url(base_url: str, key: str, language: str | None = None) -> str:
    """The link a group's members open: the kit's own dashboard page (no kernel).

    The Voilà explorer (``explorer_url``) opens from a link on that page.
    """
    lang = f"&lang={language}" if language else ""
    return f"{base_url.rstrip('/')}/kit/dashboard?key={key}{lang}"


def explorer_url(base_url: str, key: str, language: str | None = None) -> str:
    """The interactive Voilà explorer of a group's results (one kernel per viewer)."""
    lang = f"&lang={language}" if language else ""
    return f"{base_url.rstrip('/')}/voila/render/group_dashboard.ipynb?key={key}{lang}"
