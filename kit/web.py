"""The base of the kit's plain tornado handlers (the survey's and the live exercises' pages and
JSON endpoints, which need no kernel): what every answer of theirs shares.

No answer is cached or sniffed and none sends a referrer; there is no xsrf cookie to check
(their credentials - an invitation code, a participant's token - travel in the request body,
never in a cookie); the client a failed attempt is counted under is the one behind a trusted
proxy (``kit.client``). Handlers keep what they share in ``self.ctx`` (with ``ctx.settings``).
"""

from __future__ import annotations

from typing import Any

import tornado.web

from kit.client import client_address
from kit.ratelimit import FailureLimiter


class PlainHandler(tornado.web.RequestHandler):
    """Headers, no xsrf cookie, and the client's address; subclasses set ``self.ctx``."""

    ctx: Any

    def set_default_headers(self) -> None:
        self.set_header("Cache-Control", "no-store")
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Referrer-Policy", "no-referrer")

    def check_xsrf_cookie(self) -> None:  # the credential is in the body, never in a cookie
        return None

    @property
    def client(self) -> str:
        """The address this request's failed attempts count under."""
        return client_address(self.request, self.ctx.settings.trusted_proxies)

    def wait_for(self, limiter: FailureLimiter) -> int:
        """Seconds this client must wait (0: none); sets ``Retry-After`` when it must."""
        wait = limiter.retry_after(self.client)
        if wait:
            self.set_header("Retry-After", str(wait))
        return wait


def standalone_app(handlers: list[tuple[Any, ...]]) -> tornado.web.Application:
    """An application with only ``handlers`` (tests, benchmarks, small setups)."""
    return tornado.web.Application(handlers, max_body_size=1024 * 1024)


def serve_standalone(
    make_app: Any, settings: Any, serving_key: str, path: str
) -> None:  # pragma: no cover - exercised through subprocess tests
    """Run ``make_app(settings)`` on the settings' host and port until stopped, after creating
    the store's schema; says where in the settings' language (``serving_key`` with ``url``)."""
    import asyncio

    from kit.i18n import t
    from kit.store import open_store

    open_store(settings)  # create the schema before the first request

    async def serve() -> None:
        make_app(settings).listen(settings.port, settings.host)
        url = f"http://{settings.host}:{settings.port}{path}"
        print(t(serving_key, settings.language, url=url), flush=True)
        await asyncio.Event().wait()

    asyncio.run(serve())


def standalone_main(make_app: Any, serving_key: str, path: str) -> None:  # pragma: no cover
    """``python -m`` of a standalone server: the settings from the environment."""
    import logging

    from kit.settings import load_settings

    logging.basicConfig(level=logging.WARNING)
    serve_standalone(make_app, load_settings(), serving_key, path)
