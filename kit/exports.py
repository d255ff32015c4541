"""Reading steps for survey tools' exports, between reading a file and validating it.

``kit.ingest`` reads a file into a table of text cells (header row first); ``prepare_table``
then applies what a column mapping (a preset) says about the tool's format, so that the
validation sees the canonical columns and values:

- the header row and the rows under it that hold no answers (Qualtrics writes three header
  rows), left out with the file's row numbers kept for messages;
- header patterns with ``*`` (``*.{id}``: Nettskjema's ``matrix.row``) and headers that are
  the items' texts (Microsoft Forms), resolved into columns;
- one wave or group for the whole file (``--wave after``), and respondents numbered by their
  row when a file has no respondent id (``row-2``, ``row-3``, ...: the same file gives the same
  numbers, so a re-import changes nothing);
- a labels file beside the data, or a workbook's labels sheet (SurveyXact: variable; value;
  label): codes of group, wave and role become their labels, an answer code whose label means
  "not applicable" becomes no answer;
- value maps: an answer's label text or a tool's code -> the scale value, for every item or
  per item; ``null`` means not applicable.

Every cell is changed once per distinct text (answers take few values). A cell nothing maps is
left as it is, so a problem is reported with the text the file holds.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kit.errors import Problem, ResponseFileError
from kit.instrument import Instrument
from kit.mapping import ColumnMapping, detect_preset, header_regex

ROW_PREFIX = "row-"  # respondents numbered by row: row-2 is the file's row 2 (header is row 1)
IDENTITY = ("group", "wave", "role")


def prepare_table(
    raw: pd.DataFrame,
    widths: np.ndarray | None,
    data: bytes,
    path: Path,
    mapping: ColumnMapping,
    instrument: Instrument,
) -> tuple[pd.DataFrame, np.ndarray | None, ColumnMapping, list[Problem]]:
    """The table as the validation expects it; the mapping with its patterns resolved; notes."""
    from kit.ingest import CANONICAL, DEFAULT_NOT_APPLICABLE, _key

    name = path.name
    notes: list[Problem] = []
    raw, widths = _header_rows(raw, widths, mapping, name)
    headers = [str(h).strip().lstrip("\ufeff") for h in raw.iloc[0].tolist()]
    mapping = _resolve_headers(headers, mapping, instrument)
    wanted = {_key(x): x for x in (*CANONICAL, *instrument.item_ids, *instrument.open_question_ids)}
    mapped = mapping.header_map(instrument)
    target_of = {pos: mapped.get(_key(h)) or wanted.get(_key(h)) for pos, h in enumerate(headers)}
    targets = {t for t in target_of.values() if t}

    # Labels (a labels file beside the data, or a workbook's labels sheet) and value maps.
    labels = _labels(data, path, mapping, notes)
    na_tokens = set(DEFAULT_NOT_APPLICABLE) | {_key(x) for x in mapping.not_applicable}
    scale_na = instrument.scale.not_applicable or {}
    na_tokens |= {_key(x) for x in scale_na.values()}
    _check_answer_maps(mapping, instrument, name)
    changed: dict[int, np.ndarray] = {}
    for pos, target in target_of.items():
        if target is None:
            continue
        codes = labels.get(_key(headers[pos]), {})
        if target in instrument.item_ids:
            maps = {**mapping.answers, **mapping.item_answers.get(target, {})}
            if not (maps or codes):
                continue
            changed[pos] = _translate(
                raw.iloc[1:, pos], lambda v, m=maps, c=codes: _answer(v, m, c, na_tokens)
            )
        elif target in IDENTITY and codes:
            changed[pos] = _translate(raw.iloc[1:, pos], lambda v, c=codes: c.get(v.strip(), v))
    if changed:  # whole columns replaced: far cheaper than setting cells
        raw = raw.copy(deep=False)
        for pos, values in changed.items():
            raw[pos] = np.concatenate([np.array([raw.iat[0, pos]], dtype=object), values])

    # One wave / group for the file; respondents numbered by row.
    added: dict[str, list[str]] = {}
    for field_name in ("wave", "group"):
        value = getattr(mapping, field_name)
        if value is None:
            continue
        if field_name in targets:
            head = headers[next(p for p, t in target_of.items() if t == field_name)]
            raise ResponseFileError(
                name,
                [
                    Problem.of(
                        name,
                        "ingest.file.given_and_column",
                        column=head,
                        given=value,
                        field=field_name,
                    )
                ],
                hints=(("ingest.hint.given_and_column", {}),),
            )
        added[field_name] = [value] * (len(raw) - 1)
    if "respondent" not in targets and mapping.respondent_from_row:
        added["respondent"] = [f"{ROW_PREFIX}{int(i) + 1}" for i in raw.index[1:]]
    if added:
        body_blank = np.ones(len(raw) - 1, dtype=bool)  # blank rows stay blank (left out)
        for pos in range(raw.shape[1]):
            body_blank &= (raw.iloc[1:, pos].str.strip() == "").to_numpy()
        raw = raw.copy()
        start = raw.shape[1]
        for k, (field_name, values) in enumerate(added.items()):
            cells = np.where(body_blank, "", np.array(values, dtype=object))
            raw[start + k] = [field_name, *cells.tolist()]
        raw.columns = range(raw.shape[1])
        if widths is not None:
            widths = widths + len(added)
    return raw, widths, mapping, notes


def recognise_tool(path: str | Path) -> str | None:
    """The preset of the survey tool that wrote ``path`` (see ``kit.mapping.detect_preset``).

    Reads the header line only (the first 64 kB of a text file, the first row of a workbook's
    first sheet), so recognising costs nothing next to the import.
    """
    from kit.ingest import EXCEL_SUFFIXES, _decode, _sniff_separator

    path = Path(path)
    try:
        if path.suffix.lower() in EXCEL_SUFFIXES:
            headers, sheets = _workbook_head(path)
        else:
            with path.open("rb") as fh:
                head = fh.read(65536)
            head = head[: len(head) - len(head) % 2] if b"\x00" in head[:64] else head
            try:
                text = _decode(head, path.name)
            except ResponseFileError:
                text = head.decode("utf-8", errors="ignore")  # cut in the middle of a letter
            line = text.splitlines()[0] if text.strip() else ""
            sep = _sniff_separator(line)
            headers = next(csv.reader([line], delimiter=sep), [])
            sheets = []
        beside = [x.name for x in path.parent.iterdir() if x.is_file() and x != path]
    except (OSError, ResponseFileError, StopIteration):
        return None
    headers = [str(h).strip().lstrip("\ufeff") for h in headers]
    return detect_preset(headers, sheets, beside, path.stem)


def _workbook_head(path: Path) -> tuple[list[str], list[str]]:
    from openpyxl import load_workbook

    from kit.ingest import _cell_text

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception:  # noqa: BLE001 - a broken workbook is reported when it is read
        return [], []
    try:
        first = next(wb.worksheets[0].iter_rows(max_row=1, values_only=True), ())
        return [_cell_text(v) for v in first], list(wb.sheetnames)
    finally:
        wb.close()


# -- steps ----------------------------------------------------------------------------------------
def _header_rows(
    raw: pd.DataFrame, widths: np.ndarray | None, mapping: ColumnMapping, name: str
) -> tuple[pd.DataFrame, np.ndarray | None]:
    """Leave out the rows above the header and the rows under it that hold no answers."""
    first = mapping.header_row - 1 - int(raw.index[0] if len(raw) else 0)  # CSV: skipped
    if not first and not mapping.skip_rows:
        return raw, widths
    if first >= len(raw):
        raise ResponseFileError(
            name,
            [Problem.of(name, "ingest.file.no_header_row", line=mapping.header_row, rows=len(raw))],
            hints=(("ingest.hint.header_row", {}),),
        )
    keep = [first, *range(first + 1 + mapping.skip_rows, len(raw))]
    out = raw.iloc[keep]
    return out, (widths[keep] if widths is not None else None)


def _resolve_headers(
    headers: list[str], mapping: ColumnMapping, instrument: Instrument
) -> ColumnMapping:
    """Patterns with ``*`` and headers that are item texts, as plain ``columns`` entries."""
    from kit.ingest import _key

    columns = dict(mapping.columns)
    taken = {_key(h) for h in columns}
    for pattern, ids in (
        (mapping.items, instrument.item_ids),
        (mapping.open_questions, instrument.open_question_ids),
    ):
        if not pattern or "*" not in pattern:
            continue
        for n, cid in enumerate(ids, start=1):
            regex = header_regex(pattern.format(n=n, id=cid))
            for head in headers:
                if _key(head) not in taken and regex.fullmatch(_key(head)):
                    columns[head] = cid
                    taken.add(_key(head))
    if mapping.items_by_text:
        by_text: dict[str, str] = {}
        for item in instrument.items:
            for text in (item.text or {}).values():
                by_text[_text_key(text)] = item.id
        for q in instrument.open_questions:
            for text in (q.text or {}).values():
                by_text[_text_key(text)] = q.id
        for head in headers:
            cid = by_text.get(_text_key(head))
            if cid is not None and _key(head) not in taken:
                columns[head] = cid
                taken.add(_key(head))
    if columns == mapping.columns:
        return mapping
    return dataclasses.replace(mapping, columns=columns)


_SPACE = re.compile(r"\s+")


def _text_key(text: Any) -> str:
    """An item's text as a header holds it: case, spacing and closing punctuation aside."""
    return _SPACE.sub(" ", str(text)).strip().rstrip(" .?!:").casefold()


