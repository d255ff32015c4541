"""The ``kit`` command, in-process (``main(argv)``) and as a real process, incl. user mistakes."""

from __future__ import annotations

import os
import re
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
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )


@pytest.fixture
def loaded(mini_project, capsys):
    """The mini project with its programme loaded and its export imported."""
    home = mini_project.root
    assert run(capsys, home, "programme", "load", str(mini_project.programme_path))[0] == 0
    assert run(capsys, home, "import", str(mini_project.export_path))[0] == 0
    code, out, err = run(capsys, home, "publish", "--close", "--wave", "before", "--wave", "after")
    assert code == 0 and "Published: 5" in out, err
    return mini_project


def bad_export(path: Path, source: Path) -> Path:
    """The mini export with an out-of-range answer, a text answer and an unknown group."""
    frame = pd.read_csv(source, sep=";", dtype=str, keep_default_na=False, encoding="utf-8-sig")
    frame.loc[2, "Q07"] = "9"
    frame.loc[4, "Q10"] = "mye"
    frame.loc[5, "group"] = "mini-x"
    frame.to_csv(path, sep=";", index=False, encoding="utf-8-sig")
    return path


# -- programme ------------------------------------------------------------------------------------
def test_programme_load(mini_project, capsys):
    code, out, _ = run(
        capsys, mini_project.root, "programme", "load", str(mini_project.programme_path), "--check"
    )
    assert code == 0 and "is valid: 2 waves, 1 cohorts, 3 groups (1 in the norm base)" in out
    code, out, _ = run(
        capsys, mini_project.root, "programme", "load", str(mini_project.programme_path)
    )
    assert code == 0 and "was saved" in out
    code, out, _ = run(capsys, mini_project.root, "groups")
    assert code == 0 and "mini-a" in out and "norm-1" in out


def test_programme_load_bad_file_lists_every_problem(tmp_path, capsys):
    path = tmp_path / "programme.yaml"
    path.write_text(
        "waves: [before]\ncohorts:\n  - id: k 1\n    groups:\n"
        "      - {id: a, invited: {after: 3}}\n",
        encoding="utf-8",
    )
    code, out, err = run(capsys, tmp_path, "programme", "load", str(path))
    assert code == 2 and out == ""
    assert "programme.yaml: 4 problems found" in err
    assert "row  column" in err and "cohorts[0].groups[0].invited" in err
    assert "Traceback" not in err


def test_programme_load_missing_file(tmp_path, capsys):
    code, _, err = run(capsys, tmp_path, "programme", "load", str(tmp_path / "nope.yaml"))
    assert code == 2 and "Programme file" in err and "not found" in err


# -- validate -------------------------------------------------------------------------------------
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
    code, _, err = run(
        capsys,
        mini_project.root,
        "validate",
        str(mini_project.export_path),
        "--instrument",
        "nosuch",
    )
    assert code == 2 and "Instrument 'nosuch' not found" in err and "lagprofil" in err


# -- import ---------------------------------------------------------------------------------------
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


# -- score ----------------------------------------------------------------------------------------
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
    code, out, _ = run(
        capsys, loaded.root, "score", "--out", str(out_path), "--wave", "after", "--group", "mini-a"
    )
    assert code == 0 and set(pd.read_csv(out_path)["group"]) == {"mini-a"}
    code, _, err = run(capsys, loaded.root, "score", "--out", str(out_path), "--group", "nope")
    assert code == 2 and "Group 'nope' does not exist" in err
    code, _, err = run(capsys, loaded.root, "score", "--out", str(out_path), "--wave", "later")
    assert code == 2 and "Wave 'later' does not exist; the waves are: after, before" in err
    code, _, err = run(capsys, loaded.root, "score", "--out", str(tmp_path / "s.xlsx"))
    assert code == 2 and "must end in .csv or .parquet" in err
    code, _, err = run(
        capsys, loaded.root, "score", "--out", str(out_path), "--group", "norm-1", "--wave", "after"
    )
    assert code == 2 and "No responses in the database" in err


# -- groups, instruments --------------------------------------------------------------------------
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


