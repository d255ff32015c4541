"""``kit serve``: Voilà with the kit's apps, look and own HTTP handlers, in one process.

A subclass of Voilà's standalone application serves ``notebooks/`` with sources stripped, no
tracebacks to viewers and preheated kernels; ``init_handlers`` puts the kit's handlers first:
the live-exercise pages of ``kit.live.server`` (when present), the key-checked PDF download
``/kit/report``, a landing page at ``/`` and refusals for everything Voilà would otherwise list
(directory tree, contents API, files, notebooks that are not apps).
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import hmac
import html
import importlib.metadata
import inspect
import logging
import math
import os
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tornado.ioloop
import tornado.web
from tornado.web import OutputTransform
from traitlets.config import Config
from voila.app import Voila
from voila.request_info_handler import RequestInfoSocketHandler
from voila.shutdown_kernel_handler import VoilaShutdownKernelHandler
from voila.tornado.execution_request_handler import ExecutionRequestHandler
from voila.tornado.handler import TornadoVoilaHandler
from voila.voila_identity_provider import VoilaIdentityProvider

from kit.apps.dashboard_page import dashboard_page_handlers
from kit.apps.guard import (
    QUEUE_COOKIE,
    VIEWER_COOKIE,
    Admission,
    KernelGate,
    ViewerBindings,
    default_max_kernels,
    install_log_redaction,
    new_token,
    redact,
    valid_token,
)
from kit.apps.keys import KeyRefused, resolve_key
from kit.apps.view import group_report_pdf, page_notice_html
from kit.client import forwarded
from kit.errors import KitError, SettingsError
from kit.i18n import t
from kit.ratelimit import FailureLimiter
from kit.settings import LANGUAGES, Settings
from kit.store import open_store

log = logging.getLogger("kit.serve")

APPS_DIR = Path(__file__).resolve().parent
TEMPLATE_DIR = APPS_DIR / "templates" / "voila"
CSS_PATH = APPS_DIR / "templates" / "voila" / "kit.css"
# The survey is no Voilà app: kit.apps.survey_server serves it as plain pages (no kernel).
APP_NOTEBOOKS = ("group_dashboard.ipynb", "facilitator.ipynb")


@dataclass(frozen=True)
class ServeOptions:
    """How many kernels each app keeps warm, how many viewers may hold one, and for how long.

    ``max_kernels`` counts the kernels viewers hold (0: fitted to this machine); the pools come
    on top of it. The other fields default to the settings in force (``kit.settings``).
    """

    dashboard_pool: int = 2
    facilitator_pool: int = 0  # the console reads its query string itself: no preheat
    max_kernels: int = 0
    cull_idle_seconds: int = 300
    cull_interval_seconds: int = 0  # 0: a tenth of cull_idle_seconds, 5-60 s
    iopub_timeout: int = 120
    max_queue: int = 500
    max_failures: int = 10  # refused links per client within failure_window_seconds
    failure_window_seconds: float = 60.0
    # a viewer's kernel whose page has had no websocket open for this long is shut down (the
    # page was closed without its shutdown request arriving: a phone, a killed tab); long enough
    # for a page to reconnect after a network blip
    closed_page_grace_seconds: float = 30.0

    def __post_init__(self) -> None:
        problems = []
        for name in ("dashboard_pool", "facilitator_pool"):
            if not 0 <= getattr(self, name) <= 32:
                problems.append(f"{name} must be 0-32, not {getattr(self, name)}")
        if self.max_kernels < 0:
            problems.append(
                f"max_kernels must be 0 (fit to this machine) or more, not {self.max_kernels}"
            )
        if not 10 <= self.cull_idle_seconds <= 86400:
            problems.append(f"cull_idle_seconds must be 10-86400, not {self.cull_idle_seconds}")
        if not 5 <= self.iopub_timeout <= 3600:
            problems.append(f"iopub_timeout must be 5-3600, not {self.iopub_timeout}")
        if not 0 <= self.max_queue <= 100_000:
            problems.append(f"max_queue must be 0-100000, not {self.max_queue}")
        if not 1 <= self.closed_page_grace_seconds <= 3600:
            problems.append(
                f"closed_page_grace_seconds must be 1-3600, not {self.closed_page_grace_seconds}"
            )
        if self.max_failures < 1 or self.failure_window_seconds <= 0:
            problems.append("max_failures must be at least 1 and failure_window_seconds above 0")
        if problems:
            raise SettingsError("Invalid options of kit serve: " + "; ".join(problems) + ".")

    @classmethod
    def from_settings(cls, settings: Settings, **changes: Any) -> ServeOptions:
        """Options from the settings in force, with ``changes`` (None: keep) on top."""
        values: dict[str, Any] = {
            "max_kernels": settings.max_kernels,
            "cull_idle_seconds": settings.kernel_idle_seconds,
            "iopub_timeout": settings.iopub_timeout,
            "max_queue": settings.max_queue,
        }
        values.update({k: v for k, v in changes.items() if v is not None})
        return cls(**values)

    def pools(self) -> dict[str, int]:
        return {
            "group_dashboard.ipynb": self.dashboard_pool,
            "facilitator.ipynb": self.facilitator_pool,
        }

    @property
    def viewer_kernels(self) -> int:
        """Kernels viewers may hold at once."""
        return self.max_kernels or default_max_kernels()

    @property
    def cull_interval(self) -> int:
        return self.cull_interval_seconds or max(5, min(60, self.cull_idle_seconds // 10))


# -- pages of the kit's own ----------------------------------------------------------------------
def pick_language(value: str | None, default: str) -> str:
    return value if value in LANGUAGES else default


def page_html(title: str, body: str, lang: str, kind: str = "info", head: str = "") -> str:
    """A small standalone page in the kit's look (landing, refusals, queue, not found)."""
    css = CSS_PATH.read_text(encoding="utf-8")
    return (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">{head}'
        f"<title>{html.escape(t('app.site.title', lang))}</title><style>{css}</style></head>"
        f'<body class="kit-page">{page_notice_html(lang, title, body, kind)}</body></html>'
    )


