"""What each exercise asks participants, and how their submissions are checked.

``public_round`` is what a participant's page receives for an open round (texts in the
participant's language, never another participant's identity). ``parse_submission`` turns a
submitted JSON body into answers for the store, or raises ``SubmissionError`` with a translation
key and fields, so the participant reads why nothing was saved.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from kit.errors import KitError
from kit.exercises import get_exercise
from kit.i18n import t
from kit.instrument import Instrument, load_instrument
from kit.store.live import AnswerIn

PARTICIPANT_EXERCISES = ("pulse", "purpose", "agenda_audit", "stakeholder_map")
AGENDA_KINDS = ("information", "discussion", "decision")
AGENDA_FOCUSES = ("operations", "strategy", "development")
STAKEHOLDER_SCALE = (1, 5)
MAX_STATEMENT = 500
MAX_TITLE = 120
MAX_MINUTES = 600
MAX_ENTRIES = 40  # agenda items per participant and round
_ENTRY_ID = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


class SubmissionError(KitError):
    """A participant's submission is invalid; ``key`` names a text in ``live.yaml``."""

    def __init__(self, key: str, **fields: Any) -> None:
        super().__init__(t(f"live.{key}", "en", **fields))
        self.key = key
        self.fields = fields

    def message(self, lang: str) -> str:
        return t(f"live.{self.key}", lang, **self.fields)


@dataclass(frozen=True)
class Submission:
    answers: list[AnswerIn]
    replace_prefix: str | None = None
    remove: list[str] = field(default_factory=list)


@lru_cache(maxsize=16)
def round_instrument(instrument_id: str) -> Instrument:
    return load_instrument(instrument_id)


def pulse_items(config: dict[str, Any]) -> tuple[Instrument, list[str]]:
    inst = round_instrument(config.get("instrument") or "pulse")
    items = [i for i in config.get("items") or inst.item_ids if i in inst.item_ids]
    return inst, items


