"""The participant side over HTTP against a real server process on loopback: the happy path and
every bad input (each gets a clear answer and changes nothing)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from kit.live import session as ls
from kit.store import live as repo

KEY = "X-Kit-Key"


@pytest.fixture
def env(shared) -> tuple[Any, ls.CreatedSession, Any]:
    server, settings, store = shared
    made = ls.create_session(store, settings, expected=20, title="Gathering <2>", group_ids=["g1"],
                             language="en")
    return server, made, store


def join(server: Any, code: str, **body: Any) -> str:
    status, data = server.call("POST", f"/kit/live/api/s/{code}/join", body)
    assert status == 200, data
    return data["token"]


def act(server: Any, made: ls.CreatedSession, exercise: str, action: str = "open") -> int:
    status, data = server.call("GET", f"/kit/live/api/console/{made.code}/state",
                               headers={KEY: made.key})
    assert status == 200, data
    rid = next(r["id"] for r in data["rounds"] if r["exercise"] == exercise)
    status, data = server.call("POST", f"/kit/live/api/console/{made.code}/round",
                               {"round": rid, "action": action}, headers={KEY: made.key})
    assert status == 200, data
    return rid


def answer(server: Any, code: str, token: str, rid: Any, answers: Any,
           lang: str = "en") -> tuple[int, Any]:
    return server.call("POST", f"/kit/live/api/s/{code}/answer",
                       {"token": token, "round": rid, "answers": answers},
                       headers={"X-Kit-Lang": lang})


def eventually(get: Any, ok: Any, seconds: float = 5.0) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = get()
        if ok(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def stored(store: Any, rid: int) -> list[tuple[str, Any]]:
    a = repo.load_answers(store, round_ids=[rid])
    return sorted(zip(a["question"], a["value"].fillna(-1), strict=True))


def test_pulse_answers_reach_the_facilitator(env) -> None:
    server, made, store = env
    rid = act(server, made, "pulse")
    tokens = [join(server, made.code) for _ in range(3)]
    for i, token in enumerate(tokens):
        status, data = answer(server, made.code, token, rid, {"P01": 1 + i * 2, "P02": None})
        assert status == 200 and data["ok"] and data["saved"] == 2, data
    assert [q for q, _ in stored(store, rid)].count("P01") == 3
    status, data = server.call("GET", f"/kit/live/api/console/{made.code}/state",
                               headers={KEY: made.key})
    pulse = next(r for r in data["rounds"] if r["id"] == rid)
    assert pulse["respondents"] == 3 and data["participants"] == 3
    assert pulse["results"] == {"shown": False}  # nothing but counts until revealed
    act(server, made, "pulse", "reveal")
    status, data = server.call("GET", f"/kit/live/api/console/{made.code}/state",
                               headers={KEY: made.key})
    pulse = next(r for r in data["rounds"] if r["id"] == rid)
    p01 = next(i for i in pulse["results"]["items"] if i["item"] == "P01")
    assert (p01["1"], p01["3"], p01["5"], p01["n"]) == (1, 1, 1, 3)
    p02 = next(i for i in pulse["results"]["items"] if i["item"] == "P02")
    assert p02["hidden"] and (p02["n"], p02["na"], p02["1"]) == (None, None, None)
    assert pulse["results"]["published"]["version"] == 1
    # the participant's state: the open round with its items and the participant's own answers
    path = f"/kit/live/api/s/{made.code}/state?lang=nb&mine=1&token={tokens[0]}"
    status, data = server.call("GET", path)
    assert status == 200 and data["rounds"][0]["items"][0]["text"].startswith("Jeg kan")
    assert {(a["question"], a["value"]) for a in data["mine"]} == {("P01", 1.0), ("P02", None)}


def test_pulse_is_hidden_from_the_facilitator_below_the_minimum(env) -> None:
    server, made, _ = env
    rid = act(server, made, "pulse")
    act(server, made, "pulse", "reveal")
    answer(server, made.code, join(server, made.code), rid, {"P01": 2})
    _, data = server.call("GET", f"/kit/live/api/console/{made.code}/state?key={made.key}")
    res = next(r for r in data["rounds"] if r["id"] == rid)["results"]
    assert res == {"respondents": None, "hidden": True, "min_n": 3,
                   "published": {"version": 0, "respondents": 0, "published_at": None}}


def test_pages(env) -> None:
    server, made, store = env
    status, page = server.call("GET", f"/kit/live/s/{made.code.lower()}")
    assert status == 200 and f'"code": "{made.code}"' in page
    assert "Gathering" not in page  # the title travels as data, never into the HTML
    status, page = server.call("GET", "/kit/live/join")
    assert status == 200 and '"code": null' in page
    status, page = server.call("GET", "/kit/live/s/NOPE99")
    assert status == 404 and "There is no session with the code NOPE99" in page
    status, page = server.call("GET", "/kit/live/s/NOPE99?lang=nb")
    assert status == 404 and "Det finnes ingen økt med koden NOPE99" in page
    status, css = server.call("GET", "/kit/live/static/live.css")
    assert status == 200 and "--accent" in css


def test_unknown_and_closed_sessions(env) -> None:
    server, made, store = env
    for path, body in (("join", {}), ("answer", {"token": "x" * 20, "round": 1, "answers": {}})):
        status, data = server.call("POST", f"/kit/live/api/s/NOPE99/{path}", body)
        assert status == 404 and data["error"] == "error.session_unknown", data
        assert "no session with the code NOPE99" in data["message"]
    status, data = server.call("GET", "/kit/live/api/s/NOPE99/state")
    assert status == 404 and data["error"] == "error.session_unknown"
    rid = act(server, made, "pulse")
    token = join(server, made.code)
    repo.set_session_status(store, made.code, "closed")
    status, data = server.call("POST", f"/kit/live/api/s/{made.code}/join", {})
    assert status == 409 and "has ended" in data["message"]
    status, data = answer(server, made.code, token, rid, {"P01": 3})
    assert status == 409 and data["error"] == "error.session_closed"
    status, page = server.call("GET", f"/kit/live/s/{made.code}")
    assert status == 409 and "has ended" in page
    assert stored(store, rid) == []


def test_closed_and_unopened_rounds(env) -> None:
    server, made, store = env
    token = join(server, made.code)
    rounds = {r["exercise"]: r["id"] for r in repo.list_rounds(store, made.session_id)}
    status, data = answer(server, made.code, token, rounds["pulse"], {"P01": 3})
    assert status == 409 and data["message"] == "The round is closed; the answer was not saved."
    rid = act(server, made, "pulse")
    assert answer(server, made.code, token, rid, {"P01": 3})[0] == 200
    act(server, made, "pulse", "close")
    status, data = answer(server, made.code, token, rid, {"P01": 5}, lang="nb")
    assert status == 409 and data["message"].startswith("Runden er lukket")
    assert stored(store, rid) == [("P01", 3.0)]
    status, data = answer(server, made.code, token, 99999, {"P01": 5})
    assert status == 404 and data["error"] == "error.round_unknown"


@pytest.mark.parametrize(("raw", "error"), [
    (b"{not json", "error.malformed"),
    (b"[1, 2]", "error.malformed"),
    (b"\xff\xfe", "error.malformed"),
    (b"", "error.malformed"),
    (b'{"round": 1, "answers": {"P01": 3}}', "error.malformed"),  # no token
    (b'{"token": "short", "round": 1, "answers": {"P01": 3}}', "error.malformed"),
    (b'{"token": "<script>alert(1)</script>xx", "round": 1, "answers": {}}', "error.malformed"),
    (b'{"token": "aaaaaaaaaaaaaaaaaaaa", "round": "1", "answers": {"P01": 3}}', "error.malformed"),
    (b'{"token": "aaaaaaaaaaaaaaaaaaaa", "round": true, "answers": {"P01": 3}}', "error.malformed"),
])
def test_malformed_requests(env, raw: bytes, error: str) -> None:
    server, made, store = env
    act(server, made, "pulse")
    status, data = server.call("POST", f"/kit/live/api/s/{made.code}/answer", raw=raw)
    assert status == 400 and data["error"] == error
    assert data["message"] == "The request could not be read; nothing was saved."


def test_oversized_request_changes_nothing(env) -> None:
    server, made, store = env
    rid = act(server, made, "purpose")
    token = join(server, made.code)
    status, data = answer(server, made.code, token, rid, {"statement": "x" * 20_000})
    assert status == 413 and "too large (over 16 KB)" in data["message"]
    big = b"{" + b" " * 17_000 + b"}"
    status, data = server.call("POST", f"/kit/live/api/s/{made.code}/join", raw=big)
    assert status == 413
    huge = b'{"token": "' + b"x" * 8_000_000 + b'"}'  # 8 MB: refused, never held in memory
    status, data = server.call("POST", f"/kit/live/api/s/{made.code}/answer", raw=huge)
    assert status == 413 and data["error"] == "error.too_large"
    assert stored(store, rid) == []


def test_repeated_submission_is_idempotent(env) -> None:
    server, made, store = env
    rid = act(server, made, "pulse")
    token = join(server, made.code)
    assert join(server, made.code, token=token) == token  # joining again: same participant
    first = answer(server, made.code, token, rid, {"P01": 4})[1]
    second = answer(server, made.code, token, rid, {"P01": 4})[1]
    assert (first["saved"], second["saved"], second["unchanged"]) == (1, 0, 1)
    third = answer(server, made.code, token, rid, {"P01": 2})[1]  # changed while open
    assert third["saved"] == 1
    assert stored(store, rid) == [("P01", 2.0)]
    assert repo.count_participants(store, made.session_id) == 1


@pytest.mark.parametrize(("answers", "lang", "message"), [
    ({"P01": 9}, "en", "'P01': 9 is outside 1-5."),
    ({"P01": 9}, "nb", "«P01»: 9 er utenfor 1-5."),
    ({"P01": "many"}, "en", "'P01': many is not a number."),
    ({"Q99": 1}, "en", "The round has no question 'Q99'; reload the page."),
    ({}, "en", "The submission held no answers."),
    ([], "en", "The submission held no answers."),
])
def test_invalid_values(env, answers, lang, message) -> None:
    server, made, store = env
    rid = act(server, made, "pulse")
    token = join(server, made.code)
    status, data = answer(server, made.code, token, rid, answers, lang=lang)
    assert status == 422 and data["message"] == message
    assert stored(store, rid) == []


def test_participant_must_have_joined(env) -> None:
    server, made, store = env
    rid = act(server, made, "pulse")
    status, data = answer(server, made.code, "n" * 24, rid, {"P01": 3})
    assert status == 403 and "have not joined" in data["message"]
    assert stored(store, rid) == []


def test_text_with_html_is_kept_as_text(env) -> None:
    server, made, store = env
    rid = act(server, made, "purpose")
    tokens = [join(server, made.code) for _ in range(3)]
    evil = '<img src=x onerror="alert(1)"><script>alert(2)</script> & we serve'
    assert answer(server, made.code, tokens[0], rid, {"statement": evil})[0] == 200
    assert answer(server, made.code, tokens[1], rid, {"statement": "We lead"})[0] == 200
    assert answer(server, made.code, tokens[2], rid, {"statement": "We decide"})[0] == 200
    round_ = repo.get_round(store, rid)
    repo.update_round(store, rid, config={**round_["config"], "phase": "vote"})
    state = eventually(lambda: server.call(
        "GET", f"/kit/live/api/s/{made.code}/state?token={tokens[1]}")[1],
        lambda st: "statements" in st["rounds"][0])  # the console changed it in another process
    texts = {s["text"]: s["id"] for s in state["rounds"][0]["statements"]}
    assert evil in texts  # verbatim: the page shows it with textContent
    status, data = answer(server, made.code, tokens[1], rid, {"votes": {str(texts[evil]): 2}})
    assert status == 200, data
    status, data = answer(server, made.code, tokens[1], rid, {"votes": {str(texts[evil]): 4}})
    assert status == 422 and data["message"] == "'votes': 4 is outside 0-3."
    status, data = answer(server, made.code, tokens[1], rid, {"votes": {"123456": 1}})
    assert status == 422
    for token in (tokens[0], tokens[2]):
        assert answer(server, made.code, token, rid, {"votes": {str(texts[evil]): 1}})[0] == 200
    act(server, made, "purpose", "reveal")
    _, console = server.call("GET", f"/kit/live/api/console/{made.code}/state?key={made.key}")
    purpose = next(r for r in console["rounds"] if r["id"] == rid)["results"]
    assert purpose["statements"][0] == {"id": texts[evil], "text": evil, "votes": 4, "voters": 3}


def test_console_api_needs_the_key(env) -> None:
    server, made, store = env
    path = f"/kit/live/api/console/{made.code}/state"
    assert server.call("GET", path)[0] == 403
    status, data = server.call("GET", path, headers={KEY: "wrong"})
    assert status == 403 and data["message"] == "The facilitator key is missing or wrong."
    rid = repo.list_rounds(store, made.session_id)[0]["id"]
    status, _ = server.call("POST", f"/kit/live/api/console/{made.code}/round",
                            {"round": rid, "action": "open"}, headers={KEY: "wrong"})
    assert status == 403 and repo.get_round(store, rid)["status"] == "draft"
    kit_key = ls.facilitator_key(server.settings)
    assert server.call("GET", path, headers={KEY: kit_key})[0] == 200
    assert server.call("GET", "/kit/live/api/console/NOPE99/state",
                       headers={KEY: kit_key})[0] == 404
    status, data = server.call("POST", f"/kit/live/api/console/{made.code}/round",
                               {"round": rid, "action": "explode"}, headers={KEY: made.key})
    assert status == 400


def test_cohort_session_groups(shared) -> None:
    server, settings, store = shared
    made = ls.create_session(store, settings, expected=20, title="Cohort", group_ids=["g1", "g2"])
    token = join(server, made.code)
    _, state = server.call("GET", f"/kit/live/api/s/{made.code}/state")
    assert state["groups"] == ["g1", "g2"]
    assert join(server, made.code, token=token, group="g2") == token
    status, data = server.call("POST", f"/kit/live/api/s/{made.code}/join",
                               {"token": token, "group": "g9"})
    assert status == 422 and data["message"] == "That group is not part of this session."
    assert server.call("POST", f"/kit/live/api/s/{made.code}/join", {"group": 5})[0] == 400


def test_agenda_and_stakeholder_rounds_over_http(env) -> None:
    server, made, store = env
    rounds = {r["exercise"]: r for r in repo.list_rounds(store, made.session_id)}
    repo.update_round(store, rounds["stakeholder_map"]["id"],
                      config={"actors": ["Ministry", "Users"], "axis": "interest"})
    rid_a = act(server, made, "agenda_audit")
    rid_s = act(server, made, "stakeholder_map")
    tokens = [join(server, made.code) for _ in range(3)]
    for n, token in enumerate(tokens):
        entry = {"id": f"e{n}", "title": "Budget", "minutes": 15, "kind": "decision",
                 "focus": "operations"}
        assert answer(server, made.code, token, rid_a, {"entry": entry})[0] == 200
        wanted = {"operations": 40, "strategy": 40, "development": 20}
        assert answer(server, made.code, token, rid_a, {"wanted": wanted})[0] == 200
        ok = answer(server, made.code, token, rid_s,
                    {"ratings": {"0": {"power": 5, "interest": 2}}})
        assert ok[0] == 200
    token = tokens[0]
    act(server, made, "agenda_audit", "reveal")
    act(server, made, "stakeholder_map", "reveal")
    _, console = server.call("GET", f"/kit/live/api/console/{made.code}/state?key={made.key}")
    res = {r["exercise"]: r["results"] for r in console["rounds"]}
    assert res["agenda_audit"]["split"][0] == pytest.approx(
        {"focus": "operations", "actual_minutes": 45.0, "actual": 1.0, "wanted": 0.4,
         "wanted_n": 3})
    assert res["stakeholder_map"]["actors"][0]["quadrant"] == "keep_satisfied"
    assert answer(server, made.code, token, rid_a, {"remove": "e0"})[1]["removed"] == 1