# -- errors and plumbing --------------------------------------------------------------------------
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
    code, out, err = run(
        capsys, tmp_path, "demo", "--small", "--seed", "4", "--no-reports", "--no-serve"
    )
    assert code == 0, err
    assert "Demo programme made (seed 4): 4 cohorts, 16 leadership teams" in out
    assert "12 teams in the norm base" in out and "imported:" in out
    assert "Groups below the anonymity threshold (5 responses)" in out
    assert "Scored:" in out and "ICC(1) from" in out and "Change before-after" in out
    assert "Skipped: probe-serve (--no-serve)" in out and "Skipped: probe-reports" in out
    assert ran == [4]
    code, out, _ = run(
        capsys, tmp_path, "demo", "--small", "--seed", "4", "--no-reports", "--no-serve"
    )
    assert code == 0 and "was imported before; nothing changed" in out
    code, _, err = run(
        capsys, tmp_path, "demo", "--small", "--seed", "5", "--no-reports", "--no-serve"
    )
    assert code == 2 and "kit demo --reset" in err
    code, out, _ = run(
        capsys, tmp_path, "demo", "--small", "--seed", "5", "--reset", "--no-reports", "--no-serve"
    )
    assert code == 0 and "The database was emptied" in out and "seed 5" in out


# -- the real command, once per subcommand --------------------------------------------------------
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
    assert p.returncode == 2 and "No published results" in p.stderr, p.stderr
    p = run_process(home, "waves", "close", "mini-a", "before")
    assert p.returncode == 0 and "mini-a (before): published as version 1" in p.stdout, p.stderr
    p = run_process(home, "publish")
    assert p.returncode == 0 and "unchanged since version 1" in p.stdout, p.stderr
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
    code, out, _ = run(
        capsys,
        mini_project.root,
        "--database-url",
        f"sqlite:///{db}",
        "programme",
        "load",
        str(mini_project.programme_path),
    )
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
        for args in (
            ("programme", "load", str(mini_project.programme_path)),
            ("import", str(mini_project.export_path)),
            ("publish", "--close", "--wave", "before", "--wave", "after"),
            ("score", "--out", str(tmp_path / "pg.csv")),
        ):
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


# -- imports that agree with themselves (validate = import), on SQLite and PostgreSQL -------------
MAPPING = Path(__file__).parents[2] / "kit" / "data" / "mappings" / "example_surveytool.yaml"


@pytest.fixture
def db_url(any_store):
    """The URL of an empty store (SQLite or PostgreSQL) for the CLI; its engines closed after."""
    from kit.store import _STORES

    yield any_store.url
    store = _STORES.pop(any_store.url, None)
    if store is not None:
        store.engine.dispose()


def kit(capsys, home: Path, url: str, *args: str, lang: str = "en") -> tuple[int, str, str]:
    code = cli.main(["--home", str(home), "--language", lang, "--database-url", url, *args])
    out, err = capsys.readouterr()
    return code, out, err


def survey_tool_export(
    source: Path, path: Path, blank_before: int | None = None, edit=None
) -> pd.DataFrame:
    """The mini export as a survey tool writes it (headers 'Respondent ID', 'Spm 1', ...)."""
    frame = pd.read_csv(source, sep=";", dtype=str, keep_default_na=False, encoding="utf-8-sig")
    names = {"respondent": "Respondent ID", "group": "Team", "wave": "Måling", "role": "Rolle"}
    names.update({f"Q{n:02d}": f"Spm {n}" for n in range(1, 100)})
    names.update({f"O{n}": f"Kommentar {n}" for n in range(1, 10)})
    frame = frame.rename(columns=names)
    if edit is not None:
        frame = edit(frame)
    lines = frame.to_csv(sep=";", index=False).splitlines()
    if blank_before is not None:  # a blank line before file row ``blank_before``
        lines.insert(blank_before - 1, "")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return frame


