"""Repository of the live exercises: sessions, rounds, participants, answers, actions, turns.

Every function takes the ``Store`` and runs in one transaction (``store.begin()``): an answer is
committed before the function returns, so a caller that acknowledges after the return never
acknowledges a lost answer. Checks that depend on the database's state (is the round still open?)
run in the same ``begin()`` block just before the write (on SQLite, whose driver starts the
write transaction at the first write, an answer racing the facilitator's "close" by a few
milliseconds counts as given before the close). ``run_batch`` commits many submissions at once.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import Connection, bindparam, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from kit.errors import KitError, NotFoundError
from kit.i18n import t
from kit.store import Store, now
from kit.store import live_tables as lt
from kit.store import schema as s

ACTION_STATUSES = ("open", "in_progress", "done", "dropped")
ACTION_COLUMNS = ["action", "owner", "due_date", "dimension", "status", "session_id", "created_at",
                  "updated_at"]


def _t(key: str, **fields: Any) -> str:
    """An engine message from ``live.yaml`` (``store.*``), in English like every library error;
    the web layer shows participants the translated ``error.<reason>`` instead."""
    return t(f"live.store.{key}", "en", **fields)


class LiveStateError(KitError):
    """A request does not fit the session's state (closed session or round, unknown participant).

    ``reason`` is a stable code (``session_closed``, ``round_closed``, ``round_unknown``,
    ``participant_unknown``, ``token_unknown``, ``not_admitted``) that the web layer turns into a
    translated sentence.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class AnswerIn:
    """One answer to one question of a round (``None`` fields are stored as NULL)."""

    question: str
    value: float | None = None
    text: str | None = None
    data: dict[str, Any] | None = None


@dataclass(frozen=True)
class Joined:
    """A participant after joining: its number, its server-made token, and whether it counts."""

    participant: int
    token: str
    admitted: bool
    new: bool


MAX_EXPECTED = 2000  # participants a facilitator can expect in one session (a plenary of 300 fits)


@dataclass(frozen=True)
class SaveResult:
    saved: int  # answers inserted or changed
    unchanged: int  # answers identical to what was stored (a repeated submission)
    removed: int = 0


# Statements of the hot path (joining, answering), built once: SQLAlchemy then reuses their
# compiled form, which keeps a submission's CPU cost low when a room of 300 answers at once.
_P, _A, _R = lt.live_participants, lt.live_answers, lt.live_rounds
_ADM, _LIM = lt.live_admissions, lt.live_session_limits
_FIND_PARTICIPANT = (select(_P.c.id, _ADM.c.participant_id.label("admitted"))
                     .select_from(_P.outerjoin(_ADM, _ADM.c.participant_id == _P.c.id))
                     .where(_P.c.session_id == bindparam("sid"), _P.c.token == bindparam("token")))
_S = lt.live_sessions
_CHECK_SUBMISSION = (
    select(_S.c.id, _S.c.status, _LIM.c.session_id.label("limited"), _P.c.id.label("pid"),
           _ADM.c.participant_id.label("admitted"), _R.c.session_id.label("round_session"),
           _R.c.status.label("round_status"))
    .select_from(_S.outerjoin(_LIM, _LIM.c.session_id == _S.c.id)
                 .outerjoin(_P, (_P.c.session_id == _S.c.id) & (_P.c.token == bindparam("token")))
                 .outerjoin(_ADM, _ADM.c.participant_id == _P.c.id)
                 .outerjoin(_R, _R.c.id == bindparam("rid")))
    .where(_S.c.code == bindparam("code")))
_OWN_ANSWERS = select(_A.c.id, _A.c.question, _A.c.value, _A.c.text, _A.c.data).where(
    _A.c.round_id == bindparam("rid"), _A.c.participant_id == bindparam("pid"))
_INSERT_ANSWER = insert(_A)
_UPDATE_ANSWER = update(_A).where(_A.c.id == bindparam("aid")).values(
    value=bindparam("value"), text=bindparam("text"), data=bindparam("data"),
    updated_at=bindparam("updated_at"))


# -- sessions ------------------------------------------------------------------------------------
def create_session(store: Store, *, code: str, key_hash: str, title: str, group_ids: Sequence[str],
                   cohort_id: str | None, language: str, exercises: Sequence[str],
                   instrument_id: str, rounds: Sequence[tuple[str, dict[str, Any]]],
                   expected: int | None = None, min_respondents: int | None = None) -> int:
    """Store a new session with its planned rounds (status ``draft``); returns its id.

    ``expected`` is how many participants the facilitator expects: that many joins are admitted
    automatically, later ones wait until the facilitator admits them (None: every join waits
    until the facilitator sets it). ``min_respondents`` is the anonymity threshold the session
    keeps from now on, whatever the kit's settings later say (it can only be raised)."""
    with store.begin() as conn:
        known = set(conn.execute(select(s.groups.c.id).where(s.groups.c.id.in_(list(group_ids))))
                    .scalars())
        missing = [g for g in group_ids if g not in known]
        if missing:
            raise NotFoundError(_t("groups_unknown", groups=", ".join(map(repr, missing))))
        if cohort_id is not None and conn.execute(
                select(s.cohorts.c.id).where(s.cohorts.c.id == cohort_id)).first() is None:
            raise NotFoundError(_t("cohort_unknown", cohort=cohort_id))
        sid = conn.execute(insert(lt.live_sessions).values(
            code=code, title=title, cohort_id=cohort_id, group_ids=json.dumps(list(group_ids)),
            language=language, exercises=json.dumps(list(exercises)), instrument_id=instrument_id,
            key_hash=key_hash, status="open", revision=0, created_at=now())).inserted_primary_key[0]
        conn.execute(insert(_LIM).values(session_id=sid, expected=_check_expected(expected),
                                         min_respondents=min_respondents, updated_at=now()))
        for ordinal, (exercise, config) in enumerate(rounds, start=1):
            conn.execute(insert(lt.live_rounds).values(
                session_id=sid, ordinal=ordinal, exercise=exercise, config=json.dumps(config),
                status="draft", revealed=False))
    return int(sid)


