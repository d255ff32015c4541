"""What a report or an app receives: a group's, a cohort's or a programme's results.

Built only from **published snapshots** (``kit.publication``, stored by ``kit.store.publications``):
a group-wave's protected results are computed once, when staff publish it, rounded to what reports
print, and every view reads that snapshot. Nothing here loads or scores raw answers, so a view
never differs from another by one person, and showing one group costs its own snapshot plus the
comparison aggregates (cached per publication stamp). A group-wave that is not published, or under
the threshold, gets a :class:`GroupResults` that says so and carries no scores.

Every aggregate shown beside a group's own result (norm mean, sd, percentile and band, cohort
mean, programme dimension change) is made of at least ``settings.min_comparison_groups``
reportable groups other than the group itself; otherwise it is missing and a reason is given.

>>> res = group_results(store, settings, "k1-kystverket", ["before", "after"], "en", instrument)
>>> res.reportable, res.version, res.published_at, res.strengths
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from kit.comparison import group_rows
from kit.errors import NotFoundError
from kit.exercises import load_exercises
from kit.i18n import Text, t
from kit.instrument import Instrument, load_instrument
from kit.settings import Settings
from kit.store import Store, open_store

AGREEMENT_THRESHOLD = 0.70  # rwg(J) below this: no shared view to speak of
PARTICIPATION_FLAG = 0.60  # fewer of the invited than this answered: read the results with care
ABOVE_MOST = 50.0  # every shown dimension above this percentile: "even the weakest sit above most"
# A dimension's band in words, from its 95 % interval against the norm mean.
STRENGTH, IN_LINE, DEVELOPMENT = "strength", "in_line", "development"
BANDS = (STRENGTH, IN_LINE, DEVELOPMENT)
STRENGTHS = 3  # how many strengths and development areas a summary names
NORM_BASES = ("norm", "all", "programme")
NOT_PUBLISHED = "not_published"
COMPARISON = "comparison"
# Decimals of aggregates computed at read time from rounded snapshots.
AGG_DIGITS = {
    "norm_mean": 1,
    "norm_sd": 2,
    "norm_low": 1,
    "norm_high": 1,
    "percentile": 0,
    "cohort_mean": 1,
}


# -- shared -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScoredData:
    """Published results of every group of one instrument, and the reference tables.

    Holds no respondent-level data and no raw answers: ``dimensions`` are the rounded dimension
    rows of every group-wave's current published version, ``icc`` / ``reliability`` are pooled
    from the published snapshots. ``data_hash`` changes with every publication.
    """

    instrument: Instrument
    groups: pd.DataFrame
    cohorts: pd.DataFrame
    group_waves: pd.DataFrame
    waves: pd.DataFrame
    rules: Any  # kit.privacy.AnonymityRules (the thresholds views apply)
    data_hash: str = ""
    publications: pd.DataFrame = field(default_factory=pd.DataFrame)  # current versions
    dimensions: pd.DataFrame = field(default_factory=pd.DataFrame)  # group, wave, dimension, ...
    icc: pd.DataFrame = field(default_factory=pd.DataFrame)
    reliability: pd.DataFrame = field(default_factory=pd.DataFrame)
    min_comparison_groups: int = 3

    @property
    def protected(self) -> ScoredData:
        """Kept for callers of the earlier shape (``data.protected.dimensions``): the published
        rows are the protected scores (no respondent-level data)."""
        return self

    def publication(self, group_id: str, wave: str) -> dict[str, Any] | None:
        """The current publication's facts (version, published_at, respondents, reportable,
        reason) of a group-wave, or None when it is not published."""
        p = self.publications
        if p.empty:
            return None
        row = p[(p["group_id"] == group_id) & (p["wave_id"] == wave)]
        return row.iloc[0].to_dict() if len(row) else None

    def visible_dimensions(self, wave: str) -> pd.DataFrame:
        """Dimension rows of ``wave`` that a view may show and compare (reportable groups at the
        view's thresholds, dimension not suppressed); ``visible`` is computed once per load."""
        d = self.dimensions
        if d.empty:
            return d
        from kit.comparison import memo  # the same rows for every group of a publication set

        return memo(self, ("visible", wave), lambda: d[(d["wave"] == wave) & d["visible"]])


def _mark_visible(d: pd.DataFrame, publications: pd.DataFrame, k: int) -> pd.DataFrame:
    """``d`` with the group-wave's ``respondents`` and whether the row may be ``visible``."""
    if d.empty:
        return d.assign(respondents=pd.Series(dtype="Int64"), visible=pd.Series(dtype=bool))
    resp = publications[["group_id", "wave_id", "respondents"]].rename(
        columns={"group_id": "group", "wave_id": "wave"}
    )
    d = d.merge(resp, on=["group", "wave"], how="left")
    d["visible"] = (
        d["reportable"].astype(bool)
        & d["suppressed"].isna()
        & d["mean"].notna()
        & (d["respondents"].fillna(0) >= k)
        & (d["n"].fillna(0) >= k)
    ).astype(bool)
    return d


_CACHE: dict[tuple[Any, ...], ScoredData] = {}
_CACHE_SIZE = 4


def enable_run_cache() -> None:
    """Kept for the batch runner's warm kernels: published data are cached per publication
    stamp in every process anyway (a new publication makes a new entry)."""


def load_scored_data(store: Store, settings: Settings, instrument: Instrument) -> ScoredData:
    """The published results of every group of ``instrument`` (no raw answers are read).

    Cached per (database, instrument, thresholds, publication stamp): reading it again after
    nothing was published costs two small queries.
    """
    from kit.store.publications import publication_stamp

    stamp = publication_stamp(store, instrument.id)
    key = (
        store.url,
        instrument.id,
        instrument.version,
        instrument.source_path,
        _settings_key(settings),
        stamp,
    )
    reference = _reference_frames(store)
    cached = _CACHE.get(key)
    if cached is None:
        cached = _load_published(store, settings, instrument)
        while len(_CACHE) >= _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = cached
    groups, cohorts, group_waves, waves = reference
    digest = _hash_frames(
        [cached.publications[["id", "group_id", "wave_id", "version"]] if len(cached.publications)
         else pd.DataFrame(), groups, cohorts, group_waves, waves],
        # the store and its stamp too: two stores (or a store restored from a backup) may hold
        # publications with the same ids and other figures
        f"{instrument.id}/{instrument.version}/{_settings_key(settings)}/{store.url}/{stamp}",
    )  # fmt: skip
    return ScoredData(
        instrument=instrument,
        groups=groups,
        cohorts=cohorts,
        group_waves=group_waves,
        waves=waves,
        rules=cached.rules,
        data_hash=digest,
        publications=cached.publications,
        dimensions=cached.dimensions,
        icc=cached.icc,
        reliability=cached.reliability,
        min_comparison_groups=settings.min_comparison_groups,
    )


def _reference_frames(store: Store) -> tuple[pd.DataFrame, ...]:
    return (store.list_groups(), store.list_cohorts(), store.list_group_waves(), store.list_waves())


def _load_published(store: Store, settings: Settings, instrument: Instrument) -> ScoredData:
    from kit.privacy import AnonymityRules
    from kit.publication import pooled_statistics
    from kit.store import publications as pubs

    rules = AnonymityRules.from_settings(settings)
    publications = pubs.list_publications(store, instrument.id)
    dims = _mark_visible(
        pubs.current_dimensions(store, instrument.id), publications, rules.min_respondents
    )
    icc, reliability = pooled_statistics(pubs.current_pools(store, instrument.id), instrument)
    empty = pd.DataFrame()
    return ScoredData(
        instrument, empty, empty, empty, empty, rules, "", publications, dims, icc, reliability,
        settings.min_comparison_groups,
    )  # fmt: skip


def _norm_groups(data: ScoredData, norm_base: str, exclude: str | None = None) -> list[str]:
    g = data.groups
    if norm_base == "norm":
        ids = g.loc[g["in_norm_base"].astype(bool), "id"]
    elif norm_base == "programme":
        ids = g.loc[g["cohort_id"].notna(), "id"]
    else:
        ids = g["id"]
    return [i for i in ids if i != exclude]


def _ordered_waves(
    data: ScoredData, waves: list[str] | None, group_id: str | None = None
) -> list[str]:
    order = list(data.waves.sort_values("ordinal")["id"])
    if waves:
        unknown = [w for w in waves if w not in order]
        if unknown:
            raise NotFoundError.text(
                "engine.results.no_waves", waves=", ".join(unknown), known=", ".join(order)
            )
        return sorted(waves, key=order.index)
    gw = data.group_waves
    pubs = data.publications
    if group_id is not None:
        gw = gw[gw["group_id"] == group_id]
        pubs = pubs[pubs["group_id"] == group_id] if len(pubs) else pubs
    present = set(gw.loc[gw["respondents"] > 0, "wave_id"])
    if len(pubs):
        present |= set(pubs["wave_id"])
    return [w for w in order if w in present]


def _group_reason(data: ScoredData, group_id: str, wave: str) -> str | None:
    """Why a group-wave shows no results at all (None: it does). Per-dimension reasons are in
    the dimension rows; one hidden dimension never hides the group."""
    pub = data.publication(group_id, wave)
    if pub is None:
        return NOT_PUBLISHED
    if not pub["reportable"]:
        return str(pub["reason"] or "too_few")
    if int(pub["respondents"]) < data.rules.min_respondents:
        return "too_few"
    return None


# Kept for callers of the earlier name: now the group-level reason only.
_suppressed_reason = _group_reason


def _reason_text(reason: str, data: ScoredData, lang: str) -> str:
    min_n = {
        "comments": data.rules.min_comment_respondents,
        "subgroup": data.rules.min_subgroup_respondents,
        COMPARISON: data.min_comparison_groups,
    }.get(reason, data.rules.min_respondents)
    try:
        return t(f"common.suppressed.{reason}", lang, min_n=min_n)
    except Exception:  # noqa: BLE001 - an unknown code still hides the scores
        return t("common.suppressed.too_few", lang, min_n=min_n)


def _dimension_frame(instrument: Instrument, lang: str) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "dimension": d.id,
                "dimension_name": d.name.get(lang, d.id),
                "description": d.description.get(lang, ""),
                "category": d.category,
                "category_name": instrument.category(d.category).name.get(lang, d.category)
                if d.category
                else "",
                "order": i,
            }
            for i, d in enumerate(instrument.dimensions)
        ]
    )


