"""The participant side of live sessions, served without a kernel per participant.

``live_handlers(settings)`` returns tornado handler specs under ``/kit/live/``; ``kit serve``
mounts them in front of Voilà's, and ``make_app(settings)`` builds a standalone application
(tests, benchmark, ``python -m kit.live.server``).

Pages: ``/kit/live/`` and ``/kit/live/join`` (type a code), ``/kit/live/s/<code>`` (the
participant page). JSON API: ``/kit/live/api/s/<code>/join|state|answer`` for participants;
``/kit/live/api/console/<code>/state|round`` for the facilitator (key in the ``X-Kit-Key`` header
or ``?key=``). An answer is acknowledged only after its transaction has committed; writes run one
at a time on a writer thread, reads on a small pool, so the IO loop never waits on the database.

Anonymity (docs/DESIGN.md, "Live rules"): the server makes every token and admits joins up to the
facilitator's expected number (later ones wait); revealed results are published versions
(``kit.live.visibility``) and go only to admitted phones; failed attempts (unknown code, foreign
token, wrong key) are limited per client and answered 429 with Retry-After.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache, partial
from pathlib import Path
from typing import Any

import tornado.web

from kit.errors import KitError, NotFoundError
from kit.i18n import load_texts, t
from kit.live import facilitate
from kit.live import rounds as rl
from kit.live import session as ls
from kit.live.push import Pusher
from kit.live.summary import PUBLISHED, records, round_results
from kit.live.visibility import visible_round
from kit.ratelimit import FailureLimiter
from kit.settings import LANGUAGES, Settings
from kit.store import Store, open_store
from kit.store import live as repo
from kit.web import PlainHandler, standalone_app, standalone_main

log = logging.getLogger("kit.live")

STATIC_DIR = Path(__file__).resolve().parent / "static"
MAX_BODY = 16 * 1024  # bytes; a pulse of 60 items with text fits many times over
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
# Failed attempts per client (unknown session code, a token the server did not make, a wrong
# facilitator key) before it must wait: see kit.live.session for why codes then stay unguessable.
FAILURES_ALLOWED = 10
FAILURE_WINDOW = 60.0  # seconds
COOKIE_PREFIX = "kit_live_"
# revealed results shown on phones too (the others only on the projector and the console)
SHARED_RESULTS = ("pulse", "purpose", "agenda_audit", "poll", "wordcloud", "qa", "boundedness",
                  "decision_review")
RESULTS_TTL = 2.0  # seconds revealed results are reused before they are computed again
STATE_TTL = 0.5  # seconds a session's public state is reused before the revision is re-read
PAGE_KEYS_PREFIX = "live.page."

MAX_BATCH = 256  # submissions committed together (group commit)
_WRITER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kit-live-write")
_READERS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="kit-live-read")


@lru_cache(maxsize=1)
def page_template() -> str:
    return (STATIC_DIR / "participant.html").read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def page_texts() -> dict[str, dict[str, str]]:
    """The participant page's texts per language (keys without the ``live.page.`` prefix)."""
    out: dict[str, dict[str, str]] = {lang: {} for lang in LANGUAGES}
    for key, per_lang in load_texts().items():
        if key.startswith(PAGE_KEYS_PREFIX):
            for lang in LANGUAGES:
                out[lang][key.removeprefix(PAGE_KEYS_PREFIX)] = per_lang[lang]
    return out


@lru_cache(maxsize=512)
def render_page(code: str | None, lang: str, error: str | None) -> str:
    """The participant page with its config inlined as JSON that cannot end the script tag."""
    config = {"code": code, "lang": lang, "texts": page_texts(), "prefix": ls.LIVE_PREFIX,
              "error": error}
    blob = json.dumps(config, ensure_ascii=False).replace("<", "\\u003c").replace("&", "\\u0026")
    return page_template().replace("__KIT_CONFIG__", blob).replace("__LANG__", lang)


