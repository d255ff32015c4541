"""Every configuration file is strict: programme files, run files, instruments, column mappings.

Each refusal is tested in the library (the problem's path, line and text) and from the CLI (exit 2,
the message, no traceback) in both languages. The items-on-two-scales instrument is tested end to
end (import, score with hand-derived values, score export).
"""

from __future__ import annotations

import copy
import math
import re
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from kit import cli
from kit.config import MAX_CONFIG_BYTES, MAX_NODES, format_path, unknown_key_text
from kit.errors import InstrumentError, ParameterError, ResponseFileError
from kit.i18n import t
from kit.ingest import read_responses
from kit.instrument import INSTRUMENTS_DIR, load_instrument, parse_instrument
from kit.mapping import load_mapping
from kit.reports.params import load_run_file
from kit.scoring import score_responses
from kit.settings import PROJECT_DIR
from kit.store.programme import ProgrammeError, load_programme

LANGS = ("en", "nb")


def run(capsys, home: Path, lang: str, *args: str) -> tuple[int, str, str]:
    code = cli.main(["--home", str(home), "--language", lang, *args])
    out, err = capsys.readouterr()
    return code, out, err


def refused(capsys, home: Path, lang: str, *args: str) -> str:
    """Run the CLI; assert it refused as a user's mistake (exit 2, no traceback); the message."""
    code, out, err = run(capsys, home, lang, *args)
    assert code == 2, (code, out, err)
    assert "Traceback" not in out + err
    assert err.startswith(t("cli.error.prefix", lang) + ":"), err
    return err


def problems_at(exc: Exception) -> dict[str, tuple[int | None, str]]:
    """column (path in the file) -> (line, text) of every problem of a ProblemsError."""
    return {p.column or "": (p.row, p.reason) for p in exc.problems}  # type: ignore[attr-defined]


# -- programme files -------------------------------------------------------------------------------
TYPO_PROGRAMME = """\
programme: Testprogram
waves:
  - {id: before, ordinal: 1}
  - {id: after, ordnial: 2}
  - {id: later, ordinal: 1}
cohorts:
  - id: kull-1
    name: Kull 1
    start_dato: 2025-01-13
    start_date: 2025-03-01
    end_date: 2025-02-30
    groups:
      - id: a
        name: A
        name: B
        invited: {before: 5, after: -1, midway: 4}
      - {id: a, name: A again, invited: {before: 5}}
  - id: kull-2
    name: Kull 2
    start_date: 2025-05-01
    end_date: 2025-04-01
    groups:
      - {id: b, name: B, invited: {before: 5}, survey_dates: {after: 2025-06-01}}
"""


@pytest.mark.parametrize("lang", LANGS)
def test_programme_file_typos_are_refused_with_path_line_and_suggestion(tmp_path, lang):
    path = tmp_path / "programme.yaml"
    path.write_text(TYPO_PROGRAMME, encoding="utf-8")
    with pytest.raises(ProgrammeError) as info:
        load_programme(path, lang=lang)
    found = problems_at(info.value)
    expected = {
        "waves[1].ordnial": (4, t("config.did_you_mean", lang, name="ordinal")),
        "waves[2].ordinal": (
            5,
            t("config.programme.duplicate_ordinal", lang, first="waves[0].ordinal"),
        ),
        "cohorts[0].start_dato": (9, t("config.did_you_mean", lang, name="start_date")),
        "cohorts[0].end_date": (11, t("config.type.date", lang)),
        "cohorts[0].groups[0].name": (15, t("config.duplicate_key", lang, key="name", first=14)),
        "cohorts[0].groups[0].invited.after": (16, t("config.type.ge", lang, ge=1)),
        "cohorts[0].groups[0].invited.midway": (16, "midway" if lang == "en" else "målingene"),
        "cohorts[0].groups[1].id": (
            17,
            t("config.programme.duplicate_group", lang, first="cohorts[0].groups[0].id"),
        ),
        "cohorts[1].end_date": (
            21,
            t("config.programme.end_before_start", lang, start="2025-05-01"),
        ),
        "cohorts[1].groups[0].survey_dates.after": (
            23,
            t("config.programme.date_not_invited", lang),
        ),
    }
    for where, (line, text) in expected.items():
        assert where in found, (where, sorted(found))
        assert found[where][0] == line, (where, found[where])
        assert text in found[where][1] or text in str(info.value), (where, found[where])
    assert len(info.value.problems) == len(expected)
    assert t("config.programme.hint", lang) in str(info.value)


