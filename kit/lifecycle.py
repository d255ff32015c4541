"""The data's whole life: imports listed and undone, erasure, retention, backup and restore.

Every change is planned first (:class:`Plan`: what goes, counted per kind, shown to a person
before it is carried out) and then carried out in one transaction, with a line in the audit log
(``kit.store.lifecycle_tables``) that names the group, wave or import, never a person.

What goes with what (docs/DESIGN.md, "The data's life"):

- a respondent (by the survey tool's id; ``group``/``wave`` narrow it): the response, its
  answers and comments; the comments are also taken out of the published snapshots of that
  group-wave. The published aggregates and the snapshots' fingerprints (a SHA-256 of the erased
  content, not reversible) stay, so a new publication that differs from a shown one by fewer
  than ``min_respondents`` people is still refused: deleting the old versions would let anyone
  who saw them compare and learn the erased answers;
- an import (undo): the same, for every response the import wrote;
- a group-wave: its responses, published snapshots and invitations;
- a group: all of the above for every wave, its access keys, its group-waves, its live
  exercises' data (sessions of that group alone entirely; in shared sessions its participants'
  answers and its action points), and the group itself;
- retention: every response of the groups of cohorts that ended more than ``retention_months``
  ago, and their live data as for a group; their published snapshots stay (aggregates), without
  comments and fingerprints.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import and_, delete, false, func, or_, select, update
from sqlalchemy.engine import make_url

from kit.errors import KitError, NotFoundError, StoreError
from kit.store import Store
from kit.store import schema as s
from kit.store.access_tables import access_keys, invitations
from kit.store.lifecycle_tables import audit_log, kit_settings, record
from kit.store.live_tables import (
    live_actions,
    live_admissions,
    live_answers,
    live_participants,
    live_published,
    live_rounds,
    live_session_limits,
    live_sessions,
    live_turns,
)
from kit.store.publication_tables import (
    publication_members,
    publications,
    published_dimensions,
)

PG_TIMEOUT = 900  # seconds pg_dump / pg_restore may take
R = s.responses


# -- plans --------------------------------------------------------------------------------------
@dataclass
class Plan:
    """What a change removes, before it is carried out: ``counts`` per kind, for a person."""

    action: str  # audit action: import.undo, erase.group, erase.group_wave, ...
    target: str  # group / wave / import named, never a person
    counts: dict[str, int] = field(default_factory=dict)  # kind -> rows (responses, answers...)
    deletes: list[tuple[Any, Any]] = field(default_factory=list)  # (table, where), in order
    strip_comments: dict[int, dict[str, set[str]]] = field(default_factory=dict)  # pub -> texts
    drop_all_comments: list[int] = field(default_factory=list)  # publications
    respondents: int = 0

    @property
    def empty(self) -> bool:
        return not any(self.counts.values())


def _count(conn: Any, table: Any, where: Any) -> int:
    return int(conn.execute(select(func.count()).select_from(table).where(where)).scalar_one())


def _count_answers(conn: Any, where: Any) -> int:
    """Answered items of the responses matching ``where`` (packed in their rows)."""
    from kit.store import packed

    rows = conn.execute(select(R.c.layout_id, R.c.answers).where(where)).all()
    if not rows:
        return 0
    items_of = packed.layouts(conn)
    item_ids = sorted({i for layout, _ in rows if layout for i in items_of.get(layout, ())})
    values = packed.unpack([r[0] for r in rows], [r[1] for r in rows], items_of, item_ids)
    return int((~np.isnan(values)).sum())


def _responses_plan(conn: Any, plan: Plan, where: Any, *, publications_too: bool) -> None:
    """Responses matching ``where`` with answers and comments; their group-waves' snapshots."""
    ids = select(R.c.id).where(where)
    plan.respondents = _count(conn, R, where)
    plan.counts["responses"] = plan.respondents
    plan.counts["answers"] = _count_answers(conn, where)
    plan.counts["comments"] = _count(conn, s.comments, s.comments.c.response_id.in_(ids))
    cells = conn.execute(select(R.c.group_id, R.c.wave_id).where(where).distinct()).all()
    pub_where = (
        or_(*[and_(publications.c.group_id == g, publications.c.wave_id == w) for g, w in cells])
        if cells
        else false()
    )
    if publications_too:
        _publications_plan(conn, plan, pub_where)
    else:  # the erased people's comments leave the published snapshots
        texts: dict[str, set[str]] = {}
        rows = conn.execute(
            select(s.comments.c.question_id, s.comments.c.text).where(
                s.comments.c.response_id.in_(ids)
            )
        ).all()
        for q, text in rows:
            texts.setdefault(q, set()).add(text)
        if texts:
            for (pid,) in conn.execute(select(publications.c.id).where(pub_where)).all():
                plan.strip_comments[int(pid)] = texts
            plan.counts["published_comments"] = len(plan.strip_comments)
    plan.deletes += [  # the answers are packed in the response's row (kit.store.packed)
        (s.comments, s.comments.c.response_id.in_(ids)),
        (R, where),
    ]


