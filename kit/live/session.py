"""Live sessions: creating them, join codes and URLs, QR codes and the facilitator's key.

A session is opened by a facilitator for one group or a cohort's groups. Participants join with a
short code (or a QR code of the join URL) and stay anonymous. The facilitator's console and its
JSON API need a key: the session's own key (printed once when the session is created) or the
kit's facilitator key (``KIT_FACILITATOR_KEY``, or the file ``var/facilitator.key`` written on
first use and readable only by its owner).
"""

from __future__ import annotations

import hashlib
import hmac
import io
import os
import re
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import segno

from kit.errors import ParameterError, Problem
from kit.exercises import load_exercises
from kit.i18n import t
from kit.instrument import Instrument, load_instrument
from kit.privacy import AnonymityRules
from kit.settings import LANGUAGES, Settings
from kit.store import Store
from kit.store import live as repo

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: easy to type from a projector
# Why 8 characters. 32 symbols x 8 = 40 bits: 32**8 = 1.1e12 codes. The live server lets a client
# fail 10 times a minute (kit.live.server.FAILURES_ALLOWED / FAILURE_WINDOW; unknown code, token
# the server did not make), then answers 429 "try again in N s": 14,400 guesses a day per
# client. With 100 sessions open at once a guess hits one with chance 100 / 1.1e12 = 9.1e-11: a
# client guessing non-stop for a year (5.3e6 guesses) finds one with chance 4.8e-4, and 1,000
# clients guessing through a 3-hour gathering (1.8e6 guesses) with chance 1.6e-4. The 6
# characters of before (30 bits, 1.1e9 codes) gave the same year 0.39 - and even a found code only
# seats a stranger in the waiting room: joins beyond the expected number wait to be admitted.
CODE_LENGTH = 8
LIVE_PREFIX = "/kit/live"
CONSOLE_NOTEBOOK = "facilitator.ipynb"
DEFAULT_INSTRUMENT = "pulse"
DEFAULT_EXERCISES = ("pulse", "purpose", "agenda_audit", "airtime", "stakeholder_map",
                     "action_plan")


@dataclass(frozen=True)
class CreatedSession:
    session_id: int
    code: str
    key: str  # the session's facilitator key: shown once, stored only as a hash
    join_url: str
    console_url: str


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def facilitator_key(settings: Settings) -> str:
    """The kit's facilitator key: ``KIT_FACILITATOR_KEY`` or ``var/facilitator.key`` (created)."""
    env = os.environ.get("KIT_FACILITATOR_KEY", "").strip()
    if env:
        return env
    path = settings.var_dir / "facilitator.key"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(24) + "\n")
    return path.read_text(encoding="utf-8").strip()


def check_key(settings: Settings, session: dict[str, Any], key: str | None) -> bool:
    """True when ``key`` is the session's own key or the kit's facilitator key."""
    if not key:
        return False
    if hmac.compare_digest(hash_key(key), session["key_hash"]):
        return True
    return hmac.compare_digest(key.encode(), facilitator_key(settings).encode())


def join_url(settings: Settings, code: str) -> str:
    return f"{settings.base_url}{LIVE_PREFIX}/s/{quote(code)}"


def console_url(settings: Settings, code: str, key: str | None = None) -> str:
    url = f"{settings.base_url}/voila/render/{CONSOLE_NOTEBOOK}?session={quote(code)}"
    return url + (f"&key={quote(key)}" if key else "")


def projector_ticket(session: dict[str, Any]) -> str:
    """The read-only credential of a session's projector page: it shows what the room's screen
    shows (code, question, counts, revealed published results) and can change nothing. Made
    from the session's key hash, so only the kit (holding the store) can make it, and it
    differs per session."""
    msg = f"projector:{session['code']}".encode()
    return hmac.new(session["key_hash"].encode(), msg, hashlib.sha256).hexdigest()[:32]


def check_projector_ticket(session: dict[str, Any], ticket: str | None) -> bool:
    return bool(ticket) and hmac.compare_digest(projector_ticket(session), str(ticket))


def projector_url(settings: Settings, session: dict[str, Any]) -> str:
    """The projector page of a session (opened from the console, on the room's big screen)."""
    return (f"{settings.base_url}{LIVE_PREFIX}/p/{quote(session['code'])}"
            f"?t={projector_ticket(session)}")


