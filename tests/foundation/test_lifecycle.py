"""The data's life on SQLite and PostgreSQL: imports undone, erasure, retention, backup and
restore, the audit log (kit.lifecycle)."""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import threading
import time

import pytest
from sqlalchemy import func, select

from kit import lifecycle
from kit.cli import main
from kit.errors import KitError, NotFoundError
from kit.ingest import read_responses
from kit.publication import publish
from kit.settings import load_settings
from kit.store import Store
from kit.store import schema as s
from kit.store.access import insert_invitations, insert_key
from kit.store.lifecycle_tables import audit_log
from kit.store.programme import parse_programme
from kit.store.publication_tables import publication_members, publications

RETENTION = "retention_months: 12\n"  # the mini programme's kull-1 ends 2025-11-07


def _load(store: Store, project, instrument) -> dict:
    """The mini project's programme (with a retention period) and export, imported; mini-a's
    wave 'before' published."""
    import pandas as pd
    import yaml

    text = project.programme_path.read_text(encoding="utf-8") + RETENTION
    store.save_programme(parse_programme(yaml.safe_load(text)))
    path = project.export_path.parent / "export.csv"
    path.write_bytes(project.export_path.read_bytes())
    table = pd.read_csv(path, sep=";", dtype=str, encoding="utf-8-sig")
    tmp_path = project.root
    result = read_responses(path, instrument, store=store)
    done = store.import_responses(result.table, instrument, result.source_hash, result.filename)
    settings = load_settings(home_dir=tmp_path, database_url=store.url)
    publish(store, settings, instrument, group_ids=["mini-a"], wave_ids=["before"], close=True)
    return {"path": path, "table": table, "import_id": done.import_id, "settings": settings}


def _n(store: Store, table, where=None) -> int:
    q = select(func.count()).select_from(table)
    with store.begin() as conn:
        return int(conn.execute(q.where(where) if where is not None else q).scalar_one())


def _view(store: Store) -> dict:
    with store.begin() as conn:
        return json.loads(conn.execute(select(publications.c.view)).scalar_one())


def _audit(store: Store) -> list[dict]:
    with store.begin() as conn:
        return [dict(r) for r in conn.execute(select(audit_log)).mappings()]


@pytest.fixture
def loaded(any_store, mini_project, instrument):
    return any_store, _load(any_store, mini_project, instrument)


