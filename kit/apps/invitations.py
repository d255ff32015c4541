"""Single-use survey invitations: one code per invitee, answers stored without it.

Only a hash of each code and a ``used`` flag are kept. A submission is checked here (every item
on the scale, at least ``min_answered_share`` of the instrument answered) and then claimed and
stored in one transaction by ``kit.store.access.store_invited_response``: a random response id
and respondent id, the day only as its time, and a claim that rewrites every invitation of the
group and wave alike, so nothing stored (ids, times, order) links an answer to its code.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import math
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kit.apps.keys import hash_secret
from kit.errors import AccessError, NotFoundError, ParameterError, Problem
from kit.i18n import t
from kit.instrument import Instrument
from kit.store import Store
from kit.store import access as repo

CODE_BYTES = 12  # 16 characters
MAX_PER_BATCH = 500
REASONS = ("missing", "wrong", "used", "closed")
MAX_CODE_LENGTH = 200
MAX_COMMENT_CHARS = 4000  # per open question
NOT_APPLICABLE = "na"  # the answer "not applicable": stored as no value
SURVEY_PATH = "/kit/survey"
CODE_RE = re.compile(r"^[A-Za-z0-9_-]{1,200}$")  # what secrets.token_urlsafe makes


class InvitationRefused(AccessError):
    """An invitation code cannot be used; ``reason`` is one of ``REASONS``."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"Invitation refused: {reason}.")


@dataclass(frozen=True)
class Invitation:
    """What a valid, unused code lets its holder do: answer once for a group and wave."""

    code: str
    group_id: str
    wave_id: str
    group_name: str = ""
    language: str = ""


def create_invitations(store: Store, group_id: str, wave_id: str, count: int) -> list[str]:
    """``count`` new single-use codes for a group and wave (shown once, stored hashed)."""
    if not 1 <= count <= MAX_PER_BATCH:
        source = "kit invitations create"  # the command, named in the problem table
        raise ParameterError(
            source,
            [
                Problem.of(
                    source,
                    "app.problem.count_range",
                    column="--count",
                    value=str(count),
                    max=MAX_PER_BATCH,
                )
            ],
            hints=(("app.hint.one_per_member", {}),),
        )
    store.get_group(group_id)
    status = wave_status(store, group_id, wave_id)
    if status is None:
        raise NotFoundError.text("app.invitation.no_wave", group=group_id, wave=wave_id)
    codes = [secrets.token_urlsafe(CODE_BYTES) for _ in range(count)]
    batch = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M")
    repo.insert_invitations(store, group_id, wave_id, [hash_secret(c) for c in codes], batch)
    return codes


def wave_status(store: Store, group_id: str, wave_id: str) -> str | None:
    """``open``, ``closed`` or None when the group has no such wave."""
    gw = store.list_group_waves()
    row = gw[(gw["group_id"] == group_id) & (gw["wave_id"] == wave_id)]
    return None if row.empty else str(row["status"].iloc[0] or "open")


def survey_url(base_url: str, code: str, language: str | None = None) -> str:
    """The link an invitee opens: the kit's survey page, the code after ``#``.

    A browser never sends what follows ``#`` to a server, so the code is in no access log, proxy
    log or Referer header; the page sends it in the body of its requests.
    """
    lang = f"?lang={language}" if language else ""
    return f"{base_url.rstrip('/')}{SURVEY_PATH}{lang}#code={code}"


def check_invitation(store: Store, code: str | None) -> Invitation:
    """The group and wave ``code`` invites to, or ``InvitationRefused`` saying why not."""
    code = (code or "").strip() if isinstance(code, str) or code is None else ""
    if not code:
        raise InvitationRefused("missing")
    if len(code) > MAX_CODE_LENGTH:
        raise InvitationRefused("wrong")
    digest = hash_secret(code)
    row = repo.invitation_details(store, digest)
    if row is None or not hmac.compare_digest(row["code_hash"], digest):
        raise InvitationRefused("wrong")
    if row["used"]:
        raise InvitationRefused("used")
    if (row["status"] or "open") != "open":
        raise InvitationRefused("closed")
    return Invitation(
        code, row["group_id"], row["wave_id"], row["group_name"], row["group_language"] or ""
    )


def draft_id(code: str) -> str:
    """A name for the page's half-finished answers on the invitee's device: derived from the
    code (the same code finds its draft again) but not the stored hash of it."""
    return hashlib.sha256(b"kit-survey-draft\0" + code.encode("utf-8")).hexdigest()[:32]


@dataclass
class SubmissionRefused(ParameterError):
    """A submission that cannot be stored as it is; ``texts`` are (i18n key, fields) pairs under
    ``app.survey.error.`` that say what is wrong in the invitee's language."""

    texts: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    @property
    def key(self) -> str:
        return self.texts[0][0] if self.texts else "malformed"

    def message(self, lang: str, limit: int = 5) -> str:
        """What is wrong, in ``lang``: the first ``limit`` problems (a broken or hostile client
        can send thousands), then how many more."""
        shown = [t(f"app.survey.error.{k}", lang, **f) for k, f in self.texts[:limit]]
        if len(self.texts) > limit:
            shown.append(t("app.survey.error.more", lang, n=len(self.texts) - limit))
        return " ".join(shown)


