"""Anonymity, enforced in the engine: what a report or app may show of a team's answers.

``protect(scores, rules)`` is the only way scores leave the engine. It drops everything at the
level of a respondent and blanks every statistic of a cell (a group in a wave, an item, a
dimension) that rests on fewer than ``min_respondents`` people; a blanked row keeps its keys and
says why in ``suppressed`` (a reason code for ``t("common.suppressed.<reason>", lang, min_n=...)``).

Subgroups (leader vs members) go through ``split_by_role``, which refuses unless every side and
the rest of the team are large enough that no one can be worked out by subtraction (the
differencing rule). Comments go through ``select_comments``: unattributed and shuffled, and only
for groups with at least ``min_comment_respondents`` respondents.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from kit import scoring
from kit.errors import NotFoundError, PrivacyError, SettingsError
from kit.i18n import Joined, Text, t
from kit.instrument import Instrument

TOO_FEW = "too_few"
SUBGROUP = "subgroup"
COMMENTS = "comments"
CHANGED = "changed"  # changed by fewer than min_respondents since a published version showing it
COMPARISON = "comparison"  # an aggregate made of fewer than min_comparison_groups other groups
NOT_PUBLISHED = "not_published"  # the group-wave has no published version yet
REASONS = (TOO_FEW, SUBGROUP, COMMENTS, CHANGED, COMPARISON, NOT_PUBLISHED)
ROLES = ("leader", "member")


@dataclass(frozen=True)
class AnonymityRules:
    """Thresholds of the anonymity rules (fixed once a wave has started)."""

    min_respondents: int = 5  # per group and wave (and per item / dimension) before any number
    min_subgroup_respondents: int = 5  # each side of a split, and the rest of the team
    min_comment_respondents: int = 7  # respondents in the group and wave before comments
    min_comparison_groups: int = 3  # other reportable groups in an aggregate shown beside one

    def __post_init__(self) -> None:
        problems = []
        if self.min_respondents < 3:
            problems.append(
                f"min_respondents must be at least 3 (got {self.min_respondents}); "
                "below 3 an answer can be traced to a person"
            )
        if self.min_subgroup_respondents < self.min_respondents:
            problems.append("min_subgroup_respondents must be at least min_respondents")
        if self.min_comment_respondents < self.min_respondents:
            problems.append("min_comment_respondents must be at least min_respondents")
        if self.min_comparison_groups < 3:
            problems.append(
                f"min_comparison_groups must be at least 3 (got {self.min_comparison_groups}); "
                "with fewer, a group's result follows from an aggregate by subtraction"
            )
        if problems:
            raise SettingsError("Invalid anonymity rules: " + "; ".join(problems) + ".")

    @classmethod
    def from_settings(cls, settings: Any) -> AnonymityRules:
        return cls(
            min_respondents=settings.min_respondents,
            min_subgroup_respondents=settings.min_subgroup_respondents,
            min_comment_respondents=settings.min_comment_respondents,
            min_comparison_groups=getattr(settings, "min_comparison_groups", 3),
        )

    def threshold(self, reason: str) -> int:
        """The threshold behind a reason code."""
        return {
            TOO_FEW: self.min_respondents,
            SUBGROUP: self.min_subgroup_respondents,
            COMMENTS: self.min_comment_respondents,
            CHANGED: self.min_respondents,
            COMPARISON: self.min_comparison_groups,
            NOT_PUBLISHED: self.min_respondents,
        }[reason]

    def reason_text(self, reason: str, lang: str) -> str:
        """The sentence a reader sees in place of a suppressed number."""
        return t(f"common.suppressed.{reason}", lang, min_n=self.threshold(reason))


@dataclass(frozen=True, eq=False)
class ProtectedScores:
    """Scores safe to show: no respondent-level data; suppressed rows carry a reason, no number.

    Same tables as ``kit.scoring.Scores`` (items, distributions, dimensions, icc, reliability,
    group_waves), each per-cell table with an extra ``suppressed`` column (None or a reason).
    """

    items: pd.DataFrame
    distributions: pd.DataFrame
    dimensions: pd.DataFrame
    icc: pd.DataFrame
    reliability: pd.DataFrame
    group_waves: pd.DataFrame
    rules: AnonymityRules
    instrument_id: str = ""
    dimension_ids: tuple[str, ...] = ()
    scale_values: tuple[int, ...] = ()

    def reportable(self, group: str, wave: str) -> bool:
        """Whether the team's results in the wave may be shown at all."""
        gw = self.group_waves
        row = gw[(gw["group"] == group) & (gw["wave"] == wave)]
        return bool(len(row)) and row["suppressed"].isna().all()


