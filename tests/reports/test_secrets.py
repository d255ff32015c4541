"""No secret in any output: a real report run (papermill, warm kernels) on PostgreSQL with a
password in the URL, then every file the run wrote is searched for it."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
from sqlalchemy import create_engine, text

from kit.errors import ParameterError
from kit.reports.params import GroupReportParams, load_run_file, validate_params
from kit.reports.runner import run_reports
from kit.settings import Settings

POSTGRES_ENV = "KIT_TEST_POSTGRES_URL"


@pytest.fixture
def pg_url():
    """A fresh schema in the test PostgreSQL database; its URL carries the password."""
    base = os.environ[POSTGRES_ENV]
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in base else "?"
    yield f"{base}{sep}options={quote(f'-csearch_path={schema}')}"
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.mark.postgres
@pytest.mark.slow
def test_a_real_report_on_postgresql_writes_no_database_url(pg_url, tmp_path: Path) -> None:
    from kit.demo import make_demo
    from kit.store import open_store

    password = urlsplit(pg_url).password
    assert password, "the test database URL must carry a password"
    settings = Settings(home_dir=tmp_path, database_url=pg_url)
    make_demo(settings, seed=1, small=True)
    run_file = tmp_path / "secret_run.yaml"
    run_file.write_text(
        "name: secret_run\nwaves: [before, after]\n"
        "groups: [k1-kystverket, k2-fiskeridirektoratet]\ncohorts: [kull-1]\n"
        f"database_url: '{pg_url}'\n",
        encoding="utf-8",
    )
    spec = load_run_file(run_file)
    summary = run_reports(spec, settings.replace(database_url=""), workers=1, progress=False,
                          pdf=False)  # fmt: skip
    assert summary.ok, [o.error for o in summary.failed]
    needles = {pg_url, pg_url.split("?")[0], f":{password}@", urlsplit(pg_url).netloc}
    files = [p for p in summary.output_dir.rglob("*") if p.is_file()]
    assert any(p.suffix == ".ipynb" for p in files) and any(p.suffix == ".html" for p in files)
    logs = list((tmp_path / "var").rglob("*.log"))
    for path in files + logs:
        body = path.read_bytes().decode("utf-8", errors="replace")
        for needle in needles:
            assert needle not in body, f"{path.name} holds the database URL"
    # The report did read the PostgreSQL data: a published group with its version.
    html = (summary.output_dir / "groups" / "k1-kystverket_after.html").read_text("utf-8")
    assert "Versjon 1, publisert" in html
    open_store(settings).engine.dispose()


def test_a_database_url_with_a_password_is_refused_as_a_parameter() -> None:
    with pytest.raises(ParameterError, match="holds a password") as err:
        validate_params(
            GroupReportParams,
            {"group_id": "g", "database_url": "postgresql+psycopg://kit:s3cret@db/kit"},
        )
    assert "s3cret" not in str(err.value)
    ok = validate_params(GroupReportParams, {"group_id": "g", "database_url": "sqlite:///x.db"})
    assert ok.database_url == "sqlite:///x.db"


def test_a_run_files_database_url_never_reaches_the_parameters(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(
        "name: r\nwaves: [after]\ngroups: [g1]\n"
        "database_url: 'postgresql+psycopg://kit:s3cret@db/kit'\n",
        encoding="utf-8",
    )
    spec = load_run_file(path)
    assert spec.settings == {"database_url": "postgresql+psycopg://kit:s3cret@db/kit"}
    assert all(not job.params.database_url for job in spec.jobs)