def code_exists(store: Store, code: str) -> bool:
    with store.begin() as conn:
        return conn.execute(select(lt.live_sessions.c.id).where(lt.live_sessions.c.code == code)
                            ).first() is not None


def _session_row(conn: Connection, code: str) -> dict[str, Any]:
    row = conn.execute(select(lt.live_sessions).where(lt.live_sessions.c.code == code)
                       ).mappings().first()
    if row is None:
        raise NotFoundError(_t("session_unknown", code=code))
    out = dict(row)
    out["group_ids"] = json.loads(out["group_ids"])
    out["exercises"] = json.loads(out["exercises"])
    lim = conn.execute(select(_LIM.c.expected, _LIM.c.min_respondents)
                       .where(_LIM.c.session_id == out["id"])).first()
    out["admission"] = lim is not None  # False: a session from before admission control
    out["expected"] = None if lim is None else lim[0]
    out["min_respondents"] = None if lim is None else lim[1]
    return out


def list_sessions_by_id(store: Store, session_ids: Sequence[int]) -> list[dict[str, Any]]:
    """Sessions by id (group_ids decoded), in the order asked."""
    with store.begin() as conn:
        codes = dict(conn.execute(select(lt.live_sessions.c.id, lt.live_sessions.c.code)
                                  .where(lt.live_sessions.c.id.in_(list(session_ids)))).all())
        return [_session_row(conn, codes[i]) for i in session_ids if i in codes]


def get_session(store: Store, code: str) -> dict[str, Any]:
    """The session with ``code`` (group_ids and exercises decoded); NotFoundError if none."""
    with store.begin() as conn:
        return _session_row(conn, code)


def session_revision(store: Store, code: str) -> tuple[int, int] | None:
    """(session id, revision) or None: a cheap check whether the facilitator changed anything."""
    with store.begin() as conn:
        row = conn.execute(select(lt.live_sessions.c.id, lt.live_sessions.c.revision)
                           .where(lt.live_sessions.c.code == code)).first()
    return None if row is None else (int(row[0]), int(row[1]))


def list_sessions(store: Store) -> pd.DataFrame:
    """Every session with its number of rounds, participants and answers, newest first."""
    ss, r, p, a = lt.live_sessions, lt.live_rounds, lt.live_participants, lt.live_answers
    rounds = (select(r.c.session_id, func.count().label("rounds"))
              .group_by(r.c.session_id).subquery())
    people = (select(p.c.session_id, func.count().label("participants"))
              .group_by(p.c.session_id).subquery())
    answers = (select(r.c.session_id, func.count().label("answers"))
               .select_from(a.join(r, r.c.id == a.c.round_id)).group_by(r.c.session_id).subquery())
    q = (select(ss.c.code, ss.c.title, ss.c.cohort_id, ss.c.group_ids, ss.c.language, ss.c.status,
                ss.c.created_at, func.coalesce(rounds.c.rounds, 0).label("rounds"),
                func.coalesce(people.c.participants, 0).label("participants"),
                func.coalesce(answers.c.answers, 0).label("answers"))
         .select_from(ss.outerjoin(rounds, rounds.c.session_id == ss.c.id)
                      .outerjoin(people, people.c.session_id == ss.c.id)
                      .outerjoin(answers, answers.c.session_id == ss.c.id))
         .order_by(ss.c.created_at.desc(), ss.c.id.desc()))
    frame = _frame(store, q)
    if len(frame):
        frame["group_ids"] = frame["group_ids"].map(lambda v: ", ".join(json.loads(v)))
    return frame


def set_session_status(store: Store, code: str, status: str) -> None:
    if status not in ("open", "closed"):
        raise ValueError(f"status must be 'open' or 'closed', not {status!r}")  # dev-text
    with store.begin() as conn:
        row = _session_row(conn, code)
        conn.execute(update(lt.live_sessions).where(lt.live_sessions.c.id == row["id"]).values(
            status=status, closed_at=now() if status == "closed" else None,
            revision=lt.live_sessions.c.revision + 1))


