"""Sessions, keys and the repository: transactions, idempotence, closed rounds, export, CLI."""

from __future__ import annotations

import csv

import pytest

from kit.cli import main
from kit.errors import NotFoundError, ParameterError
from kit.live import session as ls
from kit.live.export import export_session
from kit.store import live as repo
from kit.store.live import AnswerIn, LiveStateError

TOKEN = "t" * 20


def test_create_session_plans_rounds_and_urls(created, live_store, live_settings) -> None:
    assert len(created.code) == 8 and set(created.code) <= set(ls.CODE_ALPHABET)
    assert created.join_url == f"{live_settings.base_url}/kit/live/s/{created.code}"
    query = f"facilitator.ipynb?session={created.code}&key={created.key}"
    assert created.console_url.endswith(query)
    session = repo.get_session(live_store, created.code)
    assert session["group_ids"] == ["g1"] and session["status"] == "open"
    assert session["key_hash"] != created.key  # only a hash is stored
    rounds = repo.list_rounds(live_store, created.session_id)
    assert [r["exercise"] for r in rounds] == list(ls.DEFAULT_EXERCISES)
    assert all(r["status"] == "draft" for r in rounds)
    assert rounds[0]["config"]["items"][:2] == ["P01", "P02"]
    svg = ls.qr_svg(created.join_url)
    assert svg.startswith("<svg") and "<path" in svg


def test_create_session_collects_every_problem(live_store, live_settings) -> None:
    # every exercise of exercises.yaml runs live now (boundedness and decision review too)
    with pytest.raises(ParameterError, match="(?s)3 problems.*title.*groups.*nope.*is not an "
                       "exercise") as info:
        ls.create_session(live_store, live_settings, expected=20, title=" ", group_ids=[],
                          exercises=["nope", "boundedness", "pulse"])
    assert "Nothing was created" in str(info.value)
    assert repo.list_sessions(live_store).empty
    with pytest.raises(NotFoundError, match="Group\\(s\\) 'g9' do not exist"):
        ls.create_session(live_store, live_settings, expected=20, title="x", group_ids=["g1", "g9"])
    with pytest.raises(ParameterError, match="instrument.*not found"):
        ls.create_session(live_store, live_settings, expected=20, title="x", group_ids=["g1"],
                          instrument="nosuch")


def test_keys(created, live_store, live_settings, monkeypatch) -> None:
    session = repo.get_session(live_store, created.code)
    assert ls.check_key(live_settings, session, created.key)
    assert not ls.check_key(live_settings, session, "wrong")
    assert not ls.check_key(live_settings, session, None)
    kit_key = ls.facilitator_key(live_settings)
    assert ls.facilitator_key(live_settings) == kit_key  # written once, then read
    assert (live_settings.var_dir / "facilitator.key").stat().st_mode & 0o077 == 0
    assert ls.check_key(live_settings, session, kit_key)
    monkeypatch.setenv("KIT_FACILITATOR_KEY", "from-env")
    assert ls.check_key(live_settings, session, "from-env")
    assert not ls.check_key(live_settings, session, kit_key)


def test_answers_are_changeable_idempotent_and_refused_when_closed(created, live_store) -> None:
    rid = repo.list_rounds(live_store, created.session_id)[0]["id"]
    repo.add_participant(live_store, created.code, TOKEN, None, "en")
    assert repo.add_participant(live_store, created.code, TOKEN, None, "en") == \
        repo.add_participant(live_store, created.code, TOKEN, "g1", "en")  # same person
    with pytest.raises(LiveStateError, match="is not open"):  # a draft round takes no answers
        repo.save_answers(live_store, created.code, TOKEN, rid, [AnswerIn("P01", 3.0)])
    repo.update_round(live_store, rid, status="open")
    first = repo.save_answers(live_store, created.code, TOKEN, rid, [AnswerIn("P01", 3.0)])
    again = repo.save_answers(live_store, created.code, TOKEN, rid, [AnswerIn("P01", 3.0)])
    changed = repo.save_answers(live_store, created.code, TOKEN, rid, [AnswerIn("P01", 5.0)])
    assert (first.saved, again.saved, again.unchanged, changed.saved) == (1, 0, 1, 1)
    ans = repo.load_answers(live_store, round_ids=[rid])
    assert ans["value"].tolist() == [5.0] and "token" not in ans.columns
    with pytest.raises(LiveStateError, match="has not joined"):
        repo.save_answers(live_store, created.code, "u" * 20, rid, [AnswerIn("P01", 1.0)])
    with pytest.raises(LiveStateError, match="has no round 9999"):
        repo.save_answers(live_store, created.code, TOKEN, 9999, [AnswerIn("P01", 1.0)])
    repo.update_round(live_store, rid, status="closed")
    with pytest.raises(LiveStateError, match="is not open") as info:
        repo.save_answers(live_store, created.code, TOKEN, rid, [AnswerIn("P01", 1.0)])
    assert info.value.reason == "round_closed"
    repo.set_session_status(live_store, created.code, "closed")
    with pytest.raises(LiveStateError, match="is closed"):
        repo.add_participant(live_store, created.code, "v" * 20, None, "en")
    with pytest.raises(NotFoundError, match="no live session with code 'ZZZZZZ'"):
        repo.get_session(live_store, "ZZZZZZ")
    assert repo.load_answers(live_store, round_ids=[rid])["value"].tolist() == [5.0]


