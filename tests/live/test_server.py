"""The participant side over HTTP against a real server process on loopback."""

from __future__ import annotations

from typing import Any

from kit.live import session as ls
from kit.store import live as repo

KEY_HEADER = "X-Kit-Key"


def _join(server: Any, code: str) -> str:
    status, data = server.call("POST", f"/kit/live/api/s/{code}/join", {})
    assert status == 200, data
    return data["token"]


def _open(server: Any, created: ls.CreatedSession, exercise: str) -> int:
    status, data = server.call("GET", f"/kit/live/api/console/{created.code}/state",
                               headers={KEY_HEADER: created.key})
    assert status == 200, data
    rid = next(r["id"] for r in data["rounds"] if r["exercise"] == exercise)
    status, data = server.call("POST", f"/kit/live/api/console/{created.code}/round",
                               {"round": rid, "action": "open"}, headers={KEY_HEADER: created.key})
    assert status == 200 and data["round"]["status"] == "open"
    return rid


def test_pulse_answer_is_stored_and_shown_to_facilitator(server, created, live_store) -> None:
    rid = _open(server, created, "pulse")
    tokens = [_join(server, created.code) for _ in range(3)]
    for i, token in enumerate(tokens):
        status, data = server.call("POST", f"/kit/live/api/s/{created.code}/answer",
                                   {"token": token, "round": rid,
                                    "answers": {"P01": 1 + i * 2, "P02": None}})
        assert status == 200 and data["ok"] and data["saved"] == 2, data
    answers = repo.load_answers(live_store, round_ids=[rid])
    assert sorted(answers.loc[answers["question"] == "P01", "value"]) == [1.0, 3.0, 5.0]
    status, data = server.call("GET", f"/kit/live/api/console/{created.code}/state",
                               headers={KEY_HEADER: created.key})
    pulse = next(r for r in data["rounds"] if r["id"] == rid)
    assert pulse["respondents"] == 3
    p01 = next(i for i in pulse["results"]["items"] if i["item"] == "P01")
    assert (p01["1"], p01["3"], p01["5"], p01["n"]) == (1, 1, 1, 3)
    p02 = next(i for i in pulse["results"]["items"] if i["item"] == "P02")
    assert (p02["n"], p02["na"]) == (0, 3)
