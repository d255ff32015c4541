"""Answers in: read a survey export (CSV or XLSX) into the canonical response table.

>>> result = read_responses("export.csv", load_instrument("lagprofil"))
>>> store.import_responses(result.table, instrument, result.source_hash, result.filename)

One row per respondent: respondent id, group, wave, optional role, one column per item, optional
open-text columns. Headers are the canonical names (``respondent, group, wave, role, Q01.., O1..``)
unless a column mapping (``load_mapping``, see ``kit/data/mappings/example_surveytool.yaml``) maps a
survey tool's headers and value labels onto them.

Validation is lazy (every problem is collected before refusing) and vectorised. Row numbers are
as a spreadsheet shows them: the header is row 1, the first data row is row 2. Nothing is coerced
silently: a value is either read as it is meant (a whole number on the scale, a scale label, an
empty cell or a not-applicable label meaning no answer) or reported.
"""

from __future__ import annotations

import csv
import datetime as dt
import difflib
import fnmatch
import hashlib
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from kit.errors import ParameterError, Problem, ResponseFileError
from kit.i18n import I18N_DIR, t
from kit.instrument import Instrument
from kit.mapping import ColumnMapping, load_mapping, parse_mapping  # noqa: F401 - re-exported

CANONICAL = ("respondent", "group", "wave", "role")
REQUIRED = ("respondent", "group", "wave")
ROLES = ("leader", "member")
# Role labels accepted without a mapping (case-insensitive): English, bokmål, nynorsk.
DEFAULT_ROLE_LABELS = {"leader": "leader", "leder": "leader", "leiar": "leader",
                       "member": "member", "medlem": "member"}
# Cell values meaning "not applicable / don't know" without a mapping (case-insensitive), besides
# the instrument's own not-applicable label. "0" is never one unless a mapping says so.
DEFAULT_NOT_APPLICABLE = ("na", "n/a", "vet ikke", "ikke relevant", "don't know", "dont know",
                          "not applicable")
EXCEL_SUFFIXES = (".xlsx", ".xlsm")
MAPPING_KEYS = ("columns", "items", "open_questions", "values", "not_applicable", "ignore", "sheet")
SAVE_AS = ("Open it in Excel and use File > Save As > 'CSV UTF-8 (comma delimited) (*.csv)', "
           "or save it as an Excel workbook (.xlsx).")
ROW_HINT = ("Correct the listed cells in the file (or the column mapping) and import it again, or "
            "import with drop_invalid (kit: --drop-invalid) to leave the listed rows out.")


# -- column mapping: the file format lives in kit.mapping (strict, like every configuration file)
# -- reading --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class IngestResult:
    """A validated response table and where it came from."""

    table: pd.DataFrame  # the canonical response table (docs/DESIGN.md)
    dropped: list[Problem]  # problems of the rows left out (only with drop_invalid=True)
    source_hash: str  # sha256 of the file's bytes: the store imports a file once
    filename: str
    rows_read: int  # data rows in the file (blank rows not counted)

    @property
    def dropped_rows(self) -> list[int]:
        """File row numbers of the rows left out."""
        return sorted({p.row for p in self.dropped if p.row is not None})


@dataclass
class _Checked:
    table: pd.DataFrame
    file_problems: list[Problem]
    row_problems: list[Problem]
    bad_rows: set[int]  # file row numbers
    source_hash: str
    filename: str
    rows_read: int


def read_responses(
    path: str | Path,
    instrument: Instrument,
    *,
    mapping: ColumnMapping | str | Path | None = None,
    known_groups: Iterable[str] | None = None,
    known_waves: Iterable[str] | None = None,
    drop_invalid: bool = False,
    min_answered_share: float = 0.5,
) -> IngestResult:
    """Read and validate a survey export; raise ``ResponseFileError`` listing every problem.

    With ``drop_invalid=True`` rows with problems are left out and listed in ``dropped``; problems
    of the file itself (encoding, missing or unknown columns, no data) still raise.
    """
    c = _check(path, instrument, mapping, known_groups, known_waves, min_answered_share)
    if c.file_problems or (c.row_problems and not drop_invalid):
        hints = [_file_hint()] if c.file_problems else []
        hints += [ROW_HINT] if c.row_problems else []
        hint = "\n".join(hints)
        raise ResponseFileError(c.filename, c.file_problems + c.row_problems, hint=hint)
    table = c.table
    dropped: list[Problem] = []
    if c.row_problems:
        keep = ~table.pop("_row").isin(c.bad_rows)
        table = table[keep.to_numpy()].reset_index(drop=True)
        dropped = c.row_problems
    else:
        table = table.drop(columns="_row")
    return IngestResult(table, dropped, c.source_hash, c.filename, c.rows_read)