def _publications_plan(conn: Any, plan: Plan, where: Any) -> None:
    ids = select(publications.c.id).where(where)
    plan.counts["publications"] = _count(conn, publications, where)
    plan.deletes += [
        (published_dimensions, published_dimensions.c.publication_id.in_(ids)),
        (publication_members, publication_members.c.publication_id.in_(ids)),
        (publications, where),
    ]


def plan_undo_import(store: Store, import_id: int) -> Plan:
    """Undo one import: the responses it wrote (``kit imports undo ID``)."""
    with store.begin() as conn:
        row = conn.execute(select(s.imports).where(s.imports.c.id == import_id)).mappings().first()
        if row is None:
            raise NotFoundError.text("common.store.no_import", id=import_id)
        plan = Plan("import.undo", f"import {import_id}: {row['filename']}")
        _responses_plan(conn, plan, R.c.import_id == import_id, publications_too=False)
        plan.deletes.append((s.imports, s.imports.c.id == import_id))
        plan.counts["imports"] = 1
    return plan


def plan_erasure(
    store: Store,
    *,
    group: str | None = None,
    wave: str | None = None,
    respondent: str | None = None,
) -> Plan:
    """Erase a group, a group-wave, or one respondent (with ``group``/``wave`` to narrow)."""
    if respondent is None and group is None:
        raise KitError.text("cli.erase.what")
    if group is not None:
        store.get_group(group)  # NotFoundError with a hint
    with store.begin() as conn:
        if respondent is not None:
            where = R.c.respondent == respondent
            where = and_(where, R.c.group_id == group) if group else where
            where = and_(where, R.c.wave_id == wave) if wave else where
            scope = ", ".join(
                x for x in (f"group {group}" if group else "", f"wave {wave}" if wave else "") if x
            )
            plan = Plan("erase.respondent", scope or "all groups")
            _responses_plan(conn, plan, where, publications_too=False)
            if not plan.respondents:
                raise NotFoundError.text(
                    "cli.erase.no_respondent", respondent=respondent, scope=plan.target
                )
            return plan
        assert group is not None
        if wave is not None:
            plan = Plan("erase.group_wave", f"group {group}, wave {wave}")
            _responses_plan(
                conn, plan, and_(R.c.group_id == group, R.c.wave_id == wave), publications_too=True
            )
            inv = and_(invitations.c.group_id == group, invitations.c.wave_id == wave)
            plan.counts["invitations"] = _count(conn, invitations, inv)
            plan.deletes.append((invitations, inv))
            return plan
        plan = Plan("erase.group", f"group {group}")
        _responses_plan(conn, plan, R.c.group_id == group, publications_too=True)
        for kind, table, where in (
            ("invitations", invitations, invitations.c.group_id == group),
            ("access_keys", access_keys, access_keys.c.group_id == group),
        ):
            plan.counts[kind] = _count(conn, table, where)
            plan.deletes.append((table, where))
        _live_plan(conn, plan, {group})
        gw = s.group_waves.c.group_id == group
        plan.counts["group_waves"] = _count(conn, s.group_waves, gw)
        plan.deletes.append((s.group_waves, gw))
        plan.deletes.append((s.groups, s.groups.c.id == group))
        plan.counts["groups"] = 1
    return plan


