"""What a report or an app receives: a group's, a cohort's or a programme's results.

Built only from privacy-protected scores (``kit.privacy.protect``): a group under the threshold
gets a :class:`GroupResults` that says so and carries no scores. Comments come only through
``kit.privacy.select_comments``. Everything here is data (DataFrames, lists, strings in the
report's language); ``kit.charts`` draws it and ``kit.reports`` lays it out, and the Voilà
dashboard reuses both.

>>> res = group_results(store, settings, "k1-kystverket", ["before", "after"], "en", instrument)
>>> res.reportable, res.strengths, res.development_areas
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from kit.errors import NotFoundError
from kit.exercises import load_exercises
from kit.i18n import t
from kit.instrument import Instrument, load_instrument
from kit.settings import Settings
from kit.store import Store, open_store

AGREEMENT_THRESHOLD = 0.70  # rwg(J) below this: no shared view to speak of
STRENGTHS = 3  # how many strengths and development areas a summary names
NORM_BASES = ("norm", "all", "programme")


# -- shared -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScoredData:
    """Protected scores of every group of one instrument, and the reference tables.

    Loaded once per report; holds no respondent-level data (``protect`` drops it).
    """

    instrument: Instrument
    protected: Any  # kit.privacy.ProtectedScores
    groups: pd.DataFrame
    cohorts: pd.DataFrame
    group_waves: pd.DataFrame
    waves: pd.DataFrame
    rules: Any  # kit.privacy.AnonymityRules
    data_hash: str = ""  # base_fingerprint of the same data


_RUN_CACHE: dict[tuple[str, ...], ScoredData] | None = None


def enable_run_cache() -> None:
    """Share protected scores between the reports a warm kernel makes in one batch run.

    Every report of a run reads the same data (the norm base needs every group), so a warm
    kernel scores it once. Only ``ProtectedScores`` are kept (no respondent-level data); each
    report still receives only its own group's results. Off by default (single papermill runs).
    """
    global _RUN_CACHE
    _RUN_CACHE = {}


def load_scored_data(store: Store, settings: Settings, instrument: Instrument) -> ScoredData:
    """Score every group of ``instrument`` and protect the scores (the norm base needs them all)."""
    key = (
        store.url,
        instrument.id,
        instrument.version,
        instrument.source_path,
        _settings_key(settings),
    )
    if _RUN_CACHE is not None and key in _RUN_CACHE:
        return _RUN_CACHE[key]
    data = _load_scored_data(store, settings, instrument)
    if _RUN_CACHE is not None:
        _RUN_CACHE[key] = data
    return data


def _load_scored_data(store: Store, settings: Settings, instrument: Instrument) -> ScoredData:
    from kit.privacy import AnonymityRules, protect
    from kit.scoring import score_responses

    table = store.load_responses(instrument)
    scores = score_responses(table, instrument, min_answered_share=settings.min_answered_share)
    rules = AnonymityRules.from_settings(settings)
    protected = protect(scores, rules)
    frames = [
        table,
        store.list_groups(),
        store.list_cohorts(),
        store.list_group_waves(),
        store.list_waves(),
    ]
    digest = _hash_frames(frames, f"{instrument.id}/{instrument.version}/{_settings_key(settings)}")
    del scores, table
    return ScoredData(instrument, protected, *frames[1:], rules, digest)


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
            raise NotFoundError(
                f"Wave(s) {', '.join(unknown)} do not exist; the waves are: {', '.join(order)}."
            )
        return sorted(waves, key=order.index)
    gw = data.group_waves
    if group_id is not None:
        gw = gw[gw["group_id"] == group_id]
    present = set(gw.loc[gw["respondents"] > 0, "wave_id"])
    return [w for w in order if w in present]


def _suppressed_reason(data: ScoredData, group_id: str, wave: str) -> str | None:
    d = data.protected.dimensions
    rows = d[(d["group"] == group_id) & (d["wave"] == wave)]
    if rows.empty:
        return "too_few"
    if "suppressed" in rows and rows["suppressed"].notna().any():
        return str(rows["suppressed"].dropna().iloc[0])
    return None


def _reason_text(reason: str, data: ScoredData, lang: str) -> str:
    min_n = {
        "comments": data.rules.min_comment_respondents,
        "subgroup": data.rules.min_subgroup_respondents,
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
        f"{settings.min_comment_respondents}/{settings.min_answered_share}"
    )


def base_fingerprint(store: Store, settings: Settings, instrument: Instrument) -> str:
    """A hash of every response of ``instrument`` and the groups, cohorts and waves."""
    return _hash_frames(
        [
            store.load_responses(instrument),
            store.list_groups(),
            store.list_cohorts(),
            store.list_group_waves(),
            store.list_waves(),
        ],
        f"{instrument.id}/{instrument.version}/{_settings_key(settings)}",
    )


def group_fingerprint(base: str, store: Store, group_id: str | None) -> str:
    """``base`` plus ``group_id``'s action plan: what one group's report reads."""
    if not group_id:
        return base
    actions = _actions(store, group_id)
    return _hash_frames([actions] if actions is not None else [], base + group_id)


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


# -- one group ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupResults:
    """Everything a group's report or dashboard shows, for one wave (the last of ``waves``).

    When ``reportable`` is False every score frame is empty and ``suppressed_text`` says why.
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
    norm_groups: int = 0
    norm_base: str = "norm"
    cohort_groups_shown: int = 0
    method: dict[str, Any] = field(default_factory=dict)

    def dimension_name(self, dimension_id: str) -> str:
        row = self.dimensions.loc[self.dimensions["dimension"] == dimension_id]
        return str(row["dimension_name"].iloc[0]) if len(row) else dimension_id


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
) -> GroupResults:
    """A group's results for the last of ``waves`` (change from the first when there are two+).

    ``language`` None or "" uses the group's own language. ``data`` lets a caller reuse scores.
    """
    group = store.get_group(group_id)
    lang = language or group.get("language") or settings.language
    data = data or load_scored_data(store, settings, instrument)
    wave_list = _ordered_waves(data, waves, group_id)
    if not wave_list:
        raise NotFoundError(
            f"Group {group_id!r} has no responses yet for instrument "
            f"{instrument.id!r}; import its survey answers first."
        )
    wave = wave_list[-1]
    cohort_id = cohort_id or group.get("cohort_id")
    cohort_name = ""
    if cohort_id:
        c = data.cohorts[data.cohorts["id"] == cohort_id]
        if c.empty:
            raise NotFoundError(
                f"Cohort {cohort_id!r} does not exist; the cohorts are: "
                f"{', '.join(data.cohorts['id'])}."
            )
        cohort_name = str(c["name"].iloc[0])
    gw = data.group_waves
    gw_row = gw[(gw["group_id"] == group_id) & (gw["wave_id"] == wave)]
    respondents = int(gw_row["respondents"].iloc[0]) if len(gw_row) else 0
    invited = gw_row["invited"].iloc[0] if len(gw_row) else None
    invited = None if invited is None or pd.isna(invited) else int(invited)
    survey_date = gw_row["survey_date"].iloc[0] if len(gw_row) else None
    inst = instrument
    scale_labels = tuple(inst.scale.labels.get(lang) or next(iter(inst.scale.labels.values())))
    reason = _suppressed_reason(data, group_id, wave)
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
        respondents=respondents,
        invited=invited,
        min_respondents=data.rules.min_respondents,
        min_comment_respondents=data.rules.min_comment_respondents,
        scale_min=inst.scale.min,
        scale_max=inst.scale.max,
        scale_labels=scale_labels,
        norm_base=norm_base,
        method=_method(data, wave, norm_ids, lang),
    )
    if reason is not None:
        return GroupResults(
            **base,
            reportable=False,
            suppressed_text=_reason_text(reason, data, lang),
            dimensions=pd.DataFrame(),
            items=pd.DataFrame(),
            distributions=pd.DataFrame(),
        )
    from kit.scoring import norm_position

    dims = _dimension_frame(inst, lang)
    p = data.protected.dimensions
    own = p[(p["group"] == group_id) & (p["wave"] == wave)]
    cols = ["dimension", "n", "mean", "sd", "se", "ci_low", "ci_high", "rwg_j", "ad_m", "alpha"]
    dims = dims.merge(own[[c for c in cols if c in own]], on="dimension", how="left")
    pos = norm_position(data.protected, wave, norm_ids)
    pos = pos[pos["group"] == group_id][
        ["dimension", "norm_mean", "norm_sd", "norm_groups", "percentile"]
    ]
    dims = dims.merge(pos, on="dimension", how="left")
    band = _norm_band(p, wave, [g for g in norm_ids if g != group_id])
    dims = dims.merge(band, on="dimension", how="left")
    cohort_groups = 0
    if cohort_id:
        members = list(data.groups.loc[data.groups["cohort_id"] == cohort_id, "id"])
        cm = p[(p["wave"] == wave) & p["group"].isin(members)].dropna(subset=["mean"])
        cohort_groups = cm["group"].nunique()
        dims = dims.merge(
            cm.groupby("dimension")["mean"].mean().rename("cohort_mean"), on="dimension", how="left"
        )
    dims["disagreement"] = dims["rwg_j"] < AGREEMENT_THRESHOLD
    dims = dims.sort_values("order").reset_index(drop=True)
    ranked = dims.dropna(subset=["percentile"]).sort_values(["percentile", "mean"], ascending=False)
    if ranked.empty:  # no norm base: judge by the group's own means
        ranked = dims.dropna(subset=["mean"]).sort_values("mean", ascending=False)
    k = min(STRENGTHS, len(ranked) // 2)
    strengths = tuple(ranked["dimension"].head(k))
    development = tuple(reversed(list(ranked["dimension"].tail(k))))
    disagreements = tuple(dims.loc[dims["disagreement"], "dimension"])

    item_text = {i.id: i.text.get(lang, i.id) for i in inst.items}
    it = data.protected.items
    items = it[(it["group"] == group_id) & (it["wave"] == wave)].copy()
    items["item_text"] = items["item"].map(item_text)
    items = items.merge(dims[["dimension", "dimension_name"]], on="dimension", how="left")
    items = items[
        [
            c
            for c in ("item", "item_text", "dimension", "dimension_name", "n", "mean", "sd")
            if c in items
        ]
    ]
    ds = data.protected.distributions
    dist = ds[(ds["group"] == group_id) & (ds["wave"] == wave)].copy()
    dist["item_text"] = dist["item"].map(item_text)
    dist["dimension"] = dist["item"].map(inst.item_dimension)
    dist = dist[["item", "item_text", "dimension", "value", "count"]].reset_index(drop=True)

    change, change_text, baseline = None, "", None
    if len(wave_list) >= 2:
        baseline = wave_list[0]
        change, change_text = _group_change(data, group_id, baseline, wave, dims, lang)

    comments, comments_text = _comments(store, data, instrument, group_id, wave, seed, lang)
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
        norm_groups=int(dims["norm_groups"].max()) if dims["norm_groups"].notna().any() else 0,
        cohort_groups_shown=cohort_groups,
    )


