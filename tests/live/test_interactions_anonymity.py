"""Attacks on the newer interactions: a participant who answers again, or someone watching
the projector (or the phones' pushed events) before and after one more answer, learns nothing
about that answer; a stranger with the projector link learns nothing without the ticket."""

from __future__ import annotations

from typing import Any

import pytest

from kit.live import session as ls
from kit.store import live as repo
from tests.live.test_interactions import add, console, reveal
from tests.live.test_server import answer, join


@pytest.fixture
def env(shared) -> tuple[Any, ls.CreatedSession, Any]:
    server, settings, store = shared
    made = ls.create_session(
        store,
        settings,
        expected=10,
        title="Attack",
        group_ids=["g1"],
        language="en",
        exercises=["pulse"],
    )
    return server, made, store


def projector(server: Any, made: ls.CreatedSession, store: Any) -> dict[str, Any]:
    ticket = ls.projector_ticket(repo.get_session(store, made.code))
    status, data = server.call("GET", f"/kit/live/api/p/{made.code}/state?t={ticket}")
    assert status == 200, data
    return data


CASES = [
    ("poll", {"kind": "scale", "question": "q"}, lambda i: {"value": 1 + i % 5}, {"value": 5}),
    (
        "poll",
        {"kind": "ranking", "question": "q", "options": ["a", "b", "c"]},
        lambda i: {"ranking": [0, 1, 2]},
        {"ranking": [2, 1, 0]},
    ),
    (
        "poll",
        {"kind": "points", "question": "q", "options": ["a", "b"]},
        lambda i: {"points": {"0": 50, "1": 50}},
        {"points": {"0": 100}},
    ),
    (
        "poll",
        {"kind": "matrix", "question": "q", "options": ["a", "b"]},
        lambda i: {"matrix": {"0": {"x": 2, "y": 2}}},
        {"matrix": {"0": {"x": 5, "y": 5}}},
    ),
    ("wordcloud", {"question": "q"}, lambda i: {"words": ["trust"]}, {"words": ["secret"]}),
    ("boundedness", {}, lambda i: {"names": ["Kari", "Ola"]}, {"names": ["Per"]}),
    (
        "decision_review",
        {"decisions": ["d"]},
        lambda i: {"marks": {"0": ["data"]}},
        {"marks": {"0": ["research", "users"]}},
    ),
]


@pytest.mark.parametrize(
    ("exercise", "config", "first", "extra"),
    CASES,
    ids=[f"{c[0]}-{c[1].get('kind', '')}" for c in CASES],
)
def test_one_more_answer_shows_nothing_new(env, exercise, config, first, extra) -> None:
    server, made, store = env
    tokens = [join(server, made.code) for _ in range(5)]
    rid = add(server, made, exercise, config)
    reveal(server, made, rid)
    for i, token in enumerate(tokens[:3]):
        assert answer(server, made.code, token, rid, first(i))[0] == 200
    before = projector(server, made, store)
    assert before["results"]["published"]["version"] == 1  # three: shown
    # the fourth person answers; then the second changes their answer (answers twice)
    assert answer(server, made.code, tokens[3], rid, extra)[0] == 200
    assert answer(server, made.code, tokens[1], rid, extra)[0] == 200
    after = projector(server, made, store)
    assert after["round"]["answered"] == 4  # participation is shown ...
    assert after["results"] == before["results"]  # ... but no number moved
    assert "secret" not in str(after) and "Per" not in str(after)
    # with a third change the step is made: three people's answers differ at once
    assert answer(server, made.code, tokens[4], rid, extra)[0] == 200
    stepped = projector(server, made, store)
    assert stepped["results"]["published"]["version"] == 2


def test_qa_one_vote_and_one_entry_show_nothing_new(env) -> None:
    server, made, store = env
    tokens = [join(server, made.code) for _ in range(5)]
    rid = add(server, made, "qa", {"question": "q"})
    for i, token in enumerate(tokens[:3]):
        answer(server, made.code, token, rid, {"entry": {"id": f"e{i}", "text": f"Entry {i}"}})
    _, state = server.call(
        "GET", f"/kit/live/api/console/{made.code}/state", headers={"X-Kit-Key": made.key}
    )
    entries = next(r for r in state["rounds"] if r["id"] == rid)["results"]["moderation"]
    for e in entries["entries"]:
        console(server, made, round=rid, action="approve", entry=e["id"])
    reveal(server, made, rid)
    eid = entries["entries"][0]["id"]
    for token in tokens[:3]:
        answer(server, made.code, token, rid, {"vote": eid})
    before = projector(server, made, store)
    answer(server, made.code, tokens[3], rid, {"vote": eid})  # one more vote
    answer(server, made.code, tokens[4], rid, {"entry": {"id": "x", "text": "Lone entry"}})
    after = projector(server, made, store)
    assert after["results"]["entries"] == before["results"]["entries"]
    assert "Lone entry" not in str(after)
    _, state = server.call(
        "GET", f"/kit/live/api/console/{made.code}/state", headers={"X-Kit-Key": made.key}
    )
    moderation = next(r for r in state["rounds"] if r["id"] == rid)["results"]  # revealed
    assert "Lone entry" not in str(moderation)  # not even the facilitator sees it alone


def test_projector_needs_its_ticket(env) -> None:
    server, made, store = env
    for path in (
        f"/kit/live/p/{made.code}",
        f"/kit/live/p/{made.code}?t=" + "a" * 32,
        f"/kit/live/api/p/{made.code}/state?t={made.key}",
    ):
        status, body = server.call("GET", path)
        assert status == 403, path
        assert made.code not in str(body) or "projector link" in str(body)
    other = ls.create_session(
        store, server.settings, expected=3, title="Other", group_ids=["g1"], language="en"
    )
    foreign = ls.projector_ticket(repo.get_session(store, other.code))
    status, _ = server.call("GET", f"/kit/live/api/p/{made.code}/state?t={foreign}")
    assert status == 403  # a ticket opens only its own session
