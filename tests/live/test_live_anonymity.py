"""Attacks on anonymity in a live room, each performed against a real server on loopback.

A curious team member tries to learn what a colleague answered: by joining several times (made-up
participants), by choosing a token, by reading an item only one person answered, by watching the
counts tick when one more answer comes in (also by hiding/revealing and exporting), and through a
small agenda audit or stakeholder map. Each test performs the attack and checks it yields nothing,
and also that what may be shown is shown.
"""

from __future__ import annotations

import json
import time
import urllib.request
from http.cookiejar import CookieJar
from typing import Any

import pytest

from kit.live import session as ls
from kit.live.server import RESULTS_TTL
from kit.store import live as repo

KEY = "X-Kit-Key"


def new_session(shared: Any, expected: int | None = 10, groups: tuple[str, ...] = ("g1",),
                exercises: list[str] | None = None) -> tuple[Any, ls.CreatedSession, Any]:
    server, settings, store = shared
    made = ls.create_session(store, settings, title="Attack", group_ids=list(groups),
                             language="en", expected=expected, exercises=exercises)
    return server, made, store


def join(server: Any, code: str, **body: Any) -> dict[str, Any]:
    status, data = server.call("POST", f"/kit/live/api/s/{code}/join", body)
    assert status == 200, data
    return data


def console(server: Any, made: ls.CreatedSession, **body: Any) -> dict[str, Any]:
    if body:
        status, data = server.call("POST", f"/kit/live/api/console/{made.code}/round", body,
                                   headers={KEY: made.key})
    else:
        status, data = server.call("GET", f"/kit/live/api/console/{made.code}/state",
                                   headers={KEY: made.key})
    assert status == 200, data
    return data


def act(server: Any, made: ls.CreatedSession, exercise: str, action: str, **extra: Any) -> int:
    rid = next(r["id"] for r in console(server, made)["rounds"] if r["exercise"] == exercise)
    console(server, made, round=rid, action=action, **extra)
    return rid


def answer(server: Any, code: str, token: str, rid: int, answers: Any) -> tuple[int, Any]:
    return server.call("POST", f"/kit/live/api/s/{code}/answer",
                       {"token": token, "round": rid, "answers": answers})


def phone(server: Any, code: str, token: str = "") -> dict[str, Any]:
    status, data = server.call("GET", f"/kit/live/api/s/{code}/state?token={token}")
    assert status == 200, data
    return data


def round_of(state: dict[str, Any], rid: int) -> dict[str, Any]:
    return next(r for r in state["rounds"] if r["id"] == rid)


# -- made-up participants -------------------------------------------------------------------------
def test_a_client_chosen_token_is_refused(shared) -> None:
    server, made, store = new_session(shared)
    status, data = server.call("POST", f"/kit/live/api/s/{made.code}/join",
                               {"token": "my-own-made-up-token-1234"})
    assert status == 403 and data["error"] == "error.token_unknown"
    assert "reload the page to join" in data["message"]
    assert repo.admission(store, made.session_id)["joined"] == 0
    made_token = join(server, made.code)["token"]  # the server's token rejoins
    assert join(server, made.code, token=made_token)["token"] == made_token
    assert repo.admission(store, made.session_id)["joined"] == 1


def test_one_phone_joining_four_times_never_reaches_the_threshold(shared) -> None:
    """Two people in the room (threshold 3). Kari joins three more times (a private window each
    time) and answers with known values, hoping to reveal Ola's answer as the difference."""
    server, made, store = new_session(shared, expected=2)
    rid = act(server, made, "pulse", "open")
    act(server, made, "pulse", "reveal")
    ola = join(server, made.code)
    kari = join(server, made.code)
    assert ola["admitted"] and kari["admitted"]
    fakes = [join(server, made.code) for _ in range(3)]
    assert [f["admitted"] for f in fakes] == [False, False, False]  # beyond the expected 2
    assert answer(server, made.code, ola["token"], rid, {"P01": 1})[0] == 200
    assert answer(server, made.code, kari["token"], rid, {"P01": 5})[0] == 200
    for fake in fakes:
        status, data = answer(server, made.code, fake["token"], rid, {"P01": 5})
        assert status == 403 and data["error"] == "error.not_admitted"
        assert "has not let you in yet" in data["message"]
    seen = console(server, made)
    assert seen["admission"] == {"control": True, "expected": 2, "joined": 5, "admitted": 2,
                                 "waiting": 3}
    pulse = round_of(seen, rid)
    assert pulse["respondents"] == 2 and pulse["results"]["hidden"]
    assert "items" not in pulse["results"]
    shown = phone(server, made.code, ola["token"])["results"][str(rid)]
    assert shown["hidden"] and "items" not in shown and shown["respondents"] is None
    # a stranger with the code, or a waiting phone, gets no results at all
    assert "results" not in phone(server, made.code)
    assert "results" not in phone(server, made.code, fakes[0]["token"])
    # a waiting phone learns it waits; the facilitator sees it and may admit (if real people)
    state = server.call("GET", f"/kit/live/api/s/{made.code}/state?admission=1"
                               f"&token={fakes[0]['token']}")[1]
    assert state["admitted"] is False
    data = console(server, made, action="admit", count=1)
    assert data["admission"]["admitted"] == 3 and data["admission"]["waiting"] == 2
    assert data["admission"]["expected"] == 3  # admitting is saying: there are more of us
    state = server.call("GET", f"/kit/live/api/s/{made.code}/state?admission=1"
                               f"&token={fakes[0]['token']}")[1]
    assert state["admitted"] is True
    assert answer(server, made.code, fakes[0]["token"], rid, {"P01": 3})[0] == 200