def test_entries_votes_and_limits(created, live_store) -> None:
    rounds = {r["exercise"]: r["id"] for r in repo.list_rounds(live_store, created.session_id)}
    repo.add_participant(live_store, created.code, TOKEN, None, "en")
    rid = rounds["purpose"]
    repo.update_round(live_store, rid, status="open")
    repo.save_answers(live_store, created.code, TOKEN, rid, [AnswerIn("vote:1", 2.0),
                                                             AnswerIn("vote:2", 1.0)])
    res = repo.save_answers(live_store, created.code, TOKEN, rid, [AnswerIn("vote:2", 3.0)],
                            replace_prefix="vote:")
    assert (res.saved, res.removed) == (1, 1)
    assert repo.load_answers(live_store, round_ids=[rid])["question"].tolist() == ["vote:2"]
    rid = rounds["agenda_audit"]
    repo.update_round(live_store, rid, status="open")
    for i in range(3):
        repo.save_answers(live_store, created.code, TOKEN, rid, [AnswerIn(f"entry:{i}", 5.0)],
                          max_entries=3)
    with pytest.raises(LiveStateError, match="at most 3 entries"):
        repo.save_answers(live_store, created.code, TOKEN, rid, [AnswerIn("entry:x", 5.0)],
                          max_entries=3)
    res = repo.save_answers(live_store, created.code, TOKEN, rid, [], remove=["entry:0"])
    assert res.removed == 1


def test_actions_for_the_group_report(created, live_store, live_settings) -> None:
    empty = repo.list_actions(live_store, "g1")
    assert list(empty.columns) == repo.ACTION_COLUMNS and empty.empty
    aid = repo.add_action(live_store, created.session_id, "g1", "Strategy slot monthly", "Kari",
                          "2027-01-31", "purpose")
    repo.update_action(live_store, aid, status="done")
    later = ls.create_session(live_store, live_settings, expected=20,
                              title="Gathering 3", group_ids=["g1"])
    repo.add_action(live_store, later.session_id, "g1", "Rotate chair", "Ola")
    frame = repo.list_actions(live_store, "g1")
    assert frame["action"].tolist() == ["Strategy slot monthly", "Rotate chair"]
    assert frame.iloc[0][["owner", "due_date", "dimension", "status", "session_id"]].tolist() == \
        ["Kari", "2027-01-31", "purpose", "done", created.code]
    review = repo.list_session_actions(live_store, later.session_id, ["g1"], include_earlier=True)
    assert len(review) == 2 and repo.list_actions(live_store, "g2").empty
    with pytest.raises(Exception, match="not one of open, in_progress, done, dropped"):
        repo.update_action(live_store, aid, status="finished")


def test_export_to_csv(created, live_store, live_settings, tmp_path) -> None:
    rid = repo.list_rounds(live_store, created.session_id)[1]["id"]  # purpose
    repo.update_round(live_store, rid, status="open")
    repo.add_participant(live_store, created.code, TOKEN, "g1", "en")
    text = 'We "serve", <b>citizens</b>\nand each other'
    repo.save_answers(live_store, created.code, TOKEN, rid, [AnswerIn("statement", None, text)])
    repo.add_action(live_store, created.session_id, "g1", "Act", "Kari")
    paths = export_session(live_store, live_settings, created.code, tmp_path / "out",
                           raw=True).paths
    assert [p.name for p in paths] == ["session.csv", "rounds.csv", "pulse.csv", "purpose.csv",
                                       "agenda.csv", "stakeholders.csv", "airtime.csv",
                                       "polls.csv", "words.csv", "qa.csv", "boundedness.csv",
                                       "decisions.csv", "proposals.csv",
                                       "turns.csv", "actions.csv", "answers-raw.csv",
                                       "README-RAW.txt"]
    with open(tmp_path / "out" / "answers-raw.csv", newline="", encoding="utf-8") as fh:
        assert fh.readline().startswith("# WARNING: answers-raw.csv holds RAW DATA")
        rows = list(csv.DictReader(fh))
    assert rows[0]["text"] == text and rows[0]["participant"] == "1"
    assert TOKEN not in (tmp_path / "out" / "answers-raw.csv").read_text()


def test_cli(live_store, live_settings, capsys) -> None:
    home = ["--home", str(live_settings.home_dir), "--language", "en"]
    assert main([*home, "session", "list"]) == 0
    assert "No live sessions yet" in capsys.readouterr().out
    assert main([*home, "session", "create", "--title", "Samling 1", "--group", "g1",
                 "--group", "g2", "--exercises", "pulse,airtime"]) == 0
    out = capsys.readouterr().out
    code = out.split()[1]
    assert "/kit/live/s/" + code in out and "Session key" in out
    assert main([*home, "session", "list"]) == 0
    assert "Samling 1" in capsys.readouterr().out
    assert main([*home, "session", "export", code.lower(), "--out",
                 str(live_settings.home_dir / "x")]) == 0
    assert (live_settings.home_dir / "x" / "rounds.csv").is_file()
    assert main([*home, "session", "close", code]) == 0
    assert repo.get_session(live_store, code)["status"] == "closed"
    assert main([*home, "session", "export", "NOPE12"]) == 2
    assert "no live session with code 'NOPE12'" in capsys.readouterr().err
    assert main([*home, "session", "create", "--title", "x", "--group", "g1", "--exercises",
                 "nope"]) == 2
    assert "is not an exercise" in capsys.readouterr().err
    assert main([*home, "session", "key"]) == 0
    assert capsys.readouterr().out.strip() == ls.facilitator_key(live_settings)