def validate_responses(
    path: str | Path,
    instrument: Instrument,
    *,
    mapping: ColumnMapping | str | Path | None = None,
    known_groups: Iterable[str] | None = None,
    known_waves: Iterable[str] | None = None,
    min_answered_share: float = 0.5,
) -> list[Problem]:
    """Every problem of a survey export (file problems first, then by row), without raising.

    An empty list means ``read_responses`` would import the file as it is.
    """
    try:
        c = _check(path, instrument, mapping, known_groups, known_waves, min_answered_share)
    except ResponseFileError as exc:  # the file cannot be read at all
        return list(exc.problems)
    return c.file_problems + c.row_problems


def describe_result(result: IngestResult, lang: str) -> str:
    """One line for a person: how many rows were read, kept and left out."""
    text = t("ingest.summary", lang, filename=result.filename, rows=result.rows_read,
             kept=len(result.table), dropped=len(result.dropped_rows))
    if result.dropped_rows:
        text += " " + t("ingest.dropped_rows", lang,
                        rows=", ".join(str(r) for r in result.dropped_rows))
    return text


def _check(path: str | Path, instrument: Instrument, mapping: ColumnMapping | str | Path | None,
           known_groups: Iterable[str] | None, known_waves: Iterable[str] | None,
           min_answered_share: float) -> _Checked:
    if not (isinstance(min_answered_share, int | float) and 0 < min_answered_share <= 1):
        raise ParameterError("read_responses", [Problem(
            "read_responses", "must be a share in (0, 1], e.g. 0.5", column="min_answered_share",
            value=str(min_answered_share))])
    if mapping is not None and not isinstance(mapping, ColumnMapping):
        mapping = load_mapping(mapping)
    mapping = mapping or ColumnMapping()
    path = Path(path)
    name = path.name
    if not path.is_file():
        raise ResponseFileError(name, [Problem(name, f"does not exist (looked for {path})")],
                                hint="Check the path and the file name.")
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    raw = _read_table(data, path, mapping)
    return _validate(raw, instrument, mapping, name, digest, known_groups, known_waves,
                     min_answered_share)


def _read_table(data: bytes, path: Path, mapping: ColumnMapping) -> pd.DataFrame:
    """Every cell as text ('' for empty), header row included as row 0."""
    name = path.name
    suffix = path.suffix.lower()
    if not data.strip():
        raise ResponseFileError(name, [Problem(name, "is empty")],
                                hint="Export the survey again, with the column headers in row 1.")
    if suffix == ".xls" or data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        raise ResponseFileError(name, [Problem(
            name, "is an old Excel 97-2003 workbook (.xls), which the kit does not read")],
            hint=SAVE_AS)
    if suffix in EXCEL_SUFFIXES:
        return _read_xlsx(data, name, mapping.sheet)
    if data[:4] == b"PK\x03\x04":
        raise ResponseFileError(name, [Problem(
            name, "is an Excel workbook or another zip file, not a CSV text file")],
            hint="Rename it to .xlsx if it is an Excel workbook. " + SAVE_AS)
    text = _decode(data, name)
    sep = _sniff_separator(text)
    try:
        frame = pd.read_csv(io.StringIO(text), sep=sep, header=None, dtype=str,
                            keep_default_na=False, skip_blank_lines=False, engine="c")
    except (pd.errors.ParserError, csv.Error) as exc:
        found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
        if found:
            want, line, saw = (int(x) for x in found.groups())
            problem = Problem(name, f"has {saw} cells but the header has {want} "
                              f"({_sep_name(sep)}-separated)", row=line)
        else:
            problem = Problem(name, f"cannot be read as a {_sep_name(sep)}-separated file: {exc}")
        raise ResponseFileError(name, [problem],
            hint="A row has more cells than the header; check for a separator inside an "
            "unquoted text, or save the file again from Excel as 'CSV UTF-8'.") from None
    return frame.fillna("")