# Every response of kit serve: no referrer leaves a page, nothing is loaded from elsewhere,
# no page can be framed. Voilà's pages need inline scripts and styles (its page config, the
# widgets' styles); scripts, styles, fonts, images and connections come from this server only.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline' 'unsafe-eval'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}


class SecurityHeaders(OutputTransform):
    """Adds ``SECURITY_HEADERS`` to every response, whichever handler made it (the kit's,
    Voilà's, Jupyter's, the static files'), unless the handler set that header itself (the
    dashboard page's and the survey's stricter policies). Cookies get SameSite and Secure
    where they are made (``voila_config`` and ``KitRenderHandler``)."""

    def transform_first_chunk(
        self, status_code: int, headers: Any, chunk: bytes, finishing: bool
    ) -> tuple[int, Any, bytes]:
        for name, value in SECURITY_HEADERS.items():
            if name not in headers:  # a page with a stricter policy of its own keeps it
                headers[name] = value
        return status_code, headers, chunk


class KitPageHandler(tornado.web.RequestHandler):
    """Base of the kit's handlers: short messages for viewers, details only in the log."""

    def initialize(self, kit_settings: Settings) -> None:
        self.kit_settings = kit_settings

    @property
    def lang(self) -> str:
        return pick_language(self.get_query_argument("lang", None), self.kit_settings.language)

    def set_default_headers(self) -> None:
        self.set_header("Cache-Control", "no-store")
        for name, value in SECURITY_HEADERS.items():
            self.set_header(name, value)

    def write_page(
        self, status: int, title: str, body: str, kind: str = "info", head: str = ""
    ) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(page_html(title, body, self.lang, kind, head))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        title = (
            t("app.not_found", self.lang) if status_code == 404 else t("app.site.title", self.lang)
        )
        body = t("app.landing.body" if status_code == 404 else "app.error.general", self.lang)
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(page_html(title, body, self.lang))


class LandingHandler(KitPageHandler):
    """``/``: no directory listing; tells a visitor to use the link they were given."""

    def get(self, *_: str) -> None:
        self.write_page(200, t("app.landing.title", self.lang), t("app.landing.body", self.lang))


class NotFoundHandler(KitPageHandler):
    """Everything Voilà would list or serve beyond the apps."""

    def prepare(self) -> None:
        raise tornado.web.HTTPError(404)


class ReportHandler(KitPageHandler):
    """``/kit/report?key=...``: the PDF report of the key's group (the group comes from the key,
    the file from a report run's manifest). Failed attempts are limited per client."""

    def initialize(self, kit_settings: Settings, limiter: FailureLimiter | None = None) -> None:
        super().initialize(kit_settings)
        self.limiter = limiter or FailureLimiter()

    def get(self) -> None:
        client = forwarded(self.request, self.kit_settings.trusted_proxies)[0]
        wait = self.limiter.retry_after(client)
        if wait:
            write_limited(self, wait)
            return
        store = open_store(self.kit_settings)
        keys_given = self.get_query_arguments("key")
        try:
            grant = resolve_key(store, keys_given[0] if keys_given else None)
        except KeyRefused as exc:
            self.limiter.fail(client)
            self.write_page(
                403,
                t("app.key.title", self.lang),
                t(f"app.key.{exc.reason}", self.lang),
                "refused",
            )
            return
        pdf = group_report_pdf(self.kit_settings, grant.group_id, self.lang)
        if pdf is None:
            self.write_page(
                404, t("app.site.title", self.lang), t("app.dashboard.no_report", self.lang)
            )
            return
        self.set_header("Content-Type", "application/pdf")
        self.set_header("Content-Disposition", f'attachment; filename="{pdf.name}"')
        self.finish(pdf.read_bytes())