class LiveContext:
    """What the handlers share: settings, store, and a short cache of sessions' public state."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._store: Store | None = None
        self._cache: dict[str, tuple[float, int, dict[str, Any]]] = {}
        self._pending: list[tuple[Any, asyncio.Future[Any]]] = []
        self._results: dict[tuple[str, str, int], tuple[float, str]] = {}
        self._flushing = False
        self._admitted: set[tuple[str, str]] = set()
        self.guesses = FailureLimiter(FAILURES_ALLOWED, FAILURE_WINDOW)
        self.keys = FailureLimiter(FAILURES_ALLOWED, FAILURE_WINDOW)
        self.pusher = Pusher(self._signature)

    async def _signature(self, code: str) -> Any:
        """A watched session's signature; a round whose timer ran out is closed first, so
        the phones and the projector see it close on time."""
        hit = self._cache.get(code)
        if hit is not None and any(facilitate.expired(r) for r in hit[2]["rounds"]):
            await self.write(facilitate.close_expired, hit[2]["session"]["id"])
            self.forget(code)
        return await self.read(repo.session_signature, code)

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = open_store(self.settings)
        return self._store

    @property
    def inline(self) -> bool:
        """SQLite answers in well under a millisecond: calling it on the IO loop costs less than
        handing work to threads (and avoids their fight for the GIL). A database across the
        network (PostgreSQL) is called from threads, so the loop never waits on it."""
        return self.store.engine.dialect.name == "sqlite"

    async def write(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if self.inline:
            return fn(self.store, *args, **kwargs)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(_WRITER, partial(fn, self.store, *args, **kwargs))

    async def batch(self, job: Any) -> Any:
        """Run ``job(conn, cache)`` in the next group commit; its result once committed."""
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append((job, fut))
        if not self._flushing:
            self._flushing = True
            asyncio.ensure_future(self._flush())
        result = await fut
        if isinstance(result, BaseException):
            raise result
        return result

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            await asyncio.sleep(0)  # let the requests already read join this batch
            while self._pending:
                batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
                jobs = [job for job, _ in batch]
                try:
                    if self.inline:
                        results = repo.run_batch(self.store, jobs)
                    else:
                        results = await loop.run_in_executor(_WRITER, repo.run_batch,
                                                             self.store, jobs)
                except Exception as exc:  # noqa: BLE001 - every waiting request gets the error
                    results = [exc] * len(batch)
                for (_, fut), res in zip(batch, results, strict=True):
                    if not fut.done():
                        fut.set_result(res)
        finally:
            self._flushing = False

    async def read(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if self.inline:
            return fn(self.store, *args, **kwargs)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(_READERS, partial(fn, self.store, *args, **kwargs))

    async def shared_results(self, code: str, state: dict[str, Any], lang: str) -> str:
        """Revealed rounds' results as JSON, computed at most every ``RESULTS_TTL`` seconds."""
        key = (code, lang, state["session"]["revision"])
        hit = self._results.get(key)
        if hit is not None and time.monotonic() - hit[0] < RESULTS_TTL:
            return hit[1]
        rounds = [r for r in state["rounds"] if r["revealed"] and r["exercise"] in SHARED_RESULTS]
        data = await self.write(_shared_results, rounds, self.settings, lang)
        text = json.dumps(data)
        if len(self._results) > 256:
            self._results.clear()
        self._results[key] = (time.monotonic(), text)
        return text

    async def admitted(self, code: str, token: str) -> bool:
        """Whether ``token`` is an admitted participant (remembered once true: admission is
        never taken back, so a room polling every 2 s costs no query per poll)."""
        if (code, token) in self._admitted:
            return True
        status = await self.read(repo.participant_status, code, token)
        if status["admitted"]:
            if len(self._admitted) > 100_000:
                self._admitted.clear()
            self._admitted.add((code, token))
        return bool(status["admitted"])

    def forget(self, code: str) -> None:
        self._cache.pop(code, None)

    async def session_state(self, code: str, max_age: float = STATE_TTL) -> dict[str, Any]:
        """The session and its rounds, re-read when the facilitator changed something (its
        revision is looked at when the copy is older than ``max_age`` seconds)."""
        hit = self._cache.get(code)
        now = time.monotonic()
        if hit is not None and now - hit[0] < max_age:
            return hit[2]
        rev = await self.read(repo.session_revision, code)
        if rev is None:
            self.forget(code)
            raise NotFoundError(t("live.store.session_unknown", "en", code=code))
        if hit is not None and hit[1] == rev[1]:
            self._cache[code] = (now, rev[1], hit[2])
            return hit[2]
        state = await self.write(_load_state, self.settings, code)
        self._cache[code] = (now, state["session"]["revision"], state)
        return state


