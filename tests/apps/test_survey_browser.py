"""The survey for real: ``kit serve`` on loopback (no kernel preheated, none started), Debian's
Chromium through Playwright at phone width and on a desktop."""

from __future__ import annotations

import pytest

from kit.apps.invitations import create_invitations, survey_url
from kit.i18n import t
from kit.instrument import load_instrument
from kit.scoring import score_responses
from kit.settings import Settings
from kit.store import open_store

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(600)]

INSTRUMENT = load_instrument("lagprofil")
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def kit(tmp_path_factory):
    """``kit serve`` over a small seeded demo, without any preheated kernel."""
    from kit.apps.launch import ServedKit
    from kit.demo import make_demo

    home = tmp_path_factory.mktemp("survey_home")
    settings = Settings(home_dir=home, database_url="")
    make_demo(settings, seed=1, small=True)
    served = ServedKit(home, pools=(0, 0, 0))
    served.start(timeout=300)  # a shared, loaded machine can take minutes to import Voilà
    try:
        served.settings = settings
        served.store = open_store(settings)
        yield served
    finally:
        served.stop()


def _group(kit) -> tuple[str, str]:
    gw = kit.store.list_group_waves()
    groups = kit.store.list_groups().set_index("id")
    row = gw[(gw["wave_id"] == "after") & (gw["status"] == "open")].iloc[0]
    return str(row["group_id"]), str(groups.loc[row["group_id"], "name"])


def _page(browser, viewport):
    page = browser.new_page(viewport=viewport)
    page.set_default_timeout(30_000)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    # refusals (409, 422) show as failed loads in the console: only script errors count
    page.on(
        "console",
        lambda m: (
            errors.append(m.text)
            if m.type == "error" and "Failed to load resource" not in m.text
            else None
        ),
    )
    return page, errors


def _answer_page(page, value: str) -> None:
    for card in page.locator(".item").all():
        card.locator(f"button[data-value='{value}']").click()


def _progress(page) -> str:
    return page.get_attribute("[data-kit-progress]", "data-kit-progress")


def test_answer_on_a_phone_reload_midway_submit_and_find_it_scored(kit, browser, screenshot_dir):
    group, name = _group(kit)
    before = len(kit.store.load_responses(INSTRUMENT, [group], ["after"]))
    code = create_invitations(kit.store, group, "after", 1)[0]
    page, errors = _page(browser, PHONE)
    page.goto(survey_url(kit.url("").rstrip("/"), code))
    page.wait_for_selector(".item")
    assert name in page.inner_text("header")
    assert _progress(page) == f"1/{len(INSTRUMENT.dimensions) + 2}"
    _answer_page(page, "6")
    assert f"{len(INSTRUMENT.dimensions[0].item_ids)} av 56" in page.inner_text(
        "[data-kit-progress]"
    )
    page.screenshot(path=str(screenshot_dir / "survey-phone.png"), full_page=True)
    page.click("#next")
    first, second = page.locator(".item").nth(0), page.locator(".item").nth(1)
    first.locator("button[data-value='3']").click()
    second.locator("button[data-value='na']").click()
    # a reload midway (or a phone that dropped the tab): the same page, the same answers
    page.reload()
    page.wait_for_selector(".item")
    assert _progress(page).startswith("2/")
    assert first.locator("button[data-value='3']").get_attribute("aria-pressed") == "true"
    assert second.locator("button[data-value='na']").get_attribute("aria-pressed") == "true"
    assert t("app.survey.page.restored", "nb") in page.inner_text("footer")
    page.click("#previous")
    pressed = page.locator(".item button[aria-pressed=true]")
    assert pressed.count() == len(INSTRUMENT.dimensions[0].item_ids)
    assert set(pressed.all_inner_texts()) == {"6"}
    # the language switch keeps the answers
    page.click("#lang-toggle")
    assert page.inner_text("#next") == t("app.survey.next", "en")
    assert INSTRUMENT.item(INSTRUMENT.item_ids[0]).text["en"] in page.inner_text("main")
    page.click("#next")
    page.click("#next")
    for _ in range(len(INSTRUMENT.dimensions) - 2):
        _answer_page(page, "5")
        page.click("#next")
    assert page.locator("textarea").count() == len(INSTRUMENT.open_question_ids)
    page.fill("textarea >> nth=0", "Mer tid til strategi <script>alert(1)</script>")
    page.click("#next")
    assert page.inner_text("h2") == t("app.survey.review.title", "en")
    page.screenshot(path=str(screenshot_dir / "survey-phone-review.png"), full_page=True)
    page.click("#submit")
    page.wait_for_selector("[data-kit-notice=done]")
    assert t("app.survey.done.title", "en") in page.inner_text("main")
    page.screenshot(path=str(screenshot_dir / "survey-phone-done.png"), full_page=True)
    kept = page.evaluate("Object.keys(localStorage).filter(k => k.startsWith('kit-survey-'))")
    assert kept == []  # the draft is gone once the server has the answers
    # the response is stored and scored
    table = kit.store.load_responses(INSTRUMENT, [group], ["after"])
    assert len(table) == before + 1
    mine = table[table[INSTRUMENT.item_ids[0]].eq(6.0) & table[INSTRUMENT.item_ids[4]].eq(3.0)]
    assert len(mine) == 1
    row = mine.iloc[0]
    assert row[INSTRUMENT.item_ids[5]] != row[INSTRUMENT.item_ids[5]]  # "vet ikke": no value
    assert row[INSTRUMENT.open_question_ids[0]].startswith("Mer tid til strategi <script>")
    dims = score_responses(table, INSTRUMENT).dimensions
    cell = dims[(dims["group"] == group) & (dims["dimension"] == INSTRUMENT.dimension_ids[0])]
    assert int(cell["n"].iloc[0]) == before + 1
    # reload after submit: done, and no form
    page.reload()
    page.wait_for_selector("[data-kit-notice=done]")
    assert t("app.invitation.used", "nb") in page.inner_text("main")
    assert page.locator(".item").count() == 0
    assert errors == []
    page.close()