def _wave_name(wave: str, lang: str) -> str:
    try:
        return t(f"common.wave.{wave}", lang)
    except Exception:  # noqa: BLE001 - a wave without a translation shows its id
        return wave


def _hash_frames(frames: list[pd.DataFrame], extra: str = "") -> str:
    h = hashlib.sha256()
    for frame in frames:
        h.update(",".join(map(str, frame.columns)).encode())
        if len(frame):
            h.update(
                pd.util.hash_pandas_object(frame.astype(str), index=False).to_numpy().tobytes()
            )
    h.update(extra.encode())
    return h.hexdigest()


def _settings_key(settings: Settings) -> str:
    return (
        f"{settings.min_respondents}/{settings.min_subgroup_respondents}/"
        f"{settings.min_comment_respondents}/{settings.min_answered_share}/"
        f"{settings.min_comparison_groups}"
    )


def _iso(value: Any) -> str | None:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return value.isoformat(timespec="seconds") if hasattr(value, "isoformat") else str(value)


def base_fingerprint(store: Store, settings: Settings, instrument: Instrument) -> str:
    """A hash of the current publications of ``instrument`` and the groups, cohorts and waves:
    a report changes only when something is published (or the programme changes)."""
    from kit.store.publications import list_publications

    pubs = list_publications(store, instrument.id)
    return _hash_frames(
        [
            pubs[["id", "group_id", "wave_id", "version"]] if len(pubs) else pd.DataFrame(),
            *_reference_frames(store),
        ],
        f"{instrument.id}/{instrument.version}/{_settings_key(settings)}",
    )


def group_fingerprint(base: str, store: Store, group_id: str | None) -> str:
    """``base`` plus ``group_id``'s action plan: what one group's report reads."""
    if not group_id:
        return base
    actions = _actions(store, group_id)
    reviews = _decision_reviews(store, None, group_id)  # live: decision reviews (kit.live)
    frames = [x for x in (actions, reviews) if x is not None]
    return _hash_frames(frames, base + group_id)


def data_fingerprint(
    settings: Settings, instrument: str | Instrument, group_id: str | None = None
) -> tuple[str, dict[str, Any]]:
    """The hash of the data a report reads, and the instrument's id and version."""
    inst = instrument if isinstance(instrument, Instrument) else load_instrument(instrument)
    store = open_store(settings)
    digest = group_fingerprint(base_fingerprint(store, settings, inst), store, group_id)
    return digest, {"instrument": {"id": inst.id, "version": inst.version}}


def _actions(store: Store, group_id: str) -> pd.DataFrame | None:
    """The group's action plan from live sessions, or None when the live part is absent."""
    try:
        from kit.store.live import list_actions
    except ImportError:
        return None
    try:
        actions = list_actions(store, group_id)
    except Exception:  # noqa: BLE001 - no live tables yet means no action plan
        return None
    return actions if actions is not None and len(actions) else None


def _decision_reviews(store: Store, settings: Settings | None,
                      group_id: str) -> pd.DataFrame | None:
    """The group's decision reviews from live sessions (``kit.live.report_data``), or None
    when there are none or the live part is absent."""
    try:
        from kit.live.report_data import decision_reviews
    except ImportError:
        return None
    from kit.settings import load_settings

    try:
        frame = decision_reviews(store, settings or load_settings(), group_id)
    except Exception:  # noqa: BLE001 - no live tables yet means no decision review
        return None
    return frame if len(frame) else None


def _round_aggregates(frame: pd.DataFrame) -> pd.DataFrame:
    for col, digits in AGG_DIGITS.items():
        if col in frame:
            frame[col] = pd.to_numeric(frame[col], errors="coerce").astype(float).round(digits)
    return frame


def comparison_values(
    data: ScoredData, wave: str, group_ids: list[str], exclude: str | None
) -> pd.DataFrame:
    """Per dimension, the shown means of ``group_ids`` (other than ``exclude``) in ``wave``:
    group, dimension, mean. Only reportable, unsuppressed snapshot rows."""
    vis = data.visible_dimensions(wave)
    if vis.empty:
        return pd.DataFrame(columns=["group", "dimension", "mean"])
    sel = vis[vis["group"].isin(set(group_ids) - {exclude})]
    return sel[["group", "dimension", "mean"]]


def _norm_table(
    data: ScoredData, wave: str, norm_ids: list[str], group_id: str, own: pd.Series
) -> pd.DataFrame:
    """norm_mean, norm_sd, norm_groups, percentile, norm_low, norm_high per dimension, each
    missing where fewer than ``min_comparison_groups`` other norm groups have a shown mean.
    The norm groups' means are gathered once per publication set (``kit.comparison``)."""
    from kit.comparison import norm_table

    return _round_aggregates(norm_table(data, wave, norm_ids, group_id, own))


