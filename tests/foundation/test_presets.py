"""Survey tools' exports: presets, and the reading steps they need (kit.exports, kit.mapping).

The files in data/tools/ are written by tool_exports.py from one set of answers, each the way a
tool writes its export; every preset must give the same table, and the same scores, as the kit's
own format.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kit.cli import main
from kit.errors import ResponseFileError
from kit.exports import recognise_tool
from kit.ingest import read_responses, validate_responses
from kit.instrument import load_instrument
from kit.mapping import (
    ColumnMapping,
    available_presets,
    detect_preset,
    load_mapping,
    load_preset,
    parse_mapping,
)
from kit.scoring import score_responses

TOOLS = Path(__file__).parent / "data" / "tools"
LAG = load_instrument("lagprofil")

# (file, preset or mapping file, recognised as)
CASES = [
    ("nettskjema_semikolon.csv", "nettskjema", "nettskjema"),
    ("nettskjema_komma.csv", "nettskjema", "nettskjema"),
    ("nettskjema_0-6.csv", "nettskjema_0-6.yaml", "nettskjema"),
    ("surveyxact_semikolon/dataset.csv", "surveyxact", "surveyxact"),
    ("surveyxact_komma/dataset.csv", "surveyxact", None),
    ("surveyxact_utf16/dataset.txt", "surveyxact", "surveyxact"),
    ("surveyxact.xlsx", "surveyxact", "surveyxact"),
    ("limesurvey_koder.csv", "limesurvey", "limesurvey"),
    ("limesurvey_tekst.csv", "limesurvey", "limesurvey"),
    ("msforms_en.xlsx", "msforms", "msforms"),
    ("msforms_nb.xlsx", "msforms", "msforms"),
    ("enalyzer.csv", "enalyzer", "enalyzer"),
    ("enalyzer_utf8.csv", "enalyzer", "enalyzer"),
    ("questback.csv", "questback", "questback"),
    ("questback_utf8.csv", "questback", "questback"),
    ("qualtrics.csv", "qualtrics", "qualtrics"),
    ("qualtrics.tsv", "qualtrics", "qualtrics"),
]


def _mapping(name: str) -> ColumnMapping:
    return load_mapping(TOOLS / name) if name.endswith(".yaml") else load_preset(name)


@pytest.fixture(scope="module")
def canonical() -> pd.DataFrame:
    return read_responses(TOOLS / "canonical.csv", LAG).table


def test_the_test_files_are_what_the_generator_writes(tmp_path, monkeypatch):
    import tool_exports

    monkeypatch.setattr(tool_exports, "DATA_DIR", tmp_path)
    tool_exports.write_all()
    for path in tmp_path.rglob("*"):
        if path.is_file() and path.suffix != ".xlsx":  # a workbook holds its time of writing
            assert path.read_bytes() == (TOOLS / path.relative_to(tmp_path)).read_bytes(), path


def test_presets_shipped():
    assert available_presets() == [
        "enalyzer",
        "limesurvey",
        "msforms",
        "nettskjema",
        "qualtrics",
        "questback",
        "surveyxact",
    ]
    for name in available_presets():
        assert load_preset(name).tool


@pytest.mark.parametrize(("filename", "preset", "tool"), CASES, ids=[c[0] for c in CASES])
def test_preset_reads_the_tools_export_as_the_kits_own_format(canonical, filename, preset, tool):
    mapping = _mapping(preset).with_overrides(wave="before")
    result = read_responses(TOOLS / filename, LAG, mapping=mapping)
    table = result.table
    assert not result.dropped and not result.warnings
    items = list(LAG.item_ids)
    np.testing.assert_array_equal(table[items].to_numpy(float), canonical[items].to_numpy(float))
    for col in ("group", "wave", "role", *LAG.open_question_ids):
        assert table[col].tolist() == canonical[col].tolist(), col
    # Respondent ids: the tool's, or numbered by row where the file has none.
    if preset == "surveyxact":
        assert table["respondent"].tolist() == [f"row-{n}" for n in range(2, 13)]
    else:
        assert table["respondent"].nunique() == len(table)
    # The same scores as from the kit's own format.
    mine = score_responses(table, LAG).dimensions
    theirs = score_responses(canonical, LAG).dimensions
    pd.testing.assert_frame_equal(mine.reset_index(drop=True), theirs.reset_index(drop=True))


@pytest.mark.parametrize(("filename", "preset", "tool"), CASES, ids=[c[0] for c in CASES])
def test_the_kit_recognises_the_tool_where_it_can(filename, preset, tool):
    assert recognise_tool(TOOLS / filename) == tool


def test_canonical_and_plain_files_are_not_taken_for_a_tool(tmp_path):
    assert recognise_tool(TOOLS / "canonical.csv") is None
    assert recognise_tool(tmp_path / "missing.csv") is None
    assert detect_preset(["respondent", "group", "wave"]) is None


def test_private_columns_of_a_tool_are_never_read(canonical):
    """Microsoft Forms writes each respondent's e-mail and name: left out, never stored."""
    result = read_responses(
        TOOLS / "msforms_en.xlsx", LAG, mapping=load_preset("msforms").with_overrides(wave="before")
    )
    cells = [str(c) for c in result.table.to_numpy().ravel()]
    assert not any("@example.no" in c or c.startswith("Person ") for c in cells)
    assert "Email" not in result.headers.values()