def _norm_band(p: pd.DataFrame, wave: str, norm_ids: list[str]) -> pd.DataFrame:
    nd = p[(p["wave"] == wave) & p["group"].isin(norm_ids)].dropna(subset=["mean"])
    if nd.empty:
        return pd.DataFrame({"dimension": [], "norm_low": [], "norm_high": []})
    q = nd.groupby("dimension")["mean"].quantile([0.25, 0.75]).unstack()
    return pd.DataFrame(
        {"dimension": q.index, "norm_low": q[0.25].to_numpy(), "norm_high": q[0.75].to_numpy()}
    )


def _group_change(
    data: ScoredData, group_id: str, before: str, after: str, dims: pd.DataFrame, lang: str
) -> tuple[pd.DataFrame | None, str]:
    from kit.scoring import compare_waves

    reason = _suppressed_reason(data, group_id, before)
    if reason is not None:
        return None, t(
            "report.change.before_hidden",
            lang,
            wave=_wave_name(before, lang),
            reason=_reason_text(reason, data, lang),
        )
    ch = compare_waves(data.protected, before, after)
    ch = ch[ch["group"] == group_id]
    ch = dims[["dimension", "dimension_name", "order"]].merge(
        ch.drop(columns=["group"]), on="dimension", how="left"
    )
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
    store: Store, data: ScoredData, inst: Instrument, group_id: str, wave: str, seed: int, lang: str
) -> tuple[tuple[dict[str, Any], ...], str]:
    """Comments through ``privacy.select_comments`` only: shuffled, unattributed, or a reason."""
    if not inst.open_questions:
        return (), ""
    from kit.privacy import select_comments

    table = store.load_responses(inst, group_ids=[group_id], wave_ids=[wave])
    got = select_comments(table, inst, group_id, wave, data.rules, seed)
    del table
    if got.suppressed:
        return (), _reason_text(got.suppressed, data, lang)
    out = [
        {"question": q.text.get(lang, q.id), "texts": list(got.by_question.get(q.id, ()))}
        for q in inst.open_questions
        if got.by_question.get(q.id)
    ]
    return tuple(out), "" if out else t("report.comments.none", lang)


