"""The interactions facilitators expect, end to end over HTTP against a real server: round
timer, re-vote, ad hoc polls, word cloud, Q&A with upvotes, boundedness check, decision review
and participants' proposed actions; every aggregate obeys the threshold (3 here) and the step
rule, and every bad input gets a clear answer that changes nothing."""

from __future__ import annotations

import math
import statistics
import time
from typing import Any

import pytest

from kit.live import facilitate
from kit.live import session as ls
from kit.store import live as repo
from tests.live.test_server import KEY, answer, join


@pytest.fixture
def env(shared) -> tuple[Any, ls.CreatedSession, Any]:
    server, settings, store = shared
    made = ls.create_session(
        store,
        settings,
        expected=8,
        title="Plenum",
        group_ids=["g1", "g2"],
        language="en",
        exercises=["pulse", "action_plan"],
    )
    return server, made, store


def console(server: Any, made: ls.CreatedSession, **body: Any) -> tuple[int, Any]:
    return server.call(
        "POST", f"/kit/live/api/console/{made.code}/round", body, headers={KEY: made.key}
    )


def add(server: Any, made: ls.CreatedSession, exercise: str, config: Any) -> int:
    status, data = console(server, made, action="add_round", exercise=exercise, config=config)
    assert status == 200, data
    return data["round"]["id"]


def results(server: Any, made: ls.CreatedSession, rid: int) -> dict[str, Any]:
    status, data = server.call(
        "GET", f"/kit/live/api/console/{made.code}/state", headers={KEY: made.key}
    )
    assert status == 200, data
    res = next(r for r in data["rounds"] if r["id"] == rid)["results"]
    return res.get("moderation", res)


def reveal(server: Any, made: ls.CreatedSession, rid: int) -> None:
    status, data = console(server, made, round=rid, action="reveal")
    assert status == 200, data


def phone_state(server: Any, made: ls.CreatedSession, token: str) -> dict[str, Any]:
    status, data = server.call("GET", f"/kit/live/api/s/{made.code}/state?token={token}")
    assert status == 200, data
    return data


def test_timer_closes_the_round_and_extending_reopens_it(env) -> None:
    server, made, store = env
    token = join(server, made.code)
    rid = add(server, made, "poll", {"kind": "scale", "question": "How ready?", "min": 1, "max": 5})
    status, data = console(server, made, round=rid, action="timer", seconds=60)
    assert status == 200 and data["round"]["config"]["timer_seconds"] == 60
    state = phone_state(server, made, token)
    timer = next(r for r in state["rounds"] if r["id"] == rid)["timer"]
    assert 55 < timer["ends_at"] - time.time() <= 60  # phones count down from this
    assert answer(server, made.code, token, rid, {"value": 4})[0] == 200
    facilitate.set_timer(store, rid, 10, at=time.time() - 11)  # as if 11 s had passed
    time.sleep(0.6)  # the server's cached state
    status, data = answer(server, made.code, token, rid, {"value": 5})
    assert status == 409 and data["error"] == "error.round_closed"
    rnd = repo.get_round(store, rid)
    assert rnd["status"] == "closed" and rnd["config"]["timer_closed"] is True
    assert repo.load_answers(store, round_ids=[rid])["value"].tolist() == [4.0]  # kept, not 5
    status, data = console(server, made, round=rid, action="extend", seconds=30)
    assert status == 200 and data["round"]["status"] == "open"
    assert answer(server, made.code, token, rid, {"value": 5})[0] == 200
    for bad in (5, 0, 99999, "60", True):
        status, data = console(server, made, round=rid, action="timer", seconds=bad)
        assert status == 422 and "seconds from 10 to 3600" in data["message"], bad


