"""What anyone may see of a live round: published versions that change only in steps.

The attack this closes: a round's results are on the projector and on every phone while the
round is open; when one more person answers, the counts change by one, and that person's answer
is the difference. So results are never computed from the live answers directly. They are
*published versions*: frozen copies of the answers, stored in ``live_published``, and every view
(the console, the phones, the export) shows the newest version.

The step rule, per *unit* of a round (a pulse item, the purpose statements, the dot-votes, the
agenda entries, the wanted split, one axis of one stakeholder; see ``unit_of``):

- a unit enters a version only when at least ``min_respondents`` admitted participants have
  answered it; before that it is hidden;
- a later version replaces a unit's frozen answers only when at least ``min_respondents``
  participants' answers to that unit differ from the frozen ones (new, changed or taken back);
  otherwise the unit keeps its frozen answers.

So two versions anyone can see differ, in every unit, by the answers of none or of at least
``min_respondents`` people: no single answer can be read off a change, also not by watching the
page twice, hiding and revealing again, or exporting. Answers that do not (yet) make a step are
kept in the store and counted as participation ("answered: N"), but are in no aggregate.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import pandas as pd

from kit.privacy import AnonymityRules
from kit.settings import Settings
from kit.store import Store
from kit.store import live as repo

# answers of one participant that form one unit: all agenda entries (or Q&A entries, or action
# proposals), all votes, a ranking, a 100-point split, a word-cloud's words, a list of names
GROUPED_PREFIXES = {"entry:": "entries", "vote:": "votes", "rank:": "ranking",
                    "points:": "points", "word:": "words", "name:": "names"}


@lru_cache(maxsize=1 << 16)
def unit_of(question: str) -> str:
    """The unit a question belongs to: all agenda entries are one unit, all dot-votes another."""
    for prefix, unit in GROUPED_PREFIXES.items():
        if question.startswith(prefix):
            return unit
    return question


def min_respondents(settings: Settings, rnd: dict[str, Any] | None = None) -> int:
    """The live threshold: the kit's anonymity rules (``KIT_MIN_RESPONDENTS``), never a number
    written in a page; for a round, the higher of that and the threshold its session was made
    with (thresholds are fixed once a session has started: a later, lower setting never
    weakens it)."""
    kit = AnonymityRules.from_settings(settings).min_respondents
    fixed = (rnd or {}).get("min_respondents") or 0
    return max(kit, int(fixed))


@dataclass(frozen=True)
class Visible:
    """The version of a round anyone may see (``answers`` None: nothing published yet)."""

    answers: pd.DataFrame | None
    version: int
    respondents: int
    published_at: Any = None

    def info(self) -> dict[str, Any]:
        stamp = self.published_at
        return {"version": self.version, "respondents": self.respondents if self.version else 0,
                "published_at": None if stamp is None else str(stamp)[:19]}


def _signatures(frame: pd.DataFrame) -> dict[tuple[str, Any], tuple[Any, ...]]:
    """(unit, participant) -> the participant's answers to the unit, comparable."""
    out: dict[tuple[str, Any], list[tuple[Any, ...]]] = {}
    columns = (frame[c].to_numpy(dtype=object).tolist()  # plain values: no pandas rows
               for c in ("participant", "question", "value", "text", "data"))
    for person, question, value, text, data in zip(*columns, strict=True):
        value = None if value is None or value != value else float(value)
        data = json.dumps(data, sort_keys=True) if isinstance(data, dict) else None
        key = (unit_of(question), int(person))
        out.setdefault(key, []).append((question, value, text, data))
    return {k: tuple(sorted(v, key=_question)) for k, v in out.items()}  # one per question


def _question(answer: tuple[Any, ...]) -> str:
    return answer[0]