def _bump(conn: Connection, session_id: int, **values: Any) -> None:
    conn.execute(update(lt.live_sessions).where(lt.live_sessions.c.id == session_id)
                 .values(revision=lt.live_sessions.c.revision + 1, **values))


# -- rounds --------------------------------------------------------------------------------------
# a round carries its session's threshold, fixed when the session was made (kit.live.visibility)
_ROUNDS = select(lt.live_rounds, _LIM.c.min_respondents).select_from(
    lt.live_rounds.outerjoin(_LIM, _LIM.c.session_id == lt.live_rounds.c.session_id))

def _decode_round(row: Any) -> dict[str, Any]:
    out = dict(row)
    out["config"] = json.loads(out["config"] or "{}")
    out["outcome"] = json.loads(out["outcome"]) if out.get("outcome") else None
    out["revealed"] = bool(out["revealed"])
    return out


def list_rounds(store: Store, session_id: int) -> list[dict[str, Any]]:
    """The session's rounds in order (config and outcome decoded)."""
    with store.begin() as conn:
        rows = conn.execute(_ROUNDS.where(lt.live_rounds.c.session_id == session_id)
                            .order_by(lt.live_rounds.c.ordinal)).mappings().all()
    return [_decode_round(r) for r in rows]


def get_round(store: Store, round_id: int) -> dict[str, Any]:
    with store.begin() as conn:
        row = conn.execute(_ROUNDS.where(lt.live_rounds.c.id == round_id)
                           ).mappings().first()
    if row is None:
        raise NotFoundError(_t("round_unknown", round=round_id))
    return _decode_round(row)


def add_round(store: Store, session_id: int, exercise: str, config: dict[str, Any]) -> int:
    """Append a round to a session (status ``draft``)."""
    with store.begin() as conn:
        last = conn.execute(select(func.max(lt.live_rounds.c.ordinal))
                            .where(lt.live_rounds.c.session_id == session_id)).scalar() or 0
        rid = conn.execute(insert(lt.live_rounds).values(
            session_id=session_id, ordinal=last + 1, exercise=exercise, config=json.dumps(config),
            status="draft", revealed=False)).inserted_primary_key[0]
        _bump(conn, session_id)
    return int(rid)


def update_round(store: Store, round_id: int, *, status: str | None = None,
                 revealed: bool | None = None, config: dict[str, Any] | None = None,
                 outcome: dict[str, Any] | None = None) -> dict[str, Any]:
    """Change a round's status (draft/open/closed), visibility, config or saved outcome."""
    values: dict[str, Any] = {}
    if status is not None:
        if status not in ("draft", "open", "closed"):
            raise ValueError(  # dev-text: a programming error, not a user's
                f"round status must be draft, open or closed, not {status!r}")
        values["status"] = status
        if status == "open":
            values["opened_at"] = now()
            values["closed_at"] = None
        elif status == "closed":
            values["closed_at"] = now()
    if revealed is not None:
        values["revealed"] = bool(revealed)
    if config is not None:
        values["config"] = json.dumps(config)
    if outcome is not None:
        values["outcome"] = json.dumps(outcome)
    with store.begin() as conn:
        row = conn.execute(select(lt.live_rounds).where(lt.live_rounds.c.id == round_id)
                           ).mappings().first()
        if row is None:
            raise NotFoundError(_t("round_unknown", round=round_id))
        if values:
            conn.execute(update(lt.live_rounds).where(lt.live_rounds.c.id == round_id)
                         .values(**values))
            _bump(conn, row["session_id"])
        row = conn.execute(_ROUNDS.where(lt.live_rounds.c.id == round_id)
                           ).mappings().first()
    return _decode_round(row)


def set_current_round(store: Store, session_id: int, round_id: int | None) -> None:
    """Remember which round the console shows, so it resumes there after a restart."""
    with store.begin() as conn:
        _bump(conn, session_id, current_round_id=round_id)


# -- participants and answers -------------------------------------------------------------------
def add_participant(store: Store, code: str, token: str, group_id: str | None,
                    language: str) -> int:
    """Register a participant with a token chosen by trusted code (the demo, tests); admitted by
    the same rule as a join. Joining twice with the same token changes nothing."""
    with store.begin() as conn:
        return join_in(conn, {}, code, token, group_id, language, trusted=True).participant


