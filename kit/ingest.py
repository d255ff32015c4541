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
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from kit.errors import ParameterError, Problem, ResponseFileError
from kit.i18n import I18N_DIR, Text, t
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


# -- column mapping: the file format lives in kit.mapping (strict, like every configuration file)
# -- reading --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class IngestResult:
    """A validated response table and where it came from.

    ``table`` holds the respondents to write: with a store given, respondents it already holds
    with the same answers are left out (counted in ``already_stored``), so an updated export of
    a survey adds only its new respondents. ``file_rows`` and ``headers`` let the store name the
    file's rows and headers in a message.
    """

    table: pd.DataFrame  # the canonical response table (docs/DESIGN.md)
    dropped: list[Problem]  # problems of the rows left out (only with drop_invalid=True)
    source_hash: str  # sha256 of the file's bytes: the store imports a file once
    filename: str
    rows_read: int  # data rows in the file (blank rows not counted)
    already_stored: int = 0  # respondents stored before with the same answers (left out)
    warnings: list[Problem] = field(default_factory=list)  # said, not refused
    file_rows: list[int] = field(default_factory=list)  # the file row of each table row
    headers: dict[str, str] = field(default_factory=dict)  # canonical column -> file header

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
    headers: dict[str, str] = field(default_factory=dict)  # canonical -> file header
    stored_rows: set[int] = field(default_factory=set)  # rows stored before, identical
    warnings: list[Problem] = field(default_factory=list)

    @property
    def problems(self) -> list[Problem]:
        return self.file_problems + self.row_problems


def read_responses(
    path: str | Path,
    instrument: Instrument,
    *,
    mapping: ColumnMapping | str | Path | None = None,
    known_groups: Iterable[str] | None = None,
    known_waves: Iterable[str] | None = None,
    drop_invalid: bool = False,
    min_answered_share: float = 0.5,
    store: Any = None,
) -> IngestResult:
    """Read and validate a survey export; raise ``ResponseFileError`` listing every problem.

    With ``drop_invalid=True`` rows with problems are left out and listed in ``dropped``; problems
    of the file itself (encoding, missing or unknown columns, no data) still raise. With a
    ``store`` (a :class:`kit.store.Store`) the file is checked against what it holds (see
    :func:`check_against_store`); ``known_groups`` / ``known_waves`` then default to its own.
    """
    c = _check(path, instrument, mapping, known_groups, known_waves, min_answered_share, store)
    if c.file_problems or (c.row_problems and not drop_invalid):
        hints = [("ingest.hint.columns", {"example": _example_mapping()})] * bool(c.file_problems)
        hints += [("ingest.hint.rows", {})] if c.row_problems else []
        hints += _tool_hints(c.file_problems, mapping)
        raise ResponseFileError(c.filename, c.file_problems + c.row_problems, hints=tuple(hints))
    table = c.table
    dropped: list[Problem] = c.row_problems if c.row_problems else []
    leave_out = c.bad_rows | c.stored_rows
    if leave_out:
        table = table[~table["_row"].isin(leave_out).to_numpy()].reset_index(drop=True)
    rows = table.pop("_row").to_numpy()
    return IngestResult(table, dropped, c.source_hash, c.filename, c.rows_read,
                        already_stored=len(c.stored_rows), warnings=c.warnings,
                        file_rows=rows.tolist(), headers=dict(c.headers))


@dataclass(frozen=True)
class Verdict:
    """What ``kit validate`` says of a file: the same checks as an import, nothing written."""

    filename: str
    problems: list[Problem]  # an import refuses the file (or leaves these rows out)
    warnings: list[Problem]
    rows_read: int
    new: int  # respondents an import would add
    already_stored: int  # respondents stored before with the same answers
    groups: int
    waves: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def check_responses(
    path: str | Path,
    instrument: Instrument,
    *,
    mapping: ColumnMapping | str | Path | None = None,
    known_groups: Iterable[str] | None = None,
    known_waves: Iterable[str] | None = None,
    min_answered_share: float = 0.5,
    store: Any = None,
) -> Verdict:
    """Every check ``read_responses`` makes (with the same ``store``), without raising for rows.

    Problems of the file that stop it being read at all still raise ``ResponseFileError``.
    """
    c = _check(path, instrument, mapping, known_groups, known_waves, min_answered_share, store)
    good = c.table[~c.table["_row"].isin(c.bad_rows | c.stored_rows).to_numpy()]
    return Verdict(c.filename, c.problems, c.warnings, c.rows_read, len(good),
                   len(c.stored_rows), int(good["group"].nunique()),
                   tuple(sorted(set(good["wave"]))))


