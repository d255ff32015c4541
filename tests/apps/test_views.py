"""Dashboard and survey logic through their widgets' traits (no browser, no kernel)."""

from __future__ import annotations

import datetime as dt

import ipywidgets as w
import pytest

from kit.apps.dashboard import DashboardApp, DashboardView, open_dashboard, open_group
from kit.apps.keys import KeyRefused, create_key, hash_secret
from kit.apps.view import parse_query
from kit.i18n import t
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
    # the demo's first cohort also has its midway wave
    assert board.waves[0] == "before" and board.wave == board.waves[-1] == "after"
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