def _live_plan(
    conn: Any, plan: Plan, groups: set[str], cohorts: frozenset[str] = frozenset()
) -> None:
    """Live data of ``groups``: sessions of these groups (or of ``cohorts``) alone entirely, in
    other sessions their participants' answers and their action points."""
    own: list[int] = []
    rows = conn.execute(
        select(live_sessions.c.id, live_sessions.c.group_ids, live_sessions.c.cohort_id)
    )
    for sid, groups_json, cohort in rows:
        try:
            ids = json.loads(groups_json or "[]")
        except ValueError:
            ids = []
        if (ids and set(ids) <= groups) or (cohort is not None and cohort in cohorts):
            own.append(int(sid))
    people = select(live_participants.c.id).where(
        or_(live_participants.c.group_id.in_(groups), live_participants.c.session_id.in_(own))
    )
    rounds = select(live_rounds.c.id).where(live_rounds.c.session_id.in_(own))
    actions = or_(live_actions.c.group_id.in_(groups), live_actions.c.session_id.in_(own))
    plan.counts["live_sessions"] = len(own)
    plan.counts["live_answers"] = _count(
        conn,
        live_answers,
        or_(live_answers.c.participant_id.in_(people), live_answers.c.round_id.in_(rounds)),
    )
    plan.counts["live_actions"] = _count(conn, live_actions, actions)
    plan.deletes += [
        (
            live_answers,
            or_(live_answers.c.participant_id.in_(people), live_answers.c.round_id.in_(rounds)),
        ),
        (live_admissions, live_admissions.c.participant_id.in_(people)),
        (live_actions, actions),
        (live_turns, live_turns.c.round_id.in_(rounds)),
        (live_published, live_published.c.round_id.in_(rounds)),
        (live_participants, live_participants.c.id.in_(people)),
        (live_session_limits, live_session_limits.c.session_id.in_(own)),
        (live_rounds, live_rounds.c.session_id.in_(own)),
        (live_sessions, live_sessions.c.id.in_(own)),
    ]


# -- retention ----------------------------------------------------------------------------------
def retention_months(store: Store) -> int | None:
    """The programme's ``retention_months`` (saved by ``kit programme load``), if set."""
    with store.begin() as conn:
        value = conn.execute(
            select(kit_settings.c.value).where(kit_settings.c.key == "retention")
        ).scalar()
    return int(value) if value is not None else None


def add_months(day: dt.date, months: int) -> dt.date:
    """``day`` plus whole months (the 31st becomes the month's last day)."""
    import calendar

    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def plan_retention(store: Store, today: dt.date | None = None) -> tuple[Plan, list[str]]:
    """Answers past the retention period, and the cohorts they belong to."""
    months = retention_months(store)
    if months is None:
        raise KitError.text("cli.retention.unset")
    today = today or dt.date.today()
    cohorts = store.list_cohorts()
    due = [
        str(c["id"])
        for _, c in cohorts.iterrows()
        if c["end_date"] and add_months(dt.date.fromisoformat(str(c["end_date"])), months) < today
    ]
    plan = Plan("retention", f"{months} months; cohorts {', '.join(due) or '-'}")
    groups = store.list_groups()
    ids = [str(g) for g, c in zip(groups["id"], groups["cohort_id"], strict=True) if c in due]
    with store.begin() as conn:
        where = R.c.group_id.in_(ids) if ids else false()
        _responses_plan(conn, plan, where, publications_too=False)
        plan.strip_comments = {}
        plan.counts.pop("published_comments", None)
        pubs = publications.c.group_id.in_(ids) if ids else false()
        plan.drop_all_comments = [
            int(p) for (p,) in conn.execute(select(publications.c.id).where(pubs)).all()
        ]
        members = publication_members.c.publication_id.in_(plan.drop_all_comments)
        plan.counts["fingerprints"] = _count(conn, publication_members, members)
        plan.deletes.insert(0, (publication_members, members))
        _live_plan(conn, plan, set(ids), frozenset(due))
    return plan, due


