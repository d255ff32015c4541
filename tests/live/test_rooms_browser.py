"""The room in Debian's Chromium: the projector page (1920 px) following the console by itself,
and every newer interaction on a phone (390 px): polls, word cloud, Q&A, boundedness check,
decision review, proposed actions, the round timer. Screenshots go to LIVE_SHOTS_DIR
(README's docs/img/projector.png is this module's projector_revote.png)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from kit.live import facilitate
from kit.live import session as ls
from kit.store import live as repo

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PHONE = {"width": 390, "height": 844}
SCREEN = {"width": 1920, "height": 1080}


def shots_dir(tmp_path: Path) -> Path:
    shots = Path(os.environ.get("LIVE_SHOTS_DIR", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    return shots


def others(server: Any, code: str, n: int) -> list[str]:
    return [server.call("POST", f"/kit/live/api/s/{code}/join", {})[1]["token"] for _ in range(n)]


def send(server: Any, code: str, token: str, rid: int, answers: dict[str, Any]) -> None:
    status, data = server.call(
        "POST", f"/kit/live/api/s/{code}/answer", {"token": token, "round": rid, "answers": answers}
    )
    assert status == 200, data


def console(server: Any, made: ls.CreatedSession, **body: Any) -> dict[str, Any]:
    status, data = server.call(
        "POST", f"/kit/live/api/console/{made.code}/round", body, headers={"X-Kit-Key": made.key}
    )
    assert status == 200, data
    return data


def new_page(browser: Any, viewport: dict[str, int], errors: list[str]) -> Any:
    page = browser.new_page(viewport=viewport)
    page.set_default_timeout(45_000)  # a loaded 2-core machine
    page.on("pageerror", lambda e: errors.append(str(e)))
    return page


def test_projector_follows_the_console_and_shows_results_large(
    browser, server, live_settings, live_store, tmp_path
) -> None:
    shots = shots_dir(tmp_path)
    made = ls.create_session(
        live_store,
        live_settings,
        expected=12,
        title="Samling 2, kull 5",
        group_ids=["g1"],
        language="nb",
    )
    session = repo.get_session(live_store, made.code)
    url = ls.projector_url(live_settings, session).replace(live_settings.base_url, server.base)
    errors: list[str] = []
    screen = new_page(browser, SCREEN, errors)
    screen.goto(url)
    screen.wait_for_selector(f"#join-code:has-text('{ls.display_code(made.code)}')")
    assert screen.locator("#join-qr").get_attribute("src").startswith("data:image/svg+xml")
    screen.screenshot(path=str(shots / "projector_waiting.png"))
    tokens = others(server, made.code, 6)
    rid = console(
        server,
        made,
        action="add_round",
        exercise="wordcloud",
        config={"question": "Ett ord om teamet?", "words": 2},
    )["round"]["id"]
    screen.wait_for_selector("#round-title:has-text('Ett ord om teamet?')")  # pushed, no reload
    words = (
        ["tillit", "fart"],
        ["Tillit", "siloer"],
        ["tillit", "mot"],
        ["fart", "tillit"],
        ["ansvar"],
        ["tillit", "fart"],
    )
    for token, w in zip(tokens, words, strict=True):
        send(server, made.code, token, rid, {"words": w})
    screen.wait_for_selector("#answered:has-text('6 av 12 har svart')")
    assert screen.locator(".cloud").count() == 0  # not revealed: counts only
    console(server, made, round=rid, action="reveal")
    screen.wait_for_selector(".cloud span[data-word=tillit]")
    big = screen.locator(".cloud span[data-word=tillit]").evaluate(
        "e => parseFloat(getComputedStyle(e).fontSize)"
    )
    small = screen.locator(".cloud span[data-word=mot]").evaluate(
        "e => parseFloat(getComputedStyle(e).fontSize)"
    )
    assert big > 1.5 * small  # named by 5 vs 1
    console(server, made, round=rid, action="hide_word", word="siloer")
    screen.wait_for_selector(".cloud span[data-word=siloer]", state="detached")
    screen.screenshot(path=str(shots / "projector_wordcloud.png"))

    poll = console(
        server,
        made,
        action="add_round",
        exercise="poll",
        config={
            "kind": "scale",
            "question": "Hvor klare er vi?",
            "min": 1,
            "max": 5,
            "labels": ["lite", "svært"],
        },
    )["round"]["id"]
    screen.wait_for_selector("#round-title:has-text('Hvor klare er vi?')")
    console(server, made, round=poll, action="timer", seconds=90)
    screen.wait_for_selector("#timer:has-text('1:')")
    for token, v in zip(tokens, (2, 3, 3, 4, 5, 2), strict=True):
        send(server, made.code, token, poll, {"value": v})
    console(server, made, round=poll, action="reveal")
    screen.wait_for_selector("#results .value:has-text('Snitt 3,2')")  # decimal comma in nb
    screen.screenshot(path=str(shots / "projector_poll_scale.png"))
    again = console(server, made, round=poll, action="revote")["round"]["id"]
    for token, v in zip(tokens, (4, 4, 5, 4, 5, 3), strict=True):
        send(server, made.code, token, again, {"value": v})
    console(server, made, round=again, action="reveal")
    screen.wait_for_selector(".pair h2:has-text('Før diskusjonen')")
    assert "Snitt 4,2" in screen.locator(".pair").text_content()
    screen.screenshot(path=str(shots / "projector_revote.png"))
    narrow = new_page(browser, PHONE, errors)
    narrow.goto(url)
    narrow.wait_for_selector(".pair")
    narrow.screenshot(path=str(shots / "projector_revote_390.png"), full_page=True)
    assert errors == []


def test_phone_interactions(browser, server, live_settings, live_store, tmp_path) -> None:
    shots = shots_dir(tmp_path)
    made = ls.create_session(
        live_store,
        live_settings,
        expected=12,
        title="Plenum",
        group_ids=["g1"],
        language="en",
        exercises=["action_plan"],
    )
    errors: list[str] = []
    phone = new_page(browser, PHONE, errors)
    phone.goto(f"{server.base}/kit/live/s/{made.code}")
    phone.wait_for_selector("#waiting")
    crowd = others(server, made.code, 3)
    session = repo.get_session(live_store, made.code)
    url = ls.projector_url(live_settings, session).replace(live_settings.base_url, server.base)
    screen = new_page(browser, SCREEN, errors)
    screen.goto(url + "&lang=en")

    def round_of(exercise: str, config: dict[str, Any]) -> int:
        return console(server, made, action="add_round", exercise=exercise, config=config)["round"][
            "id"
        ]

    def stored(rid: int) -> list[Any]:
        a = repo.load_answers(live_store, round_ids=[rid])
        return sorted(zip(a["question"], a["value"].fillna(-1), a["text"].fillna(""), strict=True))

    def reveal_and_shoot(rid: int, name: str, selector: str) -> None:
        console(server, made, round=rid, action="reveal")
        phone.wait_for_selector(f"[data-results='{rid}'] {selector}")
        phone.screenshot(path=str(shots / f"phone_{name}_results.png"), full_page=True)
        screen.wait_for_selector(f"#results {selector}")
        screen.screenshot(path=str(shots / f"projector_{name}.png"))

    # ranking
    options = ["Budget", "People", "Digital services"]
    rid = round_of("poll", {"kind": "ranking", "question": "What first?", "options": options})
    sec = phone.locator(f"section[data-round='{rid}']")
    sec.locator("li[data-option='2'] button[aria-label='Up']").click()
    sec.locator("li[data-option='2'] button[aria-label='Up']").click()
    phone.screenshot(path=str(shots / "phone_ranking.png"), full_page=True)
    sec.locator("button.primary").click()
    phone.wait_for_selector("#status-line:has-text('Saved')")
    assert [q for q, v, _ in stored(rid) if v == 1.0] == ["rank:2"]
    for token, order in zip(crowd, ([0, 1, 2], [1, 0, 2], [2, 1, 0]), strict=True):
        send(server, made.code, token, rid, {"ranking": order})
    reveal_and_shoot(rid, "ranking", ".row")

    # 100 points
    rid = round_of("poll", {"kind": "points", "question": "Spend 100 points", "options": options})
    sec = phone.locator(f"section[data-round='{rid}']")
    sec.locator("input").nth(0).fill("70")
    sec.locator("input").nth(1).fill("20")
    sec.locator("button.primary").click()
    phone.wait_for_selector("#status-line:has-text('add up to 100 (now 90)')")
    sec.locator("input").nth(2).fill("10")
    assert "Points left: 0" in sec.text_content()
    sec.locator("button.primary").click()
    phone.wait_for_selector("#status-line:has-text('Saved')")
    assert [v for _, v, _ in stored(rid)] == [70.0, 20.0, 10.0]
    for token in crowd:
        send(server, made.code, token, rid, {"points": {"1": 60, "2": 40}})
    reveal_and_shoot(rid, "points", ".row")

    # 2x2 matrix
    rid = round_of(
        "poll",
        {
            "kind": "matrix",
            "question": "Place the initiatives",
            "options": options,
            "axes": {"x": "Impact", "y": "Effort"},
        },
    )
    sec = phone.locator(f"section[data-round='{rid}']")
    card = sec.locator("[data-option='0']")
    card.locator(".scale").nth(0).locator("button[data-value='4']").click()
    card.locator(".scale").nth(1).locator("button[data-value='2']").click()
    phone.wait_for_selector(
        f"section[data-round='{rid}'] [data-option='0'] "
        ".scale >> nth=1 >> button.chosen[data-value='2']"
    )
    for i, token in enumerate(crowd):
        send(
            server,
            made.code,
            token,
            rid,
            {"matrix": {str(k): {"x": 1 + (i + k) % 5, "y": 5 - k} for k in range(3)}},
        )
    reveal_and_shoot(rid, "matrix", "svg circle")

    # word cloud: a banned word is refused with a message
    rid = round_of("wordcloud", {"question": "One word for our meetings?", "words": 2})
    sec = phone.locator(f"section[data-round='{rid}']")
    sec.locator("input").nth(0).fill("shit")
    sec.locator("button.primary").click()
    phone.wait_for_selector("#status-line:has-text('cannot be used')")
    sec.locator("input").nth(0).fill("Focused")
    sec.locator("input").nth(1).fill("long")
    sec.locator("button.primary").click()
    phone.wait_for_selector("#status-line:has-text('Saved')")
    phone.screenshot(path=str(shots / "phone_wordcloud.png"), full_page=True)
    for token, w in zip(crowd, (["focused", "short"], ["long"], ["focused"]), strict=True):
        send(server, made.code, token, rid, {"words": w})
    reveal_and_shoot(rid, "wordcloud", ".cloud span")
    phone.locator(f"[data-results='{rid}']").screenshot(path=str(shots / "phone_cloud_part.png"))

    # Q&A: post, the facilitator allows entries, upvote once
    rid = round_of("qa", {"question": "What should we ask the director?"})
    sec = phone.locator(f"section[data-round='{rid}']")
    sec.locator("textarea").fill("How do we <b>share</b> budgets?")
    sec.locator("button.primary").click()
    phone.wait_for_selector(f"section[data-round='{rid}'] ul.entries li:has-text('<b>share</b>')")
    for i, token in enumerate(crowd):
        send(server, made.code, token, rid, {"entry": {"id": f"c{i}", "text": f"Idea {i}"}})
    _, state = server.call(
        "GET", f"/kit/live/api/console/{made.code}/state", headers={"X-Kit-Key": made.key}
    )
    pending = next(r for r in state["rounds"] if r["id"] == rid)["results"]["moderation"]
    for e in pending["entries"]:
        if e["text"] != "Idea 1":
            console(server, made, round=rid, action="approve", entry=e["id"])
    phone.wait_for_selector(f"section[data-round='{rid}'] button.vote >> nth=2")
    phone.locator(f"section[data-round='{rid}'] .card.qa:has-text('Idea 2') button.vote").click()
    phone.wait_for_selector(f"section[data-round='{rid}'] button.vote.chosen")
    phone.screenshot(path=str(shots / "phone_qa.png"), full_page=True)
    sec.screenshot(path=str(shots / "phone_qa_round.png"))
    for token in crowd[:2]:
        idea2 = next(e["id"] for e in pending["entries"] if e["text"] == "Idea 2")
        send(server, made.code, token, rid, {"vote": idea2})
    reveal_and_shoot(rid, "qa", ".card .votes")
    assert "Idea 1" not in screen.locator("#results").text_content()

    # boundedness check and decision review
    rid = round_of("boundedness", {})
    sec = phone.locator(f"section[data-round='{rid}']")
    sec.locator("textarea").fill("Kari Nordmann\nOla\nHR director")
    sec.locator("button.primary").click()
    phone.wait_for_selector("#status-line:has-text('Saved')")
    for token, names in zip(
        crowd,
        (["kari nordmann", "Ola"], ["Kari Nordmann", "Ola", "CFO"], ["Kari Nordmann"]),
        strict=True,
    ):
        send(server, made.code, token, rid, {"names": names})
    reveal_and_shoot(rid, "boundedness", ".row")
    rid = round_of("decision_review", {"decisions": ["New office plan", "Hiring freeze"]})
    sec = phone.locator(f"section[data-round='{rid}']")
    card = sec.locator("[data-decision='0']")
    card.locator("input[data-source=users]").check()
    card.locator("input[data-source=data]").check()
    card.locator("button.primary").click()
    phone.wait_for_selector("#status-line:has-text('Saved')")
    phone.screenshot(path=str(shots / "phone_decision_review.png"), full_page=True)
    sec.screenshot(path=str(shots / "phone_decision_review_round.png"))
    assert repo.load_answers(live_store, round_ids=[rid])["data"].tolist() == [
        {"sources": ["users", "data"]}
    ]
    for token in crowd:
        send(server, made.code, token, rid, {"marks": {"0": ["own_unit"], "1": ["data"]}})
    reveal_and_shoot(rid, "decision_review", ".row")

    # a proposed action, accepted by the facilitator
    plan = next(
        r["id"]
        for r in repo.list_rounds(live_store, made.session_id)
        if r["exercise"] == "action_plan"
    )
    console(server, made, round=plan, action="open")
    sec = phone.locator(f"section[data-round='{plan}']")
    sec.locator("textarea").fill("Strategy first on every agenda")
    sec.locator("button.primary").click()
    phone.wait_for_selector(f"section[data-round='{plan}'] ul.entries li")
    phone.screenshot(path=str(shots / "phone_proposal.png"), full_page=True)

    # the timer: the phone counts down, and the round closes when it ends
    rid = round_of("poll", {"kind": "scale", "question": "Quick one", "min": 1, "max": 3})
    console(server, made, round=rid, action="timer", seconds=10)
    phone.wait_for_selector(f"section[data-round='{rid}'] p.timer:has-text('Time left: 0:')")
    phone.locator(f"section[data-round='{rid}']").screenshot(
        path=str(shots / "phone_timer_round.png")
    )
    deadline = time.monotonic() + 30
    while repo.get_round(live_store, rid)["status"] == "open" and time.monotonic() < deadline:
        time.sleep(0.5)
    assert repo.get_round(live_store, rid)["status"] == "closed"  # closed by the server
    assert facilitate.expired(repo.get_round(live_store, rid)) is False
    phone.wait_for_selector(f"section[data-round='{rid}']", state="detached")
    wide = new_page(browser, SCREEN, errors)  # the participant page on a wide screen too
    wide.goto(f"{server.base}/kit/live/s/{made.code}")
    wide.wait_for_selector(".cloud span")
    wide.screenshot(path=str(shots / "participant_1920.png"))
    assert errors == []


def test_projector_end_screen_and_no_bar_for_a_zero_count(
    browser, server, live_settings, live_store, tmp_path
) -> None:
    shots = shots_dir(tmp_path)
    made = ls.create_session(
        live_store,
        live_settings,
        expected=12,
        title="Samling 4, kull 5",
        group_ids=["g1"],
        language="nb",
    )
    session = repo.get_session(live_store, made.code)
    url = ls.projector_url(live_settings, session).replace(live_settings.base_url, server.base)
    errors: list[str] = []
    screen = new_page(browser, SCREEN, errors)
    screen.goto(url)
    narrow = new_page(browser, PHONE, errors)
    narrow.goto(url)
    english = new_page(browser, SCREEN, errors)
    english.goto(url + "&lang=en")
    tokens = others(server, made.code, 4)
    poll = console(
        server,
        made,
        action="add_round",
        exercise="poll",
        config={"kind": "scale", "question": "Hvor klare er vi?", "min": 1, "max": 5},
    )["round"]["id"]
    for token, v in zip(tokens, (2, 2, 4, 5), strict=True):  # nobody chose 1 or 3
        send(server, made.code, token, poll, {"value": v})
    console(server, made, round=poll, action="reveal")
    screen.wait_for_selector("#results .bar span")
    bars = screen.eval_on_selector_all(
        "#results .bar",
        "bs => bs.map(b => [b.hasAttribute('data-zero'), b.querySelectorAll('span').length,"
        " Array.from(b.querySelectorAll('span:not(.beside)'))"
        ".map(s => s.getBoundingClientRect().width)])",
    )
    assert [z for z, _, _ in bars] == [True, False, True, False, False]  # counts 0 2 0 1 1
    assert all(n == 0 for z, n, _ in bars if z)  # a zero count draws no bar at all
    assert all(w >= 1 for z, _, ws in bars if not z for w in ws)
    screen.screenshot(path=str(shots / "projector_zero_counts.png"))
    requests: list[str] = []
    for page in (screen, narrow, english):
        page.on("request", lambda r: requests.append(r.url))
    console(server, made, action="end")
    for page in (screen, narrow):
        page.wait_for_selector("#round-title:has-text('Økta er avsluttet')")
        assert page.locator("#answered").text_content() == "Takk for at dere var med!"
        assert page.locator("#join").is_hidden() and page.locator("#results .bar").count() == 0
        assert "Hvor klare er vi?" not in page.locator("body").inner_text()
    english.wait_for_selector("#round-title:has-text('The session has ended')")
    assert english.locator("#answered").text_content() == "Thank you for taking part!"
    screen.screenshot(path=str(shots / "projector_ended.png"))
    narrow.screenshot(path=str(shots / "projector_ended_390.png"), full_page=True)
    english.screenshot(path=str(shots / "projector_ended_en.png"))
    requests.clear()
    time.sleep(5)  # longer than the stream's retry (2 s) and the polling fallback (2-3 s)
    assert requests == []  # streams closed for good: no reconnects, no polling
    assert errors == []