def test_revote_shows_before_and_after_side_by_side(env) -> None:
    server, made, store = env
    tokens = [join(server, made.code) for _ in range(3)]
    first = add(server, made, "poll", {"kind": "scale", "question": "Do we agree?"})
    for token, v in zip(tokens, (1, 2, 2), strict=True):
        answer(server, made.code, token, first, {"value": v})
    status, data = console(server, made, round=first, action="revote")
    assert status == 200
    second = data["round"]["id"]
    assert repo.get_round(store, first)["status"] == "closed"
    again = repo.get_round(store, second)
    assert again["status"] == "open" and again["config"]["revote_of"] == first
    assert again["config"]["question"] == "Do we agree?"
    for token, v in zip(tokens, (4, 5, 4), strict=True):
        answer(server, made.code, token, second, {"value": v})
    reveal(server, made, second)
    res = phone_state(server, made, tokens[0])["results"][str(second)]
    assert res["mean"] == pytest.approx(13 / 3) and res["before"]["mean"] == pytest.approx(5 / 3)
    ticket = ls.projector_ticket(repo.get_session(store, made.code))
    status, proj = server.call("GET", f"/kit/live/api/p/{made.code}/state?t={ticket}")
    assert proj["round"]["id"] == second and proj["results"]["before"]["n"] == 3
    status, data = console(server, made, round=first, action="revote")  # a re-vote of the first
    assert repo.get_round(store, data["round"]["id"])["config"]["revote_of"] == first


def test_scale_poll_mean_and_spread(env) -> None:
    server, made, store = env
    tokens = [join(server, made.code) for _ in range(4)]
    rid = add(
        server,
        made,
        "poll",
        {"kind": "scale", "question": "Energy?", "min": 1, "max": 7, "labels": ["low", "high"]},
    )
    state = phone_state(server, made, tokens[0])
    shown = next(r for r in state["rounds"] if r["id"] == rid)
    assert shown["scale"] == {"min": 1, "max": 7, "labels": ["low", "high"]}
    assert shown["question"] == "Energy?"
    for token, v in zip(tokens, (2, 6, 7, 5), strict=True):
        assert answer(server, made.code, token, rid, {"value": v})[0] == 200
    status, data = answer(server, made.code, tokens[0], rid, {"value": 8})
    assert status == 422 and "outside 1-7" in data["message"]
    status, data = answer(server, made.code, tokens[0], rid, {"value": 3, "extra": 1})
    assert status == 422
    reveal(server, made, rid)
    res = results(server, made, rid)
    assert res["n"] == 4 and res["mean"] == pytest.approx(5.0)
    assert res["sd"] == pytest.approx(statistics.stdev([2, 6, 7, 5]))
    assert res["counts"]["7"] == 1 and res["counts"]["1"] == 0


def test_ranking_points_and_matrix_polls(env) -> None:
    server, made, store = env
    tokens = [join(server, made.code) for _ in range(3)]
    options = ["Budget", "People", "Digital"]
    rank = add(
        server, made, "poll", {"kind": "ranking", "question": "Priorities?", "options": options}
    )
    for token, order in zip(tokens, ([0, 1, 2], [1, 0, 2], [1, 2, 0]), strict=True):
        assert answer(server, made.code, token, rank, {"ranking": order})[0] == 200
    status, data = answer(server, made.code, tokens[0], rank, {"ranking": [0, 0, 1]})
    assert status == 422 and "all 3 options" in data["message"]
    reveal(server, made, rank)
    res = results(server, made, rank)["options"]
    # Borda: k - rank summed; People ranks 2,1,1 -> (3-2)+(3-1)+(3-1) = 5
    assert [(o["option"], o["borda"], o["mean_rank"]) for o in res] == [
        ("People", 5.0, pytest.approx(4 / 3)),
        ("Budget", 3.0, pytest.approx(2.0)),
        ("Digital", 1.0, pytest.approx(8 / 3)),
    ]
    points = add(
        server, made, "poll", {"kind": "points", "question": "Spend 100", "options": options}
    )
    for token, split in zip(
        tokens, ({"0": 100}, {"0": 50, "1": 50}, {"1": 30, "2": 70}), strict=True
    ):
        assert answer(server, made.code, token, points, {"points": split})[0] == 200
    status, data = answer(server, made.code, tokens[0], points, {"points": {"0": 60}})
    assert status == 422 and "add up to 100 (now 60)" in data["message"]
    reveal(server, made, points)
    res = {o["option"]: o for o in results(server, made, points)["options"]}
    assert res["Budget"]["points"] == 150 and res["Budget"]["mean"] == pytest.approx(50)
    assert res["Digital"]["points"] == 70 and res["Digital"]["givers"] == 1
    matrix = add(
        server,
        made,
        "poll",
        {
            "kind": "matrix",
            "question": "Place them",
            "options": options,
            "axes": {"x": "Impact", "y": "Effort"},
        },
    )
    for i, token in enumerate(tokens):
        body = {"matrix": {"0": {"x": 1 + i, "y": 5}, "1": {"x": 3}}}
        assert answer(server, made.code, token, matrix, body)[0] == 200
    answer(server, made.code, tokens[0], matrix, {"matrix": {"2": {"x": 4, "y": 4}}})
    reveal(server, made, matrix)
    res = {o["option"]: o for o in results(server, made, matrix)["options"]}
    assert res["Budget"]["x"] == pytest.approx(2.0) and res["Budget"]["y"] == 5.0
    assert res["People"]["x"] == 3.0 and res["People"]["y"] is None  # nobody placed it on y
    assert res["Digital"]["x"] is None and res["Digital"]["x_n"] is None  # one person: hidden
    for bad in (
        {"kind": "ranking", "question": "x", "options": ["one"]},
        {"kind": "pie", "question": "x"},
        {"kind": "scale", "question": ""},
    ):
        status, data = console(server, made, action="add_round", exercise="poll", config=bad)
        assert status == 422, bad
    assert (
        "from 2 to 12 different options"
        in console(
            server,
            made,
            action="add_round",
            exercise="poll",
            config={"kind": "points", "question": "x", "options": ["a", "a"]},
        )[1]["message"]
    )