def validate_responses(
    path: str | Path,
    instrument: Instrument,
    *,
    mapping: ColumnMapping | str | Path | None = None,
    known_groups: Iterable[str] | None = None,
    known_waves: Iterable[str] | None = None,
    min_answered_share: float = 0.5,
    store: Any = None,
) -> list[Problem]:
    """Every problem of a survey export (file problems first, then by row), without raising.

    An empty list means ``read_responses`` would import the file as it is.
    """
    try:
        c = _check(path, instrument, mapping, known_groups, known_waves, min_answered_share,
                   store)
    except ResponseFileError as exc:  # the file cannot be read at all
        return list(exc.problems)
    return c.problems


def describe_result(result: IngestResult, lang: str) -> str:
    """One line for a person: how many rows were read, kept and left out."""
    text = t("ingest.summary", lang, filename=result.filename, rows=result.rows_read,
             kept=len(result.table), dropped=len(result.dropped_rows))
    if result.dropped_rows:
        text += " " + t("ingest.dropped_rows", lang,
                        rows=", ".join(str(r) for r in result.dropped_rows))
    if result.already_stored:
        text += " " + t("ingest.stored.identical", lang, n=result.already_stored)
    return text


def _check(path: str | Path, instrument: Instrument, mapping: ColumnMapping | str | Path | None,
           known_groups: Iterable[str] | None, known_waves: Iterable[str] | None,
           min_answered_share: float, store: Any = None) -> _Checked:
    if not (isinstance(min_answered_share, int | float) and 0 < min_answered_share <= 1):
        raise ParameterError("read_responses", [Problem.of(
            "read_responses", "ingest.param.share", column="min_answered_share",
            value=str(min_answered_share))])
    if mapping is not None and not isinstance(mapping, ColumnMapping):
        mapping = load_mapping(mapping)
    mapping = mapping or ColumnMapping()
    path = Path(path)
    name = path.name
    if not path.is_file():
        raise ResponseFileError(name, [Problem.of(name, "ingest.file.missing", path=str(path))],
                                hints=(("ingest.hint.path", {}),))
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    raw, widths = _read_table(data, path, mapping)
    from kit.exports import prepare_table  # the survey tools' reading steps (kit.exports)

    raw, widths, mapping, notes = prepare_table(raw, widths, data, path, mapping, instrument)
    del data
    state = None
    if store is not None:
        state = _StoreState.of(store)
        if known_groups is None and state.groups:
            known_groups = state.groups
        if known_waves is None and state.waves:
            known_waves = state.waves
    checked = _validate(raw, instrument, mapping, name, digest, known_groups, known_waves,
                        min_answered_share, widths)
    checked.warnings.extend(notes)
    if state is not None and not checked.file_problems:
        check_against_store(checked, instrument, store, state)
    return checked