# -- one group ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupResults:
    """Everything a group's report or dashboard shows, for one wave (the last of ``waves``).

    When ``reportable`` is False every score frame is empty and ``suppressed_text`` says why
    (also "not published yet"). ``respondents`` and ``invited`` are shown even then (staff chase
    answers). A dimension hidden on its own keeps its row with no numbers and a ``suppressed``
    reason and ``suppressed_text``. ``version`` / ``published_at`` (ISO, UTC) say which published
    version is shown; ``baseline_version`` / ``baseline_published_at`` the same for the change.
    """

    group_id: str
    group_name: str
    organisation: str
    cohort_id: str | None
    cohort_name: str
    language: str
    instrument_id: str
    instrument_version: str
    instrument_name: str
    wave: str
    wave_name: str
    waves: tuple[str, ...]
    survey_date: str | None
    respondents: int
    invited: int | None
    reportable: bool
    suppressed_text: str
    min_respondents: int
    min_comment_respondents: int
    scale_min: int
    scale_max: int
    scale_labels: tuple[str, ...]
    dimensions: pd.DataFrame  # one row per dimension (see module doc)
    items: pd.DataFrame
    distributions: pd.DataFrame
    strengths: tuple[str, ...] = ()
    development_areas: tuple[str, ...] = ()
    disagreements: tuple[str, ...] = ()
    baseline_wave: str | None = None
    baseline_wave_name: str = ""
    change: pd.DataFrame | None = None
    change_text: str = ""  # why there is no change table, when there is none
    exercises: tuple[dict[str, Any], ...] = ()
    comments: tuple[dict[str, Any], ...] = ()  # {question, texts}
    comments_text: str = ""  # why there are no comments, when there are none
    actions: pd.DataFrame | None = None
    decision_reviews: pd.DataFrame | None = None  # live decision reviews (kit.live.report_data)
    norm_groups: int = 0
    norm_base: str = "norm"
    norm_wave: str = ""  # the wave whose norm groups are the norm of this view
    norm_wave_name: str = ""
    norm_fixed: bool = False  # True: a run file fixed the norm wave (else each wave's own)
    cohort_groups_shown: int = 0
    method: dict[str, Any] = field(default_factory=dict)
    # Publication (what version of the results is shown, and since when).
    published: bool = False
    version: int | None = None
    published_at: str | None = None  # ISO 8601, UTC
    baseline_version: int | None = None
    baseline_published_at: str | None = None
    comparison_text: str = ""  # why a norm or cohort comparison is missing, when one is
    min_comparison_groups: int = 3
    # Every wave in programme order (see ``wave_series``): levels per wave and dimension, and
    # the change between consecutive waves and from the first to the last (with intervals).
    wave_levels: pd.DataFrame | None = None
    wave_changes: pd.DataFrame | None = None
    # Leader vs members (``role_split``): rows per role and dimension where the engine's rule
    # allows the split, else None and ``roles_text`` says why (no numbers).
    roles: pd.DataFrame | None = None
    roles_text: str = ""

    def dimension_name(self, dimension_id: str) -> str:
        row = self.dimensions.loc[self.dimensions["dimension"] == dimension_id]
        return str(row["dimension_name"].iloc[0]) if len(row) else dimension_id

    @property
    def participation(self) -> float | None:
        """Share of the invited who answered (None when the number invited is unknown)."""
        return participation_share(self.respondents, self.invited)

    @property
    def low_participation(self) -> bool:
        """True when fewer than ``PARTICIPATION_FLAG`` of the invited answered."""
        return low_participation(self.respondents, self.invited)

    @property
    def above_most_of_norm(self) -> bool:
        """True when every shown dimension sits above most of the norm (its percentile is over
        ``ABOVE_MOST``): even the weakest dimensions are strong by comparison."""
        d = self.dimensions
        if d.empty or "percentile" not in d:
            return False
        shown = d[d["mean"].notna()] if "mean" in d else d
        p = pd.to_numeric(shown["percentile"], errors="coerce")
        return bool(len(p)) and bool(p.notna().all()) and bool((p > ABOVE_MOST).all())


def participation_share(respondents: Any, invited: Any) -> float | None:
    """``respondents / invited``, or None when the number invited is unknown or 0."""
    if invited is None or pd.isna(invited) or int(invited) <= 0:
        return None
    return int(respondents or 0) / int(invited)


def low_participation(respondents: Any, invited: Any) -> bool:
    """Fewer than ``PARTICIPATION_FLAG`` of the invited answered: read the results with care."""
    share = participation_share(respondents, invited)
    return share is not None and share < PARTICIPATION_FLAG


def norm_band(mean: Any, ci_low: Any, ci_high: Any, norm_mean: Any) -> str | None:
    """The band of one dimension in words: ``strength`` when its whole 95 % interval lies above
    the norm mean, ``development`` when it lies below, ``in_line`` when it holds the norm mean;
    None without a mean or a norm (too few comparison groups)."""
    values = [mean, ci_low, ci_high, norm_mean]
    if any(v is None or v is pd.NA or pd.isna(v) for v in values):
        return None
    if float(ci_low) > float(norm_mean):
        return STRENGTH
    if float(ci_high) < float(norm_mean):
        return DEVELOPMENT
    return IN_LINE


def _bands(dims: pd.DataFrame) -> list[str | None]:
    if "norm_mean" not in dims:
        return [None] * len(dims)
    return [
        norm_band(m, lo, hi, nm)
        for m, lo, hi, nm in zip(
            dims["mean"], dims["ci_low"], dims["ci_high"], dims["norm_mean"], strict=True
        )
    ]