def problem_lines(text: str) -> list[str]:
    """The rows of the problem table in a command's output."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("---"))
    return [line for line in lines[start + 1 :] if line[:1].isdigit()]


def late_reply(frame: pd.DataFrame) -> pd.DataFrame:
    """One late reply (a new respondent in mini-a, after) and one changed answer (row 3)."""
    late = frame.iloc[[8]].copy()
    late["Respondent ID"] = "r900"
    frame = pd.concat([frame, late], ignore_index=True)
    frame.loc[1, "Spm 3"] = "1" if frame.loc[1, "Spm 3"] != "1" else "2"
    return frame


def test_updated_export_adds_only_new_respondents(mini_project, db_url, capsys, tmp_path):
    home = mini_project.root
    assert kit(capsys, home, db_url, "programme", "load", str(mini_project.programme_path))[0] == 0
    first = tmp_path / "export.csv"
    survey_tool_export(mini_project.export_path, first)
    code, out, err = kit(capsys, home, db_url, "import", str(first), "--mapping", str(MAPPING))
    assert code == 0, err
    assert "Imported: 31 respondents" in out

    # The re-export: one late reply, one changed answer, a blank line before file row 3.
    again = tmp_path / "export-2.csv"
    survey_tool_export(mini_project.export_path, again, blank_before=3, edit=late_reply)
    code, v_out, _ = kit(capsys, home, db_url, "validate", str(again), "--mapping", str(MAPPING))
    assert code == 2
    code, _, i_err = kit(capsys, home, db_url, "import", str(again), "--mapping", str(MAPPING))
    assert code == 2
    # The same verdict, the same rows and headers: row 4 (after the blank line), 'Respondent ID'.
    assert problem_lines(v_out) == problem_lines(i_err)
    (line,) = problem_lines(i_err)
    assert line.startswith("4    Respondent ID  r002")
    assert "already stored for group 'mini-a', wave 'before' with different answers (Spm 3)" in line
    assert "respondent  " not in i_err  # the file's header, never the canonical name
    code, _, nb_err = kit(
        capsys, home, db_url, "import", str(again), "--mapping", str(MAPPING), lang="nb"
    )
    assert code == 2 and "er allerede lagret for gruppe 'mini-a', måling 'before'" in nb_err
    assert nb_err.startswith("Feil: export-2.csv: 1 problem funnet; ingenting ble endret.")
    assert "rad  kolonne" in nb_err and "row" not in nb_err

    # --drop-invalid: the late reply is added, the changed row left out, the rest skipped.
    code, out, err = kit(
        capsys, home, db_url, "import", str(again), "--mapping", str(MAPPING), "--drop-invalid"
    )
    assert code == 0, err
    assert "Rows left out: 4." in out
    assert "Imported: 1 new respondents from export-2.csv" in out
    assert "30 were stored before with the same answers" in out
    gw = open_store_at(db_url).list_group_waves().set_index(["group_id", "wave_id"])
    assert int(gw.loc[("mini-a", "after"), "respondents"]) == 7
    # The stored answer of r002 was not overwritten.
    code, out, _ = kit(capsys, home, db_url, "validate", str(first), "--mapping", str(MAPPING))
    assert code == 0 and "has no new respondents; all 31 are stored before" in out
    code, out, _ = kit(capsys, home, db_url, "import", str(first), "--mapping", str(MAPPING))
    assert code == 0 and "was imported before" in out


def open_store_at(url: str):
    from kit.settings import load_settings
    from kit.store import open_store

    return open_store(load_settings(database_url=url))


def test_validate_says_what_import_says_of_a_late_reply(mini_project, db_url, capsys, tmp_path):
    home = mini_project.root
    kit(capsys, home, db_url, "programme", "load", str(mini_project.programme_path))
    kit(capsys, home, db_url, "import", str(mini_project.export_path))
    frame = pd.read_csv(
        mini_project.export_path, sep=";", dtype=str, keep_default_na=False, encoding="utf-8-sig"
    )
    late = frame.iloc[[8]].assign(respondent="r900")
    path = tmp_path / "late.csv"
    pd.concat([frame, late]).to_csv(path, sep=";", index=False)
    code, out, _ = kit(capsys, home, db_url, "validate", str(path))
    assert code == 0
    assert (
        "OK: late.csv can be imported: 1 new respondents, 1 groups, waves: after; 31 are "
        "stored before with the same answers and will be skipped."
    ) in out
    code, out, _ = kit(capsys, home, db_url, "validate", str(path), lang="nb")
    assert code == 0 and "1 nye respondenter" in out and "31 er lagret fra før" in out
    code, out, _ = kit(capsys, home, db_url, "import", str(path))
    assert code == 0 and "Imported: 1 new respondents from late.csv" in out


def test_wave_not_given_refused_and_more_than_invited_warned(
    mini_project, db_url, capsys, tmp_path
):
    home = mini_project.root
    kit(capsys, home, db_url, "programme", "load", str(mini_project.programme_path))
    frame = pd.read_csv(
        mini_project.export_path, sep=";", dtype=str, keep_default_na=False, encoding="utf-8-sig"
    )
    norm_after = frame[frame["group"] == "norm-1"].head(2).assign(wave="after")
    norm_after["respondent"] = ["n1", "n2"]
    extra = frame[(frame["group"] == "mini-b") & (frame["wave"] == "before")].head(2).copy()
    extra["respondent"] = ["x1", "x2"]  # mini-b before: 6 invited, now 8
    wrong = tmp_path / "wrong.csv"
    pd.concat([frame, norm_after]).to_csv(wrong, sep=";", index=False)
    for command in ("validate", "import"):
        code, out, err = kit(capsys, home, db_url, command, str(wrong))
        assert code == 2
        text = out + err
        assert len(problem_lines(text)) == 2
        assert (
            "group 'norm-1' does not take part in wave 'after' in the programme (its waves: before)"
        ) in text
        code, out, err = kit(capsys, home, db_url, command, str(wrong), lang="nb")
        assert "gruppen 'norm-1' er ikke med i målingen 'after' i programmet" in out + err
    many = tmp_path / "many.csv"
    pd.concat([frame, extra]).to_csv(many, sep=";", index=False)
    warning = (
        "group 'mini-b', wave 'before': 8 respondents (counting those stored before), but "
        "only 6 invited in the programme"
    )
    code, out, _ = kit(capsys, home, db_url, "validate", str(many))
    assert code == 0 and "Warnings:" in out and warning in out
    code, out, _ = kit(capsys, home, db_url, "validate", str(many), lang="nb")
    assert code == 0 and "Advarsler:" in out and "men bare 6 er invitert" in out
    code, out, _ = kit(capsys, home, db_url, "import", str(many))
    assert code == 0 and warning in out and "Imported: 33 respondents" in out


def test_short_row_refused_by_name(mini_project, capsys, tmp_path):
    home = mini_project.root
    run(capsys, home, "programme", "load", str(mini_project.programme_path))
    lines = mini_project.export_path.read_text(encoding="utf-8-sig").splitlines()
    width = len(lines[0].split(";"))
    lines[5] = ";".join(lines[5].split(";")[:36])  # file row 6 cut after 36 cells
    lines.insert(2, "")  # a blank line: the cut row is now file row 7
    path = tmp_path / "cut.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    expected = f"the row has 36 cells but the header has {width}; the row was cut short"
    code, out, _ = run(capsys, home, "validate", str(path))
    assert code == 2 and problem_lines(out)[0].startswith("7 ") and expected in out
    code, _, err = run(capsys, home, "import", str(path))
    assert code == 2 and problem_lines(err)[0].startswith("7 ") and expected in err
    code, _, err = cli_nb(capsys, home, "import", str(path))
    assert code == 2 and f"raden har 36 celler, men overskriftsraden har {width}" in err
    code, out, _ = run(capsys, home, "import", str(path), "--drop-invalid")
    assert code == 0 and "Rows left out: 7." in out and "Imported: 30 respondents" in out


def cli_nb(capsys, home: Path, *args: str) -> tuple[int, str, str]:
    code = cli.main(["--home", str(home), "--language", "nb", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_missing_item_column_named_by_the_files_header(mini_project, capsys, tmp_path):
    home = mini_project.root
    run(capsys, home, "programme", "load", str(mini_project.programme_path))
    path = tmp_path / "no-spm1.csv"
    survey_tool_export(mini_project.export_path, path, edit=lambda f: f.drop(columns="Spm 1"))
    code, out, _ = run(capsys, home, "validate", str(path), "--mapping", str(MAPPING))
    assert code == 2 and "are missing: Spm 1;" in out and "Q01" not in out
    code, _, err = cli_nb(capsys, home, "import", str(path), "--mapping", str(MAPPING))
    assert code == 2 and "mangler: Spm 1;" in err and "Q01" not in err
    path = tmp_path / "no-id.csv"
    survey_tool_export(
        mini_project.export_path, path, edit=lambda f: f.drop(columns="Respondent ID")
    )
    code, out, _ = run(capsys, home, "validate", str(path), "--mapping", str(MAPPING))
    assert code == 2 and "the column 'Respondent ID' is missing" in out


# -- a user's mistakes are never crashes, and never hang ------------------------------------------
def test_a_home_must_exist(tmp_path, mini_project, capsys):
    typo = tmp_path / "hjem-med-skrivefeil"
    code, out, err = run(capsys, typo, "groups")
    assert code == 2 and out == ""
    assert f"The home directory {typo} does not exist. Check --home (or KIT_HOME) for a typo" in err
    assert not typo.exists()  # no new, empty database
    code, _, err = cli_nb(capsys, typo, "import", str(mini_project.export_path))
    assert code == 2 and err.startswith(f"Feil: Hjemmemappen {typo} finnes ikke.")
    assert not typo.exists()
    # The first step of a new programme makes the home, and says so.
    code, out, err = run(capsys, typo, "programme", "load", str(mini_project.programme_path))
    assert code == 0 and f"Made a new home directory: {typo}" in err and "was saved" in out
    assert (typo / "var" / "kit.sqlite").is_file()
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    code, _, err = run(capsys, a_file, "groups")
    assert code == 2 and "is a file, not a directory" in err


def test_unwritable_out_and_home_are_user_mistakes(loaded, capsys, tmp_path):
    # /sys refuses every write, even root's (tests may run as root, where chmod does not bind).
    code, out, err = run(capsys, loaded.root, "score", "--out", "/sys/kit-test/scores.csv")
    assert code == 2 and out == ""
    assert err.startswith("Error: /sys/kit-test: permission denied. Choose a folder you can write")
    assert "Traceback" not in err and "kit.log" not in err
    code, _, err = cli_nb(capsys, loaded.root, "score", "--out", "/sys/kit-test/scores.csv")
    assert code == 2 and "/sys/kit-test: ingen tilgang. Velg en mappe du kan skrive i" in err
    code, _, err = run(capsys, Path("/sys"), "groups")  # a home that exists but cannot be written
    assert code == 2
    assert "The database's folder /sys/var cannot be created" in err and "--home DIR" in err
    code, _, err = run(
        capsys, Path("/sys/kit-new"), "programme", "load", str(loaded.programme_path)
    )
    assert code == 2
    assert "The home directory /sys/kit-new cannot be created (permission denied)" in err


def test_a_database_that_never_answers_times_out(tmp_path, capsys):
    """A server that accepts the connection and says nothing: a clear message within 15 s."""
    import socket
    import threading
    import time

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    accepted = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])  # and never answer
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    port = server.getsockname()[1]
    url = f"postgresql+psycopg://kit:kit@127.0.0.1:{port}/kit"
    try:
        for lang, text in (("en", "did not answer within 8 s"), ("nb", "svarte ikke innen 8 s")):
            start = time.monotonic()  # in the process: the machine may be slow to start Python
            code = cli.main(
                ["--home", str(tmp_path), "--language", lang, "--database-url", url, "groups"]
            )
            elapsed = time.monotonic() - start
            err = capsys.readouterr().err
            assert code == 2, err
            assert text in err and "Traceback" not in err
            assert elapsed < 15, f"took {elapsed:.1f} s"
        assert accepted  # the server did accept: the wait was for an answer
    finally:
        stop.set()
        thread.join(timeout=5)
        for conn in accepted:
            conn.close()
        server.close()


def test_a_locked_sqlite_database_is_a_clear_message(mini_project, capsys):
    import sqlite3
    import time

    home = mini_project.root
    run(capsys, home, "programme", "load", str(mini_project.programme_path))
    lock = sqlite3.connect(home / "var" / "kit.sqlite", timeout=1)
    lock.execute("BEGIN EXCLUSIVE")
    try:
        start = time.monotonic()
        code, _, err = run(capsys, home, "import", str(mini_project.export_path))
        elapsed = time.monotonic() - start
    finally:
        lock.rollback()
        lock.close()
    assert code == 2, err
    assert "is busy (locked by another program) and was not free within 8 s" in err
    assert elapsed < 15, f"took {elapsed:.1f} s"
    code, out, _ = run(capsys, home, "import", str(mini_project.export_path))
    assert code == 0 and "Imported: 31 respondents" in out


# -- every message in the user's language ---------------------------------------------------------
def test_language_en_never_says_feil(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("KIT_MIN_RESPONDENTS", "2")
    code, _, err = run(capsys, tmp_path, "groups")
    assert code == 2 and err.startswith("Error: ") and "Feil" not in err
    monkeypatch.setenv("KIT_LANGUAGE", "en")
    code = cli.main(["--home", str(tmp_path), "groups"])
    assert code == 2 and capsys.readouterr().err.startswith("Error: ")


def test_argparse_speaks_the_users_language(tmp_path, capsys):
    with pytest.raises(SystemExit):
        cli.main(["--language", "nb", "validate"])
    err = capsys.readouterr().err
    assert "bruk: kit validate" in err and "disse argumentene mangler: file" in err
    assert "usage" not in err and "required" not in err
    with pytest.raises(SystemExit):
        cli.main(["--language", "en", "validate"])
    assert "the following arguments are required: file" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["--language=nb", "sc0re"])
    assert "ugyldig valg: 'sc0re'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        cli.main(["--language", "nb", "import", "--help"])
    out = capsys.readouterr().out
    assert info.value.code == 0
    assert "posisjonsargumenter" in out and "vis denne hjelpen og avslutt" in out
    assert "utelat rader med problemer" in out and "options" not in out
    with pytest.raises(SystemExit):
        cli.main(["--language", "nb", "score", "--out", "x.csv", "--wave"])
    assert "argument --wave: ventet ett argument" in capsys.readouterr().err


def test_problem_tables_and_hints_in_bokmal(loaded, capsys, tmp_path):
    path = bad_export(tmp_path / "bad.csv", loaded.export_path)
    code, out, _ = cli_nb(capsys, loaded.root, "validate", str(path))
    assert code == 2
    assert re.search(r"\nrad  kolonne  verdi +problem\n", out)
    assert "er utenfor skalaen 1-7 i instrumentet 'lagprofil'" in out
    assert "er ikke et tall på skalaen 1-7" in out and "er ikke en kjent gruppe" in out
    code, _, err = cli_nb(capsys, loaded.root, "import", str(path))
    assert code == 2 and "Rett de listede cellene i filen" in err and "Correct" not in err
    code, _, err = cli_nb(capsys, loaded.root, "validate", str(tmp_path / "finnes-ikke.csv"))
    assert code == 2 and "finnes ikke; sjekk stien" in err
    code, _, err = cli_nb(capsys, loaded.root, "score", "--out", "x.csv", "--wave", "senere")
    assert code == 2 and "Målingen 'senere' finnes ikke; målingene er: after, before." in err
    code, _, err = cli_nb(capsys, loaded.root, "--database-url", "nosuchdb://x", "groups")
    assert code == 2 and "Database-URL-en 'nosuchdb://x' kan ikke brukes" in err


def test_progress_bar_in_a_terminal_only(mini_project, monkeypatch, capsys):
    import io

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    home = mini_project.root
    run(capsys, home, "programme", "load", str(mini_project.programme_path))
    monkeypatch.setattr(cli, "PROGRESS_FROM", 0)
    monkeypatch.setattr(cli, "READING_FROM", 0)
    for quiet, path in ((True, "quiet.csv"), (False, "loud.csv")):
        frame = pd.read_csv(
            mini_project.export_path,
            sep=";",
            dtype=str,
            keep_default_na=False,
            encoding="utf-8-sig",
        )
        frame["respondent"] = frame["respondent"] + path[0]
        frame.to_csv(home / path, sep=";", index=False)
        terminal = Terminal()
        monkeypatch.setattr(sys, "stderr", terminal)
        code = cli.main(
            [
                "--home",
                str(home),
                "--language",
                "nb",
                *(["--quiet"] * quiet),
                "import",
                str(home / path),
            ]
        )
        monkeypatch.setattr(sys, "stderr", sys.__stderr__)
        assert code == 0
        assert ("lagrer" in terminal.getvalue()) is not quiet
        assert ("31/31" in terminal.getvalue()) is not quiet
        assert (f"Leser og sjekker {path}" in terminal.getvalue()) is not quiet
    capsys.readouterr()


# Each family of commands, in both languages: (argv, what nb says, what en says). The home holds a
# loaded programme (group g1, waves before and after) and nothing else.
FAMILIES = {
    "programme": (
        ["programme", "load", "typo.yaml"],
        "er ikke en kjent nøkkel (mente du ordinal?)",
        "is not a known key (did you mean ordinal?)",
    ),
    "validate": (["validate", "nope.csv"], "finnes ikke; sjekk stien", "not found; check the path"),
    "import": (["import", "short.csv"], "rad  kolonne", "row  column"),
    "score": (
        ["score", "--out", "x.txt"],
        "filen må slutte på .csv eller .parquet",
        "must end in .csv or .parquet",
    ),
    "groups": (["groups", "--cohort", "k9"], "Kullet 'k9' finnes ikke", "Cohort 'k9' does not"),
    "publish": (["publish", "--group", "g9"], "Gruppen 'g9' finnes ikke", "Group 'g9' does not"),
    "waves": (["waves", "close", "g1", "later"], "finnes ikke", "does not exist"),
    "instruments": (
        ["instruments", "nope"],
        "Instrumentet 'nope' finnes ikke",
        "Instrument 'nope' not found",
    ),
    "report": (["report", "nope.yaml"], "finnes ikke", "does not exist"),
    "keys": (
        ["keys", "revoke", "99"],
        "Det finnes ingen tilgangsnøkkel med id 99",
        "There is no access key with id 99",
    ),
    "invitations": (
        ["invitations", "create", "g9", "before", "--count", "2"],
        "Gruppen 'g9' finnes ikke",
        "Group 'g9' does not exist",
    ),
    "serve": (
        ["serve", "--port", "0"],
        "Ugyldige innstillinger: port må være 1-65535, ikke 0",
        "Invalid settings: port must be 1-65535, not 0",
    ),
    "session": (
        ["session", "create"],
        "disse argumentene mangler: --title",
        "the following arguments are required: --title",
    ),
}


@pytest.fixture
def small_home(tmp_path, capsys):
    (tmp_path / "programme.yaml").write_text(
        "programme: P\nwaves:\n  - {id: before, ordinal: 1}\n  - {id: after, ordinal: 2}\n"
        "cohorts:\n  - id: k1\n    name: Kull 1\n    groups:\n"
        "      - {id: g1, name: Gruppe 1, invited: {before: 6, after: 6}}\n",
        encoding="utf-8",
    )
    (tmp_path / "typo.yaml").write_text(
        "programme: P\nwaves:\n  - {id: before, ordnial: 1}\n", encoding="utf-8"
    )
    items = ";".join(f"Q{i:02d}" for i in range(1, 66))
    (tmp_path / "short.csv").write_text(
        f"respondent;group;wave;{items}\nr1;g1;before;3;4\n", encoding="utf-8"
    )
    assert run(capsys, tmp_path, "programme", "load", str(tmp_path / "programme.yaml"))[0] == 0
    return tmp_path


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_every_family_of_commands_speaks_the_users_language(
    family, small_home, capsys, monkeypatch
):
    argv, nb, en = FAMILIES[family]
    monkeypatch.chdir(small_home)
    said = {}
    for lang in ("nb", "en"):
        try:
            code = cli.main(["--home", str(small_home), "--language", lang, *argv])
        except SystemExit as exc:  # argparse's own refusal
            code = exc.code
        out, err = capsys.readouterr()
        said[lang] = out + err
        assert code == 2, said[lang]
        assert "Traceback" not in said[lang]
    assert nb in said["nb"] and en not in said["nb"], said["nb"]
    assert en in said["en"] and nb not in said["en"], said["en"]
    assert said["nb"].startswith(("Feil: ", "bruk: ")) or "\nFeil: " in said["nb"]
    assert "Feil" not in said["en"] and "bruk" not in said["en"]


def test_the_help_of_every_command_is_in_the_users_language(capsys):
    for lang, words in (
        ("nb", ("vis denne hjelpen", "bruk: kit")),
        ("en", ("show this help", "usage: kit")),
    ):
        parser = cli.build_parser(lang)
        assert cli.untranslated_help(parser, lang) == [], lang
        commands = sorted(parser._subparsers._group_actions[0].choices)
        assert {"report", "session", "keys", "invitations", "serve", "publish", "waves"} <= set(
            commands
        )
        for command in commands:
            with pytest.raises(SystemExit) as info:
                cli.main(["--language", lang, command, "--help"])
            out = capsys.readouterr().out
            assert info.value.code == 0
            assert all(w in out for w in words), (lang, command, out)
    with pytest.raises(SystemExit):
        cli.main(["--language", "nb", "serve", "--help"])
    out = capsys.readouterr().out
    assert "adressen serveren lytter på" in out and "address to listen on" not in out
    with pytest.raises(SystemExit):
        cli.main(["--language", "nb", "report", "--help"])
    out = capsys.readouterr().out
    assert "lag alle rapportene på nytt" in out and "remake every report" not in out


def test_a_help_text_without_a_translation_is_found():
    parser = cli.build_parser("nb")
    sub = parser._subparsers._group_actions[0].choices["groups"]
    sub.add_argument("--brand-new", help="a text nobody translated")
    assert cli.untranslated_help(parser, "nb") == ["a text nobody translated"]


@pytest.mark.parametrize(
    ("lang", "said"),
    [
        (
            "nb",
            "Feil: Mappen for databasen, /sys/var, kan ikke lages (ingen tilgang). Velg et hjem",
        ),
        (
            "en",
            "Error: The database's folder /sys/var cannot be created (permission denied). Choose",
        ),
    ],
)
def test_a_home_one_cannot_write_says_what_to_do(capsys, lang, said):
    # /sys refuses every write, even root's: a read-only home as a user would meet it.
    code = cli.main(["--home", "/sys", "--language", lang, "groups"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith(said), err


@pytest.mark.postgres
def test_a_postgres_table_locked_by_another_program_is_a_clear_message(any_store, tmp_path, capsys):
    """A database that answers the connection but keeps a statement waiting: 8 s, then a message."""
    import time

    from kit.store import _STORES

    if not any_store.url.startswith("postgresql"):
        pytest.skip("SQLite's lock is the test above")
    other = any_store.engine.connect()
    other.exec_driver_sql("BEGIN")
    other.exec_driver_sql("LOCK TABLE groups, responses IN ACCESS EXCLUSIVE MODE")
    try:
        for lang, said in (
            ("en", "is busy (locked by another program) and was not free within"),
            ("nb", "er opptatt (låst av et annet program) og ble ikke ledig på"),
        ):
            start = time.monotonic()
            code, _, err = kit(capsys, tmp_path, any_store.url, "groups", lang=lang)
            elapsed = time.monotonic() - start
            assert code == 2 and said in err and "Traceback" not in err, err
            assert elapsed < 15, f"took {elapsed:.1f} s"
    finally:
        other.exec_driver_sql("ROLLBACK")
        other.close()
        store = _STORES.pop(any_store.url, None)
        if store is not None:
            store.engine.dispose()


def test_help_starts_without_loading_the_data_libraries() -> None:
    """``kit --help`` (and building the parser every command starts with) loads neither pandas
    nor SQLAlchemy: the parts import them in the commands that use them."""
    code = (
        "import sys; from kit.cli import build_parser; build_parser('nb'); "
        "heavy = ('pandas', 'sqlalchemy', 'altair', 'tornado'); "
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "[]", done.stdout
    shown = subprocess.run(
        [sys.executable, "-m", "kit", "--help"], capture_output=True, text=True, timeout=120
    )
    assert shown.returncode == 0 and "keys" in shown.stdout and "serve" in shown.stdout