def _decode(data: bytes, name: str) -> str:
    if data[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in data[:4096]:
        raise ResponseFileError(name, [Problem(
            name, "is not a CSV text file the kit can read (UTF-16 'Unicode text' or binary)")],
            hint=SAVE_AS)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        text = ""
    if text and _plausible(text):
        return text
    raise ResponseFileError(name, [Problem(
        name, "is neither UTF-8 nor Windows-1252 text (the characters do not make sense)")],
        hint=SAVE_AS)


_ODD = re.compile(r"[^\t\r\n\x20-\x7e]")
_PLAIN_EXTRA = set("–—‘’‚“”„€…«»°§´·×÷½¼¾©®™•¹²³µ¡¿ ")


def _plausible(text: str) -> bool:
    """Does text decoded as Windows-1252 look like a spreadsheet (letters such as æøå)?"""
    odd = _ODD.findall(text)
    if not odd:
        return True
    if any(not (ch.isalpha() or ch in _PLAIN_EXTRA) for ch in set(odd)):
        return False
    return len(odd) <= 0.2 * len(text)


def _sniff_separator(text: str) -> str:
    """The separator of the header line: ';', ',' or tab (outside quotes), most frequent wins."""
    counts = {";": 0, ",": 0, "\t": 0}
    quoted = False
    for ch in text[: text.find("\n") if "\n" in text else len(text)]:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in counts:
            counts[ch] += 1
    best = max(counts, key=lambda k: counts[k])
    return best if counts[best] else ","


def _sep_name(sep: str) -> str:
    return {";": "semicolon", ",": "comma", "\t": "tab"}[sep]


def _read_xlsx(data: bytes, name: str, sheet: str | None) -> pd.DataFrame:
    from openpyxl import load_workbook

    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds for a broken file
        raise ResponseFileError(name, [Problem(name, f"cannot be opened as an Excel workbook: "
                                               f"{exc}")], hint=SAVE_AS) from None
    try:
        if sheet is not None and sheet not in wb.sheetnames:
            raise ResponseFileError(name, [Problem(
                name, f"has no sheet {sheet!r}; its sheets are {wb.sheetnames}")],
                hint="Name the right sheet in the mapping's 'sheet' entry.")
        ws = wb[sheet] if sheet is not None else wb.worksheets[0]
        rows = [[_cell_text(v) for v in row] for row in ws.iter_rows(values_only=True)]
    finally:
        wb.close()
    width = max((len(r) for r in rows), default=0)
    return pd.DataFrame([r + [""] * (width - len(r)) for r in rows], dtype=str)


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).upper()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    return str(value)