def _load_state(store: Store, settings: Settings, code: str) -> dict[str, Any]:
    session = repo.get_session(store, code)
    rounds = repo.list_rounds(store, session["id"])
    statements: dict[int, list[dict[str, Any]]] = {}
    for rnd in rounds:
        if rnd["exercise"] == "purpose" and rnd["config"].get("phase") == "vote" \
                and rnd["status"] == "open":
            statements[rnd["id"]] = vote_statements(store, settings, rnd)
        elif rnd["exercise"] == "qa" and rnd["status"] == "open":
            statements[rnd["id"]] = qa_statements(store, settings, rnd)
    return {"session": session, "rounds": rounds, "statements": statements, "bodies": {}}


def qa_statements(store: Store, settings: Settings, rnd: dict[str, Any]) -> list[dict[str, Any]]:
    """The Q&A entries phones see and vote on: those of the published version the facilitator
    allowed (``kit.live.facilitate.approve_entry``)."""
    approved = set(rnd["config"].get("approved") or [])
    shown = facilitate.published_ids(store, settings, rnd)
    return [{"id": i, "text": x} for i, x in shown.items() if i in approved]


def vote_statements(store: Store, settings: Settings, rnd: dict[str, Any]) -> list[dict[str, Any]]:
    """The statements phones vote on: the published statements (at least ``min_respondents``
    wrote; shown to everyone, so they are a published version like any result)."""
    shown = visible_round(store, settings, rnd)
    if shown.answers is None:
        return []
    st = shown.answers[shown.answers["question"] == "statement"]
    return [{"id": int(i), "text": x} for i, x in zip(st["id"], st["text"], strict=True)]


class BaseHandler(PlainHandler):
    """JSON errors in the participant's language; the traceback only in the log (headers, no
    xsrf cookie and the client's address: ``kit.web.PlainHandler``)."""

    def initialize(self, ctx: LiveContext) -> None:
        self.ctx = ctx

    def too_many(self, limiter: FailureLimiter) -> bool:
        """Answer 429 with Retry-After when this client used up its failed attempts."""
        wait = self.wait_for(limiter)
        if not wait:
            return False
        self.fail(429, "error.rate_limited", seconds=wait)
        return True

    def guessed_wrong(self) -> None:
        self.ctx.guesses.fail(self.client)

    @property
    def lang(self) -> str:
        lang = self.get_argument("lang", None) or self.request.headers.get("X-Kit-Lang")
        return lang if lang in LANGUAGES else self.ctx.settings.language

    def fail(self, status: int, key: str, **fields: Any) -> None:
        self.set_status(status)
        self.finish({"ok": False, "error": key, "message": t(f"live.{key}", self.lang, **fields)})

    def json_body(self) -> dict[str, Any] | None:
        """The request's JSON object, or None after answering 413/400 itself."""
        raw = getattr(self, "_body", None)
        raw = self.request.body if raw is None else bytes(raw)
        if getattr(self, "_too_large", False) or len(raw) > MAX_BODY:
            self.fail(413, "error.too_large", limit=MAX_BODY // 1024)
            return None
        try:
            body = json.loads(raw or b"null")
        except (ValueError, UnicodeDecodeError):
            body = None
        if not isinstance(body, dict):
            self.fail(400, "error.malformed")
            return None
        return body

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.finish({"ok": False, "error": "error.server",
                     "message": t("live.error.server", self.lang)})

    def handle_kit_error(self, exc: KitError, code: str) -> None:
        if isinstance(exc, rl.SubmissionError):
            self.set_status(422)
            self.finish({"ok": False, "error": exc.key, "message": exc.message(self.lang)})
        elif isinstance(exc, repo.LiveStateError):
            status = 409 if exc.reason in ("session_closed", "round_closed") else 404
            if exc.reason in ("participant_unknown", "token_unknown"):
                self.guessed_wrong()
                status = 403
            elif exc.reason == "not_admitted":
                status = 403
            elif exc.reason in ("too_many_entries", "group_unknown"):
                status = 422
            self.fail(status, f"error.{exc.reason}", code=code, limit=rl.MAX_ENTRIES)
        elif isinstance(exc, NotFoundError):
            self.guessed_wrong()
            self.fail(404, "error.session_unknown", code=code)
        else:
            log.exception("live request failed")
            self.fail(500, "error.server")


class BodyHandler(BaseHandler):
    """Reads a request body of at most ``MAX_BODY`` bytes, whatever the server's own limit: a
    larger one is refused (413) without being kept in memory."""

    def prepare(self) -> None:
        self._body = bytearray()
        self._too_large = False
        length = self.request.headers.get("Content-Length", "0")
        if length.isdigit() and int(length) > MAX_BODY:
            self._too_large = True

    def data_received(self, chunk: bytes) -> None:
        if not self._too_large:
            self._body += chunk
            if len(self._body) > MAX_BODY:
                self._too_large = True
                self._body = bytearray()


class _Limited(Exception):
    pass


class PageHandler(BaseHandler):
    """The participant page (and the join page) with its texts and the session code inlined."""

    async def get(self, code: str | None = None) -> None:
        if code is None and self.get_argument("code", None):
            self.redirect(f"{ls.LIVE_PREFIX}/s/{ls.normalise_code(self.get_argument('code'))}")
            return
        config: dict[str, Any] = {"code": None, "lang": self.lang, "texts": page_texts(),
                                  "prefix": ls.LIVE_PREFIX, "error": None}
        if code is not None:
            code = ls.normalise_code(code)
            config["code"] = code
            wait = self.ctx.guesses.retry_after(self.client)
            try:
                if wait:
                    self.set_header("Retry-After", str(wait))
                    self.set_status(429)
                    raise _Limited

                state = await self.ctx.session_state(code)
                session = state["session"]
                if self.get_argument("lang", None) not in LANGUAGES:
                    config["lang"] = session["language"]
                if session["status"] != "open":
                    config["error"] = t("live.error.session_closed", config["lang"], code=code)
                    self.set_status(409)
            except _Limited:
                config["error"] = t("live.error.rate_limited", config["lang"], seconds=wait)
            except NotFoundError:
                self.guessed_wrong()
                config["error"] = t("live.error.session_unknown", config["lang"], code=code)
                self.set_status(404)
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Content-Security-Policy",
                        "default-src 'self'; script-src 'self'; style-src 'self'; "
                        "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'")
        self.finish(render_page(config["code"], config["lang"], config["error"]))