def write_limited(handler: tornado.web.RequestHandler, wait: int) -> None:
    """429 with Retry-After: this client failed too often; says when to try again."""
    lang = pick_language(handler.get_query_argument("lang", None), "nb")
    kit_settings = getattr(handler, "kit_settings", None)
    if kit_settings is not None and handler.get_query_argument("lang", None) is None:
        lang = kit_settings.language
    handler.set_status(429)
    handler.set_header("Retry-After", str(wait))
    handler.set_header("Content-Type", "text/html; charset=utf-8")
    handler.set_header("Cache-Control", "no-store")
    handler.finish(
        page_html(
            t("app.serve.limited.title", lang),
            t("app.serve.limited.body", lang, seconds=wait),
            lang,
            "refused",
        )
    )


class StatusHandler(tornado.web.RequestHandler):
    """``/kit/status``: counts only (no names, no data): preheated kernels per app, kernels
    viewers hold, the cap and the queue."""

    def initialize(self, kernel_manager: Any, state: ServeState | None = None) -> None:
        self.kernel_manager = kernel_manager
        self.state = state

    def set_default_headers(self) -> None:
        self.set_header("Cache-Control", "no-store")

    def get(self) -> None:
        body: dict[str, Any] = {"pools": pool_status(self.kernel_manager)}
        if self.state is not None:
            body["kernels"] = self.state.kernel_counts()
        self.finish(body)


def pool_status(kernel_manager: Any) -> dict[str, dict[str, int]]:
    """Per app notebook: preheated kernels ready for a viewer, and kernels still starting.

    Ready means the notebook's first cell (the app's preparation) has run and been rendered, and
    the kernel waits for a viewer's request in the second cell - so a viewer gets the warm path.
    """
    out: dict[str, dict[str, int]] = {}
    for name, pool in getattr(kernel_manager, "_pools", {}).items():
        if name not in APP_NOTEBOOKS:
            continue
        ready = 0
        for task in pool:
            if task.done() and not task.cancelled() and task.exception() is None:
                renderer = task.result()["renderer"]
                if any('id="cell-id=' in snippet for snippet in renderer.rendered_cache):
                    ready += 1
        out[name] = {"ready": ready, "starting": len(pool) - ready}
    return out


def live_handlers(settings: Settings) -> list[tuple]:
    """The live exercises' participant pages and JSON endpoints, when that part is installed."""
    try:
        from kit.live.server import live_handlers as make
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("kit.live"):
            log.info("kit.live is not installed: no live-exercise pages")
            return []
        raise
    return list(make(settings))


def fontawesome_dir() -> Path | None:
    """Font Awesome 5 (the icons of ipywidgets' buttons), from the ``fontawesome-free`` package."""
    try:
        dist = importlib.metadata.distribution("fontawesome-free")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - a dependency
        return None
    path = Path(str(dist.locate_file("fontawesome-free/static/fontawesome_free")))
    return path if (path / "css" / "all.min.css").is_file() else None


def kit_handlers(settings: Settings) -> list[tuple]:
    """The kit's tornado handlers, matched before Voilà's."""
    from kit.apps.survey_server import survey_handlers

    own = {"kit_settings": settings}
    apps = "|".join(re.escape(n) for n in APP_NOTEBOOKS)
    assets = fontawesome_dir()
    return [
        *live_handlers(settings),
        *survey_handlers(settings),
        *dashboard_page_handlers(settings),  # /kit/dashboard: the kernel-free dashboard page
        (r"/kit/report/?", ReportHandler, {**own, "limiter": FailureLimiter()}),
        *(
            [
                (
                    r"/kit/assets/fontawesome/(.*)",
                    tornado.web.StaticFileHandler,
                    {"path": str(assets)},
                )
            ]
            if assets
            else []
        ),
        (r"/", LandingHandler, own),
        (r"/voila/?", LandingHandler, own),
        (r"/voila/tree(/.*)?", NotFoundHandler, own),
        (r"/voila/api/contents(/.*)?", NotFoundHandler, own),
        (r"/voila/files/.*", NotFoundHandler, own),
        (r"/voila/query/.*", NotFoundHandler, own),  # kernels ask /kit/q/<secret>/... instead
        (r"/voila/execution/.*", NotFoundHandler, own),
        (rf"/voila/render/(?!(?:{apps})$).*", NotFoundHandler, own),
        (r"/api/kernels/?", NotFoundHandler, own),  # no way to list or start kernels
        (r"/api/(?!kernels/[^/]+(?:/channels)?$).*", NotFoundHandler, own),
        (r"/(?:login|logout)/?", NotFoundHandler, own),
    ]


# -- who may start a kernel, and which kernel a browser may use ----------------------------------
@dataclass(frozen=True)
class Refusal:
    """Why a link opens no page: a short title and sentence (the kind styles the card)."""

    title: str
    body: str
    kind: str = "refused"
    status: int = 403