def test_imports_listed_and_undone_in_one_transaction(loaded, instrument, monkeypatch):
    store, info = loaded
    listed = lifecycle.list_imports(store)
    assert listed[["filename", "rows", "stored"]].values.tolist() == [["export.csv", 31, 31]]
    assert len(listed["sha256"][0]) == 12
    plan = lifecycle.plan_undo_import(store, info["import_id"])
    assert plan.counts["responses"] == 31 and plan.counts["imports"] == 1
    # Something fails half-way: nothing at all is removed.
    monkeypatch.setattr(lifecycle, "record", lambda *a, **k: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        lifecycle.carry_out(store, plan)
    # (the answers are packed in the responses' rows: they go with them)
    assert _n(store, s.responses) == 31 and plan.counts["answers"] > 0
    assert lifecycle.plan_undo_import(store, info["import_id"]).counts == plan.counts
    monkeypatch.undo()
    lifecycle.carry_out(store, plan)
    assert _n(store, s.responses) == 0 and _n(store, s.comments) == 0
    assert not len(lifecycle.list_imports(store))
    # The published snapshot stays (so a later version is checked against it), without the
    # undone people's comments.
    assert _n(store, publications) == 1
    assert not any(_view(store)["comments"].get("by_question", {}).values())
    # The file can be imported again.
    result = read_responses(info["path"], instrument, store=store)
    assert len(result.table) == 31
    with pytest.raises(NotFoundError, match="Import 99 does not exist"):
        lifecycle.plan_undo_import(store, 99)


def test_erase_one_respondent(loaded, instrument):
    store, info = loaded
    table = info["table"]
    with store.begin() as conn:
        texts = (
            conn.execute(
                select(s.comments.c.text)
                .join(s.responses)
                .where(s.responses.c.respondent == "r001")
            )
            .scalars()
            .all()
        )
    before = _view(store)["comments"]["by_question"]
    plan = lifecycle.plan_erasure(store, respondent="r001")
    assert plan.counts["responses"] == 1 and plan.target == "all groups"
    lifecycle.carry_out(store, plan)
    assert _n(store, s.responses) == len(table) - 1
    assert _n(store, s.responses, s.responses.c.respondent == "r001") == 0
    after = _view(store)["comments"]["by_question"]
    assert not any(t in v for v in after.values() for t in texts)
    assert sum(map(len, after.values())) <= sum(map(len, before.values()))
    assert _n(store, publications) == 1 and _n(store, publication_members) == 7  # kept
    # The kept fingerprints still guard against comparing versions: a new version that differs
    # from the shown one by one person (the erased one) is held back.
    again = publish(store, info["settings"], instrument, group_ids=["mini-a"], wave_ids=["before"])
    assert again[0].status == "waiting" and again[0].version == 1 and again[0].changes == 1
    assert _n(store, publications) == 1
    with pytest.raises(NotFoundError, match="Found no respondent 'r001'"):
        lifecycle.plan_erasure(store, respondent="r001")
    with pytest.raises(NotFoundError, match="Found no respondent 'r002' \\(group mini-b\\)"):
        lifecycle.plan_erasure(store, respondent="r002", group="mini-b")


def test_an_erased_comment_leaves_every_view_at_once(loaded, instrument):
    """Erasing a person takes their comment out of the published snapshot, and every reader
    (load_scored_data's cache, a running server's pages) sees a new data version at once."""
    from kit.apps.dashboard_page import DashboardPages
    from kit.results import group_results, load_scored_data

    store, info = loaded
    settings = info["settings"]
    with store.begin() as conn:
        who, text = conn.execute(
            select(s.responses.c.respondent, s.comments.c.text)
            .join(s.responses)
            .where(s.responses.c.group_id == "mini-a", s.responses.c.wave_id == "before")
            .order_by(s.responses.c.respondent, s.comments.c.question_id)
        ).first()

    def shown() -> list[str]:
        data = load_scored_data(store, settings, instrument)
        res = group_results(store, settings, "mini-a", ["before"], "en", instrument, data=data)
        return [t for c in res.comments for t in c["texts"]]

    pages = DashboardPages(settings, builders=0, version_ttl=0)
    assert text in shown()
    assert text in pages.view("mini-a", "en").body
    lifecycle.carry_out(store, lifecycle.plan_erasure(store, respondent=who))
    assert text not in shown()
    assert pages.cached_view("mini-a", "en") is None
    assert text not in pages.view("mini-a", "en").body
    pages.close()


def test_erase_a_group_wave_and_a_group(loaded, instrument):
    store, info = loaded
    insert_key(store, "mini-a", "abcd1234", "f" * 64)
    insert_invitations(store, "mini-a", "before", ["a" * 64, "b" * 64], "b1")
    insert_invitations(store, "mini-a", "after", ["c" * 64], "b2")
    plan = lifecycle.plan_erasure(store, group="mini-a", wave="before")
    assert plan.counts["responses"] == 7 and plan.counts["publications"] == 1
    assert plan.counts["invitations"] == 2
    lifecycle.carry_out(store, plan)
    assert _n(store, s.responses, s.responses.c.group_id == "mini-a") == 6
    assert _n(store, publications) == 0 and _n(store, publication_members) == 0
    plan = lifecycle.plan_erasure(store, group="mini-a")
    assert plan.counts["access_keys"] == 1 and plan.counts["groups"] == 1
    lifecycle.carry_out(store, plan)
    assert _n(store, s.responses, s.responses.c.group_id == "mini-a") == 0
    assert _n(store, s.groups, s.groups.c.id == "mini-a") == 0
    assert _n(store, s.responses) == len(info["table"]) - 13
    with pytest.raises(NotFoundError):
        lifecycle.plan_erasure(store, group="mini-a")
    with pytest.raises(KitError, match="Say what to erase"):
        lifecycle.plan_erasure(store)


def test_retention_keeps_published_aggregates_without_people(loaded):
    store, info = loaded
    plan, due = lifecycle.plan_retention(store, dt.date(2026, 11, 7))
    assert plan.empty and due == []  # 12 months after 2025-11-07 is not past yet
    plan, due = lifecycle.plan_retention(store, dt.date(2026, 11, 8))
    assert due == ["kull-1"] and plan.counts["responses"] == 23  # mini-a and mini-b
    assert plan.counts["fingerprints"] == 7
    assert _n(store, s.responses) == 31  # a plan deletes nothing
    with store.begin() as conn:
        dims_before = conn.execute(
            select(func.count()).select_from(s.metadata.tables["published_dimensions"])
        ).scalar_one()
    lifecycle.carry_out(store, plan)
    assert _n(store, s.responses) == 8  # the norm group, in no cohort, is kept
    assert _n(store, publications) == 1 and _n(store, publication_members) == 0
    assert _view(store)["comments"] == {"suppressed": "comments"}
    with store.begin() as conn:
        assert (
            conn.execute(
                select(func.count()).select_from(s.metadata.tables["published_dimensions"])
            ).scalar_one()
            == dims_before
        )
    assert [r["action"] for r in _audit(store)][-1] == "retention"


def test_retention_needs_the_programme_setting(any_store, mini_project):
    import yaml

    text = mini_project.programme_path.read_text(encoding="utf-8")
    any_store.save_programme(parse_programme(yaml.safe_load(text)))
    with pytest.raises(KitError, match="no retention period: set 'retention_months'"):
        lifecycle.plan_retention(any_store)
    assert lifecycle.add_months(dt.date(2025, 1, 31), 1) == dt.date(2025, 2, 28)
    assert lifecycle.add_months(dt.date(2025, 11, 7), 14) == dt.date(2027, 1, 7)


def test_backup_and_restore(loaded, tmp_path):
    store, info = loaded
    target = tmp_path / "backups" / "kit.backup"
    lifecycle.backup(store, target)
    assert target.is_file() and not [p for p in target.parent.iterdir() if p != target]
    lifecycle.carry_out(store, lifecycle.plan_erasure(store, group="mini-b"))
    assert _n(store, s.responses) == 21
    lifecycle.restore(store, target)
    assert _n(store, s.responses) == 31 and _n(store, s.groups) == 3
    assert _n(store, publications) == 1
    actions = [r["action"] for r in _audit(store)]
    assert actions[-1] == "restore" and "backup" in actions
    bad = tmp_path / "not-a-backup.db"
    bad.write_bytes(b"hello")
    with pytest.raises(KitError, match="is not a backup made by 'kit backup'"):
        lifecycle.restore(store, bad)
    assert _n(store, s.responses) == 31


def test_sqlite_backup_while_a_writer_is_busy(tmp_path, mini_project, instrument):
    """The online backup is a consistent copy while another connection writes."""
    store = Store(f"sqlite:///{tmp_path / 'kit.sqlite'}")
    _load(store, mini_project, instrument)
    stop = threading.Event()

    def write() -> None:
        conn = sqlite3.connect(tmp_path / "kit.sqlite", timeout=10)
        n = 0
        while not stop.is_set():
            with conn:
                conn.execute("INSERT INTO kit_settings(key, value) VALUES (?, ?)", (f"x{n}", "1"))
            n += 1
            time.sleep(0.002)
        conn.close()

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    try:
        for k in range(3):
            lifecycle.backup(store, tmp_path / f"b{k}.db")
    finally:
        stop.set()
        writer.join(10)
    for k in range(3):
        copy = sqlite3.connect(tmp_path / f"b{k}.db")
        assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert copy.execute("SELECT count(*) FROM responses").fetchone()[0] == 31
        copy.close()
    store.engine.dispose()


def test_audit_log_names_no_person(loaded):
    store, info = loaded
    insert_key(store, "mini-b", "zz991234", "e" * 64)
    insert_invitations(store, "mini-b", "before", ["d" * 64], "b9")
    lifecycle.carry_out(store, lifecycle.plan_erasure(store, respondent="r010"))
    rows = _audit(store)
    assert [r["action"] for r in rows] == [
        "import",
        "key.create",
        "invitations.create",
        "erase.respondent",
    ]
    text = json.dumps(rows, default=str)
    table = info["table"]
    for rid in table["respondent"]:
        assert f"{rid}" not in text.replace("r001", "") or rid == "r001"
    assert "r010" not in text and "e" * 64 not in text and "d" * 64 not in text
    assert "Vi bør" not in text
    assert all(r["actor"] for r in rows)
    frame = lifecycle.list_audit(store)
    assert frame["action"].tolist()[-1] == "erase.respondent"


# -- the commands -------------------------------------------------------------------------------
@pytest.fixture
def home(tmp_path, mini_project, instrument):
    store = Store(f"sqlite:///{tmp_path / 'home' / 'var' / 'kit.sqlite'}")
    info = _load(store, mini_project, instrument)
    store.engine.dispose()
    settings = load_settings(home_dir=tmp_path / "home", database_url="")
    assert settings.db_url == store.url, "the test writes where the CLI reads"
    return tmp_path / "home", info


def test_cli_imports_and_undo_ask_first(home, capsys, monkeypatch):
    root, info = home
    run = ["--home", str(root)]
    assert main([*run, "--language", "en", "imports"]) == 0
    out = capsys.readouterr().out
    assert "export.csv" in out and "sha256" in out
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    for lang, text in (("en", "confirm with --yes"), ("nb", "bekreft med --yes")):
        assert main([*run, "--language", lang, "imports", "undo", "1"]) == 2
        assert text in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda _prompt: "nei")
    assert main([*run, "--language", "nb", "imports", "undo", "1"]) == 2
    captured = capsys.readouterr()
    assert "31 respondenter" in captured.out and "Avbrutt; ingenting ble endret" in captured.err
    monkeypatch.setattr("builtins.input", lambda _prompt: "ja")
    assert main([*run, "--language", "nb", "imports", "undo", "1"]) == 0
    assert "Slettet: 31 respondenter" in capsys.readouterr().out
    assert main([*run, "--language", "en", "imports"]) == 0
    assert "No imports yet." in capsys.readouterr().out