def qr_svg(url: str, scale: int = 6) -> str:
    """An inline SVG QR code of ``url`` (no file, no network)."""
    buf = io.BytesIO()
    segno.make(url, error="m").save(buf, kind="svg", scale=scale, xmldecl=False, svgns=True,
                                    border=2)
    return buf.getvalue().decode("utf-8")


def new_code(store: Store) -> str:
    for _ in range(50):
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        if not repo.code_exists(store, code):
            return code
    raise RuntimeError("could not find a free session code")  # pragma: no cover  # dev-text


_NOT_CODE = re.compile(r"[^A-Z0-9]")


def display_code(code: str) -> str:
    """The code as the projector shows it, in two groups of four (typed with or without the
    space: ``normalise_code`` drops it)."""
    return f"{code[:4]} {code[4:]}" if len(code) == CODE_LENGTH else code


def normalise_code(code: str) -> str:
    """What a participant typed, as a code: upper case, no spaces or dashes."""
    code = str(code).upper()
    return code[:12] if code.isalnum() and code.isascii() else _NOT_CODE.sub("", code)[:12]


def default_round_config(exercise: str, instrument: Instrument) -> dict[str, Any]:
    """The first configuration of a round; the facilitator can change it in the console."""
    if exercise == "pulse":
        return {"instrument": instrument.id, "items": list(instrument.item_ids)}
    if exercise == "purpose":
        return {"phase": "write", "dots": 3}
    if exercise == "agenda_audit":
        return {}
    if exercise == "airtime":
        return {"speakers": []}
    if exercise == "stakeholder_map":
        return {"actors": [], "axis": "interest"}
    return {}


def create_session(store: Store, settings: Settings, *, title: str, group_ids: list[str],
                   cohort_id: str | None = None, language: str | None = None,
                   exercises: list[str] | None = None,
                   instrument: str | None = None,
                   expected: int | None = None) -> CreatedSession:
    """Validate the plan (collecting every problem), store it and return code, key and URLs.

    ``expected``: the number of participants the facilitator expects in the room; that many
    joins count automatically, any further join waits until the facilitator admits it (None:
    every join waits until the number is set in the console)."""
    language = language or settings.language
    exercises = list(exercises) if exercises else list(DEFAULT_EXERCISES)

    def T(key: str, **fields: Any) -> str:  # the problems, in English like every engine error
        return t(f"live.session.{key}", "en", **fields)

    instrument_id = instrument or DEFAULT_INSTRUMENT
    problems: list[Problem] = []
    src = "session"
    if not title.strip():
        problems.append(Problem(src, T("title_missing"), column="title"))
    elif len(title) > 200:
        problems.append(Problem(src, T("title_long"), column="title", value=title[:30]))
    if not group_ids:
        problems.append(Problem(src, T("groups_missing"), column="groups"))
    if language not in LANGUAGES:
        problems.append(Problem(src, T("language", options=", ".join(LANGUAGES)),
                                column="language", value=language))
    if expected is not None and (isinstance(expected, bool) or not isinstance(expected, int)
                                 or not 1 <= expected <= repo.MAX_EXPECTED):
        problems.append(Problem(src, T("expected", max=repo.MAX_EXPECTED), column="expected",
                                value=expected))
    known = load_exercises()
    for e in exercises:
        if e not in known:
            problems.append(Problem(src, T("exercise_unknown", options=", ".join(known)),
                                    column="exercises", value=e))
        elif not known[e].live:
            live = [k for k, v in known.items() if v.live]
            problems.append(Problem(src, T("exercise_not_live", options=", ".join(live)),
                                    column="exercises", value=e))
    inst = None
    try:
        inst = load_instrument(instrument_id)
    except Exception as exc:  # noqa: BLE001 - reported as one problem among the others
        problems.append(Problem(src, str(exc).splitlines()[0], column="instrument",
                                value=instrument_id))
    if problems:
        raise ParameterError(src, problems, hint=T("nothing_created"))
    assert inst is not None
    code = new_code(store)
    key = secrets.token_urlsafe(18)
    rounds = [(e, default_round_config(e, inst)) for e in exercises]
    sid = repo.create_session(store, code=code, key_hash=hash_key(key), title=title.strip(),
                              group_ids=group_ids, cohort_id=cohort_id, language=language,
                              exercises=exercises, instrument_id=inst.id, rounds=rounds,
                              expected=expected,
                              min_respondents=AnonymityRules.from_settings(settings).min_respondents)
    return CreatedSession(sid, code, key, join_url(settings, code),
                          console_url(settings, code, key))
