"""Single-use survey invitations: one code per invitee, answers stored without it.

Only a hash of each code and a ``used`` flag are kept. A submission gets a fresh random
respondent id, so nothing in the store links an answer to the code (or person) that sent it.
"""

from __future__ import annotations

import datetime as dt
import hmac
import math
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from kit.apps.keys import hash_secret
from kit.errors import AccessError, NotFoundError, ParameterError, Problem
from kit.instrument import Instrument
from kit.store import Store
from kit.store import access as repo

CODE_BYTES = 12  # 16 characters
MAX_PER_BATCH = 500
REASONS = ("missing", "wrong", "used", "closed")


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


def create_invitations(store: Store, group_id: str, wave_id: str, count: int) -> list[str]:
    """``count`` new single-use codes for a group and wave (shown once, stored hashed)."""
    if not 1 <= count <= MAX_PER_BATCH:
        raise ParameterError(
            "kit invitations create",
            [
                Problem(
                    "kit invitations create",
                    f"must be a whole number from 1 to {MAX_PER_BATCH}",
                    column="--count",
                    value=str(count),
                )
            ],
            hint="Make one invitation per member of the team.",
        )
    store.get_group(group_id)
    status = wave_status(store, group_id, wave_id)
    if status is None:
        raise NotFoundError(
            f"Group {group_id!r} has no wave {wave_id!r}; 'kit groups' lists each group's "
            "waves. Add the wave to the group in the programme file ('kit programme load') first."
        )
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
    """The link an invitee opens."""
    lang = f"&lang={language}" if language else ""
    return f"{base_url.rstrip('/')}/voila/render/survey.ipynb?code={code}{lang}"


def check_invitation(store: Store, code: str | None) -> Invitation:
    """The group and wave ``code`` invites to, or ``InvitationRefused`` saying why not."""
    code = (code or "").strip()
    if not code:
        raise InvitationRefused("missing")
    if len(code) > 200:
        raise InvitationRefused("wrong")
    digest = hash_secret(code)
    row = repo.find_invitation(store, digest)
    if row is None or not hmac.compare_digest(row["code_hash"], digest):
        raise InvitationRefused("wrong")
    if row["used"]:
        raise InvitationRefused("used")
    if wave_status(store, row["group_id"], row["wave_id"]) != "open":
        raise InvitationRefused("closed")
    return Invitation(code, row["group_id"], row["wave_id"])


def validate_answers(
    instrument: Instrument, answers: Mapping[str, float | None]
) -> dict[str, float | None]:
    """Answers as the store wants them: every item id, a value on the scale or None."""
    problems = []
    unknown = sorted(set(answers) - set(instrument.item_ids))
    for item_id in unknown:
        problems.append(Problem("survey", "is not an item of this instrument", column=item_id))
    clean: dict[str, float | None] = {}
    for item_id in instrument.item_ids:
        value = answers.get(item_id)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            clean[item_id] = None
            continue
        if value not in instrument.scale.values:
            problems.append(
                Problem(
                    "survey",
                    f"is outside the scale {instrument.scale.min}-{instrument.scale.max}",
                    column=item_id,
                    value=str(value),
                )
            )
            continue
        clean[item_id] = float(value)
    if problems:
        raise ParameterError(
            "survey", problems, hint="Answer with a value on the scale or leave it."
        )
    return clean


def submit_answers(
    store: Store,
    instrument: Instrument,
    code: str,
    answers: Mapping[str, float | None],
    comments: Mapping[str, str] | None = None,
    role: str | None = None,
) -> str:
    """Store one invitee's answers once; returns the new random respondent id.

    The code is claimed first (atomically, so a double submit stores one response); if the
    answers cannot be stored the claim is undone and the invitee can try again.
    """
    invitation = check_invitation(store, code)
    clean = validate_answers(instrument, answers)
    texts = {
        q: str(v).strip()
        for q, v in (comments or {}).items()
        if q in instrument.open_question_ids and v and str(v).strip()
    }
    digest = hash_secret(invitation.code)
    if not repo.claim_invitation(store, digest):
        raise InvitationRefused("used")
    respondent = "web-" + secrets.token_hex(8)
    try:
        store.add_response(
            instrument, invitation.group_id, invitation.wave_id, respondent, clean, texts, role
        )
    except BaseException:
        repo.release_invitation(store, digest)
        raise
    return respondent
