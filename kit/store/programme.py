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
    norm_base:                           # groups compared with, in no cohort
      - id: n-statsbygg
        name: Ledergruppen i Statsbygg
        organisation: Statsbygg
        invited: {before: 9}

``load_programme(path)`` validates the file and lists every problem before it refuses;
``Store.save_programme(programme)`` writes it in one transaction.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kit.errors import NotFoundError, Problem, ProblemsError
from kit.settings import LANGUAGES

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

    @property
    def norm_groups(self) -> tuple[Group, ...]:
        return tuple(g for g in self.groups if g.in_norm_base)

    @property
    def programme_groups(self) -> tuple[Group, ...]:
        return tuple(g for g in self.groups if g.cohort_id is not None)


def load_programme(path: str | Path) -> Programme:
    """Read and validate a programme YAML file; every problem is listed before refusing."""
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(
            f"Programme file {str(path)!r} not found. Give the path to a YAML file with waves, "
            "cohorts and norm_base (see 'kit programme --help')."
        )
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ProgrammeError(
            path.name, [Problem(path.name, "is not UTF-8 text; save it as UTF-8")]
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        row = mark.line + 1 if mark is not None else None
        raise ProgrammeError(
            path.name,
            [Problem(path.name, f"is not valid YAML: {getattr(exc, 'problem', exc)}", row=row)],
        ) from None
    return parse_programme(data, source=path.name)


def parse_programme(data: Any, source: str = "programme") -> Programme:
    """Build a ``Programme`` from parsed YAML, collecting every problem before refusing."""
    problems: list[Problem] = []

    def add(where: str, reason: str, value: Any = None) -> None:
        problems.append(
            Problem(source, reason, column=where, value=None if value is None else str(value))
        )

    if not isinstance(data, dict):
        add("", "the file must be a mapping with waves, cohorts and norm_base")
        _raise(source, problems)
    unknown = set(data) - {"programme", "waves", "cohorts", "norm_base"}
    for key in sorted(unknown):
        add(key, "is not a known key; use programme, waves, cohorts and norm_base")
    name = str(data.get("programme") or "").strip()

    waves: list[Wave] = []
    raw_waves = data.get("waves")
    if not isinstance(raw_waves, list) or not raw_waves:
        add(
            "waves",
            "must list the survey waves, e.g. [{id: before, ordinal: 1}, {id: after, ordinal: 2}]",
        )
        raw_waves = []
    for i, w in enumerate(raw_waves):
        where = f"waves[{i}]"
        if isinstance(w, str):
            w = {"id": w, "ordinal": i + 1}
        if not isinstance(w, dict):
            add(where, "must be a wave id or a mapping with id and ordinal", w)
            continue
        wid = str(w.get("id") or "")
        if not WAVE_PATTERN.match(wid):
            add(f"{where}.id", "must be 1-32 letters, digits, '-', '_' or '.'", w.get("id"))
        ordinal = w.get("ordinal", i + 1)
        if not isinstance(ordinal, int) or isinstance(ordinal, bool):
            add(f"{where}.ordinal", "must be a whole number (1 for the first wave)", ordinal)
            ordinal = i + 1
        waves.append(Wave(wid, ordinal))
    _unique([w.id for w in waves], "waves", "wave id", add)
    _unique([str(w.ordinal) for w in waves], "waves", "wave ordinal", add)
    wave_ids = {w.id for w in waves}

    cohorts: list[Cohort] = []
    groups: list[Group] = []
    raw_cohorts = data.get("cohorts") or []
    if not isinstance(raw_cohorts, list):
        add("cohorts", "must be a list of cohorts")
        raw_cohorts = []
    for ci, c in enumerate(raw_cohorts):
        where = f"cohorts[{ci}]"
        if not isinstance(c, dict):
            add(where, "must be a mapping with id, name and groups")
            continue
        cid = _id(c.get("id"), f"{where}.id", add)
        cname = str(c.get("name") or "").strip()
        if not cname:
            add(f"{where}.name", "is missing")
        start = _date(c.get("start_date"), f"{where}.start_date", add)
        end = _date(c.get("end_date"), f"{where}.end_date", add)
        if start and end and end < start:
            add(f"{where}.end_date", f"is before the start date {start}", end)
        raw_groups = c.get("groups")
        if not isinstance(raw_groups, list) or not raw_groups:
            add(f"{where}.groups", "must list the cohort's groups")
            raw_groups = []
        members = []
        for gi, g in enumerate(raw_groups):
            group = _group(g, f"{where}.groups[{gi}]", cid, wave_ids, add, norm=False)
            if group is not None:
                groups.append(group)
                members.append(group.id)
        cohorts.append(Cohort(cid, cname, start, end, tuple(members)))
    _unique([c.id for c in cohorts], "cohorts", "cohort id", add)

    raw_norm = data.get("norm_base") or []
    if not isinstance(raw_norm, list):
        add("norm_base", "must be a list of groups")
        raw_norm = []
    for gi, g in enumerate(raw_norm):
        group = _group(g, f"norm_base[{gi}]", None, wave_ids, add, norm=True)
        if group is not None:
            groups.append(group)
    if not cohorts and not raw_norm:
        add("cohorts", "the programme has no cohorts and no norm-base groups")
    _unique([g.id for g in groups], "groups", "group id", add)

    _raise(source, problems)
    return Programme(
        name, tuple(sorted(waves, key=lambda w: w.ordinal)), tuple(cohorts), tuple(groups), source
    )


def _group(
    g: Any, where: str, cohort_id: str | None, wave_ids: set[str], add: Any, norm: bool
) -> Group | None:
    if not isinstance(g, dict):
        add(where, "must be a mapping with id, name, organisation and invited")
        return None
    known = {"id", "name", "organisation", "language", "invited", "survey_dates", "in_norm_base"}
    for key in sorted(set(g) - known):
        add(f"{where}.{key}", f"is not a known key; use {', '.join(sorted(known))}")
    gid = _id(g.get("id"), f"{where}.id", add)
    name = str(g.get("name") or "").strip()
    if not name:
        add(f"{where}.name", "is missing")
    language = str(g.get("language") or "nb")
    if language not in LANGUAGES:
        add(f"{where}.language", f"must be one of {', '.join(LANGUAGES)}", language)
    in_norm = g.get("in_norm_base", norm)
    if not isinstance(in_norm, bool):
        add(f"{where}.in_norm_base", "must be true or false", in_norm)
        in_norm = norm
    invited: dict[str, int | None] = {}
    raw_inv = g.get("invited")
    if isinstance(raw_inv, list):  # waves without counts
        raw_inv = {w: None for w in raw_inv}
    if not isinstance(raw_inv, dict) or not raw_inv:
        add(
            f"{where}.invited",
            "must map each wave the group takes part in to the number invited, "
            "e.g. {before: 8, after: 8}",
        )
        raw_inv = {}
    for wid, n in raw_inv.items():
        if str(wid) not in wave_ids:
            add(f"{where}.invited", f"names wave {wid!r}, which is not in waves", wid)
        elif n is not None and (not isinstance(n, int) or isinstance(n, bool) or n < 1 or n > 500):
            add(f"{where}.invited.{wid}", "must be a whole number of members, 1-500", n)
        else:
            invited[str(wid)] = n
    dates: dict[str, str] = {}
    for wid, d in (g.get("survey_dates") or {}).items():
        if str(wid) not in invited:
            add(
                f"{where}.survey_dates",
                f"names wave {wid!r}, which the group is not invited to",
                wid,
            )
        value = _date(d, f"{where}.survey_dates.{wid}", add)
        if value:
            dates[str(wid)] = value
    return Group(
        gid,
        name,
        str(g.get("organisation") or "").strip(),
        cohort_id,
        in_norm,
        language,
        invited,
        dates,
    )


def _id(value: Any, where: str, add: Any) -> str:
    text = "" if value is None else str(value)
    if not ID_PATTERN.match(text):
        add(where, "must be 1-64 letters, digits, '-', '_' or '.' (no spaces)", value)
    return text


def _date(value: Any, where: str, add: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.date):
        return value.isoformat()
    try:
        return dt.date.fromisoformat(str(value)).isoformat()
    except ValueError:
        add(where, "must be a date written YYYY-MM-DD", value)
        return None


def _unique(ids: list[str], where: str, kind: str, add: Any) -> None:
    seen: set[str] = set()
    for i in ids:
        if i and i in seen:
            add(where, f"duplicate {kind}", i)
        seen.add(i)


def _raise(source: str, problems: list[Problem]) -> None:
    if problems:
        raise ProgrammeError(
            source,
            problems,
            hint=(
                "Fix the programme file and load it again; nothing was saved. "
                "The format is described in kit/store/programme.py."
            ),
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
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=100)