def join_in(conn: Connection, cache: dict[Any, Any], code: str, token: str | None,
            group_id: str | None, language: str, *, trusted: bool = False) -> Joined:
    """Join (or rejoin) a session on an open connection (``cache`` is shared within one batch).

    Tokens are made here, by the server: ``token=None`` makes a new participant with a fresh
    random token; a known token rejoins as the same participant; an unknown token is refused
    (``token_unknown``) unless ``trusted`` (the kit's own code). A new participant is admitted
    automatically while fewer than the session's ``expected`` are admitted; otherwise it waits
    for the facilitator (``admit_waiting``), and its answers are refused until then."""
    session = _cached_session(conn, cache, code)
    if session["status"] != "open":
        raise LiveStateError("session_closed", _t("session_closed", code=code))
    if group_id is not None and group_id not in session["group_ids"]:
        raise LiveStateError("group_unknown", _t("group_unknown", group=group_id, code=code))
    p = lt.live_participants
    if token is not None:
        found = conn.execute(_FIND_PARTICIPANT, {"sid": session["id"], "token": token}).first()
        if found is not None:
            if group_id is not None:
                conn.execute(update(p).where(p.c.id == found[0]).values(group_id=group_id))
            admitted = found[1] is not None or not session["admission"]
            return Joined(int(found[0]), token, admitted, False)
        if not trusted:
            raise LiveStateError("token_unknown", _t("token_unknown", code=code))
    else:
        token = secrets.token_urlsafe(24)
    pid = int(conn.execute(insert(p).values(
        session_id=session["id"], token=token, group_id=group_id, language=language,
        joined_at=now())).inserted_primary_key[0])
    if not session["admission"]:
        return Joined(pid, token, True, True)
    lim = conn.execute(select(_LIM.c.expected).where(_LIM.c.session_id == session["id"])
                       .with_for_update()).first()  # one admission at a time (PostgreSQL)
    expected = lim[0] if lim is not None else None
    admitted = False
    if expected is not None and _admitted_count(conn, session["id"]) < expected:
        conn.execute(insert(_ADM).values(participant_id=pid, session_id=session["id"],
                                         how="auto", admitted_at=now()))
        admitted = True
    return Joined(pid, token, admitted, True)


def _check_expected(expected: int | None) -> int | None:
    if expected is None:
        return None
    if isinstance(expected, bool) or not isinstance(expected, int) \
            or not 1 <= expected <= MAX_EXPECTED:
        raise KitError(_t("expected", max=MAX_EXPECTED, value=expected))
    return expected


def _admitted_count(conn: Connection, session_id: int) -> int:
    return int(conn.execute(select(func.count()).select_from(_ADM)
                            .where(_ADM.c.session_id == session_id)).scalar())


def admission(store: Store, session_id: int) -> dict[str, Any]:
    """Joined vs expected: ``expected`` (None: not set), ``joined``, ``admitted``, ``waiting``,
    ``control`` (False for a session from before admission control: everyone counts)."""
    with store.begin() as conn:
        lim = conn.execute(select(_LIM.c.expected).where(_LIM.c.session_id == session_id)).first()
        joined = int(conn.execute(select(func.count()).select_from(_P)
                                  .where(_P.c.session_id == session_id)).scalar())
        if lim is None:
            return {"control": False, "expected": None, "joined": joined, "admitted": joined,
                    "waiting": 0}
        admitted = _admitted_count(conn, session_id)
    return {"control": True, "expected": lim[0], "joined": joined, "admitted": admitted,
            "waiting": joined - admitted}


def _waiting(conn: Connection, session_id: int) -> list[int]:
    q = (select(_P.c.id).select_from(_P.outerjoin(_ADM, _ADM.c.participant_id == _P.c.id))
         .where(_P.c.session_id == session_id, _ADM.c.participant_id.is_(None))
         .order_by(_P.c.joined_at, _P.c.id))
    return [int(x) for x in conn.execute(q).scalars()]


def set_expected(store: Store, session_id: int, expected: int) -> dict[str, Any]:
    """The facilitator's count of the people in the room: waiting participants are admitted
    (first come first) until ``expected`` are admitted; it never un-admits anyone."""
    expected = _check_expected(expected)
    with store.begin() as conn:
        _ensure_limits(conn, session_id)
        conn.execute(update(_LIM).where(_LIM.c.session_id == session_id)
                     .values(expected=expected, updated_at=now()))
        room = max(0, expected - _admitted_count(conn, session_id))
        _admit(conn, session_id, _waiting(conn, session_id)[:room])
    return admission(store, session_id)


def admit_waiting(store: Store, session_id: int, count: int | None = None) -> dict[str, Any]:
    """The facilitator admits ``count`` waiting participants (None: all), first come first; the
    expected number grows to the number admitted."""
    with store.begin() as conn:
        _ensure_limits(conn, session_id)
        waiting = _waiting(conn, session_id)
        _admit(conn, session_id, waiting if count is None else waiting[:max(0, count)])
        n = _admitted_count(conn, session_id)
        conn.execute(update(_LIM).where(_LIM.c.session_id == session_id,
                                        (_LIM.c.expected.is_(None)) | (_LIM.c.expected < n))
                     .values(expected=n, updated_at=now()))
    return admission(store, session_id)


def _ensure_limits(conn: Connection, session_id: int) -> None:
    if conn.execute(select(_LIM.c.session_id).where(_LIM.c.session_id == session_id)
                    .with_for_update()).first() is None:
        raise NotFoundError(_t("no_admission", session=session_id))


def _admit(conn: Connection, session_id: int, participant_ids: Sequence[int]) -> None:
    if participant_ids:
        stamp = now()
        conn.execute(insert(_ADM), [{"participant_id": p, "session_id": session_id,
                                     "how": "facilitator", "admitted_at": stamp}
                                    for p in participant_ids])