@tornado.web.stream_request_body
class JoinHandler(BodyHandler):
    """Join a session. The server makes every token: a body without one (or with the token this
    browser got before, also kept in an HttpOnly cookie) joins or rejoins; a token the server
    did not make is refused. Whether the participant counts yet is in ``admitted``."""

    async def post(self, code: str) -> None:
        code = ls.normalise_code(code)
        if self.too_many(self.ctx.guesses):
            return
        body = self.json_body()
        if body is None:
            return
        token = body.get("token")
        if token is not None and (not isinstance(token, str) or not TOKEN_RE.match(token)):
            self.fail(400, "error.malformed")
            return
        group = body.get("group")
        if group is not None and not isinstance(group, str):
            self.fail(400, "error.malformed")
            return
        cookie = self.get_cookie(COOKIE_PREFIX + code)
        try:
            lang = self.lang
            joined = await self.ctx.batch(lambda conn, cache: _join(conn, cache, code, token,
                                                                    cookie, group or None, lang))
        except KitError as exc:
            self.handle_kit_error(exc, code)
            return
        if joined.new:
            self.ctx.pusher.poke(code)
        self.set_cookie(COOKIE_PREFIX + code, joined.token, path=ls.LIVE_PREFIX, httponly=True,
                        samesite="Strict", secure=self.request.protocol == "https",
                        expires_days=2)
        self.finish({"ok": True, "token": joined.token, "admitted": joined.admitted})


def _join(conn: Any, cache: dict[Any, Any], code: str, token: str | None, cookie: str | None,
          group: str | None, lang: str) -> repo.Joined:
    """A body token must be one the server made; a cookie token that is no longer known (a new
    database) is simply ignored."""
    if token is None and cookie and TOKEN_RE.match(cookie):
        try:
            return repo.join_in(conn, cache, code, cookie, group, lang)
        except repo.LiveStateError as exc:
            if exc.reason != "token_unknown":
                raise
    return repo.join_in(conn, cache, code, token, group, lang)