def test_the_same_browser_rejoins_as_the_same_participant(shared) -> None:
    """Clearing the page's storage is not enough to become a new participant: the server's
    HttpOnly cookie brings the same token back."""
    server, made, store = new_session(shared)
    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))

    def join_in_browser() -> dict[str, Any]:
        req = urllib.request.Request(f"{server.base}/kit/live/api/s/{made.code}/join",
                                     data=b"{}", method="POST",
                                     headers={"Content-Type": "application/json"})
        with opener.open(req, timeout=10) as resp:
            cookie = resp.headers.get("Set-Cookie", "")
            assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
            return json.loads(resp.read())

    first, second = join_in_browser(), join_in_browser()
    assert first["token"] == second["token"]
    assert repo.admission(store, made.session_id)["joined"] == 1


def test_expected_set_when_opening_a_round_admits_the_waiting(shared) -> None:
    server, made, store = new_session(shared, expected=None)
    waiting = [join(server, made.code) for _ in range(4)]
    assert not any(w["admitted"] for w in waiting)  # no number yet: everyone waits
    act(server, made, "pulse", "open", expected=3)
    counts = repo.admission(store, made.session_id)
    assert (counts["expected"], counts["admitted"], counts["waiting"]) == (3, 3, 1)
    status, data = server.call("POST", f"/kit/live/api/console/{made.code}/round",
                               {"action": "expected", "expected": 0}, headers={KEY: made.key})
    assert status == 422 and "whole number from 1 to" in data["message"]


def test_aggregates_count_only_admitted_participants(any_store, live_settings) -> None:
    """Even answers stored for a participant who is not admitted (written by trusted code, or
    left from before) are in no aggregate, on SQLite and PostgreSQL."""
    from kit.live.visibility import visible_round

    store = any_store
    store.save_group("g1", "Team One")
    made = ls.create_session(store, live_settings, title="Store", group_ids=["g1"], expected=3)
    rid = repo.list_rounds(store, made.session_id)[0]["id"]
    repo.update_round(store, rid, status="open", revealed=True)
    tokens = [f"participant-{i:02d}-abcdefghijk" for i in range(5)]
    for i, token in enumerate(tokens):
        repo.add_participant(store, made.code, token, "g1", "en")
        if i < 3:
            repo.save_answers(store, made.code, token, rid, [repo.AnswerIn("P01", 4.0)])
    with pytest.raises(repo.LiveStateError, match="has not admitted"):
        repo.save_answers(store, made.code, tokens[3], rid, [repo.AnswerIn("P01", 1.0)])
    # an answer that slipped into the table for a participant who was never admitted
    pid = int(repo.load_answers(store, round_ids=[rid], admitted_only=False)["participant"]
              .max()) + 1
    from sqlalchemy import insert

    from kit.store import live_tables as lt
    from kit.store import now

    with store.begin() as conn:
        conn.execute(insert(lt.live_answers).values(round_id=rid, participant_id=pid,
                                                    question="P01", value=1.0,
                                                    created_at=now(), updated_at=now()))
    assert len(repo.load_answers(store, round_ids=[rid], admitted_only=False)) == 4
    shown = visible_round(store, live_settings, repo.get_round(store, rid))
    assert sorted(shown.answers["value"]) == [4.0, 4.0, 4.0]
    assert repo.admission(store, made.session_id)["waiting"] == 2