def test_programme_with_the_typo_no_longer_swaps_the_waves(tmp_path):
    """'ordnial' used to load, and the waves swapped order: now it is refused, by name."""
    path = tmp_path / "p.yaml"
    path.write_text(
        "waves:\n  - {id: before, ordnial: 2}\n  - {id: after, ordinal: 1}\n"
        "norm_base:\n  - {id: n, name: N, invited: [before, after]}\n",
        encoding="utf-8",
    )
    with pytest.raises(
        ProgrammeError,
        match=r"waves\[0\]\.ordnial +is not a known key "
        r"\(did you mean ordinal\?\)",
    ):
        load_programme(path, lang="en")
    path.write_text(path.read_text().replace("ordnial", "ordinal"), encoding="utf-8")
    assert [w.id for w in load_programme(path).waves] == ["after", "before"]


@pytest.mark.parametrize("lang", LANGS)
def test_impossible_date_is_a_users_mistake_from_the_cli(tmp_path, capsys, lang):
    path = tmp_path / "p.yaml"
    path.write_text(
        "waves: [before]\ncohorts:\n  - id: k\n    name: K\n    start_date: 2025-02-30"
        "\n    groups: [{id: a, name: A, invited: {before: 5}}]\n",
        encoding="utf-8",
    )
    err = refused(capsys, tmp_path, lang, "programme", "load", str(path))
    assert re.search(
        r"5 +cohorts\[0\]\.start_date +2025-02-30 +" + re.escape(t("config.type.date", lang)), err
    ), err


@pytest.mark.parametrize("lang", LANGS)
def test_programme_refusals_from_the_cli(tmp_path, capsys, lang):
    path = tmp_path / "programme.yaml"
    path.write_text(TYPO_PROGRAMME, encoding="utf-8")
    err = refused(capsys, tmp_path, lang, "programme", "load", str(path))
    assert (
        "cohorts[0].start_dato" in err and t("config.did_you_mean", lang, name="start_date") in err
    )
    assert t("config.duplicate_key", lang, key="name", first=14) in err
    # nothing was saved: the database has no groups
    code, out, _ = run(capsys, tmp_path, lang, "groups")
    assert code == 0 and out.strip() == t("cli.groups.none", lang)


@pytest.mark.parametrize("lang", LANGS)
def test_a_file_that_is_not_utf8_says_so(tmp_path, capsys, lang):
    path = tmp_path / "p.yaml"
    path.write_bytes("waves: [før]\n".encode("cp1252"))
    err = refused(capsys, tmp_path, lang, "programme", "load", str(path))
    assert t("config.not_utf8", lang, byte="0xF8") in err
    assert re.search(r"\n1 +0xF8", err), err
    assert t("config.hint.not_utf8", lang) in err