def participant_status(store: Store, code: str, token: str) -> dict[str, bool]:
    """Whether ``token`` is a participant of the session and whether it is admitted."""
    with store.begin() as conn:
        session = _session_row(conn, code)
        found = conn.execute(_FIND_PARTICIPANT, {"sid": session["id"], "token": token}).first()
    if found is None:
        return {"joined": False, "admitted": False}
    return {"joined": True, "admitted": found[1] is not None or not session["admission"]}


def _cached_session(conn: Connection, cache: dict[Any, Any], code: str) -> dict[str, Any]:
    key = ("session", code)
    if key not in cache:
        cache[key] = _session_row(conn, code)
    return cache[key]


def _open_round(conn: Connection, cache: dict[Any, Any], code: str, token: str,
                round_id: int) -> tuple[dict[str, Any], int]:
    """The checks of a submission (session open, participant known and admitted, round of the
    session and open) in ONE query: a room of 300 answering at once pays one read each."""
    row = conn.execute(_CHECK_SUBMISSION, {"code": code, "token": token, "rid": round_id}).first()
    if row is None:
        raise NotFoundError(_t("session_unknown", code=code))
    sid, status, limited, pid, admitted, round_session, round_status = row
    if status != "open":
        raise LiveStateError("session_closed", _t("session_closed", code=code))
    if pid is None:
        raise LiveStateError("participant_unknown", _t("participant_unknown", code=code))
    if admitted is None and limited is not None:
        raise LiveStateError("not_admitted", _t("not_admitted", code=code))
    if round_session != sid:
        raise LiveStateError("round_unknown", _t("round_of_session", code=code, round=round_id))
    if round_status != "open":
        raise LiveStateError("round_closed", _t("round_closed", code=code, round=round_id))
    return {"id": round_id, "session_id": sid, "status": round_status}, int(pid)


def save_answers(store: Store, code: str, token: str, round_id: int, answers: Iterable[AnswerIn],
                 *, replace_prefix: str | None = None, remove: Sequence[str] = (),
                 max_entries: int | None = None) -> SaveResult:
    """Insert or change a participant's answers to an open round, in one transaction.

    ``replace_prefix`` removes the participant's other answers whose question starts with it
    (a dot-vote replaces the whole earlier vote); ``remove`` deletes named questions (an entry
    the participant took back); ``max_entries`` caps a participant's ``entry:`` answers in the
    round. Identical answers count as unchanged (idempotent resubmission).
    """
    answers = list(answers)
    for attempt in (1, 2):
        try:
            with store.begin() as conn:
                return answer_in(conn, {}, code, token, round_id, answers,
                                 replace_prefix=replace_prefix, remove=remove,
                                 max_entries=max_entries)
        except IntegrityError:  # a concurrent insert of the same answer (PostgreSQL): retry once
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def answer_in(conn: Connection, cache: dict[Any, Any], code: str, token: str, round_id: int,
              answers: Sequence[AnswerIn], *, replace_prefix: str | None = None,
              remove: Sequence[str] = (), max_entries: int | None = None) -> SaveResult:
    """``save_answers`` on an open connection. Every check runs before the first write, so a
    refused submission leaves nothing behind even inside a shared batch transaction."""
    a = lt.live_answers
    stamp = now()
    saved = unchanged = removed = 0
    answers = list({ans.question: ans for ans in answers}.values())  # the last one counts
    _, pid = _open_round(conn, cache, code, token, round_id)
    existing = {r.question: r for r in conn.execute(_OWN_ANSWERS, {"rid": round_id, "pid": pid})}
    wanted = {ans.question for ans in answers}
    if max_entries is not None:
        entries = {q for q in existing if q.startswith("entry:")} - set(remove)
        entries |= {q for q in wanted if q.startswith("entry:")}
        if len(entries) > max_entries:
            raise LiveStateError("too_many_entries", _t("too_many_entries", limit=max_entries))
    replaced = [q for q in existing if replace_prefix is not None
                and q.startswith(replace_prefix) and q not in wanted]
    gone = [q for q in existing if q in set(remove)] + replaced
    if gone:
        removed = conn.execute(delete(a).where(a.c.round_id == round_id,
                                               a.c.participant_id == pid,
                                               a.c.question.in_(gone))).rowcount
    new_rows, changed_rows = [], []
    for ans in answers:
        data = None if ans.data is None else json.dumps(ans.data, sort_keys=True,
                                                        ensure_ascii=False)
        old = existing.get(ans.question)
        if old is None:
            new_rows.append({"round_id": round_id, "participant_id": pid,
                             "question": ans.question, "value": ans.value, "text": ans.text,
                             "data": data, "created_at": stamp, "updated_at": stamp})
        elif (old.value, old.text, old.data) == (ans.value, ans.text, data):
            unchanged += 1
        else:
            changed_rows.append({"aid": old.id, "value": ans.value, "text": ans.text,
                                 "data": data, "updated_at": stamp})
    if new_rows:
        conn.execute(_INSERT_ANSWER, new_rows)
    if changed_rows:
        conn.execute(_UPDATE_ANSWER, changed_rows)
    saved = len(new_rows) + len(changed_rows)
    return SaveResult(saved, unchanged, removed)