# -- validation -----------------------------------------------------------------------------------
def _validate(raw: pd.DataFrame, instrument: Instrument, mapping: ColumnMapping, name: str,
              digest: str, known_groups: Iterable[str] | None, known_waves: Iterable[str] | None,
              min_answered_share: float) -> _Checked:
    file_problems: list[Problem] = []

    def file_problem(reason: str, column: str | None = None, value: str | None = None) -> None:
        file_problems.append(Problem(name, reason, column=column, value=value))

    headers = [h.strip().lstrip("\ufeff") for h in raw.iloc[0].tolist()] if len(raw) else []
    body = raw.iloc[1:]
    blank = (body.apply(lambda col: col.str.strip()) == "").all(axis=1) if len(body) else body
    body = body[~blank.to_numpy()] if len(body) else body
    rows = body.index.to_numpy() + 1  # file row numbers: header is row 1
    if not len(body):
        raise ResponseFileError(name, [Problem(name, "has a header row but no data rows")],
                                hint="Export the survey again after respondents have answered.")

    # Headers -> canonical columns.
    wanted = {_key(x): x for x in (*CANONICAL, *instrument.item_ids, *instrument.open_question_ids)}
    mapped = mapping.header_map(instrument)
    allowed = set(wanted.values())
    for target in sorted(set(mapped.values()) - allowed):
        heads = [h for h, v in mapping.columns.items() if v == target]
        file_problem(f"the mapping {mapping.source} maps this column to {target!r}, which is "
                     f"neither {', '.join(CANONICAL)} nor an item or open question of instrument "
                     f"{instrument.id!r}", column=heads[0] if heads else None)
    source_of: dict[str, int] = {}  # canonical column -> position in the file
    header_of: dict[str, str] = {}
    unknown: list[str] = []
    for pos, head in enumerate(headers):
        if head == "":
            if (body.iloc[:, pos].str.strip() != "").any():
                file_problem(f"column {pos + 1} has data but no header; give it a header or "
                             "delete the column")
            continue
        target = mapped.get(_key(head)) or wanted.get(_key(head))
        if target is None or target not in allowed:
            if not any(fnmatch.fnmatchcase(_key(head), _key(p)) for p in mapping.ignore):
                unknown.append(head)
            continue
        if target in source_of:
            file_problem(f"holds {target!r} a second time (also column {header_of[target]!r}); "
                         "keep one of them", column=head)
            continue
        source_of[target] = pos
        header_of[target] = head
    free = {_key(c): c for c in allowed if c not in source_of}
    for head in unknown:
        close = difflib.get_close_matches(_key(head), list(free), n=1, cutoff=0.75)
        guess = f" (did you mean {free[close[0]]!r}?)" if close else ""
        file_problem(f"is not a column of instrument {instrument.id!r}{guess}; rename it in the "
                     "file or the column mapping, or list it under 'ignore' in the mapping",
                     column=head)
    for col in REQUIRED:
        if col not in source_of:
            file_problem(f"the column {col!r} is missing; name a column {col!r} or map a header "
                         f"to it in the column mapping ({_example_mapping()})", column=col)
    missing_items = [i for i in instrument.item_ids if i not in source_of]
    if missing_items:
        file_problem(f"{len(missing_items)} of the {len(instrument.item_ids)} item columns of "
                     f"instrument {instrument.id!r} are missing: {_ids(missing_items)}; the "
                     "survey must ask every item (check the export or the column mapping)")
    if file_problems and len(source_of) <= 1 and len(headers) == 1:
        file_problem(f"the header row has one column only ({headers[0][:40]!r}); is the file "
                     "separated by something other than comma or semicolon?")

    def cells(col: str) -> pd.Series:
        if col not in source_of:
            return pd.Series([""] * len(body), index=body.index, dtype=str)
        return body.iloc[:, source_of[col]].str.strip()

    row_problems: list[Problem] = []
    out = pd.DataFrame(index=body.index)

    def report(mask: np.ndarray, col: str, values: pd.Series, reason: str | Any) -> None:
        for idx in np.flatnonzero(mask):
            value = values.iloc[idx]
            text = reason(value) if callable(reason) else reason
            row_problems.append(Problem(name, text, row=int(rows[idx]),
                                        column=header_of.get(col, col), value=value))

    # Identity columns.
    for col in REQUIRED:
        values = cells(col)
        if col in source_of:
            report((values == "").to_numpy(), col, values,
                   f"is empty; every row needs a {col}")
    respondent = cells("respondent")
    out["respondent"] = respondent
    for col, known in (("group", known_groups), ("wave", known_waves)):
        values = cells(col)
        labels = _label_map(mapping.values.get(col, {}))
        if col == "wave":
            labels = {**_default_wave_labels(), **labels}
        mapped_values = _map_unique(values, lambda v, m=labels: m.get(_key(v), v))
        out[col] = mapped_values
        if known is not None and col in source_of:
            known_set = {str(k) for k in known}
            bad = ((mapped_values != "") & ~mapped_values.isin(known_set)).to_numpy()
            shown = _ids(sorted(known_set)) or "none yet"
            folded = {_key(k): k for k in known_set}
            report(bad, col, values,
                   lambda v, col=col, shown=shown, folded=folded, m=labels: (
                       f"is not a known {col}; "
                       + (f"did you mean {folded[_key(m.get(_key(v), v))]!r}? "
                          if _key(m.get(_key(v), v)) in folded else "")
                       + f"known {col}s: {shown}. Register the {col} first, or correct the value "
                       f"(or map it under values.{col} in the column mapping)"))
    roles = cells("role")
    role_labels = {**DEFAULT_ROLE_LABELS, **_label_map(mapping.values.get("role", {}))}
    role_ids = _map_unique(roles, lambda v: role_labels.get(_key(v)) if v else None)
    bad_role = ((roles != "") & role_ids.isna()).to_numpy()
    report(bad_role, "role", roles, "is not a role; use leader or member (leder/medlem), leave "
           "it empty, or map the label under values.role in the column mapping")
    out["role"] = role_ids.astype(object).where(role_ids.notna(), None)

    # Items: one vectorised pass over every answer cell.
    items = [i for i in instrument.item_ids if i in source_of]
    answers, item_problems, answered = _check_answers(body, items, source_of, header_of, rows,
                                                      instrument, mapping, name)
    row_problems += item_problems
    for item in instrument.item_ids:
        out[item] = answers[item] if item in answers else np.nan
    need = int(np.ceil(min_answered_share * len(instrument.item_ids) - 1e-9))
    if items and not missing_items:
        few = answered < need
        for idx in np.flatnonzero(few):
            row_problems.append(Problem(
                name, f"answered {answered[idx]} of "
                f"{len(instrument.item_ids)} items; at least {need} "
                f"({min_answered_share:.0%}) are needed (not-applicable answers do not count). "
                "Leave the row out, or lower min_answered_share", row=int(rows[idx]),
                column=header_of.get("respondent"), value=respondent.iloc[idx]))

    for q in instrument.open_question_ids:
        texts = cells(q)
        out[q] = texts.astype(object).where(texts != "", None)

    # Duplicates: the same respondent twice in a group and wave.
    key = out[["group", "wave", "respondent"]]
    dup = key.duplicated(keep=False).to_numpy() & (respondent != "").to_numpy()
    if dup.any():
        content = body.iloc[:, sorted(source_of.values())].to_numpy(dtype=object)
        members: dict[tuple[str, ...], list[int]] = {}
        for idx in np.flatnonzero(dup):
            members.setdefault(tuple(key.iloc[idx]), []).append(int(idx))
        for (grp, wave, resp), idxs in members.items():
            first_of: dict[tuple[str, ...], int] = {}
            for idx in idxs:
                first_of.setdefault(tuple(content[idx]), int(rows[idx]))
            listed = ", ".join(str(rows[i]) for i in idxs)
            for idx in idxs:
                first = first_of[tuple(content[idx])]
                if len(first_of) == 1 and first == rows[idx]:
                    continue  # the first of identical copies is kept
                if len(first_of) == 1:
                    reason = (f"repeats row {first} exactly (respondent {resp!r} in group "
                              f"{grp!r}, wave {wave!r}); delete the repeated row")
                else:
                    reason = (f"respondent {resp!r} appears more than once in group {grp!r}, "
                              f"wave {wave!r} (rows {listed}) with different answers; keep the "
                              "right row, or give each person their own id")
                row_problems.append(Problem(name, reason, row=int(rows[idx]),
                                            column=header_of.get("respondent"),
                                            value=respondent.iloc[idx]))

    row_problems.sort(key=lambda p: (p.row or 0, _column_order(p.column, headers)))
    bad_rows = {p.row for p in row_problems if p.row is not None}
    table = out.reset_index(drop=True)
    table.insert(0, "_row", rows)
    table = table[["_row", *CANONICAL, *instrument.item_ids, *instrument.open_question_ids]]
    for col in ("respondent", "group", "wave"):
        table[col] = table[col].astype(object)
    return _Checked(table, file_problems, row_problems, bad_rows, digest, name, len(body))