def test_an_empty_survey_cannot_be_sent_and_the_server_refuses_it_anyway(kit, browser):
    group, _ = _group(kit)
    before = len(kit.store.load_responses(INSTRUMENT, [group], ["after"]))
    code = create_invitations(kit.store, group, "after", 1)[0]
    page, errors = _page(browser, PHONE)
    page.goto(survey_url(kit.url("").rstrip("/"), code, "en"))
    page.wait_for_selector(".item")
    while page.locator("#next").count():
        page.click("#next")
    assert page.locator("#submit").is_disabled()
    fields = {"needed": 28, "items": 56, "answered": 0}
    assert page.inner_text("[data-kit-too-few]") == t("app.survey.page.too_few", "en", **fields)
    # the hidden way round the page: post from page 1 with no answers
    status = page.evaluate(
        """code => fetch('/kit/survey/api/submit', {method: 'POST',
             headers: {'Content-Type': 'application/json'},
             body: JSON.stringify({code: code, answers: {}})}).then(r => r.status)""",
        code,
    )
    assert status == 422
    assert len(kit.store.load_responses(INSTRUMENT, [group], ["after"])) == before
    assert errors == []
    page.close()


def test_refusals_look_right_and_start_no_kernel(kit, browser, screenshot_dir):
    page, _ = _page(browser, {"width": 1200, "height": 900})
    page.goto(kit.url("/kit/survey?lang=en#code=not-a-real-code"))
    page.wait_for_selector("[data-kit-notice=refused]")
    assert t("app.invitation.wrong", "en") in page.inner_text("main")
    page.screenshot(path=str(screenshot_dir / "survey-wrong-code.png"))
    page.goto(kit.url("/kit/survey?lang=en"))
    page.wait_for_selector("#code")  # no code in the link: a field to paste it into
    group, _ = _group(kit)
    code = create_invitations(kit.store, group, "after", 1)[0]
    page.fill("#code", code)
    page.click("button[type=submit]")
    page.wait_for_selector(".item")
    page.screenshot(path=str(screenshot_dir / "survey-desktop.png"), full_page=True)
    # an old Voilà link: the same page, the code moved behind '#', no kernel
    old = create_invitations(kit.store, group, "after", 1)[0]
    page.goto(kit.url(f"/voila/render/survey.ipynb?code={old}"))
    page.wait_for_selector(".item")
    assert page.url.endswith(f"/kit/survey#code={old}")
    assert "survey.ipynb" not in kit.status()
    logged = kit.log_path.read_text(encoding="utf-8", errors="replace")
    assert code not in logged and old not in logged
    page.close()
