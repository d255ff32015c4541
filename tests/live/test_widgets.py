"""The console and the exercise widgets through their traits (no browser, no kernel)."""

from __future__ import annotations

import datetime as dt

import pytest

from kit.live import session as ls
from kit.live import widgets as lw
from kit.store import live as repo
from kit.store.live import AnswerIn


@pytest.fixture
def console(created, live_settings, live_store) -> lw.FacilitatorConsole:
    return lw.FacilitatorConsole(live_settings, created.code, live_store)


def _answer(store, code: str, rid: int, n: int, answers: list[AnswerIn]) -> None:
    token = f"participant-{n:08d}-xxxx"
    repo.add_participant(store, code, token, None, "en")
    repo.save_answers(store, code, token, rid, answers)


def _go(console: lw.FacilitatorConsole, exercise: str) -> lw.ExerciseWidget:
    console.picker.value = next(r["id"] for r in console.rounds if r["exercise"] == exercise)
    assert console.widget is not None and console.round["exercise"] == exercise
    return console.widget


def test_console_shows_code_qr_and_follows_answers(console, created, live_store) -> None:
    assert created.code in console.header.value and "<svg" in console.header.value
    assert console.current == console.rounds[0]["id"] and console.round["exercise"] == "pulse"
    assert isinstance(console.widget, lw.PulseWidget)
    assert not console.poll_once()  # nothing changed
    console.open_btn.click()
    assert console.round["status"] == "open" and console.open_btn.disabled
    rid = console.current
    for n, v in enumerate((1, 5, 3, 4)):
        _answer(live_store, created.code, rid, n, [AnswerIn("P01", float(v)),
                                                   AnswerIn("P02", 4.0)])
    assert console.poll_once()  # new answers: redrawn
    assert (console.participants, console.answered) == (4, 4)
    assert console.widget.results == {"shown": False}  # counts only until revealed
    assert "Admitted: 4 of 20 expected · 0 waiting" in console.admission.value
    console.reveal.value = True
    items = {i["item"]: i for i in console.widget.results["items"]}
    assert (items["P01"]["1"], items["P01"]["5"], items["P01"]["n"]) == (1, 1, 4)
    assert items["P01"]["disagreement"] and not items["P02"]["disagreement"]
    assert repo.get_round(live_store, rid)["revealed"] and console.widget.revealed
    assert "<svg" in console.widget.view.value and "Most disagreement" in console.widget.view.value
    assert "Showing version 1" in console.widget.view.value
    console.close_btn.click()
    assert repo.get_round(live_store, rid)["status"] == "closed"
    console.export.click()
    assert "Saved as CSV in" in console.exported.value
    out = console.settings.outputs_dir / "live" / created.code
    assert (out / "pulse.csv").read_text().count("\n") == 1 + 8  # header and the 8 items
    assert not (out / "answers-raw.csv").exists()  # no individual answers unless asked


def test_pulse_items_change_only_before_opening(console, live_store) -> None:
    widget = _go(console, "pulse")
    widget.items.value = ("P01", "P04")
    assert repo.get_round(live_store, console.current)["config"]["items"] == ["P01", "P04"]
    console.open_btn.click()
    assert widget.items.disabled


def test_pulse_below_minimum_shows_only_the_count(console, created, live_store) -> None:
    console.open_btn.click()
    console.reveal.value = True
    _answer(live_store, created.code, console.current, 1, [AnswerIn("P01", 2.0)])
    console.poll_once()
    assert console.widget.results["hidden"] and "items" not in console.widget.results
    assert console.widget.results["respondents"] is None  # not even how few
    assert "Nothing shown yet: results appear when at least 3" in console.widget.view.value


def test_console_resumes_at_the_saved_round(console, created, live_settings, live_store) -> None:
    console.step(2)
    assert console.round["exercise"] == "agenda_audit"
    again = lw.FacilitatorConsole(live_settings, created.code, live_store)
    assert again.current == console.current and again.round["exercise"] == "agenda_audit"