def _snapshot_frames(
    pub: Any, inst: Instrument, data: ScoredData, lang: str
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Dimension, item and distribution frames of one publication at the view's thresholds.

    A view with a stricter ``min_respondents`` than the publication hides more: an item then
    hidden takes its whole dimension with it (the dimension was scored with its answers).
    """
    k = data.rules.min_respondents
    dims = pub.dimensions.copy()
    for f in ("n", "mean", "sd", "se", "ci_low", "ci_high", "rwg_j", "ad_m", "alpha"):
        dims[f] = pd.to_numeric(dims[f], errors="coerce").astype(float)
    items = pd.DataFrame(
        pub.view.get("items", []), columns=["item", "dimension", "n", "mean", "sd", "suppressed"]
    )
    items["n"] = pd.to_numeric(items["n"], errors="coerce")
    newly = items["suppressed"].isna() & (items["n"] < k)
    items.loc[newly, "suppressed"] = "too_few"
    dims.loc[dims["suppressed"].isna() & (dims["n"] < k), "suppressed"] = "too_few"
    strict = set(items.loc[newly, "dimension"])
    dims.loc[dims["suppressed"].isna() & dims["dimension"].isin(strict), "suppressed"] = "too_few"
    hide_dim = dims["suppressed"].notna()
    for f in ("n", "mean", "sd", "se", "ci_low", "ci_high", "rwg_j", "ad_m", "alpha"):
        dims.loc[hide_dim, f] = np.nan
    dims["n"] = dims["n"].astype("Int64")
    hide_item = items["suppressed"].notna()
    for f in ("n", "mean", "sd"):
        items[f] = pd.to_numeric(items[f], errors="coerce").astype(float)
        items.loc[hide_item, f] = np.nan
    items["n"] = items["n"].astype("Int64")
    hidden_items = set(items.loc[hide_item, "item"])
    item_text = {i.id: i.text.get(lang, i.id) for i in inst.items}
    rows = []
    for item, counts in (pub.view.get("distributions") or {}).items():
        if counts is None or item in hidden_items:
            continue
        values = list((inst.item(item).scale or inst.scale).values)
        for v, c in zip(values, counts, strict=True):
            rows.append({"item": item, "value": int(v), "count": int(c)})
    dist = pd.DataFrame(rows, columns=["item", "value", "count"])
    dist["item_text"] = dist["item"].map(item_text)
    dist["dimension"] = dist["item"].map(inst.item_dimension)
    dist = dist[["item", "item_text", "dimension", "value", "count"]]
    dist["count"] = dist["count"].astype("int64")
    return dims, items, dist


def group_results(
    store: Store,
    settings: Settings,
    group_id: str,
    waves: list[str] | None,
    language: str | None,
    instrument: Instrument,
    *,
    cohort_id: str | None = None,
    norm_base: str = "norm",
    seed: int = 0,
    data: ScoredData | None = None,
    norm_wave: str | None = None,
) -> GroupResults:
    """A group's published results for the last of ``waves`` (change from the first when there
    are two+).

    ``language`` None or "" uses the group's own language. ``data`` lets a caller reuse the
    published data. ``norm_wave`` fixes the norm: every wave is compared with the norm groups
    published in that wave (None or "": each wave with the norm groups of the same wave).
    ``seed`` is kept for callers: comments are shuffled once, at publication.
    Reads the group's own snapshots and the (cached) comparison rows; never raw answers.
    """
    from kit.store.publications import current_publication

    del seed
    group = store.get_group(group_id)
    lang = language or group.get("language") or settings.language
    data = data or load_scored_data(store, settings, instrument)
    wave_list = _ordered_waves(data, waves, group_id)
    if not wave_list:
        raise NotFoundError.text(
            "engine.results.no_responses", group=group_id, instrument=instrument.id
        )
    wave = wave_list[-1]
    norm_at = _norm_wave(data, norm_wave, wave)
    cohort_id = cohort_id or group.get("cohort_id")
    cohort_name = ""
    if cohort_id:
        c = data.cohorts[data.cohorts["id"] == cohort_id]
        if c.empty:
            raise NotFoundError.text(
                "cli.no_cohort", cohort=cohort_id, known=", ".join(data.cohorts["id"])
            )
        cohort_name = str(c["name"].iloc[0])
    gw = data.group_waves
    gw_row = gw[(gw["group_id"] == group_id) & (gw["wave_id"] == wave)]
    live_n = int(gw_row["respondents"].iloc[0]) if len(gw_row) else 0
    invited = gw_row["invited"].iloc[0] if len(gw_row) else None
    invited = None if invited is None or pd.isna(invited) else int(invited)
    survey_date = gw_row["survey_date"].iloc[0] if len(gw_row) else None
    inst = instrument
    scale_labels = tuple(inst.scale.labels.get(lang) or next(iter(inst.scale.labels.values())))
    reason = _group_reason(data, group_id, wave)
    meta = data.publication(group_id, wave)
    norm_ids = _norm_groups(data, norm_base, exclude=None)
    base = dict(
        group_id=group_id,
        group_name=str(group["name"]),
        organisation=str(group.get("organisation") or ""),
        cohort_id=cohort_id,
        cohort_name=cohort_name,
        language=lang,
        instrument_id=inst.id,
        instrument_version=inst.version,
        instrument_name=inst.name.get(lang, inst.id),
        wave=wave,
        wave_name=_wave_name(wave, lang),
        waves=tuple(wave_list),
        survey_date=None if survey_date is None or pd.isna(survey_date) else str(survey_date),
        # The published count where there is a version (the results rest on it), else the
        # responses so far: counts are shown even where results are hidden.
        respondents=int(meta["respondents"]) if meta else live_n,
        invited=invited,
        min_respondents=data.rules.min_respondents,
        min_comment_respondents=data.rules.min_comment_respondents,
        scale_min=inst.scale.min,
        scale_max=inst.scale.max,
        scale_labels=scale_labels,
        norm_base=norm_base,
        norm_wave=norm_at,
        norm_wave_name=_wave_name(norm_at, lang),
        norm_fixed=bool(norm_wave),
        method=_shared_method(data, wave, norm_ids, lang, norm_at),
        published=meta is not None,
        version=int(meta["version"]) if meta else None,
        published_at=_iso(meta["published_at"]) if meta else None,
        min_comparison_groups=data.min_comparison_groups,
    )
    pub = current_publication(store, inst.id, group_id, wave) if reason is None else None
    if reason is not None or pub is None:
        return GroupResults(
            **base,
            reportable=False,
            suppressed_text=_reason_text(reason or NOT_PUBLISHED, data, lang),
            dimensions=pd.DataFrame(),
            items=pd.DataFrame(),
            distributions=pd.DataFrame(),
        )
    own_dims, own_items, dist = _snapshot_frames(pub, inst, data, lang)
    dims = _dimension_frame(inst, lang)
    cols = ["dimension", "n", "mean", "sd", "se", "ci_low", "ci_high", "rwg_j", "ad_m", "alpha",
            "suppressed"]  # fmt: skip
    dims = dims.merge(own_dims[cols], on="dimension", how="left")
    dims["suppressed"] = [r if isinstance(r, str) else None for r in dims["suppressed"]]
    dims["suppressed_text"] = [
        _reason_text(r, data, lang) if isinstance(r, str) else "" for r in dims["suppressed"]
    ]
    own = dims.set_index("dimension")["mean"]
    norm = _norm_table(data, norm_at, norm_ids, group_id, own)
    dims = dims.merge(norm, on="dimension", how="left")
    dims["norm_groups"] = dims["norm_groups"].fillna(0).astype(int)
    comparison_missing = bool((dims["norm_groups"] == 0).any()) and bool(norm_ids)
    cohort_groups = 0
    if cohort_id:
        members = list(data.groups.loc[data.groups["cohort_id"] == cohort_id, "id"])
        cm = comparison_values(data, wave, members, group_id)
        counts = cm.groupby("dimension")["group"].nunique()
        means = cm.groupby("dimension")["mean"].mean()
        means = means[counts >= data.min_comparison_groups]
        cohort_groups = int(counts[counts >= data.min_comparison_groups].max()) if len(means) else 0
        dims = dims.merge(means.rename("cohort_mean"), on="dimension", how="left")
        dims = _round_aggregates(dims)
        if len(means) < len(dims):
            comparison_missing = True
    dims["disagreement"] = dims["rwg_j"] < AGREEMENT_THRESHOLD
    dims["band"] = pd.Series(_bands(dims), index=dims.index, dtype=object)
    dims = dims.sort_values("order").reset_index(drop=True)
    dims["suppressed"] = pd.Series(
        [r if isinstance(r, str) else None for r in dims["suppressed"]], dtype=object
    )
    ranked = dims.dropna(subset=["percentile"]).sort_values(["percentile", "mean"], ascending=False)
    if ranked.empty:  # no norm base: judge by the group's own means
        ranked = dims.dropna(subset=["mean"]).sort_values("mean", ascending=False)
    k = min(STRENGTHS, len(ranked) // 2)
    strengths = tuple(ranked["dimension"].head(k))
    development = tuple(reversed(list(ranked["dimension"].tail(k))))
    disagreements = tuple(dims.loc[dims["disagreement"], "dimension"])

    item_text = {i.id: i.text.get(lang, i.id) for i in inst.items}
    items = own_items.copy()
    items["item_text"] = items["item"].map(item_text)
    items = items.merge(dims[["dimension", "dimension_name"]], on="dimension", how="left")
    items = items[["item", "item_text", "dimension", "dimension_name", "n", "mean", "sd",
                   "suppressed"]]  # fmt: skip

    change, change_text, baseline, baseline_meta = None, "", None, None
    if len(wave_list) >= 2:
        baseline = wave_list[0]
        baseline_meta = data.publication(group_id, baseline)
        change, change_text = _group_change(data, group_id, baseline, wave, dims, lang)

    comments, comments_text = _comments(pub, inst, data, lang)
    roles, roles_text = role_split(pub, dims, data, lang)
    levels, steps = (None, None)
    if len(wave_list) >= 2:
        levels, steps = wave_series(data, group_id, wave_list, lang)
    return GroupResults(
        **base,
        reportable=True,
        suppressed_text="",
        dimensions=dims,
        items=items,
        distributions=dist,
        strengths=strengths,
        development_areas=development,
        disagreements=disagreements,
        baseline_wave=baseline,
        baseline_wave_name=_wave_name(baseline, lang) if baseline else "",
        change=change,
        change_text=change_text,
        exercises=_suggest_exercises(inst, development, dims, lang),
        comments=comments,
        comments_text=comments_text,
        actions=_actions(store, group_id),
        decision_reviews=_decision_reviews(store, settings, group_id),
        norm_groups=int(dims["norm_groups"].max()) if len(dims) else 0,
        cohort_groups_shown=cohort_groups,
        baseline_version=int(baseline_meta["version"]) if baseline_meta else None,
        baseline_published_at=_iso(baseline_meta["published_at"]) if baseline_meta else None,
        comparison_text=_reason_text(COMPARISON, data, lang) if comparison_missing else "",
        wave_levels=levels,
        wave_changes=steps,
        roles=roles,
        roles_text=roles_text,
    )


ROLE_COLUMNS = ["role", "dimension", "dimension_name", "order", "n", "mean", "sd", "ci_low",
                "ci_high", "suppressed", "suppressed_text"]  # fmt: skip


def role_split(
    pub: Any, dims: pd.DataFrame, data: ScoredData, lang: str
) -> tuple[pd.DataFrame | None, str]:
    """Leader vs members of one published group-wave, or None and the reason in words.

    The split was decided at publication by ``kit.privacy.split_by_role``; a view with stricter
    thresholds than the publication checks again (every side and the rest at least
    ``min_subgroup_respondents``, per dimension on those scored) and only hides more. A dimension
    hidden for the team is hidden for both sides.
    """
    view = pub.view.get("roles") or {"suppressed": "subgroup"}
    k = data.rules.min_subgroup_respondents
    refusal = t("report.roles.refused", lang, min_n=k)
    if view.get("suppressed") is not None or not view.get("dimensions"):
        reason = view.get("suppressed") or "subgroup"
        return None, refusal if reason == "subgroup" else _reason_text(reason, data, lang)
    sizes = view.get("sizes") or {}
    sides = [int(sizes.get(r, 0)) for r in ("leader", "member")]
    rest = int(sizes.get("rest", 0))
    if min(sides) < k or 0 < rest < k:
        return None, refusal
    rows = pd.DataFrame(view["dimensions"])
    for f in ("n", "mean", "sd", "ci_low", "ci_high"):
        rows[f] = pd.to_numeric(rows[f], errors="coerce").astype(float)
    team = dims.set_index("dimension")
    per_dim = rows.groupby("dimension")["n"].sum()
    rest_n = team["n"].astype(float).reindex(per_dim.index) - per_dim
    too_few = rows.groupby("dimension")["n"].transform("min") < k
    gap = rows["dimension"].map(rest_n)
    team_hidden = rows["dimension"].map(team["suppressed"].astype(object))
    reason = [
        r if isinstance(r, str) else th if isinstance(th, str) else "subgroup" if few or 0 < g < k
        else None
        for r, th, few, g in zip(rows["suppressed"], team_hidden, too_few, gap.fillna(0),
                                 strict=True)
    ]  # fmt: skip
    rows["suppressed"] = pd.Series(reason, index=rows.index, dtype=object)
    hide = rows["suppressed"].notna()
    rows.loc[hide, ["n", "mean", "sd", "ci_low", "ci_high"]] = np.nan
    rows["n"] = rows["n"].astype("Int64")
    rows = rows.merge(dims[["dimension", "dimension_name", "order"]], on="dimension", how="left")
    rows["suppressed_text"] = [
        _reason_text(r, data, lang) if isinstance(r, str) else "" for r in rows["suppressed"]
    ]
    return rows.sort_values(["order", "role"]).reindex(columns=ROLE_COLUMNS).reset_index(
        drop=True
    ), ""


WAVE_LEVEL_COLUMNS = ["wave", "wave_name", "wave_order", "dimension", "dimension_name",
                      "order", "n", "mean", "ci_low", "ci_high", "suppressed",
                      "suppressed_text"]  # fmt: skip
WAVE_CHANGE_COLUMNS = ["before", "after", "before_name", "after_name", "kind", "dimension",
                       "dimension_name", "order", "change", "ci_low", "ci_high", "suppressed",
                       "suppressed_text"]  # fmt: skip


def wave_series(
    data: ScoredData, group_id: str, waves: list[str], lang: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A group's dimensions in every wave of ``waves`` (already in programme order), and the
    change between consecutive waves (``kind`` = ``step``) and from the first to the last
    (``overall``, only with three or more waves), each with its 95 % interval.

    Only published, shown rows: a wave hidden as a whole (too few, not published) keeps its
    rows with no number and its reason; so does a hidden dimension, and a change touching
    either.
    """
    dims = _dimension_frame(data.instrument, lang)[["dimension", "dimension_name", "order"]]
    levels = []
    for i, w in enumerate(waves):
        reason = _group_reason(data, group_id, w)
        vis = data.visible_dimensions(w)
        own = vis[vis["group"] == group_id][["dimension", "n", "mean", "ci_low", "ci_high"]]
        part = dims.merge(own, on="dimension", how="left")
        part["suppressed"] = [
            reason or (None if pd.notna(m) else TOO_FEW_REASON) for m in part["mean"]
        ]
        part = part.assign(wave=w, wave_name=_wave_name(w, lang), wave_order=i)
        levels.append(part)
    level = pd.concat(levels, ignore_index=True) if levels else pd.DataFrame()
    if len(level):
        level["n"] = pd.to_numeric(level["n"], errors="coerce").astype("Int64")
        level["suppressed_text"] = [
            _reason_text(r, data, lang) if isinstance(r, str) else "" for r in level["suppressed"]
        ]
    level = level.reindex(columns=WAVE_LEVEL_COLUMNS)
    pairs = [(a, b, "step") for a, b in zip(waves, waves[1:], strict=False)]
    if len(waves) >= 3:
        pairs.append((waves[0], waves[-1], "overall"))
    changes = []
    for before, after, kind in pairs:
        ch = _every_change(data, before, after)
        ch = group_rows(ch, group_id).drop(columns=["group"])
        part = dims.merge(ch[["dimension", "change", "ci_low", "ci_high", "suppressed"]],
                          on="dimension", how="left")  # fmt: skip
        hidden = _group_reason(data, group_id, before) or _group_reason(data, group_id, after)
        part["suppressed"] = [
            hidden or (r if isinstance(r, str) else None if pd.notna(c) else TOO_FEW_REASON)
            for r, c in zip(part["suppressed"], part["change"], strict=True)
        ]
        hide = part["suppressed"].notna()
        part.loc[hide, ["change", "ci_low", "ci_high"]] = np.nan
        part = part.assign(
            before=before, after=after, kind=kind,
            before_name=_wave_name(before, lang), after_name=_wave_name(after, lang),
        )  # fmt: skip
        changes.append(part)
    change = pd.concat(changes, ignore_index=True) if changes else pd.DataFrame()
    if len(change):
        change["suppressed_text"] = [
            _reason_text(r, data, lang) if isinstance(r, str) else "" for r in change["suppressed"]
        ]
    return level, change.reindex(columns=WAVE_CHANGE_COLUMNS)


