"""The group report shows the decision reviews the group ran live (kit.live.report_data decides
what may be shown; tests/live/test_report_data.py): a table per decision with breadth and the
share marking each source, in the report's language, and nothing when there is none."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from kit.live.report_data import DECISION_COLUMNS
from kit.reports.layout import GroupReport
from kit.results import group_results


@pytest.fixture(scope="module")
def results(demo_store, demo_settings, instrument):
    return group_results(
        demo_store, demo_settings, "k1-kystverket", ["before", "after"], "nb", instrument
    )


def _reviews() -> pd.DataFrame:
    row = dict.fromkeys(DECISION_COLUMNS, 0.0)
    row.update(session_id="ABCD2345", round=7, opened_at="2026-05-04T10:00:00",
               decision="Omorganisering", n=4, breadth=(2 / 7 + 1 / 7 + 3 / 7) / 4,
               own_unit=0.5, research=0.25)  # fmt: skip
    return pd.DataFrame([row], columns=DECISION_COLUMNS)


def test_decision_reviews_are_shown_in_the_report_language(results) -> None:
    assert results.reportable
    shown = dataclasses.replace(results, decision_reviews=_reviews())
    html = str(GroupReport(shown).decisions())
    assert "Beslutningsgjennomgang" in html and "Omorganisering" in html
    assert "<td>4</td>" in html
    assert "21 %" in html  # breadth (6/7)/4 = 0.214
    assert "50 %" in html and "25 %" in html  # own unit, research
    assert "Egen enhet" in html and "Forskning" in html
    english = str(GroupReport(dataclasses.replace(shown, language="en")).decisions())
    assert "Decision review" in english and "Own unit" in english and "21 %" in english
    assert html in "".join(str(s) for s in GroupReport(shown).all_sections())


def test_no_decision_review_no_section(results) -> None:
    assert str(GroupReport(results).decisions()) == ""
    empty = dataclasses.replace(results, decision_reviews=_reviews().iloc[0:0])
    assert str(GroupReport(empty).decisions()) == ""