def _blank(
    frame: pd.DataFrame, hide: pd.Series | np.ndarray, keys: tuple[str, ...]
) -> pd.DataFrame:
    """Every non-key column set to missing where ``hide``; integers become nullable Int64."""
    out = frame.copy()
    hide = np.asarray(hide, dtype=bool)
    for col in out.columns:
        if col in keys:
            continue
        if pd.api.types.is_integer_dtype(out[col]) or pd.api.types.is_bool_dtype(out[col]):
            out[col] = out[col].astype("Int64")
            out.loc[hide, col] = pd.NA
        else:
            out.loc[hide, col] = np.nan
    out["suppressed"] = pd.Series(np.where(hide, TOO_FEW, None), index=out.index, dtype=object)
    return out


def protect(scores: scoring.Scores, rules: AnonymityRules) -> ProtectedScores:
    """Apply the anonymity rules to ``scores``; the result is all a report or app may receive.

    A (group, wave) with fewer than ``rules.min_respondents`` respondents shows no statistic at
    all; only its response count ``group_waves.n`` stays (counts and participation are shown
    even where results are hidden, so staff can chase answers). In a reportable group, an item
    or dimension answered by fewer than the threshold is blanked too (with the item's
    distribution). ICC and reliability are pooled across groups and recomputed from the
    reportable groups only.
    """
    if not isinstance(scores, scoring.Scores):
        raise TypeError(  # dev-text
            f"protect() needs kit.scoring.Scores, not {type(scores).__name__}"
        )
    k = rules.min_respondents
    gw = scores.group_waves
    low = gw["n"].to_numpy() < k
    keys_cell = ("group", "wave")
    # score_responses lays out items and dimensions cell by cell, in group_waves order.
    n_items, n_dims = len(scores.item_ids), len(scores.dimension_ids)
    if len(scores.items) != len(gw) * n_items or len(scores.dimensions) != len(gw) * n_dims:
        raise ValueError(  # dev-text
            "protect() needs Scores exactly as score_responses returned them"
        )

    items = scores.items
    item_hide = np.repeat(low, n_items) | (items["n"].to_numpy() < k)
    p_items = _blank(items, item_hide, (*keys_cell, "item", "dimension"))

    # Distributions: hidden with their item (one row per item and value, in the same order).
    dist = scores.distributions
    per_item = np.array(scores.item_options or (len(scores.scale_values),) * n_items, dtype=int)
    n_values = np.tile(np.maximum(per_item, 1), len(gw))
    dist_hide = np.repeat(item_hide, n_values) if len(dist) else np.zeros(0, dtype=bool)
    p_dist = _blank(dist, dist_hide, (*keys_cell, "item", "value"))

    dims = scores.dimensions
    dim_hide = np.repeat(low, n_dims) | (dims["n"].to_numpy() < k)
    p_dims = _blank(dims, dim_hide, (*keys_cell, "dimension"))

    p_gw = gw.copy()  # the count stays: "4 of 11 responded" is shown, never their answers
    p_gw["suppressed"] = pd.Series(np.where(low, TOO_FEW, None), index=gw.index, dtype=object)

    visible_dims = dims[~dim_hide]
    icc = scoring.icc_from_dimensions(visible_dims)
    reliability = scoring.reliability_for(scores, ~low)
    return ProtectedScores(
        items=p_items,
        distributions=p_dist,
        dimensions=p_dims,
        icc=icc,
        reliability=reliability,
        group_waves=p_gw,
        rules=rules,
        instrument_id=scores.instrument_id,
        dimension_ids=scores.dimension_ids,
        scale_values=scores.scale_values,
    )


def compare_waves(protected: ProtectedScores, before: str, after: str) -> pd.DataFrame:
    """Change per group and dimension, only where both waves are reportable (else a reason)."""
    if not isinstance(protected, ProtectedScores):
        raise TypeError(  # dev-text
            "kit.privacy.compare_waves needs ProtectedScores; call protect() first"
        )
    return scoring.compare_waves(protected, before, after)


# --------------------------------------------------------------------------------------------
# Subgroups: leader vs members
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class RoleSplit:
    """Dimension statistics per role for one group and wave, or a refusal with its reason.

    ``dimensions``: role, dimension, n, mean, sd, se, ci_low, ci_high, suppressed (empty when
    refused). ``detail`` says, in English for logs and developers, why it was refused.
    """

    group: str
    wave: str
    dimensions: pd.DataFrame
    suppressed: str | None = None
    min_n: int = 0
    detail: str = ""
    reason: Text | None = None  # the refusal in any language (``detail`` is its English)

    @property
    def refused(self) -> bool:
        return self.suppressed is not None

    def raise_if_refused(self) -> RoleSplit:
        if self.refused:
            if self.reason is None:
                raise PrivacyError(self.detail)
            raise PrivacyError.text(self.reason.key, **self.reason.fields)
        return self