TOO_FEW_REASON = "too_few"


def _change_frame(data: ScoredData, group_ids: list[str], before: str, after: str) -> pd.DataFrame:
    """Welch change per group and dimension from the published (rounded) rows of both waves;
    no change (and a reason) where either side is hidden."""
    from kit.scoring import compare_waves

    d = data.dimensions
    cols = ["group", "dimension", "mean_before", "mean_after", "n_before", "n_after", "change",
            "se", "df", "ci_low", "ci_high", "suppressed"]  # fmt: skip
    if d.empty or not {before, after} <= set(d["wave"]):
        return pd.DataFrame(columns=cols)
    sel = d[d["group"].isin(group_ids) & d["wave"].isin([before, after])].copy()
    visible = data.visible_dimensions(before).index.union(data.visible_dimensions(after).index)
    hide = ~sel.index.isin(visible)
    sel["suppressed"] = sel["suppressed"].where(~hide | sel["suppressed"].notna(), "too_few")
    sel.loc[hide, ["mean", "sd"]] = np.nan
    sel["n"] = sel["n"].astype("Int64")
    sel.loc[hide, "n"] = pd.NA

    class _View:
        dimensions = sel

    ch = compare_waves(_View, before, after)
    for c, digits in (("change", 2), ("se", 2), ("df", 1), ("ci_low", 2), ("ci_high", 2)):
        ch[c] = pd.to_numeric(ch[c], errors="coerce").astype(float).round(digits)
    return ch[cols]