def _check_answer_maps(mapping: ColumnMapping, instrument: Instrument, name: str) -> None:
    """Every value a map gives must be a whole number on the scale of the items it is for."""
    source = mapping.source or name
    problems = []
    for item in sorted(set(mapping.item_answers) - set(instrument.item_ids)):
        problems.append(
            Problem.of(source, "ingest.map.unknown_item", column=item, instrument=instrument.id)
        )
    scales = {(s.min, s.max) for s in instrument.item_scales}
    lo, hi = min(s[0] for s in scales), max(s[1] for s in scales)
    entries = [("answers", mapping.answers, lo, hi)]
    for item in instrument.items:
        if item.id in mapping.item_answers:
            scale = item.scale or instrument.scale
            entries.append((item.id, mapping.item_answers[item.id], scale.min, scale.max))
    for column, maps, low, high in entries:
        for text, value in maps.items():
            if value is not None and not (float(value).is_integer() and low <= value <= high):
                problems.append(
                    Problem.of(
                        source,
                        "ingest.map.outside",
                        column=column,
                        value=f"{text}: {value:g}",
                        scale=f"{low}-{high}",
                    )
                )
    if problems:
        raise ResponseFileError(source, problems, hints=(("ingest.hint.answer_map", {}),))


def _answer(
    text: str, maps: dict[str, float | None], codes: dict[str, str], na_tokens: set[str]
) -> str:
    """One answer cell: through the value maps, then through its label; else as it is."""
    key = text.strip().casefold()
    if key in maps:
        return _value_text(maps[key])
    label = codes.get(text.strip())
    if label is not None:
        folded = label.strip().casefold()
        if folded in maps:
            return _value_text(maps[folded])
        if folded in na_tokens:
            return ""
    return text


