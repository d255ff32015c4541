"""Tables of the data's life, on the shared metadata: the audit log and programme settings.

- ``audit_log``: one row per import, undo, erasure, retention run, backup, restore and per key
  or batch of invitations created: when, who ran it (the operating-system user, or
  ``KIT_ACTOR``), what, on which group/wave/import, and how many rows. Never personal data: no
  respondent id, no answer, no comment, no key or code (see ``record``).
- ``kit_settings``: programme settings kept with the data (``retention_months``).
"""

from __future__ import annotations

import getpass
import os
from typing import Any

from sqlalchemy import Column, DateTime, Integer, String, Table, insert

from kit.store.schema import metadata

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(100), nullable=False),
    Column("action", String(40), nullable=False),  # import, import.undo, erase.group, ...
    Column("target", String(400), nullable=False, default=""),  # group/wave/import, never a person
    Column("rows", Integer, nullable=True),  # how many respondents (or keys, codes) it touched
)

kit_settings = Table(
    "kit_settings",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", String(400), nullable=False),
)


def actor() -> str:
    """Who runs the kit: ``KIT_ACTOR`` (e.g. set by a server for its staff), else the OS user."""
    name = os.environ.get("KIT_ACTOR", "").strip()
    if not name:
        try:
            name = getpass.getuser()
        except (OSError, KeyError):  # no user name in a container
            name = f"uid {os.getuid()}" if hasattr(os, "getuid") else "?"
    return name[:100]


def record(conn: Any, action: str, target: str = "", rows: int | None = None) -> None:
    """Add one line to the audit log, in the caller's transaction."""
    import datetime as dt

    conn.execute(
        insert(audit_log).values(
            at=dt.datetime.now(dt.UTC),
            actor=actor(),
            action=action,
            target=target[:400],
            rows=rows,
        )
    )