def run_batch(store: Store, jobs: Sequence[Any]) -> list[Any]:
    """Run ``job(conn, cache)`` callables in ONE transaction (group commit) and return each
    job's result, or the ``KitError`` it raised (such a job wrote nothing). If the transaction
    itself fails, each job is run again alone, so one bad job never costs the others. Results
    are returned only after the commit: a caller acknowledges nothing that is not stored."""
    results: list[Any] = []
    try:
        with store.begin() as conn:
            cache: dict[Any, Any] = {}
            for job in jobs:
                try:
                    results.append(job(conn, cache))
                except KitError as exc:
                    results.append(exc)
        return results
    except Exception as exc:  # noqa: BLE001 - retried one by one below
        if len(jobs) == 1:
            return [exc]
        return [run_batch(store, [job])[0] for job in jobs]


def participant_answers(store: Store, code: str, token: str, round_ids: Sequence[int]
                        ) -> list[dict[str, Any]]:
    """A participant's own answers to some rounds (to show them again after a reload)."""
    a, p, ss = lt.live_answers, lt.live_participants, lt.live_sessions
    with store.begin() as conn:
        rows = conn.execute(
            select(a.c.round_id, a.c.question, a.c.value, a.c.text, a.c.data)
            .join(p, p.c.id == a.c.participant_id).join(ss, ss.c.id == p.c.session_id)
            .where(ss.c.code == code, p.c.token == token,
                   a.c.round_id.in_(list(round_ids)))).mappings().all()
    return [_decode_answer(r) for r in rows]


def _decode_answer(row: Any) -> dict[str, Any]:
    out = dict(row)
    out["data"] = json.loads(out["data"]) if out.get("data") else None
    return out


def load_answers(store: Store, *, session_id: int | None = None,
                 round_ids: Sequence[int] | None = None,
                 admitted_only: bool = True, stamps: bool = True) -> pd.DataFrame:
    """Answers of a session or of some rounds: id, round_id, participant (a number, never the
    token), group_id, question, value, text, data (decoded), created_at, updated_at.

    Only admitted participants' answers unless ``admitted_only=False`` (raw export): a
    participant the facilitator did not admit never counts toward anything. ``stamps=False``
    leaves out created_at and updated_at (decoding them is most of the cost of reading a large
    round, and the step rule and the counts need neither)."""
    a, p, r = lt.live_answers, lt.live_participants, lt.live_rounds
    times = (a.c.created_at, a.c.updated_at) if stamps else ()
    q = (select(a.c.id, a.c.round_id, p.c.id.label("participant"), p.c.group_id, a.c.question,
                a.c.value, a.c.text, a.c.data, *times)
         .join(p, p.c.id == a.c.participant_id).join(r, r.c.id == a.c.round_id))
    if admitted_only:
        q = (q.outerjoin(_ADM, _ADM.c.participant_id == p.c.id)
             .outerjoin(_LIM, _LIM.c.session_id == r.c.session_id)
             .where(_ADM.c.participant_id.is_not(None) | _LIM.c.session_id.is_(None)))
    if session_id is not None:
        q = q.where(r.c.session_id == session_id)
    if round_ids is not None:
        q = q.where(a.c.round_id.in_(list(round_ids)))
    frame = _frame(store, q.order_by(a.c.id))
    frame["data"] = frame["data"].astype(object).map(
        lambda v: json.loads(v) if isinstance(v, str) and v else None).astype(object)
    return frame


def count_answers(store: Store, round_id: int) -> tuple[int, int]:
    """(participants who answered, answers) in a round: the console's cheap live counter."""
    a = lt.live_answers
    with store.begin() as conn:
        row = conn.execute(select(func.count(func.distinct(a.c.participant_id)), func.count())
                           .where(a.c.round_id == round_id)).first()
    return int(row[0]), int(row[1])


# -- published results ------------------------------------------------------------------------
def latest_published(store: Store, round_id: int) -> dict[str, Any] | None:
    """The newest published version of a round's results: version, respondents, published_at
    and ``answers`` (the frozen answer rows as a DataFrame like ``load_answers``)."""
    pub = lt.live_published
    with store.begin() as conn:
        row = conn.execute(select(pub).where(pub.c.round_id == round_id)
                           .order_by(pub.c.version.desc()).limit(1)).mappings().first()
    if row is None:
        return None
    out = dict(row)
    out["answers"] = frozen_frame(json.loads(out["answers"]))
    return out


def latest_version(store: Store, round_id: int) -> tuple[int, str]:
    """(version, published_at) of a round's newest published version ((0, '') if none): a cheap
    check that also tells a version of a database made again from scratch from an older one."""
    pub = lt.live_published
    with store.begin() as conn:
        row = conn.execute(select(pub.c.version, pub.c.published_at)
                           .where(pub.c.round_id == round_id)
                           .order_by(pub.c.version.desc()).limit(1)).first()
    return (0, "") if row is None else (int(row[0]), str(row[1]))