def test_word_cloud_threshold_banned_words_and_moderation(env) -> None:
    server, made, store = env
    tokens = [join(server, made.code) for _ in range(5)]
    rid = add(server, made, "wordcloud", {"question": "One word for the team?", "words": 2})
    status, data = answer(server, made.code, tokens[0], rid, {"words": ["Trust", "fuck"]})
    assert status == 422 and "cannot be used" in data["message"]
    status, data = answer(server, made.code, tokens[0], rid, {"words": ["a", "b", "c"]})
    assert status == 422 and "at most 2 words" in data["message"]
    assert repo.load_answers(store, round_ids=[rid]).empty  # nothing of it was kept
    answer(server, made.code, tokens[0], rid, {"words": ["Trust", "trust!"]})  # once per person
    answer(server, made.code, tokens[1], rid, {"words": ["trust", "Speed"]})
    reveal(server, made, rid)
    assert results(server, made, rid)["hidden"] is True  # 2 people: nothing at all
    answer(server, made.code, tokens[2], rid, {"words": ["TRUST", "silos"]})
    res = results(server, made, rid)
    assert [(w["word"], w["count"]) for w in res["words"]][:1] == [("trust", 3)]
    assert {w["key"] for w in res["words"]} == {"trust", "speed", "silos"}
    # a fourth person answering changes nothing anyone sees (no single answer is readable)
    answer(server, made.code, tokens[3], rid, {"words": ["silos"]})
    assert results(server, made, rid)["words"] == res["words"]
    status, _ = console(server, made, round=rid, action="hide_word", word="Silos")
    assert status == 200
    phone = phone_state(server, made, tokens[4])["results"][str(rid)]
    assert "silos" not in {w["key"] for w in phone["words"]}
    console(server, made, round=rid, action="show_word", word="silos")
    assert "silos" in {w["key"] for w in results(server, made, rid)["words"]}
    status, _ = console(server, made, round=rid, action="hide_word", word="  ")
    assert status == 422


