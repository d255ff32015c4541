"""Pushed updates: server-sent events to the phones, the projector and the console.

One stream per phone (a second stream of the same participant closes the first), a bounded
number of streams per process (``MAX_STREAMS``; beyond it 503 with Retry-After, and the page
falls back to polling). A room of 300 phones waiting costs no requests: the server looks at
each watched session's cheap signature (one small query) every ``WATCH_SECONDS``, and at once
after a change it made itself (an answer, a join, a facilitator action); when the signature
changed it builds each view once (per session, language and kind) and writes it to every
stream. Streams carry a heartbeat comment every ``HEARTBEAT_SECONDS`` (proxies keep them open,
dead ones are found) and an event id: a reconnecting browser sends ``Last-Event-ID`` and gets
the current state only when it changed meanwhile.

What a stream carries is exactly what the polled endpoints return (``kit.live.visibility``'s
published versions, results only to admitted phones), so pushing adds no way to see more.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger("kit.live.push")

# open event streams per process (a plenary of 300 fits several times); KIT_LIVE_MAX_STREAMS
# lowers it on a small machine (each stream is an open socket and a few kB)
MAX_STREAMS = int(os.environ.get("KIT_LIVE_MAX_STREAMS", "2000"))
HEARTBEAT_SECONDS = 15.0  # comment line on an idle stream (nginx's default timeout is 60 s)
WATCH_SECONDS = 0.5  # a watched session's signature is read this often
# after a change made here, the next look comes at most this often: a room answering at once
# makes two or three events a second, each built once, instead of one per answer
SETTLE_SECONDS = 0.5
STREAM_SECONDS = 900.0  # a stream is closed after this long; the browser reconnects
RETRY_MS = 2000  # the browser's reconnect delay (the ``retry:`` field)
_NONCE = secrets.token_hex(3)  # event ids of another process never match this one's


class Hub:
    """The streams of one session and the number of its newest change (``seq``)."""

    def __init__(self, code: str) -> None:
        self.code = code
        self.seq = 0
        self.signature: Any = None
        self.streams: dict[str, Any] = {}
        self.views: dict[Any, Any] = {}  # (seq, kind, lang) -> built view (shared by streams)

    @property
    def event_id(self) -> str:
        """Names the state, not the moment: the same signature gives the same id, so a browser
        reconnecting with ``Last-Event-ID`` is sent the state again only when it changed."""
        cached = self.views.get("event_id")
        if cached is None or cached[0] != self.signature:
            digest = hashlib.sha1(repr(self.signature).encode()).hexdigest()[:12]
            cached = self.views["event_id"] = (self.signature, f"{_NONCE}-{digest}")
        return cached[1]

    def bump(self) -> None:
        self.seq += 1
        self.views.clear()
        for stream in list(self.streams.values()):
            stream.wake.set()

    async def view(self, key: Any, build: Callable[[], Awaitable[Any]]) -> Any:
        """A view of the current change built once and shared by every stream that needs it."""
        full = (self.seq, *key) if isinstance(key, tuple) else (self.seq, key)
        hit = self.views.get(full)
        if hit is None:
            hit = self.views[full] = asyncio.ensure_future(build())
        return await hit


class Pusher:
    """Every hub of a process and the one task that watches their signatures."""

    def __init__(
        self, signature: Callable[[str], Awaitable[Any]], max_streams: int = MAX_STREAMS
    ) -> None:
        self.signature = signature
        self.max_streams = max_streams
        self.hubs: dict[str, Hub] = {}
        self.streams = 0
        self._task: asyncio.Task[None] | None = None
        self._poked: set[str] = set()
        self._wake: asyncio.Event | None = None

    def hub(self, code: str) -> Hub:
        hub = self.hubs.get(code)
        if hub is None:
            hub = self.hubs[code] = Hub(code)
        return hub

    def full(self) -> bool:
        return self.streams >= self.max_streams

    def attach(self, code: str, key: str, stream: Any) -> Hub:
        """Register ``stream`` under ``key`` (a participant's token, ``projector:<n>``): an
        older stream with the same key is told to end."""
        hub = self.hub(code)
        old = hub.streams.get(key)
        if old is not None and old is not stream:
            old.replaced()
        hub.streams[key] = stream
        self.streams += 1
        self._ensure_task()
        return hub

    def detach(self, code: str, key: str, stream: Any) -> None:
        self.streams -= 1
        hub = self.hubs.get(code)
        if hub is not None and hub.streams.get(key) is stream:
            del hub.streams[key]
            if not hub.streams:
                del self.hubs[code]

    def poke(self, code: str) -> None:
        """Something of session ``code`` changed here: look again soon, not in WATCH_SECONDS."""
        if code in self.hubs:
            self._poked.add(code)
            if self._wake is not None:
                self._wake.set()

    def _ensure_task(self) -> None:
        if self._task is None or self._task.done():
            self._wake = asyncio.Event()
            self._task = asyncio.ensure_future(self._watch())

    async def check(self, code: str) -> bool:
        """Read ``code``'s signature; bump its hub when it changed. True if bumped."""
        hub = self.hubs.get(code)
        if hub is None:
            return False
        try:
            sig = await self.signature(code)
        except Exception:  # noqa: BLE001 - a session gone or a database hiccup: try again
            log.debug("signature of %s failed", code, exc_info=True)
            return False
        if sig != hub.signature:
            first = hub.signature is None
            hub.signature = sig
            if not first:
                hub.bump()
                return True
        return False

    async def _watch(self) -> None:
        last_full = last_look = 0.0
        while self.hubs:
            assert self._wake is not None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), WATCH_SECONDS)
            self._wake.clear()
            if self._poked:  # a burst of answers: one event
                await asyncio.sleep(max(0.0, last_look + SETTLE_SECONDS - time.monotonic()))
            now = last_look = time.monotonic()
            if now - last_full >= WATCH_SECONDS:
                codes, last_full = list(self.hubs), now
            else:
                codes = [c for c in self._poked if c in self.hubs]
            self._poked.clear()
            for code in codes:
                await self.check(code)
        self._task = None


def sse_event(data: str, event: str, event_id: str) -> bytes:
    """One server-sent event (``data`` is one line of JSON)."""
    return f"id: {event_id}\nevent: {event}\ndata: {data}\n\n".encode()
