"""The room's big screen and the pushed streams: projector page, phone and projector events.

The projector page (``/kit/live/p/<code>?t=<ticket>``) needs no kernel: the console opens it
with the session's projector ticket (``kit.live.session.projector_ticket``, read-only). It shows
the join code and QR code, the round the console is on, how many have answered of those
expected, the round's timer, and, once the facilitator reveals them, the round's published
results; it follows the console by itself (pushed, with polling as the fallback).

Streams (``kit.live.push``): ``/api/s/<code>/events`` for a participant (the same data as the
polled ``state``: results only for admitted phones), ``/api/p/<code>/events?t=`` for the
projector. What a projector may see is what the room sees on the facilitator's screen: counts
and published results, never a live answer.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from functools import lru_cache
from typing import Any

import tornado.iostream

from kit.errors import KitError, NotFoundError
from kit.live import rounds as rl
from kit.live import server as srv
from kit.live import session as ls
from kit.live.push import HEARTBEAT_SECONDS, RETRY_MS, STREAM_SECONDS, Hub, sse_event
from kit.live.summary import PUBLISHED
from kit.live.visibility import visible_round
from kit.settings import Settings
from kit.store import Store
from kit.store import live as repo

PROJECTED = PUBLISHED  # every exercise of participants' answers, as published versions
PROJECTOR_KEYS_PREFIX = "live.projector."
MINE = ', "mine": '


def _dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


@lru_cache(maxsize=1)
def projector_template() -> str:
    return (srv.STATIC_DIR / "projector.html").read_text(encoding="utf-8")


@lru_cache(maxsize=256)
def qr_data_url(url: str) -> str:
    svg = ls.qr_svg(url, scale=10)
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def projector_texts() -> dict[str, dict[str, str]]:
    """The projector page's texts per language, with the participant page's."""
    out = {lang: dict(texts) for lang, texts in srv.page_texts().items()}
    for key, per_lang in srv.load_texts().items():
        if key.startswith(PROJECTOR_KEYS_PREFIX):
            for lang in out:
                out[lang]["projector." + key.removeprefix(PROJECTOR_KEYS_PREFIX)] = per_lang[lang]
    return out


def timer_of(rnd: dict[str, Any]) -> dict[str, Any] | None:
    """The round's timer (``ends_at`` epoch seconds, ``seconds`` it was set to), or None."""
    ends = rnd["config"].get("ends_at")
    if ends is None:
        return None
    return {"ends_at": float(ends), "seconds": rnd["config"].get("timer_seconds")}


def projector_state(
    store: Store, settings: Settings, state: dict[str, Any], lang: str, publish: bool = True
) -> dict[str, Any]:
    """What the room's screen shows now (JSON-ready): the round the console is on, counts,
    timer, and its published results once revealed (the same version the phones see; with
    ``publish`` first a new version when the step rule allows one)."""
    session = state["session"]
    rounds = state["rounds"]
    counts = repo.admission(store, session["id"])
    out: dict[str, Any] = {
        "ok": True,
        "code": session["code"],
        "display_code": ls.display_code(session["code"]),
        "join_url": ls.join_url(settings, session["code"]),
        "title": session["title"],
        "status": session["status"],
        "revision": session["revision"],
        "expected": counts["expected"],
        "admitted": counts["admitted"],
        "now": time.time(),
        "round": None,
        "results": None,
        "ended": False,
    }
    if session["status"] != "open":  # ended: the end screen, no results left on the wall
        out.update({"ended": True, "join_url": None, "expected": None, "admitted": None})
        return out
    current = session.get("current_round_id")
    rnd = next((r for r in rounds if r["id"] == current), None)
    if rnd is None:
        rnd = next((r for r in rounds if r["status"] == "open"), None)
    if rnd is None:
        return out
    public = rl.public_round(rnd, lang, state["statements"].get(rnd["id"]))
    public.update(
        {
            "status": rnd["status"],
            "revealed": rnd["revealed"],
            "timer": timer_of(rnd),
            "answered": repo.round_respondents(store, rnd["id"]),
        }
    )
    out["round"] = public
    if rnd["revealed"] and rnd["exercise"] in PROJECTED:
        shown = visible_round(store, settings, rnd, publish=publish)
        out["results"] = srv.public_results(rnd, shown, settings, lang, store)
    return out


async def publish(ctx: srv.LiveContext, hub: Hub, state: dict[str, Any]) -> None:
    """The step rule once per change of a watched session, whichever view needs it first
    (the projector's and the phones' views then read the same newest version)."""

    async def run() -> None:
        await ctx.write(srv.publish_revealed, ctx.settings, state["rounds"])

    await hub.view("publish", run)