class StateHandler(BaseHandler):
    """The session's open rounds for a participant, with the participant's own answers."""

    async def get(self, code: str) -> None:
        code = ls.normalise_code(code)
        if self.too_many(self.ctx.guesses):
            return
        try:
            state = await self.ctx.session_state(code)
        except KitError as exc:
            self.handle_kit_error(exc, code)
            return
        lang = self.lang
        body = state["bodies"].get(lang)
        if body is None:  # once per session revision and language, not per participant
            body = state["bodies"][lang] = json.dumps(public_state(state, lang))
        shown = [r["id"] for r in state["rounds"] if r["status"] == "open"]
        token = self.get_argument("token", "")
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        token = token if TOKEN_RE.match(token) else ""
        revealed = any(r["revealed"] and r["exercise"] in SHARED_RESULTS for r in state["rounds"])
        admitted = None
        if token and (revealed or self.get_argument("admission", "0") == "1"):
            admitted = await self.ctx.admitted(code, token)
        if token and self.get_argument("admission", "0") == "1":
            body = body[:-1] + ', "admitted": ' + json.dumps(admitted) + "}"
        if token and shown and self.get_argument("mine", "0") == "1":
            mine = await self.ctx.read(repo.participant_answers, code, token, shown)
            body = body[:-1] + ', "mine": ' + json.dumps(mine) + "}"
        if revealed and admitted:  # results only for the room's admitted phones, not a stranger
            results = await self.ctx.shared_results(code, state, lang)
            body = body[:-1] + ', "results": ' + results + "}"
        self.finish(body)


def public_state(state: dict[str, Any], lang: str) -> dict[str, Any]:
    """What every participant of a session sees (no one's answers): the open rounds and the
    rounds whose results the facilitator revealed."""
    session = state["session"]
    shown = [r for r in state["rounds"] if r["status"] == "open"
             or (r["revealed"] and r["exercise"] in SHARED_RESULTS)]
    return {
        "ok": True, "revision": session["revision"], "status": session["status"],
        "title": session["title"], "language": session["language"],
        "groups": session["group_ids"] if len(session["group_ids"]) > 1 else [],
        "rounds": [rl.public_round(r, lang, state["statements"].get(r["id"])) for r in shown],
    }


@tornado.web.stream_request_body
class AnswerHandler(BodyHandler):
    """Save a participant's answers; 200 only after the transaction committed."""

    async def post(self, code: str) -> None:
        code = ls.normalise_code(code)
        body = self.json_body()
        if body is None:
            return
        if self.too_many(self.ctx.guesses):
            return
        token, round_id = body.get("token"), body.get("round")
        if not isinstance(token, str) or not TOKEN_RE.match(token) \
                or not isinstance(round_id, int) or isinstance(round_id, bool):
            self.fail(400, "error.malformed")
            return
        try:
            state = await self.ctx.session_state(code)
            rnd = next((r for r in state["rounds"] if r["id"] == round_id), None)
            if rnd is None:
                raise repo.LiveStateError("round_unknown", t("live.store.round_unknown", "en",
                                                             round=round_id))
            if facilitate.expired(rnd):  # the timer ran out: the round closes now
                await self.ctx.write(facilitate.close_expired, rnd["session_id"])
                self.ctx.forget(code)
                self.ctx.pusher.poke(code)
                raise repo.LiveStateError("round_closed", t("live.store.time_up", "en"))
            ids = {s["id"] for s in state["statements"].get(round_id, [])}
            if rnd["exercise"] == "purpose" and rnd["config"].get("phase") == "vote" and not ids:
                ids = {x["id"] for x in await self.ctx.write(vote_statements, self.ctx.settings,
                                                               rnd)}
            if rnd["exercise"] == "qa" and not ids and "vote" in (body.get("answers") or {}):
                ids = {x["id"] for x in await self.ctx.write(qa_statements, self.ctx.settings,
                                                               rnd)}
            sub = rl.parse_submission(rnd, body.get("answers"), ids)
            result = await self.ctx.batch(lambda conn, cache: repo.answer_in(
                conn, cache, code, token, round_id, sub.answers,
                replace_prefix=sub.replace_prefix, remove=sub.remove,
                max_entries=rl.MAX_QA_ENTRIES if rnd["exercise"] == "qa" else rl.MAX_ENTRIES))
        except KitError as exc:
            if isinstance(exc, repo.LiveStateError) and exc.reason == "round_closed":
                self.ctx.forget(code)
            self.handle_kit_error(exc, code)
            return
        if result.saved or result.removed:
            self.ctx.pusher.poke(code)
        self.finish({"ok": True, "saved": result.saved, "unchanged": result.unchanged,
                     "removed": result.removed, "message": t("live.page.saved", self.lang)})