def shuffled_statements(round_id: int, statements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Statements in an order that does not reveal who wrote first (fixed per round)."""
    out = sorted(statements, key=lambda s: s["id"])
    random.Random(round_id).shuffle(out)
    return out


def public_round(rnd: dict[str, Any], lang: str,
                 statements: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The round as a participant's page shows it (JSON-ready)."""
    ex = rnd["exercise"]
    out: dict[str, Any] = {
        "id": rnd["id"], "exercise": ex, "status": rnd["status"],
        "title": get_exercise(ex).name[lang], "prompt": t(f"live.prompt.{ex}", lang),
        "answerable": ex in PARTICIPANT_EXERCISES,
    }
    cfg = rnd["config"]
    if ex == "pulse":
        inst, items = pulse_items(cfg)
        lang_i = lang if lang in inst.languages else inst.languages[0]
        out["items"] = [{"id": i, "text": inst.item(i).text[lang_i]} for i in items]
        out["scale"] = {"min": inst.scale.min, "max": inst.scale.max,
                        "labels": list(inst.scale.labels[lang_i]),
                        "na": (inst.scale.not_applicable or {}).get(lang_i)}
    elif ex == "purpose":
        out["phase"] = cfg.get("phase", "write")
        out["dots"] = int(cfg.get("dots", 3))
        out["max_length"] = MAX_STATEMENT
        if out["phase"] == "vote":
            out["prompt"] = t("live.prompt.purpose_vote", lang, dots=out["dots"])
            out["statements"] = [{"id": s["id"], "text": s["text"]}
                                 for s in shuffled_statements(rnd["id"], statements or [])]
    elif ex == "agenda_audit":
        out["kinds"] = [{"id": k, "label": t(f"live.agenda.kind.{k}", lang)} for k in AGENDA_KINDS]
        out["focuses"] = [{"id": f, "label": t(f"live.agenda.focus.{f}", lang)}
                          for f in AGENDA_FOCUSES]
        out["max_minutes"] = MAX_MINUTES
    elif ex == "stakeholder_map":
        axis = cfg.get("axis", "interest")
        out["actors"] = [{"id": str(i), "name": a} for i, a in enumerate(cfg.get("actors") or [])]
        out["axes"] = [{"id": "power", "label": t("live.stakeholder.power", lang)},
                       {"id": "interest", "label": t(f"live.stakeholder.{axis}", lang)}]
        out["scale"] = {"min": STAKEHOLDER_SCALE[0], "max": STAKEHOLDER_SCALE[1]}
    return out


def parse_submission(rnd: dict[str, Any], answers: Any,
                     statement_ids: set[int] | None = None) -> Submission:
    """Check ``answers`` (the ``answers`` object of a submitted JSON body) for ``rnd``."""
    if not isinstance(answers, dict) or not answers:
        raise SubmissionError("error.no_answers")
    ex = rnd["exercise"]
    if ex == "pulse":
        return _pulse(rnd, answers)
    if ex == "purpose":
        return _purpose(rnd, answers, statement_ids or set())
    if ex == "agenda_audit":
        return _agenda(answers)
    if ex == "stakeholder_map":
        return _stakeholder(rnd, answers)
    raise SubmissionError("error.not_answerable")


def _number(value: Any, lo: float, hi: float, what: str, whole: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise SubmissionError("error.not_a_number", what=what, value=str(value)[:20])
    if whole and value != int(value):
        raise SubmissionError("error.not_whole", what=what, value=value)
    if not lo <= value <= hi:
        raise SubmissionError("error.out_of_range", what=what, value=value, min=lo, max=hi)
    return float(value)


def _text(value: Any, what: str, limit: int) -> str:
    if not isinstance(value, str):
        raise SubmissionError("error.not_text", what=what)
    value = value.replace("\x00", "").strip()
    if len(value) > limit:
        raise SubmissionError("error.too_long", what=what, limit=limit)
    return value


def _pulse(rnd: dict[str, Any], answers: dict[str, Any]) -> Submission:
    inst, items = pulse_items(rnd["config"])
    out = []
    for item, value in answers.items():
        if item not in items:
            raise SubmissionError("error.unknown_question", question=str(item)[:40])
        if value is None:  # "don't know" / not applicable
            if inst.scale.not_applicable is None:
                raise SubmissionError("error.no_na", what=item)
            out.append(AnswerIn(item, None, "na"))
        else:
            out.append(AnswerIn(item, _number(value, inst.scale.min, inst.scale.max, item)))
    return Submission(out)


def _purpose(rnd: dict[str, Any], answers: dict[str, Any], statement_ids: set[int]) -> Submission:
    phase = rnd["config"].get("phase", "write")
    if phase == "write":
        if set(answers) != {"statement"}:
            raise SubmissionError("error.unknown_question", question=_keys(answers))
        text = _text(answers["statement"], "statement", MAX_STATEMENT)
        if not text:
            return Submission([], remove=["statement"])
        return Submission([AnswerIn("statement", None, text)])
    if set(answers) != {"votes"} or not isinstance(answers["votes"], dict):
        raise SubmissionError("error.unknown_question", question=_keys(answers))
    dots = int(rnd["config"].get("dots", 3))
    out = []
    total = 0
    for sid, n in answers["votes"].items():
        if not str(sid).isdigit() or int(sid) not in statement_ids:
            raise SubmissionError("error.unknown_question", question=str(sid)[:40])
        n = int(_number(n, 0, dots, "votes"))
        total += n
        if n:
            out.append(AnswerIn(f"vote:{int(sid)}", float(n)))
    if total > dots:
        raise SubmissionError("error.too_many_dots", dots=dots, given=total)
    return Submission(out, replace_prefix="vote:")


def _agenda(answers: dict[str, Any]) -> Submission:
    if "remove" in answers and len(answers) == 1:
        eid = str(answers["remove"])
        if not _ENTRY_ID.match(eid):
            raise SubmissionError("error.unknown_question", question=eid[:40])
        return Submission([], remove=[f"entry:{eid}"])
    if "wanted" in answers and len(answers) == 1:
        wanted = answers["wanted"]
        if not isinstance(wanted, dict) or set(wanted) != set(AGENDA_FOCUSES):
            raise SubmissionError("error.wanted_keys", keys=", ".join(AGENDA_FOCUSES))
        shares = {f: _number(wanted[f], 0, 100, f) for f in AGENDA_FOCUSES}
        if abs(sum(shares.values()) - 100) > 1:
            raise SubmissionError("error.wanted_sum", total=int(sum(shares.values())))
        return Submission([AnswerIn("wanted", None, None, shares)])
    if "entry" in answers and len(answers) == 1:
        e = answers["entry"]
        if not isinstance(e, dict):
            raise SubmissionError("error.no_answers")
        eid = str(e.get("id", ""))
        if not _ENTRY_ID.match(eid):
            raise SubmissionError("error.entry_id")
        title = _text(e.get("title", ""), "title", MAX_TITLE)
        if not title:
            raise SubmissionError("error.empty", what="title")
        minutes = _number(e.get("minutes"), 1, MAX_MINUTES, "minutes")
        kind, focus = e.get("kind"), e.get("focus")
        if kind not in AGENDA_KINDS:
            raise SubmissionError("error.choice", what="kind", options=", ".join(AGENDA_KINDS))
        if focus not in AGENDA_FOCUSES:
            raise SubmissionError("error.choice", what="focus", options=", ".join(AGENDA_FOCUSES))
        data = {"title": title, "minutes": minutes, "kind": kind, "focus": focus}
        return Submission([AnswerIn(f"entry:{eid}", minutes, title, data)])
    raise SubmissionError("error.unknown_question", question=_keys(answers))


def _stakeholder(rnd: dict[str, Any], answers: dict[str, Any]) -> Submission:
    actors = rnd["config"].get("actors") or []
    ratings = answers.get("ratings")
    if set(answers) != {"ratings"} or not isinstance(ratings, dict):
        raise SubmissionError("error.unknown_question", question=_keys(answers))
    out = []
    lo, hi = STAKEHOLDER_SCALE
    for idx, r in ratings.items():
        if not str(idx).isdigit() or int(idx) >= len(actors):
            raise SubmissionError("error.unknown_question", question=str(idx)[:40])
        if not isinstance(r, dict) or not set(r) <= {"power", "interest"} or not r:
            raise SubmissionError("error.ratings")
        for axis, value in r.items():
            out.append(AnswerIn(f"{axis}:{int(idx)}", _number(value, lo, hi, axis)))
    return Submission(out)


def _keys(answers: dict[str, Any]) -> str:
    return ",".join(map(str, answers))[:40]