def _read_table(data: bytes, path: Path, mapping: ColumnMapping
                ) -> tuple[pd.DataFrame, np.ndarray | None]:
    """Every cell as text, header row included as row 0; and each row's cells (CSV only)."""
    name = path.name
    suffix = path.suffix.lower()
    save_as = (("ingest.hint.save_as", {}),)
    if not data.strip():
        raise ResponseFileError(name, [Problem.of(name, "ingest.file.empty")],
                                hints=(("ingest.hint.export_again", {}),))
    if suffix == ".xls" or data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        raise ResponseFileError(name, [Problem.of(name, "ingest.file.xls")], hints=save_as)
    if suffix in EXCEL_SUFFIXES:
        return _read_xlsx(data, name, mapping.sheet), None
    if data[:4] == b"PK\x03\x04":
        raise ResponseFileError(name, [Problem.of(name, "ingest.file.zip")],
                                hints=(("ingest.hint.zip", {}),))
    text = _decode(data, name, mapping.encoding)
    sep = _sniff_separator(text, mapping.header_row - 1)
    first = mapping.header_row - 1  # lines above the header (a title, an export date) unread
    try:
        frame = pd.read_csv(io.StringIO(text), sep=sep, header=None, dtype=str,
                            keep_default_na=False, na_values=[], skip_blank_lines=False,
                            engine="c", skiprows=first or None)
    except pd.errors.EmptyDataError:  # nothing under the lines skipped
        raise ResponseFileError(name, [Problem.of(
            name, "ingest.file.no_header_row", line=first + 1, rows=text.count("\n"))],
            hints=(("ingest.hint.header_row", {}),)) from None
    except (pd.errors.ParserError, csv.Error) as exc:
        found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
        if found:
            want, line, saw = (int(x) for x in found.groups())
            line += first
            problem = Problem.of(name, "ingest.file.long_row", row=line, saw=saw, want=want,
                                 sep=_sep_shown(sep))
        else:
            problem = Problem.of(name, "ingest.file.unreadable", sep=_sep_shown(sep),
                                 error=str(exc))
        raise ResponseFileError(name, [problem], hints=(("ingest.hint.long_row", {}),)) from None
    widths = np.fromiter((len(r) for r in csv.reader(io.StringIO(text, newline=""),
                                                     delimiter=sep)), dtype=np.int32)[first:]
    frame.index = frame.index + first  # the file's own row numbers stay
    # Cells per row, to find rows cut short (pandas pads them), when the csv module agrees with
    # pandas on what a row is.
    return frame, widths if len(widths) == len(frame) else None


def _decode(data: bytes, name: str, encoding: str | None = None) -> str:
    """The file's text: UTF-8 (BOM or not), UTF-16 (BOM or not), Windows-1252, or ``encoding``."""
    save_as = (("ingest.hint.save_as", {}),)
    if encoding is not None and encoding != "utf-16":
        codec = {"utf-8": "utf-8-sig", "windows-1252": "cp1252", "iso-8859-1": "latin-1"}[encoding]
        try:
            return data.decode(codec)
        except UnicodeDecodeError as exc:
            raise ResponseFileError(name, [Problem.of(
                name, "ingest.file.not_encoding", encoding=encoding, position=exc.start)],
                hints=(("ingest.hint.encoding", {}),)) from None
    utf16 = _utf16_codec(data)
    if utf16 is not None or encoding == "utf-16":
        try:
            return data.decode(utf16 or "utf-16")
        except UnicodeDecodeError as exc:
            raise ResponseFileError(name, [Problem.of(
                name, "ingest.file.not_encoding", encoding="UTF-16", position=exc.start)],
                hints=save_as) from None
    if b"\x00" in data[:4096]:
        raise ResponseFileError(name, [Problem.of(name, "ingest.file.utf16")], hints=save_as)
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
    raise ResponseFileError(name, [Problem.of(name, "ingest.file.encoding")], hints=save_as)