def freeze(previous: pd.DataFrame | None, current: pd.DataFrame, min_n: int,
           previous_signatures: dict[tuple[str, Any], tuple[Any, ...]] | None = None
           ) -> pd.DataFrame | None:
    """The next version's frozen answers by the step rule, or None when no unit may change
    (``previous_signatures``: ``_signatures(previous)`` when already known)."""
    cur = current[repo.FROZEN_COLUMNS].copy() if len(current) else repo.frozen_frame([])
    prev = previous if previous is not None else repo.frozen_frame([])
    cur_units = pd.Series([unit_of(q) for q in cur["question"].to_numpy(dtype=object)],
                          index=cur.index, dtype=object)
    prev_units = pd.Series([unit_of(q) for q in prev["question"].to_numpy(dtype=object)],
                           index=prev.index, dtype=object)
    cur_sig = _signatures(cur)
    prev_sig = _signatures(prev) if previous_signatures is None else previous_signatures
    keep: list[pd.DataFrame] = []
    changed = False
    for unit in sorted(set(cur_units) | set(prev_units)):
        people = {p for (u, p) in cur_sig if u == unit} | {p for (u, p) in prev_sig if u == unit}
        differ = sum(1 for p in people if cur_sig.get((unit, p)) != prev_sig.get((unit, p)))
        if differ >= min_n:
            keep.append(cur[(cur_units == unit).to_numpy()])
            changed = True
        else:
            keep.append(prev[(prev_units == unit).to_numpy()])
    if not changed:
        return None
    parts = [k for k in keep if len(k)]
    return pd.concat(parts, ignore_index=True) if parts else repo.frozen_frame([])


# Published versions never change, and a round whose answers and newest version are as last
# looked at cannot make a new one: a room polling its results costs two small queries.
_VERSIONS: dict[tuple[str, int, tuple[int, str]], dict[str, Any] | None] = {}
_LOOKED: dict[tuple[str, int], tuple[Any, ...]] = {}
_MAX_CACHED = 512


def _latest(store: Store, round_id: int) -> dict[str, Any] | None:
    version = repo.latest_version(store, round_id)
    key = (str(store.url), round_id, version)
    if key not in _VERSIONS:
        if len(_VERSIONS) > _MAX_CACHED:
            _VERSIONS.clear()
        _VERSIONS[key] = repo.latest_published(store, round_id) if version[0] else None
    return _VERSIONS[key]


def _remember(store: Store, round_id: int, version: int, people: int,
              answers: pd.DataFrame) -> None:
    """Cache the version just stored as it is, instead of reading it back (the stamp, the
    only part the database makes, is read with the cheap version query)."""
    stamp = repo.latest_version(store, round_id)
    if stamp[0] == version:
        if len(_VERSIONS) > _MAX_CACHED:
            _VERSIONS.clear()
        _VERSIONS[(str(store.url), round_id, stamp)] = {
            "round_id": round_id, "version": version, "respondents": people,
            "published_at": stamp[1], "answers": answers.reset_index(drop=True)}


def _signatures_of(latest: dict[str, Any] | None) -> dict[tuple[str, Any], tuple[Any, ...]]:
    """A published version's signatures, computed once per version (versions never change)."""
    if latest is None:
        return {}
    sig = latest.get("_signatures")
    if sig is None:
        sig = latest["_signatures"] = _signatures(latest["answers"])
    return sig


def visible_round(store: Store, settings: Settings, rnd: dict[str, Any], *,
                  publish: bool = True) -> Visible:
    """The newest version of ``rnd``'s results; with ``publish`` first a new version when the
    step rule allows one. Every view of a round's results comes through here."""
    min_n = min_respondents(settings, rnd)
    latest = _latest(store, rnd["id"])
    if publish:
        look = (str(store.url), rnd["id"])
        seen = (repo.answers_fingerprint(store, rnd["id"]),
                0 if latest is None else latest["version"], min_n)
        if _LOOKED.get(look) != seen:
            current = repo.load_answers(store, round_ids=[rnd["id"]], stamps=False)
            nxt = freeze(None if latest is None else latest["answers"], current, min_n,
                         _signatures_of(latest))
            if nxt is not None:
                version = 1 if latest is None else latest["version"] + 1
                people = int(nxt["participant"].nunique()) if len(nxt) else 0
                if repo.publish_version(store, rnd["id"], version, people, nxt):
                    _remember(store, rnd["id"], version, people, nxt)
                latest = _latest(store, rnd["id"])  # ours, or a concurrent writer's
                if latest is not None and latest["version"] == version:
                    _LOOKED[look] = (seen[0], version, min_n)  # the next look needs no freeze
            else:
                if len(_LOOKED) > _MAX_CACHED:
                    _LOOKED.clear()
                _LOOKED[look] = seen
    if latest is None:
        return Visible(None, 0, 0)
    return Visible(latest["answers"], int(latest["version"]), int(latest["respondents"]),
                   latest["published_at"])