def test_qa_entries_shown_once_allowed_and_one_vote_per_entry(env) -> None:
    server, made, store = env
    tokens = [join(server, made.code) for _ in range(4)]
    rid = add(server, made, "qa", {"question": "What should we ask the director?"})
    for i, token in enumerate(tokens[:3]):
        status, _ = answer(
            server, made.code, token, rid, {"entry": {"id": f"q{i}", "text": f"Question {i}"}}
        )
        assert status == 200
    pending = results(server, made, rid)["entries"]
    assert sorted(e["text"] for e in pending) == ["Question 0", "Question 1", "Question 2"]
    assert not any(e["approved"] for e in pending)
    state = phone_state(server, made, tokens[3])
    assert next(r for r in state["rounds"] if r["id"] == rid)["entries"] == []
    ids = {e["text"]: e["id"] for e in pending}
    status, data = answer(server, made.code, tokens[3], rid, {"vote": ids["Question 0"]})
    assert status == 422  # not allowed yet: cannot be voted on
    for text in ("Question 0", "Question 2"):
        assert console(server, made, round=rid, action="approve", entry=ids[text])[0] == 200
    status, data = console(server, made, round=rid, action="approve", entry=999999)
    assert status == 422  # only an entry of the published version
    time.sleep(0.6)
    state = phone_state(server, made, tokens[3])
    shown = next(r for r in state["rounds"] if r["id"] == rid)["entries"]
    assert sorted(e["text"] for e in shown) == ["Question 0", "Question 2"]
    for token in tokens:
        assert answer(server, made.code, token, rid, {"vote": ids["Question 2"]})[0] == 200
    status, data = answer(server, made.code, tokens[0], rid, {"vote": ids["Question 2"]})
    assert status == 200 and data["unchanged"] == 1  # the same vote again counts once
    answer(server, made.code, tokens[0], rid, {"vote": ids["Question 0"]})
    reveal(server, made, rid)
    phone = phone_state(server, made, tokens[1])["results"][str(rid)]
    assert [(e["text"], e["votes"]) for e in phone["entries"]] == [
        ("Question 2", 4),
        ("Question 0", 1),
    ]
    assert "Question 1" not in str(phone)  # not allowed: never shown to the room
    answer(server, made.code, tokens[0], rid, {"vote": ids["Question 2"], "on": False})
    votes = repo.load_answers(store, round_ids=[rid])
    assert (votes["question"] == f"vote:{ids['Question 2']}").sum() == 3


def test_boundedness_spread(env) -> None:
    server, made, store = env
    tokens = [join(server, made.code) for _ in range(3)]
    rid = add(server, made, "boundedness", {})
    lists = (["Kari", "Ola", "Per"], ["kari", "Ola", " Lise "], ["KARI", "Ola", "Per", "Kari"])
    for token, names in zip(tokens, lists, strict=True):
        assert answer(server, made.code, token, rid, {"names": names})[0] == 200
    status, data = answer(server, made.code, tokens[0], rid, {"names": ["x"] * 31})
    assert status == 422 and "at most 30 names" in data["message"]
    reveal(server, made, rid)
    res = results(server, made, rid)
    spread = {n["name"].casefold(): (n["count"], n["band"]) for n in res["names"]}
    assert spread == {"kari": (3, "all"), "ola": (3, "all"), "per": (2, "some"), "lise": (1, "one")}
    assert math.isclose(next(n["share"] for n in res["names"] if n["band"] == "some"), 2 / 3)


def test_decision_review_breadth(env) -> None:
    server, made, store = env
    tokens = [join(server, made.code) for _ in range(3)]
    rid = add(server, made, "decision_review", {"decisions": ["New office", "Hiring freeze"]})
    marks = (
        {"0": ["own_unit", "data"], "1": ["own_unit"]},
        {"0": ["own_unit", "users", "research", "data"]},
        {"0": []},
    )
    for token, m in zip(tokens, marks, strict=True):
        assert answer(server, made.code, token, rid, {"marks": m})[0] == 200
    status, data = answer(server, made.code, tokens[0], rid, {"marks": {"0": ["gut"]}})
    assert status == 422 and "own_unit" in data["message"]
    status, data = answer(server, made.code, tokens[0], rid, {"marks": {"5": ["data"]}})
    assert status == 422
    reveal(server, made, rid)
    res = results(server, made, rid)
    office, freeze = res["decisions"]
    assert office["n"] == 3 and office["breadth"] == pytest.approx((2 / 7 + 4 / 7 + 0) / 3)
    assert office["own_unit"] == pytest.approx(2 / 3) and office["data"] == pytest.approx(2 / 3)
    assert freeze["hidden"] is True and freeze["breadth"] is None and freeze["n"] is None
    assert res["breadth"] == pytest.approx(office["breadth"])  # only decisions shown count


