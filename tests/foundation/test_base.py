"""Settings, translations and exercise definitions: the base every part stands on."""

from __future__ import annotations

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