def _method(data: ScoredData, wave: str, norm_ids: list[str], lang: str) -> dict[str, Any]:
    """Reliability and between-group agreement of the whole data set (not the group's own)."""
    dims = _dimension_frame(data.instrument, lang)[["dimension", "dimension_name", "order"]]
    rel = getattr(data.protected, "reliability", None)
    icc = getattr(data.protected, "icc", None)
    table = dims
    if rel is not None and len(rel):
        r = rel[rel["wave"] == wave][["dimension", "alpha"]].rename(columns={"alpha": "alpha_all"})
        table = table.merge(r, on="dimension", how="left")
    if icc is not None and len(icc):
        i = icc[icc["wave"] == wave][["dimension", "icc1", "icc2", "groups", "k"]]
        table = table.merge(i, on="dimension", how="left")
    pd_ = data.protected.dimensions
    shown = pd_[(pd_["wave"] == wave) & pd_["group"].isin(norm_ids)].dropna(subset=["mean"])
    return {
        "table": table.sort_values("order").reset_index(drop=True),
        "norm_groups": int(shown["group"].nunique()),
        "agreement_threshold": AGREEMENT_THRESHOLD,
        "null_variance": data.instrument.scale.null_variance,
        "options": data.instrument.scale.options,
    }


# -- a cohort -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CohortResults:
    """The cohort's groups side by side; groups under the threshold are listed, not scored."""

    cohort_id: str
    cohort_name: str
    programme: str
    language: str
    waves: tuple[str, ...]
    wave_names: tuple[str, ...]
    groups: (
        pd.DataFrame
    )  # group_id, group_name, organisation, wave, respondents, invited, shown, note
    side_by_side: dict[str, pd.DataFrame]  # wave -> dimension_name, group_name, mean (shown groups)
    change: pd.DataFrame | None  # group_name, dimension_name, change, ci_low, ci_high
    scale_min: int
    scale_max: int
    min_respondents: int