def _value_text(value: float | None) -> str:
    return "" if value is None else str(int(value))


def _translate(cells: pd.Series, func: Any) -> np.ndarray:
    """``func`` of every cell, called once per distinct text."""
    codes, uniques = pd.factorize(cells, use_na_sentinel=False)
    mapped = np.array([func(str(u)) for u in uniques] + [None], dtype=object)[:-1]
    return mapped[codes]


# -- labels ---------------------------------------------------------------------------------------
def _labels(
    data: bytes, path: Path, mapping: ColumnMapping, notes: list[Problem]
) -> dict[str, dict[str, str]]:
    """Folded variable name -> code -> label, from a labels sheet or a labels file beside."""
    from kit.ingest import EXCEL_SUFFIXES, _read_xlsx

    name = path.name
    if path.suffix.lower() in EXCEL_SUFFIXES:
        if not mapping.labels_sheet or mapping.labels_sheet not in _sheet_names(data):
            return {}
        return _label_rows(_read_xlsx(data, name, mapping.labels_sheet))
    if not mapping.labels:
        return {}
    found = _beside(path, mapping.labels)
    if found is None:
        notes.append(
            Problem.of(
                name,
                "ingest.warn.no_labels",
                warning=True,
                names=", ".join(x.format(stem=path.stem) for x in mapping.labels),
            )
        )
        return {}
    from kit.ingest import _decode, _sniff_separator

    text = _decode(found.read_bytes(), found.name, mapping.encoding)
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=_sniff_separator(text)))
    return _label_rows(pd.DataFrame([r[:3] + [""] * (3 - len(r[:3])) for r in rows], dtype=str))


def _label_rows(frame: pd.DataFrame) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    if frame.shape[1] < 3:
        return out
    for var, code, label in frame.iloc[:, :3].itertuples(index=False):
        var, code = str(var).strip().lstrip("\ufeff"), str(code).strip()
        if var and code:
            out.setdefault(var.casefold(), {})[code] = str(label).strip()
    return out


def _beside(path: Path, names: tuple[str, ...]) -> Path | None:
    """The first labels file found in the data file's folder (names case-insensitive)."""
    folder = path.parent
    present = {p.name.casefold(): p for p in folder.iterdir() if p.is_file() and p != path}
    for pattern in names:
        wanted = pattern.format(stem=path.stem).casefold()
        if wanted in present:
            return present[wanted]
    return None


def _sheet_names(data: bytes) -> list[str]:
    from openpyxl import load_workbook

    try:
        wb = load_workbook(io.BytesIO(data), read_only=True)
    except Exception:  # noqa: BLE001 - a broken workbook is reported when it is read
        return []
    try:
        return list(wb.sheetnames)
    finally:
        wb.close()