def test_cli_erase_retention_backup_restore_audit(home, capsys, tmp_path):
    root, info = home
    run = ["--home", str(root), "--language", "en"]
    assert main([*run, "erase", "--wave", "before"]) == 2
    assert "--wave alone erases nothing" in capsys.readouterr().err
    assert main([*run, "erase", "--respondent", "r005", "--yes"]) == 0
    out = capsys.readouterr().out
    assert "one respondent, all groups" in out and "Erased: 1 respondents" in out
    assert main([*run, "retention", "--today", "2027-01-01"]) == 0
    out = capsys.readouterr().out
    assert "over for cohorts kull-1" in out and "Dry run: nothing was deleted" in out
    backup = tmp_path / "kit.backup"
    assert main([*run, "backup", str(backup)]) == 0
    assert "Backup written" in capsys.readouterr().out
    assert main([*run, "retention", "--today", "2027-01-01", "--apply", "--yes"]) == 0
    assert "Erased: 22 respondents" in capsys.readouterr().out
    assert main([*run, "restore", str(backup), "--yes"]) == 0
    assert "Restored from" in capsys.readouterr().out
    assert main([*run, "erase", "--respondent", "r005", "--yes"]) == 2  # gone before the backup
    assert "Found no respondent 'r005'" in capsys.readouterr().err
    assert main([*run, "audit"]) == 0
    out = capsys.readouterr().out
    for action in ("import", "erase.respondent", "backup", "restore"):
        assert action in out
    assert (
        main(["--home", str(root), "--language", "nb", "retention", "--today", "2026-01-01"]) == 0
    )
    assert "Ingen svar er eldre enn lagringstiden" in capsys.readouterr().out


