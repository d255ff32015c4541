"""Answers in: survey exports -> the canonical response table, and every way a file can be wrong."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from openpyxl import Workbook

from kit.errors import ParameterError, ResponseFileError
from kit.ingest import (
    ColumnMapping,
    IngestResult,
    describe_result,
    load_mapping,
    read_responses,
    validate_responses,
)
from kit.instrument import load_instrument
from kit.settings import DATA_DIR
from kit.store import Store

LAG = load_instrument("lagprofil")
PULSE = load_instrument("pulse")
EXAMPLE_MAPPING = DATA_DIR / "mappings" / "example_surveytool.yaml"


def _row(respondent: str, group: str = "g1", wave: str = "before", role: str = "member",
         answers: list[str] | None = None, instrument=PULSE, comments: list[str] | None = None
         ) -> list[str]:
    n = len(instrument.item_ids)
    answers = answers if answers is not None else [str(1 + k % 5) for k in range(n)]
    comments = comments if comments is not None else [""] * len(instrument.open_question_ids)
    return [respondent, group, wave, role, *answers, *comments]


def _header(instrument=PULSE) -> list[str]:
    return ["respondent", "group", "wave", "role", *instrument.item_ids,
            *instrument.open_question_ids]


def _write(tmp_path: Path, rows: list[list[str]], header: list[str] | None = None, *,
           sep: str = ",", encoding: str = "utf-8", name: str = "responses.csv",
           instrument=PULSE) -> Path:
    lines = [sep.join(header or _header(instrument))] + [sep.join(r) for r in rows]
    path = tmp_path / name
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


def _problems(exc: pytest.ExceptionInfo) -> list[tuple[int | None, str | None]]:
    return [(p.row, p.column) for p in exc.value.problems]


# -- reading what is right ------------------------------------------------------------------------
def test_canonical_csv_gives_the_canonical_table(tmp_path):
    rows = [_row(f"r{i}", comments=["Bra" if i == 1 else ""]) for i in range(1, 6)]
    rows[1][4] = "Vet ikke"  # not applicable
    rows[2][5] = ""  # not answered
    rows[3][3] = ""  # no role
    path = _write(tmp_path, rows)
    result = read_responses(path, PULSE)
    assert isinstance(result, IngestResult)
    t = result.table
    assert list(t.columns) == ["respondent", "group", "wave", "role", *PULSE.item_ids, "O1"]
    assert all(t[i].dtype == float for i in PULSE.item_ids)
    assert t["respondent"].tolist() == ["r1", "r2", "r3", "r4", "r5"]
    assert t["role"].tolist() == ["member", "member", "member", None, "member"]
    assert np.isnan(t.loc[1, "P01"]) and np.isnan(t.loc[2, "P02"])
    assert t.loc[0, "P01"] == 1.0 and t.loc[0, "P05"] == 5.0
    assert t["O1"].tolist() == ["Bra", None, None, None, None]
    assert result.dropped == [] and result.rows_read == 5
    assert result.filename == "responses.csv"
    assert result.source_hash == hashlib.sha256(path.read_bytes()).hexdigest()
    assert validate_responses(path, PULSE) == []


def test_norwegian_excel_csv_semicolon_cp1252_decimal_comma(tmp_path):
    header = ["Respondent", "Group", "Wave", "Role", *PULSE.item_ids, "O1"]
    rows = [
        ["r1", "Økonomi", "Før", "Leder", "4,0", "3", "Vet ikke", "5", "2", "1", "3", "4",
         "Blåbær og ærlige samtaler"],
        ["r2", "Økonomi", "etter", "MEDLEM", "5", "5", "5", "5", "5", "5", "5", "5", ""],
    ]
    path = _write(tmp_path, rows, header, sep=";", encoding="cp1252")
    t = read_responses(path, PULSE).table
    assert t["group"].tolist() == ["Økonomi", "Økonomi"]
    assert t["wave"].tolist() == ["before", "after"]
    assert t["role"].tolist() == ["leader", "member"]
    assert t.loc[0, "P01"] == 4.0 and np.isnan(t.loc[0, "P03"])
    assert t.loc[0, "O1"] == "Blåbær og ærlige samtaler"


def test_utf8_with_bom_and_scale_labels(tmp_path):
    rows = [_row("r1", answers=["Helt enig", "strongly disagree", "3", "4", "5", "1", "2", "3"])]
    path = _write(tmp_path, rows, encoding="utf-8-sig")
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    t = read_responses(path, PULSE).table
    assert t.loc[0, "respondent"] == "r1"
    assert (t.loc[0, "P01"], t.loc[0, "P02"]) == (5.0, 1.0)


def test_quoted_multiline_comment_and_blank_lines_keep_spreadsheet_row_numbers(tmp_path):
    path = tmp_path / "responses.csv"
    head = ",".join(_header())
    good = ",".join(_row("r1", comments=['"Linje én\nlinje to, med komma"']))
    bad = ",".join(_row("r2", answers=["9", "1", "1", "1", "1", "1", "1", "1"]))
    path.write_text(f"{head}\n{good}\n\n{bad}\n", encoding="utf-8")
    with pytest.raises(ResponseFileError) as info:
        read_responses(path, PULSE)
    assert _problems(info) == [(4, "P01")]  # header 1, r1 2, blank 3, r2 4
    result = read_responses(path, PULSE, drop_invalid=True)
    assert result.table.loc[0, "O1"] == "Linje én\nlinje to, med komma"
    assert result.rows_read == 2


def test_xlsx_with_mapping(tmp_path):
    wb = Workbook()
    ws = wb.active
    ws.append(["Respondent ID", "Team", "Måling", "Rolle", "Startet",
               *[f"Spm {n}" for n in range(1, 57)], "Kommentar 1", "Kommentar 2", "Kommentar 3"])
    ws.append([101, "Etat A", "Måling 1", "Leder for gruppen", "2026-01-05",
               *[(n % 7) + 1 for n in range(56)], "Godt", None, None])
    ws.append([102, "Etat A", "Før", "Medlem av gruppen", "2026-01-05",
               *([0] + [4.0] * 55), None, "Mer strategi", None])
    path = tmp_path / "export.xlsx"
    wb.save(path)
    result = read_responses(path, LAG, mapping=EXAMPLE_MAPPING)
    t = result.table
    assert t["respondent"].tolist() == ["101", "102"]
    assert t["wave"].tolist() == ["before", "before"]
    assert t["role"].tolist() == ["leader", "member"]
    assert t.loc[0, "Q01"] == 1.0 and t.loc[0, "Q56"] == 7.0
    assert np.isnan(t.loc[1, "Q01"])  # "0" means don't know in this mapping
    assert t.loc[1, "Q02"] == 4.0
    assert t["O2"].tolist() == [None, "Mer strategi"]


def test_mapping_renames_columns_and_values(tmp_path):
    mapping_path = tmp_path / "map.yaml"
    mapping_path.write_text(
        "columns:\n  ID: respondent\n  Ledergruppe: group\n  Runde: wave\n  Klima 1: P01\n"
        "items: 'Spørsmål {id}'\n"
        "values:\n  wave: {T1: before, T2: after}\n  group: {'Team Nord': nord}\n"
        "not_applicable: ['-']\nignore: ['Tid*']\n",
        encoding="utf-8",
    )
    mapping = load_mapping(mapping_path)
    assert isinstance(mapping, ColumnMapping)
    header = ["ID", "Ledergruppe", "Runde", "Tidsbruk", "Klima 1",
              *[f"Spørsmål {i}" for i in PULSE.item_ids[1:]]]
    rows = [["a", "Team Nord", "T2", "12:00", "-", *["3"] * 7]]
    t = read_responses(_write(tmp_path, rows, header), PULSE, mapping=mapping).table
    assert t.loc[0, ["respondent", "group", "wave"]].tolist() == ["a", "nord", "after"]
    assert np.isnan(t.loc[0, "P01"]) and t.loc[0, "P08"] == 3.0
    assert t["role"].tolist() == [None] and t["O1"].tolist() == [None]


# -- refusing what is wrong -----------------------------------------------------------------------
def test_style_message_for_an_answer_outside_the_scale(tmp_path):
    rows = [_row(f"r{i}", instrument=LAG, answers=["4"] * 56) for i in range(1, 14)]
    rows[12][4 + 6] = "8"  # row 14 in the file, column Q07
    path = _write(tmp_path, rows, instrument=LAG)
    with pytest.raises(ResponseFileError, match=r"responses.csv: 1 problem found") as info:
        read_responses(path, LAG)
    assert str(info.value.problems[0]).startswith(
        "responses.csv, row 14, column Q07: '8' is outside the scale 1-7 of instrument 'lagprofil'"
    )
    assert "Correct the listed cells" in str(info.value)


@pytest.mark.parametrize(
    ("value", "pattern"),
    [
        ("8", r"P03 +8 +is outside the scale 1-5 of instrument 'pulse'"),
        ("0", r"is outside the scale 1-5"),
        ("-1", r"is outside the scale 1-5"),
        ('"3,5"', r"3,5 +is not a whole number; the scale 1-5 of instrument 'pulse' takes whole"),
        ("2.5", r"is not a whole number"),
        ("tre", r"tre +is not a number on the scale 1-5"),
        ("4a", r"is not a number"),
    ],
)
def test_bad_answers(tmp_path, value, pattern):
    """One bad answer in row 3 (a decimal comma is quoted in a comma-separated file)."""
    rows = [_row("r1"), _row("r2")]
    rows[1][6] = value
    with pytest.raises(ResponseFileError, match=pattern) as info:
        read_responses(_write(tmp_path, rows), PULSE)
    assert _problems(info) == [(3, "P03")]


def test_empty_file(tmp_path):
    path = tmp_path / "responses.csv"
    path.write_bytes(b"")
    with pytest.raises(ResponseFileError, match=r"(?s)responses.csv: 1 problem.*is empty"):
        read_responses(path, PULSE)


def test_header_only(tmp_path):
    path = _write(tmp_path, [])
    with pytest.raises(ResponseFileError, match=r"has a header row but no data rows"):
        read_responses(path, PULSE)


def test_unknown_and_missing_columns_are_all_listed(tmp_path):
    header = ["respondent", "wave", "Kommentar", *PULSE.item_ids[:6]]
    rows = [["r1", "before", "x", *["3"] * 6]]
    with pytest.raises(ResponseFileError) as info:
        read_responses(_write(tmp_path, rows, header), PULSE, drop_invalid=True)
    message = str(info.value)
    assert "Kommentar  " in message and "is not a column of instrument 'pulse'" in message
    assert "the column 'group' is missing" in message
    assert "2 of the 8 item columns of instrument 'pulse' are missing: P07, P08" in message
    assert "write a column mapping" in message
    assert len(info.value.problems) == 3


@pytest.mark.parametrize("column", ["respondent", "group", "wave"])
def test_each_identity_column_is_required(tmp_path, column):
    header = [h for h in _header() if h != column]
    rows = [[v for h, v in zip(_header(), _row("r1"), strict=True) if h != column]]
    with pytest.raises(ResponseFileError, match=rf"the column '{column}' is missing"):
        read_responses(_write(tmp_path, rows, header), PULSE)


def test_empty_identity_cells(tmp_path):
    rows = [_row("r1"), _row("", group=""), _row("r3", wave="")]
    with pytest.raises(ResponseFileError, match=r"is empty; every row needs a respondent") as info:
        read_responses(_write(tmp_path, rows), PULSE)
    assert _problems(info) == [(3, "respondent"), (3, "group"), (4, "wave")]


def test_misspelt_column_gets_a_suggestion(tmp_path):
    header = [h if h != "wave" else "Wawe" for h in _header()]
    with pytest.raises(ResponseFileError, match=r"Wawe +is not a column of instrument 'pulse' "
                       r"\(did you mean 'wave'\?\)"):
        read_responses(_write(tmp_path, [_row("r1")], header), PULSE)


def test_duplicate_header(tmp_path):
    header = _header() + ["P01"]
    rows = [_row("r1") + ["3"]]
    with pytest.raises(ResponseFileError, match=r"holds 'P01' a second time \(also column 'P01'\)"):
        read_responses(_write(tmp_path, rows, header), PULSE)


def test_duplicate_respondents(tmp_path):
    rows = [_row("r1"), _row("r2"), _row("r1"), _row("r2"), _row("r2", wave="after")]
    rows[3][5] = "4"  # r2 twice with different answers
    with pytest.raises(ResponseFileError) as info:
        read_responses(_write(tmp_path, rows), PULSE)
    reasons = {p.row: p.reason for p in info.value.problems}
    assert set(reasons) == {3, 4, 5}  # r1's first row is kept; every copy of r2 is listed
    assert reasons[4].startswith("repeats row 2 exactly")
    assert "appears more than once in group 'g1', wave 'before' (rows 3, 5)" in reasons[3]
    with pytest.raises(ResponseFileError, match=r"r2 +respondent 'r2' appears more than once"):
        read_responses(_write(tmp_path, rows), PULSE)


def test_too_few_answers(tmp_path):
    rows = [_row("r1"), _row("r2", answers=["3", "", "", "Vet ikke", "", "", "2", "2"])]
    pattern = (r"r2 +answered 3 of 8 items; at least 4 \(50%\) are needed "
               r"\(not-applicable answers do not count\)")
    with pytest.raises(ResponseFileError, match=pattern):
        read_responses(_write(tmp_path, rows), PULSE)
    result = read_responses(_write(tmp_path, rows), PULSE, min_answered_share=0.3)
    assert len(result.table) == 2
    with pytest.raises(ParameterError, match=r"min_answered_share +1.5 +must be a share"):
        read_responses(_write(tmp_path, rows), PULSE, min_answered_share=1.5)


def test_unknown_group_wave_and_role(tmp_path):
    rows = [_row("r1"), _row("r2", group="g9"), _row("r3", wave="midt"), _row("r4", role="boss")]
    with pytest.raises(ResponseFileError) as info:
        read_responses(_write(tmp_path, rows), PULSE, known_groups=["g1", "g2"],
                       known_waves=["before", "after"])
    message = str(info.value)
    assert "is not a known group; known groups: g1, g2. Load the programme first" in message
    assert "is not a known wave; known waves: after, before." in message
    assert "is not a role; use leader or member (leder/medlem)" in message
    assert _problems(info) == [(3, "group"), (4, "wave"), (5, "role")]
    with pytest.raises(ResponseFileError, match=r"G1 +is not a known group; did you mean 'g1'\?"):
        read_responses(_write(tmp_path, [_row("r1", group="G1")]), PULSE, known_groups=["g1"])
    # Without known lists, new groups and waves are fine; the role is still wrong.
    with pytest.raises(ResponseFileError, match="1 problem found"):
        read_responses(_write(tmp_path, rows), PULSE)


@pytest.mark.parametrize(
    ("data", "pattern"),
    [
        (bytes(range(256)) * 20, r"is not a CSV text file the kit can read \(binary\)"),
        (b"respondent,group\n\x81\x8d\x8f\x90\x9d,\x81\n", r"neither UTF-8 nor Windows-1252"),
        (b"respondent,group\n\x80\x83\x86\x87\x89\x8b,\xbc\xa4\xa6\xac\n",
         r"neither UTF-8 nor Windows-1252"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 50, r"old Excel 97-2003 workbook"),
        (b"PK\x03\x04rest", r"is an Excel workbook or another zip file"),
    ],
)
def test_files_that_are_not_csv_text(tmp_path, data, pattern):
    path = tmp_path / "responses.csv"
    path.write_bytes(data)
    with pytest.raises(ResponseFileError, match=pattern) as info:
        read_responses(path, PULSE)
    assert "CSV UTF-8" in str(info.value)
    assert validate_responses(path, PULSE)[0].reason == info.value.problems[0].reason


def test_broken_xlsx_and_missing_sheet(tmp_path):
    path = tmp_path / "export.xlsx"
    path.write_bytes(b"not a workbook")
    with pytest.raises(ResponseFileError, match=r"cannot be opened as an Excel workbook"):
        read_responses(path, PULSE)
    wb = Workbook()
    wb.active.append(_header())
    wb.save(path)
    with pytest.raises(ResponseFileError, match=r"has no sheet 'Svar'; its sheets are Sheet"):
        read_responses(path, PULSE, mapping=ColumnMapping(sheet="Svar"))


def test_ragged_row(tmp_path):
    path = tmp_path / "responses.csv"
    path.write_text(",".join(_header()) + "\n" + ",".join(_row("r1") + ["extra"]) + "\n",
                    encoding="utf-8")
    pattern = r"\n2 +has 14 cells but the header has 13 \(separated by .,.\)"
    with pytest.raises(ResponseFileError, match=pattern):
        read_responses(path, PULSE)


def test_missing_file(tmp_path):
    with pytest.raises(ResponseFileError, match=r"(?s)nope.csv: 1 problem.*does not exist"):
        read_responses(tmp_path / "nope.csv", PULSE)


def test_every_problem_at_once_and_drop_invalid(tmp_path):
    rows = [
        _row("r1"),
        _row("r2", answers=["9", "1", "1", "1", "1", "1", "x", "1"]),  # 2 problems, row 3
        _row("r3"),
        _row("r4", role="sjef"),  # row 5
        _row("r5", answers=["1", "", "", "", "", "", "", ""]),  # row 6
        _row("r6"),
    ]
    path = _write(tmp_path, rows)
    with pytest.raises(ResponseFileError, match=r"4 problems found; nothing was changed") as info:
        read_responses(path, PULSE)
    assert _problems(info) == [(3, "P01"), (3, "P07"), (5, "role"), (6, "respondent")]
    result = read_responses(path, PULSE, drop_invalid=True)
    assert result.dropped_rows == [3, 5, 6]
    assert result.dropped == info.value.problems
    assert result.table["respondent"].tolist() == ["r1", "r3", "r6"]
    assert result.rows_read == 6
    assert validate_responses(path, PULSE) == info.value.problems


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("columns: [a, b]\n", r"columns +must be a block of keys and values"),
        ("colums: {}\n", r"colums +is not a known key \(did you mean columns\?\)"),
        ("items: 'Spm'\n", r"items +Spm +must be a header pattern with \{n\} or \{id\}"),
        ("values:\n  role: {Sjef: boss}\n", r"values.role.Sjef +boss +is not a role"),
        ("values:\n  item: {a: b}\n", r"values.item +item +must be one of wave, role, group"),
        ("columns: {A: respondent, B: respondent}\n", r"several headers map to the same field"),
        ("columns: {A: [\n", r"is not valid YAML \(line 2, column 1\)"),
        ("- a\n- b\n", r"must be a block with columns, items"),
    ],
)
def test_bad_mapping_files(tmp_path, text, pattern):
    path = tmp_path / "map.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ResponseFileError, match=pattern):
        load_mapping(path, lang="en")


def test_mapping_to_an_unknown_item(tmp_path):
    mapping = ColumnMapping(columns={"Spm 99": "Q99"}, source="map.yaml")
    header = [*_header(), "Spm 99"]
    with pytest.raises(ResponseFileError, match=r"the mapping map.yaml maps this column to 'Q99'"):
        read_responses(_write(tmp_path, [_row("r1") + ["3"]], header), PULSE, mapping=mapping)


def test_example_mapping_loads():
    mapping = load_mapping(EXAMPLE_MAPPING)
    assert mapping.columns["Respondent ID"] == "respondent"
    assert "0" in mapping.not_applicable
    assert mapping.header_map(LAG)["spm 7"] == "Q07"


def test_describe_result_in_both_languages(tmp_path):
    rows = [_row("r1"), _row("r2", role="x")]
    result = read_responses(_write(tmp_path, rows), PULSE, drop_invalid=True)
    assert describe_result(result, "en") == (
        "responses.csv: 2 rows read, 1 respondents kept, 1 rows left out. Rows left out: 3.")
    assert describe_result(result, "nb").startswith("responses.csv: 2 rader lest")


# -- into the store and back ----------------------------------------------------------------------
def test_round_trip_through_the_store(tmp_path):
    rows = [_row(f"r{i}", group="g1" if i < 4 else "g2", role="leader" if i == 1 else "",
                 instrument=LAG, answers=[str(1 + (i + k) % 7) for k in range(56)],
                 comments=["Åpen" if i == 2 else "", "", "Mer tid"]) for i in range(1, 7)]
    rows[2][10] = "Vet ikke"
    path = _write(tmp_path, rows, sep=";", encoding="cp1252", instrument=LAG)
    result = read_responses(path, LAG)
    store = Store(f"sqlite:///{tmp_path / 'kit.sqlite'}")
    for g in ("g1", "g2"):
        store.save_group(g, g)
    store.save_wave("before", 1)
    imported = store.import_responses(result.table, LAG, result.source_hash, result.filename)
    assert imported.rows == 6 and not imported.skipped
    back = store.load_responses(LAG)
    pd.testing.assert_frame_equal(back, result.table, check_dtype=False)
    assert back["role"].tolist() == ["leader", None, None, None, None, None]
    again = store.import_responses(result.table, LAG, result.source_hash, result.filename)
    assert again.skipped


# -- speed ----------------------------------------------------------------------------------------
def test_twenty_thousand_rows_one_bad_cell_found(tmp_path):
    """Speed is measured in benchmarks/bench_import.py (a timed test fails on a busy machine)."""
    rng = np.random.default_rng(7)
    n = 20_000
    frame = pd.DataFrame({"respondent": [f"r{i}" for i in range(n)],
                          "group": [f"g{i // 8}" for i in range(n)], "wave": "before",
                          "role": np.where(np.arange(n) % 8 == 0, "leader", "member")})
    answers = rng.integers(1, 8, size=(n, 56)).astype(str)
    frame = pd.concat([frame, pd.DataFrame(answers, columns=LAG.item_ids)], axis=1)
    frame["O1"] = "Noe å si"
    frame.loc[123, "Q07"] = "8"
    path = tmp_path / "big.csv"
    frame.to_csv(path, index=False, sep=";")
    problems = validate_responses(path, LAG)
    assert [(p.row, p.column) for p in problems] == [(125, "Q07")]


def test_sample_export_with_the_example_mapping():
    """A Norwegian survey tool's export (cp1252, semicolons, CRLF) as a user gets it."""
    path = Path(__file__).parent / "data" / "surveytool_export.csv"
    result = read_responses(path, LAG, mapping=EXAMPLE_MAPPING,
                            known_groups=["Etat Øst", "Etat Vest"], known_waves=["before", "after"])
    t = result.table
    assert result.rows_read == 24 and len(t) == 24
    assert t.groupby(["group", "wave"]).size().tolist() == [6, 6, 6, 6]
    assert (t["role"] == "leader").sum() == 4
    assert t["Q11"].isna().sum() == 4 and t["Q21"].isna().sum() == 4  # 'Vet ikke' and '0'
    assert t["O2"].isna().all() and t["O1"].notna().any()


def test_a_long_list_of_ids_says_how_many_in_the_users_language():
    from kit.errors import Problem
    from kit.ingest import _ids

    problem = Problem.of("x.csv", "ingest.row.unknown_group", row=2, column="group", value="g99",
                         known=_ids([f"g{i}" for i in range(20)]))
    assert "g11 ... (20 i alt)" in problem.text_in("nb")
    assert "g11 ... (20 in all)" in problem.text_in("en")
    assert _ids(["a", "b"]) == "a, b"
