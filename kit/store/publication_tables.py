"""Tables of published results (snapshots), on the shared metadata.

A group-wave's results are computed once, when staff publish it (``kit publish``), and stored here;
every report, dashboard and export reads these rows and never scores raw answers again. Each
publication is a version with a time; ``current`` marks the latest version of a group-wave.

- ``publications``: one row per version. ``view`` (JSON) holds what may be shown, already rounded
  to the precision reports print (items, distributions, comments); ``pool`` (JSON) holds the
  precise sufficient statistics (n, mean, sd and Cronbach parts per dimension) that only the
  engine reads, to pool ICC and reliability across groups. ``pool`` is never shown.
- ``published_dimensions``: the dimension rows of ``view`` (rounded), one per dimension, so that
  comparisons across groups (norm, cohort) read one small table.
- ``publication_members``: which responses a version was made of (a SHA-256 of the response's
  content, and which items and dimensions it contributed to), so a later version can be refused
  when it differs from an earlier one by fewer than ``min_respondents`` people.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from kit.store.schema import metadata

publications = Table(
    "publications",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("instrument_id", String(64), nullable=False),
    Column("group_id", String(64), ForeignKey("groups.id"), nullable=False, index=True),
    Column("wave_id", String(32), ForeignKey("waves.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("published_at", DateTime(timezone=True), nullable=False),
    Column("respondents", Integer, nullable=False),
    Column("reportable", Boolean, nullable=False),
    Column("reason", String(32)),  # why not reportable (a reason code), NULL when reportable
    Column("rules", Text, nullable=False),  # JSON: the thresholds in force
    Column("view", Text, nullable=False),  # JSON: rounded items, distributions, comments
    Column("pool", Text, nullable=False),  # JSON: precise statistics for pooled ICC/alpha only
    Column("current", Boolean, nullable=False, default=True),
    UniqueConstraint("instrument_id", "group_id", "wave_id", "version", name="uq_publication"),
)

published_dimensions = Table(
    "published_dimensions",
    metadata,
    Column("publication_id", Integer, ForeignKey("publications.id"), primary_key=True),
    Column("dimension", String(64), primary_key=True),
    Column("n", Integer),
    Column("mean", Float),
    Column("sd", Float),
    Column("se", Float),
    Column("ci_low", Float),
    Column("ci_high", Float),
    Column("rwg_j", Float),
    Column("ad_m", Float),
    Column("alpha", Float),
    Column("suppressed", String(32)),
)

publication_members = Table(
    "publication_members",
    metadata,
    Column("publication_id", Integer, ForeignKey("publications.id"), primary_key=True),
    Column("fingerprint", String(64), primary_key=True),
    Column("mask", Text, nullable=False),  # "0"/"1" per item (answered), then per dimension
)
