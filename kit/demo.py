"""A seeded, realistic demo programme: what a survey tool would export, imported like real data.

``make_demo(settings, seed=2024)`` writes into ``settings.var_dir / "demo"``:

- ``programme.yaml``: 4 cohorts ("kull") of 4 leadership teams of Norwegian public-sector agencies,
  the waves ``before``, ``midway`` (the first cohort only) and ``after``, and a norm base of
  other teams ('kit programme load' format);
- one survey export per wave (``lagprofil-before.csv``, ``lagprofil-midway.csv``, ...):
  semicolon-separated, decimal comma, UTF-8 with BOM, one row per respondent (what Norwegian
  survey tools write),

then loads the programme and imports the exports through :func:`kit.ingest.read_responses` and
:meth:`kit.store.Store.import_responses`, exactly as a staff member would. Same seed, same files
(byte for byte), so running it again changes nothing.

The answers come from a multilevel model: each team has latent means per dimension (a general
level plus dimension-specific deviations, so ICC(1) lands around .1-.25), each member a general
response style plus dimension deviations (items correlate within dimensions), each item its own
offset and noise. Between waves most teams improve, mostly on the dimensions they worked on (their
weakest), some stay flat and a few decline. Leaders rate their team a little higher than members.

The first cohort was also surveyed midway (a third wave), halfway between its before and after.
One team is an extended leadership group (the first programme team with eleven or more invited and
ten or more answers in every wave): its five directors answer as leaders and its unit heads as
members, so its reports may show leaders beside members; every other team has one leader, and its
reports show the refusal. The midway wave draws from a random stream of its own and the leaders
are only labels, so the rest of the demo is the same as without them.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from kit.errors import KitError
from kit.instrument import Instrument, load_instrument
from kit.settings import DATA_DIR, Settings
from kit.store import ImportResult, Store, open_store
from kit.store.programme import Cohort, Group, Programme, Wave, dump_programme, load_programme

DEMO_INSTRUMENT = "lagprofil"
WAVES = ("before", "midway", "after")
MIDWAY_COHORTS = (0,)  # cohorts (by index) also surveyed midway
EXTENDED_LEADERS = 5  # leaders of the extended leadership group (min_subgroup_respondents)
EXTENDED_MIN_INVITED = 11
NOT_APPLICABLE = "Vet ikke"  # what the demo's survey tool writes for "don't know / not applicable"
PROGRAMME_NAME = "Program for utvikling av toppledergrupper i staten"

# Agencies of the programme's teams and of the norm base (real names of Norwegian public bodies;
# the data about them is invented).
PROGRAMME_AGENCIES = (
    "Kystverket",
    "Lånekassen",
    "Husbanken",
    "Arbeidstilsynet",
    "Mattilsynet",
    "Kartverket",
    "Fiskeridirektoratet",
    "Sjøfartsdirektoratet",
    "Miljødirektoratet",
    "Helsedirektoratet",
    "Statens pensjonskasse",
    "Brønnøysundregistrene",
    "Utlendingsdirektoratet",
    "Digitaliseringsdirektoratet",
    "Kriminalomsorgsdirektoratet",
    "Statsforvalteren i Vestland",
)
NORM_AGENCIES = (
    "Skatteetaten",
    "Arbeids- og velferdsetaten",
    "Statens vegvesen",
    "Politidirektoratet",
    "Tolletaten",
    "Statsbygg",
    "Direktoratet for samfunnssikkerhet og beredskap",
    "Norges vassdrags- og energidirektorat",
    "Utdanningsdirektoratet",
    "Helsetilsynet",
    "Statistisk sentralbyrå",
    "Konkurransetilsynet",
    "Datatilsynet",
    "Forbrukertilsynet",
    "Riksantikvaren",
    "Kulturrådet",
    "Landbruksdirektoratet",
    "Luftfartstilsynet",
    "Jernbanedirektoratet",
    "Nasjonal kommunikasjonsmyndighet",
    "Barne-, ungdoms- og familiedirektoratet",
    "Direktoratet for høyere utdanning og kompetanse",
    "Direktoratet for medisinske produkter",
    "Norsk helsenett",
    "Havdirektoratet",
    "Direktoratet for forvaltning og økonomistyring",
    "Statsforvalteren i Nordland",
    "Statsforvalteren i Innlandet",
    "Statsforvalteren i Agder",
    "Statsforvalteren i Troms og Finnmark",
    "Integrerings- og mangfoldsdirektoratet",
    "Direktoratet for strålevern og atomsikkerhet",
)
NORM_UNITS = (
    "Toppledergruppen",
    "Ledergruppen, region nord",
    "Ledergruppen, region sør",
    "Ledergruppen, region vest",
    "Ledergruppen, region øst",
    "Ledergruppen, fagavdelingen",
    "Ledergruppen, stab og styring",
)
NORM_UNIT_IDS = dict(
    zip(NORM_UNITS, ("top", "nord", "sor", "vest", "ost", "fag", "stab"), strict=True)
)
# Where teams in this sector usually stand (7-point scale units; 0 = the instrument's average).
DIMENSION_LEVEL = {
    "purpose": 0.15,
    "composition": 0.1,
    "right_issues": -0.45,
    "knowledge_base": -0.15,
    "meetings": -0.35,
    "contribution": 0.0,
    "integration": -0.2,
    "conflict": -0.25,
    "external": -0.4,
    "team_learning": -0.5,
    "team_leadership": 0.1,
    "psychological_safety": 0.2,
    "trust": 0.3,
    "value_added": 0.1,
    "wellbeing": 0.35,
    "growth": 0.0,
}
GRAND_MEAN = 4.9  # on the 1-7 scale
GROUP_SD = 0.28  # teams' general level around the sector's
GROUP_DIMENSION_SD = 0.21  # a team's dimension-specific strengths and weaknesses

# Anonymity cases built in: (cohort index, group index in cohort, wave, respondents).
SMALL_GROUP_WAVES = ((1, 2, "after", 4), (3, 0, "before", 3), (2, 3, "after", 4))


@dataclass(frozen=True)
class DemoSummary:
    """What ``make_demo`` made: files, counts and what was imported."""

    seed: int
    demo_dir: Path
    programme_path: Path
    mapping_path: Path
    export_paths: dict[str, Path]
    cohorts: int
    programme_groups: int
    norm_groups: int
    respondents: dict[str, int]  # wave -> respondents in the export
    small_group_waves: list[tuple[str, str, int]]  # (group, wave, respondents) below the threshold
    imports: list[ImportResult] = field(default_factory=list)
    comments: int = 0
    published: list[Any] = field(default_factory=list)  # kit.publication.PublishOutcome

    @property
    def total_respondents(self) -> int:
        return sum(self.respondents.values())


def make_demo(
    settings: Settings,
    seed: int = 2024,
    *,
    small: bool = False,
    demo_dir: Path | None = None,
    import_data: bool = True,
    store: Store | None = None,
) -> DemoSummary:
    """Write the demo programme and survey exports, and import them into the store.

    ``small`` makes a quicker demo (same four cohorts, a norm base of 12 groups) for tests.
    Deterministic: the same seed gives the same files and the same database content.
    """
    instrument = load_instrument(DEMO_INSTRUMENT)
    demo_dir = Path(demo_dir or settings.var_dir / "demo")
    demo_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    programme = build_programme(rng, small=small)
    tables = simulate_responses(programme, instrument, rng, settings.min_respondents)

    programme_path = demo_dir / "programme.yaml"
    programme_path.write_text(
        f"# Demo programme made by 'kit demo' (seed {seed}); the data is invented.\n"
        + dump_programme(programme),
        encoding="utf-8",
    )
    mapping_path = demo_dir / "mapping.yaml"
    mapping_path.write_text(
        "# Column mapping for the demo's survey-tool exports (kit import FILE --mapping THIS).\n"
        + yaml.safe_dump(export_mapping(), allow_unicode=True, sort_keys=False),
        encoding="utf-8",
    )
    dates = {(g.id, w): d for g in programme.groups for w, d in g.survey_dates.items()}
    export_paths = {}
    for wave, table in tables.items():
        path = demo_dir / f"{instrument.id}-{wave}.csv"
        write_export(table, instrument, path, dates)
        export_paths[wave] = path

    counts = pd.concat(tables.values()).groupby(["group", "wave"]).size()
    programme_ids = {g.id for g in programme.programme_groups}
    small_cases = [
        (g, w, int(n))
        for (g, w), n in counts.items()
        if n < settings.min_respondents and g in programme_ids
    ]
    n_comments = int(
        sum(t[list(instrument.open_question_ids)].notna().sum().sum() for t in tables.values())
    )
    summary = DemoSummary(
        seed=seed,
        demo_dir=demo_dir,
        programme_path=programme_path,
        mapping_path=mapping_path,
        export_paths=export_paths,
        cohorts=len(programme.cohorts),
        programme_groups=len(programme.programme_groups),
        norm_groups=len(programme.norm_groups),
        respondents={w: len(t) for w, t in tables.items()},
        small_group_waves=sorted(small_cases),
        comments=n_comments,
    )
    if not import_data:
        return summary
    store = store or open_store(settings)
    imports = import_demo(store, instrument, programme_path, export_paths.values(), mapping_path)
    # The demo's surveys are over: staff close every group-wave and publish its results
    # (kit.publication; what every report and dashboard then reads).
    from kit.publication import publish

    published = publish(store, settings, instrument, close=True)
    # The programme's last wave stays open for late answers (the demo's survey invitation):
    # views keep showing the published version until enough late answers are published.
    for g in programme.programme_groups:
        if WAVES[-1] in g.invited:
            store.set_wave_status(g.id, WAVES[-1], "open")
    return DemoSummary(**{**summary.__dict__, "imports": imports, "published": published})


def import_demo(
    store: Store,
    instrument: Instrument,
    programme_path: Path,
    export_paths: Any,
    mapping_path: Path | None = None,
) -> list[ImportResult]:
    """Load the programme and import each export, as 'kit programme load' and 'kit import' do.

    Refuses (before changing anything) when the database holds a demo made with another seed.
    """
    from kit.ingest import read_responses  # data in: only needed when importing

    programme = load_programme(programme_path)
    known_groups = {g.id for g in programme.groups}
    known_waves = {w.id for w in programme.waves}
    ingested = [
        read_responses(
            path,
            instrument,
            mapping=mapping_path,
            known_groups=known_groups,
            known_waves=known_waves,
        )
        for path in export_paths
    ]
    imports = store.list_imports()
    for result in ingested:
        earlier = imports[imports["filename"] == result.filename] if len(imports) else imports
        if len(earlier) and result.source_hash not in set(earlier["source_hash"]):
            raise KitError.text(
                "engine.demo.other_data",
                backend=store.url.split("://")[0],
                filename=result.filename,
            )
    store.save_programme(programme)
    return [
        store.import_responses(r.table, instrument, r.source_hash, r.filename) for r in ingested
    ]


# -- the programme --------------------------------------------------------------------------------
def build_programme(rng: np.random.Generator, *, small: bool = False) -> Programme:
    """Four cohorts of four teams, two waves, and a norm base (64 teams, 12 when ``small``)."""
    waves = tuple(Wave(w, i + 1) for i, w in enumerate(WAVES))
    side = _side_rng(rng, 1)  # the midway wave's own draws: the other waves stay as they were
    starts = (
        dt.date(2024, 1, 15),
        dt.date(2024, 8, 26),
        dt.date(2025, 1, 13),
        dt.date(2025, 8, 25),
    )
    agencies = list(PROGRAMME_AGENCIES)
    cohorts, groups = [], []
    for c, start in enumerate(starts):
        end = start + dt.timedelta(days=298)
        cid = f"kull-{c + 1}"
        member_ids = []
        for j in range(4):
            org = agencies[4 * c + j]
            size = int(rng.integers(5, 13))
            gid = f"k{c + 1}-{slug(org)}"
            member_ids.append(gid)
            groups.append(
                Group(
                    id=gid,
                    name=f"Toppledergruppen i {org}",
                    organisation=org,
                    cohort_id=cid,
                    in_norm_base=False,
                    language="nb",
                    invited={
                        "before": size,
                        "after": min(12, max(5, size + int(rng.choice([-1, 0, 0, 0, 1])))),
                    },
                    survey_dates={
                        "before": (start - dt.timedelta(days=int(rng.integers(7, 15)))).isoformat(),
                        "after": (end - dt.timedelta(days=int(rng.integers(5, 12)))).isoformat(),
                    },
                )
            )
        if c in MIDWAY_COHORTS:
            for k in range(len(groups) - 4, len(groups)):
                g = groups[k]
                day = start + dt.timedelta(days=int(side.integers(140, 160)))
                groups[k] = Group(
                    **{
                        **g.__dict__,
                        "invited": _midway(g.invited, g.invited["before"]),
                        "survey_dates": _midway(g.survey_dates, day.isoformat()),
                    }
                )
        cohorts.append(
            Cohort(cid, f"Kull {c + 1}", start.isoformat(), end.isoformat(), tuple(member_ids))
        )

    n_norm = 12 if small else 64
    pairs = [(u, a) for u in NORM_UNITS for a in NORM_AGENCIES]
    chosen = rng.choice(len(pairs), size=n_norm, replace=False)
    for k, idx in enumerate(sorted(int(i) for i in chosen)):
        unit, org = pairs[idx]
        size = int(rng.integers(5, 13))
        both = k % 3 == 0  # a third of the norm base was surveyed twice
        name = f"Toppledergruppen i {org}" if unit == "Toppledergruppen" else f"{unit}, {org}"
        day = dt.date(2023, 1, 9) + dt.timedelta(days=int(rng.integers(0, 900)))
        invited = {"before": size, "after": size} if both else {"before": size}
        dates = {"before": day.isoformat()}
        if both:
            dates["after"] = (day + dt.timedelta(days=int(rng.integers(250, 330)))).isoformat()
        groups.append(
            Group(
                id=f"n-{_short(slug(org))}-{NORM_UNIT_IDS[unit]}",
                name=name,
                organisation=org,
                cohort_id=None,
                in_norm_base=True,
                language="nb",
                invited=invited,
                survey_dates=dates,
            )
        )
    return Programme(PROGRAMME_NAME, waves, tuple(cohorts), tuple(groups), "programme.yaml")


def _midway(by_wave: dict[str, Any], value: Any) -> dict[str, Any]:
    """``by_wave`` with ``midway`` between ``before`` and ``after`` (the programme's order)."""
    return {"before": by_wave["before"], "midway": value, "after": by_wave["after"]}


def _side_rng(rng: np.random.Generator, stream: int) -> np.random.Generator:
    """A generator of its own for an addition to the demo (``stream``), from the demo's seed:
    drawing from it leaves ``rng``'s draws, and so the rest of the demo, unchanged."""
    seq = rng.bit_generator.seed_seq
    return np.random.default_rng(np.random.SeedSequence(seq.entropy, spawn_key=(1000 + stream,)))


def _short(text: str, width: int = 40) -> str:
    """Shorten a slug at a hyphen so ids stay readable."""
    if len(text) <= width:
        return text
    return text[:width].rsplit("-", 1)[0]


def slug(text: str) -> str:
    """An ascii id from a Norwegian name: 'Lånekassen' -> 'lanekassen'."""
    text = text.lower().replace("æ", "ae").replace("ø", "o").replace("å", "a")
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    out = "".join(ch if ch.isalnum() else "-" for ch in text)
    return "-".join(part for part in out.split("-") if part)


# -- the answers ----------------------------------------------------------------------------------
def simulate_responses(
    programme: Programme, instrument: Instrument, rng: np.random.Generator, min_respondents: int = 5
) -> dict[str, pd.DataFrame]:
    """One canonical response table per wave (raw scale; NaN = missing or not applicable).

    The tables also carry a ``_not_applicable`` mask column list in ``attrs``.
    """
    scale = instrument.scale
    unit = (scale.max - scale.min) / 6  # the model is in 7-point units
    mid = (scale.min + scale.max) / 2
    dims = instrument.dimensions
    n_dims = len(dims)
    level = np.array([DIMENSION_LEVEL.get(d.id, 0.0) for d in dims]) + (GRAND_MEAN - 4)
    dim_index = {d.id: k for k, d in enumerate(dims)}
    item_dim = np.array([dim_index[i.dimension] for i in instrument.items])
    reverse = np.array([i.reverse for i in instrument.items])
    item_offset = rng.normal(0, 0.22, len(instrument.items))
    # Items that some respondents cannot judge (external relations, results): "not applicable".
    na_prone = np.array(
        [
            instrument.items[j].dimension in ("external", "value_added", "composition")
            for j in range(len(instrument.items))
        ]
    )
    small_cases = {}
    for ci, gi, wave, n in SMALL_GROUP_WAVES:
        if ci < len(programme.cohorts) and gi < len(programme.cohorts[ci].group_ids):
            small_cases[(programme.cohorts[ci].group_ids[gi], wave)] = min(n, min_respondents - 1)

    rows: dict[str, list[dict[str, Any]]] = {w.id: [] for w in programme.waves}
    used_ids: set[int] = set()
    side = _side_rng(rng, 2)  # the midway wave's answers
    side_ids: set[int] = set()
    # How each programme team develops: most improve, some stay flat, a few decline.
    n_programme = len(programme.programme_groups)
    n_flat, n_decline = max(1, round(n_programme * 0.19)), max(1, round(n_programme * 0.12))
    kinds = ["flat"] * n_flat + ["decline"] * n_decline
    kinds = list(rng.permutation(kinds + ["improve"] * max(0, n_programme - len(kinds))))
    for group in programme.groups:
        general = rng.normal(0, GROUP_SD)
        specific = rng.normal(0, GROUP_DIMENSION_SD, n_dims)
        latent = {"before": level + general + specific}
        kind = str(kinds.pop()) if group.cohort_id is not None and kinds else "norm"
        if "after" in group.invited:
            profile = latent["before"] - level
            latent["after"] = latent["before"] + _change(kind, profile, dims, rng)
        roster = _Roster(rng, n_dims)
        for wave, invited in group.invited.items():
            draw = side if wave == "midway" else rng
            size = invited or int(draw.integers(5, 13))
            n = small_cases.get((group.id, wave))
            if n is None:
                n = int(size - draw.binomial(size, 0.08))
                n = max(n, min(size, min_respondents))
            if wave == "midway":  # halfway from before to after, the same people
                latent["midway"] = (latent["before"] + latent["after"]) / 2 + side.normal(
                    0, 0.05, n_dims
                )
                members = roster.midway(side, size, n)
            else:
                members = roster.answering(wave, size, n)
            for k, person in enumerate(members):
                theta = latent[wave] + person
                if k == 0:  # the head of the team answers first and rates it a little higher
                    theta = theta + 0.3
                values = (
                    mid
                    + (theta[item_dim] + item_offset + draw.normal(0, 0.72, len(item_dim))) * unit
                )
                values = np.clip(np.rint(values), scale.min, scale.max)
                values = np.where(reverse, scale.min + scale.max - values, values)
                missing = draw.random(len(values)) < 0.03
                not_applicable = na_prone & (draw.random(len(values)) < 0.03) & ~missing
                values = np.where(missing | not_applicable, np.nan, values)
                row: dict[str, Any] = {
                    "respondent": (
                        _respondent_id(side, side_ids, 1_000_000, 9_999_999)
                        if wave == "midway"
                        else _respondent_id(rng, used_ids)
                    ),
                    "group": group.id,
                    "wave": wave,
                    "role": "leader" if k == 0 else "member",
                }
                row.update(zip(instrument.item_ids, values, strict=True))
                row["_na"] = [instrument.item_ids[j] for j in np.flatnonzero(not_applicable)]
                row.update(_comments(instrument, theta - level, draw, wave))
                rows[wave].append(row)
    tables = {}
    _extend_leaders(programme, rows, small_cases)
    for wave, wave_rows in rows.items():
        draw = side if wave == "midway" else rng
        table = pd.DataFrame(wave_rows)
        table = table.sample(frac=1, random_state=int(draw.integers(0, 2**31))).reset_index(
            drop=True
        )
        tables[wave] = table
    return tables


def _extend_leaders(
    programme: Programme,
    rows: dict[str, list[dict[str, Any]]],
    small_cases: dict[tuple[str, str], int],
) -> str | None:
    """Make the extended leadership group (see the module's docstring): the first programme team
    with ``EXTENDED_MIN_INVITED`` invited and at least twice ``EXTENDED_LEADERS`` answers in every
    wave gets its first ``EXTENDED_LEADERS`` respondents of each wave as leaders. Only labels
    change (no draw), so the demo's answers stay as they are."""
    by: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for wave, wave_rows in rows.items():
        for row in wave_rows:
            by.setdefault((row["group"], wave), []).append(row)
    for g in programme.programme_groups:
        waves = list(g.invited)
        if (
            min(g.invited.values()) >= EXTENDED_MIN_INVITED
            and not any((g.id, w) in small_cases for w in waves)
            and all(len(by.get((g.id, w), [])) >= 2 * EXTENDED_LEADERS for w in waves)
        ):
            for w in waves:
                for row in by[(g.id, w)][:EXTENDED_LEADERS]:
                    row["role"] = "leader"
            return g.id
    return None


def _change(kind: str, profile: np.ndarray, dims: Any, rng: np.random.Generator) -> np.ndarray:
    """Change from before to after. Improving teams gain most where they were weakest and on the
    dimensions they chose to work on; flat and declining teams move little or down; norm-base
    teams (no programme) drift a little upwards."""
    n_dims = len(dims)
    if kind == "norm":
        return rng.normal(0.12, 0.1) + rng.normal(0, 0.08, n_dims) - 0.15 * profile
    if kind == "flat":
        return rng.normal(0.0, 0.04) + rng.normal(0, 0.08, n_dims)
    if kind == "decline":
        return rng.normal(-0.25, 0.06) + rng.normal(0, 0.08, n_dims)
    change = rng.normal(0.35, 0.1) + rng.normal(0, 0.08, n_dims) - 0.3 * profile
    focus = np.argsort(profile)[: int(rng.integers(2, 4))]  # what the team chose to work on
    change[focus] += rng.normal(0.3, 0.1, len(focus))
    results = np.array([d.category == "results" for d in dims])
    change[results] *= 0.6  # results move slower than processes
    return change


class _Roster:
    """A team's members: the same people answer both waves (a few are replaced in between).

    A member is their deviation from the team's latent profile: a general response style plus
    dimension-specific views that partly persist from one wave to the next.
    """

    def __init__(self, rng: np.random.Generator, n_dims: int) -> None:
        self.rng = rng
        self.n_dims = n_dims
        self.people: list[np.ndarray] = []
        self.waves = 0

    def _person(self) -> np.ndarray:
        return self.rng.normal(0, 0.5) + self.rng.normal(0, 0.42, self.n_dims)

    def answering(self, wave: str, size: int, n: int) -> list[np.ndarray]:
        """The ``n`` of ``size`` members who answer this wave; the leader (index 0) always does."""
        rng = self.rng
        if self.waves:
            for k in range(1, len(self.people)):
                if rng.random() < 0.12:  # replaced since the last wave
                    self.people[k] = self._person()
                else:  # views move a little
                    self.people[k] = 0.8 * self.people[k] + 0.6 * rng.normal(0, 0.42, self.n_dims)
        while len(self.people) < size:
            self.people.append(self._person())
        self.waves += 1
        others = rng.choice(np.arange(1, size), size=max(0, n - 1), replace=False)
        return [self.people[0], *(self.people[int(k)] for k in sorted(others))]

    def midway(self, rng: np.random.Generator, size: int, n: int) -> list[np.ndarray]:
        """The ``n`` who answer midway: the people of the last wave, their views moved a little,
        drawn from ``rng`` (the roster itself is left as it was)."""
        people = [self.people[0]] + [
            0.9 * p + 0.4 * rng.normal(0, 0.42, self.n_dims) for p in self.people[1:size]
        ]
        while len(people) < size:
            people.append(rng.normal(0, 0.5) + rng.normal(0, 0.42, self.n_dims))
        others = rng.choice(np.arange(1, size), size=max(0, n - 1), replace=False)
        return [people[0], *(people[int(k)] for k in sorted(others))]


def _respondent_id(
    rng: np.random.Generator, used: set[int], low: int = 100000, high: int = 999999
) -> str:
    while True:
        number = int(rng.integers(low, high))
        if number not in used:
            used.add(number)
            return f"R{number}"


@lru_cache(maxsize=1)
def _comment_texts() -> dict[str, dict[str, list[str]]]:
    return yaml.safe_load((DATA_DIR / "demo" / "comments.yaml").read_text(encoding="utf-8"))


def _comments(
    instrument: Instrument, profile: np.ndarray, rng: np.random.Generator, wave: str
) -> dict[str, str | None]:
    """Open answers: strengths from the respondent's best dimensions, changes from the weakest."""
    texts = _comment_texts()
    order = np.argsort(profile)
    dims = [d.id for d in instrument.dimensions]
    plan = (
        ("strengths", order[::-1][:3], 0.45),
        ("changes", order[:3], 0.35),
        ("focus", order[:3], 0.25 if wave == "before" else 0.15),
    )
    out: dict[str, str | None] = {}
    for qid, (pool_name, candidates, share) in zip(
        instrument.open_question_ids, plan, strict=False
    ):
        if rng.random() >= share:
            out[qid] = None
            continue
        pool = texts[pool_name]
        dim = dims[int(rng.choice(candidates))]
        choices = pool.get(dim) if rng.random() < 0.8 else None
        choices = choices or pool["general"]
        text = str(rng.choice(choices))
        if rng.random() < 0.15:  # some write two things
            text = f"{text} {rng.choice(pool['general'])}"
        out[qid] = text
    for qid in instrument.open_question_ids[len(plan) :]:
        out[qid] = None
    return out


# -- the export -----------------------------------------------------------------------------------
# The demo's survey tool writes its own headers and labels; demo/mapping.yaml maps them (as a
# staff member would write once per survey tool).
EXPORT_COLUMNS = {"respondent": "Respondent ID", "group": "Team", "wave": "Måling", "role": "Rolle"}
EXPORT_WAVES = {"before": "Før", "midway": "Midtveis", "after": "Etter"}
EXPORT_ROLES = {"leader": "Leder for gruppen", "member": "Medlem av gruppen"}


def export_mapping() -> dict[str, Any]:
    """The column mapping (kit.ingest format) for the demo's survey-tool exports."""
    return {
        "columns": {header: name for name, header in EXPORT_COLUMNS.items()},
        "items": "Spm {n}",
        "open_questions": "Kommentar {n}",
        "values": {
            "wave": {v: k for k, v in EXPORT_WAVES.items()},
            "role": {v: k for k, v in EXPORT_ROLES.items()},
        },
        "not_applicable": [NOT_APPLICABLE],
        "ignore": ["Startet", "Tid brukt (min)"],
    }


def write_export(
    table: pd.DataFrame,
    instrument: Instrument,
    path: Path,
    survey_dates: dict[tuple[str, str], str] | None = None,
) -> None:
    """Write a survey tool's export: semicolon-separated, decimal comma, UTF-8 with BOM."""
    rng = np.random.default_rng(len(table))
    started = []
    for g, w in zip(table["group"], table["wave"], strict=True):
        day = (survey_dates or {}).get((g, w)) or "2025-01-06"
        minute = int(rng.integers(7 * 60, 22 * 60))
        started.append(f"{day} {minute // 60:02d}:{minute % 60:02d}")
    out = pd.DataFrame(
        {
            EXPORT_COLUMNS["respondent"]: table["respondent"],
            EXPORT_COLUMNS["group"]: table["group"],
            EXPORT_COLUMNS["wave"]: table["wave"].map(EXPORT_WAVES),
            EXPORT_COLUMNS["role"]: table["role"].map(EXPORT_ROLES),
            "Startet": started,
            "Tid brukt (min)": np.round(rng.gamma(6.0, 2.0, len(table)), 1),
        }
    )
    for n, item in enumerate(instrument.item_ids, start=1):
        col = table[item].map(lambda v: "" if v != v else str(int(v)))
        if "_na" in table.columns:
            na = table["_na"].map(lambda items, item=item: item in items)
            col = col.where(~na, NOT_APPLICABLE)
        out[f"Spm {n}"] = col
    for n, q in enumerate(instrument.open_question_ids, start=1):
        out[f"Kommentar {n}"] = table[q].where(table[q].notna(), "")
    out.to_csv(path, sep=";", decimal=",", index=False, encoding="utf-8-sig", lineterminator="\r\n")


def summary_lines(summary: DemoSummary) -> list[str]:
    """Plain facts about a demo, for logs and tests (the CLI prints translated text)."""
    lines = [
        f"demo seed {summary.seed}: {summary.cohorts} cohorts, "
        f"{summary.programme_groups} programme groups, {summary.norm_groups} norm-base groups",
        *(
            f"  {w}: {n} respondents ({summary.export_paths[w].name})"
            for w, n in summary.respondents.items()
        ),
    ]
    return lines
