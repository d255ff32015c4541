"""The store: the one module that talks to the database (SQLite by default, PostgreSQL by URL).

>>> store = open_store(load_settings())          # creates the schema if the database is new
>>> store.import_responses(table, instrument, source_hash, "export.csv")
>>> table = store.load_responses(instrument)     # the canonical response table

The canonical response table is a wide DataFrame: one row per respondent with columns
``respondent, group, wave, role`` then one float column per item id (NaN = not answered or not
applicable) then one text column per open question id (None = no comment).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import (
    Connection,
    Engine,
    create_engine,
    delete,
    event,
    func,
    insert,
    inspect,
    select,
    update,
)
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from kit.errors import NotFoundError, Problem, ResponseFileError, StoreError, os_reason
from kit.instrument import Instrument
from kit.settings import Settings
from kit.store import lifecycle_tables as audit
from kit.store import packed
from kit.store import schema as s

RESPONSE_COLUMNS = ("respondent", "group", "wave", "role")
RESPONSE_ROW = (  # the columns of a response as written (one row per respondent)
    "id",
    "instrument_id",
    "group_id",
    "wave_id",
    "respondent",
    "role",
    "import_id",
    "submitted_at",
    "layout_id",
    "answers",
)
IMPORT_IDS_BELOW = 1 << 30  # survey responses get random ids above (kit.store.access)
WRITE_BLOCK = 5000  # respondents written per block: bounded memory, a step of the progress bar
CONNECT_TIMEOUT = 8  # seconds to reach the database (or to wait for a lock in SQLite)
STATEMENT_TIMEOUT = 300  # seconds one PostgreSQL statement may take
ROLES = ("leader", "member")


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class ImportResult:
    filename: str
    rows: int  # respondents written
    skipped: bool  # True when the same file was imported before: nothing changed
    import_id: int | None


class Store:
    """Survey data: cohorts, groups, waves and respondents' answers."""

    def __init__(self, url: str) -> None:
        self.url = url
        if url.startswith("sqlite:///"):
            folder = Path(url.removeprefix("sqlite:///")).parent
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError.text(
                    "common.store.no_folder", folder=str(folder), error=os_reason(exc)
                ) from None
        try:
            self.engine: Engine = create_engine(
                url,
                future=True,
                pool_pre_ping=True,
                pool_timeout=CONNECT_TIMEOUT,
                connect_args=_connect_args(url),
            )
        except (SQLAlchemyError, ImportError, ValueError) as exc:
            raise StoreError.text(
                "common.store.bad_url", url=_redact(url), error=str(exc)
            ) from None
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._ensure_schema()

    # -- plumbing ---------------------------------------------------------------------------------
    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A connection in one transaction: committed on success, rolled back on any error."""
        try:
            with self.engine.begin() as conn:
                yield conn
        except OperationalError as exc:
            raise _store_error(self.url, exc) from exc

    def _ensure_schema(self) -> None:
        """Create a new database, migrate an older one, refuse one written by a newer kit."""
        try:
            with self.engine.begin() as conn:
                found = None
                if inspect(conn).has_table(s.kit_schema.name):
                    found = conn.execute(select(func.max(s.kit_schema.c.version))).scalar()
                if found is not None and found > s.SCHEMA_VERSION:
                    raise StoreError.text(
                        "common.store.newer",
                        url=_redact(self.url),
                        found=found,
                        version=s.SCHEMA_VERSION,
                    )
                s.metadata.create_all(conn)
                if found is None:
                    conn.execute(
                        insert(s.kit_schema).values(version=s.SCHEMA_VERSION, applied_at=now())
                    )
                else:
                    for version in range(found + 1, s.SCHEMA_VERSION + 1):
                        for step in s.MIGRATIONS.get(version, []):
                            step(conn) if callable(step) else conn.exec_driver_sql(step)
                        conn.execute(insert(s.kit_schema).values(version=version, applied_at=now()))
        except OperationalError as exc:
            raise _store_error(self.url, exc) from None

    def schema_version(self) -> int:
        with self.begin() as conn:
            return int(conn.execute(select(func.max(s.kit_schema.c.version))).scalar_one())

    # -- reference data ---------------------------------------------------------------------------
    def save_cohort(
        self,
        id: str,
        name: str,
        programme: str = "",
        start_date: str | None = None,
        end_date: str | None = None,
    ) -> None:
        self._upsert(
            s.cohorts,
            {
                "id": id,
                "name": name,
                "programme": programme,
                "start_date": start_date,
                "end_date": end_date,
            },
        )

    def save_group(
        self,
        id: str,
        name: str,
        organisation: str = "",
        cohort_id: str | None = None,
        in_norm_base: bool = True,
        language: str = "nb",
    ) -> None:
        self._upsert(
            s.groups,
            {
                "id": id,
                "name": name,
                "organisation": organisation,
                "cohort_id": cohort_id,
                "in_norm_base": in_norm_base,
                "language": language,
            },
        )

    def save_wave(self, id: str, ordinal: int) -> None:
        self._upsert(s.waves, {"id": id, "ordinal": ordinal})

    def save_group_wave(
        self,
        group_id: str,
        wave_id: str,
        invited: int | None = None,
        status: str = "open",
        survey_date: str | None = None,
    ) -> None:
        if status not in ("open", "closed"):
            raise ValueError(f"status must be 'open' or 'closed', not {status!r}")  # dev-text
        self._upsert(
            s.group_waves,
            {
                "group_id": group_id,
                "wave_id": wave_id,
                "invited": invited,
                "status": status,
                "survey_date": survey_date,
            },
            keys=("group_id", "wave_id"),
        )

    def set_wave_status(self, group_id: str, wave_id: str, status: str) -> None:
        with self.begin() as conn:
            done = conn.execute(
                update(s.group_waves)
                .where(s.group_waves.c.group_id == group_id, s.group_waves.c.wave_id == wave_id)
                .values(status=status)
            ).rowcount
        if not done:
            raise NotFoundError.text("common.store.no_group_wave", group=group_id, wave=wave_id)

    def _upsert(
        self,
        table: Any,
        row: dict[str, Any],
        keys: Sequence[str] = ("id",),
        conn: Connection | None = None,
        insert_only: Sequence[str] = (),
    ) -> None:
        """Insert ``row`` or update the stored one; ``insert_only`` columns are kept on update."""
        if conn is None:
            with self.begin() as own:
                return self._upsert(table, row, keys, own, insert_only)
        where = [table.c[k] == row[k] for k in keys]
        if conn.execute(select(*[table.c[k] for k in keys]).where(*where)).first() is None:
            conn.execute(insert(table).values(**row))
        else:
            kept = {k: v for k, v in row.items() if k not in insert_only}
            conn.execute(update(table).where(*where).values(**kept))

    def save_programme(self, programme: Any) -> dict[str, int]:
        """Save a programme's waves, cohorts, groups and group waves in one transaction.

        ``programme`` is a :class:`kit.store.programme.Programme`. Saving the same file again
        updates names and invited counts; a group wave's status (open/closed) is kept.
        """
        with self.begin() as conn:
            for wave in programme.waves:
                self._upsert(s.waves, {"id": wave.id, "ordinal": wave.ordinal}, conn=conn)
            for c in programme.cohorts:
                self._upsert(
                    s.cohorts,
                    {
                        "id": c.id,
                        "name": c.name,
                        "programme": programme.name,
                        "start_date": c.start_date,
                        "end_date": c.end_date,
                    },
                    conn=conn,
                )
            for g in programme.groups:
                self._upsert(
                    s.groups,
                    {
                        "id": g.id,
                        "name": g.name,
                        "organisation": g.organisation,
                        "cohort_id": g.cohort_id,
                        "in_norm_base": g.in_norm_base,
                        "language": g.language,
                    },
                    conn=conn,
                )
                for wave_id, invited in g.invited.items():
                    self._upsert(
                        s.group_waves,
                        {
                            "group_id": g.id,
                            "wave_id": wave_id,
                            "invited": invited,
                            "status": "open",
                            "survey_date": g.survey_dates.get(wave_id),
                        },
                        keys=("group_id", "wave_id"),
                        conn=conn,
                        insert_only=("status",),
                    )
            retention = getattr(programme, "retention_months", None)  # kit.lifecycle
            setting = audit.kit_settings
            conn.execute(delete(setting).where(setting.c.key == "retention"))
            if retention is not None:
                conn.execute(insert(setting).values(key="retention", value=str(retention)))
        return {
            "waves": len(programme.waves),
            "cohorts": len(programme.cohorts),
            "groups": len(programme.groups),
            "group_waves": sum(len(g.invited) for g in programme.groups),
        }

    def list_cohorts(self) -> pd.DataFrame:
        return self._frame(select(s.cohorts).order_by(s.cohorts.c.id))

    def list_groups(self) -> pd.DataFrame:
        return self._frame(select(s.groups).order_by(s.groups.c.id))

    def list_waves(self) -> pd.DataFrame:
        return self._frame(select(s.waves).order_by(s.waves.c.ordinal))

    def list_group_waves(self) -> pd.DataFrame:
        """Every group's waves with invited count, status and respondents stored so far."""
        counts = (
            select(s.responses.c.group_id, s.responses.c.wave_id, func.count().label("respondents"))
            .group_by(s.responses.c.group_id, s.responses.c.wave_id)
            .subquery()
        )
        q = (
            select(s.group_waves, func.coalesce(counts.c.respondents, 0).label("respondents"))
            .select_from(
                s.group_waves.outerjoin(
                    counts,
                    (counts.c.group_id == s.group_waves.c.group_id)
                    & (counts.c.wave_id == s.group_waves.c.wave_id),
                )
            )
            .order_by(s.group_waves.c.group_id, s.group_waves.c.wave_id)
        )
        return self._frame(q)

    def get_group(self, group_id: str) -> dict[str, Any]:
        with self.begin() as conn:
            row = conn.execute(select(s.groups).where(s.groups.c.id == group_id)).mappings().first()
        if row is None:
            raise NotFoundError.text("common.store.no_such_group", group=group_id)
        return dict(row)

    def _frame(self, query: Any) -> pd.DataFrame:
        with self.begin() as conn:
            result = conn.execute(query)
            columns = list(result.keys())
            rows = [tuple(r) for r in result.fetchall()]  # plain tuples: pandas is slow on Row
            return (
                pd.DataFrame.from_records(rows, columns=columns)
                if rows
                else pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
            )

    # -- responses --------------------------------------------------------------------------------
    def import_responses(
        self,
        table: pd.DataFrame,
        instrument: Instrument,
        source_hash: str,
        filename: str,
        *,
        file_rows: Sequence[int] | None = None,
        headers: dict[str, str] | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> ImportResult:
        """Write a validated response table in one transaction: all of it or nothing.

        Importing the same file (same ``source_hash``) again changes nothing. A respondent already
        stored for the same group and wave is refused, with every clash listed (``read_responses``
        with ``store=`` leaves out those stored with the same answers before it gets here); so is
        a group or wave the programme does not define. ``file_rows`` and ``headers`` (from
        :class:`kit.ingest.IngestResult`) name the file's rows and headers in those messages;
        ``progress(n)`` is called as each block of ``n`` respondents is written.
        """
        where = _Where(filename, file_rows, headers or {})
        with self.begin() as conn:
            prior = conn.execute(
                select(s.imports.c.id).where(s.imports.c.source_hash == source_hash)
            ).first()
            if prior is not None:
                return ImportResult(filename, 0, True, prior[0])
            self._refuse_unknown(conn, table, where)
            self._refuse_existing(conn, table, instrument, where)
            import_id = conn.execute(
                insert(s.imports).values(
                    source_hash=source_hash,
                    filename=filename,
                    instrument_id=instrument.id,
                    rows=len(table),
                    imported_at=now(),
                )
            ).inserted_primary_key[0]
            for start in range(0, len(table), WRITE_BLOCK):
                block = table.iloc[start : start + WRITE_BLOCK]
                self._write_responses(conn, block, instrument, import_id)
                if progress is not None:
                    progress(len(block))
            audit.record(conn, "import", f"import {import_id}: {filename}", len(table))
        return ImportResult(filename, len(table), False, import_id)

    def delete_import(self, import_id: int) -> int:
        """Remove every response written by one import (one transaction); returns how many."""
        with self.begin() as conn:
            ids = select(s.responses.c.id).where(s.responses.c.import_id == import_id)
            conn.execute(delete(s.comments).where(s.comments.c.response_id.in_(ids)))
            n = conn.execute(
                delete(s.responses).where(s.responses.c.import_id == import_id)
            ).rowcount
            done = conn.execute(delete(s.imports).where(s.imports.c.id == import_id)).rowcount
            if done:
                audit.record(conn, "import.undo", f"import {import_id}", n)
        if not done:
            raise NotFoundError.text("common.store.no_import", id=import_id)
        return n

    def list_imports(self) -> pd.DataFrame:
        return self._frame(select(s.imports).order_by(s.imports.c.id))

    def add_response(
        self,
        instrument: Instrument,
        group_id: str,
        wave_id: str,
        respondent: str,
        answers: dict[str, float | None],
        comments: dict[str, str] | None = None,
        role: str | None = None,
    ) -> int:
        """Store one respondent's answers (a web survey submission) as an import would."""
        row = {"respondent": respondent, "group": group_id, "wave": wave_id, "role": role}
        row.update({i: answers.get(i) for i in instrument.item_ids})
        row.update({q: (comments or {}).get(q) for q in instrument.open_question_ids})
        table = pd.DataFrame([row])
        where = _Where("survey", None, {})
        with self.begin() as conn:
            self._refuse_unknown(conn, table, where)
            self._refuse_existing(conn, table, instrument, where)
            return self._write_responses(conn, table, instrument, None)[0]

    def _refuse_unknown(self, conn: Connection, table: pd.DataFrame, where: _Where) -> None:
        known_groups = set(conn.execute(select(s.groups.c.id)).scalars())
        known_waves = set(conn.execute(select(s.waves.c.id)).scalars())
        problems = []
        for i, (g, w) in enumerate(zip(table["group"], table["wave"], strict=True)):
            for col, value, known in (("group", g, known_groups), ("wave", w, known_waves)):
                if str(value) not in known:
                    problems.append(where.problem(i, col, str(value), f"common.store.no_{col}"))
        if problems:
            raise ResponseFileError(
                where.source, problems, hints=(("common.store.hint_unknown", {}),)
            )

    def _refuse_existing(
        self, conn: Connection, table: pd.DataFrame, instrument: Instrument, where: _Where
    ) -> None:
        groups = sorted(set(table["group"]))
        existing = conn.execute(
            select(s.responses.c.group_id, s.responses.c.wave_id, s.responses.c.respondent).where(
                s.responses.c.instrument_id == instrument.id, s.responses.c.group_id.in_(groups)
            )
        ).all()
        taken = {(g, w, r) for g, w, r in existing}
        problems = [
            where.problem(i, "respondent", str(r), "common.store.already")
            for i, (g, w, r) in enumerate(
                zip(table["group"], table["wave"], table["respondent"], strict=True)
            )
            if (g, w, str(r)) in taken
        ]
        if problems:
            raise ResponseFileError(
                where.source, problems, hints=(("common.store.hint_already", {}),)
            )

    def _write_responses(
        self, conn: Connection, table: pd.DataFrame, instrument: Instrument, import_id: int | None
    ) -> list[int]:
        """One row per respondent, its answers packed (``kit.store.packed``); bulk statements."""
        n = len(table)
        if not n:
            return []
        stamp = now()
        roles = (
            [None if _missing(r) else str(r) for r in table["role"]]
            if "role" in table.columns
            else [None] * n
        )
        items = [i for i in instrument.item_ids if i in table.columns]
        layout = packed.ensure_layout(conn, items)
        frame = table[items]
        if not all(pd.api.types.is_float_dtype(t) for t in frame.dtypes):
            frame = frame.apply(pd.to_numeric, errors="coerce")
        blobs = packed.pack(frame.to_numpy(dtype=float))
        ids = _new_response_ids(conn, n)
        rows = list(
            zip(
                ids,
                [instrument.id] * n,
                table["group"].astype(str).tolist(),
                table["wave"].astype(str).tolist(),
                table["respondent"].astype(str).tolist(),
                roles,
                [import_id] * n,
                [stamp] * n,
                [layout] * n,
                blobs,
                strict=True,
            )
        )
        dbapi = conn.dialect.dbapi
        try:
            _bulk_insert(conn, s.responses.name, RESPONSE_ROW, rows)
        except dbapi.IntegrityError as exc:  # type: ignore[union-attr]
            raise StoreError.text("common.store.integrity", error=str(exc)) from None
        self._write_comments(conn, table, instrument, ids)
        return ids

    def _write_comments(
        self, conn: Connection, table: pd.DataFrame, instrument: Instrument, ids: list[int]
    ) -> None:
        questions = [q for q in instrument.open_question_ids if q in table.columns]
        comment_rows = [
            (rid, q, str(text).strip())
            for q in questions
            for rid, text in zip(ids, table[q], strict=True)
            if not _missing(text) and str(text).strip()
        ]
        if comment_rows:
            columns = ("response_id", "question_id", "text")
            _bulk_insert(conn, s.comments.name, columns, comment_rows)

    def load_responses(
        self,
        instrument: Instrument,
        group_ids: Sequence[str] | None = None,
        wave_ids: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """The canonical wide response table for ``instrument`` (optionally some groups/waves)."""
        r = s.responses
        where = [r.c.instrument_id == instrument.id]
        if group_ids is not None:
            where.append(r.c.group_id.in_(list(group_ids)))
        if wave_ids is not None:
            where.append(r.c.wave_id.in_(list(wave_ids)))
        with self.begin() as conn:
            base = _fetch(
                conn,
                select(
                    r.c.id,
                    r.c.respondent,
                    r.c.group_id.label("group"),
                    r.c.wave_id.label("wave"),
                    r.c.role,
                    r.c.layout_id,
                    r.c.answers,
                )
                .where(*where)
                .order_by(r.c.id),
            )
            items_of = packed.layouts(conn) if base else {}
            com = _fetch(
                conn,
                select(s.comments.c.response_id, s.comments.c.question_id, s.comments.c.text)
                .join(r, r.c.id == s.comments.c.response_id)
                .where(*where),
            )
        ids = np.array([row[0] for row in base], dtype=np.int64)
        out = pd.DataFrame(
            {
                "respondent": [str(row[1]) for row in base],
                "group": [str(row[2]) for row in base],
                "wave": [str(row[3]) for row in base],
                "role": pd.Series([row[4] for row in base], dtype=object),
            }
        )
        matrix = packed.unpack(
            [row[5] for row in base], [row[6] for row in base], items_of, instrument.item_ids
        )
        items = pd.DataFrame(matrix, columns=list(instrument.item_ids))
        texts = {q: [None] * len(base) for q in instrument.open_question_ids}
        if com:
            row_of = dict(zip(ids.tolist(), range(len(base)), strict=True))
            for response_id, question_id, comment in com:
                if question_id in texts:
                    texts[question_id][row_of[response_id]] = comment
        comments = pd.DataFrame({q: pd.Series(v, dtype=object) for q, v in texts.items()})
        return pd.concat([out, items, comments], axis=1)

    def clear(self) -> None:
        """Delete every row of every table (survey, live and access data); keep the schema."""
        with self.begin() as conn:
            for table in reversed(s.metadata.sorted_tables):
                if table is not s.kit_schema:
                    conn.execute(delete(table))

    def import_hashes(self) -> set[str]:
        with self.begin() as conn:
            return set(conn.execute(select(s.imports.c.source_hash)).scalars())


@dataclass(frozen=True)
class _Where:
    """Where a table row came from, to name the file's row and header in a message."""

    source: str
    file_rows: Sequence[int] | None
    headers: dict[str, str]

    def problem(self, i: int, column: str, value: str, key: str) -> Problem:
        row = int(self.file_rows[i]) if self.file_rows is not None else i + 2
        return Problem.of(
            self.source, key, row=row, column=self.headers.get(column, column), value=value
        )


def _new_response_ids(conn: Connection, n: int) -> list[int]:
    """``n`` ids for new responses, taken in this transaction (below the survey's random ids).

    PostgreSQL: from the table's sequence (safe beside other writers). SQLite: after the
    largest id below ``IMPORT_IDS_BELOW``; the transaction holds SQLite's one write lock.
    """
    if conn.dialect.name == "postgresql":
        seq = conn.exec_driver_sql(
            f"SELECT pg_get_serial_sequence('{s.responses.name}', 'id')"
        ).scalar_one()
        return [
            int(x)
            for x in conn.exec_driver_sql(
                f"SELECT nextval('{seq}') FROM generate_series(1, {int(n)})"
            ).scalars()
        ]
    top = conn.execute(
        select(func.coalesce(func.max(s.responses.c.id), 0)).where(
            s.responses.c.id < IMPORT_IDS_BELOW
        )
    ).scalar_one()
    return list(range(int(top) + 1, int(top) + 1 + n))


def _fetch(conn: Connection, query: Any) -> list[tuple[Any, ...]]:
    """Rows of ``query`` as plain tuples, straight from the driver (fast for many rows)."""
    return [tuple(row) for row in conn.execute(query).cursor.fetchall()]


def _bulk_insert(conn: Connection, table: str, columns: Sequence[str], rows: list[tuple]) -> None:
    """Insert many rows fast: COPY on PostgreSQL, the driver's executemany elsewhere."""
    raw = conn.connection.driver_connection
    names = ", ".join(columns)
    if conn.dialect.name == "postgresql" and hasattr(raw, "cursor"):
        with raw.cursor() as cur, cur.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    if conn.dialect.paramstyle == "qmark":
        marks = ", ".join("?" for _ in columns)
        cur = raw.cursor()
        try:
            cur.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)
        finally:
            cur.close()
        return
    conn.execute(
        insert(s.metadata.tables[table]), [dict(zip(columns, row, strict=True)) for row in rows]
    )


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and v != v) or v is pd.NA