def check_access(
    settings: Settings, notebook: str, args: dict[str, list[bytes]], lang: str
) -> Refusal | None:
    """None if the link may open ``notebook``: a valid dashboard key, or a console's session key
    / the kit's facilitator key. Only the store is read. (The survey is no Voilà app: its code
    is checked by ``kit.apps.survey_server``.)"""
    values = {k: [v.decode("utf-8", "replace") for v in vs] for k, vs in args.items()}

    def one(name: str) -> str | None:
        # the first value, as the apps' kernels read it (kit.apps.view.parse_query)
        given = values.get(name) or []
        return given[0] if given else None

    store = open_store(settings)
    if notebook == "group_dashboard.ipynb":
        try:
            resolve_key(store, one("key"))
        except KeyRefused as exc:
            return Refusal(t("app.key.title", lang), t(f"app.key.{exc.reason}", lang))
        return None
    if notebook == "facilitator.ipynb":
        return _check_console(settings, store, one("session"), one("key"), lang)
    return Refusal(t("app.not_found", lang), t("app.landing.body", lang), "info", 404)


def _check_console(
    settings: Settings, store: Any, session: str | None, key: str | None, lang: str
) -> Refusal | None:
    from kit.live import session as live_session
    from kit.store import live as live_repo

    refused = Refusal(t("app.key.title", lang), t("app.key.wrong", lang))
    if not key:
        return Refusal(t("app.key.title", lang), t("app.key.missing", lang))
    if session:
        try:
            row = live_repo.get_session(store, live_session.normalise_code(session))
        except KitError:
            return refused
        return None if live_session.check_key(settings, row, key) else refused
    own = live_session.facilitator_key(settings)
    return None if hmac.compare_digest(key.encode(), own.encode()) else refused


class _Claim:
    """The kernel a render request ends up with, so it can be bound to the viewer's browser."""

    def __init__(self, state: ServeState, viewer: str) -> None:
        self.state = state
        self.viewer = viewer
        self.kernel_id: str | None = None

    def take(self, kernel_id: str) -> None:
        if self.kernel_id is None:
            self.kernel_id = kernel_id
            self.state.bindings.bind(kernel_id, self.viewer)
            self.state.gate.started()
            self.state.refresh()


_CLAIM: contextvars.ContextVar[_Claim | None] = contextvars.ContextVar("kit_claim", default=None)


class ServeState:
    """What the kit's handlers share in one ``kit serve`` process."""

    def __init__(self, settings: Settings, options: ServeOptions) -> None:
        self.settings = settings
        self.options = options
        self.limiter = FailureLimiter(options.max_failures, options.failure_window_seconds)
        self.gate = KernelGate(options.viewer_kernels, max_queue=options.max_queue)
        self.bindings = ViewerBindings()
        self.query_secret = secrets.token_urlsafe(24)
        self.kernel_manager: Any = None
        self.https = settings.public_url.lower().startswith("https://")
        self._sockets: dict[str, int] = {}  # kernel id -> its open page websockets

    def live_kernels(self) -> list[str]:
        if self.kernel_manager is None:
            return []
        return list(self.kernel_manager.list_kernel_ids())

    def refresh(self) -> None:
        """Tell the gate how many kernels viewers hold now (after a start, close or cull)."""
        live = self.live_kernels()
        for gone in set(self._sockets) - set(live):
            del self._sockets[gone]
        self.gate.set_held(len(self.bindings.bound(live)))

    def kernel_gone(self, kernel_id: str) -> None:
        self.bindings.forget(kernel_id)
        self._sockets.pop(kernel_id, None)
        self.refresh()

    # A closed page's kernel: Voilà's page asks for its shutdown when it unloads, but that
    # request is lost when a phone's browser drops the page or a tab is killed or closed at once
    # (the browser then cancels it). Its websocket closing is certain: a viewer's kernel whose
    # sockets have all been closed for ``closed_page_grace_seconds`` (a reconnect cancels it)
    # is shut down.
    def socket_opened(self, kernel_id: str) -> None:
        self._sockets[kernel_id] = self._sockets.get(kernel_id, 0) + 1

    def socket_closed(self, kernel_id: str) -> None:
        left = max(0, self._sockets.get(kernel_id, 1) - 1)
        self._sockets[kernel_id] = left
        if left == 0:
            tornado.ioloop.IOLoop.current().call_later(
                self.options.closed_page_grace_seconds, self._shut_if_closed, kernel_id
            )

    async def _shut_if_closed(self, kernel_id: str) -> None:
        if self._sockets.get(kernel_id, 0) or kernel_id not in self.live_kernels():
            return
        if kernel_id not in self.bindings.bound(self.live_kernels()):
            return  # not a viewer's kernel (or already forgotten)
        log.info("shutting down a kernel whose page has closed")
        try:
            result = self.kernel_manager.shutdown_kernel(kernel_id)
            if inspect.isawaitable(result):
                await result
        except Exception:  # noqa: BLE001 - the cull stops it later
            log.exception("could not shut down a closed page's kernel")
        self.kernel_gone(kernel_id)

    def kernel_counts(self) -> dict[str, int]:
        live = self.live_kernels()
        gate = self.gate.snapshot()
        pooled = sum(len(p) for p in getattr(self.kernel_manager, "_pools", {}).values())
        return {
            "live": len(live),
            "viewers": len(self.bindings.bound(live)),
            "pooled": pooled,
            "starting": gate["starting"],
            "queued": gate["queued"],
            "max_viewers": gate["max_viewers"],
        }

    def wrap_kernel_manager(self, km: Any) -> None:
        """Record which kernel each render request gets (preheated or started for it), and keep
        the viewer's query string out of the next preheated kernel's environment."""
        self.kernel_manager = km
        get_rendered = getattr(km, "get_rendered_notebook", None)  # only with preheated pools
        start_kernel = km.start_kernel

        async def get_rendered_notebook(*args: Any, **kwargs: Any) -> Any:
            extra = dict(kwargs.get("extra_kernel_env_variables") or {})
            if "VOILA_REQUEST_URL" in extra:
                extra["VOILA_REQUEST_URL"] = extra["VOILA_REQUEST_URL"].split("?", 1)[0]
            kwargs["extra_kernel_env_variables"] = extra
            result = await get_rendered(*args, **kwargs)  # type: ignore[misc]
            claim = _CLAIM.get()
            if claim is not None:
                claim.take(result[2])
            return result

        async def start(*args: Any, **kwargs: Any) -> str:
            kernel_id = start_kernel(*args, **kwargs)
            if inspect.isawaitable(kernel_id):
                kernel_id = await kernel_id
            claim = _CLAIM.get()
            if claim is not None:
                claim.take(kernel_id)
            return kernel_id

        if get_rendered is not None:
            km.get_rendered_notebook = get_rendered_notebook
        km.start_kernel = start


