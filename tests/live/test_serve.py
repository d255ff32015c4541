"""Through ``kit serve``: one server hosts the participant pages, their API and the facilitator's
console (Voilà); the console updates live when a participant answers, without re-running cells
(README's docs/img/console.png is the console.png this module writes to LIVE_SHOTS_DIR)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from kit.live import session as ls
from kit.store import live as repo

pytestmark = [pytest.mark.slow]

def test_participant_side_through_kit_serve(served) -> None:
    kit_serve, live_settings, live_store = served
    made = ls.create_session(live_store, live_settings, expected=20,
                             title="Via kit serve", group_ids=["g1"])
    rid = repo.list_rounds(live_store, made.session_id)[0]["id"]
    status, data = kit_serve.call("POST", f"/kit/live/api/console/{made.code}/round",
                                  {"round": rid, "action": "open"},
                                  headers={"X-Kit-Key": made.key})
    assert status == 200, data
    status, page = kit_serve.call("GET", f"/kit/live/s/{made.code}")
    assert status == 200 and "live.js" in page
    status, data = kit_serve.call("POST", f"/kit/live/api/s/{made.code}/join", {})
    token = data["token"]
    status, data = kit_serve.call("POST", f"/kit/live/api/s/{made.code}/answer",
                                  {"token": token, "round": rid, "answers": {"P01": 5}})
    assert status == 200 and data["saved"] == 1
    assert kit_serve.call("GET", f"/kit/live/api/console/{made.code}/state")[0] == 403
    status, big = kit_serve.call("POST", f"/kit/live/api/s/{made.code}/answer",
                                 raw=b'{"x": "' + b"y" * 20_000 + b'"}')
    assert status == 413


@pytest.mark.browser
def test_console_in_voila_updates_live(served, browser, tmp_path) -> None:
    kit_serve, live_settings, live_store = served
    shots = Path(os.environ.get("LIVE_SHOTS_DIR", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    made = ls.create_session(live_store, live_settings, expected=20,
                             title="Samling 2", group_ids=["g1"],
                             language="en")
    rid = repo.list_rounds(live_store, made.session_id)[0]["id"]
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(120_000)
    # without the key kit serve shows a refusal and starts no kernel: no code, no groups
    page.goto(f"{kit_serve.base}/voila/render/facilitator.ipynb?session={made.code}&lang=en")
    page.wait_for_selector("[data-kit-notice=refused]")
    assert made.code not in page.inner_text("body") and "g1" not in page.inner_text("body")
    page.goto(made.console_url.replace(live_settings.base_url, kit_serve.base))
    page.wait_for_selector(f"b:has-text('{ls.display_code(made.code)}')")
    page.click("button:has-text('Open round')")
    page.wait_for_function("document.body.innerText.includes('Answered: 0')")
    # the console's kernel holds the server's console stream (kit.live.feed), not a poll
    page.wait_for_selector("text=Following the room as it happens", timeout=30_000)
    # a participant answers over HTTP; the console shows it without re-running a cell
    _, data = kit_serve.call("POST", f"/kit/live/api/s/{made.code}/join", {})
    kit_serve.call("POST", f"/kit/live/api/s/{made.code}/answer",
                   {"token": data["token"], "round": rid, "answers": {"P01": 4}})
    t0 = time.monotonic()
    page.wait_for_function("document.body.innerText.includes('Answered: 1')")
    seen_after = time.monotonic() - t0
    page.screenshot(path=str(shots / "console.png"), full_page=True)
    for value in (2, 5):  # enough answers to show the distribution (min_respondents = 3)
        _, data = kit_serve.call("POST", f"/kit/live/api/s/{made.code}/join", {})
        kit_serve.call("POST", f"/kit/live/api/s/{made.code}/answer",
                       {"token": data["token"], "round": rid,
                        "answers": {"P01": value, "P02": 3}})
    page.wait_for_function("document.body.innerText.includes('Answered: 3')")
    page.click("button:has-text('Reveal')")
    page.wait_for_selector("text=Most disagreement")
    page.wait_for_selector(".kit-chart svg")
    page.screenshot(path=str(shots / "console_revealed.png"), full_page=True)
    page_text = page.inner_text("body")
    page.close()
    assert repo.get_round(live_store, rid)["status"] == "open"
    assert seen_after < 30
    assert "checking for changes every second" not in page_text