def _every_change(data: ScoredData, before: str, after: str) -> pd.DataFrame:
    """Every group's change from ``before`` to ``after``, once per publication set (the rows of a
    group do not depend on the others): each report and wave step reads its own rows."""
    from kit.comparison import memo

    return memo(
        data,
        ("change", before, after),
        lambda: _change_frame(data, list(data.dimensions["group"].unique()), before, after),
    )


def _group_change(
    data: ScoredData, group_id: str, before: str, after: str, dims: pd.DataFrame, lang: str
) -> tuple[pd.DataFrame | None, str]:
    reason = _group_reason(data, group_id, before)
    if reason is not None:
        return None, t(
            "report.change.before_hidden",
            lang,
            wave=_wave_name(before, lang),
            reason=_reason_text(reason, data, lang),
        )
    ch = group_rows(_every_change(data, before, after), group_id)
    ch = dims[["dimension", "dimension_name", "order"]].merge(
        ch.drop(columns=["group"]), on="dimension", how="left"
    )
    ch["suppressed_text"] = [
        _reason_text(r, data, lang) if isinstance(r, str) else "" for r in ch["suppressed"]
    ]
    return ch.sort_values("order").reset_index(drop=True), ""


def _suggest_exercises(
    inst: Instrument, development: tuple[str, ...], dims: pd.DataFrame, lang: str
) -> tuple[dict[str, Any], ...]:
    catalogue = load_exercises()
    chosen: dict[str, dict[str, Any]] = {}
    for did in development:
        for eid in inst.dimension(did).exercises:
            ex = catalogue.get(eid)
            if ex is None:
                continue
            entry = chosen.setdefault(
                eid,
                {
                    "id": eid,
                    "name": ex.name[lang],
                    "description": ex.description[lang],
                    "live": ex.live,
                    "dimensions": [],
                },
            )
            entry["dimensions"].append(dims.loc[dims["dimension"] == did, "dimension_name"].iloc[0])
    return tuple(chosen.values())


def _comments(
    pub: Any, inst: Instrument, data: ScoredData, lang: str
) -> tuple[tuple[dict[str, Any], ...], str]:
    """The comments stored in the snapshot (shuffled and unattributed at publication), or why
    there are none."""
    if not inst.open_questions:
        return (), ""
    view = pub.view.get("comments") or {}
    if view.get("suppressed") or pub.respondents < data.rules.min_comment_respondents:
        return (), _reason_text("comments", data, lang)
    by_question = view.get("by_question") or {}
    out = [
        {"question": q.text.get(lang, q.id), "texts": list(by_question.get(q.id, ()))}
        for q in inst.open_questions
        if by_question.get(q.id)
    ]
    return tuple(out), "" if out else t("report.comments.none", lang)


def _norm_wave(data: ScoredData, norm_wave: str | None, wave: str) -> str:
    """The wave whose published norm groups are the norm: ``norm_wave``, else ``wave``."""
    if not norm_wave:
        return wave
    known = list(data.waves.sort_values("ordinal")["id"])
    if norm_wave not in known:
        raise NotFoundError.text(
            "engine.results.norm_wave.unknown", wave=norm_wave, waves=", ".join(known)
        )
    return norm_wave


def _shared_method(
    data: ScoredData, wave: str, norm_ids: list[str], lang: str, norm_wave: str | None = None
) -> dict[str, Any]:
    """``_method``, made once per publication set (it is the same for every group)."""
    from kit.comparison import memo

    made = memo(
        data,
        ("method", wave, tuple(sorted(norm_ids)), lang, norm_wave),
        lambda: _method(data, wave, norm_ids, lang, norm_wave),
    )
    return {**made, "table": made["table"].copy()}


def _method(
    data: ScoredData, wave: str, norm_ids: list[str], lang: str, norm_wave: str | None = None
) -> dict[str, Any]:
    """Reliability and between-group agreement pooled over the published, reportable groups of
    the wave (not the group's own); missing when fewer than ``min_comparison_groups`` + 1
    groups are pooled."""
    dims = _dimension_frame(data.instrument, lang)[["dimension", "dimension_name", "order"]]
    table = dims
    enough = data.min_comparison_groups + 1
    rel, icc = data.reliability, data.icc
    if rel is not None and len(rel):
        r = rel[rel["wave"] == wave][["dimension", "alpha"]].rename(columns={"alpha": "alpha_all"})
        table = table.merge(r, on="dimension", how="left")
    if icc is not None and len(icc):
        i = icc[icc["wave"] == wave][["dimension", "icc1", "icc2", "groups", "k"]].copy()
        few = pd.to_numeric(i["groups"], errors="coerce").fillna(0) < enough
        i.loc[few, ["icc1", "icc2"]] = np.nan
        table = table.merge(i, on="dimension", how="left")
        if "alpha_all" in table:
            g = pd.to_numeric(table["groups"], errors="coerce").fillna(0)
            table.loc[g < enough, "alpha_all"] = np.nan
    vis = data.visible_dimensions(norm_wave or wave)
    shown = vis[vis["group"].isin(norm_ids)] if len(vis) else vis
    return {
        "table": table.sort_values("order").reset_index(drop=True),
        "norm_groups": int(shown["group"].nunique()) if len(shown) else 0,
        "agreement_threshold": AGREEMENT_THRESHOLD,
        "null_variance": data.instrument.scale.null_variance,
        "options": data.instrument.scale.options,
    }


# -- a cohort -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CohortResults:
    """The cohort's groups side by side; groups without published results are listed, not
    scored. ``groups`` also carries each group-wave's ``version`` and ``published_at``."""

    cohort_id: str
    cohort_name: str
    programme: str
    language: str
    waves: tuple[str, ...]
    wave_names: tuple[str, ...]
    groups: pd.DataFrame  # group_id, group_name, organisation, wave, respondents, invited, shown,
    # note, version, published_at
    side_by_side: dict[str, pd.DataFrame]  # wave -> dimension_name, group_name, mean (shown groups)
    change: pd.DataFrame | None  # group_name, dimension_name, change, ci_low, ci_high
    scale_min: int
    scale_max: int
    min_respondents: int
    published_at: str | None = None  # the latest publication the report rests on (ISO, UTC)
    heatmap: pd.DataFrame | None = None  # level_heatmap of the last wave
    change_heatmap: pd.DataFrame | None = None  # change_heatmap first -> last wave
    participation: pd.DataFrame | None = None  # participation_table over every wave