def _cell(table: pd.DataFrame, group: str, wave: str) -> pd.DataFrame:
    cell = table[(table["group"].astype(str) == group) & (table["wave"].astype(str) == wave)]
    if cell.empty:
        raise NotFoundError.text("engine.privacy.no_cell", group=group, wave=wave)
    return cell


def split_by_role(
    table: pd.DataFrame,
    instrument: Instrument,
    rules: AnonymityRules,
    group: str,
    wave: str,
    *,
    min_answered_share: float = 0.5,
) -> RoleSplit:
    """Leader vs members for one team, refused (reason ``subgroup``) unless it is safe.

    Safe means: the team is reportable, each role has at least ``min_subgroup_respondents``
    respondents, and so do the respondents with no role (the rest), unless there are none -
    otherwise the whole-team result minus the visible sides would reveal the rest. The same
    test is applied per dimension to the respondents with a score in it (blanked rows get
    reason ``subgroup``).
    """
    cell = _cell(table, group, wave)
    k = rules.min_subgroup_respondents
    roles = cell["role"].where(cell["role"].isin(ROLES)) if "role" in cell else None
    if roles is None:
        roles = pd.Series(np.nan, index=cell.index, dtype=object)
    sizes = {r: int((roles == r).sum()) for r in ROLES}
    rest = int(roles.isna().sum())
    columns = ["role", "dimension", "n", "mean", "sd", "se", "ci_low", "ci_high", "suppressed"]

    def refuse(why: Text) -> RoleSplit:
        reason = Text("engine.privacy.role_split", group=group, wave=wave, why=why, min_n=k)
        return RoleSplit(
            group, wave, pd.DataFrame(columns=columns), SUBGROUP, k, reason("en"), reason
        )

    if len(cell) < rules.min_respondents:
        return refuse(Text("engine.privacy.why_team", n=len(cell)))
    small = [
        Text("engine.privacy.role_n", role=Text(f"engine.privacy.role.{r}"), n=n)
        for r, n in sizes.items()
        if n < k
    ]
    if small:
        return refuse(Text("engine.privacy.why_roles", roles=Joined(small, ", ")))
    if 0 < rest < k:
        return refuse(Text("engine.privacy.why_rest", n=rest))

    labelled = cell.assign(group=roles.fillna("_rest").astype(str).to_numpy())
    scores = scoring.score_responses(labelled, instrument, min_answered_share=min_answered_share)
    d = scores.dimensions.rename(columns={"group": "role"})
    n_team = d.groupby("dimension")["n"].transform("sum")
    n_sides = d.where(d["role"].isin(ROLES))["n"].groupby(d["dimension"]).transform("sum")
    rest_n = n_team - n_sides
    hide = (d["n"] < k) | ((rest_n > 0) & (rest_n < k))
    hide = hide.groupby(d["dimension"]).transform("any")  # a dimension is shown for all or none
    d = d[d["role"].isin(ROLES)]
    hide = hide[d.index]
    out = d[columns[:-1]].copy()
    out["n"] = out["n"].astype("Int64")
    for col in columns[2:-1]:
        if col == "n":
            out.loc[hide, col] = pd.NA
        else:
            out.loc[hide, col] = np.nan
    out["suppressed"] = pd.Series(np.where(hide, SUBGROUP, None), index=out.index, dtype=object)
    return RoleSplit(group, wave, out.reset_index(drop=True), None, k, "")


# --------------------------------------------------------------------------------------------
# Comments
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Comments:
    """Open comments of one group and wave: texts only (no respondent, no role), shuffled
    per question, so comments cannot be linked to each other or to a person by their order."""

    group: str
    wave: str
    by_question: dict[str, tuple[str, ...]] = field(default_factory=dict)
    suppressed: str | None = None
    min_n: int = 0

    @property
    def texts(self) -> tuple[str, ...]:
        return tuple(text for texts in self.by_question.values() for text in texts)


def select_comments(
    table: pd.DataFrame,
    instrument: Instrument,
    group: str,
    wave: str,
    rules: AnonymityRules,
    seed: int | None = None,
) -> Comments:
    """The group's comments per open question, shuffled (reproducibly with ``seed``), or none
    with reason ``comments`` when fewer than ``min_comment_respondents`` responded."""
    cell = _cell(table, group, wave)
    k = rules.min_comment_respondents
    if len(cell) < k:
        return Comments(group, wave, {}, COMMENTS, k)
    rng = np.random.default_rng(seed)
    by_question: dict[str, tuple[str, ...]] = {}
    for qid in instrument.open_question_ids:
        if qid not in cell:
            by_question[qid] = ()
            continue
        texts = [str(v).strip() for v in cell[qid].tolist() if isinstance(v, str) and v.strip()]
        by_question[qid] = tuple(texts[i] for i in rng.permutation(len(texts)))
    return Comments(group, wave, by_question, None, k)
