"""Tables of access keys (a group's dashboard) and survey invitations, on the shared metadata.

Secrets are never stored: a key or an invitation code is kept as a SHA-256 hash. An invitation
keeps only a ``used`` flag - no time and no link to the response it produced, so an answer
cannot be traced back to the invitee who received the code.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, DateTime, ForeignKey, Integer, String, Table

from kit.store.schema import metadata

access_keys = Table(
    "access_keys",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("group_id", String(64), ForeignKey("groups.id"), nullable=False, index=True),
    Column("prefix", String(8), nullable=False, index=True),  # first characters, to find and show
    Column("key_hash", String(64), nullable=False, unique=True),  # sha256 hex of the whole key
    Column("label", String(200), nullable=False, default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True)),  # NULL: never
    Column("revoked_at", DateTime(timezone=True)),
)

invitations = Table(
    "invitations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("group_id", String(64), ForeignKey("groups.id"), nullable=False, index=True),
    Column("wave_id", String(32), ForeignKey("waves.id"), nullable=False),
    Column("code_hash", String(64), nullable=False, unique=True),
    Column("batch", String(32), nullable=False, default=""),  # which `kit invitations create`
    Column("used", Boolean, nullable=False, default=False),  # deliberately no time of use
)
