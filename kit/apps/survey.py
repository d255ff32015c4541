"""The online survey without a kernel: what its plain pages receive, built from the instrument,
the invitation and the i18n files (``kit.apps.survey_server`` serves it, ``survey_static/`` is
the page).

An invitee opens ``/kit/survey#code=...`` (``kit.apps.invitations.survey_url``); the page sends
the code in a request body to ``open`` (checked by the server: wrong, used, closed) and gets the
group's name, the instrument's texts and the rules (how many answers are needed); it answers a
page per dimension, then open questions, reviews and sends everything once to ``submit``.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from kit.apps.invitations import Invitation, answered_needed, draft_id
from kit.i18n import load_texts
from kit.instrument import Instrument
from kit.settings import LANGUAGES, Settings

PAGE_TEXT_PREFIXES = ("app.survey.", "app.invitation.")
PAGE_TEXT_KEYS = ("app.language.toggle", "app.site.title", "app.site.footer")


@lru_cache(maxsize=1)
def page_texts() -> dict[str, dict[str, str]]:
    """The survey page's texts per language, keys without the ``app.`` prefix."""
    out: dict[str, dict[str, str]] = {lang: {} for lang in LANGUAGES}
    for key, per_lang in load_texts().items():
        if key.startswith(PAGE_TEXT_PREFIXES) or key in PAGE_TEXT_KEYS:
            for lang in LANGUAGES:
                out[lang][key.removeprefix("app.")] = per_lang[lang]
    return out


def instrument_for_page(instrument: Instrument) -> dict[str, Any]:
    """The instrument as the page shows it, every language at once (no scoring details: the
    page does not learn which items are reversed)."""
    scale = instrument.scale
    return {
        "id": instrument.id,
        "version": instrument.version,
        "name": instrument.name,
        "scale": {
            "values": list(scale.values),
            "labels": {lang: list(labels) for lang, labels in scale.labels.items()},
            "not_applicable": scale.not_applicable,
        },
        "dimensions": [
            {
                "id": d.id,
                "name": d.name,
                "description": d.description,
                "items": [{"id": i, "text": instrument.item(i).text} for i in d.item_ids],
            }
            for d in instrument.dimensions
        ],
        "open_questions": [{"id": q.id, "text": q.text} for q in instrument.open_questions],
        "items": len(instrument.item_ids),
    }


def open_payload(
    invitation: Invitation, instrument: Instrument, settings: Settings
) -> dict[str, Any]:
    """What the page needs once the server has accepted the code (no other group's data)."""
    return {
        "ok": True,
        "group": invitation.group_name or invitation.group_id,
        "language": invitation.language if invitation.language in LANGUAGES else None,
        "draft": draft_id(invitation.code),
        "min_n": settings.min_respondents,
        "needed": answered_needed(instrument, settings.min_answered_share),
        "instrument": instrument_for_page(instrument),
    }
