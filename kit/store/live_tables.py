"""Tables of the live exercises, on the store's one ``metadata`` (imported by ``schema.py``).

A *session* (one gathering's live work with one or more groups) holds *rounds* (one exercise run,
opened and closed by the facilitator). Anonymous *participants* join a session with a code and
answer rounds; one answer per participant, round and question (changeable while the round is
open). Actions, airtime turns and the facilitator's saved outcomes are stored beside them.
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

live_sessions = Table(
    "live_sessions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("code", String(12), nullable=False, unique=True),  # join code participants type
    Column("title", String(200), nullable=False, default=""),
    Column("cohort_id", String(64), nullable=True),
    Column("group_ids", Text, nullable=False, default="[]"),  # JSON list of group ids
    Column("language", String(2), nullable=False, default="nb"),
    Column("exercises", Text, nullable=False, default="[]"),  # JSON list of exercise ids
    Column("instrument_id", String(64), nullable=False, default="pulse"),
    Column("key_hash", String(64), nullable=False),  # sha256 of the session's facilitator key
    Column("status", String(10), nullable=False, default="open"),  # open / closed
    Column("current_round_id", Integer, nullable=True),  # where the console is
    Column("revision", Integer, nullable=False, default=0),  # bumped on every facilitator change
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("closed_at", DateTime(timezone=True), nullable=True),
)

live_rounds = Table(
    "live_rounds",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("session_id", Integer, ForeignKey("live_sessions.id"), nullable=False, index=True),
    Column("ordinal", Integer, nullable=False),
    Column("exercise", String(32), nullable=False),
    Column("config", Text, nullable=False, default="{}"),  # JSON: items, actors, phase, dots...
    Column("status", String(10), nullable=False, default="draft"),  # draft / open / closed
    Column("revealed", Boolean, nullable=False, default=False),
    Column("outcome", Text, nullable=True),  # JSON: e.g. the agreed purpose statement
    Column("opened_at", DateTime(timezone=True), nullable=True),
    Column("closed_at", DateTime(timezone=True), nullable=True),
)

live_participants = Table(
    "live_participants",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("session_id", Integer, ForeignKey("live_sessions.id"), nullable=False),
    Column("token", String(64), nullable=False),  # random secret kept by the participant's browser
    Column("group_id", String(64), nullable=True),
    Column("language", String(2), nullable=False, default="nb"),
    Column("joined_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("session_id", "token", name="uq_live_participant"),
)

live_answers = Table(
    "live_answers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("round_id", Integer, ForeignKey("live_rounds.id"), nullable=False),
    Column("participant_id", Integer, ForeignKey("live_participants.id"), nullable=False),
    # item id, 'statement', 'vote:<id>', 'entry:<uuid>', 'power:<actor>', ...
    Column("question", String(64), nullable=False),
    Column("value", Float, nullable=True),
    Column("text", Text, nullable=True),
    Column("data", Text, nullable=True),  # JSON for structured answers (agenda items, ...)
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("round_id", "participant_id", "question", name="uq_live_answer"),
)

live_actions = Table(
    "live_actions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("session_id", Integer, ForeignKey("live_sessions.id"), nullable=False),
    Column("group_id", String(64), nullable=False, index=True),
    Column("action", Text, nullable=False),
    Column("owner", String(200), nullable=False, default=""),
    Column("due_date", String(10), nullable=True),  # ISO date
    Column("dimension", String(64), nullable=True),
    Column("status", String(16), nullable=False, default="open"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

live_turns = Table(
    "live_turns",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("round_id", Integer, ForeignKey("live_rounds.id"), nullable=False, index=True),
    Column("speaker", String(100), nullable=False),
    Column("started_at", Float, nullable=False),  # seconds since the epoch
    Column("ended_at", Float, nullable=True),  # NULL while the speaker is speaking
)

# -- admission and published results (new tables: the store creates them when missing) ---------
live_session_limits = Table(
    "live_session_limits",
    metadata,
    # one row per session made by this kit: a session without one predates admission control
    Column("session_id", Integer, ForeignKey("live_sessions.id"), primary_key=True),
    Column("expected", Integer, nullable=True),  # participants the facilitator expects; NULL: unset
    Column("min_respondents", Integer, nullable=True),  # the threshold, fixed at creation
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

live_admissions = Table(
    "live_admissions",
    metadata,
    # a participant counts (answers, aggregates) only once admitted: automatically while fewer
    # than ``expected`` are admitted, otherwise by the facilitator
    Column("participant_id", Integer, ForeignKey("live_participants.id"), primary_key=True),
    Column("session_id", Integer, ForeignKey("live_sessions.id"), nullable=False, index=True),
    Column("how", String(12), nullable=False),  # auto / facilitator
    Column("admitted_at", DateTime(timezone=True), nullable=False),
)

live_published = Table(
    "live_published",
    metadata,
    # a version of a round's results that someone could see: the frozen answers it was made of
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("round_id", Integer, ForeignKey("live_rounds.id"), nullable=False, index=True),
    Column("version", Integer, nullable=False),
    Column("respondents", Integer, nullable=False),
    Column("answers", Text, nullable=False),  # JSON list of the frozen answer rows
    Column("published_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("round_id", "version", name="uq_live_published"),
)
