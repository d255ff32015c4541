"""The online survey served by the kit's own tornado handlers: plain pages, no kernel.

``survey_handlers(settings)`` returns the handler specs ``kit serve`` mounts before Voilà's;
``make_app(settings)`` builds a standalone application (tests; ``python -m
kit.apps.survey_server``).

- ``GET /kit/survey`` - the page (static: the same bytes for everyone, texts inlined as JSON);
  the invitation code travels after ``#``, so it reaches no log; the page posts it.
- ``POST /kit/survey/api/open`` ``{"code"}`` - checks the code: 200 with the group's name and the
  instrument, or 403 wrong / 409 used / 409 closed / 400 missing, and 429 with ``Retry-After``
  after too many wrong codes from one client (``kit.ratelimit.FailureLimiter``).
- ``POST /kit/survey/api/submit`` ``{"code", "answers", "comments"}`` - validates everything
  (422 with every problem), then claims the code and stores the answers in one transaction;
  200 only after it committed.
- ``GET /voila/render/survey.ipynb?code=...`` - links made before the survey left Voilà: the
  same page, which moves the code behind ``#`` at once.

Every refusal is JSON ``{"ok": false, "error", "message", "messages": {nb, en}}``; a traceback
only ever goes to the log, and no code is ever logged.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache, partial
from pathlib import Path
from typing import Any

import tornado.web

from kit.apps import invitations as inv
from kit.apps.assets import AssetHandler
from kit.apps.survey import instrument_for_page, open_payload, page_texts
from kit.errors import KitError
from kit.i18n import t
from kit.instrument import Instrument, load_instrument
from kit.ratelimit import FailureLimiter
from kit.settings import LANGUAGES, Settings
from kit.store import Store, open_store
from kit.web import PlainHandler, standalone_app, standalone_main

log = logging.getLogger("kit.survey")

STATIC_DIR = Path(__file__).resolve().parent / "survey_static"
PREFIX = inv.SURVEY_PATH
MAX_BODY = 128 * 1024  # bytes: 56 answers and three comments of 4,000 characters fit easily
MAX_FAILURES = 20  # wrong codes per client and window before it must wait
FAILURE_WINDOW = 60.0  # seconds
BODY_FIELDS = {"open": {"code", "lang"}, "submit": {"code", "lang", "answers", "comments"}}
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
_DB = ThreadPoolExecutor(max_workers=4, thread_name_prefix="kit-survey-db")


@lru_cache(maxsize=1)
def _asset_version() -> str:
    digest = hashlib.sha256()
    for name in ("survey.js", "survey.css"):
        digest.update((STATIC_DIR / name).read_bytes())
    return digest.hexdigest()[:12]


@lru_cache(maxsize=4)
def render_page(lang: str, chosen: bool) -> str:
    """The survey page with its config inlined as JSON that cannot end the script tag."""
    config = {
        "lang": lang,
        "langChosen": chosen,
        "texts": page_texts(),
        "api": f"{PREFIX}/api",
        "maxComment": inv.MAX_COMMENT_CHARS,
    }
    blob = json.dumps(config, ensure_ascii=False).replace("<", "\\u003c").replace("&", "\\u0026")
    page = (STATIC_DIR / "survey.html").read_text(encoding="utf-8")
    return (
        page.replace("__KIT_CONFIG__", blob)
        .replace("__LANG__", lang)
        .replace("__TITLE__", t("app.site.title", lang))
        .replace("__V__", _asset_version())
        .replace("__PREFIX__", PREFIX)
    )


class SurveyContext:
    """What the handlers share: settings, the store, the instrument, the failure limiter."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._store: Store | None = None
        self._instrument: Instrument | None = None
        self._instrument_json: str | None = None
        self.limiter = FailureLimiter(MAX_FAILURES, FAILURE_WINDOW)

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = open_store(self.settings)
        return self._store

    @property
    def instrument(self) -> Instrument:
        if self._instrument is None:
            self._instrument = load_instrument(self.settings.instrument)
        return self._instrument

    @property
    def instrument_json(self) -> str:
        if self._instrument_json is None:
            self._instrument_json = json.dumps(instrument_for_page(self.instrument))
        return self._instrument_json

    async def run(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """SQLite answers in well under a millisecond and wants one writer: called on the IO
        loop. A database across the network (PostgreSQL) is called from threads."""
        if self.store.engine.dialect.name == "sqlite":
            return fn(*args, **kwargs)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(_DB, partial(fn, *args, **kwargs))


class SurveyHandler(PlainHandler):
    """Security headers, the invitee's language, JSON refusals in both languages."""

    def initialize(self, ctx: SurveyContext) -> None:
        self.ctx = ctx

    def set_default_headers(self) -> None:
        super().set_default_headers()
        self.set_header("X-Frame-Options", "DENY")

    def requested_lang(self, body: dict[str, Any] | None = None) -> str | None:
        for value in (
            (body or {}).get("lang"),
            self.get_query_argument("lang", None),
            self.request.headers.get("X-Kit-Lang"),
        ):
            if value in LANGUAGES:
                return value
        return None

    @property
    def lang(self) -> str:
        return self.requested_lang(getattr(self, "body", None)) or self.ctx.settings.language

    def fail(self, status: int, key: str, title_key: str | None = None, **fields: Any) -> None:
        """A refusal: ``key`` is an i18n key under ``app.``."""
        messages = {lang: t(f"app.{key}", lang, **fields) for lang in LANGUAGES}
        body: dict[str, Any] = {
            "ok": False,
            "error": key.rsplit(".", 1)[-1],
            "message": messages[self.lang],
            "messages": messages,
        }
        if title_key:
            body["titles"] = {lang: t(f"app.{title_key}", lang) for lang in LANGUAGES}
        self.set_status(status)
        self.finish(body)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        key = "survey.error.server" if status_code >= 500 else "survey.error.malformed"
        messages = {lang: t(f"app.{key}", lang) for lang in LANGUAGES}
        self.finish(
            {
                "ok": False,
                "error": key.rsplit(".", 1)[-1],
                "message": messages[self.lang],
                "messages": messages,
            }
        )

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        # tornado's default logs the request line and body of a failed request: never the code
        log.error(
            "survey request %s %s failed",
            self.request.method,
            self.request.path,
            exc_info=(typ, value, tb),
        )


class PageHandler(SurveyHandler):
    """``/kit/survey``: the same page for everyone (no code is needed to send it)."""

    def get(self) -> None:
        chosen = self.requested_lang()
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Content-Security-Policy", CSP)
        self.finish(render_page(chosen or self.ctx.settings.language, chosen is not None))


@tornado.web.stream_request_body
class ApiHandler(SurveyHandler):
    """Reads at most ``MAX_BODY`` bytes of JSON (a larger body is refused, never kept)."""

    action = ""

    def prepare(self) -> None:
        self._raw = bytearray()
        self._too_large = False
        self.body: dict[str, Any] | None = None
        length = self.request.headers.get("Content-Length", "0")
        if length.isdigit() and int(length) > MAX_BODY:
            self._too_large = True

    def data_received(self, chunk: bytes) -> None:
        if not self._too_large:
            self._raw += chunk
            if len(self._raw) > MAX_BODY:
                self._too_large = True
                self._raw = bytearray()

    def read_body(self) -> dict[str, Any] | None:
        """The request's JSON object, or None after answering 413/400 itself."""
        if self._too_large:
            self.fail(413, "survey.error.too_large", limit=MAX_BODY // 1024)
            return None
        try:
            body = json.loads(bytes(self._raw) or b"null")
        except (ValueError, UnicodeDecodeError):
            body = None
        if not isinstance(body, dict):
            self.fail(400, "survey.error.malformed")
            return None
        unknown = sorted(str(k) for k in set(body) - BODY_FIELDS[self.action])
        if unknown:
            self.fail(400, "survey.error.unknown_field", field=unknown[0][:40])
            return None
        self.body = body
        return body

    def limited(self) -> bool:
        """True after answering 429 to a client with too many wrong codes."""
        wait = self.wait_for(self.ctx.limiter)
        if wait:
            self.fail(429, "survey.error.rate_limited", seconds=wait)
        return bool(wait)

    def refuse(self, reason: str) -> None:
        """An invitation refusal; a wrong code counts against the client."""
        if reason == "wrong":
            self.ctx.limiter.fail(self.client)
        status = {"missing": 400, "wrong": 403, "used": 409, "closed": 409}[reason]
        title = "survey.done.title" if reason == "used" else "invitation.title"
        self.fail(status, f"invitation.{reason}", title)

    async def invitation(self, body: dict[str, Any]) -> inv.Invitation | None:
        code = body.get("code")
        if code is not None and not isinstance(code, str):
            self.fail(400, "survey.error.malformed")
            return None
        try:
            return await self.ctx.run(inv.check_invitation, self.ctx.store, code)
        except inv.InvitationRefused as exc:
            self.refuse(exc.reason)
            return None


class OpenHandler(ApiHandler):
    action = "open"

    async def post(self) -> None:
        body = self.read_body()
        if body is None or self.limited():
            return
        invitation = await self.invitation(body)
        if invitation is None:
            return
        payload = open_payload(invitation, self.ctx.instrument, self.ctx.settings)
        payload.pop("instrument")  # the same for everyone: serialised once
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(json.dumps(payload)[:-1] + ', "instrument": ' + self.ctx.instrument_json + "}")


class SubmitHandler(ApiHandler):
    action = "submit"

    async def post(self) -> None:
        body = self.read_body()
        if body is None or self.limited():
            return
        answers, comments = body.get("answers", {}), body.get("comments", {})
        if not isinstance(answers, dict) or not isinstance(comments, dict):
            self.fail(400, "survey.error.malformed")
            return
        code = body.get("code")
        if code is not None and not isinstance(code, str):
            self.fail(400, "survey.error.malformed")
            return
        try:
            await self.ctx.run(
                inv.submit_answers,
                self.ctx.store,
                self.ctx.instrument,
                code,
                answers,
                comments,
                min_answered_share=self.ctx.settings.min_answered_share,
            )
        except inv.InvitationRefused as exc:
            self.refuse(exc.reason)
            return
        except inv.SubmissionRefused as exc:
            messages = {lang: exc.message(lang) for lang in LANGUAGES}
            self.set_status(422)
            self.finish(
                {
                    "ok": False,
                    "error": exc.key,
                    "message": messages[self.lang],
                    "messages": messages,
                    "problems": [
                        {"error": k, "item": f.get("item") or f.get("question")}
                        for k, f in exc.texts[:50]
                    ],
                }
            )
            return
        except KitError:
            log.exception("a survey submission could not be stored")
            self.fail(500, "survey.error.server")
            return
        messages = {lang: t("app.survey.done.body", lang) for lang in LANGUAGES}
        self.finish({"ok": True, "message": messages[self.lang], "messages": messages})


def survey_handlers(settings: Settings) -> list[tuple[Any, ...]]:
    """Tornado handler specs of the survey (``/kit/survey``), matched before Voilà's."""
    ctx = SurveyContext(settings)
    kw = {"ctx": ctx}
    return [
        (rf"{PREFIX}/?", PageHandler, kw),
        (rf"{PREFIX}/static/(survey\.(?:js|css))", AssetHandler, {"path": str(STATIC_DIR)}),
        (rf"{PREFIX}/api/open", OpenHandler, kw),
        (rf"{PREFIX}/api/submit", SubmitHandler, kw),
        # links sent before the survey left Voila: the page moves their code behind '#'
        (r"/voila/render/survey\.ipynb", PageHandler, kw),
    ]


def make_app(settings: Settings) -> tornado.web.Application:
    """A standalone application with only the survey (tests, small setups)."""
    return standalone_app(survey_handlers(settings))


def main() -> None:  # pragma: no cover - exercised through subprocess tests
    standalone_main(make_app, "app.survey.serving", PREFIX)


if __name__ == "__main__":  # pragma: no cover
    main()