# -- carrying a plan out ------------------------------------------------------------------------
def carry_out(store: Store, plan: Plan) -> dict[str, int]:
    """Carry ``plan`` out in one transaction (all of it or nothing); returns rows removed."""
    done: dict[str, int] = {}
    with store.begin() as conn:
        for pid, texts in plan.strip_comments.items():
            _edit_view(conn, pid, lambda c, t=texts: _without(c, t))
        for pid in plan.drop_all_comments:
            _edit_view(conn, pid, lambda _c: {"suppressed": "comments"})
        for table, where in plan.deletes:
            done[table.name] = (
                done.get(table.name, 0) + conn.execute(delete(table).where(where)).rowcount
            )
        record(conn, plan.action, plan.target, plan.respondents)
    return done


def _edit_view(conn: Any, publication_id: int, change: Any) -> None:
    raw = conn.execute(
        select(publications.c.view).where(publications.c.id == publication_id)
    ).scalar_one()
    view = json.loads(raw)
    view["comments"] = change(view.get("comments") or {})
    conn.execute(
        update(publications)
        .where(publications.c.id == publication_id)
        .values(view=json.dumps(view, ensure_ascii=False))
    )


def _without(comments: dict[str, Any], texts: dict[str, set[str]]) -> dict[str, Any]:
    by_question = comments.get("by_question")
    if not isinstance(by_question, dict):
        return comments
    kept = {q: [x for x in v if x not in texts.get(q, set())] for q, v in by_question.items()}
    return {**comments, "by_question": kept}


# -- listing ------------------------------------------------------------------------------------
def list_imports(store: Store) -> pd.DataFrame:
    """Every import: id, when, file, its hash (short), rows written, respondents still stored."""
    with store.begin() as conn:
        stored = dict(
            conn.execute(
                select(R.c.import_id, func.count())
                .where(R.c.import_id.isnot(None))
                .group_by(R.c.import_id)
            ).all()
        )
        rows = conn.execute(select(s.imports).order_by(s.imports.c.id)).mappings().all()
    return pd.DataFrame(
        [
            {
                "id": r["id"],
                "imported_at": _when(r["imported_at"]),
                "filename": r["filename"],
                "sha256": r["source_hash"][:12],
                "instrument": r["instrument_id"],
                "rows": r["rows"],
                "stored": int(stored.get(r["id"], 0)),
            }
            for r in rows
        ],
        columns=["id", "imported_at", "filename", "sha256", "instrument", "rows", "stored"],
    )


def list_audit(store: Store, limit: int = 200) -> pd.DataFrame:
    """The latest lines of the audit log (newest last)."""
    with store.begin() as conn:
        rows = (
            conn.execute(select(audit_log).order_by(audit_log.c.id.desc()).limit(limit))
            .mappings()
            .all()
        )
    frame = pd.DataFrame(
        [dict(r) for r in reversed(rows)], columns=["id", "at", "actor", "action", "target", "rows"]
    )
    frame["at"] = [_when(x) for x in frame["at"]]
    return frame


def _when(value: Any) -> str:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return str(value or "")


# -- backup and restore -------------------------------------------------------------------------
def backup(store: Store, target: str | Path) -> Path:
    """A consistent copy of the database while it is in use: SQLite's online backup, or
    ``pg_dump`` (custom format) for PostgreSQL. Written beside ``target`` and renamed, so a
    half-written backup never has the name."""
    target = Path(target)
    if target.exists() and target.is_dir():
        raise KitError.text("cli.backup.is_folder", path=str(target))
    target.parent.mkdir(parents=True, exist_ok=True)
    if store.engine.dialect.name != "sqlite" and shutil.which("pg_dump") is None:
        raise StoreError.text("cli.backup.no_tool", tool="pg_dump")
    with store.begin() as conn:  # first, so that the backup holds its own line
        record(conn, "backup", target.name)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        if store.engine.dialect.name == "sqlite":
            source = sqlite3.connect(_sqlite_path(store), timeout=10)
            copy = sqlite3.connect(tmp)
            try:
                with copy:
                    source.backup(copy)
            finally:
                copy.close()
                source.close()
        else:
            url, env, schema = _libpq(store)
            args = ["pg_dump", "--format=custom", "--no-owner", f"--file={tmp}", f"--dbname={url}"]
            if schema:
                args.append(f"--schema={schema}")
            _run(args, env)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(KitError), store.begin() as conn:  # the first error is told
            record(conn, "backup.failed", target.name)
        raise
    finally:
        tmp.unlink(missing_ok=True)
    return target