def publish_revealed(store: Store, settings: Settings, rounds: list[dict[str, Any]]) -> None:
    """The step rule once for every revealed round (a new published version where it allows
    one): the push loop runs it once per change, and the views it then builds for the
    projector and the phones only read the newest version."""
    for rnd in rounds:
        if rnd["revealed"] and rnd["exercise"] in PUBLISHED:
            visible_round(store, settings, rnd)


def _shared_results(store: Store, rounds: list[dict[str, Any]], settings: Settings,
                    lang: str, publish: bool = True) -> dict[str, Any]:
    """Revealed rounds' results for phones: each round's newest published version (with
    ``publish`` first a new version when the step rule allows one)."""
    out = {}
    for rnd in rounds:
        shown = visible_round(store, settings, rnd, publish=publish)
        res = public_results(rnd, shown, settings, lang, store)
        out[str(rnd["id"])] = res
    return out


def public_results(rnd: dict[str, Any], shown: Any, settings: Settings,
                   lang: str, store: Store | None = None) -> dict[str, Any]:
    """A published version as the room sees it (statements: texts and votes, never who; Q&A:
    only the entries the facilitator allowed). A re-vote carries the first round's published
    results as ``before`` (given ``store``)."""
    key = (rnd["id"], shown.version, str(shown.published_at), lang, rnd["revealed"],
           json.dumps(rnd["config"], sort_keys=True), rnd.get("min_respondents"),
           settings.min_respondents, store is not None)
    hit = _PUBLIC.get(key)
    if hit is not None:  # a published version never changes: its results neither
        return json.loads(hit)
    answers = shown.answers if shown.answers is not None else repo.frozen_frame([])
    res = round_results(rnd, answers, settings, lang)
    res["published"] = shown.info()
    if rnd["exercise"] == "purpose" and "statements" in res:
        res["statements"] = [{"text": x["text"], "votes": x["votes"]}
                             for x in res["statements"][:5]]
    if rnd["exercise"] == "qa" and "entries" in res:
        res["entries"] = [{"id": x["id"], "text": x["text"], "votes": x["votes"]}
                          for x in res["entries"] if x["approved"]]
    source = rnd["config"].get("revote_of")
    if store is not None and source:
        try:
            first = repo.get_round(store, int(source))
        except NotFoundError:
            first = None
        if first is not None and first["session_id"] == rnd["session_id"]:
            res["before"] = public_results(first, visible_round(store, settings, first),
                                           settings, lang)
    if len(_PUBLIC) > 512:
        _PUBLIC.clear()
    if not source:  # a re-vote's "before" has versions of its own
        _PUBLIC[key] = json.dumps(res)
    return res


# public results by (round, published version, language, config, thresholds): the phones'
# events, the projector's and every poll of the same version share one computation
_PUBLIC: dict[tuple[Any, ...], str] = {}


