"""Shared fixtures: settings on a temporary home, the shipped instrument, a small seeded demo
imported into SQLite, and a complete miniature project tree.

PostgreSQL tests are marked ``postgres`` and use ``KIT_TEST_POSTGRES_URL`` (``.ci/run`` starts a
server and sets it); without it they are skipped with the reason.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import create_engine, text

from kit.instrument import Instrument, load_instrument
from kit.settings import CHROMIUM_ARGS, Settings, load_settings
from kit.store import Store

POSTGRES_ENV = "KIT_TEST_POSTGRES_URL"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get(POSTGRES_ENV):
        return
    skip = pytest.mark.skip(
        reason=f"{POSTGRES_ENV} is not set; run 'make test' (or scripts/start-postgres.sh) to "
        "start a local PostgreSQL and run these"
    )
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _no_kit_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never pick up a developer's KIT_* settings (the database above all)."""
    for name in list(os.environ):
        if name.startswith("KIT_") and name != POSTGRES_ENV:
            monkeypatch.delenv(name)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings on a temporary home with a fresh SQLite database."""
    return load_settings(home_dir=tmp_path, database_url="")


@pytest.fixture(scope="session")
def instrument() -> Instrument:
    """The kit's leadership-team profile (lagprofil)."""
    return load_instrument("lagprofil")


@pytest.fixture(scope="session")
def demo_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings whose SQLite database holds the small seeded demo (see ``demo_store``)."""
    home = tmp_path_factory.mktemp("demo_home")
    return Settings(home_dir=home, database_url="")


@pytest.fixture(scope="session")
def demo_summary(demo_settings: Settings):
    """The small demo (seed 1): 4 cohorts of 4 groups, 12 norm groups, before and after."""
    from kit.demo import make_demo

    return make_demo(demo_settings, seed=1, small=True)


@pytest.fixture(scope="session")
def demo_store(demo_settings: Settings, demo_summary):
    """A ``Store`` with the small seeded demo imported (shared by a test session: read only)."""
    from kit.store import open_store

    return open_store(demo_settings)


@dataclass(frozen=True)
class MiniProject:
    """A complete miniature project: programme file, a survey export and a home for the kit."""

    root: Path
    settings: Settings
    programme_path: Path
    export_path: Path  # canonical headers, semicolon-separated, decimal comma, UTF-8 BOM
    groups: tuple[str, ...]
    waves: tuple[str, ...]


MINI_PROGRAMME = """\
programme: Miniprogram
waves:
  - {id: before, ordinal: 1}
  - {id: after, ordinal: 2}
cohorts:
  - id: kull-1
    name: Kull 1
    start_date: 2025-01-13
    end_date: 2025-11-07
    groups:
      - id: mini-a
        name: Toppledergruppen i Miniverket
        organisation: Miniverket
        invited: {before: 7, after: 7}
      - id: mini-b
        name: Ledergruppen i Småetaten
        organisation: Småetaten
        invited: {before: 6, after: 6}
norm_base:
  - id: norm-1
    name: Ledergruppen i Normdirektoratet
    organisation: Normdirektoratet
    invited: {before: 8}
"""


def write_mini_export(path: Path, instrument: Instrument, seed: int = 7) -> pd.DataFrame:
    """A small, realistic export: mini-a 7+6, mini-b 6+4 (after below the threshold), norm-1 8."""
    rng = np.random.default_rng(seed)
    plan = [("mini-a", "before", 7, 4.6), ("mini-a", "after", 6, 5.2), ("mini-b", "before", 6, 4.2),
            ("mini-b", "after", 4, 4.4), ("norm-1", "before", 8, 4.9)]
    rows = []
    n = 0
    for group, wave, size, level in plan:
        team = rng.normal(0, 0.3, len(instrument.dimensions))
        dim_of = {d.id: k for k, d in enumerate(instrument.dimensions)}
        for k in range(size):
            n += 1
            style = rng.normal(0, 0.5)
            row = {"respondent": f"r{n:03d}", "group": group, "wave": wave,
                   "role": "leader" if k == 0 else "member"}
            for item in instrument.items:
                x = level + team[dim_of[item.dimension]] + style + rng.normal(0, 0.8)
                x = int(np.clip(round(x), instrument.scale.min, instrument.scale.max))
                if item.reverse:
                    x = instrument.scale.min + instrument.scale.max - x
                row[item.id] = "" if rng.random() < 0.03 else str(x)
            for q in instrument.open_question_ids:
                comment = "Vi bør bruke mer tid på strategi; mindre på drift."
                row[q] = comment if rng.random() < 0.3 else ""
            rows.append(row)
    table = pd.DataFrame(rows)
    table.to_csv(path, sep=";", decimal=",", index=False, encoding="utf-8-sig")
    return table


@pytest.fixture
def mini_project(tmp_path: Path, instrument: Instrument) -> MiniProject:
    """A complete miniature project tree under a temporary folder (nothing imported yet)."""
    root = tmp_path / "project"
    (root / "data").mkdir(parents=True)
    (root / "parameters").mkdir()
    (root / "outputs").mkdir()
    programme_path = root / "programme.yaml"
    programme_path.write_text(MINI_PROGRAMME, encoding="utf-8")
    export_path = root / "data" / "lagprofil-export.csv"
    write_mini_export(export_path, instrument)
    return MiniProject(
        root=root,
        settings=load_settings(home_dir=root, database_url=""),
        programme_path=programme_path,
        export_path=export_path,
        groups=("mini-a", "mini-b", "norm-1"),
        waves=("before", "after"),
    )


CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="session")
def browser():
    """One headless Debian Chromium per test process, driven by Playwright's sync API.

    Shared by every browser test: Playwright's sync API cannot be started twice in one thread.
    """
    playwright = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=list(CHROMIUM_ARGS))
        yield b
        b.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_store(request: pytest.FixtureRequest, tmp_path: Path):
    """An empty store: a SQLite file, or a fresh schema in the test PostgreSQL database."""
    if request.param == "sqlite":
        store = Store(f"sqlite:///{tmp_path / 'kit.sqlite'}")
        yield store
        store.engine.dispose()
        return
    base = os.environ[POSTGRES_ENV]
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in base else "?"
    store = Store(f"{base}{sep}options={quote(f'-csearch_path={schema}')}")
    yield store
    store.engine.dispose()
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


# -- accessibility: axe-core in Debian's Chromium (npm package, installed by scripts/setup.sh) --
AXE_PATH = Path(__file__).parents[1] / "var" / "npm" / "node_modules" / "axe-core" / "axe.min.js"


def axe_violations(page, impacts: tuple[str, ...] = ("serious", "critical")) -> list[dict]:
    """axe-core's violations of ``impacts`` on the loaded Playwright ``page`` (id, impact, help,
    up to five targets each). Injected through the DevTools protocol, so a page's own CSP does
    not block it. Skips (with the fix) when axe-core is not installed."""
    if not AXE_PATH.is_file():
        pytest.skip(f"axe-core is not installed at {AXE_PATH}; run 'bash scripts/setup.sh'")
    page.evaluate(AXE_PATH.read_text(encoding="utf-8"))
    result = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
    return [
        {
            "id": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "targets": [n["target"] for n in v["nodes"][:5]],
        }
        for v in result["violations"]
        if v["impact"] in impacts
    ]


@pytest.fixture
def axe():
    """``axe(page)`` -> the page's serious and critical axe-core violations (see above)."""
    return axe_violations
