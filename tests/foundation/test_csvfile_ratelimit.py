"""Spreadsheet-safe CSV files and the failed-attempt limiter."""

from __future__ import annotations

import pandas as pd
import pytest

from kit.csvfile import neutralise_cell, write_csv
from kit.ratelimit import FailureLimiter


@pytest.mark.parametrize("text", ["=1+1", "+47 999", "-2+3", "@SUM(A1)", "\t=x", "\r=x"])
def test_formula_leading_text_is_neutralised(text):
    assert neutralise_cell(text) == "'" + text


def test_other_cells_are_kept():
    assert neutralise_cell("Godt møte") == "Godt møte"
    assert neutralise_cell(-0.4) == -0.4
    assert neutralise_cell(None) is None


def test_write_csv_neutralises_text_and_keeps_numbers(tmp_path):
    frame = pd.DataFrame({"text": ['=HYPERLINK("x")', "ok"], "change": [-0.4, 1.0]})
    path = write_csv(frame, tmp_path / "out.csv")
    back = pd.read_csv(path)
    assert back["text"].tolist() == ['\'=HYPERLINK("x")', "ok"]
    assert back["change"].tolist() == [-0.4, 1.0]
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]  # no temporary file left


def test_limiter_refuses_after_max_failures_and_says_how_long():
    now = [1000.0]
    limiter = FailureLimiter(3, 60, clock=lambda: now[0])
    for _ in range(3):
        assert limiter.retry_after("1.2.3.4") == 0
        limiter.fail("1.2.3.4")
    assert limiter.retry_after("1.2.3.4") == 60
    assert limiter.retry_after("5.6.7.8") == 0  # another client is not affected
    now[0] += 30
    assert limiter.retry_after("1.2.3.4") == 30
    now[0] += 31
    assert limiter.retry_after("1.2.3.4") == 0


def test_limiter_forgets_least_recent_clients_beyond_its_bound():
    limiter = FailureLimiter(1, 60, max_clients=2)
    for client in ("a", "b", "c"):
        limiter.fail(client)
    assert limiter.retry_after("a") == 0
    assert limiter.retry_after("b") > 0 and limiter.retry_after("c") > 0
