"""Dashboard and survey logic through their widgets' traits (no browser, no kernel)."""

from __future__ import annotations

import datetime as dt

import ipywidgets as w
import pytest

from kit.apps.dashboard import DashboardApp, DashboardView, open_dashboard, open_group
from kit.apps.invitations import create_invitations
from kit.apps.keys import KeyRefused, create_key, hash_secret
from kit.apps.survey import (
    NOT_APPLICABLE,
    SurveyForm,
    SurveyView,
    build_survey,
    open_survey,
    prepare_survey,
)
from kit.apps.view import parse_query
from kit.errors import KitError
from kit.i18n import t
from kit.instrument import load_instrument
from kit.scoring import score_responses
from kit.store import access as repo


@pytest.fixture(scope="module")
def app(demo_home) -> DashboardApp:
    from kit.apps.dashboard import prepare_dashboard

    return prepare_dashboard(demo_home.settings, warm=False)


def _text(widget: w.Widget) -> str:
    """Every HTML value in a widget tree."""
    out = [getattr(widget, "value", "") if isinstance(widget, w.HTML) else ""]
    for child in getattr(widget, "children", ()):
        out.append(_text(child))
    return "\n".join(x for x in out if isinstance(x, str))


def test_query_string_is_parsed_first_value_wins():
    assert parse_query("key=a&group=b&key=c&lang=en") == {"key": "a", "group": "b", "lang": "en"}


def test_group_comes_only_from_the_key(app, demo_home):
    a, b = demo_home.group_a, demo_home.group_b
    for params in (
        {"key": demo_home.key_a, "group": b},
        {"group": b, "key": demo_home.key_a},
        {"key": demo_home.key_a, "group_id": b, "g": b},
    ):
        board = open_group(app, params)
        assert board.group_id == a
        assert board.results().group_id == a
    name_b = app.store.get_group(b)["name"]
    view = DashboardView(open_group(app, {"key": demo_home.key_a, "group": b}))
    for i in range(len(view.TABS)):
        view.tabs.selected_index = i
    assert name_b not in _text(view.widget)
    assert app.store.get_group(a)["name"] in _text(view.widget)


@pytest.mark.parametrize("case", ["missing", "wrong", "expired", "revoked"])
def test_refused_keys_show_a_short_message_and_no_data(app, demo_home, case):
    store = app.store
    key = {"missing": "", "wrong": demo_home.key_a[:-2] + "zz"}.get(case)
    if case == "expired":
        key = "expired-key-for-the-test-0123456789"
        past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
        repo.insert_key(store, demo_home.group_a, key[:8], hash_secret(key), "", past)
    if case == "revoked":
        issued = create_key(store, demo_home.group_a)
        repo.revoke_key(store, issued.id)
        key = issued.key
    with pytest.raises(KeyRefused, match=case):
        open_group(app, {"key": key})
    widget = open_dashboard(app, {"key": key, "lang": "en"})
    html = _text(widget)
    assert t(f"app.key.{case}", "en") in html
    assert "<svg" not in html
    assert app.store.get_group(demo_home.group_a)["name"] not in html


def test_dashboard_changes_with_wave_compare_dimension_and_language(app, demo_home):
    board = open_group(app, {"key": demo_home.key_a, "lang": "nb"})
    assert board.waves == ("before", "after") and board.wave == "after"
    view = DashboardView(board)
    profile_after = _text(view.panes["profile"])
    assert "<svg" in profile_after and 'data-kit-chart="profile"' in profile_after
    view.wave.value = "before"
    assert board.results().wave == "before"
    assert _text(view.panes["profile"]) != profile_after
    before_profile = _text(view.panes["profile"])
    view.compare.value = "norm"
    assert _text(view.panes["profile"]) != before_profile
    view.tabs.selected_index = view.TABS.index("items")
    first = _text(view.panes["items"])
    assert 'data-kit-chart="distribution"' in first
    view.dimension.value = app.instrument.dimension_ids[3]
    assert _text(view.panes["items"]) != first
    assert app.instrument.dimensions[3].name["nb"] in _text(view.panes["items"])
    view.wave.value = "after"
    view.tabs.selected_index = view.TABS.index("change")
    assert 'data-kit-chart="change"' in _text(view.panes["change"])
    view.language_button.click()
    assert board.lang == "en"
    assert t("app.dashboard.tab.profile", "en") == view.tabs.get_title(0)
    view.tabs.selected_index = view.TABS.index("items")
    assert app.instrument.dimensions[3].name["en"] in _text(view.panes["items"])


