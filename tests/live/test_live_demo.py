"""The demo live session: every exercise has data, and every console widget draws it."""

from __future__ import annotations

from kit.live import widgets as lw
from kit.live.demo import make_live_demo
from kit.store import live as repo


def test_demo_session_and_every_widget_draws(live_settings, live_store) -> None:
    code = make_live_demo(live_store, live_settings)
    assert code is not None and make_live_demo(live_store, live_settings) == code  # once
    session = repo.get_session(live_store, code)
    assert session["group_ids"] == ["g1", "g2"] and session["cohort_id"] == "k5"
    console = lw.FacilitatorConsole(live_settings, code, live_store)
    assert console.round["exercise"] == "pulse" and console.participants == 12
    seen = {}
    for rnd in console.rounds:
        console.picker.value = rnd["id"]
        widget = console.widget
        console.poll_once(force=True)
        seen[rnd["exercise"]] = widget.results
        if rnd["exercise"] != "action_plan":
            assert widget.revealed and "<svg" in widget.view.value, rnd["exercise"]
    assert seen["pulse"]["respondents"] == 12 and any(
        i["disagreement"] for i in seen["pulse"]["items"])
    assert seen["purpose"]["agreed"] and seen["purpose"]["statements"][0]["votes"] > 0
    assert sum(x["actual_minutes"] for x in seen["agenda_audit"]["split"]) == 165
    assert seen["airtime"]["leader_share"] == 540 / 720 and 0 < seen["airtime"]["gini"] < 1
    assert len(seen["stakeholder_map"]["actors"]) == 5
    assert seen["action_plan"]["actions"] == 2
    assert len(repo.list_actions(live_store, "g1")) == 1