def _utf16_codec(data: bytes) -> str | None:
    """'utf-16' for a file with a UTF-16 byte-order mark, or '-le'/'-be' for one without whose
    every other byte is zero (text in the Latin alphabets); None for anything else."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return "utf-16"
    head = data[:4096]
    if len(head) < 4 or len(head) % 2:
        return None
    even, odd = head[0::2], head[1::2]
    if odd.count(0) >= 0.9 * len(odd) and even.count(0) == 0:
        return "utf-16-le"
    if even.count(0) >= 0.9 * len(even) and odd.count(0) == 0:
        return "utf-16-be"
    return None


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


def _sniff_separator(text: str, line: int = 0) -> str:
    """The separator of the header line (``line`` lines from the top): ';', ',' or tab (outside
    quotes), most frequent wins."""
    counts = {";": 0, ",": 0, "\t": 0}
    quoted = False
    start = 0
    for _ in range(line):  # no copy of the text: only where its header line starts
        found = text.find("\n", start)
        start = found + 1 if found >= 0 else start
    end = text.find("\n", start)
    for ch in text[start: end if end >= 0 else len(text)]:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in counts:
            counts[ch] += 1
    best = max(counts, key=lambda k: counts[k])
    return best if counts[best] else ","


def _sep_shown(sep: str) -> str:
    return "\\t" if sep == "\t" else sep


def _read_xlsx(data: bytes, name: str, sheet: str | None) -> pd.DataFrame:
    from openpyxl import load_workbook

    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds for a broken file
        raise ResponseFileError(name, [Problem.of(name, "ingest.file.xlsx_broken",
                                                  error=str(exc))],
                                hints=(("ingest.hint.save_as", {}),)) from None
    try:
        if sheet is not None and sheet not in wb.sheetnames:
            raise ResponseFileError(name, [Problem.of(name, "ingest.file.no_sheet", sheet=sheet,
                                                      sheets=", ".join(wb.sheetnames))],
                                    hints=(("ingest.hint.sheet", {}),))
        ws = wb[sheet] if sheet is not None else wb.worksheets[0]
        rows = [[_cell_text(v) for v in row] for row in ws.iter_rows(values_only=True)]
    finally:
        wb.close()
    # A spreadsheet has no short rows: empty trailing cells are empty, not missing.
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
              min_answered_share: float, widths: np.ndarray | None = None) -> _Checked:
    file_problems: list[Problem] = []

    def file_problem(key: str, column: str | None = None, value: str | None = None,
                     **fields: Any) -> None:
        file_problems.append(Problem.of(name, key, column=column, value=value, **fields))

    headers = [h.strip().lstrip("\ufeff") for h in raw.iloc[0].tolist()] if len(raw) else []
    body = raw.iloc[1:]
    blank = np.ones(len(body), dtype=bool)  # column by column: no copy of the whole table
    for pos in range(body.shape[1]):
        blank &= (body.iloc[:, pos].str.strip() == "").to_numpy()
    keep = ~blank
    body = body[keep]
    rows = body.index.to_numpy() + 1  # file row numbers: header is row 1 (blank rows counted)
    if not len(body):
        raise ResponseFileError(name, [Problem.of(name, "ingest.file.no_rows")],
                                hints=(("ingest.hint.no_rows", {}),))

    # Headers -> canonical columns.
    wanted = {_key(x): x for x in (*CANONICAL, *instrument.item_ids, *instrument.open_question_ids)}
    mapped = mapping.header_map(instrument)
    expected = mapping.expected_headers(instrument)
    allowed = set(wanted.values())
    for target in sorted(set(mapped.values()) - allowed):
        heads = [h for h, v in mapping.columns.items() if v == target]
        file_problem("ingest.column.mapped_to_unknown", column=heads[0] if heads else None,
                     mapping=mapping.source, target=target, canonical=", ".join(CANONICAL),
                     instrument=instrument.id)
    source_of: dict[str, int] = {}  # canonical column -> position in the file
    header_of: dict[str, str] = {}
    unknown: list[str] = []
    for pos, head in enumerate(headers):
        if head == "":
            if (body.iloc[:, pos].str.strip() != "").any():
                file_problem("ingest.column.no_header", position=pos + 1)
            continue
        target = mapped.get(_key(head)) or wanted.get(_key(head))
        if target is None or target not in allowed:
            if not any(fnmatch.fnmatchcase(_key(head), _key(p)) for p in mapping.ignore):
                unknown.append(head)
            continue
        if target in source_of:
            file_problem("ingest.column.twice", column=head, target=target,
                         other=header_of[target])
            continue
        source_of[target] = pos
        header_of[target] = head
    free = {_key(expected.get(c, c)): expected.get(c, c) for c in allowed if c not in source_of}
    for head in unknown:
        close = difflib.get_close_matches(_key(head), list(free), n=1, cutoff=0.75)
        if close:
            file_problem("ingest.column.unknown_guess", column=head, instrument=instrument.id,
                         guess=free[close[0]])
        else:
            file_problem("ingest.column.unknown", column=head, instrument=instrument.id)
    for col in REQUIRED:
        if col not in source_of:
            shown = expected.get(col, col)
            file_problem("ingest.column.missing", column=shown, header=shown, canonical=col,
                         example=_example_mapping())
    missing_items = [i for i in instrument.item_ids if i not in source_of]
    if missing_items:
        file_problem("ingest.column.items_missing", n=len(missing_items),
                     total=len(instrument.item_ids), instrument=instrument.id,
                     headers=_ids([expected.get(i, i) for i in missing_items]))
    if file_problems and len(source_of) <= 1 and len(headers) == 1:
        file_problem("ingest.file.one_column", header=headers[0][:40])
    for col in (*CANONICAL, *instrument.item_ids, *instrument.open_question_ids):
        header_of.setdefault(col, expected.get(col, col))

    def cells(col: str) -> pd.Series:
        if col not in source_of:
            return pd.Series([""] * len(body), index=body.index, dtype=str)
        return body.iloc[:, source_of[col]].str.strip()

    row_problems: list[Problem] = []
    out = pd.DataFrame(index=body.index)

    def report(mask: np.ndarray, col: str, values: pd.Series, key: str | Any,
               **fields: Any) -> None:
        for idx in np.flatnonzero(mask):
            value = values.iloc[idx]
            k, f = key(value) if callable(key) else (key, fields)
            row_problems.append(Problem.of(name, k, row=int(rows[idx]), column=header_of[col],
                                           value=value, **f))

    # Rows cut short: fewer cells than the header (a CSV only; a spreadsheet has no such rows).
    if widths is not None:
        cells_in_row = np.asarray(widths)[1:][keep]
        short = cells_in_row < len(headers)
        for idx in np.flatnonzero(short):
            row_problems.append(Problem.of(name, "ingest.row.short", row=int(rows[idx]),
                                           cells=int(cells_in_row[idx]), expected=len(headers)))

    # Identity columns.
    for col in REQUIRED:
        values = cells(col)
        if col in source_of:
            report((values == "").to_numpy(), col, values, "ingest.row.empty_id", canonical=col,
                   field=Text(f"common.field.{col}"))
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
            shown = _ids(sorted(known_set)) or Text("common.none_yet")
            folded = {_key(k): k for k in known_set}

            def why(v: str, col: str = col, shown: Any = shown, folded: dict = folded,
                    m: dict = labels) -> tuple[str, dict[str, Any]]:
                guess = folded.get(_key(m.get(_key(v), v)))
                if guess is not None:
                    return "ingest.row.did_you_mean", {"guess": guess,
                                                        "field": Text(f"common.field.{col}")}
                return f"ingest.row.unknown_{col}", {"known": shown}

            report(bad, col, values, why)
    roles = cells("role")
    role_labels = {**DEFAULT_ROLE_LABELS, **_label_map(mapping.values.get("role", {}))}
    role_ids = _map_unique(roles, lambda v: role_labels.get(_key(v)) if v else None)
    bad_role = ((roles != "") & role_ids.isna()).to_numpy()
    report(bad_role, "role", roles, "ingest.row.role")
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
            row_problems.append(Problem.of(
                name, "ingest.row.too_few_answers", row=int(rows[idx]),
                column=header_of["respondent"], value=respondent.iloc[idx],
                answered=int(answered[idx]), total=len(instrument.item_ids), need=need,
                share=float(min_answered_share)))

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
                ids = {"respondent": resp, "group": grp, "wave": wave}
                if len(first_of) == 1:
                    problem = Problem.of(name, "ingest.row.repeat", first=first, **ids,
                                         row=int(rows[idx]), column=header_of["respondent"],
                                         value=respondent.iloc[idx])
                else:
                    problem = Problem.of(name, "ingest.row.duplicate", rows=listed, **ids,
                                         row=int(rows[idx]), column=header_of["respondent"],
                                         value=respondent.iloc[idx])
                row_problems.append(problem)

    _sort(row_problems, headers)
    bad_rows = {p.row for p in row_problems if p.row is not None}
    table = out.reset_index(drop=True)
    table.insert(0, "_row", rows)
    table = table[["_row", *CANONICAL, *instrument.item_ids, *instrument.open_question_ids]]
    for col in ("respondent", "group", "wave"):
        table[col] = table[col].astype(object)
    return _Checked(table, file_problems, row_problems, bad_rows, digest, name, len(body),
                    headers=header_of)


def _sort(problems: list[Problem], headers: list[str]) -> None:
    problems.sort(key=lambda p: (p.row or 0, _column_order(p.column, headers)))


# -- against the store ----------------------------------------------------------------------------
@dataclass(frozen=True)
class _StoreState:
    groups: frozenset[str]
    waves: frozenset[str]
    group_waves: dict[str, dict[str, int | None]]  # group -> wave -> invited
    stored: dict[tuple[str, str], int]  # (group, wave) -> respondents stored

    @classmethod
    def of(cls, store: Any) -> _StoreState:
        groups = store.list_groups()
        waves = store.list_waves()
        gw = store.list_group_waves()
        per_group: dict[str, dict[str, int | None]] = {}
        stored: dict[tuple[str, str], int] = {}
        for g, w, invited, n in zip(gw["group_id"], gw["wave_id"], gw["invited"],
                                    gw["respondents"], strict=True):
            per_group.setdefault(str(g), {})[str(w)] = None if pd.isna(invited) else int(invited)
            stored[(str(g), str(w))] = int(n)
        return cls(frozenset(map(str, groups["id"])) if len(groups) else frozenset(),
                   frozenset(map(str, waves["id"])) if len(waves) else frozenset(),
                   per_group, stored)


def check_against_store(checked: _Checked, instrument: Instrument, store: Any,
                        state: _StoreState | None = None) -> None:
    """Add what the store says to a checked file (validate and import share this).

    - a group the programme gives waves, answering for a wave it does not give it: refused;
    - a respondent stored before for the same group and wave: left out when every answer is the
      same (an updated export adds only its new respondents), refused when an answer differs
      (the stored answers are never overwritten);
    - more respondents in a group and wave (stored and new) than invited: a warning.
    """
    state = state or _StoreState.of(store)
    table = checked.table
    name = checked.filename
    head = checked.headers
    problems: list[Problem] = []
    # Waves the programme does not give the group.
    for (grp, wave), at in table.groupby(["group", "wave"], sort=False)["_row"]:
        given = state.group_waves.get(str(grp))
        if not given or wave in given or grp not in state.groups or wave not in state.waves:
            continue
        for row in at:
            problems.append(Problem.of(name, "ingest.row.wave_not_given", row=int(row),
                                       column=head.get("wave", "wave"), value=str(wave),
                                       group=grp, wave=wave, waves=", ".join(given)))
    # Respondents stored before: identical ones are left out, changed ones refused.
    groups = sorted(set(table["group"]) & state.groups)
    stored = store.load_responses(instrument, group_ids=groups) if groups else None
    if stored is not None and len(stored):
        keys = ["group", "wave", "respondent"]
        both = table.reset_index().merge(stored, on=keys, how="inner", suffixes=("", "_stored"))
        if len(both):
            columns = ["role", *instrument.item_ids, *instrument.open_question_ids]
            differ = np.zeros((len(both), len(columns)), dtype=bool)
            for k, col in enumerate(columns):
                new, old = both[col], both[f"{col}_stored"]
                if col in instrument.item_ids:
                    a = pd.to_numeric(new, errors="coerce").to_numpy(dtype=float)
                    b = pd.to_numeric(old, errors="coerce").to_numpy(dtype=float)
                    differ[:, k] = ~((a == b) | (np.isnan(a) & np.isnan(b)))
                else:
                    differ[:, k] = [_text_or_none(x) != _text_or_none(y)
                                    for x, y in zip(new, old, strict=True)]
            for i, row in enumerate(both["_row"]):
                row = int(row)
                if row in checked.bad_rows:
                    continue
                changed = [head.get(c, c) for c, d in zip(columns, differ[i], strict=True) if d]
                if not changed:
                    checked.stored_rows.add(row)
                    continue
                problems.append(Problem.of(
                    name, "ingest.row.stored_changed", row=row, column=head.get("respondent"),
                    value=str(both["respondent"].iloc[i]), respondent=both["respondent"].iloc[i],
                    group=both["group"].iloc[i], wave=both["wave"].iloc[i],
                    differ=_ids(changed, limit=6)))
    if problems:
        checked.row_problems.extend(problems)
        _sort(checked.row_problems, list(head.values()))
        checked.bad_rows |= {p.row for p in problems if p.row is not None}
    # More respondents than invited (stored before plus new in this file): said, not refused.
    fresh = table[~table["_row"].isin(checked.bad_rows | checked.stored_rows).to_numpy()]
    for (grp, wave), n_new in fresh.groupby(["group", "wave"], sort=True).size().items():
        invited = state.group_waves.get(str(grp), {}).get(str(wave))
        total = int(n_new) + state.stored.get((str(grp), str(wave)), 0)
        if invited is not None and total > invited:
            checked.warnings.append(Problem.of(name, "ingest.warn.over_invited", warning=True,
                                               group=grp, wave=wave, n=total, invited=invited))


def _text_or_none(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and value != value):
        return None
    text = str(value).strip()
    return text or None


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
        reason_fields = {"scale": f"{scale.min}-{scale.max}", "instrument": instrument.id}
        parsed: dict[str, tuple[float, bool, str | None]] = {}  # text -> (value, present, kind)

        def parse(text: str) -> tuple[float, bool, str | None]:
            if text not in parsed:
                parsed[text] = _parse_answer(text, scale.min, scale.max, na_tokens, labels)
            return parsed[text]

        parsers[(scale.min, scale.max)] = (parse, reason_fields)
        return parsers[(scale.min, scale.max)]

    values = np.full((n_rows, len(items)), np.nan)
    present = np.zeros((n_rows, len(items)), dtype=bool)
    problems: list[Problem] = []
    for k, item in enumerate(items):
        parse, reason_fields = parser_for(item)
        codes, uniques = pd.factorize(body.iloc[:, source_of[item]], use_na_sentinel=False)
        results = [parse(str(u)) for u in uniques]
        values[:, k] = np.array([r[0] for r in results], dtype=float)[codes]
        present[:, k] = np.array([r[1] for r in results], dtype=bool)[codes]
        bad_codes = [c for c, r in enumerate(results) if r[2] is not None]
        if bad_codes:
            for idx in np.flatnonzero(np.isin(codes, bad_codes)):
                value = str(uniques[codes[idx]]).strip()
                problems.append(Problem.of(name, f"ingest.answer.{results[codes[idx]][2]}",
                                           row=int(rows[idx]), column=header_of[item],
                                           value=value, **reason_fields))
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


def _ids(ids: list[str], limit: int = 12) -> str | Text:
    """Ids for a message: the first ``limit`` and how many in all (in the user's language)."""
    shown = ", ".join(ids[:limit])
    return Text("ingest.ids_more", shown=shown, n=len(ids)) if len(ids) > limit else shown


def _column_order(column: str | None, headers: list[str]) -> int:
    try:
        return headers.index(column) if column is not None else -1
    except ValueError:
        return len(headers)


def _tool_hints(problems: list[Problem], mapping: Any) -> list[tuple[str, dict[str, Any]]]:
    """Hints for a survey tool's export: a wave or respondent column missing, or no preset."""
    from kit.mapping import available_presets

    missing = {dict(p.fields).get("canonical") for p in problems
               if p.key == "ingest.column.missing"}
    hints: list[tuple[str, dict[str, Any]]] = []
    if missing & {"wave", "group"}:
        hints.append(("ingest.hint.file_wave", {}))
    if "respondent" in missing:
        hints.append(("ingest.hint.by_row", {}))
    own = mapping is not None and not isinstance(mapping, ColumnMapping)  # a mapping file
    if problems and not own and not (mapping and (mapping.preset or mapping.columns
                                                  or mapping.items)):
        hints.append(("ingest.hint.presets", {"presets": ", ".join(available_presets())}))
    return hints


def _example_mapping() -> str:
    return "kit/data/mappings/example_surveytool.yaml"