def restore(store: Store, source: str | Path) -> None:
    """Replace the database's content with a backup made by :func:`backup` (one step)."""
    source = Path(source)
    if not source.is_file():
        raise NotFoundError.text("cli.file.missing", path=str(source), cwd=str(Path.cwd()))
    if store.engine.dialect.name == "sqlite":
        _check_sqlite_backup(source)
        store.engine.dispose()
        backup_conn = sqlite3.connect(source)
        live = sqlite3.connect(_sqlite_path(store), timeout=10)
        try:
            backup_conn.backup(live)
        finally:
            live.close()
            backup_conn.close()
    else:
        with source.open("rb") as fh:
            if fh.read(5) != b"PGDMP":
                raise KitError.text("cli.restore.not_backup", path=str(source))
        url, env, schema = _libpq(store)
        store.engine.dispose()
        args = [
            "pg_restore",
            "--clean",
            "--if-exists",
            "--no-owner",
            "--single-transaction",
            "--exit-on-error",
            f"--dbname={url}",
        ]
        if schema:
            args.append(f"--schema={schema}")
        _run([*args, str(source)], env)
    store.engine.dispose()
    with store.begin() as conn:
        record(conn, "restore", source.name)


def _check_sqlite_backup(path: Path) -> None:
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            version = conn.execute("SELECT max(version) FROM kit_schema").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.DatabaseError:
        raise KitError.text("cli.restore.not_backup", path=str(path)) from None
    if version is None or version > s.SCHEMA_VERSION:
        raise KitError.text("cli.restore.not_backup", path=str(path))


def _sqlite_path(store: Store) -> str:
    return store.url.removeprefix("sqlite:///")


def _libpq(store: Store) -> tuple[str, dict[str, str], str | None]:
    """The store's URL for libpq tools (password in the environment), and its schema if the URL
    sets a search_path (``options=-csearch_path=...``)."""
    url = make_url(store.url)
    env = {**os.environ}
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    options = url.query.get("options", "")
    options = " ".join(options) if isinstance(options, tuple) else options
    schema = None
    for part in options.replace("-c ", "-c").split():
        if part.startswith("-csearch_path="):
            schema = part.split("=", 1)[1].split(",")[0].strip('"')
    plain = url.set(drivername="postgresql", password=None, query={})
    return plain.render_as_string(hide_password=False), env, schema


def _run(args: list[str], env: dict[str, str]) -> None:
    if shutil.which(args[0]) is None:
        raise StoreError.text("cli.backup.no_tool", tool=args[0])
    try:
        done = subprocess.run(
            args, env=env, capture_output=True, text=True, timeout=PG_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired:
        raise StoreError.text("cli.backup.timeout", tool=args[0], seconds=PG_TIMEOUT) from None
    if done.returncode != 0:
        raise StoreError.text(
            "cli.backup.failed", tool=args[0], error=(done.stderr or "").strip()[-500:]
        )


def describe(plan: Plan, lang: str) -> list[str]:
    """One line per kind of thing a plan removes, for a person to read before it goes."""
    from kit.i18n import t

    return [
        t(f"cli.erase.count.{kind}", lang, n=n)
        for kind, n in plan.counts.items()
        if n and kind in COUNT_KINDS
    ]


COUNT_KINDS = (
    "responses",
    "answers",
    "comments",
    "published_comments",
    "publications",
    "fingerprints",
    "invitations",
    "access_keys",
    "live_sessions",
    "live_answers",
    "live_actions",
    "group_waves",
    "groups",
    "imports",
)
