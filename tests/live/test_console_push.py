"""The facilitator console follows pushed changes (kit.live.feed) against a real server process:
it shows answers within a second or so and reads the store only when the server says something
changed; without a live server it falls back to reading the store every second, trying the
stream again at a bounded rate; strangers get no console stream."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from kit.live import feed
from kit.live import session as ls
from kit.live.rounds import AnswerIn
from kit.live.widgets import FacilitatorConsole
from kit.store import live as repo
from tests.live.conftest import EventStream, free_port
from tests.live.test_server import answer, join


def run(scenario: Any) -> Any:
    """``asyncio.run`` on a thread of its own (a browser fixture may hold this thread's loop)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, scenario()).result(timeout=120)


async def until(ok: Any, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not ok():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


def test_console_follows_pushed_changes_without_reading_the_store_each_second(shared) -> None:
    server, settings, store = shared
    made = ls.create_session(
        store, settings, expected=10, title="Pushed console", group_ids=["g1"], language="en"
    )
    console = FacilitatorConsole(settings, made.code, store, key=made.key)
    assert console.feed is None  # nothing follows before start()

    async def scenario() -> dict[str, Any]:
        console.start()
        assert console.feed is not None
        assert await until(lambda: console.feed.connected and console.feed.events >= 1, 10)
        console.open_btn.click()
        rid = console.current
        await asyncio.sleep(0.8)  # the open's own push has arrived
        before = console.polls
        await asyncio.sleep(3.0)  # a quiet room: no store read at all
        idle = console.polls - before
        tokens = [await asyncio.to_thread(join, server, made.code) for _ in range(3)]
        started = time.monotonic()
        for i, token in enumerate(tokens):
            status, _ = await asyncio.to_thread(
                answer, server, made.code, token, rid, {"P01": 1 + i}
            )
            assert status == 200
        shown = await until(lambda: console.answered == 3, 10)
        after = time.monotonic() - started
        busy = console.polls - before - idle
        console.stop()
        return {"idle": idle, "shown": shown, "after": after, "busy": busy}

    got = run(scenario)
    assert got["idle"] == 0, got  # the old console read the store every second
    assert got["shown"], "the answers reached the console"
    # within 1 s on a quiet machine (the server coalesces a burst into one event per 0.5 s);
    # loosely bounded here, where the tests share two cores with other work
    assert got["after"] < 3.0, got
    assert 1 <= got["busy"] <= 8, got  # one read per pushed change, not one per answer or second
    assert console.participants == 3 and console.feed is None


def test_console_without_a_live_server_falls_back_to_reading_the_store(shared) -> None:
    _, settings, store = shared
    made = ls.create_session(
        store, settings, expected=10, title="No server", group_ids=["g1"], language="en"
    )
    nowhere = dataclasses.replace(settings, port=free_port())  # nothing listens there
    console = FacilitatorConsole(nowhere, made.code, store, key=made.key)

    async def scenario() -> dict[str, Any]:
        console.start()
        console.open_btn.click()
        rid = console.current
        before = console.polls
        for n in range(3):
            token = f"fallback-participant-{n:02d}"
            repo.add_participant(store, made.code, token, None, "en")
            repo.save_answers(store, made.code, token, rid, [AnswerIn("P01", 3.0)])
        shown = await until(lambda: console.answered == 3, 5)
        await asyncio.sleep(3.0)
        result = {
            "shown": shown,
            "polls": console.polls - before,
            "attempts": console.feed.attempts,
            "connected": console.feed.connected,
            "error": console.feed.last_error,
        }
        console.stop()
        return result

    got = run(scenario)
    assert got["shown"] and not got["connected"], got
    assert got["polls"] >= 3, got  # the fallback reads the store about every second
    assert got["attempts"] <= 2, got  # and tries the stream again every RECONNECT_SECONDS
    assert got["error"]


def test_strangers_get_no_console_stream(shared) -> None:
    server, settings, store = shared
    made = ls.create_session(
        store, settings, expected=10, title="Closed", group_ids=["g1"], language="en"
    )
    url = f"{server.base}/kit/live/api/console/{made.code}/events"
    ticket = ls.projector_ticket(repo.get_session(store, made.code))
    for headers in ({}, {"X-Kit-Key": "not-the-key"}, {"X-Kit-Key": ticket}):
        stream = EventStream(url, headers=headers)
        assert stream.status == 403, headers
        assert "key" in stream.body().lower()
        stream.close()
    stream = EventStream(url + "-nope", headers={"X-Kit-Key": made.key})
    assert stream.status == 404
    stream.close()
    stream = EventStream(url, headers={"X-Kit-Key": made.key})
    assert stream.status == 200
    first = stream.wait_for(lambda d: True)
    assert set(first["data"]) == {"changed", "ended"}  # a nudge: no answers, no results
    join(server, made.code)
    second = stream.wait_for(lambda d: True)
    assert second["data"]["changed"] != first["data"]["changed"]
    stream.close()
    assert feed.events_url(settings, made.code) == url
