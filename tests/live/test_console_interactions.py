"""The console's new controls through their traits: timer, re-vote, a round written on the
spot, Q&A and word-cloud moderation, accepting proposed actions, the projector link."""

from __future__ import annotations

import time

import pytest

from kit.live import session as ls
from kit.live import widgets as lw
from kit.store import live as repo
from kit.store.live import AnswerIn


@pytest.fixture
def console(created, live_settings, live_store) -> lw.FacilitatorConsole:
    return lw.FacilitatorConsole(live_settings, created.code, live_store)


def _answer(
    store, code: str, rid: int, n: int, answers: list[AnswerIn], prefix: str | None = None
) -> None:
    token = f"participant-{n:08d}-xxxx"
    repo.add_participant(store, code, token, None, "en")
    repo.save_answers(store, code, token, rid, answers, replace_prefix=prefix)


def test_projector_link_and_timer(console, created, live_store, live_settings) -> None:
    session = repo.get_session(live_store, created.code)
    assert ls.projector_url(live_settings, session) in console.header.value.replace("&amp;", "&")
    console.open_btn.click()
    console.timer_seconds.value = 60
    console.timer_btn.click()
    ends = console.round["config"]["ends_at"]
    assert 55 < ends - time.time() <= 60 and "Time left: " in console.timer_line.value
    console.extend_btn.click()
    assert console.round["config"]["ends_at"] == pytest.approx(ends + 30)
    cfg = {**console.round["config"], "ends_at": time.time() - 1}
    repo.update_round(live_store, console.current, config=cfg)
    console.poll_once()
    assert repo.get_round(live_store, console.current)["status"] == "closed"  # time is up
    assert console.round["status"] == "closed" and console.close_btn.disabled


def test_adhoc_poll_and_revote(console, created, live_store) -> None:
    form = console.adhoc
    form.kind.value = "poll:ranking"
    form.question.value = "What first?"
    form.lines.value = "Budget\nPeople"
    form.add.click()
    rnd = console.round
    assert rnd["exercise"] == "poll" and rnd["status"] == "open"
    assert rnd["config"] == {
        "kind": "ranking",
        "question": "What first?",
        "options": ["Budget", "People"],
    }
    assert repo.get_session(live_store, created.code)["current_round_id"] == rnd["id"]
    form.kind.value = "poll:points"
    form.question.value = "Only one"
    form.lines.value = "Budget"
    form.add.click()
    assert "from 2 to 12 different options" in form.message.value
    for n, order in enumerate(([0, 1], [1, 0], [0, 1])):
        _answer(
            live_store,
            created.code,
            rnd["id"],
            n,
            [AnswerIn(f"rank:{i}", float(p)) for p, i in enumerate(order, start=1)],
        )
    console.reveal.value = True
    console.poll_once(force=True)
    assert "Borda points" in console.widget.view.value and "Budget" in console.widget.view.value
    first = console.current
    second = console.revote()
    assert console.current == second and console.round["config"]["revote_of"] == first
    assert repo.get_round(live_store, first)["status"] == "closed"
    console.picker.value = next(r["id"] for r in console.rounds if r["exercise"] == "purpose")
    assert console.revote() is None and "re-vote can be run only" in console.timer_line.value


def test_qa_and_word_cloud_moderation(console, created, live_store) -> None:
    form = console.adhoc
    form.kind.value = "qa"
    form.question.value = "Questions?"
    form.add.click()
    rid = console.current
    for n in range(3):
        _answer(live_store, created.code, rid, n, [AnswerIn(f"entry:e{n}", None, f"Q {n}")])
    console.poll_once(force=True)
    boxes = [c for c in console.widget.moderation.children if hasattr(c, "indent")]
    assert sorted(b.description for b in boxes) == ["Q 0", "Q 1", "Q 2"]
    next(b for b in boxes if b.description == "Q 1").value = True
    approved = repo.get_round(live_store, rid)["config"]["approved"]
    assert len(approved) == 1
    form.kind.value = "wordcloud"
    form.question.value = "One word"
    form.add.click()
    rid = console.current
    for n, word in enumerate(("trust", "Trust", "speed")):
        _answer(
            live_store, created.code, rid, 10 + n, [AnswerIn("word:0", None, word)], prefix="word:"
        )
    console.poll_once(force=True)
    buttons = console.widget.moderation.children[1].children
    assert [b.description for b in buttons] == ["✕ trust (2)", "✕ speed (1)"]
    buttons[1].click()
    assert repo.get_round(live_store, rid)["config"]["hidden"] == ["speed"]
    buttons = console.widget.moderation.children[1].children
    assert [b.description for b in buttons] == ["✕ trust (2)", "↺ speed"]
    buttons[1].click()
    assert repo.get_round(live_store, rid)["config"]["hidden"] == []


def test_proposed_actions_are_accepted_with_edits(console, created, live_store) -> None:
    console.picker.value = next(r["id"] for r in console.rounds if r["exercise"] == "action_plan")
    console.open_btn.click()
    rid = console.current
    for n in range(3):
        _answer(live_store, created.code, rid, n, [AnswerIn(f"entry:p{n}", None, f"Proposal {n}")])
    console.poll_once(force=True)
    rows = [
        c
        for c in console.widget.review.children
        if hasattr(c, "children")
        and len(c.children) == 2
        and hasattr(c.children[0], "value")
        and str(c.children[0].value).startswith("Proposal")
    ]
    assert len(rows) == 3
    rows[0].children[0].value = "Proposal 0, edited"
    rows[0].children[1].click()
    assert repo.list_actions(live_store, "g1")["action"].tolist() == ["Proposal 0, edited"]
    left = [
        c
        for c in console.widget.review.children
        if hasattr(c, "children")
        and len(c.children) == 2
        and str(getattr(c.children[0], "value", "")).startswith("Proposal")
    ]
    assert len(left) == 2  # an accepted proposal is not offered again
