"""The old Voilà survey (kept as the benchmark's baseline) through its widgets' traits: it submits
through the same engine, so the same rules hold (no kernel, no browser)."""

from __future__ import annotations

import ipywidgets as w
import pytest

from kit.apps.invitations import create_invitations
from kit.apps.survey_widgets import (
    NOT_APPLICABLE,
    SurveyForm,
    SurveyView,
    build_survey,
    open_survey,
    prepare_survey,
)
from kit.errors import KitError
from kit.i18n import t
from kit.instrument import load_instrument
from kit.scoring import score_responses


def _text(widget: w.Widget) -> str:
    out = [getattr(widget, "value", "") if isinstance(widget, w.HTML) else ""]
    for child in getattr(widget, "children", ()):
        out.append(_text(child))
    return "\n".join(x for x in out if isinstance(x, str))


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


def test_survey_view_refuses_a_nearly_empty_submission_then_submits_once(demo_home):
    app = prepare_survey(demo_home.settings)
    code = create_invitations(app.store, demo_home.group_b, "after", 1)[0]
    inst = app.instrument
    before = len(app.store.load_responses(inst, [demo_home.group_b], ["after"]))
    view = build_survey(app, {"code": code, "lang": "en"})
    assert isinstance(view, SurveyView) and view.lang == "en"
    for item_id in inst.dimensions[0].item_ids:
        view._toggles[item_id].value = 2
    n_first = len(inst.dimensions[0].item_ids)
    assert f"{n_first} of {len(inst.item_ids)}" in view.progress.value
    view.show(view.form.pages - 1)
    view.submit.click()  # 4 of 56 answered: refused, nothing stored, the form stays
    assert not view.submitted
    assert "Answer at least 28" in view.message.value
    assert len(app.store.load_responses(inst, [demo_home.group_b], ["after"])) == before
    for item_id in inst.item_ids:
        view.form.answer(item_id, 2)
    view.show(view.form.pages - 2)
    q = inst.open_question_ids[0]
    view._texts[q].value = "More time for strategy."
    view.next.click()
    assert view.form.kind() == "review"
    view.submit.click()
    assert view.submitted and t("app.survey.done.title", "en") in _text(view.widget)
    view.submit.click()  # a second click changes nothing
    table = app.store.load_responses(inst, [demo_home.group_b], ["after"])
    assert len(table) == before + 1
    assert q in table.columns and "More time for strategy." in set(table[q].dropna())
    dims = score_responses(table, inst).dimensions
    row = dims[(dims["group"] == demo_home.group_b) & (dims["dimension"] == inst.dimension_ids[0])]
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
