"""Limits on failed attempts (keys, invitation codes, live join codes), per client.

A guesser gets ``max_failures`` wrong tries per ``window_seconds``; after that every attempt from
that client is refused, without being checked, until the oldest failure leaves the window, and
the refusal says how many seconds to wait. A success does not reset the count (a guesser with
one valid code must not get unlimited guesses). In memory, per server process; bounded in the
number of clients it remembers (the least recently failed are forgotten first).
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable


class FailureLimiter:
    """Failed attempts per client key within a sliding window."""

    def __init__(
        self,
        max_failures: int = 10,
        window_seconds: float = 60.0,
        *,
        max_clients: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_failures < 1 or window_seconds <= 0 or max_clients < 1:
            raise ValueError(  # dev-text: a programming error
                "FailureLimiter needs max_failures >= 1, window > 0, max_clients >= 1"
            )
        self.max_failures = max_failures
        self.window_seconds = float(window_seconds)
        self.max_clients = max_clients
        self._clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def _recent(self, client: str, now: float) -> deque[float] | None:
        times = self._failures.get(client)
        if times is None:
            return None
        while times and times[0] <= now - self.window_seconds:
            times.popleft()
        if not times:
            del self._failures[client]
            return None
        return times

    def retry_after(self, client: str) -> int:
        """Seconds ``client`` must wait before its next attempt is checked (0: go ahead)."""
        with self._lock:
            now = self._clock()
            times = self._recent(client, now)
            if times is None or len(times) < self.max_failures:
                return 0
            return max(1, math.ceil(times[0] + self.window_seconds - now))

    def fail(self, client: str) -> None:
        """Count one failed attempt of ``client``."""
        with self._lock:
            now = self._clock()
            times = self._recent(client, now)
            if times is None:
                times = self._failures[client] = deque()
            times.append(now)
            self._failures.move_to_end(client)
            while len(self._failures) > self.max_clients:
                self._failures.popitem(last=False)
