"""Nothing lost: kill -9 the server mid-session, start it again, every acknowledged answer is
there, participants carry on with their tokens and the console resumes where it was."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from kit.live import session as ls
from kit.live.widgets import FacilitatorConsole
from kit.store import live as repo

pytestmark = pytest.mark.slow


def test_kill_9_loses_no_acknowledged_answer(server, live_settings, live_store) -> None:
    made = ls.create_session(live_store, live_settings, expected=30,
                             title="Durable", group_ids=["g1"])
    rounds = {r["exercise"]: r["id"] for r in repo.list_rounds(live_store, made.session_id)}
    rid = rounds["pulse"]
    headers = {"X-Kit-Key": made.key}
    assert server.call("POST", f"/kit/live/api/console/{made.code}/round",
                       {"round": rid, "action": "open"}, headers=headers)[0] == 200
    tokens = []
    for _ in range(30):
        status, data = server.call("POST", f"/kit/live/api/s/{made.code}/join", {})
        assert status == 200
        tokens.append(data["token"])
    acked: dict[tuple[str, str], float] = {}
    lock = threading.Lock()
    killed = threading.Event()
    items = ["P01", "P02", "P03", "P04", "P05", "P06", "P07", "P08"]

    def send(job: tuple[int, str, str]) -> None:
        n, token, item = job
        value = 1 + (n % 5)
        try:
            status, data = server.call("POST", f"/kit/live/api/s/{made.code}/answer",
                                       {"token": token, "round": rid, "answers": {item: value}})
        except OSError:
            return  # the server is gone: not acknowledged
        if status == 200 and data["ok"]:
            with lock:
                acked[(token, item)] = float(value)
                if len(acked) == 60 and not killed.is_set():
                    killed.set()
                    server.kill()  # SIGKILL while other answers are in flight

    jobs = [(n, token, item) for n, (token, item) in
            enumerate((t, i) for i in items for t in tokens)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(send, jobs))
    assert killed.is_set() and 60 <= len(acked) < len(jobs)

    server.start()  # same database, same port
    for token in tokens:
        mine = repo.participant_answers(live_store, made.code, token, [rid])
        got = {a["question"]: a["value"] for a in mine}
        for (tok, item), value in acked.items():
            if tok == token:
                assert got.get(item) == value, (token, item)
    # participants carry on with the tokens kept in their browsers
    status, data = server.call("POST", f"/kit/live/api/s/{made.code}/answer",
                               {"token": tokens[-1], "round": rid, "answers": {"P08": 5}})
    assert status == 200 and data["ok"], data
    # the facilitator's view resumes: same round, still open, every answer counted
    status, state = server.call("GET", f"/kit/live/api/console/{made.code}/state",
                                headers=headers)
    assert state["session"]["current_round_id"] == rid
    pulse = next(r for r in state["rounds"] if r["id"] == rid)
    assert pulse["status"] == "open" and pulse["answers"] >= len(acked)
    console = FacilitatorConsole(live_settings, made.code, live_store)
    assert console.current == rid and console.round["status"] == "open"
    assert console.open_btn.disabled and not console.close_btn.disabled
    assert console.answered == repo.count_answers(live_store, rid)[0] >= len({t for t, _ in acked})