# -- one answer on an item -----------------------------------------------------------------------
def test_an_item_one_person_answered_shows_nothing(shared) -> None:
    server, made, store = new_session(shared)
    rid = act(server, made, "pulse", "open")
    tokens = [join(server, made.code)["token"] for _ in range(3)]
    for token in tokens:
        assert answer(server, made.code, token, rid, {"P01": 4})[0] == 200
    assert answer(server, made.code, tokens[0], rid, {"P03": 1})[0] == 200  # only one on P03
    act(server, made, "pulse", "reveal")
    for items in (round_of(console(server, made), rid)["results"]["items"],
                  phone(server, made.code, tokens[0])["results"][str(rid)]["items"]):
        by = {i["item"]: i for i in items}
        assert by["P01"]["n"] == 3 and by["P01"]["4"] == 3 and by["P01"]["mean"] == 4.0
        p03 = by["P03"]
        assert p03["hidden"] and not p03["disagreement"]
        assert [p03[k] for k in ("n", "na", "mean", "sd", "rwg", "1", "2", "3", "4", "5")] == \
            [None] * 10


# -- ticking counts --------------------------------------------------------------------------------
def test_one_new_answer_after_reveal_changes_nothing_visible(shared, tmp_path) -> None:
    """A member watches the revealed, still open round while a late colleague answers: phones,
    console, hide + reveal again, and the export all stay as they were; only when at least
    min_respondents (3) more have answered does a new version appear."""
    from kit.live.export import export_session

    server, made, store = new_session(shared)
    _, settings, _ = shared
    rid = act(server, made, "pulse", "open")
    tokens = [join(server, made.code)["token"] for _ in range(7)]
    for token, v in zip(tokens[:3], (2, 3, 4), strict=True):
        assert answer(server, made.code, token, rid, {"P01": v, "P02": v})[0] == 200
    act(server, made, "pulse", "reveal")
    before_phone = phone(server, made.code, tokens[0])["results"][str(rid)]
    before_console = round_of(console(server, made), rid)["results"]
    assert before_phone["published"]["version"] == 1 and before_phone["respondents"] == 3

    assert answer(server, made.code, tokens[3], rid, {"P01": 5, "P02": 5})[0] == 200  # late one
    assert answer(server, made.code, tokens[0], rid, {"P01": 1})[0] == 200  # and a change
    time.sleep(RESULTS_TTL + 0.5)  # past every cache
    assert phone(server, made.code, tokens[0])["results"][str(rid)] == before_phone
    after = console(server, made)
    assert round_of(after, rid)["results"] == before_console
    assert round_of(after, rid)["respondents"] == 4  # participation may show, answers not
    act(server, made, "pulse", "hide")
    act(server, made, "pulse", "reveal")
    assert phone(server, made.code, tokens[0])["results"][str(rid)] == before_phone
    export_session(store, settings, made.code, tmp_path / "x")
    p01 = [ln for ln in (tmp_path / "x" / "pulse.csv").read_text().splitlines()
           if ln.startswith(f"{rid},P01,")][0]
    assert ",3,0,3.0," in p01  # n 3, mean 3.0: the version the room saw

    for token in tokens[4:6]:  # 3 new participants in all (with tokens[3]): a step
        assert answer(server, made.code, token, rid, {"P01": 5, "P02": 5})[0] == 200
    time.sleep(RESULTS_TTL + 0.5)
    now = phone(server, made.code, tokens[0])["results"][str(rid)]
    assert now["published"]["version"] == 2 and now["respondents"] == 6
    p01 = next(i for i in now["items"] if i["item"] == "P01")
    assert (p01["n"], p01["1"], p01["5"]) == (6, 1, 3)
    act(server, made, "pulse", "close")
    assert answer(server, made.code, tokens[6], rid, {"P01": 5})[0] == 409
    assert phone(server, made.code, tokens[0])["results"][str(rid)]["published"]["version"] == 2


