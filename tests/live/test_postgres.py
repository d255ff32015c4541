"""The live repository on both databases: SQLite by default, PostgreSQL by URL."""

from __future__ import annotations

from kit.live import session as ls
from kit.store import live as repo
from kit.store.live import AnswerIn, LiveStateError


def test_live_session_round_trip(any_store, live_settings) -> None:
    store = any_store
    store.save_group("g1", "Team One")
    made = ls.create_session(store, live_settings, expected=20,
                             title="Both databases", group_ids=["g1"])
    rounds = {r["exercise"]: r["id"] for r in repo.list_rounds(store, made.session_id)}
    rid = rounds["pulse"]
    repo.update_round(store, rid, status="open", revealed=True)
    tokens = [f"token-{i:02d}-abcdefghijklmnop" for i in range(4)]
    jobs = [lambda c, k, t=t: repo.join_in(c, k, made.code, t, "g1", "nb", trusted=True).participant
            for t in tokens]
    assert all(isinstance(x, int) for x in repo.run_batch(store, jobs))
    jobs = [lambda c, k, t=t, v=i: repo.answer_in(c, k, made.code, t, rid,
                                                   [AnswerIn("P01", float(v + 1))])
            for i, t in enumerate(tokens)]
    jobs.append(lambda c, k: repo.answer_in(c, k, made.code, "nobody-joined-this-x", rid,
                                            [AnswerIn("P01", 1.0)]))
    results = repo.run_batch(store, jobs)
    assert [r.saved for r in results[:4]] == [1, 1, 1, 1]
    assert isinstance(results[4], LiveStateError)  # refused alone; the others committed
    answers = repo.load_answers(store, round_ids=[rid])
    assert sorted(answers["value"]) == [1.0, 2.0, 3.0, 4.0]
    entry = AnswerIn("entry:x", 30.0, "Budget", {"title": "Budget", "minutes": 30.0})
    repo.update_round(store, rounds["agenda_audit"], status="open")
    repo.save_answers(store, made.code, tokens[0], rounds["agenda_audit"], [entry])
    data = repo.load_answers(store, round_ids=[rounds["agenda_audit"]])["data"].iloc[0]
    assert data == {"title": "Budget", "minutes": 30.0}
    assert repo.get_round(store, rid)["revealed"] is True
    repo.add_action(store, made.session_id, "g1", "Act", "Kari", "2027-01-01", "purpose")
    assert repo.list_actions(store, "g1")["session_id"].tolist() == [made.code]
    assert repo.list_sessions(store)["answers"].tolist() == [5]
    repo.start_turn(store, rounds["airtime"], "Kari", 10.0)
    repo.stop_turns(store, rounds["airtime"], 70.0)
    assert repo.list_turns(store, [rounds["airtime"]])["ended_at"].tolist() == [70.0]