def cohort_results(
    store: Store,
    settings: Settings,
    cohort_id: str,
    waves: list[str] | None,
    language: str | None,
    instrument: Instrument,
    data: ScoredData | None = None,
) -> CohortResults:
    """The groups of ``cohort_id`` side by side in each wave, each only where it is reportable."""
    data = data or load_scored_data(store, settings, instrument)
    c = data.cohorts[data.cohorts["id"] == cohort_id]
    if c.empty:
        raise NotFoundError(
            f"Cohort {cohort_id!r} does not exist; the cohorts are: "
            f"{', '.join(data.cohorts['id']) or '(none)'}."
        )
    lang = language or settings.language
    members = data.groups[data.groups["cohort_id"] == cohort_id]
    wave_list = _ordered_waves(data, waves)
    dims = _dimension_frame(instrument, lang)
    p = data.protected.dimensions
    rows, side = [], {}
    for w in wave_list:
        shown_ids = []
        for g in members.to_dict("records"):
            gw = data.group_waves
            r = gw[(gw["group_id"] == g["id"]) & (gw["wave_id"] == w)]
            n = int(r["respondents"].iloc[0]) if len(r) else 0
            inv = r["invited"].iloc[0] if len(r) else None
            reason = _suppressed_reason(data, g["id"], w)
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
                }
            )
            if reason is None:
                shown_ids.append(g["id"])
        sub = p[(p["wave"] == w) & p["group"].isin(shown_ids)][["group", "dimension", "mean"]]
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
    )


