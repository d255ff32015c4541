"""CSV files the kit writes: atomically, and safe to open in a spreadsheet.

A cell whose text starts with ``=``, ``+``, ``-``, ``@`` (or a tab or carriage return) is read by
Excel, LibreOffice and Google Sheets as a formula, so free text from a participant could run in
a staff member's spreadsheet ("CSV injection"). ``neutralise_cell`` puts an apostrophe in front
of such text, which spreadsheets show as the text itself. Numbers are left as numbers (a negative
change stays ``-0.4``). Every CSV the kit writes goes through ``write_csv``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd

FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")


def neutralise_cell(value: Any) -> Any:
    """``value`` as a spreadsheet shows it: text that would start a formula gets a leading '."""
    if isinstance(value, str) and value.startswith(FORMULA_LEADS):
        return "'" + value
    return value


def neutralise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` with every text cell (and column name) neutralised."""
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(neutralise_cell)
    out.columns = [neutralise_cell(str(c)) for c in out.columns]
    return out


def write_csv(frame: pd.DataFrame, path: Path | str, **to_csv: Any) -> Path:
    """Write ``frame`` to ``path`` (neutralised, atomically: a partial file never appears)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        neutralise_frame(frame).to_csv(tmp, index=False, **to_csv)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