@pytest.mark.postgres
def test_pg_backup_without_the_tool_says_what_to_install(any_store, monkeypatch, tmp_path):
    if any_store.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(KitError, match="apt-get install postgresql-client"):
        lifecycle.backup(any_store, tmp_path / "x.dump")
    assert os.listdir(tmp_path) == []


def _live(
    store: Store,
    code: str,
    groups: list[str],
    people: dict[str, str | None],
    cohort: str | None = None,
) -> int:
    """A live session with one round, participants (token -> group) and one answer each."""
    from kit.store import live_tables as lt
    from kit.store import now

    with store.begin() as conn:
        sid = conn.execute(
            lt.live_sessions.insert().values(
                code=code,
                title="Samling 1",
                cohort_id=cohort,
                group_ids=json.dumps(groups),
                language="nb",
                exercises="[]",
                instrument_id="pulse",
                key_hash=code * 8,
                status="open",
                revision=0,
                created_at=now(),
            )
        ).inserted_primary_key[0]
        rid = conn.execute(
            lt.live_rounds.insert().values(
                session_id=sid,
                ordinal=1,
                exercise="airtime",
                config="{}",
                status="open",
                revealed=False,
            )
        ).inserted_primary_key[0]
        conn.execute(lt.live_turns.insert().values(round_id=rid, speaker="Kari", started_at=1.0))
        for token, group in people.items():
            pid = conn.execute(
                lt.live_participants.insert().values(
                    session_id=sid, token=token, group_id=group, language="nb", joined_at=now()
                )
            ).inserted_primary_key[0]
            conn.execute(
                lt.live_answers.insert().values(
                    round_id=rid,
                    participant_id=pid,
                    question="statement",
                    text=f"svar {token}",
                    created_at=now(),
                    updated_at=now(),
                )
            )
        for group in groups:
            conn.execute(
                lt.live_actions.insert().values(
                    session_id=sid,
                    group_id=group,
                    action="Mål for møtene",
                    owner="Ola",
                    status="open",
                    created_at=now(),
                    updated_at=now(),
                )
            )
    return sid