class KitRenderHandler(TornadoVoilaHandler):
    """``/voila/render/<app>``: checks the link, the client's failed attempts and the kernel cap
    before Voilà renders or starts anything; then binds the page's kernel to this browser."""

    def initialize(self, **kwargs: Any) -> None:
        self.state: ServeState = kwargs.pop("state")
        super().initialize(**kwargs)

    @property
    def lang(self) -> str:
        return pick_language(self.get_query_argument("lang", None), self.state.settings.language)

    def _page(self, status: int, refusal: Refusal, head: str = "") -> None:
        self.set_status(status)
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(page_html(refusal.title, refusal.body, self.lang, refusal.kind, head))

    def _cookie(self, name: str, value: str, **kwargs: Any) -> None:
        self.set_cookie(
            name, value, path="/", httponly=True, samesite="Lax", secure=self._https(), **kwargs
        )

    def _https(self) -> bool:
        return self.state.https or forwarded(self.request, self.state.settings.trusted_proxies)[1]

    async def get(self, path: str | None = None) -> None:
        state = self.state
        notebook = path or ""
        client = forwarded(self.request, state.settings.trusted_proxies)[0]
        wait = state.limiter.retry_after(client)
        if wait:
            self.kit_settings = state.settings
            write_limited(self, wait)
            return
        refusal = await asyncio.get_running_loop().run_in_executor(
            None, check_access, state.settings, notebook, self.request.query_arguments, self.lang
        )
        if refusal is not None:
            state.limiter.fail(client)
            log.info("refused a link to %s (%s)", notebook, refusal.kind)
            self._page(refusal.status, refusal)
            return
        state.refresh()
        admission = state.gate.admit(self.get_cookie(QUEUE_COOKIE))
        if not admission.admitted:
            self._queued(admission)
            return
        try:
            if self.get_cookie(QUEUE_COOKIE):
                self.clear_cookie(QUEUE_COOKIE, path="/")
            viewer = self.get_cookie(VIEWER_COOKIE)
            if not valid_token(viewer):
                viewer = new_token()
                self._cookie(VIEWER_COOKIE, viewer)
            _ = self.xsrf_token  # sets the _xsrf cookie Voilà's page sends when it closes
            new_cookies = getattr(self, "_new_cookie", None)
            if self._https() and new_cookies is not None and "_xsrf" in new_cookies:
                new_cookies["_xsrf"]["secure"] = True
            claim = _Claim(state, viewer or "")
            token = _CLAIM.set(claim)
            try:
                await super().get(path)
            finally:
                _CLAIM.reset(token)
        finally:
            if "claim" not in locals() or claim.kernel_id is None:
                state.gate.started()

    def _queued(self, admission: Admission) -> None:
        lang = self.lang
        wait = wait_text(admission.wait_seconds, lang)
        refresh = max(3, min(10, admission.wait_seconds // 3))
        if admission.full:
            refusal = Refusal(
                t("app.serve.queue.title", lang), t("app.serve.queue.full", lang, wait=wait), "info"
            )
        else:
            self._cookie(QUEUE_COOKIE, admission.ticket, max_age=300)
            refusal = Refusal(
                t("app.serve.queue.title", lang),
                t("app.serve.queue.body", lang, position=admission.position, wait=wait),
                "info",
            )
        self.set_header("Retry-After", str(refresh))
        head = "" if admission.full else f'<meta http-equiv="refresh" content="{refresh}">'
        self._page(503, refusal, head)


def wait_text(seconds: int, lang: str) -> str:
    """'about 40 seconds' / 'about 3 minutes', in the viewer's language."""
    if seconds < 90:
        return t("app.serve.wait.seconds", lang, n=max(5, 5 * math.ceil(seconds / 5)))
    return t("app.serve.wait.minutes", lang, n=math.ceil(seconds / 60))


class _BoundToViewer:
    """Mixin: only the browser a kernel is bound to may use the kernel's endpoints."""

    kit_state: ServeState

    async def prepare(self, *args: Any, **kwargs: Any) -> Any:
        kernel_id = self.path_kwargs.get("kernel_id") or (self.path_args or [""])[0]  # type: ignore[attr-defined]
        viewer = self.get_cookie(VIEWER_COOKIE)  # type: ignore[attr-defined]
        if not self.kit_state.bindings.allowed(kernel_id, viewer):
            log.warning(
                "refused %s %s: not this browser's kernel", self.request.method, self.request.path
            )  # type: ignore[attr-defined]
            raise tornado.web.HTTPError(403)
        result = super().prepare(*args, **kwargs)  # type: ignore[misc]
        if inspect.isawaitable(result):
            result = await result
        return result


def _bound(cls: type, state: ServeState, extra: dict[str, Any] | None = None) -> type:
    return type(f"Kit{cls.__name__}", (_BoundToViewer, cls), {"kit_state": state, **(extra or {})})


class _WatchedSocket(_BoundToViewer):
    """Mixin of the kernel websocket: counts a kernel's open page connections, so a kernel
    whose page went away without its shutdown request is shut down (``ServeState``)."""

    def open(self, *args: Any, **kwargs: Any) -> Any:
        self._kit_counted = self.kernel_id  # type: ignore[attr-defined]
        self.kit_state.socket_opened(self._kit_counted)
        return super().open(*args, **kwargs)  # type: ignore[misc]

    def on_close(self) -> None:
        counted = getattr(self, "_kit_counted", None)
        try:
            super().on_close()  # type: ignore[misc]
        finally:
            if counted:
                self._kit_counted = None
                self.kit_state.socket_closed(counted)


def _watched(cls: type, state: ServeState) -> type:
    return type(f"Kit{cls.__name__}", (_WatchedSocket, cls), {"kit_state": state})


def _shutdown_handler(base: type, state: ServeState) -> type:
    async def post(self: Any, kernel_id: str) -> None:
        await base.post(self, kernel_id)
        state.kernel_gone(kernel_id)

    return _bound(base, state, {"post": post})


class KernelQueryHandler(RequestInfoSocketHandler):
    """``/kit/q/<secret>/voila/query/<kernel>``: where a preheated kernel waits for its viewer's
    request. Only the kernels know the secret (it is in their environment, never in a page)."""

    kit_state: ServeState

    def prepare(self) -> None:
        secret = self.path_kwargs.get("secret", "")
        if not hmac.compare_digest(secret.encode(), self.kit_state.query_secret.encode()):
            raise tornado.web.HTTPError(404)

    def open(self, secret: str = "", kernel_id: str = "") -> None:  # type: ignore[override]
        super().open(kernel_id)


# -- Voilà ---------------------------------------------------------------------------------------
class KitIdentityProvider(VoilaIdentityProvider):
    """Voilà's anonymous users, with the user cookie Secure behind an HTTPS proxy too."""

    def set_login_cookie(self, handler: Any, user: Any) -> None:
        if self.secure_cookie is None and forwarded(handler.request)[1]:
            self.secure_cookie = True
            try:
                super().set_login_cookie(handler, user)
            finally:
                self.secure_cookie = None
            return
        super().set_login_cookie(handler, user)


class KitVoila(Voila):
    """Voilà's standalone app with the kit's handlers first and the kit's template in front."""

    name = "kit-serve"
    kit_settings: Settings | None = None
    kit_options: ServeOptions | None = None
    kit_state: ServeState | None = None
    on_started: Callable[[KitVoila], None] | None = None

    def setup_template_dirs(self) -> None:
        super().setup_template_dirs()
        self.template_paths = [str(TEMPLATE_DIR), *self.template_paths]

    def init_settings(self) -> dict:
        settings = super().init_settings()
        lang = self.kit_settings.language if self.kit_settings else "nb"
        texts = {
            "title": t("app.site.title", lang),
            "error": t("app.error.general", lang),
            "not_found": t("app.not_found", lang),
            "landing": t("app.landing.body", lang),
            "empty": {x: t("app.serve.empty", x) for x in LANGUAGES},
            "reload": {x: t("app.serve.reload", x) for x in LANGUAGES},
            "lang": lang,
        }
        for env_name in ("voila_jinja2_env", "jinja2_env"):
            env = settings.get(env_name)
            if env is not None:
                env.globals["kit_text"] = texts
                env.loader.searchpath.insert(0, str(TEMPLATE_DIR))
        if self.kit_state is not None:
            self.kit_state.wrap_kernel_manager(self.kernel_manager)
        settings["transforms"] = [SecurityHeaders]
        settings["log_function"] = log_request
        return settings

    def init_handlers(self) -> list:
        assert self.kit_settings is not None, "KitVoila.kit_settings must be set before start()"
        state = self.kit_state
        assert state is not None
        status = [
            (r"/kit/status", StatusHandler, {"kernel_manager": self.kernel_manager, "state": state})
        ]
        query = type("KitKernelQueryHandler", (KernelQueryHandler,), {"kit_state": state})
        own = [
            (rf"/kit/q/(?P<secret>[A-Za-z0-9_-]+)/voila/query/{_KERNEL_ID}", query),
        ]
        voila = []
        for spec in super().init_handlers():
            pattern, handler, *rest = spec
            if handler is TornadoVoilaHandler:
                kwargs = {**(rest[0] if rest else {}), "state": state}
                voila.append((pattern, KitRenderHandler, kwargs))
            elif handler is VoilaShutdownKernelHandler:
                voila.append((pattern, _shutdown_handler(handler, state), *rest))
            elif handler.__name__ == "VoilaKernelWebsocketHandler":
                voila.append((pattern, _watched(handler, state), *rest))
            elif handler.__name__ == "KernelHandler":
                voila.append((pattern, _bound(handler, state), *rest))
            elif handler in (RequestInfoSocketHandler, ExecutionRequestHandler):
                continue  # refused by kit_handlers (NotFound); the kernels use ``query``
            else:
                voila.append(spec)
        return [*status, *own, *kit_handlers(self.kit_settings), *voila]

    def start(self) -> None:
        if self.kit_state is not None:
            state = self.kit_state
            tornado.ioloop.PeriodicCallback(state.refresh, 2000).start()
        super().start()

    def listen(self) -> None:
        if self.on_started is not None:
            tornado.ioloop.IOLoop.current().add_callback(self.on_started, self)
        super().listen()


_KERNEL_ID = r"(?P<kernel_id>\w+-\w+-\w+-\w+-\w+)"


def log_request(handler: tornado.web.RequestHandler) -> None:
    """Tornado's access log line, without the query string (keys, codes, tokens)."""
    status = handler.get_status()
    if status < 400:
        level = logging.INFO if status >= 300 or handler.request.method != "GET" else logging.DEBUG
    elif status < 500:
        level = logging.WARNING
    else:
        level = logging.ERROR
    access = logging.getLogger("tornado.access")
    if not access.isEnabledFor(level):
        return  # the client address and redaction are not worked out for nothing
    ms = 1000.0 * handler.request.request_time()
    access.log(
        level,
        "%d %s %s (%s) %.2fms",
        status,
        handler.request.method,
        redact(handler.request.path),
        forwarded(handler.request)[0],
        ms,
    )


def voila_config(settings: Settings, options: ServeOptions) -> Config:
    """Traitlets configuration of the served apps."""
    https = settings.public_url.lower().startswith("https://")
    c = Config()
    # Jupyter's anonymous-user cookie: SameSite, and Secure when the public address is HTTPS.
    c.Voila.identity_provider_class = KitIdentityProvider
    c.IdentityProvider.cookie_options = {"samesite": "Lax"}
    if https:
        c.IdentityProvider.secure_cookie = True
    c.Voila.ip = settings.host
    c.Voila.port = settings.port
    c.Voila.port_retries = 0
    c.Voila.open_browser = False
    c.Voila.root_dir = str(settings.notebooks_dir)
    c.Voila.tornado_settings = {
        "xsrf_cookies": False,  # Voilà's own pages post no forms; its shutdown POST is checked
        "xsrf_cookie_kwargs": {"samesite": "Strict", "path": "/", "secure": https},
        "headers": dict(SECURITY_HEADERS),
        "log_function": log_request,
    }
    vc = c.VoilaConfiguration
    vc.strip_sources = True
    vc.show_tracebacks = False
    vc.theme = "light"
    vc.show_margins = False
    vc.allow_template_override = "NO"
    vc.allow_theme_override = "NO"
    vc.file_allowlist = []
    vc.file_denylist = [".*"]
    pools = {name: max(size, 0) for name, size in options.pools().items()}
    vc.preheat_kernel = any(pools.values())
    vc.default_pool_size = 0
    c.VoilaKernelManager.kernel_pools_config = {
        "default": {"pool_size": 0},
        **{n: {"pool_size": s} for n, s in pools.items()},
    }
    c.VoilaKernelManager.fill_delay = 0.5
    # Without preheated pools Voilà's kernel manager is not a VoilaKernelManager: configure
    # the culling on the base class both share.
    for km in (c.MappingKernelManager, c.VoilaKernelManager):
        km.cull_idle_timeout = options.cull_idle_seconds
        km.cull_interval = options.cull_interval
        km.cull_connected = True  # a page left open still gives its memory back
        km.cull_busy = False
    # A cell's outputs may arrive well after its reply when many kernels share the cores; the
    # default 4 s dropped them silently (blank pages). Wait longer, and fail loudly if even
    # that passes (the page then says so, see index.html.j2).
    c.VoilaExecutor.iopub_timeout = options.iopub_timeout
    c.VoilaExecutor.raise_on_iopub_timeout = True
    return c


def kernel_profile_dir(settings: Settings) -> Path:
    """An IPython directory for the apps' kernels: no history database, and a startup file
    that keeps tracebacks and warnings out of what viewers receive (``kit.apps.kernel``)."""
    root = settings.var_dir / "ipython"
    startup = root / "profile_default" / "startup"
    startup.mkdir(parents=True, exist_ok=True)
    files = {
        root / "profile_default" / "ipython_kernel_config.py": (
            "# Written by kit serve: the apps' kernels. No history database; what the kernel\n"
            "# writes to its file descriptors goes to the server's log, not to the viewers.\n"
            "c.HistoryManager.enabled = False\n"
            "c.IPKernelApp.capture_fd_output = False\n"
        ),
        startup / "00-kit-apps.py": (
            "# Written by kit serve: viewers never receive a traceback; the kernel starts light.\n"
            "import kit.apps.kernel as _kit_kernel\n_kit_kernel.harden()\n"
            "_kit_kernel.lighten()\ndel _kit_kernel\n"
        ),
    }
    for path, text in files.items():
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, path)
    return root


def export_settings(settings: Settings) -> None:
    """Put the settings in force into ``KIT_*`` variables, so every kernel sees the same ones."""
    for f in dataclasses.fields(Settings):
        os.environ[f"KIT_{f.name.upper()}"] = str(getattr(settings, f.name))


def make_app(
    settings: Settings,
    options: ServeOptions | None = None,
    on_started: Callable[[KitVoila], None] | None = None,
) -> KitVoila:
    """A configured, initialised ``KitVoila`` (call ``.start()`` to serve)."""
    install_log_redaction()
    options = options or ServeOptions.from_settings(settings)
    export_settings(settings)
    state = ServeState(settings, options)
    # Preheated kernels ask for their viewer's request at /kit/q/<secret>/voila/query/<id>.
    os.environ["VOILA_WS_BASE_URL"] = f"/kit/q/{state.query_secret}/"
    os.environ["VOILA_APP_IP"] = (
        "127.0.0.1" if settings.host in ("", "0.0.0.0", "::", "localhost") else settings.host
    )
    os.environ["IPYTHONDIR"] = str(kernel_profile_dir(settings))
    app = KitVoila(config=voila_config(settings, options))
    app.kit_settings = settings
    app.kit_options = options
    app.kit_state = state
    app.on_started = on_started
    app.initialize(argv=[])
    return app


# -- entry point ---------------------------------------------------------------------------------
def app_urls(settings: Settings, demo_links: bool = False) -> list[tuple[str, str]]:
    """(label, URL) lines ``kit serve`` prints; with ``demo_links`` a fresh key and invitation
    for a programme group of the demo data (a key lasts 7 days, labelled 'kit serve demo')."""
    from kit.apps import invitations as inv
    from kit.apps.keys import create_key, dashboard_url, explorer_url

    lang = settings.language
    base = settings.base_url
    lines = [(t("app.cli.serve.running", lang, url=base), "")]
    store = open_store(settings)
    if demo_links:
        gw = store.list_group_waves()
        groups = store.list_groups()
        programme = set(groups.loc[groups["cohort_id"].notna(), "id"]) if len(groups) else set()
        answered = gw[gw["group_id"].isin(programme) & (gw["respondents"] > 0)]
        if len(answered):
            group_id = str(answered["group_id"].iloc[0])
            issued = create_key(store, group_id, expires_days=7, label="kit serve demo")
            lines.append(
                (
                    t("app.cli.serve.dashboard", lang, group=group_id),
                    dashboard_url(base, issued.key),
                )
            )
            lines.append((t("app.cli.serve.explorer", lang), explorer_url(base, issued.key)))
        open_waves = gw[gw["group_id"].isin(programme) & (gw["status"] == "open")]
        if len(open_waves):
            g, w = str(open_waves["group_id"].iloc[0]), str(open_waves["wave_id"].iloc[0])
            code = inv.create_invitations(store, g, w, 1)[0]
            lines.append(
                (t("app.cli.serve.survey", lang, group=g, wave=w), inv.survey_url(base, code))
            )
    else:
        lines.append((t("app.cli.serve.keys_hint", lang), ""))
    if (settings.notebooks_dir / "facilitator.ipynb").is_file():
        lines.append(
            (t("app.cli.serve.facilitator", lang), f"{base}/voila/render/facilitator.ipynb")
        )
    return lines


def serve(
    settings: Settings,
    options: ServeOptions | None = None,
    *,
    demo_links: bool = False,
    out: Any = None,
) -> None:
    """Run the apps until interrupted, printing their URLs once the server listens."""
    import sys

    stream = out or sys.stdout
    urls = app_urls(settings, demo_links)

    def announce(_app: KitVoila) -> None:
        for label, url in urls:
            print(label, file=stream)
            if url:
                print(f"  {url}", file=stream)
        stream.flush()

    make_app(settings, options, on_started=announce).start()