def test_purpose_statements_votes_and_agreed_text(console, created, live_store) -> None:
    widget = _go(console, "purpose")
    console.open_btn.click()
    console.reveal.value = True
    rid = console.current
    _answer(live_store, created.code, rid, 1, [AnswerIn("statement", None, "<b>We lead</b>")])
    _answer(live_store, created.code, rid, 2, [AnswerIn("statement", None, "We serve")])
    console.poll_once()
    assert widget.results["hidden"] and "statements" not in widget.results  # 2 wrote
    _answer(live_store, created.code, rid, 3, [AnswerIn("statement", None, "We decide")])
    console.poll_once()
    assert "&lt;b&gt;We lead&lt;/b&gt;" in widget.view.value  # shown as text
    assert "<b>We lead</b>" not in widget.view.value
    widget.phase.value = "vote"
    assert repo.get_round(live_store, rid)["config"]["phase"] == "vote"
    ids = {s["text"]: s["id"] for s in widget.results["statements"]}
    for n in (1, 2):
        _answer(live_store, created.code, rid, n, [AnswerIn(f"vote:{ids['We serve']}", 3.0)])
    console.poll_once()
    assert widget.results["votes_hidden"]  # two voters: no tally
    assert {s["votes"] for s in widget.results["statements"]} == {None}
    _answer(live_store, created.code, rid, 3, [AnswerIn(f"vote:{ids['<b>We lead</b>']}", 1.0)])
    console.poll_once()
    assert widget.results["statements"][0]["text"] == "We serve"
    assert widget.results["statements"][0]["votes"] == 6
    widget.agreed.value = ""
    widget.save.click()
    assert "cannot be empty" in widget.message.value
    widget.agreed.value = "We serve the citizens together"
    widget.save.click()
    assert repo.get_round(live_store, rid)["outcome"] == {"statement": widget.agreed.value}
    console.poll_once(force=True)
    assert widget.results["agreed"] == "We serve the citizens together"


def test_airtime_taps(console, live_store) -> None:
    widget = _go(console, "airtime")
    widget.people.value = "*Kari\nOla\n\nPer  "
    widget.apply.click()
    assert [b.description for b in widget.buttons.children] == ["Kari", "Ola", "Per"]
    assert repo.get_round(live_store, console.current)["config"]["speakers"][0] == {
        "name": "Kari", "leader": True}
    widget.tap("Kari", at=1000.0)
    widget.tap("Ola", at=1090.0)
    widget.tap("Kari", at=1120.0)
    widget.stop_speaking(at=1150.0)
    r = widget.results
    by = {s["speaker"]: s for s in r["speakers"]}
    assert by["Kari"]["seconds"] == 120 and by["Kari"]["turns"] == 2 and by["Per"]["turns"] == 0
    assert r["leader_share"] == pytest.approx(0.8) and r["turns"] == 3
    assert r["gini"] == pytest.approx((90 + 120 + 30) * 2 / (2 * 9 * 50))
    widget.undo.click()  # the last tap was a mistake
    assert widget.results["turns"] == 2
    widget.buttons.children[2].click()  # a real tap on Per's button
    assert widget.results["turns"] == 3


def test_stakeholder_actors(console, created, live_store) -> None:
    widget = _go(console, "stakeholder_map")
    widget.actors.value = "Ministry\nUsers\nMinistry\n"
    widget.axis.value = "dependency"
    widget.apply.click()
    cfg = repo.get_round(live_store, console.current)["config"]
    assert cfg == {"actors": ["Ministry", "Users"], "axis": "dependency"}
    console.open_btn.click()
    console.reveal.value = True
    for n in (1, 2, 3):
        _answer(live_store, created.code, console.current, n, [AnswerIn("power:0", 5.0),
                                                               AnswerIn("interest:0", 4.0)])
    console.poll_once()
    assert widget.results["actors"][0]["quadrant"] == "manage_closely"
    assert widget.results["actors"][1]["power"] is None  # nobody placed the users
    assert "<svg" in widget.view.value
    widget.actors.value = "Users\nMinistry"  # reordering would change what answers mean
    widget.apply.click()
    assert "closed" in widget.message.value
    assert repo.get_round(live_store, console.current)["config"]["actors"] == ["Ministry", "Users"]


def test_action_plan(console, created, live_settings, live_store) -> None:
    widget = _go(console, "action_plan")
    widget.add.click()
    assert "cannot be empty" in widget.message.value
    widget.action.value = "A monthly strategy meeting"
    widget.owner.value = "Kari"
    widget.due.value = dt.date(2027, 2, 1)
    widget.dimension.value = widget.dimension.options[1][1]
    widget.add.click()
    frame = repo.list_actions(live_store, "g1")
    assert frame.iloc[0][["action", "owner", "due_date", "status"]].tolist() == [
        "A monthly strategy meeting", "Kari", "2027-02-01", "open"]
    assert widget.results["actions"] == 1 and len(widget.review.children) == 1
    status = widget.review.children[0].children[0]
    status.value = "done"
    assert repo.list_actions(live_store, "g1")["status"].tolist() == ["done"]
    # reviewed at the next gathering
    later = ls.create_session(live_store, live_settings, expected=20,
                              title="Next", group_ids=["g1"])
    nxt = lw.FacilitatorConsole(live_settings, later.code, live_store)
    review = _go(nxt, "action_plan")
    assert review.results["actions"] == 1 and "↺" in review.review.children[0].children[1].value