@pytest.mark.parametrize("lang", LANGS)
def test_a_huge_file_is_refused_at_once_with_its_size(tmp_path, capsys, lang):
    path = tmp_path / "p.yaml"
    with path.open("w", encoding="utf-8") as f:
        f.write("waves: [before]\nnorm_base:\n")
        line = "  - {id: n, name: N, invited: {before: 5}}\n"
        f.write(line * (50 * 1024 * 1024 // len(line)))
    start = time.perf_counter()
    err = refused(capsys, tmp_path, lang, "programme", "load", str(path))
    assert time.perf_counter() - start < 5  # the size is checked before anything is read
    size = "50,0 MB" if lang == "nb" else "50.0 MB"
    limit = f"{MAX_CONFIG_BYTES / 1024 / 1024:.1f} MB"
    assert size in err and (limit if lang == "en" else limit.replace(".", ",")) in err


def test_an_alias_bomb_is_refused(tmp_path):
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    start = time.perf_counter()
    with pytest.raises(ProgrammeError, match=f"holds more than {MAX_NODES} values"):
        load_programme(path, lang="en")
    assert time.perf_counter() - start < 5


@pytest.mark.parametrize("lang", LANGS)
def test_broken_yaml_gives_the_line_in_the_users_language(tmp_path, lang):
    path = tmp_path / "p.yaml"
    path.write_text("waves: [before\ncohorts: []\n", encoding="utf-8")
    with pytest.raises(ProgrammeError) as info:
        load_programme(path, lang=lang)
    text = str(info.value)
    assert t("config.not_yaml", lang, line=2, column=8) in text
    assert ("expected" in text) == (lang == "en")  # PyYAML's own English only for English


def test_unknown_key_text_suggests_the_closest_key():
    assert "did you mean reverse?" in unknown_key_text("reversed", ["id", "reverse", "text"], "en")
    assert "mente du" not in unknown_key_text("colour", ["id", "reverse", "text"], "nb")
    assert format_path(("cohorts", 0, "groups", 3, "invited", "before")) == (
        "cohorts[0].groups[3].invited.before"
    )


# -- instruments -----------------------------------------------------------------------------------
def _mini_instrument() -> dict:
    return {
        "id": "mini",
        "version": "1",
        "languages": ["nb", "en"],
        "name": {"nb": "Mini", "en": "Mini"},
        "scale": {"min": 1, "max": 5, "labels": {"nb": list("abcde"), "en": list("abcde")}},
        "categories": [{"id": "climate", "name": {"nb": "Klima", "en": "Climate"}}],
        "dimensions": [
            {
                "id": "safety",
                "category": "climate",
                "exercises": ["pulse"],
                "name": {"nb": "Trygghet", "en": "Safety"},
            }
        ],
        "items": [
            {"id": f"Q{i}", "dimension": "safety", "text": {"nb": f"nb {i}", "en": f"en {i}"}}
            for i in (1, 2, 3)
        ],
    }


@pytest.mark.parametrize("lang", LANGS)
def test_reversed_for_reverse_is_refused(tmp_path, capsys, lang):
    """The typo that silently changed 1,225 of 1,280 dimension means."""
    data = _mini_instrument()
    data["items"][1]["reversed"] = True
    path = tmp_path / "own.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(InstrumentError) as info:
        load_instrument(path, lang=lang)
    [problem] = info.value.problems
    assert problem.column == "items[1].reversed"
    assert problem.row == path.read_text().splitlines().index("  reversed: true") + 1
    assert t("config.did_you_mean", lang, name="reverse") in problem.reason
    err = refused(capsys, tmp_path, lang, "instruments", str(path))
    assert "items[1].reversed" in err and t("config.did_you_mean", lang, name="reverse") in err


def test_every_instrument_problem_in_one_pass():
    data = _mini_instrument()
    data["items"].append({"id": "Q7", "text": {"nb": "x", "en": "y"}})  # no dimension
    data["items"].append({"id": "Q8", "dimension": "ghost", "text": {"nb": "x", "en": "y"}})
    data["items"].append({"id": "Q1", "dimension": "safety", "text": {"nb": "x"}})
    data["dimensions"][0]["exercises"] = ["yoga"]
    data["scale"]["max"] = 4  # 5 labels for a 1-4 scale
    with pytest.raises(InstrumentError) as info:
        parse_instrument(data, source="mini.yaml", lang="en")
    found = problems_at(info.value)
    assert found["items[3].dimension"][1] == "is missing"
    assert "is not a dimension" in found["items[4].dimension"][1]
    assert "given twice" in found["items[5].id"][1]
    assert "has no translation for en" in found["items[5].text"][1]
    assert "are not exercises" in found["dimensions[0].exercises"][1]
    assert "needs 4 labels in nb" in found["scale.labels.nb"][1]


def test_duplicate_key_in_an_instrument_is_refused(tmp_path):
    path = tmp_path / "own.yaml"
    text = yaml.safe_dump(_mini_instrument(), allow_unicode=True, sort_keys=False)
    path.write_text(
        text.replace("version: '1'\n", "version: '1'\nversion: '2'\n"), encoding="utf-8"
    )
    with pytest.raises(
        InstrumentError,
        match=r"the key version is written twice in one block "
        r"\(first on line 2\)",
    ):
        load_instrument(path, lang="en")


def test_items_of_one_dimension_must_share_a_scale():
    data = _mini_instrument()
    data["items"][2]["scale"] = {
        "min": 0,
        "max": 4,
        "labels": {"nb": list("abcde"), "en": list("abcde")},
    }
    with pytest.raises(InstrumentError) as info:
        parse_instrument(data, lang="en")
    assert "the dimension's items are on different scales (0-4, 1-5)" in str(info.value)


def test_every_shipped_and_example_file_still_loads():
    for path in INSTRUMENTS_DIR.glob("*.yaml"):
        assert load_instrument(path).has_one_scale
    for path in (PROJECT_DIR / "parameters").glob("*.yaml"):
        assert load_run_file(path).jobs
    load_mapping(PROJECT_DIR / "kit" / "data" / "mappings" / "example_surveytool.yaml")


def test_the_demo_programme_and_mapping_still_load(demo_summary):
    programme = load_programme(demo_summary.programme_path)
    assert len(programme.cohorts) == 4
    mapping = load_mapping(demo_summary.mapping_path)
    assert mapping.items


# -- two scales, end to end ------------------------------------------------------------------------
TEN = {"nb": [f"{i}" for i in range(1, 11)], "en": [f"{i}" for i in range(1, 11)]}
FIVE = {
    "nb": ["Aldri", "Sjelden", "Av og til", "Ofte", "Alltid"],
    "en": ["Never", "Rarely", "Sometimes", "Often", "Always"],
}
TWO_SCALES = {
    "id": "toskala",
    "version": "1",
    "languages": ["nb", "en"],
    "name": {"nb": "To skalaer", "en": "Two scales"},
    "scale": {"min": 1, "max": 10, "labels": TEN},
    "scales": {"often": {"min": 0, "max": 4, "labels": FIVE}},
    "categories": [{"id": "climate", "name": {"nb": "Klima", "en": "Climate"}}],
    "dimensions": [
        {
            "id": "frequency",
            "category": "climate",
            "scale": "often",
            "name": {"nb": "Hyppighet", "en": "Frequency"},
        },
        {"id": "rating", "category": "climate", "name": {"nb": "Vurdering", "en": "Rating"}},
    ],
    "items": [
        {"id": "F1", "dimension": "frequency", "text": {"nb": "f1", "en": "f1"}},
        {
            "id": "F2",
            "dimension": "frequency",
            "reverse": True,
            "text": {"nb": "f2", "en": "f2"},
            "scale": {"min": 0, "max": 4, "labels": FIVE},
        },
        {"id": "R1", "dimension": "rating", "text": {"nb": "r1", "en": "r1"}},
        {"id": "R2", "dimension": "rating", "reverse": True, "text": {"nb": "r2", "en": "r2"}},
    ],
}
# Five members of team g1. F2 and R2 are reverse-keyed: on 0-4, x' = 4 - x; on 1-10, x' = 11 - x.
ANSWERS = {
    "F1": [4, 3, 4, 2, 3],
    "F2": [0, 1, 0, 2, 1],
    "R1": [9, 8, 10, 7, 6],
    "R2": [2, 3, 1, 4, 5],
}
# Hand-derived. frequency: scores 4,3,4,2,3 -> mean 3.2, s^2 = 2.8/4 = 0.7; items' s^2 0.7 each;
# A = 5, sigma_EU^2 = (25-1)/12 = 2; rwg(J) = 2(1-.35)/(2(1-.35)+.35) = 26/33; AD_M = 3.2/5.
# rating: scores 9,8,10,7,6 -> mean 8.0, s^2 = 10/4 = 2.5; A = 10, sigma_EU^2 = 99/12 = 8.25;
# ratio 10/33; rwg(J) = (46/33)/(56/33) = 46/56; AD_M = 6/5.
EXPECTED = {
    "frequency": {"mean": 3.2, "sd": math.sqrt(0.7), "rwg_j": 26 / 33, "ad_m": 0.64},
    "rating": {"mean": 8.0, "sd": math.sqrt(2.5), "rwg_j": 46 / 56, "ad_m": 1.2},
}


def _two_scale_project(root: Path) -> tuple[Path, Path, Path]:
    root.mkdir(parents=True, exist_ok=True)
    inst = root / "toskala.yaml"
    inst.write_text(
        yaml.safe_dump(TWO_SCALES, allow_unicode=True, sort_keys=False), encoding="utf-8"
    )
    programme = root / "programme.yaml"
    programme.write_text(
        "waves: [before]\ncohorts:\n  - id: k\n    name: K\n    groups:\n"
        "      - {id: g1, name: G1, invited: {before: 6}}\n",
        encoding="utf-8",
    )
    rows = [
        {
            "respondent": f"r{i}",
            "group": "g1",
            "wave": "before",
            **{item: str(v[i]) for item, v in ANSWERS.items()},
        }
        for i in range(5)
    ]
    export = root / "export.csv"
    pd.DataFrame(rows).to_csv(export, sep=";", index=False)
    return inst, programme, export


def test_two_scales_score_with_hand_derived_values(tmp_path):
    inst_path, _, export = _two_scale_project(tmp_path)
    inst = load_instrument(inst_path)
    assert [(s.min, s.max) for s in inst.item_scales] == [(0, 4), (0, 4), (1, 10), (1, 10)]
    assert not inst.has_one_scale
    table = read_responses(export, inst).table
    scores = score_responses(table, inst)
    dims = scores.dimensions.set_index("dimension")
    for dim, values in EXPECTED.items():
        for column, value in values.items():
            assert dims.loc[dim, column] == pytest.approx(value, abs=1e-9), (dim, column)
    dist = scores.distributions
    f1 = dist[dist["item"] == "F1"]
    assert list(f1["value"]) == [0, 1, 2, 3, 4] and list(f1["count"]) == [0, 0, 1, 2, 2]
    r1 = dist[dist["item"] == "R1"]
    assert list(r1["value"]) == list(range(1, 11)) and r1["count"].sum() == 5
    items = scores.items.set_index("item")
    assert items.loc["F2", "mean"] == pytest.approx(3.2)  # 4 - x, not 1 + 10 - x
    assert items.loc["R2", "mean"] == pytest.approx(8.0)


@pytest.mark.parametrize("lang", LANGS)
def test_two_scales_end_to_end_from_the_cli(tmp_path, capsys, lang):
    inst, programme, export = _two_scale_project(tmp_path / "p")
    home = tmp_path / "home"
    assert run(capsys, home, lang, "programme", "load", str(programme))[0] == 0
    code, out, _ = run(capsys, home, lang, "instruments", "--instrument", str(inst))
    assert code == 0 and "F1 (0-4) f1" in out and "R1 r1" in out
    assert run(capsys, home, lang, "validate", str(export), "--instrument", str(inst))[0] == 0
    assert run(capsys, home, lang, "import", str(export), "--instrument", str(inst))[0] == 0
    code, _, err = run(
        capsys, home, lang, "publish", "--close", "--wave", "before", "--instrument", str(inst)
    )
    assert code == 0, err
    out_csv = tmp_path / "scores.csv"
    code, out, err = run(
        capsys, home, lang, "score", "--out", str(out_csv), "--instrument", str(inst)
    )
    assert code == 0, err
    scores = pd.read_csv(out_csv).set_index("dimension")
    assert set(scores["instrument"]) == {"toskala"}
    # kit score exports the published values: rounded to what reports print
    from kit.publication import DIGITS

    for dim, values in EXPECTED.items():
        for column, value in values.items():
            expected = round(value, DIGITS[column])
            assert scores.loc[dim, column] == pytest.approx(expected, abs=1e-9), (dim, column)


@pytest.mark.parametrize("lang", LANGS)
def test_answers_are_checked_on_their_own_items_scale(tmp_path, capsys, lang):
    inst, programme, export = _two_scale_project(tmp_path / "p")
    frame = pd.read_csv(export, sep=";", dtype=str)
    frame.loc[0, "F1"] = "5"  # outside 0-4 (fine on 1-10)
    frame.loc[1, "R1"] = "0"  # outside 1-10 (fine on 0-4)
    frame.loc[2, "F2"] = "0"  # a real answer on 0-4
    frame.to_csv(export, sep=";", index=False)
    code, out, err = run(
        capsys, tmp_path, lang, "validate", str(export), "--instrument", str(inst), "--no-database"
    )
    assert code == 2 and "Traceback" not in out + err
    outside = {"en": "is outside the scale", "nb": "er utenfor skalaen"}[lang]
    assert re.search(rf"2 +F1 +5 +{outside} 0-4", out), out
    assert re.search(rf"3 +R1 +0 +{outside} 1-10", out), out
    assert "F2" not in out


@pytest.mark.parametrize("lang", LANGS)
def test_serving_or_reporting_an_instrument_with_several_scales_is_refused(tmp_path, capsys, lang):
    inst, programme, _ = _two_scale_project(tmp_path / "p")
    err = refused(capsys, tmp_path, lang, "serve", "--instrument", str(inst), "--port", "1")
    assert t("config.serve.several_scales", lang, name=str(inst)) in err
    assert run(capsys, tmp_path, lang, "programme", "load", str(programme))[0] == 0
    run_file = tmp_path / "run.yaml"
    run_file.write_text(f"waves: [before]\ngroups: [g1]\ninstrument: {inst}\n", encoding="utf-8")
    err = refused(capsys, tmp_path, lang, "report", str(run_file), "--no-pdf")
    assert t("config.run.several_scales", lang) in err
    assert not (tmp_path / "outputs").exists() or not any((tmp_path / "outputs").iterdir())


@pytest.mark.parametrize("lang", LANGS)
def test_a_broken_user_instrument_is_refused_by_every_command(tmp_path, capsys, lang):
    data = copy.deepcopy(_mini_instrument())
    data["items"][0]["reversed"] = True
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    export = tmp_path / "x.csv"
    export.write_text("respondent;group;wave;Q1;Q2;Q3\nr1;a;before;1;2;3\n", encoding="utf-8")
    run_file = tmp_path / "run.yaml"
    run_file.write_text(f"waves: [before]\ngroups: [a]\ninstrument: {bad}\n", encoding="utf-8")
    commands = [
        ("instruments", str(bad)),
        ("instruments", "--instrument", str(bad)),
        ("validate", str(export), "--instrument", str(bad)),
        ("import", str(export), "--instrument", str(bad)),
        ("score", "--out", str(tmp_path / "s.csv"), "--instrument", str(bad)),
        ("serve", "--instrument", str(bad), "--port", "1"),
        ("report", str(run_file), "--no-pdf"),
    ]
    for args in commands:
        err = refused(capsys, tmp_path, lang, *args)
        assert "items[0].reversed" in err, args
        assert t("config.did_you_mean", lang, name="reverse") in err, args


# -- run files -------------------------------------------------------------------------------------
@pytest.fixture
def loaded_project(mini_project, capsys):
    home = mini_project.root
    assert run(capsys, home, "en", "programme", "load", str(mini_project.programme_path))[0] == 0
    assert run(capsys, home, "en", "import", str(mini_project.export_path))[0] == 0
    return mini_project


@pytest.mark.parametrize("lang", LANGS)
def test_run_file_with_unknown_group_wave_and_cohort_is_refused_before_any_report(
    loaded_project, capsys, lang
):
    """Refused at once: kernels started meanwhile are killed, nothing is written."""
    import psutil

    home = loaded_project.root
    run_file = home / "parameters" / "typo.yaml"
    run_file.write_text(
        "name: typo\nwaves: [before, etter]\ngroups: [mini-a, mini-c]\ncohorts: [kull-9]\n",
        encoding="utf-8",
    )
    start = time.perf_counter()
    err = refused(capsys, home, lang, "report", str(run_file), "--no-pdf", "--quiet")
    assert time.perf_counter() - start < 15  # no report was run (38-53 s before)
    kernels = [
        c for c in psutil.Process().children(recursive=True)
        if "ipykernel" in " ".join(c.cmdline())
    ]  # fmt: skip
    assert kernels == [], "a refused run leaves no kernel running"
    for line, column, value, key, known, close in (
        (3, "groups", "mini-c", "config.run.unknown_group", "mini-a, mini-b, norm-1", "mini-b"),
        (2, "waves", "etter", "config.run.unknown_wave", "after, before", "after"),
        (4, "cohorts", "kull-9", "config.run.unknown_cohort", "kull-1", "kull-1"),
    ):
        suggestion = t("config.did_you_mean", lang, name=close)
        assert re.search(
            rf"{line} +{column} +{value} +"
            + re.escape(t(key, lang, suggestion=suggestion, known=known)),
            err,
        ), (value, err)
    assert t("config.run.hint_store", lang) in err
    assert list((home / "outputs").iterdir()) == []


@pytest.mark.parametrize("lang", LANGS)
def test_run_file_typos_are_refused_from_the_cli(tmp_path, capsys, lang):
    run_file = tmp_path / "r.yaml"
    run_file.write_text(
        "name: r\nwaves: [before]\ngrops: [a]\ngroups: [a]\ngroups: [b]\nmin_respondents: -1\n"
        "programme: ja\n",
        encoding="utf-8",
    )
    err = refused(capsys, tmp_path, lang, "report", str(run_file), "--no-pdf")
    assert re.search(
        r"3 +grops +"
        + re.escape(
            t(
                "config.unknown_key",
                lang,
                known="",
                suggestion=t("config.did_you_mean", lang, name="groups"),
            ).split(";")[0]
        ),
        err,
    ), err
    assert t("config.duplicate_key", lang, key="groups", first=4) in err
    assert re.search(r"6 +min_respondents +-1 +" + re.escape(t("config.type.ge", lang, ge=0)), err)
    assert re.search(r"7 +programme +ja +" + re.escape(t("config.type.bool", lang)), err)
    assert not (tmp_path / "outputs").exists()


def test_instrument_path_in_a_run_file_is_relative_to_the_run_file(tmp_path):
    inst = tmp_path / "own.yaml"
    inst.write_text(yaml.safe_dump(_mini_instrument()), encoding="utf-8")
    run_file = tmp_path / "run.yaml"
    run_file.write_text("waves: [before]\ngroups: [a]\ninstrument: own.yaml\n", encoding="utf-8")
    spec = load_run_file(run_file)
    assert spec.jobs[0].params.instrument == str(inst.resolve())


# -- column mappings -------------------------------------------------------------------------------
@pytest.mark.parametrize("lang", LANGS)
def test_mapping_typos_are_refused_from_the_cli(tmp_path, capsys, lang):
    mapping = tmp_path / "m.yaml"
    mapping.write_text(
        "columns:\n  Respondent ID: respondent\nitem: 'Spm {n}'\nvalues:\n  wave: {Før: before}\n"
        "  wave: {Etter: after}\nignore: [Startet]\n",
        encoding="utf-8",
    )
    export = tmp_path / "x.csv"
    export.write_text("respondent;group;wave\n", encoding="utf-8")
    for command in ("validate", "import"):
        err = refused(capsys, tmp_path, lang, command, str(export), "--mapping", str(mapping))
        assert re.search(r"3 +item +", err) and t("config.did_you_mean", lang, name="items") in err
        assert t("config.duplicate_key", lang, key="wave", first=5) in err
    with pytest.raises(ResponseFileError):
        load_mapping(mapping)


def test_problems_are_never_pydantic_english_in_bokmal(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(
        "waves: [{id: 1, ordinal: x}]\ncohorts: {a: 1}\nnorm_base:\n"
        "  - {id: n, name: [N], invited: {1: 2.5}, in_norm_base: maybe, language: sv}\n",
        encoding="utf-8",
    )
    with pytest.raises(ProgrammeError) as info:
        load_programme(path, lang="nb")
    reasons = " ".join(p.reason for p in info.value.problems)
    for english in ("Input should", "valid", "Field required", "Extra inputs", "must", "is not"):
        assert english not in reasons, english
    assert len(info.value.problems) >= 5


def test_run_file_that_is_not_a_mapping(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("- a\n- b\n", encoding="utf-8")
    with pytest.raises(ParameterError, match="must be a block of settings"):
        load_run_file(path, lang="en")


# -- every file kind, every kind of refusal, from the CLI ------------------------------------------
def _instrument_text(change) -> str:
    data = _mini_instrument()
    change(data)
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def _bomb() -> str:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    return "\n".join(lines) + "\n"


MIXED = {"min": 0, "max": 4, "labels": {"nb": list("abcde"), "en": list("abcde")}}
CASES = {
    "programme-yaml": (
        ("programme", "load"),
        "waves: [before\n",
        lambda lang: t("config.not_yaml", lang, line=2, column=1),
    ),
    "instrument-duplicate": (
        ("instruments",),
        _instrument_text(lambda d: None).replace("version: '1'\n", "version: '1'\nversion: '2'\n"),
        lambda lang: t("config.duplicate_key", lang, key="version", first=2),
    ),
    "instrument-mixed-scale": (
        ("instruments",),
        _instrument_text(lambda d: d["items"][0].update(scale=MIXED)),
        lambda lang: t("config.instrument.mixed_scales", lang, scales="0-4, 1-5"),
    ),
    "instrument-date-type": (
        ("instruments",),
        _instrument_text(lambda d: d.update(version=["1"])),
        lambda lang: t("config.type.text", lang),
    ),
    "run-bomb": (
        ("report",),
        _bomb(),
        lambda lang: t("config.too_many_nodes", lang, limit=MAX_NODES),
    ),
    "run-not-utf8": (
        ("report",),
        "title: Måling\n".encode("latin-1"),
        lambda lang: t("config.not_utf8", lang, byte="0xE5"),
    ),
    "mapping-duplicate": (
        ("validate", "EXPORT", "--no-database", "--mapping"),
        "columns: {A: respondent}\ncolumns: {B: respondent}\n",
        lambda lang: t("config.duplicate_key", lang, key="columns", first=1),
    ),
    "mapping-type": (
        ("import", "EXPORT", "--mapping"),
        "not_applicable: {a: 1}\n",
        lambda lang: t("config.type.list", lang),
    ),
}


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_every_file_kind_refuses_from_the_cli(tmp_path, capsys, lang, case):
    args, content, expected = CASES[case]
    path = tmp_path / "file.yaml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    export = tmp_path / "x.csv"
    export.write_text("respondent;group;wave\n", encoding="utf-8")
    argv = [str(export) if a == "EXPORT" else a for a in args] + [str(path)]
    if args[0] == "report":
        argv.append("--no-pdf")
    err = refused(capsys, tmp_path, lang, *argv)
    assert expected(lang) in err, err
    assert not (tmp_path / "outputs").exists()


@pytest.mark.parametrize("lang", LANGS)
def test_run_is_checked_against_the_database_it_reads(any_store, tmp_path, lang):
    """SQLite and PostgreSQL: the run file's database_url is the one checked, before any kernel."""
    from kit.reports.params import check_run
    from kit.reports.runner import run_reports
    from kit.settings import load_settings
    from kit.store.programme import parse_programme

    any_store.save_programme(
        parse_programme(
            yaml.safe_load(
                "waves: [before, after]\ncohorts:\n  - id: kull-1\n    name: K\n    groups:\n"
                "      - {id: a, name: A, invited: {before: 5, after: 5}}\n"
            )
        )
    )
    run_file = tmp_path / "run.yaml"
    run_file.write_text(
        f"database_url: '{any_store.url}'\nwaves: [before, after]\ngroups: [a, b]\n"
        "cohorts: [kull-1, kull-2]\n",
        encoding="utf-8",
    )
    spec = load_run_file(run_file, lang=lang)
    settings = load_settings(home_dir=tmp_path / "home", language=lang)  # its own SQLite: empty
    with pytest.raises(ParameterError) as info:
        run_reports(spec, settings, progress=False, pdf=False)
    found = {(p.column, p.value): p.row for p in info.value.problems}
    assert found == {("groups", "b"): 3, ("cohorts", "kull-2"): 4}
    assert not (tmp_path / "home" / "outputs").exists()
    ok = tmp_path / "ok.yaml"
    ok.write_text(
        f"database_url: '{any_store.url}'\nwaves: [before, after]\ngroups: [a]\n", encoding="utf-8"
    )
    check_run(load_run_file(ok), settings)  # everything it names exists: no error