def test_every_value_comes_from_protected_results(app, demo_home):
    board = open_group(app, {"key": demo_home.key_a})
    res = board.results()
    assert res.reportable
    assert (
        not hasattr(app.scored().protected, "respondent_scores")
        or app.scored().protected.respondent_scores is None
    )


# -- survey ---------------------------------------------------------------------------------------
def test_survey_form_pages_progress_and_not_applicable():
    inst = load_instrument("lagprofil")
    form = SurveyForm(inst)
    assert form.pages == len(inst.dimensions) + 2
    assert form.kind(0) == "dimension" and form.kind(form.pages - 2) == "open"
    assert form.kind(form.pages - 1) == "review"
    first = inst.item_ids[0]
    form.answer(first, 6)
    form.answer(inst.item_ids[1], NOT_APPLICABLE)
    assert form.answered() == 2 and form.unanswered() == len(inst.item_ids) - 2
    answers = form.store_answers()
    assert answers[first] == 6.0 and answers[inst.item_ids[1]] is None
    with pytest.raises(KitError, match="'9' is not an answer to Q01"):
        form.answer(first, "9")
    with pytest.raises(KitError, match="'Q999' is not an item of instrument 'lagprofil'"):
        form.answer("Q999", 3)
    form.go(99)
    assert form.page == form.pages - 1


def test_survey_view_answers_reviews_submits_once(demo_home):
    app = prepare_survey(demo_home.settings)
    code = create_invitations(app.store, demo_home.group_b, "after", 1)[0]
    inst = app.instrument
    before = len(app.store.load_responses(inst, [demo_home.group_b], ["after"]))
    view = build_survey(app, {"code": code, "lang": "en"})
    assert isinstance(view, SurveyView)
    assert view.lang == "en"
    for item_id in inst.dimensions[0].item_ids:
        view._toggles[item_id].value = 2
    n_first = len(inst.dimensions[0].item_ids)
    assert f"{n_first} of {len(inst.item_ids)}" in view.progress.value
    view.next.click()
    assert view.form.page == 1
    view.show(view.form.pages - 2)
    assert view.form.kind() == "open"
    q = inst.open_question_ids[0]
    view._texts[q].value = "More time for strategy."
    view.next.click()
    assert view.form.kind() == "review"
    assert t("app.survey.review.unanswered", "en", n=view.form.unanswered()) in _text(view.body)
    view.submit.click()
    assert view.submitted
    assert t("app.survey.done.title", "en") in _text(view.widget)
    view.submit.click()  # a second click changes nothing
    table = app.store.load_responses(inst, [demo_home.group_b], ["after"])
    assert len(table) == before + 1
    new = table.iloc[-1]
    assert new["respondent"].startswith("web-") and code not in new["respondent"]
    assert new[inst.dimensions[0].item_ids[0]] == 2.0 and new[q] == "More time for strategy."
    scores = score_responses(table, inst)
    dim = scores.dimensions
    row = dim[(dim["group"] == demo_home.group_b) & (dim["dimension"] == inst.dimension_ids[0])]
    assert int(row["n"].iloc[0]) == before + 1
    again = _text(open_survey(app, {"code": code, "lang": "en"}))
    assert t("app.invitation.used", "en") in again and "kit-item" not in again


def test_survey_refuses_wrong_and_closed_politely(demo_home):
    app = prepare_survey(demo_home.settings)
    assert t("app.invitation.wrong", "nb") in _text(open_survey(app, {"code": "nope"}))
    assert t("app.invitation.missing", "en") in _text(open_survey(app, {"lang": "en"}))
    code = create_invitations(app.store, demo_home.group_a, "before", 1)[0]
    app.store.set_wave_status(demo_home.group_a, "before", "closed")
    try:
        assert t("app.invitation.closed", "en") in _text(
            open_survey(app, {"code": code, "lang": "en"})
        )
    finally:
        app.store.set_wave_status(demo_home.group_a, "before", "open")
