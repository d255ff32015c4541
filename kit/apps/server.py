"""``kit serve``: Voilà with the kit's apps, look and own HTTP handlers, in one process.

A subclass of Voilà's standalone application serves ``notebooks/`` with sources stripped, no
tracebacks to viewers and preheated kernels; ``init_handlers`` puts the kit's handlers first:
the live-exercise pages of ``kit.live.server`` (when present), the key-checked PDF download
``/kit/report``, a landing page at ``/`` and refusals for everything Voilà would otherwise list
(directory tree, contents API, files, notebooks that are not apps).
"""

from __future__ import annotations

import dataclasses
import html
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tornado.web
from traitlets.config import Config
from voila.app import Voila

from kit.apps.dashboard_page import dashboard_page_handlers
from kit.apps.keys import KeyRefused, resolve_key
from kit.apps.view import find_report_pdf, page_notice_html
from kit.i18n import t
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
    """How many kernels each app keeps warm, and when idle viewers' kernels are stopped."""

    dashboard_pool: int = 2
    facilitator_pool: int = 0  # the console reads its query string itself: no preheat
    cull_idle_seconds: int = 1800

    def pools(self) -> dict[str, int]:
        return {
            "group_dashboard.ipynb": self.dashboard_pool,
            "facilitator.ipynb": self.facilitator_pool,
        }


# -- pages of the kit's own ----------------------------------------------------------------------
def pick_language(value: str | None, default: str) -> str:
    return value if value in LANGUAGES else default


def page_html(title: str, body: str, lang: str) -> str:
    """A small standalone page in the kit's look (landing, refusals, not found)."""
    css = CSS_PATH.read_text(encoding="utf-8")
    return (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(t('app.site.title', lang))}</title><style>{css}</style></head>"
        f'<body class="kit-page">{page_notice_html(lang, title, body, "info")}</body></html>'
    )


class KitPageHandler(tornado.web.RequestHandler):
    """Base of the kit's handlers: short messages for viewers, details only in the log."""

    def initialize(self, kit_settings: Settings) -> None:
        self.kit_settings = kit_settings

    @property
    def lang(self) -> str:
        return pick_language(self.get_query_argument("lang", None), self.kit_settings.language)

    def set_default_headers(self) -> None:
        self.set_header("Cache-Control", "no-store")
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Referrer-Policy", "no-referrer")

    def write_page(self, status: int, title: str, body: str) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(page_html(title, body, self.lang))

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
    """``/kit/report?key=...``: the PDF report of the key's group (the group comes from the key)."""

    def get(self) -> None:
        store = open_store(self.kit_settings)
        try:
            grant = resolve_key(store, self.get_query_argument("key", None))
        except KeyRefused as exc:
            self.write_page(
                403, t("app.key.title", self.lang), t(f"app.key.{exc.reason}", self.lang)
            )
            return
        pdf = find_report_pdf(self.kit_settings, grant.group_id, self.lang)
        if pdf is None:
            self.write_page(
                404, t("app.site.title", self.lang), t("app.dashboard.no_report", self.lang)
            )
            return
        self.set_header("Content-Type", "application/pdf")
        self.set_header("Content-Disposition", f'attachment; filename="{pdf.name}"')
        self.finish(pdf.read_bytes())


class StatusHandler(tornado.web.RequestHandler):
    """``/kit/status``: how many preheated kernels of each app are ready (no names, no data)."""

    def initialize(self, kernel_manager: Any) -> None:
        self.kernel_manager = kernel_manager

    def get(self) -> None:
        self.set_header("Cache-Control", "no-store")
        self.finish({"pools": pool_status(self.kernel_manager)})


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


def kit_handlers(settings: Settings) -> list[tuple]:
    """The kit's tornado handlers, matched before Voilà's."""
    from kit.apps.survey_server import survey_handlers

    own = {"kit_settings": settings}
    apps = "|".join(re.escape(n) for n in APP_NOTEBOOKS)
    return [
        *live_handlers(settings),
        *survey_handlers(settings),
        *dashboard_page_handlers(settings),  # /kit/dashboard: the kernel-free dashboard page
        (r"/kit/report/?", ReportHandler, own),
        (r"/", LandingHandler, own),
        (r"/voila/?", LandingHandler, own),
        (r"/voila/tree(/.*)?", NotFoundHandler, own),
        (r"/voila/api/contents(/.*)?", NotFoundHandler, own),
        (r"/voila/files/.*", NotFoundHandler, own),
        (rf"/voila/render/(?!(?:{apps})$).*", NotFoundHandler, own),
        (r"/api/kernels/?", NotFoundHandler, own),  # no way to list or start kernels
    ]


# -- Voilà ---------------------------------------------------------------------------------------
class KitVoila(Voila):
    """Voilà's standalone app with the kit's handlers first and the kit's template in front."""

    name = "kit-serve"
    kit_settings: Settings | None = None
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
        }
        for env_name in ("voila_jinja2_env", "jinja2_env"):
            env = settings.get(env_name)
            if env is not None:
                env.globals["kit_text"] = texts
                env.loader.searchpath.insert(0, str(TEMPLATE_DIR))
        return settings

    def init_handlers(self) -> list:
        assert self.kit_settings is not None, "KitVoila.kit_settings must be set before start()"
        status = [(r"/kit/status", StatusHandler, {"kernel_manager": self.kernel_manager})]
        return [*status, *kit_handlers(self.kit_settings), *super().init_handlers()]

    def listen(self) -> None:
        if self.on_started is not None:
            tornado.ioloop.IOLoop.current().add_callback(self.on_started, self)
        super().listen()


def voila_config(settings: Settings, options: ServeOptions) -> Config:
    """Traitlets configuration of the served apps."""
    c = Config()
    c.Voila.ip = settings.host
    c.Voila.port = settings.port
    c.Voila.port_retries = 0
    c.Voila.open_browser = False
    c.Voila.root_dir = str(settings.notebooks_dir)
    c.Voila.tornado_settings = {"xsrf_cookies": False}
    vc = c.VoilaConfiguration
    vc.strip_sources = True
    vc.show_tracebacks = False
    vc.theme = "light"
    vc.show_margins = False
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
    c.VoilaKernelManager.cull_idle_timeout = options.cull_idle_seconds
    c.VoilaKernelManager.cull_interval = 60
    c.VoilaKernelManager.cull_connected = False
    return c


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
    export_settings(settings)
    app = KitVoila(config=voila_config(settings, options or ServeOptions()))
    app.kit_settings = settings
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