def _check_answers(body: pd.DataFrame, items: list[str], source_of: dict[str, int],
                   header_of: dict[str, str], rows: np.ndarray, instrument: Instrument,
                   mapping: ColumnMapping, name: str
                   ) -> tuple[dict[str, np.ndarray], list[Problem], np.ndarray]:
    """Parse every answer cell; return values per item, problems, answered count per row.

    Answers take few distinct values, so each distinct text is parsed once and the result is
    spread back to the cells by its code (vectorised over the whole block).
    """
    n_rows = len(body)
    if not items:
        return {}, [], np.zeros(n_rows, dtype=int)
    na_base = set(DEFAULT_NOT_APPLICABLE) | {_key(x) for x in mapping.not_applicable}
    parsers: dict[tuple[int, int], Any] = {}  # one parser per scale (an item may have its own)

    def parser_for(item: str) -> Any:
        scale = instrument.item(item).scale or instrument.scale
        if (scale.min, scale.max) in parsers:
            return parsers[(scale.min, scale.max)]
        na_tokens = set(na_base)
        if scale.not_applicable:
            na_tokens |= {_key(x) for x in scale.not_applicable.values()}
        labels = {_key(lab): float(scale.min + k) for texts in scale.labels.values()
                  for k, lab in enumerate(texts)}
        rng = f"{scale.min}-{scale.max}"
        where = f"the scale {rng} of instrument {instrument.id!r}"
        reasons = {
            "number": (f"is not a number on {where}; give a whole number {rng}, leave it empty "
                       "if not answered, or list the value under 'not_applicable' in the column "
                       "mapping if it means 'don't know'"),
            "whole": (f"is not a whole number; {where} takes whole numbers only (a decimal such "
                      "as '3,5' suggests an average or a typing error), so correct the answer"),
            "outside": f"is outside {where}; give a whole number {rng}, or leave it empty",
        }
        parsed: dict[str, tuple[float, bool, str | None]] = {}  # text -> (value, present, kind)

        def parse(text: str) -> tuple[float, bool, str | None]:
            if text not in parsed:
                parsed[text] = _parse_answer(text, scale.min, scale.max, na_tokens, labels)
            return parsed[text]

        parsers[(scale.min, scale.max)] = (parse, reasons)
        return parsers[(scale.min, scale.max)]

    values = np.full((n_rows, len(items)), np.nan)
    present = np.zeros((n_rows, len(items)), dtype=bool)
    problems: list[Problem] = []
    for k, item in enumerate(items):
        parse, reasons = parser_for(item)
        codes, uniques = pd.factorize(body.iloc[:, source_of[item]], use_na_sentinel=False)
        results = [parse(str(u)) for u in uniques]
        values[:, k] = np.array([r[0] for r in results], dtype=float)[codes]
        present[:, k] = np.array([r[1] for r in results], dtype=bool)[codes]
        bad_codes = [c for c, r in enumerate(results) if r[2] is not None]
        if bad_codes:
            for idx in np.flatnonzero(np.isin(codes, bad_codes)):
                value = str(uniques[codes[idx]]).strip()
                problems.append(Problem(name, reasons[results[codes[idx]][2]], row=int(rows[idx]),
                                        column=header_of[item], value=value))
    return {item: values[:, k] for k, item in enumerate(items)}, problems, present.sum(axis=1)


