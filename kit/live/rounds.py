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

PARTICIPANT_EXERCISES = ("pulse", "purpose", "agenda_audit", "stakeholder_map", "poll",
                         "wordcloud", "qa", "boundedness", "decision_review", "action_plan")
POLL_KINDS = ("scale", "ranking", "points", "matrix")
POLL_POINTS = 100  # points spread over the options of a 100-point poll
MATRIX_SCALE = (1, 5)  # each axis of a 2×2 matrix placement
MAX_OPTIONS = 12
MAX_OPTION = 80
MAX_QUESTION = 200
MAX_WORD = 40  # characters of one word-cloud answer
MAX_WORDS = 3  # answers per participant in a word cloud (the facilitator can set 1-5)
MAX_QA_TEXT = 280
MAX_QA_ENTRIES = 5  # questions or ideas per participant and round
MAX_NAMES = 30  # people a participant can list in a boundedness check
MAX_NAME = 60
MAX_DECISIONS = 12
MAX_PROPOSAL = 300
DECISION_SOURCES = ("own_unit", "other_units", "users", "research", "data", "other_agencies",
                    "counter_arguments")
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
        key = f"error.{key}"  # the key of live.yaml's error texts (no text written here)
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
    if cfg.get("ends_at") is not None:
        out["timer"] = {"ends_at": float(cfg["ends_at"]), "seconds": cfg.get("timer_seconds")}
    if cfg.get("question"):
        out["question"] = cfg["question"]
    if cfg.get("revote_of"):
        out["revote"] = True
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
    elif ex == "poll":
        kind = cfg.get("kind", "scale")
        out["kind"] = kind
        out["prompt"] = t(f"live.prompt.poll_{kind}", lang, points=POLL_POINTS)
        out["options"] = [{"id": str(i), "text": o} for i, o in enumerate(cfg.get("options") or [])]
        if kind == "scale":
            out["scale"] = {"min": int(cfg.get("min", 1)), "max": int(cfg.get("max", 5)),
                            "labels": list(cfg.get("labels") or [])}
        elif kind == "points":
            out["points"] = POLL_POINTS
        elif kind == "matrix":
            axes = cfg.get("axes") or {}
            out["axes"] = {"x": axes.get("x") or t("live.poll.x", lang),
                           "y": axes.get("y") or t("live.poll.y", lang)}
            out["scale"] = {"min": MATRIX_SCALE[0], "max": MATRIX_SCALE[1]}
    elif ex == "wordcloud":
        out["words"] = int(cfg.get("words", MAX_WORDS))
        out["max_length"] = MAX_WORD
    elif ex == "qa":
        out["max_length"] = MAX_QA_TEXT
        out["max_entries"] = MAX_QA_ENTRIES
        out["entries"] = list(statements or [])  # approved entries of the published version
    elif ex == "boundedness":
        out["names"] = list(cfg.get("names") or [])
        out["max_names"] = MAX_NAMES
    elif ex == "decision_review":
        out["decisions"] = [{"id": str(i), "text": d}
                            for i, d in enumerate(cfg.get("decisions") or [])]
        out["sources"] = [{"id": x, "label": t(f"live.decision.{x}", lang)}
                          for x in DECISION_SOURCES]
    elif ex == "action_plan":
        out["max_length"] = MAX_PROPOSAL
    return out


def parse_submission(rnd: dict[str, Any], answers: Any,
                     statement_ids: set[int] | None = None) -> Submission:
    """Check ``answers`` (the ``answers`` object of a submitted JSON body) for ``rnd``."""
    if not isinstance(answers, dict) or not answers:
        raise SubmissionError("no_answers")
    ex = rnd["exercise"]
    if ex == "pulse":
        return _pulse(rnd, answers)
    if ex == "purpose":
        return _purpose(rnd, answers, statement_ids or set())
    if ex == "agenda_audit":
        return _agenda(answers)
    if ex == "stakeholder_map":
        return _stakeholder(rnd, answers)
    if ex == "poll":
        return _poll(rnd, answers)
    if ex == "wordcloud":
        return _wordcloud(rnd, answers)
    if ex == "qa":
        return _qa(answers, statement_ids or set())
    if ex == "boundedness":
        return _boundedness(answers)
    if ex == "decision_review":
        return _decision_review(rnd, answers)
    if ex == "action_plan":
        return _proposal(answers)
    raise SubmissionError("not_answerable")


