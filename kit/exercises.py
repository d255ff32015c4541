"""The workshop exercises, defined as data in ``kit/data/exercises.yaml``."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import yaml

from kit.errors import KitError, NotFoundError
from kit.settings import DATA_DIR, LANGUAGES

EXERCISES_PATH = DATA_DIR / "exercises.yaml"


@dataclass(frozen=True)
class Exercise:
    id: str
    name: dict[str, str]
    description: dict[str, str]
    recommendation: int | None
    live: bool


@lru_cache(maxsize=1)
def load_exercises() -> dict[str, Exercise]:
    """Every exercise by id, checked for both languages."""
    data = yaml.safe_load(EXERCISES_PATH.read_text(encoding="utf-8"))
    out = {}
    for eid, d in data.items():
        for field in ("name", "description"):
            missing = [lang for lang in LANGUAGES if not (d.get(field) or {}).get(lang)]
            if missing:
                raise KitError(  # dev-text: the kit's own data file is broken
                    f"exercises.yaml: {eid}.{field} has no text for {', '.join(missing)}."
                )
        out[eid] = Exercise(
            eid, d["name"], d["description"], d.get("recommendation"), bool(d.get("live"))
        )
    return out


def get_exercise(exercise_id: str) -> Exercise:
    try:
        return load_exercises()[exercise_id]
    except KeyError:
        raise NotFoundError.text(
            "engine.exercise.unknown", exercise=exercise_id, known=", ".join(load_exercises())
        ) from None