@tornado.web.stream_request_body
class ConsoleHandler(BodyHandler):
    """The facilitator's data (key required): every round with its participation count and,
    once revealed, its published results (what the phones see, never more); joined vs
    expected; and the actions open/close/reveal/hide a round, set the expected number, admit."""

    async def authorised(self, code: str) -> dict[str, Any] | None:
        if self.too_many(self.ctx.keys):
            return None
        key = self.request.headers.get("X-Kit-Key") or self.get_argument("key", None)
        try:
            session = await self.ctx.read(repo.get_session, code)
        except NotFoundError:
            self.ctx.keys.fail(self.client)
            self.fail(404, "error.session_unknown", code=code)
            return None
        if not ls.check_key(self.ctx.settings, session, key):
            self.ctx.keys.fail(self.client)
            self.fail(403, "error.key_required")
            return None
        return session

    async def get(self, code: str) -> None:
        code = ls.normalise_code(code)
        session = await self.authorised(code)
        if session is None:
            return
        data = await self.ctx.write(console_state, session, self.ctx.settings, self.lang)
        self.finish(data)

    async def post(self, code: str) -> None:
        code = ls.normalise_code(code)
        session = await self.authorised(code)
        if session is None:
            return
        body = self.json_body()
        if body is None:
            return
        rid, action = body.get("round"), body.get("action")
        expected, count = body.get("expected"), body.get("count")
        for number in (expected, count):
            if number is not None and (isinstance(number, bool) or not isinstance(number, int)
                                       or not 1 <= number <= repo.MAX_EXPECTED):
                self.fail(422, "error.expected", max=repo.MAX_EXPECTED)
                return
        if action in ("admit", "expected"):
            if action == "expected" and expected is None:
                self.fail(422, "error.expected", max=repo.MAX_EXPECTED)
                return
            fn = (partial(repo.admit_waiting, count=count) if action == "admit"
                  else partial(repo.set_expected, expected=expected))
            counts = await self.ctx.write(fn, session["id"])
            self.ctx.forget(code)
            self.ctx.pusher.poke(code)
            self.finish({"ok": True, "admission": counts})
            return
        if action == "end":  # the session ends for everyone: end screens, streams closed
            await self.ctx.write(repo.set_session_status, code, "closed")
            self.ctx.forget(code)
            self.ctx.pusher.poke(code)
            self.finish({"ok": True, "session": {"code": code, "status": "closed"}})
            return
        if action in FACILITATION:
            try:
                done = await self.ctx.write(facilitation, session, self.ctx.settings, body)
            except KitError as exc:
                self.handle_kit_error(exc, code)
                return
            self.ctx.forget(code)
            self.ctx.pusher.poke(code)
            self.finish({"ok": True, **done})
            return
        actions = {"open": {"status": "open"}, "close": {"status": "closed"},
                   "reveal": {"revealed": True}, "hide": {"revealed": False}}
        rounds = {r["id"]: r for r in await self.ctx.read(repo.list_rounds, session["id"])}
        if not isinstance(rid, int) or rid not in rounds or action not in actions:
            self.fail(400, "error.malformed")
            return
        if action == "open" and expected is not None:
            await self.ctx.write(repo.set_expected, session["id"], expected)
        rnd = await self.ctx.write(repo.update_round, rid, **actions[action])
        if action == "open":
            await self.ctx.write(repo.set_current_round, session["id"], rid)
        self.ctx.forget(code)
        self.ctx.pusher.poke(code)
        self.finish({"ok": True, "round": {"id": rnd["id"], "status": rnd["status"],
                                           "revealed": rnd["revealed"]}})


MODERATED = ("qa", "wordcloud", "action_plan")  # the console sees their published version early
FACILITATION = ("timer", "extend", "stop_timer", "revote", "add_round", "approve", "unapprove",
                "hide_word", "show_word", "accept", "current")


def facilitation(store: Store, session: dict[str, Any], settings: Settings,
                 body: dict[str, Any]) -> dict[str, Any]:
    """The console API's facilitator actions beyond open/close/reveal (kit.live.facilitate)."""
    action = body["action"]
    if action == "add_round":
        exercise = body.get("exercise")
        rid = facilitate.add_round(store, session["id"], str(exercise), body.get("config"))
        return {"round": {"id": rid}}
    rid = body.get("round")
    rounds = {r["id"]: r for r in repo.list_rounds(store, session["id"])}
    if isinstance(rid, bool) or not isinstance(rid, int) or rid not in rounds:
        raise rl.SubmissionError("round_of_session")
    if action == "timer":
        rnd = facilitate.set_timer(store, rid, body.get("seconds"))
    elif action == "extend":
        rnd = facilitate.extend_timer(store, rid, body.get("seconds"))
    elif action == "stop_timer":
        rnd = facilitate.stop_timer(store, rid)
    elif action == "revote":
        return {"round": {"id": facilitate.revote(store, rid)}}
    elif action == "current":
        repo.set_current_round(store, session["id"], rid)
        rnd = rounds[rid]
    elif action in ("approve", "unapprove"):
        entry = body.get("entry")
        if isinstance(entry, bool) or not isinstance(entry, int):
            raise rl.SubmissionError("unknown_question", question=str(entry)[:40])
        rnd = facilitate.approve_entry(store, settings, rid, entry, on=action == "approve")
    elif action in ("hide_word", "show_word"):
        rnd = facilitate.hide_word(store, rid, str(body.get("word", "")),
                                   on=action == "hide_word")
    else:  # accept
        entry = body.get("entry")
        if isinstance(entry, bool) or not isinstance(entry, int):
            raise rl.SubmissionError("unknown_question", question=str(entry)[:40])
        text = body.get("text")
        aid = facilitate.accept_proposal(store, settings, rid, entry, str(body.get("group", "")),
                                         text if isinstance(text, str) else None)
        return {"action": {"id": aid}}
    return {"round": {"id": rnd["id"], "status": rnd["status"], "config": rnd["config"]}}