# -- every exercise obeys the threshold -----------------------------------------------------------
def test_a_small_agenda_audit_shows_no_split(shared) -> None:
    server, made, store = new_session(shared)
    rid = act(server, made, "agenda_audit", "open")
    act(server, made, "agenda_audit", "reveal")
    tokens = [join(server, made.code)["token"] for _ in range(2)]
    for n, token in enumerate(tokens):
        entry = {"id": f"e{n}", "title": "Budget", "minutes": 30 + n, "kind": "decision",
                 "focus": ("operations", "strategy")[n]}
        assert answer(server, made.code, token, rid, {"entry": entry})[0] == 200
        wanted = {"operations": 50, "strategy": 30 + 10 * n, "development": 20 - 10 * n}
        assert answer(server, made.code, token, rid, {"wanted": wanted})[0] == 200
    for res in (round_of(console(server, made), rid)["results"],
                phone(server, made.code, tokens[0])["results"][str(rid)]):
        assert res["hidden"] and "split" not in res and res["respondents"] is None
        assert "2" not in json.dumps(res).replace('"min_n": 3', "")  # no n=2 anywhere
    # three people: shown; a wanted split only two gave stays hidden
    third = join(server, made.code)["token"]
    entry = {"id": "e9", "title": "Plan", "minutes": 20, "kind": "discussion",
             "focus": "development"}
    assert answer(server, made.code, third, rid, {"entry": entry})[0] == 200
    res = round_of(console(server, made), rid)["results"]
    assert not res["hidden"] and not res["entries_hidden"] and res["wanted_hidden"]
    assert [row["wanted"] for row in res["split"]] == [None, None, None]
    assert [row["wanted_n"] for row in res["split"]] == [None, None, None]
    assert [round(row["actual_minutes"]) for row in res["split"]] == [30, 31, 20]


def test_a_small_stakeholder_map_and_purpose_show_nothing(shared) -> None:
    server, made, store = new_session(shared)
    rounds = {r["exercise"]: r for r in repo.list_rounds(store, made.session_id)}
    repo.update_round(store, rounds["stakeholder_map"]["id"],
                      config={"actors": ["Ministry", "Users"], "axis": "interest"})
    rid_s = act(server, made, "stakeholder_map", "open")
    rid_p = act(server, made, "purpose", "open")
    tokens = [join(server, made.code)["token"] for _ in range(3)]
    for n, token in enumerate(tokens):
        ratings = {"0": {"power": 5, "interest": 4}}
        if n < 2:
            ratings["1"] = {"power": 1 + n}  # only two place the users
        assert answer(server, made.code, token, rid_s, {"ratings": ratings})[0] == 200
        if n < 2:
            assert answer(server, made.code, token, rid_p, {"statement": f"We {n}"})[0] == 200
    act(server, made, "stakeholder_map", "reveal")
    actors = round_of(console(server, made), rid_s)["results"]["actors"]
    assert (actors[0]["power"], actors[0]["power_n"], actors[0]["quadrant"]) == \
        (5.0, 3, "manage_closely")
    assert (actors[1]["power"], actors[1]["power_n"], actors[1]["power_sd"]) == (None, None, None)
    assert actors[1]["quadrant"] is None
    # two statements: the vote shows none of them, and neither does a reveal
    repo.update_round(store, rid_p, config={"phase": "vote", "dots": 3})
    time.sleep(0.6)
    assert round_of(phone(server, made.code, tokens[0]), rid_p)["statements"] == []
    act(server, made, "purpose", "reveal")
    res = phone(server, made.code, tokens[0])["results"][str(rid_p)]
    assert res["hidden"] and "statements" not in res


# -- guessing codes ---------------------------------------------------------------------------
def test_guessing_codes_is_limited(server, live_store, live_settings) -> None:
    made = ls.create_session(live_store, live_settings, title="Real", group_ids=["g1"],
                             expected=5)
    assert len(made.code) == 8 and ls.CODE_LENGTH == 8
    for i in range(10):  # ten wrong guesses are answered
        status, data = server.call("POST", f"/kit/live/api/s/WRONG{i:03d}/join", {})
        assert status == 404
    status, data = server.call("POST", f"/kit/live/api/s/{made.code}/join", {})
    assert status == 429 and data["error"] == "error.rate_limited"  # not even a right one
    assert "Try again in" in data["message"]
    req = urllib.request.Request(f"{server.base}/kit/live/s/WRONGXXX?lang=nb")
    try:
        urllib.request.urlopen(req, timeout=10)
        raise AssertionError("not limited")
    except urllib.error.HTTPError as exc:
        assert exc.code == 429 and 1 <= int(exc.headers["Retry-After"]) <= 60
        assert "Prøv igjen om" in exc.read().decode()
    status, data = server.call("GET", f"/kit/live/api/s/{made.code}/state")
    assert status == 429
    assert repo.admission(live_store, made.session_id)["joined"] == 0


def test_guessing_the_facilitator_key_is_limited(server, live_store, live_settings) -> None:
    made = ls.create_session(live_store, live_settings, title="Real", group_ids=["g1"],
                             expected=5)
    path = f"/kit/live/api/console/{made.code}/state"
    for _ in range(10):
        assert server.call("GET", path, headers={KEY: "guess"})[0] == 403
    status, data = server.call("GET", path, headers={KEY: made.key})
    assert status == 429 and "Try again in" in data["message"]
