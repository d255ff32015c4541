"""The store on SQLite (always) and on a real PostgreSQL (marked ``postgres``)."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import insert, select, text

from kit.errors import NotFoundError, ResponseFileError, StoreError
from kit.store import Store, open_store
from kit.store import schema as s
from kit.store.programme import ProgrammeError, load_programme, parse_programme

PROGRAMME = {
    "programme": "Testprogram",
    "waves": [{"id": "before", "ordinal": 1}, {"id": "after", "ordinal": 2}],
    "cohorts": [
        {
            "id": "kull-1",
            "name": "Kull 1",
            "start_date": "2025-01-13",
            "groups": [
                {"id": "g1", "name": "Ledergruppe 1", "organisation": "Etat A",
                 "invited": {"before": 6, "after": 6}},
                {"id": "g2", "name": "Ledergruppe 2", "organisation": "Etat B",
                 "invited": {"before": 5, "after": 5}, "survey_dates": {"before": "2025-01-06"}},
            ],
        }
    ],
    "norm_base": [{"id": "n1", "name": "Normgruppe", "organisation": "Etat C",
                   "invited": {"before": 7}}],
}


@pytest.fixture
def store(any_store: Store) -> Store:
    """An empty store on SQLite and, where the test server runs, on PostgreSQL."""
    return any_store


def responses(instrument, groups=("g1", "g2"), wave="before", n=6, seed=0, prefix="r"):
    """A canonical response table with missing answers and comments."""
    rng = np.random.default_rng(seed)
    rows = []
    for g in groups:
        for k in range(n):
            row = {"respondent": f"{prefix}-{g}-{k}", "group": g, "wave": wave,
                   "role": "leader" if k == 0 else ("member" if k % 3 else None)}
            values = rng.integers(1, 8, len(instrument.item_ids)).astype(float)
            values[rng.random(len(values)) < 0.05] = np.nan
            row.update(zip(instrument.item_ids, values, strict=True))
            row.update({q: (f"Kommentar {k} æøå" if k % 2 else None)
                        for q in instrument.open_question_ids})
            rows.append(row)
    return pd.DataFrame(rows)


def counts(store: Store) -> dict[str, int]:
    with store.begin() as conn:
        return {t.name: len(conn.execute(select(t)).all())
                for t in (s.imports, s.responses, s.comments)}


def test_new_database_records_schema_version(store):
    assert store.schema_version() == s.SCHEMA_VERSION
    with store.begin() as conn:
        row = conn.execute(select(s.kit_schema)).one()
    assert row.version == s.SCHEMA_VERSION and row.applied_at is not None


def test_database_of_a_newer_kit_is_refused(store):
    with store.begin() as conn:
        conn.execute(insert(s.kit_schema).values(version=s.SCHEMA_VERSION + 1,
                                                 applied_at=pd.Timestamp.now(tz="UTC")))
    newer = rf"schema version {s.SCHEMA_VERSION + 1}, newer than this kit's {s.SCHEMA_VERSION}"
    with pytest.raises(StoreError, match=newer + ".*Upgrade"):
        Store(store.url)


def test_older_database_is_migrated(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    Store(url).engine.dispose()
    monkeypatch.setattr(s, "SCHEMA_VERSION", s.SCHEMA_VERSION + 1)
    probe = ["CREATE TABLE migrated_probe (id INTEGER)"]
    monkeypatch.setitem(s.MIGRATIONS, s.SCHEMA_VERSION, probe)
    st = Store(url)
    assert st.schema_version() == s.SCHEMA_VERSION
    with st.begin() as conn:
        assert conn.execute(text("SELECT count(*) FROM migrated_probe")).scalar() == 0


def test_bad_database_url_says_how_to_fix():
    with pytest.raises(StoreError, match="Cannot use database URL 'nosuchdb://x'.*KIT_DATABASE_URL"):
        Store("nosuchdb://x")


def test_unreachable_server_is_a_store_error():
    with pytest.raises(StoreError, match=r"Cannot open the database 'postgresql\+psycopg://\*\*\*@"):
        Store("postgresql+psycopg://kit:secret@127.0.0.1:1/nothing?connect_timeout=2")


def test_open_store_shares_one_store_per_url(settings):
    assert open_store(settings) is open_store(settings.replace())


def test_programme_is_saved_in_one_go_and_status_is_kept(store):
    programme = parse_programme(PROGRAMME)
    assert store.save_programme(programme) == {"waves": 2, "cohorts": 1, "groups": 3,
                                               "group_waves": 5}
    groups = store.list_groups().set_index("id")
    assert groups.loc["g1", "cohort_id"] == "kull-1" and not groups.loc["g1", "in_norm_base"]
    assert pd.isna(groups.loc["n1", "cohort_id"]) and groups.loc["n1", "in_norm_base"]
    assert list(store.list_waves()["id"]) == ["before", "after"]
    cohort = store.list_cohorts().iloc[0]
    assert (cohort["programme"], cohort["start_date"]) == ("Testprogram", "2025-01-13")
    store.set_wave_status("g1", "before", "closed")
    store.save_programme(programme)  # loading the file again keeps the status
    gw = store.list_group_waves().set_index(["group_id", "wave_id"])
    assert gw.loc[("g1", "before"), "status"] == "closed"
    assert gw.loc[("g2", "before"), "survey_date"] == "2025-01-06"
    assert gw.loc[("g1", "after"), "invited"] == 6


def test_import_round_trip(store, instrument):
    store.save_programme(parse_programme(PROGRAMME))
    table = responses(instrument)
    result = store.import_responses(table, instrument, "hash-1", "export.csv")
    assert (result.rows, result.skipped) == (12, False)
    back = store.load_responses(instrument)
    assert list(back.columns) == ["respondent", "group", "wave", "role", *instrument.item_ids,
                                  *instrument.open_question_ids]
    back = back.set_index("respondent").loc[table["respondent"]]
    np.testing.assert_array_equal(back[list(instrument.item_ids)].to_numpy(),
                                  table[list(instrument.item_ids)].to_numpy())
    assert list(back["role"]) == [r if isinstance(r, str) else None for r in table["role"]]
    assert back.loc["r-g1-1", "O1"] == "Kommentar 1 æøå" and back.loc["r-g1-2", "O1"] is None
    gw = store.list_group_waves().set_index(["group_id", "wave_id"])
    assert gw.loc[("g1", "before"), "respondents"] == 6
    assert gw.loc[("g1", "after"), "respondents"] == 0


def test_same_file_twice_changes_nothing(store, instrument):
    store.save_programme(parse_programme(PROGRAMME))
    table = responses(instrument)
    first = store.import_responses(table, instrument, "hash-1", "export.csv")
    before = counts(store)
    again = store.import_responses(table, instrument, "hash-1", "export.csv")
    assert again.skipped and again.rows == 0 and again.import_id == first.import_id
    assert counts(store) == before


def test_failure_mid_import_leaves_nothing(store, instrument, monkeypatch):
    store.save_programme(parse_programme(PROGRAMME))

    def broken(*args, **kwargs):
        raise RuntimeError("disk full while writing comments")

    monkeypatch.setattr(Store, "_write_comments", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        store.import_responses(responses(instrument), instrument, "hash-1", "export.csv")
    assert counts(store) == {"imports": 0, "responses": 0, "comments": 0}
    monkeypatch.undo()
    assert store.import_responses(responses(instrument), instrument, "hash-1", "x.csv").rows == 12


def test_same_respondent_twice_in_a_table_writes_nothing(store, instrument):
    store.save_programme(parse_programme(PROGRAMME))
    table = responses(instrument)
    table = pd.concat([table, table.iloc[[3]]], ignore_index=True)
    with pytest.raises(StoreError, match="nothing was changed.*same respondent twice"):
        store.import_responses(table, instrument, "hash-dup", "dup.csv")
    assert counts(store)["responses"] == 0


def test_respondents_stored_from_another_file_are_refused(store, instrument):
    store.save_programme(parse_programme(PROGRAMME))
    store.import_responses(responses(instrument), instrument, "hash-1", "first.csv")
    with pytest.raises(ResponseFileError, match=r"(?s)second.csv: 12 problems.*already stored"):
        store.import_responses(responses(instrument, seed=1), instrument, "hash-2", "second.csv")


def test_unknown_group_or_wave_is_refused_with_every_row(store, instrument):
    store.save_programme(parse_programme(PROGRAMME))
    table = responses(instrument, groups=("g1", "ghost"), n=2)
    table.loc[0, "wave"] = "midway"
    with pytest.raises(ResponseFileError) as info:
        store.import_responses(table, instrument, "hash-x", "export.csv")
    message = str(info.value)
    assert "3 problems found; nothing was changed" in message
    assert "ghost" in message and "midway" in message and "kit programme load" in message
    assert counts(store)["imports"] == 0


def test_add_response_and_delete_import(store, instrument):
    store.save_programme(parse_programme(PROGRAMME))
    rid = store.add_response(instrument, "g1", "after", "web-1", {"Q01": 5, "Q02": None},
                             {"O1": "Bra"}, role="member")
    back = store.load_responses(instrument, group_ids=["g1"], wave_ids=["after"])
    assert rid > 0 and len(back) == 1 and back.loc[0, "Q01"] == 5 and np.isnan(back.loc[0, "Q02"])
    with pytest.raises(ResponseFileError, match="already stored"):
        store.add_response(instrument, "g1", "after", "web-1", {"Q01": 4})
    with pytest.raises(ResponseFileError, match="group does not exist"):
        store.add_response(instrument, "nobody", "after", "web-2", {"Q01": 4})
    result = store.import_responses(responses(instrument), instrument, "hash-1", "export.csv")
    assert store.delete_import(result.import_id) == 12
    assert len(store.load_responses(instrument)) == 1
    with pytest.raises(NotFoundError, match="Import 999 does not exist"):
        store.delete_import(999)


def test_load_responses_filters_and_empty_result(store, instrument):
    store.save_programme(parse_programme(PROGRAMME))
    store.import_responses(responses(instrument), instrument, "h1", "a.csv")
    after = responses(instrument, wave="after", prefix="s")
    store.import_responses(after, instrument, "h2", "b.csv")
    assert len(store.load_responses(instrument)) == 24
    assert set(store.load_responses(instrument, wave_ids=["after"])["wave"]) == {"after"}
    assert set(store.load_responses(instrument, group_ids=["g2"])["group"]) == {"g2"}
    empty = store.load_responses(instrument, group_ids=["n1"])
    assert empty.empty and "Q56" in empty.columns and "O3" in empty.columns


def test_get_group_and_clear(store, instrument):
    store.save_programme(parse_programme(PROGRAMME))
    assert store.get_group("g1")["name"] == "Ledergruppe 1"
    with pytest.raises(NotFoundError, match="Group 'zz' does not exist; see 'kit groups'"):
        store.get_group("zz")
    store.import_responses(responses(instrument), instrument, "h1", "a.csv")
    store.clear()
    assert store.list_groups().empty and counts(store)["responses"] == 0
    assert store.schema_version() == s.SCHEMA_VERSION


def test_three_thousand_respondents_import_and_load_quickly(tmp_path, instrument):
    store = Store(f"sqlite:///{tmp_path / 'big.sqlite'}")
    groups = [f"g{i:03d}" for i in range(300)]
    store.save_programme(parse_programme({
        "waves": ["before"], "cohorts": [],
        "norm_base": [{"id": g, "name": g, "invited": {"before": 10}} for g in groups]}))
    table = responses(instrument, groups=groups, n=10)
    # CPU time of this process (SQLite runs in it): robust when other work shares the cores.
    started, cpu = time.perf_counter(), time.process_time()
    store.import_responses(table, instrument, "big", "big.csv")
    imported, imported_cpu = time.perf_counter() - started, time.process_time() - cpu
    started, cpu = time.perf_counter(), time.process_time()
    back = store.load_responses(instrument)
    loaded, loaded_cpu = time.perf_counter() - started, time.process_time() - cpu
    print(f"3,000 respondents: import {imported:.2f} s ({imported_cpu:.2f} s CPU), "
          f"load {loaded:.2f} s ({loaded_cpu:.2f} s CPU)")
    assert len(back) == 3000
    assert loaded_cpu < 2.0 and imported_cpu < 5.0  # measured ~0.5 s and ~1 s


# -- programme files --------------------------------------------------------------------------
def test_programme_file_is_loaded(tmp_path):
    path = tmp_path / "programme.yaml"
    path.write_text(
        "waves: [before, after]\n"
        "cohorts:\n"
        "  - id: kull-1\n    name: Kull 1\n    groups:\n"
        "      - {id: a, name: A, invited: {before: 5, after: 5}, language: en}\n"
        "norm_base:\n  - {id: n, name: N, invited: [before]}\n", encoding="utf-8")
    p = load_programme(path)
    assert [w.ordinal for w in p.waves] == [1, 2]
    assert p.programme_groups[0].language == "en" and p.norm_groups[0].invited == {"before": None}


def test_programme_file_lists_every_problem(tmp_path):
    bad = {
        "waves": [{"id": "before", "ordinal": 1}, {"id": "before", "ordinal": 2}],
        "cohorts": [{"id": "kull 1", "name": "", "start_date": "13.01.2025", "groups": [
            {"id": "a", "name": "A", "invited": {"before": 0, "later": 3}, "language": "sv"},
            {"id": "a", "name": "A2", "invited": {"before": 5}, "size": 7},
        ]}],
        "norm_base": "n1",
        "extra": 1,
    }
    with pytest.raises(ProgrammeError) as info:
        parse_programme(bad, source="programme.yaml", lang="en")
    message = str(info.value)
    for expected in ("the wave is given twice", "kull 1", "cohorts[0].name", "YYYY-MM-DD",
                     "must be at least 1", "later", "is not a wave in waves", "language",
                     "the group id is given twice", "size", "norm_base", "extra"):
        assert expected in message, expected
    assert "nothing was saved" in message and len(info.value.problems) >= 11


@pytest.mark.parametrize(("content", "expected"), [
    ("waves: [before\n", "is not valid YAML"),
    ("- just\n- a list\n", "must be a block with waves, cohorts and norm_base"),
    ("waves: []\ncohorts: []\n", r"waves +must list at least 1"),
])
def test_broken_programme_files(tmp_path, content, expected):
    path = tmp_path / "p.yaml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ProgrammeError, match=expected):
        load_programme(path, lang="en")


def test_missing_programme_file(tmp_path):
    with pytest.raises(NotFoundError, match="Programme file .*nope.yaml not found"):
        load_programme(tmp_path / "nope.yaml", lang="en")


def test_demo_imports_the_same_on_every_backend(store, demo_store, tmp_path, instrument):
    """The small demo (seed 1) imported into this store reads back exactly as on SQLite."""
    from kit.demo import make_demo
    from kit.settings import Settings

    make_demo(Settings(home_dir=tmp_path), seed=1, small=True, store=store)
    here = store.load_responses(instrument).sort_values("respondent").reset_index(drop=True)
    there = demo_store.load_responses(instrument).sort_values("respondent").reset_index(drop=True)
    pd.testing.assert_frame_equal(here, there)
    assert store.list_group_waves().drop(columns="status").equals(
        demo_store.list_group_waves().drop(columns="status"))


def test_written_in_blocks_with_progress_the_same_table(store, instrument, monkeypatch):
    import kit.store

    monkeypatch.setattr(kit.store, "WRITE_BLOCK", 5)
    store.save_programme(parse_programme(PROGRAMME))
    table = responses(instrument, n=6)  # 12 respondents: blocks of 5, 5 and 2
    steps = []
    done = store.import_responses(table, instrument, "hash-b", "blocks.csv", progress=steps.append)
    assert done.rows == 12 and steps == [5, 5, 2]
    back = store.load_responses(instrument).sort_values("respondent").reset_index(drop=True)
    want = table.sort_values("respondent").reset_index(drop=True)
    np.testing.assert_array_equal(back[list(instrument.item_ids)].to_numpy(),
                                  want[list(instrument.item_ids)].to_numpy(dtype=float))
    assert list(back["role"].fillna("-")) == list(want["role"].fillna("-"))


def test_a_refusal_names_the_files_rows_and_headers(store, instrument):
    store.save_programme(parse_programme(PROGRAMME))
    store.import_responses(responses(instrument, n=2), instrument, "hash-1", "first.csv")
    again = responses(instrument, n=2, seed=3)
    with pytest.raises(ResponseFileError) as info:
        store.import_responses(again, instrument, "hash-2", "second.csv", file_rows=[3, 5, 9, 10],
                               headers={"respondent": "Respondent ID"})
    assert [(p.row, p.column) for p in info.value.problems] == [
        (3, "Respondent ID"), (5, "Respondent ID"), (9, "Respondent ID"), (10, "Respondent ID")]
    assert "denne respondenten er allerede lagret" in info.value.message("nb")
    assert "These answers were imported before" in str(info.value)


# -- schema 1 -> 2: the answers packed into one row per respondent ---------------------------------
V1_TABLES = """
CREATE TABLE kit_schema (version INTEGER PRIMARY KEY, applied_at TIMESTAMP NOT NULL);
CREATE TABLE cohorts (id VARCHAR(64) PRIMARY KEY, name VARCHAR(200) NOT NULL,
  programme VARCHAR(200) NOT NULL, start_date VARCHAR(10), end_date VARCHAR(10));