def ended(hub: Hub) -> bool:
    """The facilitator ended the session: its streams send the final state and close."""
    return hub.signature is not None and hub.signature[1] != "open"


class StreamHandler(srv.BaseHandler):
    """A server-sent event stream of one session; subclasses say what each event carries."""

    wake: asyncio.Event

    def replaced(self) -> None:
        """A newer stream of the same participant (or projector) took over: end this one."""
        self._ended = True
        self.wake.set()

    def on_connection_close(self) -> None:
        self._ended = self._gone = True
        if hasattr(self, "wake"):
            self.wake.set()

    async def build(self, hub: Hub) -> str:
        raise NotImplementedError

    def core(self, text: str) -> str:
        """What decides whether an event is new (a phone's own answers, sent once, do not)."""
        return text

    async def stream(self, code: str, key: str) -> None:
        pusher = self.ctx.pusher
        if pusher.full():
            self.set_header("Retry-After", "30")
            self.fail(503, "error.busy")
            return
        self._ended = self._gone = False
        self.wake = asyncio.Event()
        hub = pusher.attach(code, key, self)
        try:
            if hub.signature is None:
                await pusher.check(code)
            seen = self.request.headers.get("Last-Event-ID", "") == hub.event_id
            if ended(hub) and seen:  # it has the final state: 204 stops the browser retrying
                self.set_status(204)
                return
            self.set_header("Content-Type", "text/event-stream; charset=utf-8")
            self.set_header("X-Accel-Buffering", "no")  # nginx: pass each event on at once
            self.write(f"retry: {RETRY_MS}\n\n")
            seq = hub.seq
            last = None
            if not seen:
                text = await self.build(hub)
                last = self.core(text)
                self.write(sse_event(text, "state", hub.event_id))
            await self.flush()
            end = time.monotonic() + STREAM_SECONDS
            while not self._ended and not ended(hub) and time.monotonic() < end:
                timeout = min(HEARTBEAT_SECONDS, max(0.0, end - time.monotonic()))
                try:
                    await asyncio.wait_for(self.wake.wait(), timeout)
                except TimeoutError:
                    pass
                self.wake.clear()
                if self._ended:
                    break
                if hub.seq != seq:
                    seq = hub.seq
                    text = await self.build(hub)
                    if self.core(text) == last:  # one more answer, no new step: nothing new
                        continue
                    last = self.core(text)
                    self.write(sse_event(text, "state", hub.event_id))
                else:
                    self.write(": heartbeat\n\n")
                await self.flush()
        except tornado.iostream.StreamClosedError:
            self._gone = True
        except KitError as exc:  # the session went away: tell the page, then end
            self.write(sse_event(_dumps({"ok": False, "message": str(exc)}), "gone", hub.event_id))
        finally:
            pusher.detach(code, key, self)
        if not self._gone and not self._finished:
            self.finish()


class ParticipantEvents(StreamHandler):
    """A phone's stream: the session's public state, the phone's admission, its own answers
    when the open rounds change, and revealed results only once it is admitted."""

    async def get(self, code: str) -> None:
        code = ls.normalise_code(code)
        if self.too_many(self.ctx.guesses):
            return
        token = self.get_argument("token", "") or self.get_cookie(srv.COOKIE_PREFIX + code) or ""
        if not srv.TOKEN_RE.match(token):
            self.fail(400, "error.malformed")
            return
        try:
            status = await self.ctx.read(repo.participant_status, code, token)
        except NotFoundError:
            self.guessed_wrong()
            self.fail(404, "error.session_unknown", code=code)
            return
        if not status["joined"]:
            self.guessed_wrong()
            self.fail(403, "error.participant_unknown")
            return
        self.token, self.language = token, self.lang
        self.open_ids: list[int] | None = None
        await self.stream(code, "p:" + token)

    async def build(self, hub: Hub) -> str:
        ctx, code, lang = self.ctx, hub.code, self.language

        async def load() -> dict[str, Any]:
            return await ctx.session_state(code, max_age=0)

        state = await hub.view("state", load)
        admitted = await ctx.admitted(code, self.token)
        open_ids = [r["id"] for r in state["rounds"] if r["status"] == "open"]
        mine = None
        if open_ids != self.open_ids:
            self.open_ids = open_ids
            mine = (
                await ctx.read(repo.participant_answers, code, self.token, open_ids)
                if open_ids
                else []
            )
        text = await hub.view(
            ("phone", lang, admitted), lambda: self.shared_text(hub, state, admitted)
        )
        if mine is not None:  # last, so that ``core`` can cut it off
            text = text[:-1] + MINE + json.dumps(mine) + "}"
        return text

    async def shared_text(self, hub: Hub, state: dict[str, Any], admitted: bool) -> str:
        """What every phone of one language and admission gets for this change (built once)."""
        ctx, lang = self.ctx, self.language
        body = state["bodies"].get(lang)
        if body is None:
            body = state["bodies"][lang] = json.dumps(srv.public_state(state, lang))
        text = body[:-1] + ", " + json.dumps({"admitted": admitted})[1:-1]
        revealed = [
            r for r in state["rounds"] if r["revealed"] and r["exercise"] in srv.SHARED_RESULTS
        ]
        if revealed and admitted:

            async def results() -> str:
                await publish(ctx, hub, state)
                data = await ctx.write(srv._shared_results, revealed, ctx.settings, lang, False)
                return json.dumps(data)

            text += ', "results": ' + await hub.view(("results", lang), results)
        return text.replace("\n", " ") + "}"

    def core(self, text: str) -> str:
        return text.split(MINE, 1)[0] if MINE in text else text[:-1]  # without the final }