def answers_fingerprint(store: Store, round_id: int) -> tuple[Any, ...]:
    """(count, last change, sum of ids) of a round's admitted answers: changes whenever an
    answer is added, changed or taken back, so an unchanged round needs no new look."""
    a, p, r = lt.live_answers, lt.live_participants, lt.live_rounds
    q = (select(func.count(), func.max(a.c.updated_at), func.coalesce(func.sum(a.c.id), 0))
         .select_from(a.join(p, p.c.id == a.c.participant_id).join(r, r.c.id == a.c.round_id)
                      .outerjoin(_ADM, _ADM.c.participant_id == p.c.id)
                      .outerjoin(_LIM, _LIM.c.session_id == r.c.session_id))
         .where(a.c.round_id == round_id,
                _ADM.c.participant_id.is_not(None) | _LIM.c.session_id.is_(None)))
    with store.begin() as conn:
        return tuple(conn.execute(q).first())


FROZEN_COLUMNS = ["id", "participant", "group_id", "question", "value", "text", "data"]


def frozen_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=FROZEN_COLUMNS)
    frame["value"] = frame["value"].astype(float)
    frame["data"] = frame["data"].astype(object)
    return frame


def publish_version(store: Store, round_id: int, version: int, respondents: int,
                    answers: pd.DataFrame) -> bool:
    """Store version ``version`` of a round's results (False: another process was first)."""
    columns = [answers[c].to_numpy(dtype=object).tolist() for c in FROZEN_COLUMNS]  # fast
    for col in columns:  # NaN (a missing value or text) is stored as null
        col[:] = [None if v != v else v for v in col]
    rows = [dict(zip(FROZEN_COLUMNS, rec, strict=True)) for rec in zip(*columns, strict=True)]
    try:
        with store.begin() as conn:
            conn.execute(insert(lt.live_published).values(
                round_id=round_id, version=version, respondents=respondents,
                answers=json.dumps(rows, ensure_ascii=False, default=_jsonable),
                published_at=now()))
    except IntegrityError:
        return False
    return True


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"cannot store {type(value).__name__} in a published version")  # dev-text


def count_participants(store: Store, session_id: int) -> int:
    p = lt.live_participants
    with store.begin() as conn:
        return int(conn.execute(select(func.count()).where(p.c.session_id == session_id)).scalar())


def answers_signature(store: Store, session_id: int) -> tuple[int, int, str]:
    """(answers, participants, last change) of a session: the console polls this every second
    and recomputes charts only when it changes."""
    a, r = lt.live_answers, lt.live_rounds
    with store.begin() as conn:
        n, last = conn.execute(select(func.count(), func.max(a.c.updated_at))
                               .select_from(a.join(r, r.c.id == a.c.round_id))
                               .where(r.c.session_id == session_id)).first()
        turns = conn.execute(select(func.count(), func.max(lt.live_turns.c.started_at),
                                    func.max(lt.live_turns.c.ended_at))
                             .select_from(lt.live_turns.join(r, r.c.id == lt.live_turns.c.round_id))
                             .where(r.c.session_id == session_id)).first()
    people = admission(store, session_id)
    return int(n), people["admitted"], f"{last}|{tuple(turns)}|{people}"


def session_signature(store: Store, code: str) -> tuple[Any, ...] | None:
    """What anyone's view of session ``code`` depends on, cheaply: its revision (every
    facilitator change), its answers (count, last change, sum of ids) and its admission counts.
    The push loop reads it twice a second per watched session; None when there is no session."""
    ss, a, r = lt.live_sessions, lt.live_answers, lt.live_rounds
    with store.begin() as conn:
        row = conn.execute(select(ss.c.id, ss.c.revision, ss.c.status)
                           .where(ss.c.code == code)).first()
        if row is None:
            return None
        sid = row[0]
        answers = conn.execute(select(func.count(), func.max(a.c.updated_at),
                                      func.coalesce(func.sum(a.c.id), 0))
                               .select_from(a.join(r, r.c.id == a.c.round_id))
                               .where(r.c.session_id == sid)).first()
        joined = conn.execute(select(func.count()).select_from(_P)
                              .where(_P.c.session_id == sid)).scalar()
        admitted = conn.execute(select(func.count()).select_from(_ADM)
                                .where(_ADM.c.session_id == sid)).scalar()
        expected = conn.execute(select(_LIM.c.expected).where(_LIM.c.session_id == sid)).scalar()
    return (int(row[1]), row[2], int(answers[0]), str(answers[1]), int(answers[2]), int(joined),
            int(admitted or 0), expected)


def round_respondents(store: Store, round_id: int) -> int:
    """Admitted participants who answered a round (the projector's "answered" count)."""
    a, p, r = lt.live_answers, lt.live_participants, lt.live_rounds
    q = (select(func.count(func.distinct(a.c.participant_id)))
         .select_from(a.join(p, p.c.id == a.c.participant_id).join(r, r.c.id == a.c.round_id)
                      .outerjoin(_ADM, _ADM.c.participant_id == p.c.id)
                      .outerjoin(_LIM, _LIM.c.session_id == r.c.session_id))
         .where(a.c.round_id == round_id,
                _ADM.c.participant_id.is_not(None) | _LIM.c.session_id.is_(None)))
    with store.begin() as conn:
        return int(conn.execute(q).scalar() or 0)


