"""The ``kit`` command, in-process (``main(argv)``) and as a real process, incl. user mistakes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from kit import cli


def run(capsys, home: Path, *args: str) -> tuple[int, str, str]:
    code = cli.main(["--home", str(home), "--language", "en", *args])
    out, err = capsys.readouterr()
    return code, out, err


def run_process(home: Path, *args: str, timeout: int = 240) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIT_")}
    return subprocess.run(
        [sys.executable, "-m", "kit", "--home", str(home), "--language", "en", *args],
        capture_output=True, text=True, timeout=timeout, env=env, check=False,
    )


@pytest.fixture
def loaded(mini_project, capsys):
    """The mini project with its programme loaded and its export imported."""
    home = mini_project.root
    assert run(capsys, home, "programme", "load", str(mini_project.programme_path))[0] == 0
    assert run(capsys, home, "import", str(mini_project.export_path))[0] == 0
    return mini_project


def bad_export(path: Path, source: Path) -> Path:
    """The mini export with an out-of-range answer, a text answer and an unknown group."""
    frame = pd.read_csv(source, sep=";", dtype=str, keep_default_na=False, encoding="utf-8-sig")
    frame.loc[2, "Q07"] = "9"
    frame.loc[4, "Q10"] = "mye"
    frame.loc[5, "group"] = "mini-x"
    frame.to_csv(path, sep=";", index=False, encoding="utf-8-sig")
    return path


# -- programme -------------------------------------------------------------------------------------
def test_programme_load(mini_project, capsys):
    code, out, _ = run(capsys, mini_project.root, "programme", "load",
                       str(mini_project.programme_path), "--check")
    assert code == 0 and "is valid: 2 waves, 1 cohorts, 3 groups (1 in the norm base)" in out
    code, out, _ = run(capsys, mini_project.root, "programme", "load",
                       str(mini_project.programme_path))
    assert code == 0 and "was saved" in out
    code, out, _ = run(capsys, mini_project.root, "groups")
    assert code == 0 and "mini-a" in out and "norm-1" in out


def test_programme_load_bad_file_lists_every_problem(tmp_path, capsys):
    path = tmp_path / "programme.yaml"
    path.write_text("waves: [before]\ncohorts:\n  - id: k 1\n    groups:\n"
                    "      - {id: a, invited: {after: 3}}\n", encoding="utf-8")
    code, out, err = run(capsys, tmp_path, "programme", "load", str(path))
    assert code == 2 and out == ""
    assert "programme.yaml: 4 problems found" in err
    assert "row  column" in err and "cohorts[0].groups[0].invited" in err
    assert "Traceback" not in err


def test_programme_load_missing_file(tmp_path, capsys):
    code, _, err = run(capsys, tmp_path, "programme", "load", str(tmp_path / "nope.yaml"))
    assert code == 2 and "Programme file" in err and "not found" in err


# -- validate --------------------------------------------------------------------------------------
def test_validate_ok_with_and_without_database(mini_project, capsys):
    code, out, _ = run(capsys, mini_project.root, "validate", str(mini_project.export_path))
    assert code == 0
    assert "no groups yet" in out
    assert "OK: lagprofil-export.csv can be imported: 31 respondents, 3 groups" in out
    run(capsys, mini_project.root, "programme", "load", str(mini_project.programme_path))
    code, out, _ = run(capsys, mini_project.root, "validate", str(mini_project.export_path))
    assert code == 0 and "no groups yet" not in out and "OK:" in out


def test_validate_bad_file_prints_the_table(loaded, capsys, tmp_path):
    path = bad_export(tmp_path / "bad.csv", loaded.export_path)
    code, out, _ = run(capsys, loaded.root, "validate", str(path))
    assert code == 2
    assert "bad.csv: 3 problems found" in out
    assert "row  column" in out and "Q07" in out and "'9'" not in out and "9" in out
    assert "mini-x" in out


def test_validate_missing_file(tmp_path, capsys):
    code, out, err = run(capsys, tmp_path, "validate", str(tmp_path / "missing.csv"))
    assert code == 2 and "missing.csv' not found" in err and out == ""


def test_validate_unknown_instrument(mini_project, capsys):
    code, _, err = run(capsys, mini_project.root, "validate", str(mini_project.export_path),
                       "--instrument", "nosuch")
    assert code == 2 and "Instrument 'nosuch' not found" in err and "lagprofil" in err


# -- import ----------------------------------------------------------------------------------------
def test_import_then_again_changes_nothing(mini_project, capsys):
    home = mini_project.root
    run(capsys, home, "programme", "load", str(mini_project.programme_path))
    code, out, _ = run(capsys, home, "import", str(mini_project.export_path))
    assert code == 0 and "Imported: 31 respondents from lagprofil-export.csv" in out
    code, out, _ = run(capsys, home, "import", str(mini_project.export_path))
    assert code == 0 and "was imported before" in out and "nothing changed" in out
    code, out, _ = run(capsys, home, "groups", "--wave", "after")
    assert code == 0 and "mini-b" in out and "hidden" in out


def test_import_without_programme_says_load_it_first(mini_project, capsys):
    code, _, err = run(capsys, mini_project.root, "import", str(mini_project.export_path))
    assert code == 2 and "kit programme load" in err


def test_import_bad_file_refused_or_dropped(loaded, capsys, tmp_path):
    path = bad_export(tmp_path / "bad.csv", loaded.export_path)
    frame = pd.read_csv(path, sep=";", dtype=str, keep_default_na=False, encoding="utf-8-sig")
    frame["respondent"] = "x" + frame["respondent"]  # new people, so no clash with the import
    frame.to_csv(path, sep=";", index=False, encoding="utf-8-sig")
    code, out, err = run(capsys, loaded.root, "import", str(path))
    assert code == 2 and "bad.csv: 3 problems found; nothing was changed" in err
    assert "--drop-invalid" in err
    code, out, err = run(capsys, loaded.root, "import", str(path), "--drop-invalid")
    assert code == 0, err
    assert "Rows left out: 4, 6, 7" in out and "Imported: 28 respondents" in out


def test_import_missing_file(tmp_path, capsys):
    code, _, err = run(capsys, tmp_path, "import", str(tmp_path / "none.xlsx"))
    assert code == 2 and "none.xlsx' not found" in err


# -- score -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_score_export_hides_suppressed_values(loaded, capsys, tmp_path, suffix):
    out_path = tmp_path / f"scores{suffix}"
    code, out, err = run(capsys, loaded.root, "score", "--out", str(out_path))
    assert code == 0, err
    assert "(5 group waves, 1 hidden for anonymity)" in out
    frame = pd.read_csv(out_path) if suffix == ".csv" else pd.read_parquet(out_path)
    assert len(frame) == 5 * 16
    hidden = frame[frame["suppressed"].notna()]
    assert set(zip(hidden["group"], hidden["wave"], strict=True)) == {("mini-b", "after")}
    assert hidden[["n", "mean", "sd", "ci_low", "ci_high", "rwg_j"]].isna().all().all()
    shown = frame[frame["suppressed"].isna()]
    assert shown["mean"].between(1, 7).all() and (shown["n"] >= 5).all()
    assert {"group_name", "organisation", "cohort_id", "instrument"} <= set(frame.columns)


def test_score_filters_and_mistakes(loaded, capsys, tmp_path):
    out_path = tmp_path / "after.csv"
    code, out, _ = run(capsys, loaded.root, "score", "--out", str(out_path), "--wave", "after",
                       "--group", "mini-a")
    assert code == 0 and set(pd.read_csv(out_path)["group"]) == {"mini-a"}
    code, _, err = run(capsys, loaded.root, "score", "--out", str(out_path), "--group", "nope")
    assert code == 2 and "Group 'nope' does not exist" in err
    code, _, err = run(capsys, loaded.root, "score", "--out", str(out_path), "--wave", "later")
    assert code == 2 and "Wave 'later' does not exist; the waves are: after, before" in err
    code, _, err = run(capsys, loaded.root, "score", "--out", str(tmp_path / "s.xlsx"))
    assert code == 2 and "must end in .csv or .parquet" in err
    code, _, err = run(capsys, loaded.root, "score", "--out", str(out_path), "--group", "norm-1",
                       "--wave", "after")
    assert code == 2 and "No responses in the database" in err


# -- groups, instruments ---------------------------------------------------------------------------
def test_groups_empty_and_unknown_cohort(tmp_path, loaded, capsys):
    (tmp_path / "empty").mkdir()
    code, out, _ = run(capsys, tmp_path / "empty", "groups")
    assert code == 0 and "No groups yet" in out
    code, _, err = run(capsys, loaded.root, "groups", "--cohort", "kull-9")
    assert code == 2 and "Cohort 'kull-9' does not exist; the cohorts are: kull-1" in err
    code, out, _ = run(capsys, loaded.root, "groups", "--cohort", "kull-1")
    assert code == 0 and "norm-1" not in out
    assert "2 groups (2 in the programme, 0 in the norm base), 23 respondents" in out


def test_instruments_list_and_describe(tmp_path, capsys):
    code, out, _ = run(capsys, tmp_path, "instruments")
    assert code == 0 and "lagprofil (version" in out and "pulse (version" in out
    code, out, _ = run(capsys, tmp_path, "instruments", "lagprofil")
    assert code == 0 and "Q01" in out and "(reversed)" in out and "O3" in out
    code, _, err = run(capsys, tmp_path, "instruments", "nosuch")
    assert code == 2 and "Instrument 'nosuch' not found" in err


# -- errors and plumbing ---------------------------------------------------------------------------
def test_unexpected_error_gives_short_message_and_log(tmp_path, capsys, monkeypatch):
    def boom(args, settings):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(cli, "cmd_groups", boom)
    code, out, err = run(capsys, tmp_path, "groups")
    assert code == 1 and "ZeroDivisionError" in err and "Traceback" not in err
    log = tmp_path / "var" / "logs" / "kit.log"
    assert str(log) in err and "Traceback" in log.read_text(encoding="utf-8")


def test_bad_setting_is_a_user_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("KIT_MIN_RESPONDENTS", "2")
    code, _, err = run(capsys, tmp_path, "groups")
    assert code == 2 and "min_respondents must be at least 3" in err


def test_no_command_shows_usage(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["--language", "en"])
    assert info.value.code == 2 and "usage: kit" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        cli.main([])  # bokmål by default
    err = capsys.readouterr().err
    assert info.value.code == 2 and "bruk: kit" in err
    assert "kit: feil: disse argumentene mangler: COMMAND" in err and "usage" not in err


def test_demo_in_process_with_steps(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cli, "DEMO_STEPS", {})
    ran = []
    cli.add_demo_step("serve", "probe-serve", lambda a, s, summary: ran.append("serve"))
    cli.add_demo_step("reports", "probe-reports", lambda a, s, summary: ran.append("reports"))
    cli.add_demo_step("extra", "probe-extra", lambda a, s, summary: ran.append(summary.seed))
    code, out, err = run(capsys, tmp_path, "demo", "--small", "--seed", "4", "--no-reports",
                         "--no-serve")
    assert code == 0, err
    assert "Demo programme made (seed 4): 4 cohorts, 16 leadership teams" in out
    assert "12 teams in the norm base" in out and "imported:" in out
    assert "Groups below the anonymity threshold (5 responses)" in out
    assert "Scored:" in out and "ICC(1) from" in out and "Change before-after" in out
    assert "Skipped: probe-serve (--no-serve)" in out and "Skipped: probe-reports" in out
    assert ran == [4]
    code, out, _ = run(capsys, tmp_path, "demo", "--small", "--seed", "4", "--no-reports",
                       "--no-serve")
    assert code == 0 and "was imported before; nothing changed" in out
    code, _, err = run(capsys, tmp_path, "demo", "--small", "--seed", "5", "--no-reports",
                       "--no-serve")
    assert code == 2 and "kit demo --reset" in err
    code, out, _ = run(capsys, tmp_path, "demo", "--small", "--seed", "5", "--reset",
                       "--no-reports", "--no-serve")
    assert code == 0 and "The database was emptied" in out and "seed 5" in out


# -- the real command, once per subcommand ---------------------------------------------------------
def test_every_subcommand_as_a_process(mini_project, tmp_path):
    home = mini_project.root
    p = run_process(home, "programme", "load", str(mini_project.programme_path))
    assert p.returncode == 0 and "was saved" in p.stdout, p.stderr
    p = run_process(home, "validate", str(mini_project.export_path))
    assert p.returncode == 0 and "OK:" in p.stdout, p.stderr
    p = run_process(home, "import", str(mini_project.export_path))
    assert p.returncode == 0 and "Imported: 31" in p.stdout, p.stderr
    p = run_process(home, "groups")
    assert p.returncode == 0 and "mini-a" in p.stdout
    p = run_process(home, "score", "--out", str(tmp_path / "s.csv"))
    assert p.returncode == 0 and (tmp_path / "s.csv").is_file(), p.stderr
    p = run_process(home, "instruments")
    assert p.returncode == 0 and "lagprofil" in p.stdout
    bad = bad_export(tmp_path / "bad.csv", mini_project.export_path)
    p = run_process(home, "validate", str(bad))
    assert p.returncode == 2 and "3 problems found" in p.stdout
    p = run_process(home, "score", "--out", str(tmp_path / "s.csv"), "--group", "nope")
    assert p.returncode == 2 and "Group 'nope' does not exist" in p.stderr
    assert "Traceback" not in p.stderr


def test_demo_as_a_process(tmp_path):
    p = run_process(tmp_path, "demo", "--small", "--seed", "2", "--no-reports", "--no-serve")
    assert p.returncode == 0, p.stderr
    assert "Demo programme made (seed 2)" in p.stdout
    assert (tmp_path / "var" / "demo" / "lagprofil-after.csv").is_file()
    assert (tmp_path / "var" / "kit.sqlite").is_file()


def test_database_url_option(mini_project, capsys, tmp_path):
    db = tmp_path / "elsewhere.sqlite"
    code, out, _ = run(capsys, mini_project.root, "--database-url", f"sqlite:///{db}",
                       "programme", "load", str(mini_project.programme_path))
    assert code == 0 and db.is_file()
    assert not (mini_project.root / "var" / "kit.sqlite").exists()
    code, _, err = run(capsys, mini_project.root, "--database-url", "nosuchdb://x", "groups")
    assert code == 2 and "Cannot use database URL" in err


@pytest.mark.postgres
def test_import_and_score_on_postgres(mini_project, capsys, tmp_path):
    import uuid
    from urllib.parse import quote

    from sqlalchemy import create_engine, text

    base = os.environ["KIT_TEST_POSTGRES_URL"]
    schema = f"cli_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = f"{base}{'&' if '?' in base else '?'}options={quote(f'-csearch_path={schema}')}"
    try:
        home = mini_project.root
        for args in (("programme", "load", str(mini_project.programme_path)),
                     ("import", str(mini_project.export_path)),
                     ("score", "--out", str(tmp_path / "pg.csv"))):
            code, out, err = run(capsys, home, "--database-url", url, *args)
            assert code == 0, err
        assert len(pd.read_csv(tmp_path / "pg.csv")) == 5 * 16
    finally:
        from kit.store import _STORES

        store = _STORES.pop(url, None)
        if store is not None:
            store.engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
