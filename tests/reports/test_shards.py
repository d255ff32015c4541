"""``kit report RUN --shard I/N`` on several machines at once, and ``--index`` to merge them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, text

from kit.errors import ParameterError
from kit.reports.commands import parse_shard
from kit.reports.params import load_run_file
from kit.reports.runner import shard_jobs

ROOT = Path(__file__).resolve().parents[2]


def test_shards_split_the_jobs_deterministically_and_cover_them_once(tmp_path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("waves: [before, after]\ngroups: [a, b, c, d, e]\ncohorts: [k]\n", "utf-8")
    jobs = load_run_file(path, "en").jobs
    parts = [shard_jobs(jobs, (i, 3)) for i in range(3)]
    assert sorted(j.stem for p in parts for j in p) == sorted(j.stem for j in jobs)
    assert [j.stem for j in shard_jobs(jobs, (1, 3))] == [j.stem for j in parts[1]]
    assert parse_shard("1/3", "en") == (1, 3)
    assert parse_shard("4", "en", env={"JOB_COMPLETION_INDEX": "2"}) == (2, 4)
    for bad in ("3/3", "-1/2", "x/2", "2", "0/0"):
        with pytest.raises(ParameterError, match=r"must be I/N with 0 ≤ I < N"):
            parse_shard(bad, "en", env={})
    with pytest.raises(ParameterError, match=r"må være I/N"):
        parse_shard("5/2", "nb", env={})


@pytest.fixture
def pg_three_waves(tmp_path, instrument, three_waves_maker):
    make_three_waves = three_waves_maker

    base = os.environ["KIT_TEST_POSTGRES_URL"]
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in base else "?"
    url = f"{base}{sep}options={quote(f'-csearch_path={schema}')}"
    try:
        yield make_three_waves(tmp_path / "home", instrument, database_url=url), url
    finally:
        from kit.store import _STORES

        for s in list(_STORES.values()):
            s.engine.dispose()
        _STORES.clear()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _tbody(index: Path) -> str:
    return re.search(r"<tbody>(.*)</tbody>", index.read_text(encoding="utf-8"), re.S).group(1)


@pytest.mark.postgres
@pytest.mark.slow
def test_two_shards_at_once_on_postgresql_merge_into_a_single_runs_index(pg_three_waves) -> None:
    tw, url = pg_three_waves
    home = tw.settings.home_dir
    body = "waves: [before, midway, after]\ngroups: [tw-a, tw-b, tw-c, tw-d]\ncohorts: [tre-1]\n"
    (home / "sharded.yaml").write_text("name: sharded\n" + body, encoding="utf-8")
    (home / "single.yaml").write_text("name: single\n" + body, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIT_")}
    env.update(KIT_HOME=str(home), KIT_DATABASE_URL=url, KIT_LANGUAGE="en",
               PYTHONPATH=str(ROOT))  # fmt: skip
    kit = [sys.executable, "-m", "kit.cli", "report"]
    opts = ["--no-pdf", "--quiet", "--workers", "1"]
    # shard 0 as 0/2 on the command line, shard 1 as "2" with JOB_COMPLETION_INDEX=1
    commands = [
        ([*kit, str(home / "sharded.yaml"), "--shard", "0/2", *opts], env),
        ([*kit, str(home / "sharded.yaml"), "--shard", "2", *opts],
         {**env, "JOB_COMPLETION_INDEX": "1"}),
    ]  # fmt: skip
    shards = [
        subprocess.Popen(cmd, env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for cmd, e in commands
    ]
    outs = [p.communicate(timeout=600) for p in shards]
    assert [p.returncode for p in shards] == [0, 0], outs
    out_dir = home / "outputs" / "sharded"
    assert not (out_dir / "index.html").exists()  # a shard writes no index
    assert len(list(out_dir.glob(".kit-run.shard-*-of-2.json"))) == 2
    assert "This shard is done" in outs[0][0]
    merged = subprocess.run([*kit, str(home / "sharded.yaml"), "--index"], env=env,
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert merged.returncode == 0, merged.stderr
    single = subprocess.run([*kit, str(home / "single.yaml"), *opts], env=env,
                            capture_output=True, text=True, timeout=600)  # fmt: skip
    assert single.returncode == 0, single.stderr
    a, b = _tbody(out_dir / "index.html"), _tbody(home / "outputs" / "single" / "index.html")
    assert a == b and a.count("<tr") == 5 and "kit-status-made" in a
    html = sorted(p.relative_to(out_dir) for p in out_dir.rglob("*.html") if p.name != "index.html")
    assert len(html) == 5
    # the merged run is one run now: running it again makes nothing
    again = subprocess.run([*kit, str(home / "sharded.yaml"), *opts], env=env,
                           capture_output=True, text=True, timeout=300)  # fmt: skip
    assert "0 made, 5 unchanged" in again.stdout, again.stdout
