"""A real participant page in Debian's Chromium: it submits, and the facilitator's view shows it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kit.live import session as ls
from kit.store import live as repo

pytestmark = [pytest.mark.browser, pytest.mark.slow]




def test_participant_submits_and_facilitator_sees_it(browser, server, live_settings,
                                                     live_store, tmp_path) -> None:
    shots = Path(os.environ.get("LIVE_SHOTS_DIR", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    made = ls.create_session(live_store, live_settings, expected=20, title="Samling 2 <kull 5>",
                             group_ids=["g1"], language="nb")
    rounds = {r["exercise"]: r["id"] for r in repo.list_rounds(live_store, made.session_id)}
    key = {"X-Kit-Key": made.key}
    server.call("POST", f"/kit/live/api/console/{made.code}/round",
                {"round": rounds["pulse"], "action": "open"}, headers=key)
    dialogs: list[str] = []
    page = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2)
    page.set_default_timeout(45_000)  # a loaded 2-core machine
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))

    page.goto(f"{server.base}/kit/live/s/{made.code.lower()}")
    page.wait_for_selector("[data-item=P01] button[data-value='4']")
    assert page.locator("#session-title").text_content() == "Samling 2 <kull 5>"
    assert "Jeg kan si det jeg mener" in page.locator("[data-item=P01] .q").text_content()
    page.click("[data-item=P01] button[data-value='4']")
    page.wait_for_selector("[data-item=P01] button.chosen[data-value='4']")
    assert "Lagret" in page.locator("#status-line").text_content()
    page.click("[data-item=P02] button[data-value='na']")
    page.wait_for_selector("[data-item=P02] button.chosen[data-value='na']")
    page.screenshot(path=str(shots / "participant_pulse.png"), full_page=False)

    # the facilitator's view (the console's data API) shows the answer
    status, state = server.call("GET", f"/kit/live/api/console/{made.code}/state", headers=key)
    pulse = next(r for r in state["rounds"] if r["id"] == rounds["pulse"])
    assert status == 200 and pulse["respondents"] == 1 and pulse["answers"] == 2
    mine = repo.load_answers(live_store, round_ids=[rounds["pulse"]])
    assert sorted(mine["question"]) == ["P01", "P02"] and 4.0 in set(mine["value"])

    # reload: the same participant (token in localStorage), the answer still marked
    page.reload()
    page.wait_for_selector("[data-item=P01] button.chosen[data-value='4']")
    assert repo.count_participants(live_store, made.session_id) == 1

    # the facilitator reveals the results: phones show them too (at least 3 answers)
    for value in (2, 5):
        _, joined = server.call("POST", f"/kit/live/api/s/{made.code}/join", {})
        server.call("POST", f"/kit/live/api/s/{made.code}/answer",
                    {"token": joined["token"], "round": rounds["pulse"], "answers": {"P01": value}})
    server.call("POST", f"/kit/live/api/console/{made.code}/round",
                {"round": rounds["pulse"], "action": "reveal"}, headers=key)
    page.wait_for_selector("[data-results] .bar span[title='Enig: 1']")
    assert "◆ Jeg kan si" in page.locator("[data-results]").text_content()
    page.screenshot(path=str(shots / "participant_results.png"), full_page=True)

    # a hidden, closed round: the page moves on to waiting
    for action in ("hide", "close"):
        server.call("POST", f"/kit/live/api/console/{made.code}/round",
                    {"round": rounds["pulse"], "action": action}, headers=key)
    page.wait_for_selector("#waiting")

    # purpose: text with HTML/script is shown as text, never run
    evil = '<img src=x onerror="alert(1)"><script>alert(2)</script> Vi leder sammen'
    server.call("POST", f"/kit/live/api/console/{made.code}/round",
                {"round": rounds["purpose"], "action": "open"}, headers=key)
    page.wait_for_selector("textarea")
    page.fill("textarea", evil)
    page.click("section[data-exercise=purpose] button.primary")
    page.wait_for_selector("#status-line:has-text('Lagret')")
    for text in ("Vi tjener innbyggerne", "Vi tar beslutninger sammen"):  # 3 wrote: shown
        _, joined = server.call("POST", f"/kit/live/api/s/{made.code}/join", {})
        server.call("POST", f"/kit/live/api/s/{made.code}/answer",
                    {"token": joined["token"], "round": rounds["purpose"],
                     "answers": {"statement": text}})
    rnd = repo.get_round(live_store, rounds["purpose"])
    repo.update_round(live_store, rounds["purpose"], config={**rnd["config"], "phase": "vote"})
    page.wait_for_selector("[data-statement]")
    texts = page.locator("[data-statement] .q").all_text_contents()
    assert evil in texts and len(texts) == 3
    assert page.locator("main img").count() == 0 and page.locator("main script").count() == 0
    page.click("[data-statement] .dots button >> nth=1")
    page.click("[data-statement] .dots button >> nth=1")
    assert "Prikker igjen: 1" in page.locator("section[data-exercise=purpose]").text_content()
    page.click("section[data-exercise=purpose] button.primary")
    page.wait_for_selector("#status-line:has-text('Lagret')")
    page.screenshot(path=str(shots / "participant_vote.png"), full_page=True)
    votes = repo.load_answers(live_store, round_ids=[rounds["purpose"]])
    assert votes.loc[votes["question"].str.startswith("vote:"), "value"].tolist() == [2.0]

    # English, and the join page
    page.click("#lang-toggle")
    page.wait_for_selector("main h1:has-text('Shared')")
    page.goto(f"{server.base}/kit/live/join?lang=en")
    page.fill("#code", made.code.lower())
    page.click("button[type=submit]")
    page.wait_for_selector("[data-statement]")
    page.goto(f"{server.base}/kit/live/s/NOPE99?lang=en")
    assert "no session with the code NOPE99" in page.locator("#error").text_content()
    page.screenshot(path=str(shots / "participant_unknown.png"))
    assert dialogs == [] and errors == []


def test_cohort_agenda_and_stakeholder_pages(browser, server, live_settings, live_store,
                                            tmp_path) -> None:
    shots = Path(os.environ.get("LIVE_SHOTS_DIR", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    made = ls.create_session(live_store, live_settings, expected=20,
                             title="Cohort", group_ids=["g1", "g2"],
                             language="en")
    rounds = {r["exercise"]: r["id"] for r in repo.list_rounds(live_store, made.session_id)}
    repo.update_round(live_store, rounds["stakeholder_map"], status="open",
                      config={"actors": ["Ministry", "Users <b>"], "axis": "dependency"})
    repo.update_round(live_store, rounds["agenda_audit"], status="open")
    page = browser.new_page(viewport={"width": 360, "height": 740}, device_scale_factor=2)
    page.set_default_timeout(45_000)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{server.base}/kit/live/s/{made.code}")
    page.click("button:has-text('g2')")  # a cohort session asks for the team first
    sec = page.locator("section[data-exercise=agenda_audit]")
    sec.locator("input").nth(0).fill("Budget <script>")
    sec.locator("input").nth(1).fill("45")
    sec.locator("select").nth(0).select_option("decision")
    sec.locator("select").nth(1).select_option("strategy")
    sec.locator("button:has-text('Add item')").click()
    page.wait_for_selector("ul.entries li:has-text('Budget <script> · 45 min')")
    for i, share in enumerate(("50", "30", "30")):
        sec.locator("input[type=number]").nth(i + 1).fill(share)
    sec.locator("button:has-text('Send')").click()
    page.wait_for_selector("#status-line:has-text('must add up to 100')")
    sec.locator("input[type=number]").nth(3).fill("20")
    sec.locator("button:has-text('Send')").click()
    page.wait_for_selector("#status-line:has-text('Saved')")
    actor = page.locator("section[data-exercise=stakeholder_map] [data-actor='1']")
    assert actor.locator(".q").text_content() == "Users <b>"
    actor.locator(".scale").nth(1).locator("button[data-value='5']").click()
    page.wait_for_selector("[data-actor='1'] button.chosen[data-value='5']")
    page.screenshot(path=str(shots / "participant_agenda.png"), full_page=True)
    answers = repo.load_answers(live_store, session_id=made.session_id)
    assert set(answers["group_id"]) == {"g2"}
    got = dict(zip(answers["question"].str.split(":").str[0], answers["value"], strict=True))
    assert got["entry"] == 45 and got["interest"] == 5
    assert answers.loc[answers["question"] == "wanted", "data"].iloc[0] == {
        "operations": 50.0, "strategy": 30.0, "development": 20.0}
    assert errors == []


def test_a_phone_beyond_the_expected_number_waits_and_hidden_items_stay_hidden(
        browser, server, live_settings, live_store, tmp_path) -> None:
    shots = Path(os.environ.get("LIVE_SHOTS_DIR", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    made = ls.create_session(live_store, live_settings, expected=1, title="Samling 3",
                             group_ids=["g1"], language="nb")
    rid = repo.list_rounds(live_store, made.session_id)[0]["id"]
    key = {"X-Kit-Key": made.key}
    server.call("POST", f"/kit/live/api/console/{made.code}/round",
                {"round": rid, "action": "open"}, headers=key)
    first = browser.new_page(viewport={"width": 390, "height": 844})
    first.set_default_timeout(45_000)
    first.goto(f"{server.base}/kit/live/s/{made.code}")
    first.wait_for_selector("[data-item=P01] button[data-value='4']")
    second = browser.new_page(viewport={"width": 390, "height": 844})  # another phone (context)
    second.set_default_timeout(45_000)
    errors: list[str] = []
    second.on("pageerror", lambda e: errors.append(str(e)))
    second.goto(f"{server.base}/kit/live/s/{made.code}")
    second.wait_for_selector("#waiting-admission")
    assert "Vent til du blir sluppet inn" in second.locator("#waiting-admission").text_content()
    assert second.locator("[data-item]").count() == 0  # nothing to answer while waiting
    second.screenshot(path=str(shots / "participant_waiting.png"))
    _, state = server.call("GET", f"/kit/live/api/console/{made.code}/state", headers=key)
    assert state["admission"]["waiting"] == 1
    server.call("POST", f"/kit/live/api/console/{made.code}/round", {"action": "admit"},
                headers=key)
    second.wait_for_selector("[data-item=P01] button[data-value='2']")  # let in: it can answer
    second.click("[data-item=P01] button[data-value='2']")
    second.wait_for_selector("[data-item=P01] button.chosen[data-value='2']")
    first.click("[data-item=P01] button[data-value='4']")
    first.click("[data-item=P03] button[data-value='1']")  # the only answer on P03
    first.wait_for_selector("[data-item=P03] button.chosen[data-value='1']")
    server.call("POST", f"/kit/live/api/console/{made.code}/round", {"action": "expected",
                                                                     "expected": 3}, headers=key)
    _, joined = server.call("POST", f"/kit/live/api/s/{made.code}/join", {})
    assert joined["admitted"]
    server.call("POST", f"/kit/live/api/s/{made.code}/answer",
                {"token": joined["token"], "round": rid, "answers": {"P01": 5}})
    server.call("POST", f"/kit/live/api/console/{made.code}/round",
                {"round": rid, "action": "reveal"}, headers=key)
    first.wait_for_selector("[data-results] .version")
    results = first.locator("[data-results]")
    assert "Svar fra 3 deltakere (versjon 1)" in results.text_content()
    assert "Vises når minst 3 har svart på denne." in results.text_content()
    assert results.locator(".bar").count() == 1  # P01 only; P03 shows no bar, no number
    first.screenshot(path=str(shots / "participant_hidden_item.png"), full_page=True)
    assert errors == []