CREATE TABLE groups (id VARCHAR(64) PRIMARY KEY, name VARCHAR(200) NOT NULL,
  organisation VARCHAR(200) NOT NULL, cohort_id VARCHAR(64) REFERENCES cohorts(id),
  in_norm_base BOOLEAN NOT NULL, language VARCHAR(2) NOT NULL);
CREATE TABLE waves (id VARCHAR(32) PRIMARY KEY, ordinal INTEGER NOT NULL);
CREATE TABLE group_waves (group_id VARCHAR(64) REFERENCES groups(id),
  wave_id VARCHAR(32) REFERENCES waves(id), invited INTEGER, status VARCHAR(10) NOT NULL,
  survey_date VARCHAR(10), PRIMARY KEY (group_id, wave_id));
CREATE TABLE imports (id {serial} PRIMARY KEY, source_hash VARCHAR(64) NOT NULL UNIQUE,
  filename VARCHAR(400) NOT NULL, instrument_id VARCHAR(64) NOT NULL, rows INTEGER NOT NULL,
  imported_at TIMESTAMP NOT NULL);
CREATE TABLE responses (id {serial} PRIMARY KEY, instrument_id VARCHAR(64) NOT NULL,
  group_id VARCHAR(64) NOT NULL REFERENCES groups(id), wave_id VARCHAR(32) NOT NULL
  REFERENCES waves(id), respondent VARCHAR(64) NOT NULL, role VARCHAR(10),
  import_id INTEGER REFERENCES imports(id), submitted_at TIMESTAMP NOT NULL,
  CONSTRAINT uq_response UNIQUE (instrument_id, group_id, wave_id, respondent));
