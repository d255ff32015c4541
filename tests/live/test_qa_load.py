"""A Q&A under load, against a real server process: one vote per participant and entry however
many identical votes race, the projector's and the phones' streams show the same published
version (the step rule runs once per pushed change), and a kill -9 while votes are in flight
loses no acknowledged entry or vote."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from kit.live import session as ls
from kit.store import live as repo
from tests.live.conftest import EventStream
from tests.live.test_interactions import add, console, results, reveal
from tests.live.test_server import answer, join


def approved_entries(
    server: Any, made: ls.CreatedSession, rid: int, tokens: list[str]
) -> list[int]:
    for i, token in enumerate(tokens):
        status, data = answer(
            server, made.code, token, rid, {"entry": {"id": "a", "text": f"Question {i}"}}
        )
        assert status == 200, data
    ids = [e["id"] for e in results(server, made, rid)["entries"]]
    assert len(ids) == len(tokens)
    for eid in ids:
        assert console(server, made, round=rid, action="approve", entry=eid)[0] == 200
    time.sleep(0.6)  # the phones' state cache notices the new revision
    return ids


def test_racing_identical_votes_count_once(shared) -> None:
    server, settings, store = shared
    made = ls.create_session(
        store, settings, expected=10, title="Race", group_ids=["g1"], language="en"
    )
    tokens = [join(server, made.code) for _ in range(4)]
    rid = add(server, made, "qa", {"question": "Ask"})
    ids = approved_entries(server, made, rid, tokens)
    replies: list[tuple[int, Any]] = []

    def vote(token: str) -> None:
        replies.append(answer(server, made.code, token, rid, {"vote": ids[0]}))

    jobs = [t for t in tokens for _ in range(12)]  # each phone sends the same vote 12 times
    with ThreadPoolExecutor(12) as pool:
        list(pool.map(vote, jobs))
    assert [s for s, _ in replies] == [200] * len(jobs)
    assert sum(d["saved"] for _, d in replies) == len(tokens)  # one saved per participant
    assert sum(d["unchanged"] for _, d in replies) == len(jobs) - len(tokens)
    votes = repo.load_answers(store, round_ids=[rid])
    per = votes[votes["question"] == f"vote:{ids[0]}"].groupby("participant").size()
    assert len(per) == len(tokens) and set(per) == {1}
    reveal(server, made, rid)
    shown = {e["id"]: e["votes"] for e in results(server, made, rid)["entries"]}
    assert shown[ids[0]] == len(tokens)


def test_projector_and_phones_show_the_same_version(shared) -> None:
    server, settings, store = shared
    made = ls.create_session(
        store, settings, expected=10, title="Same", group_ids=["g1"], language="en"
    )
    tokens = [join(server, made.code) for _ in range(6)]
    rid = add(server, made, "qa", {"question": "Ask"})
    reveal(server, made, rid)
    ids = approved_entries(server, made, rid, tokens)
    ticket = ls.projector_ticket(repo.get_session(store, made.code))
    projector = EventStream(f"{server.base}/kit/live/api/p/{made.code}/events?t={ticket}&lang=en")
    phone = EventStream(
        f"{server.base}/kit/live/api/s/{made.code}/events?token={tokens[0]}&lang=en"
    )
    projector.wait_for(lambda d: True)
    phone.wait_for(lambda d: True)
    with ThreadPoolExecutor(6) as pool:  # every phone votes for three entries, all at once
        replies = list(
            pool.map(
                lambda job: answer(server, made.code, job[0], rid, {"vote": job[1]}),
                [(t, e) for t in tokens for e in ids[:3]],
            )
        )
    assert {s for s, _ in replies} == {200}

    def votes(res: dict[str, Any] | None) -> list[Any]:
        return sorted((e["id"], e["votes"]) for e in (res or {}).get("entries") or [])

    want = [(e, 6 if e in ids[:3] else 0) for e in sorted(ids)]
    big = projector.wait_for(lambda d: votes(d["results"]) == want)
    small = phone.wait_for(lambda d: votes(d.get("results", {}).get(str(rid))) == want)
    assert big["data"]["results"]["published"] == small["data"]["results"][str(rid)]["published"]
    projector.close()
    phone.close()


@pytest.mark.slow
def test_kill_9_during_votes_loses_no_acknowledged_vote(server, live_settings, live_store) -> None:
    made = ls.create_session(
        live_store, live_settings, expected=30, title="Durable Q&A", group_ids=["g1"], language="en"
    )
    tokens = [join(server, made.code) for _ in range(24)]
    rid = add(server, made, "qa", {"question": "Ask"})
    reveal(server, made, rid)
    ids = approved_entries(server, made, rid, tokens[:8])
    streams = [
        EventStream(f"{server.base}/kit/live/api/s/{made.code}/events?token={t}&lang=en")
        for t in tokens[:5]
    ]  # phones on streams: each answer pushes work to them
    acked: set[tuple[str, int]] = set()
    lock = threading.Lock()
    killed = threading.Event()

    def vote(job: tuple[str, int]) -> None:
        token, eid = job
        try:
            status, data = answer(server, made.code, token, rid, {"vote": eid})
        except OSError:
            return  # the server is gone: not acknowledged
        if status == 200 and data["ok"]:
            with lock:
                acked.add(job)
                if len(acked) == 60 and not killed.is_set():
                    killed.set()
                    server.kill()  # SIGKILL while other votes are in flight

    jobs = [(t, e) for e in ids for t in tokens]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(vote, jobs))
    assert killed.is_set() and 60 <= len(acked) < len(jobs)
    for st in streams:
        st.close()
    server.start()
    rows = repo.load_answers(live_store, round_ids=[rid])
    people = {repo.participant_status(live_store, made.code, t)["joined"] for t in tokens}
    assert people == {True}
    for token in tokens:
        mine = {
            a["question"] for a in repo.participant_answers(live_store, made.code, token, [rid])
        }
        for tok, eid in acked:
            if tok == token:
                assert f"vote:{eid}" in mine, (token, eid)
    per = rows[rows["question"].str.startswith("vote:")].groupby(["participant", "question"])
    assert set(per.size()) == {1}  # never two votes of one participant for one entry
