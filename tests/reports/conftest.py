"""Fixtures of the report tests: a programme with three waves (before, midway, after)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kit.instrument import Instrument
from kit.settings import Settings

# Ordinals on purpose not in the ids' alphabetical order (after < before < midway).
THREE_WAVES_PROGRAMME = """\
programme: Treveisprogrammet
waves:
  - {id: before, ordinal: 1}
  - {id: midway, ordinal: 2}
  - {id: after, ordinal: 3}
cohorts:
  - id: tre-1
    name: Kull T
    start_date: 2025-01-13
    end_date: 2025-11-07
    groups:
%(groups)s
norm_base:
%(norms)s
"""
# group -> respondents per wave (midway of tw-d is below the threshold)
THREE_WAVE_PLAN = {
    "tw-a": {"before": 8, "midway": 7, "after": 8},
    "tw-b": {"before": 7, "midway": 7, "after": 6},
    "tw-c": {"before": 6, "midway": 6, "after": 7},
    "tw-d": {"before": 7, "midway": 3, "after": 7},
}
NORM_PLAN = {f"tn-{i}": {"before": 6 + i % 3} for i in range(1, 6)}
LEVELS = {"before": 4.3, "midway": 4.7, "after": 5.2}


@dataclass(frozen=True)
class ThreeWaves:
    settings: Settings
    groups: tuple[str, ...]
    waves: tuple[str, ...]  # in programme order


def three_wave_table(instrument: Instrument, seed: int = 11) -> pd.DataFrame:
    """Canonical responses for ``THREE_WAVE_PLAN`` and ``NORM_PLAN`` (rising level over waves)."""
    rng = np.random.default_rng(seed)
    dim_of = {d.id: k for k, d in enumerate(instrument.dimensions)}
    rows, n = [], 0
    for group, plan in {**THREE_WAVE_PLAN, **NORM_PLAN}.items():
        team = rng.normal(0, 0.3, len(instrument.dimensions))
        for wave, size in plan.items():
            for k in range(size):
                n += 1
                style = rng.normal(0, 0.4)
                row: dict[str, object] = {
                    "respondent": f"t{n:04d}",
                    "group": group,
                    "wave": wave,
                    "role": "leader" if k == 0 else "member",
                }
                for item in instrument.items:
                    x = LEVELS[wave] + team[dim_of[item.dimension]] + style + rng.normal(0, 0.7)
                    x = float(np.clip(round(x), instrument.scale.min, instrument.scale.max))
                    if item.reverse:
                        x = instrument.scale.min + instrument.scale.max - x
                    row[item.id] = x
                for q in instrument.open_question_ids:
                    row[q] = None
                rows.append(row)
    return pd.DataFrame(rows)


def make_three_waves(home: Path, instrument: Instrument, database_url: str = "") -> ThreeWaves:
    """A published programme of one cohort of four groups over three waves, and a norm base."""
    from kit.publication import publish
    from kit.store import open_store
    from kit.store.programme import load_programme

    def group_lines(plan: dict[str, dict[str, int]], indent: str) -> str:
        out = []
        for g, waves in plan.items():
            invited = ", ".join(f"{w}: {n + 2}" for w, n in waves.items())
            out.append(
                f"{indent}- id: {g}\n{indent}  name: Ledergruppen {g}\n"
                f"{indent}  organisation: Etat {g}\n{indent}  invited: {{{invited}}}"
            )
        return "\n".join(out)

    home.mkdir(parents=True, exist_ok=True)
    path = home / "programme.yaml"
    path.write_text(
        THREE_WAVES_PROGRAMME
        % {"groups": group_lines(THREE_WAVE_PLAN, "      "), "norms": group_lines(NORM_PLAN, "  ")},
        encoding="utf-8",
    )
    settings = Settings(home_dir=home, database_url=database_url)
    store = open_store(settings)
    store.save_programme(load_programme(path))
    table = three_wave_table(instrument)
    store.import_responses(table, instrument, "three-waves-v1", "three-waves.csv")
    publish(store, settings, instrument, close=True)
    return ThreeWaves(settings, tuple(THREE_WAVE_PLAN), ("before", "midway", "after"))


@pytest.fixture(scope="session")
def three_waves(tmp_path_factory: pytest.TempPathFactory, instrument: Instrument) -> ThreeWaves:
    """A SQLite home with a published three-wave programme (read only)."""
    return make_three_waves(tmp_path_factory.mktemp("three_waves"), instrument)


@pytest.fixture(scope="session")
def three_waves_maker():
    """``make_three_waves`` for tests that need their own copy (a test module cannot import it
    from ``conftest``: with several conftest files that name is whichever was loaded first)."""
    return make_three_waves