class ConsoleEvents(StreamHandler):
    """The facilitator console's stream (key required, like the console API): one small event
    per change of the session, so the console reads the store only when something changed
    (``kit.live.feed``)."""

    authorised = srv.ConsoleHandler.authorised

    async def get(self, code: str) -> None:
        code = ls.normalise_code(code)
        if await self.authorised(code) is None:
            return
        await self.stream(code, f"console:{id(self)}")

    async def build(self, hub: Hub) -> str:
        return _dumps({"changed": hub.event_id, "ended": ended(hub)})


class ProjectorBase(srv.BaseHandler):
    async def session_for(self, code: str) -> dict[str, Any] | None:
        """The session when the projector ticket is right (failures limited per client)."""
        if self.too_many(self.ctx.keys):
            return None
        try:
            session = await self.ctx.read(repo.get_session, code)
        except NotFoundError:
            self.ctx.keys.fail(self.client)
            self.fail(404, "error.session_unknown", code=code)
            return None
        if not ls.check_projector_ticket(session, self.get_argument("t", "")):
            self.ctx.keys.fail(self.client)
            self.fail(403, "error.ticket")
            return None
        return session

    async def projector_view(self, code: str, lang: str, hub: Hub | None = None) -> str:
        """The projector's state; on a stream (``hub``) after the change's one publication."""
        state = await self.ctx.session_state(code, max_age=0)
        if hub is not None:
            await publish(self.ctx, hub, state)
        data = await self.ctx.write(projector_state, self.ctx.settings, state, lang, hub is None)
        return _dumps(data)


class ProjectorEvents(ProjectorBase, StreamHandler):
    async def get(self, code: str) -> None:
        code = ls.normalise_code(code)
        if await self.session_for(code) is None:
            return
        self.language = self.lang
        await self.stream(code, f"projector:{id(self)}")

    async def build(self, hub: Hub) -> str:
        lang = self.language
        return await hub.view(("projector", lang), lambda: self.projector_view(hub.code, lang, hub))


class ProjectorState(ProjectorBase):
    """The projector's state, polled (the fallback when a stream cannot be held open)."""

    async def get(self, code: str) -> None:
        code = ls.normalise_code(code)
        if await self.session_for(code) is None:
            return
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        lang, hub = self.lang, self.ctx.pusher.hubs.get(code)
        if hub is not None and hub.signature is not None:  # streams watch it: their view
            self.finish(
                await hub.view(("projector", lang), lambda: self.projector_view(code, lang, hub))
            )
            return
        self.finish(await self.projector_view(code, lang))


class ProjectorPage(ProjectorBase):
    async def get(self, code: str) -> None:
        code = ls.normalise_code(code)
        session = await self.session_for(code)
        if session is None:
            return
        lang = self.get_argument("lang", None) or session["language"]
        lang = lang if lang in srv.LANGUAGES else session["language"]
        config = {
            "code": code,
            "lang": lang,
            "texts": projector_texts(),
            "prefix": ls.LIVE_PREFIX,
            "ticket": self.get_argument("t"),
            "qr": qr_data_url(ls.join_url(self.ctx.settings, code)),
        }
        blob = _dumps(config).replace("<", "\\u003c").replace("&", "\\u0026")
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header(
            "Content-Security-Policy",
            "default-src 'self'; script-src 'self'; style-src 'self'; "
            "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'",
        )
        self.finish(projector_template().replace("__KIT_CONFIG__", blob).replace("__LANG__", lang))


def handlers(p: str, code: str, kw: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [
        (rf"{p}/api/s/{code}/events", ParticipantEvents, kw),
        (rf"{p}/p/{code}/?", ProjectorPage, kw),
        (rf"{p}/api/p/{code}/state", ProjectorState, kw),
        (rf"{p}/api/p/{code}/events", ProjectorEvents, kw),
        (rf"{p}/api/console/{code}/events", ConsoleEvents, kw),
    ]