_NUMBER = re.compile(r"[+-]?(\d+([.,]\d*)?|[.,]\d+)([eE][+-]?\d+)?")


def _parse_answer(raw: str, lo: int, hi: int, na_tokens: set[str], labels: dict[str, float]
                  ) -> tuple[float, bool, str | None]:
    """One answer text -> (value or NaN, whether it counts as answered, problem kind or None)."""
    text = raw.strip()
    if text == "":
        return np.nan, False, None
    key = _key(text)
    if key in na_tokens:
        return np.nan, False, None
    if key in labels:
        return labels[key], True, None
    if not _NUMBER.fullmatch(text):
        return np.nan, True, "number"
    number = float(text.replace(",", "."))
    if not number.is_integer():
        return np.nan, True, "whole"
    if not lo <= number <= hi:
        return np.nan, True, "outside"
    return number, True, None


# -- helpers --------------------------------------------------------------------------------------
def _map_unique(values: pd.Series, func: Any) -> pd.Series:
    """``values.map(func)``, calling ``func`` once per distinct value."""
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    mapped = np.array([func(str(u)) for u in uniques] + [None], dtype=object)[:-1]
    return pd.Series(mapped[codes], index=values.index, dtype=object)


def _key(text: Any) -> str:
    return str(text).strip().casefold()


def _label_map(labels: dict[str, str]) -> dict[str, str]:
    return {_key(k): v for k, v in labels.items()}


@lru_cache(maxsize=1)
def _default_wave_labels() -> dict[str, str]:
    """Wave labels from the kit's common texts ('Før' -> before, 'After' -> after, ...)."""
    texts = yaml.safe_load((I18N_DIR / "common.yaml").read_text(encoding="utf-8")) or {}
    return {_key(text): key.removeprefix("wave.") for key, per_lang in texts.items()
            if key.startswith("wave.") and isinstance(per_lang, dict)
            for text in per_lang.values()}


def _ids(ids: list[str], limit: int = 12) -> str:
    shown = ", ".join(ids[:limit])
    return shown + (f" ... ({len(ids)} in all)" if len(ids) > limit else "")


def _column_order(column: str | None, headers: list[str]) -> int:
    try:
        return headers.index(column) if column is not None else -1
    except ValueError:
        return len(headers)


def _file_hint() -> str:
    return ("Fix the columns: rename headers in the file or write a column mapping (see "
            f"{_example_mapping()}); then import again.")


def _example_mapping() -> str:
    return "kit/data/mappings/example_surveytool.yaml"