def cohort_results(
    store: Store,
    settings: Settings,
    cohort_id: str,
    waves: list[str] | None,
    language: str | None,
    instrument: Instrument,
    data: ScoredData | None = None,
    *,
    norm_base: str = "norm",
    norm_wave: str | None = None,
) -> CohortResults:
    """The groups of ``cohort_id`` side by side in each wave, each only where it is published
    and reportable (a hidden dimension is left out on its own); heatmaps of the level (last
    wave, bands against the norm) and the change (first to last), and participation."""
    data = data or load_scored_data(store, settings, instrument)
    c = data.cohorts[data.cohorts["id"] == cohort_id]
    if c.empty:
        raise NotFoundError.text(
            "cli.no_cohort",
            cohort=cohort_id,
            known=", ".join(data.cohorts["id"]) or Text("cli.none"),
        )
    lang = language or settings.language
    members = data.groups[data.groups["cohort_id"] == cohort_id]
    ids = list(members["id"])
    wave_list = _ordered_waves(data, waves)
    dims = _dimension_frame(instrument, lang)
    rows, side, stamps = [], {}, []
    for w in wave_list:
        shown_ids = []
        for g in members.to_dict("records"):
            gw = data.group_waves
            r = gw[(gw["group_id"] == g["id"]) & (gw["wave_id"] == w)]
            meta = data.publication(g["id"], w)
            n = int(meta["respondents"]) if meta else int(r["respondents"].iloc[0]) if len(r) else 0
            inv = r["invited"].iloc[0] if len(r) else None
            reason = _group_reason(data, g["id"], w)
            if meta:
                stamps.append(meta["published_at"])
            rows.append(
                {
                    "group_id": g["id"],
                    "group_name": g["name"],
                    "organisation": g["organisation"],
                    "wave": w,
                    "wave_name": _wave_name(w, lang),
                    "respondents": n,
                    "invited": None if inv is None or pd.isna(inv) else int(inv),
                    "shown": reason is None,
                    "note": "" if reason is None else _reason_text(reason, data, lang),
                    "version": int(meta["version"]) if meta else None,
                    "published_at": _iso(meta["published_at"]) if meta else None,
                }
            )
            if reason is None:
                shown_ids.append(g["id"])
        vis = data.visible_dimensions(w)
        sub = (
            vis[vis["group"].isin(shown_ids)][["group", "dimension", "mean"]]
            if len(vis)
            else pd.DataFrame(columns=["group", "dimension", "mean"])
        )
        labels = members.assign(
            group_name=[
                o or n for o, n in zip(members["organisation"], members["name"], strict=True)
            ]
        )[["id", "group_name"]].rename(columns={"id": "group"})
        sub = sub.merge(labels, on="group").merge(dims, on="dimension")
        side[w] = sub.sort_values(["order", "group_name"]).reset_index(drop=True)
    change = None
    if len(wave_list) >= 2:
        change = _programme_change(
            data, list(members["id"]), wave_list[0], wave_list[-1], dims, members
        )
    return CohortResults(
        cohort_id=cohort_id,
        cohort_name=str(c["name"].iloc[0]),
        programme=str(c["programme"].iloc[0] or ""),
        language=lang,
        waves=tuple(wave_list),
        wave_names=tuple(_wave_name(w, lang) for w in wave_list),
        groups=pd.DataFrame(rows),
        side_by_side=side,
        change=change,
        scale_min=instrument.scale.min,
        scale_max=instrument.scale.max,
        min_respondents=data.rules.min_respondents,
        published_at=_iso(max(stamps)) if stamps else None,
        heatmap=level_heatmap(data, ids, wave_list[-1], lang, norm_base=norm_base,
                              norm_wave=norm_wave) if wave_list else None,
        change_heatmap=change_heatmap(data, ids, wave_list[0], wave_list[-1], lang)
        if len(wave_list) >= 2 else None,
        participation=participation_table(data, ids, wave_list, lang),
    )  # fmt: skip


def _programme_change(
    data: ScoredData,
    group_ids: list[str],
    before: str,
    after: str,
    dims: pd.DataFrame,
    groups: pd.DataFrame,
) -> pd.DataFrame:
    ch = _change_frame(data, group_ids, before, after)
    ch = ch[ch["group"].isin(group_ids)].dropna(subset=["change"])
    ch = ch.merge(
        groups[["id", "name"]].rename(columns={"id": "group", "name": "group_name"}), on="group"
    ).merge(dims, on="dimension")
    return ch.sort_values(["order", "group_name"]).reset_index(drop=True)


# -- the programme --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProgrammeResults:
    """Every reportable group's change from before to after, and what moved most.

    ``dimension_change`` holds only dimensions whose change is known for at least
    ``min_comparison_groups`` groups; ``dimensions_left_out`` names the others with a reason.
    """

    programme: str
    language: str
    before: str
    after: str
    before_name: str
    after_name: str
    cohorts: pd.DataFrame  # id, name, groups
    group_change: (
        pd.DataFrame
    )  # group, group_name, cohort_id, dimension, dimension_name, change, ...
    dimension_change: pd.DataFrame  # dimension_name, groups, mean_change, ci_low, ci_high, improved
    groups_summary: pd.DataFrame  # group_name, cohort, mean_change, dimensions_up, shown/note
    groups_left_out: pd.DataFrame  # group_name, note
    min_respondents: int
    published_at: str | None = None  # the latest publication the report rests on (ISO, UTC)
    dimensions_left_out: pd.DataFrame = field(default_factory=pd.DataFrame)  # name, note
    min_comparison_groups: int = 3
    heatmap: pd.DataFrame | None = None  # level_heatmap of the last wave, every group
    change_heatmap: pd.DataFrame | None = None  # change_heatmap first -> last wave
    participation: pd.DataFrame | None = None  # participation_table over every wave


def programme_results(
    store: Store,
    settings: Settings,
    cohort_ids: list[str] | None,
    waves: list[str] | None,
    language: str | None,
    instrument: Instrument,
    data: ScoredData | None = None,
    *,
    norm_base: str = "norm",
    norm_wave: str | None = None,
) -> ProgrammeResults:
    """Change from the first to the last of ``waves`` for every group in ``cohort_ids``."""
    from scipy import stats

    data = data or load_scored_data(store, settings, instrument)
    lang = language or settings.language
    cohorts = data.cohorts
    if cohort_ids:
        unknown = [c for c in cohort_ids if c not in set(cohorts["id"])]
        if unknown:
            raise NotFoundError.text(
                "engine.results.no_cohorts",
                cohorts=", ".join(unknown),
                known=", ".join(cohorts["id"]),
            )
        cohorts = cohorts[cohorts["id"].isin(cohort_ids)]
    wave_list = _ordered_waves(data, waves)
    if len(wave_list) < 2:
        raise NotFoundError.text(
            "engine.results.two_waves", found=", ".join(wave_list) or Text("cli.none")
        )
    before, after = wave_list[0], wave_list[-1]
    members = data.groups[data.groups["cohort_id"].isin(cohorts["id"])]
    ids = list(members.sort_values(["cohort_id", "id"], kind="stable")["id"])
    dims = _dimension_frame(instrument, lang)
    ch = _programme_change(data, list(members["id"]), before, after, dims, members)
    ch = ch.merge(members[["id", "cohort_id"]].rename(columns={"id": "group"}), on="group")
    left = []
    for g in members.to_dict("records"):
        if g["id"] not in set(ch["group"]):
            reasons = [r for w in (before, after) if (r := _group_reason(data, g["id"], w))]
            note = _reason_text(reasons[0], data, lang) if reasons else ""
            left.append({"group_name": g["name"], "note": note})
    agg, dims_left = [], []
    for did, sub in ch.groupby("dimension", sort=False):
        x = sub["change"].to_numpy(dtype=float)
        n = len(x)
        if n < data.min_comparison_groups:
            dims_left.append(
                {
                    "dimension_name": sub["dimension_name"].iloc[0],
                    "note": _reason_text(COMPARISON, data, lang),
                }
            )
            continue
        m = float(np.mean(x))
        se = float(np.std(x, ddof=1) / np.sqrt(n)) if n > 1 else np.nan
        tq = float(stats.t.ppf(0.975, n - 1)) if n > 1 else np.nan
        agg.append(
            {
                "dimension": did,
                "dimension_name": sub["dimension_name"].iloc[0],
                "groups": n,
                "mean_change": round(m, 2),
                "ci_low": round(m - tq * se, 2),
                "ci_high": round(m + tq * se, 2),
                "improved": int((x > 0).sum()),
            }
        )
    dim_change = pd.DataFrame(
        agg,
        columns=[
            "dimension",
            "dimension_name",
            "groups",
            "mean_change",
            "ci_low",
            "ci_high",
            "improved",
        ],
    )
    dim_change = dim_change.sort_values("mean_change", ascending=False).reset_index(drop=True)
    per_group = ch.groupby(["group", "group_name", "cohort_id"], as_index=False).agg(
        mean_change=("change", "mean"),
        dimensions_up=("change", lambda s: int((s > 0).sum())),
        dimensions=("change", "size"),
    )
    per_group["mean_change"] = per_group["mean_change"].round(2)
    cohort_names = dict(zip(cohorts["id"], cohorts["name"], strict=True))
    per_group["cohort_name"] = per_group["cohort_id"].map(cohort_names)
    per_group = per_group.sort_values(["cohort_id", "group_name"]).reset_index(drop=True)
    ctab = cohorts[["id", "name"]].copy()
    ctab["groups"] = ctab["id"].map(members.groupby("cohort_id").size()).fillna(0).astype(int)
    programme = str(cohorts["programme"].dropna().iloc[0]) if len(cohorts) else ""
    p = data.publications
    stamps = (
        p.loc[p["group_id"].isin(set(members["id"])) & p["wave_id"].isin([before, after]),
              "published_at"]
        if len(p)
        else []
    )  # fmt: skip
    return ProgrammeResults(
        programme=programme,
        language=lang,
        before=before,
        after=after,
        before_name=_wave_name(before, lang),
        after_name=_wave_name(after, lang),
        cohorts=ctab.reset_index(drop=True),
        group_change=ch,
        dimension_change=dim_change,
        groups_summary=per_group,
        groups_left_out=pd.DataFrame(left, columns=["group_name", "note"]),
        min_respondents=data.rules.min_respondents,
        published_at=_iso(max(stamps)) if len(stamps) else None,
        dimensions_left_out=pd.DataFrame(dims_left, columns=["dimension_name", "note"]),
        min_comparison_groups=data.min_comparison_groups,
        heatmap=level_heatmap(data, ids, after, lang, norm_base=norm_base, norm_wave=norm_wave),
        change_heatmap=change_heatmap(data, ids, before, after, lang),
        participation=participation_table(data, ids, wave_list, lang),
    )


