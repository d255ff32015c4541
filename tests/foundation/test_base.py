"""Settings, translations and exercise definitions: the base every part stands on."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

from kit.errors import KitError, Problem, ResponseFileError, SettingsError
from kit.exercises import get_exercise, load_exercises
from kit.i18n import I18N_DIR, load_texts, t
from kit.settings import LANGUAGES, load_settings


def test_settings_defaults_are_safe(tmp_path):
    s = load_settings(home_dir=tmp_path)
    assert s.min_respondents == 5
    assert s.min_comment_respondents >= s.min_respondents
    assert s.db_url == f"sqlite:///{tmp_path / 'var' / 'kit.sqlite'}"


def test_settings_read_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("KIT_MIN_RESPONDENTS", "3")
    monkeypatch.setenv("KIT_DATABASE_URL", "postgresql+psycopg://u:p@db/kit")
    s = load_settings(home_dir=tmp_path)
    assert s.min_respondents == 3
    assert s.db_url == "postgresql+psycopg://u:p@db/kit"


def test_settings_refuse_bad_environment(monkeypatch):
    monkeypatch.setenv("KIT_PORT", "eighty")
    with pytest.raises(SettingsError, match=r"KIT_PORT='eighty' is not a valid int"):
        load_settings()


def test_settings_refuse_unsafe_threshold(tmp_path):
    with pytest.raises(SettingsError, match="min_respondents must be at least 3"):
        load_settings(home_dir=tmp_path, min_respondents=2)


def test_settings_refuse_unknown_language(tmp_path):
    with pytest.raises(SettingsError, match="language must be one of nb, en"):
        load_settings(home_dir=tmp_path, language="sv")


def test_every_text_has_both_languages():
    for path in I18N_DIR.glob("*.yaml"):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for key, per_lang in data.items():
            assert set(LANGUAGES) <= set(per_lang), f"{path.name}:{key} lacks a language"
    assert load_texts()


def test_translation_formats_fields():
    assert t("common.suppressed.too_few", "en", min_n=5).startswith("Hidden: fewer than 5")
    assert "færre enn 5" in t("common.suppressed.too_few", "nb", min_n=5)


def test_translation_errors_say_how_to_fix():
    with pytest.raises(KitError, match=r"add it to kit/data/i18n/common.yaml"):
        t("common.no.such.key", "nb")
    with pytest.raises(KitError, match="Language 'de' is not supported"):
        t("common.wave.before", "de")


def test_exercises_cover_the_six_recommendations():
    exercises = load_exercises()
    assert {e.recommendation for e in exercises.values()} >= {1, 2, 3, 4, 5, 6}
    assert get_exercise("airtime").live
    with pytest.raises(KitError, match="Unknown exercise 'karaoke'"):
        get_exercise("karaoke")


def test_problems_error_lists_every_problem_as_a_table():
    err = ResponseFileError(
        "responses.csv",
        [
            Problem("responses.csv", "is outside the scale 1-7", row=14, column="Q07", value="8"),
            Problem("responses.csv", "is not a number", row=15, column="Q08", value="x"),
        ],
        hint="Correct the cells and import again.",
    )
    text = str(err)
    assert text.startswith("responses.csv: 2 problems found; nothing was changed.")
    assert "14   Q07     8      is outside the scale 1-7" in text
    assert text.endswith("Correct the cells and import again.")


def test_a_text_without_every_language_is_refused(tmp_path):
    (tmp_path / "demo.yaml").write_text(
        "ok:\n  nb: Ja\n  en: Yes\nhalf:\n  nb: Bare bokmål\n", encoding="utf-8"
    )
    load_texts.cache_clear()
    try:
        with pytest.raises(KitError, match="demo.yaml: half has no text for en"):
            load_texts(tmp_path)
    finally:
        load_texts.cache_clear()
    assert load_texts()  # the kit's own files are complete


def test_numbers_follow_the_language():
    from kit.i18n import format_number

    fields = {"groups": 3, "dimensions": 8, "icc_low": 0.123, "icc_high": 0.5, "disagree": 1}
    assert "ICC(1) mellom 0,12 og 0,50" in t("cli.demo.scored", "nb", **fields)
    assert "ICC(1) from 0.12 to 0.50" in t("cli.demo.scored", "en", **fields)
    assert format_number(12345.5, "nb", ",.1f") == "12\u00a0345,5"
    assert format_number(12345.5, "en", ",.1f") == "12,345.5"
    assert format_number(0.5, "nb", ".0%") == "50\u00a0%"
    assert format_number(7, "nb") == "7"


def test_problems_in_both_languages():
    problem = Problem.of(
        "x.csv",
        "ingest.answer.outside",
        row=3,
        column="Spm 7",
        value="9",
        scale="1-7",
        instrument="lagprofil",
    )
    assert problem.reason == (
        "is outside the scale 1-7 of instrument 'lagprofil'; give a whole "
        "number 1-7, or leave it empty"
    )
    assert problem.reason_in("nb").startswith("er utenfor skalaen 1-7 i instrumentet")
    assert str(problem).startswith("x.csv, row 3, column Spm 7: '9' is outside")
    assert problem.text_in("nb").startswith("x.csv, rad 3, kolonne Spm 7: '9' er utenfor")
    err = ResponseFileError("x.csv", [problem], hints=(("ingest.hint.rows", {}),))
    assert str(err).startswith("x.csv: 1 problem found; nothing was changed.\nrow  column")
    assert err.message("nb").startswith("x.csv: 1 problem funnet; ingenting ble endret.\nrad")
    assert err.message("nb").endswith("for å utelate de listede radene.")
    store_error = SettingsError.text("cli.home.missing", home="/x")
    assert store_error.message("nb").startswith("Hjemmemappen /x finnes ikke")
    assert str(store_error).startswith("The home directory /x does not exist")


# -- no user-facing text written in the code ------------------------------------------------------
# Modules whose every user-facing text must come from kit/data/i18n. The rule: a string literal
# (or f-string) of two or more words passed to print(), to an ...Error(...) or to Problem(...) is
# a text written in the code. A developer's message (a bug in the kit, never a user's mistake)
# is marked '# dev-text' on its line.
# Every module of the kit, except those still listed in NOT_YET (each line a module still to move
# its texts to kit/data/i18n; remove its line when it is done; groups by the part that owns them).
NOT_YET: set[str] = set()
OWNED = tuple(
    str(p.relative_to(Path(__file__).parents[2]))
    for p in sorted((Path(__file__).parents[2] / "kit").rglob("*.py"))
    if str(p.relative_to(Path(__file__).parents[2])) not in NOT_YET
)
WORDS = re.compile(r"[A-Za-zæøåÆØÅ]{2,}[ ,.;:'()]+[A-Za-zæøåÆØÅ]{2,}")


def literal_texts(path: Path, skip_functions: tuple[str, ...] = ()) -> list[str]:
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    tree = ast.parse(source)
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name in skip_functions:
            skipped |= set(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
        if not (name == "print" or name.endswith("Error") or name == "Problem"):
            continue
        args = [*node.args, *(k.value for k in node.keywords if k.arg not in ("file", "end"))]
        for arg in args:
            parts = (
                [arg]
                if isinstance(arg, ast.Constant)
                else [v for v in arg.values if isinstance(v, ast.Constant)]
                if isinstance(arg, ast.JoinedStr)
                else []
            )
            text = "".join(str(p.value) for p in parts if isinstance(p.value, str))
            line = lines[node.lineno - 1]
            if WORDS.search(text) and node.lineno not in skipped and "dev-text" not in line:
                found.append(f"{path}:{node.lineno}: {text[:60]!r}")
    return found


def test_owned_modules_write_no_user_facing_text_in_code():
    root = Path(__file__).parents[2]
    found = [x for rel in OWNED for x in literal_texts(root / rel)]
    assert not found, "texts written in code (move them to kit/data/i18n):\n" + "\n".join(found)


def test_the_literal_text_rule_finds_what_it_should(tmp_path):
    path = tmp_path / "m.py"
    path.write_text(
        "print(f'Wrote {n} rows to {path}')\n"
        "raise KitError('File not found; check the path')\n"
        "raise KitError.text('cli.file.missing', path=p)\n"
        "print(t('cli.demo.next', lang))\n"
        "print(f'  {w.reason_in(lang)}')\n"
        "raise ValueError('status must be open')  # dev-text\n",
        encoding="utf-8",
    )
    assert [x.split(":")[1] for x in literal_texts(path)] == ["1", "2"]
