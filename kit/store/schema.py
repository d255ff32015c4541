"""The database schema: one SQLAlchemy MetaData for survey data, live sessions and access.

Versioned: ``SCHEMA_VERSION`` is recorded in ``kit_schema``; ``kit.store.open_store`` creates a new
database and refuses one written by a newer kit. Bump the version and add a step to
``MIGRATIONS`` when a table changes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

SCHEMA_VERSION = 2  # 2: answers packed into responses (kit.store.packed)

metadata = MetaData()

kit_schema = Table(
    "kit_schema",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("applied_at", DateTime(timezone=True), nullable=False),
)

cohorts = Table(
    "cohorts",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("programme", String(200), nullable=False, default=""),
    Column("start_date", String(10)),  # ISO date
    Column("end_date", String(10)),
)

groups = Table(
    "groups",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("organisation", String(200), nullable=False, default=""),
    Column("cohort_id", String(64), ForeignKey("cohorts.id"), nullable=True),
    Column("in_norm_base", Boolean, nullable=False, default=True),
    Column("language", String(2), nullable=False, default="nb"),
)

waves = Table(
    "waves",
    metadata,
    Column("id", String(32), primary_key=True),  # before, after, ...
    Column("ordinal", Integer, nullable=False),
)

group_waves = Table(
    "group_waves",
    metadata,
    Column("group_id", String(64), ForeignKey("groups.id"), primary_key=True),
    Column("wave_id", String(32), ForeignKey("waves.id"), primary_key=True),
    Column("invited", Integer),  # members invited to answer
    Column("status", String(10), nullable=False, default="open"),  # open / closed
    Column("survey_date", String(10)),
)

imports = Table(
    "imports",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source_hash", String(64), nullable=False, unique=True),
    Column("filename", String(400), nullable=False),
    Column("instrument_id", String(64), nullable=False),
    Column("rows", Integer, nullable=False),
    Column("imported_at", DateTime(timezone=True), nullable=False),
)

responses = Table(
    "responses",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("instrument_id", String(64), nullable=False),
    Column("group_id", String(64), ForeignKey("groups.id"), nullable=False, index=True),
    Column("wave_id", String(32), ForeignKey("waves.id"), nullable=False),
    Column("respondent", String(64), nullable=False),
    Column("role", String(10)),  # leader / member / NULL
    Column("import_id", Integer, ForeignKey("imports.id")),
    Column("submitted_at", DateTime(timezone=True), nullable=False),
    # The answers: a float64 per item of the layout, NaN = no answer (kit.store.packed).
    Column("layout_id", String(16), ForeignKey("answer_layouts.id")),
    Column("answers", LargeBinary),
    UniqueConstraint("instrument_id", "group_id", "wave_id", "respondent", name="uq_response"),
)

answer_layouts = Table(
    "answer_layouts",
    metadata,
    Column("id", String(16), primary_key=True),  # a hash of the item ids: no sequence
    Column("item_ids", Text, nullable=False),  # the item ids in the order of the packed values
)

comments = Table(
    "comments",
    metadata,
    Column("response_id", Integer, ForeignKey("responses.id"), primary_key=True),
    Column("question_id", String(32), primary_key=True),
    Column("text", Text, nullable=False),
)


# Tables of the live exercises (kit/store/live_tables.py) and of access keys and invitations
# (kit/store/access_tables.py) are defined on the same metadata in their own modules.
# A step is SQL text or a function of the connection.
def _packed_answers(conn: Any) -> None:
    from kit.store.packed import migrate_answers

    migrate_answers(conn)


MIGRATIONS: dict[int, list[str | Callable[[Any], None]]] = {2: [_packed_answers]}


def _register_extra_tables() -> None:
    import importlib

    for name in (
        "kit.store.live_tables",
        "kit.store.access_tables",
        "kit.store.publication_tables",
        "kit.store.lifecycle_tables",
    ):
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:  # a part not built yet
            if exc.name != name:
                raise


_register_extra_tables()