# -- actions ------------------------------------------------------------------------------------
def add_action(store: Store, session_id: int, group_id: str, action: str, owner: str = "",
               due_date: str | None = None, dimension: str | None = None,
               status: str = "open") -> int:
    _check_status(status)
    stamp = now()
    with store.begin() as conn:
        aid = conn.execute(insert(lt.live_actions).values(
            session_id=session_id, group_id=group_id, action=action, owner=owner,
            due_date=due_date, dimension=dimension, status=status, created_at=stamp,
            updated_at=stamp)).inserted_primary_key[0]
        _bump(conn, session_id)
    return int(aid)


def update_action(store: Store, action_id: int, **values: Any) -> None:
    """Change an action's fields (e.g. ``status='done'`` when reviewed at the next gathering)."""
    allowed = {"action", "owner", "due_date", "dimension", "status"}
    unknown = set(values) - allowed
    if unknown:
        raise ValueError(f"unknown action fields: {sorted(unknown)}")  # dev-text
    if "status" in values:
        _check_status(values["status"])
    with store.begin() as conn:
        done = conn.execute(update(lt.live_actions).where(lt.live_actions.c.id == action_id)
                            .values(updated_at=now(), **values)).rowcount
        if not done:
            raise NotFoundError(_t("action_unknown", action=action_id))


def _check_status(status: str) -> None:
    if status not in ACTION_STATUSES:
        raise KitError(_t("action_status", status=status, options=", ".join(ACTION_STATUSES)))


def list_actions(store: Store, group_id: str) -> pd.DataFrame:
    """A group's action plan from every live session, oldest first.

    Columns: action, owner, due_date, dimension, status, session_id, created_at, updated_at
    (``session_id`` is the session's join code). Empty (with these columns) when there is none.
    """
    la, ss = lt.live_actions, lt.live_sessions
    q = (select(la.c.action, la.c.owner, la.c.due_date, la.c.dimension, la.c.status,
                ss.c.code.label("session_id"), la.c.created_at, la.c.updated_at)
         .join(ss, ss.c.id == la.c.session_id).where(la.c.group_id == group_id)
         .order_by(la.c.created_at, la.c.id))
    return _frame(store, q, ACTION_COLUMNS)


def list_session_actions(store: Store, session_id: int, group_ids: Sequence[str] | None = None,
                         include_earlier: bool = False) -> pd.DataFrame:
    """Actions made in a session (id, group_id and the ACTION_COLUMNS); with ``include_earlier``
    also the open actions of the same groups from earlier sessions, for review."""
    la, ss = lt.live_actions, lt.live_sessions
    cond = la.c.session_id == session_id
    if include_earlier and group_ids:
        cond = cond | (la.c.group_id.in_(list(group_ids)) & (la.c.session_id < session_id))
    q = (select(la.c.id, la.c.group_id, la.c.action, la.c.owner, la.c.due_date, la.c.dimension,
                la.c.status, ss.c.code.label("session_id"), la.c.created_at, la.c.updated_at)
         .join(ss, ss.c.id == la.c.session_id).where(cond).order_by(la.c.created_at, la.c.id))
    return _frame(store, q, ["id", "group_id", *ACTION_COLUMNS])


# -- airtime turns ------------------------------------------------------------------------------
def start_turn(store: Store, round_id: int, speaker: str, at: float) -> None:
    """``speaker`` starts speaking at ``at`` (epoch seconds); whoever spoke before stops."""
    t = lt.live_turns
    with store.begin() as conn:
        conn.execute(update(t).where(t.c.round_id == round_id, t.c.ended_at.is_(None))
                     .values(ended_at=at))
        conn.execute(insert(t).values(round_id=round_id, speaker=speaker, started_at=at))


def stop_turns(store: Store, round_id: int, at: float) -> None:
    t = lt.live_turns
    with store.begin() as conn:
        conn.execute(update(t).where(t.c.round_id == round_id, t.c.ended_at.is_(None))
                     .values(ended_at=at))


def undo_turn(store: Store, round_id: int) -> None:
    """Remove the last recorded turn (a mistaken tap)."""
    t = lt.live_turns
    with store.begin() as conn:
        last = conn.execute(select(func.max(t.c.id)).where(t.c.round_id == round_id)).scalar()
        if last is not None:
            conn.execute(delete(t).where(t.c.id == last))


def list_turns(store: Store, round_ids: Sequence[int]) -> pd.DataFrame:
    """Turns of rounds: round_id, speaker, started_at, ended_at (NaN while speaking)."""
    t = lt.live_turns
    q = (select(t.c.round_id, t.c.speaker, t.c.started_at, t.c.ended_at)
         .where(t.c.round_id.in_(list(round_ids))).order_by(t.c.id))
    return _frame(store, q, ["round_id", "speaker", "started_at", "ended_at"])


def _frame(store: Store, query: Any, columns: list[str] | None = None) -> pd.DataFrame:
    with store.begin() as conn:
        result = conn.execute(query)
        rows = [tuple(row) for row in result]  # plain tuples: pandas reads Row objects slowly
        return pd.DataFrame(rows, columns=columns or list(result.keys()))