CREATE TABLE answers (response_id INTEGER REFERENCES responses(id), item_id VARCHAR(32),
  value FLOAT NOT NULL, PRIMARY KEY (response_id, item_id));
CREATE TABLE comments (response_id INTEGER REFERENCES responses(id), question_id VARCHAR(32),
  text TEXT NOT NULL, PRIMARY KEY (response_id, question_id));
"""


def test_a_schema_1_database_keeps_every_answer(store, instrument):
    """An older database (one row per answer) is migrated: the same table comes back."""
    store.save_programme(parse_programme(PROGRAMME))
    want = responses(instrument)
    store.import_responses(want, instrument, "hash-old", "old.csv")
    before = store.load_responses(instrument)
    # Rebuild the database as kit schema 1 wrote it, with the same responses.
    with store.begin() as conn:
        old = [dict(r) for r in conn.execute(select(s.responses)).mappings()]
        comments = [dict(r) for r in conn.execute(select(s.comments)).mappings()]
        imports = [dict(r) for r in conn.execute(select(s.imports)).mappings()]
        groups = [dict(r) for r in conn.execute(select(s.groups)).mappings()]
        s.metadata.drop_all(conn)
        serial = "SERIAL" if conn.dialect.name == "postgresql" else "INTEGER"
        for statement in V1_TABLES.format(serial=serial).split(";"):
            if statement.strip():
                conn.exec_driver_sql(statement)
        conn.execute(insert(s.kit_schema).values(version=1, applied_at=pd.Timestamp.now("UTC")))
        waves = [{"id": "before", "ordinal": 1}, {"id": "after", "ordinal": 2}]
        conn.execute(insert(s.waves), waves)
        conn.execute(insert(s.cohorts), [{"id": "kull-1", "name": "Kull 1", "programme": ""}])
        conn.execute(insert(s.groups), groups)
        conn.execute(insert(s.imports), imports)
        keep = ("id", "instrument_id", "group_id", "wave_id", "respondent", "role", "import_id",
                "submitted_at")
        conn.execute(insert(s.responses), [{k: r[k] for k in keep} for r in old])
        by_id = {r["respondent"]: r["id"] for r in old}
        long = [{"response_id": by_id[resp], "item_id": item, "value": float(v)}
                for resp, row in zip(want["respondent"], want.to_dict("records"), strict=True)
                for item in instrument.item_ids if not np.isnan(v := row[item])]
        conn.execute(text("INSERT INTO answers VALUES (:response_id, :item_id, :value)"), long)
        conn.execute(insert(s.comments), comments)
        if conn.dialect.name == "postgresql":  # rows written with their ids, as kit 1 had them
            for table in ("imports", "responses"):
                conn.exec_driver_sql(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                     f"(SELECT max(id) FROM {table}))")
    migrated = Store(store.url)
    assert migrated.schema_version() == s.SCHEMA_VERSION
    after = migrated.load_responses(instrument)
    pd.testing.assert_frame_equal(after, before)
    with migrated.begin() as conn:
        from sqlalchemy import inspect

        assert not inspect(conn).has_table("answers")
    # and it takes new answers as a new database does
    more = responses(instrument, groups=("g1",), wave="after", n=3, seed=5)
    assert migrated.import_responses(more, instrument, "hash-new", "new.csv").rows == 3
    assert len(migrated.load_responses(instrument)) == len(before) + 3
    migrated.engine.dispose()


def test_answers_are_packed_one_row_per_respondent(store, instrument):
    """A respondent's answers are one value in its row; a layout tells nothing of the order."""
    store.save_programme(parse_programme(PROGRAMME))
    table = responses(instrument)
    store.import_responses(table, instrument, "hash-p", "p.csv")
    with store.begin() as conn:
        rows = conn.execute(select(s.responses.c.layout_id, s.responses.c.answers)).all()
        layouts = conn.execute(select(s.answer_layouts)).all()
    assert len(rows) == len(table) and len(layouts) == 1
    assert {len(bytes(b)) for _, b in rows} == {8 * len(instrument.item_ids)}
    assert layouts[0].id == rows[0].layout_id and len(layouts[0].id) == 16
    assert layouts[0].item_ids.split("\n") == list(instrument.item_ids)