def test_gate_asks_for_the_key(created, live_settings, live_store, monkeypatch) -> None:
    monkeypatch.setenv("SERVER_SOFTWARE", "voila/0.5.13")
    monkeypatch.setenv("QUERY_STRING", f"session={created.code}")
    gate = lw.open_console(live_settings)
    assert gate.console is None  # no key in the URL: nothing shown but the form
    gate.key.value = "wrong"
    gate.go.click()
    assert gate.console is None and "key is missing or wrong" in gate.message.value
    gate.key.value = created.key
    gate.go.click()
    assert gate.console is not None and gate.children == (gate.console,)
    gate.console.stop()
    monkeypatch.setenv("QUERY_STRING", f"session={created.code}&key={created.key}")
    assert lw.open_console(live_settings).console is not None
    monkeypatch.setenv("QUERY_STRING", "session=NOPE99&key=x")
    gate = lw.open_console(live_settings)
    assert gate.console is None and "no session with the code NOPE99" in gate.message.value


def test_gate_creates_a_session_with_the_kit_key(live_settings, live_store, monkeypatch) -> None:
    monkeypatch.setenv("SERVER_SOFTWARE", "voila/0.5.13")
    monkeypatch.delenv("QUERY_STRING", raising=False)
    gate = lw.open_console(live_settings)
    gate.title.value = "Samling 3"
    gate.groups.value = ("g1", "g2")
    gate.exercises.value = ("pulse", "airtime")
    gate.create.click()
    assert gate.console is None and "key is missing or wrong" in gate.message.value
    gate.key.value = ls.facilitator_key(live_settings)
    gate.title.value = ""
    gate.create.click()
    assert "give the session a title" in gate.message.value
    gate.title.value = "Samling 3"
    gate.instrument.value = "lagprofil"  # any instrument can feed the pulse
    gate.create.click()
    assert gate.console is not None
    assert gate.console.rounds[0]["config"]["instrument"] == "lagprofil"
    assert len(gate.console.rounds[0]["config"]["items"]) == 56
    assert [r["exercise"] for r in gate.console.rounds] == ["pulse", "airtime"]
    assert gate.console.session["group_ids"] == ["g1", "g2"]
    gate.console.stop()


def test_cohort_session_has_no_per_team_view(live_settings, live_store) -> None:
    """A per-team filter beside the room's result gives the other team by subtraction (room of
    5 minus team g1's 3 = g2's 2 answers): a cohort session shows the room's result only."""
    made = ls.create_session(live_store, live_settings, expected=20, title="Cohort",
                             group_ids=["g1", "g2"])
    console = lw.FacilitatorConsole(live_settings, made.code, live_store)
    assert not hasattr(console, "group_filter")
    console.open_btn.click()
    console.reveal.value = True
    for n, group in enumerate(["g1", "g1", "g1", "g2", "g2"]):
        token = f"cohort-member-{n:06d}-x"
        repo.add_participant(live_store, made.code, token, group, "en")
        repo.save_answers(live_store, made.code, token, console.current,
                          [AnswerIn("P01", 1.0 if group == "g1" else 5.0)])
    console.poll_once()
    assert console.widget.results["respondents"] == 5
    items = {i["item"]: i for i in console.widget.results["items"]}
    assert (items["P01"]["1"], items["P01"]["5"]) == (3, 2)


def test_console_admits_waiting_participants(live_settings, live_store) -> None:
    made = ls.create_session(live_store, live_settings, expected=2, title="Room",
                             group_ids=["g1"])
    console = lw.FacilitatorConsole(live_settings, made.code, live_store)
    assert console.expected.value == 2 and console.admit_all.disabled
    for n in range(5):
        repo.add_participant(live_store, made.code, f"room-member-{n:06d}-x", None, "en")
    console.poll_once()
    assert (console.participants, console.joined, console.waiting) == (2, 5, 3)
    assert "Admitted: 2 of 2 expected · 3 waiting" in console.admission.value
    assert "one phone can join several times" in console.admission.value
    console.admit_one.click()
    assert repo.admission(live_store, made.session_id)["admitted"] == 3
    assert console.expected.value == 3  # admitting says there are more people
    console.expected.value = 4
    console.open_btn.click()  # opening a round with a new expected number admits up to it
    counts = repo.admission(live_store, made.session_id)
    assert (counts["expected"], counts["admitted"], counts["waiting"]) == (4, 4, 1)
    console.admit_all.click()
    assert repo.admission(live_store, made.session_id)["waiting"] == 0
    assert console.admit_all.disabled
