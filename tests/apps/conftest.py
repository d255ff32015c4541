"""A real ``kit serve`` on loopback over a small seeded demo, and a headless Chromium.

One server and one browser for the whole session (kernels are expensive): the served home is
writable (keys, invitations and survey answers are added), unlike the shared ``demo_store``.
Screenshots go to ``$APPS_SCREENSHOT_DIR`` (default: a temporary directory).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from kit.apps.keys import create_key
from kit.settings import Settings
from kit.store import Store, open_store


@dataclass
class Served:
    settings: Settings
    store: Store
    kit: object  # kit.apps.launch.ServedKit
    group_a: str
    group_b: str
    key_a: str
    key_b: str

    def url(self, path: str) -> str:
        return self.kit.url(path)  # type: ignore[attr-defined]


def _two_groups(store: Store) -> tuple[str, str]:
    """Two programme groups in different cohorts, both reportable in both waves."""
    groups = store.list_groups().set_index("id")
    gw = store.list_group_waves()
    ok = gw[gw["respondents"] >= 7].groupby("group_id")["wave_id"].nunique()
    candidates = [g for g in ok[ok >= 2].index if pd.notna(groups.loc[g, "cohort_id"])]
    first = candidates[0]
    second = next(
        g for g in candidates if groups.loc[g, "cohort_id"] != groups.loc[first, "cohort_id"]
    )
    return first, second


@pytest.fixture(scope="session")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Served:
    """A writable home with the small seeded demo and a key for each of two groups."""
    from kit.demo import make_demo

    home = tmp_path_factory.mktemp("apps_home")
    settings = Settings(home_dir=home, database_url="")
    make_demo(settings, seed=1, small=True)
    store = open_store(settings)
    group_a, group_b = _two_groups(store)
    key_a = create_key(store, group_a, label="test A").key
    key_b = create_key(store, group_b, label="test B").key
    return Served(settings, store, None, group_a, group_b, key_a, key_b)


@pytest.fixture(scope="session")
def served(demo_home: Served):
    """``kit serve`` on a free loopback port over ``demo_home`` (preheated: dashboard, survey)."""
    from kit.apps.launch import ServedKit

    with ServedKit(demo_home.settings.home_dir, pools=(1, 1, 0)) as kit:
        demo_home.kit = kit
        yield demo_home
        demo_home.kit = None



@pytest.fixture
def page(browser):
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    page.set_default_timeout(120_000)
    yield page
    page.close()


@pytest.fixture(scope="session")
def screenshot_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = Path(os.environ.get("APPS_SCREENSHOT_DIR") or tmp_path_factory.mktemp("screenshots"))
    path.mkdir(parents=True, exist_ok=True)
    return path