# -- heatmaps and participation for cohort and programme reports ---------------------------------

UP, NO_CLEAR, DOWN = "up", "no_clear", "down"
HEATMAP_COLUMNS = ["group", "group_name", "dimension", "dimension_name", "order", "value",
                   "band", "suppressed", "suppressed_text"]  # fmt: skip


def _group_labels(groups: pd.DataFrame) -> dict[str, str]:
    return {g["id"]: (g.get("organisation") or g["name"]) for g in groups.to_dict("records")}


def level_heatmap(
    data: ScoredData,
    group_ids: list[str],
    wave: str,
    lang: str,
    *,
    norm_base: str = "norm",
    norm_wave: str | None = None,
) -> pd.DataFrame:
    """Every (group, dimension) of ``wave``: the shown mean and its band against the norm
    (``norm_band``, norm groups other than the group itself, at least ``min_comparison_groups``),
    or no number and the reason it is hidden (the group-wave's, else the dimension's)."""
    dims = _dimension_frame(data.instrument, lang)[["dimension", "dimension_name", "order"]]
    norm_ids = _norm_groups(data, norm_base)
    at = _norm_wave(data, norm_wave, wave)
    labels = _group_labels(data.groups[data.groups["id"].isin(group_ids)])
    d = data.dimensions
    rows = []
    for g in group_ids:
        reason = _group_reason(data, g, wave)
        own = (
            d[(d["group"] == g) & (d["wave"] == wave)].set_index("dimension")
            if len(d) else pd.DataFrame()
        )  # fmt: skip
        visible = set(data.visible_dimensions(wave).query("group == @g")["dimension"])
        means = own["mean"].where(own.index.isin(visible)) if len(own) else pd.Series(dtype=float)
        norm = _norm_table(data, at, norm_ids, g, means).set_index("dimension")
        for rec in dims.to_dict("records"):
            did = rec["dimension"]
            shown = reason is None and did in visible
            why = None if shown else reason or (
                own.loc[did, "suppressed"] if did in own.index and
                isinstance(own.loc[did, "suppressed"], str) else TOO_FEW_REASON
            )  # fmt: skip
            band = None
            if shown and did in norm.index:
                band = norm_band(own.loc[did, "mean"], own.loc[did, "ci_low"],
                                 own.loc[did, "ci_high"], norm.loc[did, "norm_mean"])  # fmt: skip
            rows.append({
                **rec, "group": g, "group_name": labels.get(g, g),
                "value": float(own.loc[did, "mean"]) if shown else np.nan,
                "band": band, "suppressed": why,
            })  # fmt: skip
    out = pd.DataFrame(rows, columns=[c for c in HEATMAP_COLUMNS if c != "suppressed_text"])
    out["suppressed_text"] = [
        _reason_text(r, data, lang) if isinstance(r, str) else "" for r in out["suppressed"]
    ]
    return out[HEATMAP_COLUMNS]


def change_heatmap(
    data: ScoredData, group_ids: list[str], before: str, after: str, lang: str
) -> pd.DataFrame:
    """Every (group, dimension): the change from ``before`` to ``after`` and its band (``up``
    when the 95 % interval lies above 0, ``down`` below, ``no_clear`` otherwise), or the reason
    it is hidden."""
    dims = _dimension_frame(data.instrument, lang)[["dimension", "dimension_name", "order"]]
    labels = _group_labels(data.groups[data.groups["id"].isin(group_ids)])
    ch = _change_frame(data, group_ids, before, after).set_index(["group", "dimension"])
    rows = []
    for g in group_ids:
        reason = _group_reason(data, g, before) or _group_reason(data, g, after)
        for rec in dims.to_dict("records"):
            key = (g, rec["dimension"])
            x = ch.loc[key] if key in ch.index else None
            value = np.nan if reason or x is None else x["change"]
            why = reason or (
                x["suppressed"] if x is not None and isinstance(x["suppressed"], str)
                else None if pd.notna(value) else TOO_FEW_REASON
            )  # fmt: skip
            band = None
            if why is None:
                band = UP if x["ci_low"] > 0 else DOWN if x["ci_high"] < 0 else NO_CLEAR
                value = float(value)
            else:
                value = np.nan
            rows.append({**rec, "group": g, "group_name": labels.get(g, g), "value": value,
                         "band": band, "suppressed": why})  # fmt: skip
    out = pd.DataFrame(rows, columns=[c for c in HEATMAP_COLUMNS if c != "suppressed_text"])
    out["suppressed_text"] = [
        _reason_text(r, data, lang) if isinstance(r, str) else "" for r in out["suppressed"]
    ]
    return out[HEATMAP_COLUMNS]


def participation_table(
    data: ScoredData, group_ids: list[str], waves: list[str], lang: str
) -> pd.DataFrame:
    """Responses of invited per group and wave (the published count where there is a version),
    with the share and the read-with-care flag (``low``). Counts are shown even where results
    are hidden."""
    labels = _group_labels(data.groups[data.groups["id"].isin(group_ids)])
    gw = data.group_waves
    rows = []
    for g in group_ids:
        for w in waves:
            r = gw[(gw["group_id"] == g) & (gw["wave_id"] == w)]
            if r.empty:
                continue
            meta = data.publication(g, w)
            n = int(meta["respondents"]) if meta else int(r["respondents"].iloc[0])
            inv = r["invited"].iloc[0]
            inv = None if inv is None or pd.isna(inv) else int(inv)
            rows.append({
                "group": g, "group_name": labels.get(g, g), "wave": w,
                "wave_name": _wave_name(w, lang), "respondents": n, "invited": inv,
                "share": participation_share(n, inv), "low": low_participation(n, inv),
            })  # fmt: skip
    cols = ["group", "group_name", "wave", "wave_name", "respondents", "invited", "share", "low"]
    return pd.DataFrame(rows, columns=cols)
