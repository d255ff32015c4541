"""What stands between a request and a kernel in ``kit serve``: who may see which kernel, how
many kernels may live, who waits, and logs that never hold a secret.

- ``ViewerBindings``: each kernel is bound to the browser that opened its page (a random,
  HttpOnly cookie); everyone else is refused on the kernel's endpoints.
- ``KernelGate``: a cap on the kernels viewers hold, and a first-come queue (tickets in a
  cookie) with a wait estimate for the rest.
- ``redact`` / ``install_log_redaction``: query strings (keys, codes, tokens) never reach a log.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import os
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

VIEWER_COOKIE = "kit_viewer"
QUEUE_COOKIE = "kit_queue"
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,64}$")


def new_token() -> str:
    return secrets.token_urlsafe(24)


def valid_token(value: str | None) -> bool:
    return bool(value) and bool(_TOKEN.match(value or ""))


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


# -- kernels bound to the browser that opened them -----------------------------------------------
class ViewerBindings:
    """kernel id -> hash of the viewer cookie of the page that started or took the kernel."""

    def __init__(self) -> None:
        self._owners: dict[str, str] = {}
        self._lock = threading.Lock()

    def bind(self, kernel_id: str, viewer_token: str) -> None:
        with self._lock:
            self._owners[kernel_id] = _digest(viewer_token)

    def allowed(self, kernel_id: str, viewer_token: str | None) -> bool:
        """True only for the browser the kernel is bound to (never for an unbound kernel)."""
        with self._lock:
            owner = self._owners.get(kernel_id)
        if owner is None or not valid_token(viewer_token):
            return False
        return hmac.compare_digest(owner, _digest(viewer_token or ""))

    def forget(self, kernel_id: str) -> None:
        with self._lock:
            self._owners.pop(kernel_id, None)

    def bound(self, live: Iterable[str]) -> set[str]:
        """The bound kernels among ``live`` ones; forgets those that are gone."""
        live = set(live)
        with self._lock:
            for kernel_id in set(self._owners) - live:
                del self._owners[kernel_id]
            return set(self._owners)


# -- a cap on kernels and a queue ----------------------------------------------------------------
@dataclass(frozen=True)
class Admission:
    """``admitted`` or the place in the queue, with a wait estimate in seconds."""

    admitted: bool
    position: int = 0
    wait_seconds: int = 0
    ticket: str = ""
    full: bool = False  # the queue itself is full: come back later


class KernelGate:
    """At most ``max_viewers`` kernels held by viewers; the rest wait in line, first come first.

    A queued viewer holds a ticket (a cookie) and asks again every few seconds (the wait page
    reloads itself); a ticket not asked for within ``ticket_ttl`` seconds leaves the line. The
    wait estimate is the position times the mean time between two kernels being freed lately
    (``slot_seconds`` until the first is measured).
    """

    def __init__(
        self,
        max_viewers: int,
        *,
        max_queue: int = 1000,
        ticket_ttl: float = 30.0,
        slot_seconds: float = 20.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_viewers < 1 or max_queue < 0:
            raise ValueError("KernelGate needs max_viewers >= 1 and max_queue >= 0")  # dev-text
        self.max_viewers = max_viewers
        self.max_queue = max_queue
        self.ticket_ttl = ticket_ttl
        self._clock = clock
        self._queue: OrderedDict[str, float] = OrderedDict()  # ticket digest -> last seen
        self._starting = 0  # admitted, kernel not yet counted as live
        self._held = 0  # kernels viewers hold (set by the server from its bindings)
        self._slot_seconds = slot_seconds
        self._last_free: float | None = None
        self._lock = threading.Lock()

    # what the server tells the gate
    def set_held(self, held: int) -> None:
        with self._lock:
            if held < self._held:
                now = self._clock()
                if self._last_free is not None:
                    gap = (now - self._last_free) / (self._held - held)
                    self._slot_seconds = 0.7 * self._slot_seconds + 0.3 * max(gap, 1.0)
                self._last_free = now
            self._held = held

    def started(self) -> None:
        """An admitted viewer's kernel now counts as held (or it failed to start)."""
        with self._lock:
            self._starting = max(0, self._starting - 1)

    # what a request asks
    def _expire(self, now: float) -> None:
        for digest, seen in list(self._queue.items()):
            if now - seen > self.ticket_ttl:
                del self._queue[digest]

    def admit(self, ticket: str | None) -> Admission:
        """Let a viewer start a kernel now, or give them (or keep) their place in line."""
        with self._lock:
            now = self._clock()
            self._expire(now)
            free = self.max_viewers - self._held - self._starting
            digest = _digest(ticket) if valid_token(ticket) else None
            if digest is not None and digest in self._queue:
                position = list(self._queue).index(digest)  # 0: first in line
                if position < free:
                    del self._queue[digest]
                    self._starting += 1
                    return Admission(True)
                self._queue[digest] = now
                return self._waiting(position + 1, ticket or "", free)
            if free > len(self._queue):
                self._starting += 1
                return Admission(True)
            if len(self._queue) >= self.max_queue:
                return Admission(False, full=True, wait_seconds=self._estimate(len(self._queue)))
            ticket = new_token()
            self._queue[_digest(ticket)] = now
            return self._waiting(len(self._queue), ticket, free)

    def _estimate(self, position: int) -> int:
        return max(1, math.ceil(position * self._slot_seconds))

    def _waiting(self, position: int, ticket: str, free: int) -> Admission:
        ahead = max(position - max(free, 0), 1)
        return Admission(False, position, self._estimate(ahead), ticket)

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            self._expire(self._clock())
            return {
                "max_viewers": self.max_viewers,
                "held": self._held,
                "starting": self._starting,
                "queued": len(self._queue),
            }


def default_max_kernels(kernel_mb: int = 400, cores: int | None = None) -> int:
    """Kernels this machine can hold: half its memory at ``kernel_mb`` each, at most 4 per core."""
    cores = cores or os.cpu_count() or 1
    try:
        memory_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not Linux
        memory_mb = 4096
    return max(2, min(memory_mb // 2 // kernel_mb, 4 * cores))


# -- logs without secrets ------------------------------------------------------------------------
_QUERY = re.compile(r"(?P<path>/[^\s?'\"<>]*)\?[^\s'\"<>)]*")
_SECRET_PARAM = re.compile(r"\b(key|code|token|session|_xsrf|ticket)=[^\s&'\"<>)]+", re.I)
_QUERY_SECRET = re.compile(r"/kit/q/[^/\s]+/")


def redact(text: str) -> str:
    """``text`` without query strings, secret-looking parameters or the kernels' query secret."""
    text = _QUERY.sub(lambda m: m.group("path") + "?[redacted]", text)
    text = _SECRET_PARAM.sub(lambda m: m.group(1) + "=[redacted]", text)
    return _QUERY_SECRET.sub("/kit/q/[redacted]/", text)


_installed = False


def install_log_redaction() -> None:
    """Every log record made in this process from now on is redacted (message and arguments)."""
    global _installed
    if _installed:
        return
    _installed = True
    previous = logging.getLogRecordFactory()

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken record is logged as it is
            return record
        clean = redact(message)
        if clean != message or record.args:
            record.msg, record.args = clean, None
        return record

    logging.setLogRecordFactory(factory)