def test_erasing_a_group_takes_its_live_data(loaded):
    from kit.store import live_tables as lt

    store, _ = loaded
    _live(store, "AAAA11", ["mini-a"], {"t1": "mini-a", "t2": None})
    shared = _live(store, "BBBB22", ["mini-a", "mini-b"], {"t3": "mini-a", "t4": "mini-b"})
    plan = lifecycle.plan_erasure(store, group="mini-a")
    assert plan.counts["live_sessions"] == 1 and plan.counts["live_answers"] == 3
    assert plan.counts["live_actions"] == 2
    lifecycle.carry_out(store, plan)
    with store.begin() as conn:
        sessions = conn.execute(select(lt.live_sessions.c.id)).scalars().all()
        texts = conn.execute(select(lt.live_answers.c.text)).scalars().all()
        actions = conn.execute(select(lt.live_actions.c.group_id)).scalars().all()
        turns = conn.execute(select(func.count()).select_from(lt.live_turns)).scalar_one()
    assert sessions == [shared] and texts == ["svar t4"] and actions == ["mini-b"]
    assert turns == 1  # the shared session's round keeps its speaking turns


def test_retention_takes_the_cohorts_live_data(loaded):
    from kit.store import live_tables as lt

    store, _ = loaded
    _live(store, "CCCC33", ["mini-a", "mini-b"], {"t1": "mini-a", "t2": None}, cohort="kull-1")
    _live(store, "DDDD44", ["norm-1"], {"t3": "norm-1"})
    plan, _ = lifecycle.plan_retention(store, dt.date(2027, 1, 1))
    assert plan.counts["live_sessions"] == 1
    lifecycle.carry_out(store, plan)
    with store.begin() as conn:
        codes = conn.execute(select(lt.live_sessions.c.code)).scalars().all()
        texts = conn.execute(select(lt.live_answers.c.text)).scalars().all()
    assert codes == ["DDDD44"] and texts == ["svar t3"]
