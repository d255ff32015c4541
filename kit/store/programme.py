"""A programme defined as data: waves, cohorts with their groups, and the norm base (YAML).

::

    programme: Programme for top leadership teams
    waves:
      - {id: before, ordinal: 1}
      - {id: after, ordinal: 2}
    cohorts:
      - id: kull-1
        name: Kull 1
        start_date: 2025-01-13          # optional, ISO dates
        end_date: 2025-11-07
        groups:
          - id: k1-kystverket
            name: Toppledergruppen i Kystverket
            organisation: Kystverket
            language: nb                 # nb (default) or en
            invited: {before: 8, after: 8}
            survey_dates: {before: 2025-01-06, after: 2025-10-27}   # optional
    retention_months: 24                 # optional: answers are erased this long after a
                                         # cohort ends (kit retention; published results kept)
    norm_base:                           # groups compared with, in no cohort
      - id: n-statsbygg
        name: Ledergruppen i Statsbygg
        organisation: Statsbygg
        invited: {before: 9}

``load_programme(path)`` validates the file strictly (``kit.config``: unknown keys, a key written
twice, impossible dates, wrong types, unknown waves in ``invited``, ids or ordinals given twice,
an end before the start) and lists every problem before it refuses;
``Store.save_programme(programme)`` writes it in one transaction.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import Discriminator, Field, Strict, StrictBool, StrictInt, StringConstraints, Tag

from kit import config
from kit.errors import NotFoundError, ProblemsError
from kit.i18n import t

ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
WAVE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")


class ProgrammeError(ProblemsError):
    """A programme file (cohorts, groups, waves) is invalid."""


@dataclass(frozen=True)
class Wave:
    id: str
    ordinal: int


@dataclass(frozen=True)
class Group:
    id: str
    name: str
    organisation: str = ""
    cohort_id: str | None = None
    in_norm_base: bool = False
    language: str = "nb"
    invited: dict[str, int | None] = field(default_factory=dict)  # wave id -> members invited
    survey_dates: dict[str, str] = field(default_factory=dict)  # wave id -> ISO date


@dataclass(frozen=True)
class Cohort:
    id: str
    name: str
    start_date: str | None = None
    end_date: str | None = None
    group_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class Programme:
    name: str
    waves: tuple[Wave, ...]
    cohorts: tuple[Cohort, ...]
    groups: tuple[Group, ...]  # cohort groups first, then the norm base
    source: str = ""
    retention_months: int | None = None  # answers kept this long after a cohort ends (GDPR)

    @property
    def norm_groups(self) -> tuple[Group, ...]:
        return tuple(g for g in self.groups if g.in_norm_base)

    @property
    def programme_groups(self) -> tuple[Group, ...]:
        return tuple(g for g in self.groups if g.cohort_id is not None)


def load_programme(path: str | Path, lang: str | None = None) -> Programme:
    """Read and validate a programme YAML file; every problem is listed before refusing."""
    lang = config.language(lang)
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(t("config.programme.not_found", lang, path=str(path)))
    doc = config.read_config(path, error=ProgrammeError, lang=lang, hint_key=HINT)
    return _build(doc, lang)


def parse_programme(data: Any, source: str = "programme", lang: str | None = None) -> Programme:
    """Build a ``Programme`` from parsed YAML, collecting every problem before refusing."""
    return _build(config.ConfigDoc(source, data), config.language(lang))


# -- the schema ----------------------------------------------------------------------------------
HINT = "config.programme.hint"
Id = Annotated[str, StringConstraints(pattern=ID_PATTERN.pattern)]
WaveId = Annotated[str, StringConstraints(pattern=WAVE_PATTERN.pattern)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Invited = Annotated[int, Strict(), Field(ge=1, le=500)]


class WaveModel(config.StrictModel):
    id: WaveId
    ordinal: StrictInt | None = None


WaveEntry = Annotated[
    Annotated[WaveModel, Tag("<mapping>")] | Annotated[WaveId, Tag("<text>")],
    Discriminator(config.text_or_mapping),
]
InvitedEntry = Annotated[
    Annotated[dict[str, Invited | None], Tag("<mapping>")] | Annotated[list[WaveId], Tag("<list>")],
    Discriminator(config.list_or_mapping),
]


class GroupModel(config.StrictModel):
    id: Id
    name: Name
    organisation: str | None = None
    language: Literal["nb", "en"] | None = None
    invited: InvitedEntry
    survey_dates: dict[str, dt.date | None] | None = None
    in_norm_base: StrictBool | None = None


class CohortModel(config.StrictModel):
    id: Id
    name: Name
    start_date: dt.date | None = None
    end_date: dt.date | None = None
    groups: Annotated[list[GroupModel], Field(min_length=1)]


class ProgrammeModel(config.StrictModel):
    programme: str | None = None
    waves: Annotated[list[WaveEntry], Field(min_length=1)]
    cohorts: list[CohortModel] | None = None
    norm_base: list[GroupModel] | None = None
    retention_months: Annotated[int, Strict(), Field(ge=1, le=600)] | None = None


def _build(doc: config.ConfigDoc, lang: str) -> Programme:
    check = config.Checker(doc, lang)
    if not isinstance(doc.data, dict):
        check.add((), "config.programme.not_mapping")
        check.refuse_if_any(ProgrammeError, HINT)
    model, problems = config.check_model(ProgrammeModel, doc, lang)
    check.extend(problems)
    data = doc.data
    get = config.raw_get

    # Waves: ids and ordinals once each (a wave given as text has its place as ordinal).
    wave_ids: list[tuple[tuple, Any]] = []
    ordinals: list[tuple[tuple, Any]] = []
    for i, w in config.raw_items(get(data, "waves")):
        wid = w if not isinstance(w, dict) else w.get("id")
        wave_ids.append((("waves", i, "id") if isinstance(w, dict) else ("waves", i), wid))
        ordinal = w.get("ordinal", i + 1) if isinstance(w, dict) else i + 1
        if ordinal is None:
            ordinal = i + 1
        ordinals.append(
            ((("waves", i, "ordinal") if isinstance(w, dict) else ("waves", i)), ordinal)
        )
    check.unique(wave_ids, "config.programme.duplicate_wave")
    check.unique(ordinals, "config.programme.duplicate_ordinal")
    known_waves = {str(w) for _, w in wave_ids if w is not None}

    group_ids: list[tuple[tuple, Any]] = []
    cohort_ids: list[tuple[tuple, Any]] = []
    raw_groups: list[tuple[tuple, Any]] = []
    for ci, c in config.raw_items(get(data, "cohorts")):
        cohort_ids.append((("cohorts", ci, "id"), get(c, "id")))
        start, end = _date(get(c, "start_date")), _date(get(c, "end_date"))
        if start and end and end < start:
            check.add(
                ("cohorts", ci, "end_date"),
                "config.programme.end_before_start",
                end.isoformat(),
                start=start.isoformat(),
            )
        for gi, g in config.raw_items(get(c, "groups")):
            raw_groups.append((("cohorts", ci, "groups", gi), g))
    for gi, g in config.raw_items(get(data, "norm_base")):
        raw_groups.append((("norm_base", gi), g))
    for where, g in raw_groups:
        group_ids.append(((*where, "id"), get(g, "id")))
        invited = get(g, "invited")
        names = list(invited) if isinstance(invited, dict | list) else []
        for wid in names:
            if str(wid) not in known_waves:
                path = (
                    (*where, "invited", wid) if isinstance(invited, dict) else (*where, "invited")
                )
                check.add(
                    path, "config.programme.unknown_wave", wid, waves=", ".join(sorted(known_waves))
                )
        dates = get(g, "survey_dates")
        if isinstance(dates, dict):
            for wid in dates:
                if str(wid) not in {str(n) for n in names}:
                    check.add(
                        (*where, "survey_dates", wid), "config.programme.date_not_invited", wid
                    )
    check.unique(cohort_ids, "config.programme.duplicate_cohort")
    check.unique(group_ids, "config.programme.duplicate_group")
    if not get(data, "cohorts") and not get(data, "norm_base"):
        check.add(("cohorts",), "config.programme.empty")
    check.refuse_if_any(ProgrammeError, HINT)
    assert model is not None
    return _programme(model, doc.source)


def _date(value: Any) -> dt.date | None:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def _programme(m: ProgrammeModel, source: str) -> Programme:
    waves = []
    for i, w in enumerate(m.waves):
        if isinstance(w, WaveModel):
            waves.append(Wave(w.id, i + 1 if w.ordinal is None else w.ordinal))
        else:
            waves.append(Wave(str(w), i + 1))

    def group(g: GroupModel, cohort_id: str | None, norm: bool) -> Group:
        invited = (
            {str(k): v for k, v in g.invited.items()}
            if isinstance(g.invited, dict)
            else {str(w): None for w in g.invited}
        )
        dates = {str(k): v.isoformat() for k, v in (g.survey_dates or {}).items() if v}
        return Group(
            g.id,
            g.name,
            (g.organisation or "").strip(),
            cohort_id,
            norm if g.in_norm_base is None else g.in_norm_base,
            g.language or "nb",
            invited,
            dates,
        )

    cohorts, groups = [], []
    for c in m.cohorts or []:
        members = [group(g, c.id, False) for g in c.groups]
        groups.extend(members)
        cohorts.append(
            Cohort(
                c.id,
                c.name,
                c.start_date.isoformat() if c.start_date else None,
                c.end_date.isoformat() if c.end_date else None,
                tuple(g.id for g in members),
            )
        )
    groups.extend(group(g, None, True) for g in m.norm_base or [])
    return Programme(
        (m.programme or "").strip(),
        tuple(sorted(waves, key=lambda w: w.ordinal)),
        tuple(cohorts),
        tuple(groups),
        source,
        m.retention_months,
    )


def dump_programme(programme: Programme) -> str:
    """The programme as YAML text that ``load_programme`` reads back."""
    cohort_groups = {
        c.id: [g for g in programme.groups if g.cohort_id == c.id] for c in programme.cohorts
    }

    def group_data(g: Group) -> dict[str, Any]:
        d: dict[str, Any] = {"id": g.id, "name": g.name, "organisation": g.organisation}
        if g.language != "nb":
            d["language"] = g.language
        d["invited"] = dict(g.invited)
        if g.survey_dates:
            d["survey_dates"] = dict(g.survey_dates)
        if g.cohort_id is not None and g.in_norm_base:
            d["in_norm_base"] = True
        return d

    data: dict[str, Any] = {
        "programme": programme.name,
        "waves": [{"id": w.id, "ordinal": w.ordinal} for w in programme.waves],
        "cohorts": [
            {
                "id": c.id,
                "name": c.name,
                "start_date": c.start_date,
                "end_date": c.end_date,
                "groups": [group_data(g) for g in cohort_groups[c.id]],
            }
            for c in programme.cohorts
        ],
        "norm_base": [group_data(g) for g in programme.groups if g.cohort_id is None],
    }
    if programme.retention_months is not None:
        data["retention_months"] = programme.retention_months
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=100)