def _programme_change(
    data: ScoredData,
    group_ids: list[str],
    before: str,
    after: str,
    dims: pd.DataFrame,
    groups: pd.DataFrame,
) -> pd.DataFrame:
    from kit.scoring import compare_waves

    d = data.protected.dimensions
    if not {before, after} <= set(d["wave"]):
        return pd.DataFrame(
            columns=[
                "group",
                "group_name",
                "dimension",
                "dimension_name",
                "change",
                "ci_low",
                "ci_high",
                "order",
            ]
        )
    ch = compare_waves(data.protected, before, after)
    ch = ch[ch["group"].isin(group_ids)].dropna(subset=["change"])
    ch = ch.merge(
        groups[["id", "name"]].rename(columns={"id": "group", "name": "group_name"}), on="group"
    ).merge(dims, on="dimension")
    return ch.sort_values(["order", "group_name"]).reset_index(drop=True)


# -- the programme --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProgrammeResults:
    """Every reportable group's change from before to after, and what moved most."""

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


def programme_results(
    store: Store,
    settings: Settings,
    cohort_ids: list[str] | None,
    waves: list[str] | None,
    language: str | None,
    instrument: Instrument,
    data: ScoredData | None = None,
) -> ProgrammeResults:
    """Change from the first to the last of ``waves`` for every group in ``cohort_ids``."""
    from scipy import stats

    data = data or load_scored_data(store, settings, instrument)
    lang = language or settings.language
    cohorts = data.cohorts
    if cohort_ids:
        unknown = [c for c in cohort_ids if c not in set(cohorts["id"])]
        if unknown:
            raise NotFoundError(
                f"Cohort(s) {', '.join(unknown)} do not exist; the cohorts are: "
                f"{', '.join(cohorts['id'])}."
            )
        cohorts = cohorts[cohorts["id"].isin(cohort_ids)]
    wave_list = _ordered_waves(data, waves)
    if len(wave_list) < 2:
        raise NotFoundError(
            "A programme report needs two waves (before and after); found "
            f"{', '.join(wave_list) or 'none'}."
        )
    before, after = wave_list[0], wave_list[-1]
    members = data.groups[data.groups["cohort_id"].isin(cohorts["id"])]
    dims = _dimension_frame(instrument, lang)
    ch = _programme_change(data, list(members["id"]), before, after, dims, members)
    ch = ch.merge(members[["id", "cohort_id"]].rename(columns={"id": "group"}), on="group")
    left = []
    for g in members.to_dict("records"):
        if g["id"] not in set(ch["group"]):
            reasons = [r for w in (before, after) if (r := _suppressed_reason(data, g["id"], w))]
            note = _reason_text(reasons[0], data, lang) if reasons else ""
            left.append({"group_name": g["name"], "note": note})
    agg = []
    for did, sub in ch.groupby("dimension", sort=False):
        x = sub["change"].to_numpy(dtype=float)
        n = len(x)
        m = float(np.mean(x))
        se = float(np.std(x, ddof=1) / np.sqrt(n)) if n > 1 else np.nan
        tq = float(stats.t.ppf(0.975, n - 1)) if n > 1 else np.nan
        agg.append(
            {
                "dimension": did,
                "dimension_name": sub["dimension_name"].iloc[0],
                "groups": n,
                "mean_change": m,
                "ci_low": m - tq * se,
                "ci_high": m + tq * se,
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
    cohort_names = dict(zip(cohorts["id"], cohorts["name"], strict=True))
    per_group["cohort_name"] = per_group["cohort_id"].map(cohort_names)
    per_group = per_group.sort_values(["cohort_id", "group_name"]).reset_index(drop=True)
    ctab = cohorts[["id", "name"]].copy()
    ctab["groups"] = ctab["id"].map(members.groupby("cohort_id").size()).fillna(0).astype(int)
    programme = str(cohorts["programme"].dropna().iloc[0]) if len(cohorts) else ""
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
    )