def test_participants_propose_and_the_facilitator_accepts(env) -> None:
    server, made, store = env
    tokens = [join(server, made.code) for _ in range(3)]
    rid = next(
        r["id"] for r in repo.list_rounds(store, made.session_id) if r["exercise"] == "action_plan"
    )
    console(server, made, round=rid, action="open")
    for i, token in enumerate(tokens):
        body = {"proposal": {"id": f"p{i}", "text": f"Strategy item {i} every meeting"}}
        assert answer(server, made.code, token, rid, body)[0] == 200
    status, data = answer(
        server, made.code, tokens[0], rid, {"proposal": {"id": "p9", "text": " "}}
    )
    assert status == 422
    proposals = results(server, made, rid)["proposals"]
    assert len(proposals) == 3
    pid = proposals[0]["id"]
    status, data = console(
        server,
        made,
        round=rid,
        action="accept",
        entry=pid,
        group="g2",
        text="Strategy first on every agenda",
    )
    assert status == 200
    plan = repo.list_actions(store, "g2")
    assert plan["action"].tolist() == ["Strategy first on every agenda"]
    status, data = console(server, made, round=rid, action="accept", entry=pid, group="g9")
    assert status == 422
    status, data = console(server, made, round=rid, action="accept", entry=123456, group="g1")
    assert status == 422


def test_facilitator_actions_need_the_key(env) -> None:
    server, made, store = env
    rid = repo.list_rounds(store, made.session_id)[0]["id"]
    for body in (
        {"action": "add_round", "exercise": "poll", "config": {"kind": "scale", "question": "x"}},
        {"round": rid, "action": "timer", "seconds": 60},
        {"round": rid, "action": "revote"},
    ):
        status, data = server.call(
            "POST", f"/kit/live/api/console/{made.code}/round", body, headers={KEY: "wrong"}
        )
        assert status == 403, body
    assert len(repo.list_rounds(store, made.session_id)) == 2  # nothing was added
    other = ls.create_session(
        store, server.settings, expected=3, title="Other", group_ids=["g1"], language="en"
    )
    foreign = repo.list_rounds(store, other.session_id)[0]["id"]
    status, data = console(server, made, round=foreign, action="timer", seconds=60)
    assert status == 422 and "not part of this session" in data["message"]


def test_export_holds_the_interactions_by_the_room_rules(env, tmp_path) -> None:
    import csv

    from kit.live.export import export_session

    server, made, store = env
    tokens = [join(server, made.code) for _ in range(3)]
    poll = add(server, made, "poll", {"kind": "scale", "question": "Ready?"})
    cloud = add(server, made, "wordcloud", {"question": "Word?"})
    lone = add(server, made, "boundedness", {})
    for i, token in enumerate(tokens):
        answer(server, made.code, token, poll, {"value": 2 + i})
        answer(server, made.code, token, cloud, {"words": ["=HYPERLINK(1)", "trust"]})
    answer(server, made.code, tokens[0], lone, {"names": ["Kari"]})  # one: below 3
    done = export_session(store, server.settings, made.code, tmp_path / "out")
    names = {p.name for p in done.paths}
    assert {
        "polls.csv",
        "words.csv",
        "qa.csv",
        "boundedness.csv",
        "decisions.csv",
        "proposals.csv",
    } <= names

    def read(name: str) -> list[dict[str, str]]:
        with open(tmp_path / "out" / name, newline="", encoding="utf-8") as fh:
            return list(csv.DictReader(fh))

    polls = read("polls.csv")
    assert len(polls) == 1 and polls[0]["n"] == "3" and float(polls[0]["mean"]) == 3.0
    words = {r["word"]: r["count"] for r in read("words.csv")}
    assert words["trust"] == "3" and "'=hyperlink(1" in words  # neutralised formula
    assert read("boundedness.csv") == []  # one person named one name: not exported
