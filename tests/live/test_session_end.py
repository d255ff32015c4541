"""What the room sees when the facilitator ends the session, against a real server process:
every stream (projector, phone, console) gets one final state and closes; a reconnect that
already has it gets 204 (a browser's EventSource then stops retrying); the projector's state
is an end screen without the round or any (stale) result; nothing more can be answered."""

from __future__ import annotations

from typing import Any

import pytest

from kit.live import session as ls
from kit.live.widgets import FacilitatorConsole
from kit.store import live as repo
from tests.live.conftest import EventStream
from tests.live.test_interactions import add, console, reveal
from tests.live.test_server import KEY, answer, join


@pytest.fixture
def room(shared) -> tuple[Any, ls.CreatedSession, Any, int, list[str]]:
    server, settings, store = shared
    made = ls.create_session(
        store, settings, expected=10, title="Samling 4", group_ids=["g1"], language="nb"
    )
    tokens = [join(server, made.code) for _ in range(4)]
    rid = add(server, made, "poll", {"kind": "scale", "question": "Klare?", "min": 1, "max": 5})
    for i, token in enumerate(tokens):
        assert answer(server, made.code, token, rid, {"value": 1 + i})[0] == 200
    reveal(server, made, rid)
    return server, made, store, rid, tokens


def projector_url(server: Any, store: Any, made: ls.CreatedSession, what: str) -> str:
    ticket = ls.projector_ticket(repo.get_session(store, made.code))
    return f"{server.base}/kit/live/api/p/{made.code}/{what}?t={ticket}&lang=en"


def test_ending_the_session_closes_every_stream_with_an_end_screen(room) -> None:
    server, made, store, rid, tokens = room
    projector = EventStream(projector_url(server, store, made, "events"))
    phone = EventStream(f"{server.base}/kit/live/api/s/{made.code}/events?token={tokens[0]}")
    desk = EventStream(
        f"{server.base}/kit/live/api/console/{made.code}/events", headers={KEY: made.key}
    )
    shown = projector.wait_for(lambda d: d["results"] is not None)
    assert shown["data"]["results"]["published"]["version"] == 1 and not shown["data"]["ended"]
    phone.wait_for(lambda d: str(rid) in d.get("results", {}))
    desk.wait_for(lambda d: True)
    status, data = console(server, made, action="end")
    assert status == 200 and data["session"]["status"] == "closed"
    final = projector.wait_for(lambda d: d["ended"])
    end = final["data"]
    assert end["round"] is None and end["results"] is None  # no stale results on the wall
    assert end["join_url"] is None and end["expected"] is None
    assert end["status"] == "closed" and end["title"] == "Samling 4"
    assert "Klare?" not in str(end)
    assert projector.next_event(timeout=5) is None  # and the stream is closed
    last = phone.wait_for(lambda d: d["status"] == "closed")
    assert phone.next_event(timeout=5) is None
    assert last["data"]["status"] == "closed"
    assert desk.wait_for(lambda d: d["ended"])["data"]["ended"] is True
    assert desk.next_event(timeout=5) is None
    # a reconnect that has the final state: 204, which stops a browser's EventSource retrying
    again = EventStream(
        projector_url(server, store, made, "events"), headers={"Last-Event-ID": final["id"]}
    )
    assert again.status == 204
    again.close()
    # a new projector (reloaded page): the end state once, then the stream closes
    fresh = EventStream(projector_url(server, store, made, "events"))
    assert fresh.wait_for(lambda d: True)["data"]["ended"] is True
    assert fresh.next_event(timeout=5) is None
    # the polled state is the same end screen; nothing can be answered any more
    status, polled = server.call(
        "GET",
        "/kit/live/api/p/"
        + made.code
        + "/state?t="
        + ls.projector_ticket(repo.get_session(store, made.code)),
    )
    assert status == 200 and polled["ended"] and polled["results"] is None
    status, data = answer(server, made.code, tokens[1], rid, {"value": 5})
    assert status == 409 and data["error"] == "error.session_closed"
    for st in (projector, phone, desk, fresh):
        st.close()


def test_only_the_facilitator_ends_a_session(room) -> None:
    server, made, store, _, tokens = room
    path = f"/kit/live/api/console/{made.code}/round"
    assert server.call("POST", path, {"action": "end"})[0] == 403
    ticket = ls.projector_ticket(repo.get_session(store, made.code))
    assert server.call("POST", path, {"action": "end"}, headers={KEY: ticket})[0] == 403
    assert server.call("POST", path, {"action": "end", "token": tokens[0]})[0] == 403
    assert repo.get_session(store, made.code)["status"] == "open"


def test_the_console_ends_the_session_and_stops_following(room) -> None:
    server, made, store, rid, _ = room
    desk = FacilitatorConsole(server.settings, made.code, store, key=made.key)
    desk.end_btn.click()
    assert repo.get_session(store, made.code)["status"] == "open"  # one click only asks
    assert desk.end_confirm.layout.display is None
    desk.end_confirm.click()
    assert repo.get_session(store, made.code)["status"] == "closed"
    assert desk.open_btn.disabled and desk.close_btn.disabled and desk.end_btn.disabled
    assert "Økta er avsluttet" in desk.ended.value
    desk.start()  # an ended session is not followed any more
    assert desk.feed is None
    again = FacilitatorConsole(server.settings, made.code, store, key=made.key)
    assert again.end_btn.disabled and "Økta er avsluttet" in again.ended.value
    status, end = server.call(
        "GET",
        "/kit/live/api/p/"
        + made.code
        + "/state?t="
        + ls.projector_ticket(repo.get_session(store, made.code)),
    )
    assert end["ended"] and end["results"] is None
