"""The console's subscription to pushed changes: no store read per second while nothing happens.

The facilitator console runs in a kernel (JupyterLab or Voilà) beside the live server of
``kit serve``. Instead of reading the store every second, it holds one server-sent event
stream, ``/kit/live/api/console/<code>/events`` (the facilitator key required), and reads the
store only when the server says the session changed (an answer, a join, a facilitator action;
at most a few events a second however busy the room is). Without a live server (a console in
JupyterLab alone, a server that refuses the stream, or one that stopped answering), the
console falls back to reading the store every ``FALLBACK_SECONDS`` while it tries to connect
again every ``RECONNECT_SECONDS``, so it keeps working, at a bounded cost either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlsplit

from kit.live.push import HEARTBEAT_SECONDS
from kit.live.session import LIVE_PREFIX
from kit.settings import Settings

log = logging.getLogger("kit.live.feed")

FALLBACK_SECONDS = 1.0  # the store is read this often while no stream is held
RECONNECT_SECONDS = 5.0  # a lost or refused stream is tried again this often
CONNECT_SECONDS = 3.0  # to connect and to read the response's headers
# a stream that sent nothing (not even a heartbeat) for this long is dead: connect again
QUIET_SECONDS = 2 * HEARTBEAT_SECONDS + 5


def server_url(settings: Settings) -> str:
    """The live server as a kernel on the same machine reaches it (not the public URL: the
    kernel talks to its own server directly, also behind a proxy)."""
    host = settings.host if settings.host not in ("", "0.0.0.0", "::") else "127.0.0.1"
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{settings.port}"


def events_url(settings: Settings, code: str) -> str:
    return f"{server_url(settings)}{LIVE_PREFIX}/api/console/{quote(code)}/events"


class ConsoleFeed:
    """Calls ``on_change()`` on the event loop for every change the server pushes.

    ``connected`` is True while a stream is held (the console then reads the store only on
    events); ``attempts`` counts connection attempts (bounded by ``RECONNECT_SECONDS``)."""

    def __init__(self, url: str, key: str, on_change: Callable[[], Any]) -> None:
        self.url = url
        self.key = key
        self.on_change = on_change
        self.connected = False
        self.attempts = 0
        self.events = 0
        self.ended = False  # the server said the session ended (its stream then closes)
        self.last_error: str | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.stop()
        self._task = asyncio.get_event_loop().create_task(self._run())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
        self.connected = False

    async def _run(self) -> None:
        while True:
            self.attempts += 1
            try:
                await self._hold()
                self.last_error = None
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - no server, refused, dropped: fall back
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.debug("console stream %s: %s", self.url, self.last_error)
            finally:
                self.connected = False
            await asyncio.sleep(RECONNECT_SECONDS)

    async def _hold(self) -> None:
        """One stream until it ends (the server closes it after ``STREAM_SECONDS``), goes
        quiet, or fails. HTTP/1.0, so the server sends the events as they are (no chunks)."""
        parts = urlsplit(self.url)
        if any(c in self.key for c in "\r\n"):
            raise ValueError("a key is one line")  # dev-text
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(parts.hostname, parts.port or 80), CONNECT_SECONDS
        )
        try:
            writer.write(
                f"GET {parts.path} HTTP/1.0\r\nHost: {parts.netloc}\r\n"
                f"X-Kit-Key: {self.key}\r\nAccept: text/event-stream\r\n\r\n".encode()
            )
            status = (await asyncio.wait_for(reader.readline(), CONNECT_SECONDS)).split()
            if len(status) < 2 or status[1] != b"200":
                raise ConnectionError(f"HTTP {status[1:2]}")  # dev-text
            while (await asyncio.wait_for(reader.readline(), CONNECT_SECONDS)).strip():
                pass  # the response's headers
            self.connected = True
            state = False
            while True:
                line = await asyncio.wait_for(reader.readline(), QUIET_SECONDS)
                if not line:
                    return  # the server ended the stream: connect again
                line = line.strip()
                if line == b"event: state":
                    state = True
                elif state and line.startswith(b"data:") and b'"ended":true' in line:
                    self.ended = True  # the facilitator ended the session
                elif not line and state:
                    state = False
                    self.events += 1
                    with contextlib.suppress(Exception):  # the console shows its own errors
                        self.on_change()
        finally:
            self.connected = False
            writer.close()