def answered_needed(instrument: Instrument, min_answered_share: float) -> int:
    """How many items (with a value on the scale) a submission needs at least."""
    return max(1, math.ceil(min_answered_share * len(instrument.item_ids) - 1e-9))


def _scale_value(value: Any, instrument: Instrument) -> float | None | str:
    """A value on the scale as float, None for no answer / not applicable, or "bad"."""
    if value is None or value == NOT_APPLICABLE:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "bad"
    if isinstance(value, float) and (math.isnan(value) or not value.is_integer()):
        return None if math.isnan(value) else "bad"
    return float(value) if int(value) in instrument.scale.values else "bad"


def validate_submission(
    instrument: Instrument,
    answers: Mapping[str, Any],
    comments: Mapping[str, Any] | None = None,
    min_answered_share: float = 0.5,
) -> tuple[dict[str, float], dict[str, str]]:
    """The answers with a value (item -> value) and the non-empty comments, or
    ``SubmissionRefused`` listing every problem: unknown items or questions, values outside the
    scale, comments too long, and fewer than ``min_answered_share`` of the instrument's items
    answered with a value ("not applicable" is no value: it tells nothing about the team)."""
    problems: list[Problem] = []
    texts: list[tuple[str, dict[str, Any]]] = []
    scale = instrument.scale
    for item_id in sorted(set(answers) - set(instrument.item_ids), key=str):
        problems.append(Problem.of("survey", "app.problem.unknown_item", column=str(item_id)))
        texts.append(("unknown_item", {"item": str(item_id)[:40]}))
    values: dict[str, float] = {}
    for item_id in instrument.item_ids:
        if item_id not in answers:
            continue
        v = _scale_value(answers[item_id], instrument)
        if v == "bad":
            shown = str(answers[item_id])[:20]
            problems.append(
                Problem.of(
                    "survey",
                    "app.problem.outside_scale",
                    column=item_id,
                    value=shown,
                    min=scale.min,
                    max=scale.max,
                )
            )
            texts.append(
                (
                    "outside_scale",
                    {"item": item_id, "value": shown, "min": scale.min, "max": scale.max},
                )
            )
        elif v is not None:
            values[item_id] = float(v)  # type: ignore[arg-type]
    clean_texts: dict[str, str] = {}
    for q, text in (comments or {}).items():
        if q not in instrument.open_question_ids:
            problems.append(Problem.of("survey", "app.problem.unknown_question", column=str(q)))
            texts.append(("unknown_question", {"question": str(q)[:40]}))
            continue
        if text is None:
            continue
        if not isinstance(text, str):
            problems.append(Problem.of("survey", "app.problem.not_text", column=q))
            texts.append(("comment_not_text", {"question": q}))
            continue
        if len(text) > MAX_COMMENT_CHARS:
            problems.append(
                Problem.of("survey", "app.problem.too_long", column=q, limit=MAX_COMMENT_CHARS)
            )
            texts.append(
                (
                    "comment_too_long",
                    {"question": q, "length": len(text), "limit": MAX_COMMENT_CHARS},
                )
            )
            continue
        if text.strip():
            clean_texts[q] = text.strip()
    if problems:
        raise SubmissionRefused(
            "survey", problems, hints=(("app.hint.answer_scale", {}),), texts=texts
        )
    needed = answered_needed(instrument, min_answered_share)
    if len(values) < needed:
        fields = {"answered": len(values), "items": len(instrument.item_ids), "needed": needed}
        raise SubmissionRefused(
            "survey",
            [
                Problem.of(
                    "survey",
                    "app.problem.too_few",
                    **fields,
                    share=f"{min_answered_share:g}",
                )
            ],
            hints=(("app.hint.answer_more", {}),),
            texts=[("too_few", fields)],
        )
    return values, clean_texts


def submit_answers(
    store: Store,
    instrument: Instrument,
    code: str,
    answers: Mapping[str, Any],
    comments: Mapping[str, Any] | None = None,
    role: str | None = None,
    *,
    min_answered_share: float = 0.5,
) -> str:
    """Store one invitee's answers once; returns the new random respondent id.

    The answers are checked first (``validate_submission``: nothing is claimed when they are
    refused); then the code is checked, claimed and the answers written in one transaction, so a
    double submit stores one response and a failure leaves the code unused.
    """
    code = code.strip() if isinstance(code, str) else ""
    if not code:
        raise InvitationRefused("missing")
    if len(code) > MAX_CODE_LENGTH:
        raise InvitationRefused("wrong")
    try:
        values, texts = validate_submission(instrument, answers, comments, min_answered_share)
    except SubmissionRefused:
        check_invitation(store, code)  # a wrong, used or closed code is the first thing to say
        raise
    reason, respondent = repo.store_invited_response(
        store, hash_secret(code), instrument.id, values, texts, role
    )
    if respondent is None:
        raise InvitationRefused(reason)
    return respondent