def _number(value: Any, lo: float, hi: float, what: str, whole: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise SubmissionError("not_a_number", what=what, value=str(value)[:20])
    if whole and value != int(value):
        raise SubmissionError("not_whole", what=what, value=value)
    if not lo <= value <= hi:
        raise SubmissionError("out_of_range", what=what, value=value, min=lo, max=hi)
    return float(value)


def _text(value: Any, what: str, limit: int) -> str:
    if not isinstance(value, str):
        raise SubmissionError("not_text", what=what)
    value = value.replace("\x00", "").strip()
    if len(value) > limit:
        raise SubmissionError("too_long", what=what, limit=limit)
    return value


def _pulse(rnd: dict[str, Any], answers: dict[str, Any]) -> Submission:
    inst, items = pulse_items(rnd["config"])
    out = []
    for item, value in answers.items():
        if item not in items:
            raise SubmissionError("unknown_question", question=str(item)[:40])
        if value is None:  # "don't know" / not applicable
            if inst.scale.not_applicable is None:
                raise SubmissionError("no_na", what=item)
            out.append(AnswerIn(item, None, "na"))
        else:
            out.append(AnswerIn(item, _number(value, inst.scale.min, inst.scale.max, item)))
    return Submission(out)


def _purpose(rnd: dict[str, Any], answers: dict[str, Any], statement_ids: set[int]) -> Submission:
    phase = rnd["config"].get("phase", "write")
    if phase == "write":
        if set(answers) != {"statement"}:
            raise SubmissionError("unknown_question", question=_keys(answers))
        text = _text(answers["statement"], "statement", MAX_STATEMENT)
        if not text:
            return Submission([], remove=["statement"])
        return Submission([AnswerIn("statement", None, text)])
    if set(answers) != {"votes"} or not isinstance(answers["votes"], dict):
        raise SubmissionError("unknown_question", question=_keys(answers))
    dots = int(rnd["config"].get("dots", 3))
    out = []
    total = 0
    for sid, n in answers["votes"].items():
        if not str(sid).isdigit() or int(sid) not in statement_ids:
            raise SubmissionError("unknown_question", question=str(sid)[:40])
        n = int(_number(n, 0, dots, "votes"))
        total += n
        if n:
            out.append(AnswerIn(f"vote:{int(sid)}", float(n)))
    if total > dots:
        raise SubmissionError("too_many_dots", dots=dots, given=total)
    return Submission(out, replace_prefix="vote:")


def _agenda(answers: dict[str, Any]) -> Submission:
    if "remove" in answers and len(answers) == 1:
        return _removal(answers["remove"])
    if "wanted" in answers and len(answers) == 1:
        wanted = answers["wanted"]
        if not isinstance(wanted, dict) or set(wanted) != set(AGENDA_FOCUSES):
            raise SubmissionError("wanted_keys", keys=", ".join(AGENDA_FOCUSES))
        shares = {f: _number(wanted[f], 0, 100, f) for f in AGENDA_FOCUSES}
        if abs(sum(shares.values()) - 100) > 1:
            raise SubmissionError("wanted_sum", total=int(sum(shares.values())))
        return Submission([AnswerIn("wanted", None, None, shares)])
    if "entry" in answers and len(answers) == 1:
        e, eid = _new_entry(answers["entry"])
        title = _text(e.get("title", ""), "title", MAX_TITLE)
        if not title:
            raise SubmissionError("empty", what="title")
        minutes = _number(e.get("minutes"), 1, MAX_MINUTES, "minutes")
        kind, focus = e.get("kind"), e.get("focus")
        if kind not in AGENDA_KINDS:
            raise SubmissionError("choice", what="kind", options=", ".join(AGENDA_KINDS))
        if focus not in AGENDA_FOCUSES:
            raise SubmissionError("choice", what="focus", options=", ".join(AGENDA_FOCUSES))
        data = {"title": title, "minutes": minutes, "kind": kind, "focus": focus}
        return Submission([AnswerIn(f"entry:{eid}", minutes, title, data)])
    raise SubmissionError("unknown_question", question=_keys(answers))


def _stakeholder(rnd: dict[str, Any], answers: dict[str, Any]) -> Submission:
    actors = rnd["config"].get("actors") or []
    ratings = answers.get("ratings")
    if set(answers) != {"ratings"} or not isinstance(ratings, dict):
        raise SubmissionError("unknown_question", question=_keys(answers))
    out = []
    lo, hi = STAKEHOLDER_SCALE
    for idx, r in ratings.items():
        if not str(idx).isdigit() or int(idx) >= len(actors):
            raise SubmissionError("unknown_question", question=str(idx)[:40])
        if not isinstance(r, dict) or not set(r) <= {"power", "interest"} or not r:
            raise SubmissionError("ratings")
        for axis, value in r.items():
            out.append(AnswerIn(f"{axis}:{int(idx)}", _number(value, lo, hi, axis)))
    return Submission(out)


def _keys(answers: dict[str, Any]) -> str:
    return ",".join(map(str, answers))[:40]


def _new_entry(e: Any) -> tuple[dict[str, Any], str]:
    """A participant's new entry (agenda item, question, proposal) and its client-made id."""
    if not isinstance(e, dict):
        raise SubmissionError("no_answers")
    eid = str(e.get("id", ""))
    if not _ENTRY_ID.match(eid):
        raise SubmissionError("entry_id")
    return e, eid


def _removal(value: Any) -> Submission:
    """A participant takes back one of their own entries (by its id)."""
    eid = str(value)
    if not _ENTRY_ID.match(eid):
        raise SubmissionError("unknown_question", question=eid[:40])
    return Submission([], remove=[f"entry:{eid}"])


def _only(answers: dict[str, Any], key: str) -> Any:
    if set(answers) != {key}:
        raise SubmissionError("unknown_question", question=_keys(answers))
    return answers[key]


def _option_index(idx: Any, options: list[Any]) -> int:
    if not str(idx).isdigit() or int(idx) >= len(options):
        raise SubmissionError("unknown_question", question=str(idx)[:40])
    return int(idx)


def _poll(rnd: dict[str, Any], answers: dict[str, Any]) -> Submission:
    cfg = rnd["config"]
    kind = cfg.get("kind", "scale")
    options = cfg.get("options") or []
    if kind == "scale":
        value = _only(answers, "value")
        lo, hi = int(cfg.get("min", 1)), int(cfg.get("max", 5))
        return Submission([AnswerIn("value", _number(value, lo, hi, "value"))])
    if kind == "ranking":
        order = _only(answers, "ranking")
        if not isinstance(order, list) or sorted(map(str, order)) != sorted(
                str(i) for i in range(len(options))):
            raise SubmissionError("ranking", n=len(options))
        return Submission([AnswerIn(f"rank:{int(i)}", float(pos))
                           for pos, i in enumerate(order, start=1)], replace_prefix="rank:")
    if kind == "points":
        given = _only(answers, "points")
        if not isinstance(given, dict):
            raise SubmissionError("points", points=POLL_POINTS, given="?")
        out, total = [], 0.0
        for idx, n in given.items():
            i = _option_index(idx, options)
            n = _number(n, 0, POLL_POINTS, options[i][:30])
            total += n
            if n:
                out.append(AnswerIn(f"points:{i}", n))
        if total != POLL_POINTS:
            raise SubmissionError("points", points=POLL_POINTS, given=int(total))
        return Submission(out, replace_prefix="points:")
    if kind == "matrix":
        placed = _only(answers, "matrix")
        if not isinstance(placed, dict) or not placed:
            raise SubmissionError("ratings")
        out = []
        lo, hi = MATRIX_SCALE
        for idx, xy in placed.items():
            i = _option_index(idx, options)
            if not isinstance(xy, dict) or not xy or not set(xy) <= {"x", "y"}:
                raise SubmissionError("ratings")
            for axis, value in xy.items():
                out.append(AnswerIn(f"{axis}:{i}", _number(value, lo, hi, axis)))
        return Submission(out)
    raise SubmissionError("not_answerable")


def normal_word(text: str) -> str:
    """A word-cloud answer as it is counted: lower case, single spaces, no edge punctuation."""
    return " ".join(text.lower().split()).strip(" .,;:!?\"'«»()")


def _wordcloud(rnd: dict[str, Any], answers: dict[str, Any]) -> Submission:
    from kit.live.words import is_banned

    words = _only(answers, "words")
    limit = int(rnd["config"].get("words", MAX_WORDS))
    if not isinstance(words, list) or len(words) > limit:
        raise SubmissionError("too_many_words", limit=limit)
    out = []
    for k, word in enumerate(words):
        text = _text(word, "word", MAX_WORD)
        if not normal_word(text):
            continue
        if is_banned(text):
            raise SubmissionError("banned_word", word=text[:MAX_WORD])
        out.append(AnswerIn(f"word:{k}", None, text))
    return Submission(out, replace_prefix="word:")


def _qa(answers: dict[str, Any], entry_ids: set[int]) -> Submission:
    if "entry" in answers and len(answers) == 1:
        e, eid = _new_entry(answers["entry"])
        text = _text(e.get("text", ""), "text", MAX_QA_TEXT)
        if not text:
            raise SubmissionError("empty", what="text")
        return Submission([AnswerIn(f"entry:{eid}", None, text)])
    if "remove" in answers and len(answers) == 1:
        return _removal(answers["remove"])
    if "vote" in answers and set(answers) <= {"vote", "on"}:
        vid = answers["vote"]
        if isinstance(vid, bool) or not isinstance(vid, int) or vid not in entry_ids:
            raise SubmissionError("unknown_question", question=str(vid)[:40])
        if answers.get("on", True) is False:
            return Submission([], remove=[f"vote:{vid}"])
        return Submission([AnswerIn(f"vote:{vid}", 1.0)])  # one per participant and entry
    raise SubmissionError("unknown_question", question=_keys(answers))


def _boundedness(answers: dict[str, Any]) -> Submission:
    names = _only(answers, "names")
    if not isinstance(names, list) or len(names) > MAX_NAMES:
        raise SubmissionError("too_many_names", limit=MAX_NAMES)
    seen: dict[str, str] = {}
    for name in names:
        text = " ".join(_text(name, "name", MAX_NAME).split())
        if text:
            seen.setdefault(text.casefold(), text)
    return Submission([AnswerIn(f"name:{k}", None, text)
                       for k, text in enumerate(seen.values())], replace_prefix="name:")


def _decision_review(rnd: dict[str, Any], answers: dict[str, Any]) -> Submission:
    decisions = rnd["config"].get("decisions") or []
    marks = _only(answers, "marks")
    if not isinstance(marks, dict) or not marks:
        raise SubmissionError("no_answers")
    out = []
    for idx, sources in marks.items():
        i = _option_index(idx, decisions)
        if not isinstance(sources, list) or not set(sources) <= set(DECISION_SOURCES):
            raise SubmissionError("choice", what="sources",
                                  options=", ".join(DECISION_SOURCES))
        chosen = [x for x in DECISION_SOURCES if x in sources]
        out.append(AnswerIn(f"decision:{i}", float(len(chosen)), None, {"sources": chosen}))
    return Submission(out)


def _proposal(answers: dict[str, Any]) -> Submission:
    if "remove" in answers and len(answers) == 1:
        return _removal(answers["remove"])
    e, eid = _new_entry(_only(answers, "proposal"))
    text = _text(e.get("text", ""), "proposal", MAX_PROPOSAL)
    if not text:
        raise SubmissionError("empty", what="proposal")
    return Submission([AnswerIn(f"entry:{eid}", None, text)])


def check_poll_config(config: Any) -> dict[str, Any]:
    """A poll the facilitator wrote, checked (SubmissionError says what is wrong)."""
    if not isinstance(config, dict):
        raise SubmissionError("malformed_config")
    kind = config.get("kind")
    if kind not in POLL_KINDS:
        raise SubmissionError("choice", what="kind", options=", ".join(POLL_KINDS))
    question = _text(config.get("question", ""), "question", MAX_QUESTION)
    if not question:
        raise SubmissionError("empty", what="question")
    out: dict[str, Any] = {"kind": kind, "question": question}
    if kind == "scale":
        lo = int(_number(config.get("min", 1), 0, 10, "min"))
        hi = int(_number(config.get("max", 5), lo + 1, 10, "max"))
        labels = config.get("labels") or []
        if not isinstance(labels, list) or len(labels) > 2:
            raise SubmissionError("labels")
        out.update({"min": lo, "max": hi,
                    "labels": [_text(x, "label", MAX_OPTION) for x in labels]})
    else:
        options = config.get("options")
        if not isinstance(options, list):
            raise SubmissionError("options", max=MAX_OPTIONS)
        options = [_text(o, "option", MAX_OPTION) for o in options]
        options = list(dict.fromkeys(o for o in options if o))
        if not 2 <= len(options) <= MAX_OPTIONS:
            raise SubmissionError("options", max=MAX_OPTIONS)
        out["options"] = options
        if kind == "matrix":
            axes = config.get("axes") or {}
            if not isinstance(axes, dict):
                raise SubmissionError("labels")
            out["axes"] = {a: _text(axes.get(a, ""), a, MAX_OPTION) for a in ("x", "y")}
    return out


def check_list_config(values: Any, what: str, limit: int, length: int) -> list[str]:
    """A list the facilitator typed (decisions, names, words to hide), cleaned and checked."""
    if not isinstance(values, list) or len(values) > limit:
        raise SubmissionError("too_many", what=what, limit=limit)
    out = [" ".join(_text(v, what, length).split()) for v in values]
    return list(dict.fromkeys(v for v in out if v))