def console_state(store: Store, session: dict[str, Any], settings: Settings,
                  lang: str) -> dict[str, Any]:
    """What the console shows: participation counts for every round, results only for revealed
    rounds and only as their published version (the same the phones get)."""
    rounds = repo.list_rounds(store, session["id"])
    answers = repo.load_answers(store, session_id=session["id"])
    turns = repo.list_turns(store, [r["id"] for r in rounds if r["exercise"] == "airtime"])
    out = []
    for rnd in rounds:
        sub = answers[answers["round_id"] == rnd["id"]]
        if rnd["exercise"] == "airtime":
            results = round_results(rnd, sub, settings, lang, turns[turns["round_id"] == rnd["id"]],
                                    time.time())
        elif rnd["revealed"] or rnd["exercise"] in MODERATED:
            shown = visible_round(store, settings, rnd)
            frozen = shown.answers if shown.answers is not None else repo.frozen_frame([])
            results = {**round_results(rnd, frozen, settings, lang), "published": shown.info()}
            if not rnd["revealed"]:  # what the facilitator moderates: the published version
                results = {"shown": False, "moderation": results}
        else:
            results = {"shown": False}
        out.append({"id": rnd["id"], "exercise": rnd["exercise"], "status": rnd["status"],
                    "revealed": rnd["revealed"], "config": rnd["config"],
                    "respondents": int(sub["participant"].nunique()), "answers": len(sub),
                    "results": results})
    actions = repo.list_session_actions(store, session["id"])
    keep = ("code", "title", "status", "language", "group_ids", "cohort_id", "current_round_id",
            "revision")
    counts = repo.admission(store, session["id"])
    return {"ok": True, "session": {k: session[k] for k in keep},
            "participants": counts["admitted"], "admission": counts, "rounds": out,
            "actions": records(actions.astype({"created_at": str, "updated_at": str}))}


def live_handlers(settings: Settings) -> list[tuple[Any, ...]]:
    """Tornado handler specs for the participant pages and the live JSON API (``/kit/live/``)."""
    # The database runs on worker threads; with CPython's default 5 ms GIL switch interval the IO
    # loop waits up to 5 ms after every socket call while a worker computes (a convoy). 1 ms keeps
    # the loop responsive for a room of 300 at a negligible cost to throughput.
    sys.setswitchinterval(min(sys.getswitchinterval(), 0.001))
    from kit.live import projector  # its handlers build on this module's

    ctx = LiveContext(settings)
    p = ls.LIVE_PREFIX
    code = r"([A-Za-z0-9-]{1,16})"
    kw = {"ctx": ctx}
    return [
        (rf"{p}/?", PageHandler, kw),
        (rf"{p}/join/?", PageHandler, kw),
        (rf"{p}/s/{code}/?", PageHandler, kw),
        (rf"{p}/static/(.*)", tornado.web.StaticFileHandler, {"path": str(STATIC_DIR)}),
        (rf"{p}/api/s/{code}/join", JoinHandler, kw),
        (rf"{p}/api/s/{code}/state", StateHandler, kw),
        (rf"{p}/api/s/{code}/answer", AnswerHandler, kw),
        (rf"{p}/api/console/{code}/state", ConsoleHandler, kw),
        (rf"{p}/api/console/{code}/round", ConsoleHandler, kw),
        *projector.handlers(p, code, kw),
    ]


def make_app(settings: Settings) -> tornado.web.Application:
    """A standalone application with only the live handlers (tests, benchmark, small rooms)."""
    return standalone_app(live_handlers(settings))


def main() -> None:  # pragma: no cover - exercised through subprocess tests
    standalone_main(make_app, "live.cli.serving", ls.LIVE_PREFIX + "/")


if __name__ == "__main__":  # pragma: no cover
    main()