# -- the reading steps ------------------------------------------------------------------------
def _lines(rows: list[list[str]], sep: str = ";") -> str:
    return "".join(sep.join(r) + "\n" for r in rows)


def _items(values: list[str]) -> list[str]:
    return (values * 56)[:56]


HEAD = ["respondent", "group", *LAG.item_ids]


def test_wave_for_the_whole_file_and_its_label(tmp_path):
    path = tmp_path / "runde2.csv"
    path.write_text(
        _lines([HEAD, ["r1", "g1", *_items(["4"])], ["r2", "g1", *_items(["5"])]]), encoding="utf-8"
    )
    for given in ("after", "Etter", "After"):
        table = read_responses(path, LAG, mapping=ColumnMapping(wave=given)).table
        assert set(table["wave"]) == {"after"}
    with pytest.raises(ResponseFileError, match=r"wave +x +is not a known wave"):
        read_responses(path, LAG, mapping=ColumnMapping(wave="x"), known_waves=["before"])
    with pytest.raises(ResponseFileError, match="the column 'wave' is missing"):
        read_responses(path, LAG)


def test_a_wave_given_for_a_file_that_has_a_wave_column_is_refused(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text(
        _lines([[*HEAD[:2], "wave", *HEAD[2:]], ["r1", "g1", "before", *_items(["4"])]]),
        encoding="utf-8",
    )
    with pytest.raises(
        ResponseFileError,
        match=r"has its own wave column, but the wave is also "
        r"given for the whole file \('after'\)",
    ):
        read_responses(path, LAG, mapping=ColumnMapping(wave="after"))
    nb = ResponseFileError
    with pytest.raises(nb) as info:
        read_responses(path, LAG, mapping=ColumnMapping(wave="after"))
    assert "har en egen kolonne for wave" in info.value.message("nb")


def test_group_for_the_whole_file(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text(
        _lines([["respondent", *LAG.item_ids], ["r1", *_items(["4"])]]), encoding="utf-8"
    )
    table = read_responses(path, LAG, mapping=ColumnMapping(wave="before", group="g7")).table
    assert table[["group", "wave"]].values.tolist() == [["g7", "before"]]


def test_respondents_by_row_are_stable_and_skip_blank_rows(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text(
        _lines([HEAD[1:], ["g1", *_items(["4"])], [""] * 57, ["g1", *_items(["5"])]]),
        encoding="utf-8",
    )
    mapping = ColumnMapping(wave="before", respondent_from_row=True)
    first = read_responses(path, LAG, mapping=mapping).table
    assert first["respondent"].tolist() == ["row-2", "row-4"]
    again = read_responses(path, LAG, mapping=mapping).table
    assert again["respondent"].tolist() == first["respondent"].tolist()
    # A file that has its own respondent column keeps it.
    own = tmp_path / "own.csv"
    own.write_text(_lines([HEAD, ["r9", "g1", *_items(["4"])]]), encoding="utf-8")
    assert read_responses(own, LAG, mapping=mapping).table["respondent"].tolist() == ["r9"]


def test_reimporting_a_row_numbered_file_changes_nothing(any_store, tmp_path):
    any_store.save_cohort("k1", "Kull 1")
    for g in ("mini-a", "mini-b"):
        any_store.save_group(g, g, cohort_id="k1")
    any_store.save_wave("before", 1)
    src = TOOLS / "surveyxact_semikolon"
    folder = tmp_path / "sx"
    shutil.copytree(src, folder)
    mapping = load_preset("surveyxact").with_overrides(wave="before")
    result = read_responses(folder / "dataset.csv", LAG, mapping=mapping, store=any_store)
    done = any_store.import_responses(result.table, LAG, result.source_hash, result.filename)
    assert done.rows == 11
    again = read_responses(folder / "dataset.csv", LAG, mapping=mapping, store=any_store)
    assert again.already_stored == 11 and len(again.table) == 0
    # An updated export (one more respondent at the end) adds only the new one.
    text = (folder / "dataset.csv").read_bytes().decode("cp1252")
    last = text.strip().splitlines()[-1]
    (folder / "dataset.csv").write_bytes((text + last + "\n").encode("cp1252"))
    more = read_responses(folder / "dataset.csv", LAG, mapping=mapping, store=any_store)
    assert more.already_stored == 11 and more.table["respondent"].tolist() == ["row-13"]


def test_value_maps_and_codes_meaning_not_applicable(tmp_path):
    path = tmp_path / "x.csv"
    values = ["0", "6", "9", "Svært godt"] + ["3"] * 52
    path.write_text(_lines([HEAD, ["r1", "g1", *values]]), encoding="utf-8")
    mapping = parse_mapping(
        {
            "wave": "before",
            "answers": {0: 1, 1: 2, 2: 3, 3: 4, 4: 5, 5: 6, 6: 7, 9: None},
            "item_answers": {"Q04": {"Svært godt": 7}},
        }
    )
    row = read_responses(path, LAG, mapping=mapping).table.iloc[0]
    assert [row["Q01"], row["Q02"], row["Q04"], row["Q05"]] == [1, 7, 7, 4]
    assert np.isnan(row["Q03"])
    # An answer nothing maps is reported with the text the file holds.
    path.write_text(_lines([HEAD, ["r1", "g1", "12", *values[1:]]]), encoding="utf-8")
    with pytest.raises(ResponseFileError, match=r"Q01 +12 +is outside the scale 1-7"):
        read_responses(path, LAG, mapping=mapping)


def test_value_maps_off_the_scale_or_for_unknown_items_are_refused(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text(_lines([HEAD, ["r1", "g1", *_items(["4"])]]), encoding="utf-8")
    bad = parse_mapping(
        {"wave": "before", "answers": {"Helt enig": 8}, "item_answers": {"Q99": {"a": 1}}},
        source="min.yaml",
    )
    with pytest.raises(ResponseFileError) as info:
        read_responses(path, LAG, mapping=bad)
    text = info.value.message("en")
    assert "Q99" in text and "is not an item of instrument lagprofil" in text
    assert "helt enig: 8" in text and "not a whole number on the scale 1-7" in text
    assert len(info.value.problems) == 2
    assert "hvert svar skal gi et helt tall på skalaen" in info.value.message("nb")


def test_header_rows_above_and_below(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text(
        _lines(
            [
                ["Eksport 2026-01-05"],
                HEAD,
                ["Respondent", "Team", *["Tekst"] * 56],
                ["r1", "g1", *_items(["4"])],
                ["r2", "g1", "x", *_items(["4"])[1:]],
            ]
        ),
        encoding="utf-8",
    )
    mapping = ColumnMapping(wave="before", header_row=2, skip_rows=1)
    with pytest.raises(ResponseFileError, match=r"\n5 +Q01 +x +is not a number") as info:
        read_responses(path, LAG, mapping=mapping)
    assert len(info.value.problems) == 1  # the question-text row is not read as answers
    with pytest.raises(
        ResponseFileError, match="has only 5 rows, so the headers cannot be in row 9"
    ):
        read_responses(path, LAG, mapping=ColumnMapping(header_row=9))
    assert parse_mapping({"header_row": 2, "skip_rows": 2}).skip_rows == 2
    with pytest.raises(ResponseFileError, match="header_row"):
        parse_mapping({"header_row": 0})


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_tab_separated(tmp_path, encoding):
    path = tmp_path / "x.txt"
    text = _lines([HEAD + ["O1"], ["r1", "Ø-gruppen", *_items(["4"]), "Blåbær"]], sep="\t")
    path.write_bytes(text.replace("\n", "\r\n").encode(encoding))
    table = read_responses(path, LAG, mapping=ColumnMapping(wave="before")).table
    assert table[["group", "O1"]].values.tolist() == [["Ø-gruppen", "Blåbær"]]


def test_encodings_windows_1252_and_iso_8859_1(tmp_path):
    path = tmp_path / "x.csv"
    text = _lines([HEAD + ["O1"], ["r1", "Sør", *_items(["4"]), "«Godt» – sa han"]])
    path.write_bytes(text.encode("cp1252"))
    assert read_responses(path, LAG, mapping=ColumnMapping(wave="before")).table["O1"][0] == (
        "«Godt» – sa han"
    )
    latin = _lines([HEAD + ["O1"], ["r1", "Sør", *_items(["4"]), "Ærlig ¤"]]).encode("latin-1")
    path.write_bytes(latin)
    mapping = parse_mapping({"wave": "before", "encoding": "iso-8859-1"})
    assert read_responses(path, LAG, mapping=mapping).table["O1"][0] == "Ærlig ¤"
    path.write_bytes(latin)
    with pytest.raises(
        ResponseFileError,
        match=r"cannot be read as utf-8 \(an invalid character "
        r"at byte",
    ):
        read_responses(path, LAG, mapping=parse_mapping({"encoding": "utf-8"}))
    with pytest.raises(ResponseFileError, match="encoding"):
        parse_mapping({"encoding": "ebcdic"})


def test_zero_padded_and_wildcard_patterns(tmp_path):
    assert parse_mapping({"items": "LP[SQ{n:03d}]"}).items == "LP[SQ{n:03d}]"
    for bad in ("Spm", "Spm {x}", "Spm {n:zz}", "Spm {n"):
        with pytest.raises(ResponseFileError, match="must be a header pattern with"):
            parse_mapping({"items": bad})
    path = tmp_path / "x.csv"
    path.write_text(
        _lines(
            [["id", "team", *[f"LP[SQ{n:03d}]" for n in range(1, 57)]], ["1", "g1", *_items(["4"])]]
        ),
        encoding="utf-8",
    )
    mapping = parse_mapping(
        {
            "wave": "before",
            "items": "LP[SQ{n:03d}]",
            "columns": {"id": "respondent", "team": "group"},
        }
    )
    assert read_responses(path, LAG, mapping=mapping).table["Q56"][0] == 4
    # '*' stands for any text (Nettskjema's matrix names); two headers for one item are refused.
    path.write_text(
        _lines(
            [
                [
                    "id",
                    "team",
                    *[f"m{n % 2}.{i}" for n, i in enumerate(LAG.item_ids)],
                    "ekstra.Q01",
                ],
                ["1", "g1", *_items(["4"]), "5"],
            ]
        ),
        encoding="utf-8",
    )
    star = parse_mapping(
        {"wave": "before", "items": "*.{id}", "columns": {"id": "respondent", "team": "group"}}
    )
    with pytest.raises(ResponseFileError, match=r"ekstra\.Q01.*m0\.Q01|m0\.Q01.*ekstra\.Q01"):
        read_responses(path, LAG, mapping=star)


def test_labels_file_beside_the_data_and_its_absence(tmp_path):
    folder = tmp_path / "sx"
    shutil.copytree(TOOLS / "surveyxact_semikolon", folder)
    mapping = load_preset("surveyxact").with_overrides(wave="before")
    assert len(read_responses(folder / "dataset.csv", LAG, mapping=mapping).table) == 11
    (folder / "labels.csv").unlink()
    with pytest.raises(ResponseFileError) as info:
        read_responses(folder / "dataset.csv", LAG, mapping=mapping)
    # Without labels the codes stay codes: 'team' 1 is not a group id, 8 is off the scale.
    assert "is outside the scale 1-7" in info.value.message("en")
    result = validate_responses(folder / "dataset.csv", LAG, mapping=mapping)
    assert result  # the problems, listed


def test_preset_in_a_mapping_of_ones_own(tmp_path):
    own = tmp_path / "min.yaml"
    own.write_text(
        "preset: qualtrics\nitems: 'Q5_{n}'\ncolumns: {Gruppe: group}\n", encoding="utf-8"
    )
    mapping = load_mapping(own)
    assert mapping.items == "Q5_{n}" and mapping.skip_rows == 2
    assert mapping.columns["Gruppe"] == "group" and "team" not in mapping.columns
    assert mapping.columns["ResponseId"] == "respondent"
    own.write_text("preset: surveymonkey\n", encoding="utf-8")
    with pytest.raises(
        ResponseFileError, match="is not a survey tool preset; the presets are enalyzer, limesurvey"
    ):
        load_mapping(own)
    with pytest.raises(ResponseFileError, match="is not a survey tool preset"):
        load_preset("surveymonkey")


# -- the command ------------------------------------------------------------------------------
def _programme(mini_project) -> None:
    home = str(mini_project.root)
    assert main(["--home", home, "programme", "load", str(mini_project.programme_path)]) == 0


def test_cli_import_with_a_preset_and_a_wave(mini_project, capsys):
    _programme(mini_project)
    home = ["--home", str(mini_project.root), "--language", "en"]
    path = str(TOOLS / "qualtrics.csv")
    assert main([*home, "validate", path, "--preset", "qualtrics", "--wave", "before"]) == 0
    assert "can be imported: 11 respondents, 2 groups" in capsys.readouterr().out
    assert main([*home, "import", path, "--wave", "Før"]) == 0  # recognised
    out = capsys.readouterr().out
    assert "looks like an export from Qualtrics; using the preset qualtrics" in out
    assert "Imported: 11 respondents" in out
    assert main([*home, "import", path, "--wave", "before"]) == 0
    assert "imported before" in capsys.readouterr().out


def test_cli_refusals_in_both_languages(mini_project, capsys):
    _programme(mini_project)
    root = str(mini_project.root)
    path = str(TOOLS / "nettskjema_semikolon.csv")
    mapping = str(TOOLS / "nettskjema_0-6.yaml")
    for lang, text in (
        ("en", "Use either --preset or --mapping"),
        ("nb", "Bruk enten --preset eller --mapping"),
    ):
        assert (
            main(
                [
                    "--home",
                    root,
                    "--language",
                    lang,
                    "import",
                    path,
                    "--preset",
                    "nettskjema",
                    "--mapping",
                    mapping,
                ]
            )
            == 2
        )
        assert text in capsys.readouterr().err
    assert main(["--home", root, "--language", "nb", "import", path]) == 2
    err = capsys.readouterr().err
    assert "oppgi den med --wave" in err
    assert main(["--home", root, "--language", "en", "import", path, "--preset", "nope"]) == 2
    assert "is not a survey tool preset" in capsys.readouterr().err
    alone = mini_project.root / "alone"  # a SurveyXact dataset without its labels beside it
    alone.mkdir()
    shutil.copy(TOOLS / "surveyxact_semikolon" / "dataset.csv", alone / "dataset.csv")
    plain = str(alone / "dataset.csv")
    assert main(["--home", root, "--language", "en", "import", plain, "--wave", "before"]) == 2
    assert "use its preset: --preset NAME" in capsys.readouterr().err


def test_labels_file_names_are_checked_and_stay_beside_the_data(tmp_path):
    with pytest.raises(ResponseFileError, match="is not a file name the kit can use"):
        parse_mapping({"labels": ["{0}.csv"]})
    # A name that climbs out of the data file's folder is never read.
    secret = tmp_path / "secret.csv"
    secret.write_text("team;1;mini-a\n", encoding="utf-8")
    folder = tmp_path / "data"
    folder.mkdir()
    shutil.copy(TOOLS / "surveyxact_semikolon" / "dataset.csv", folder / "dataset.csv")
    mapping = parse_mapping({"preset": "surveyxact", "wave": "before", "labels": "../secret.csv"})
    with pytest.raises(ResponseFileError) as info:
        read_responses(folder / "dataset.csv", LAG, mapping=mapping)
    assert "is outside the scale" in info.value.message("en")  # codes stayed codes
    result = validate_responses(folder / "dataset.csv", LAG, mapping=mapping)
    assert not any(p.value == "mini-a" for p in result)