def _connect_args(url: str) -> dict[str, Any]:
    """Bounded waits: connecting, a lock (SQLite), a statement (PostgreSQL)."""
    if url.startswith("sqlite"):
        return {"timeout": CONNECT_TIMEOUT}
    if url.startswith("postgresql"):
        from sqlalchemy.engine import make_url

        options = make_url(url).query.get("options", "")  # kept: e.g. a search_path
        options = " ".join(options) if isinstance(options, tuple) else options
        waits = (
            f"-c statement_timeout={STATEMENT_TIMEOUT * 1000} "
            f"-c lock_timeout={CONNECT_TIMEOUT * 1000} "
            f"-c idle_in_transaction_session_timeout={STATEMENT_TIMEOUT * 1000}"
        )
        return {
            "connect_timeout": CONNECT_TIMEOUT,
            "options": f"{options} {waits}".strip(),
            # A server that stops answering mid-session is found within ~CONNECT_TIMEOUT s.
            "keepalives": 1,
            "keepalives_idle": 4,
            "keepalives_interval": 2,
            "keepalives_count": 2,
            "tcp_user_timeout": CONNECT_TIMEOUT * 1000,
        }
    return {}


def _store_error(url: str, exc: OperationalError) -> StoreError:
    """A database failure as a message that says what to do."""
    text = str(exc.orig)
    low = text.lower()
    fields = {"url": _redact(url), "error": text.strip().splitlines()[0] if text.strip() else ""}
    if "locked" in low or "busy" in low or "lock timeout" in low:
        return StoreError.text("common.store.locked", seconds=CONNECT_TIMEOUT, **fields)
    if "readonly" in low or "read-only" in low or "read only" in low:
        return StoreError.text("common.store.read_only", **fields)
    if "statement timeout" in low or "canceling statement" in low:
        return StoreError.text(
            "common.store.statement_timeout", seconds=STATEMENT_TIMEOUT, **fields
        )
    if "timeout" in low or "timed out" in low:
        return StoreError.text("common.store.timeout", seconds=CONNECT_TIMEOUT, **fields)
    if "connection" in low or "could not connect" in low or "server" in low:
        return StoreError.text("common.store.unreachable", **fields)
    if "unable to open" in low:
        return StoreError.text("common.store.cannot_open", **fields)
    return StoreError.text("common.store.failed", **fields)


def _redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute(f"PRAGMA busy_timeout={CONNECT_TIMEOUT * 1000}")
    cur.close()


_STORES: dict[str, Store] = {}


def open_store(settings: Settings) -> Store:
    """The store for ``settings.db_url`` (one engine per URL and process)."""
    url = settings.db_url
    if url not in _STORES:
        _STORES[url] = Store(url)
    return _STORES[url]
