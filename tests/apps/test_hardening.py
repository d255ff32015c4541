"""Attacks on a real ``kit serve`` on loopback (and in Chromium where it is a page): links that
must start nothing, kernels that belong to one browser, pages that close, logs, headers.

Requests that are meant to fail come "through a proxy" with their own ``X-Forwarded-For``
address (kit serve believes it from loopback), so they do not use up the failed-attempt budget
of the other tests' client.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from kit.apps.invitations import create_invitations
from kit.apps.keys import create_key
from kit.apps.server import APP_NOTEBOOKS
from kit.i18n import t
from kit.store import access as repo

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(600)]

CHART = ".kit-dashboard [data-kit-chart=profile] svg"
SURVEY_IN_VOILA = "survey.ipynb" in APP_NOTEBOOKS  # the survey may be served without Voilà
_addresses = (f"10.{a}.{b}.{c}" for a, b, c in itertools.product(range(1, 250), repeat=3))


def address() -> str:
    """A client address of its own (sent as X-Forwarded-For from loopback)."""
    return next(_addresses)


def http(
    url: str,
    *,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    data: bytes | None = None,
    timeout: float = 60,
) -> tuple[int, str, dict[str, str], list[str]]:
    """(status, body, headers, Set-Cookie values) of one request, errors included."""
    if method == "POST" and data is None:
        data = b""
    req = urllib.request.Request(url, method=method, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return (
                r.status,
                r.read().decode("utf-8", "replace"),
                dict(r.headers),
                r.headers.get_all("Set-Cookie") or [],
            )
    except urllib.error.HTTPError as e:
        return (
            e.code,
            e.read().decode("utf-8", "replace"),
            dict(e.headers),
            e.headers.get_all("Set-Cookie") or [],
        )


def render(served, app: str, query: str) -> str:
    return served.url(f"/voila/render/{app}?{query}")


def kernels(served) -> dict[str, int]:
    return served.kit.kernels()


def settled(served) -> bool:
    """No kernel but the preheated ones: earlier tests' pages are closed and their kernels gone."""
    counts = kernels(served)
    return counts["viewers"] == 0 and counts["live"] == counts["pooled"]


def wait_until(check, timeout: float = 30, every: float = 0.3):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    return check()


def open_dashboard(served, page, key: str, lang: str = "") -> str:
    """Open a dashboard in ``page`` until its chart is drawn; returns its kernel id."""
    query = f"key={key}" + (f"&lang={lang}" if lang else "")
    page.goto(render(served, "group_dashboard.ipynb", query), wait_until="commit")
    page.wait_for_selector(CHART)
    return json.loads(page.inner_text("#jupyter-config-data"))["kernelId"]


def cookie_header(page) -> str:
    return "; ".join(f"{c['name']}={c['value']}" for c in page.context.cookies())


def close_like_a_page(served, body: str, set_cookies: list[str]) -> int:
    """What Voilà's page does when it closes, over plain HTTP: POST the shutdown of its kernel
    with its cookies and the xsrf token. Returns the status."""
    kernel_id = json.loads(
        re.search(r'id="jupyter-config-data" type="application/json">(.*?)</script>', body, re.S)
        .group(1)
        .strip()
    )["kernelId"]
    jar = dict(c.split(";", 1)[0].split("=", 1) for c in set_cookies)
    status, _, _, _ = http(
        served.url(f"/voila/api/shutdown/{kernel_id}"),
        method="POST",
        headers={
            "Cookie": "; ".join(f"{k}={v}" for k, v in jar.items()),
            "Content-Type": "application/x-www-form-urlencoded",
        },
        data=f"_xsrf={jar['_xsrf']}".encode(),
    )
    return status


# -- links that must start nothing ----------------------------------------------------------------
def test_a_thousand_bad_links_start_no_kernel(served):
    store = served.store
    expired = create_key(store, served.group_a, expires_days=1e-6, label="expires at once")
    revoked = create_key(store, served.group_a, label="revoked")
    repo.revoke_key(store, revoked.id)
    time.sleep(0.3)
    # earlier tests' pages are closed and their kernels going: one of them ending during the
    # attack would count as a change (CI: 2 kernels before, 1 after)
    served.kit.wait_ready("group_dashboard.ipynb")
    assert wait_until(lambda: settled(served), timeout=90)
    before = kernels(served)
    bad = [
        ("group_dashboard.ipynb", "", "app.key.missing"),
        ("group_dashboard.ipynb", "key=", "app.key.missing"),
        ("group_dashboard.ipynb", "key=nonsense", "app.key.wrong"),
        ("group_dashboard.ipynb", f"key={served.key_a[:-2]}zz", "app.key.wrong"),
        ("group_dashboard.ipynb", f"key={expired.key}", "app.key.expired"),
        ("group_dashboard.ipynb", f"key={revoked.key}&group={served.group_a}", "app.key.revoked"),
        *(
            [
                ("survey.ipynb", "code=not-a-code-at-all", "app.invitation.wrong"),
                ("survey.ipynb", "", "app.invitation.missing"),
            ]
            if SURVEY_IN_VOILA
            else []
        ),
        ("facilitator.ipynb", "", "app.key.missing"),
        ("facilitator.ipynb", "key=guess-0123456789", "app.key.wrong"),
        ("facilitator.ipynb", "session=ABCDEF&key=guess", "app.key.wrong"),
    ]

    def one(n: int) -> tuple[int, str, str, dict[str, str]]:
        app, query, text = bad[n % len(bad)]
        # half from clients of their own (each refusal is checked), half from one client (the
        # limiter refuses after its budget without checking)
        client = address() if n % 2 else "10.255.255.1"
        status, body, headers, _ = http(
            render(served, app, query), headers={"X-Forwarded-For": client}, timeout=180
        )
        return status, body, text if n % 2 else "", headers

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(one, range(1000)))
    statuses = {status for status, *_ in results}
    assert statuses <= {403, 429}, statuses
    for status, body, text, _ in results:
        assert "Traceback" not in body and "jupyter-config-data" not in body
        if text:
            assert status == 403 and t(text, "nb") in body
    assert sum(status == 429 for status, *_ in results) >= 400  # the one client got limited
    after = kernels(served)
    assert after["live"] == before["live"] and after["viewers"] == before["viewers"]
    assert after["starting"] == 0
    # the console without a key shows nothing of the programme
    status, body, _, _ = http(
        render(served, "facilitator.ipynb", ""), headers={"X-Forwarded-For": address()}
    )
    assert status == 403
    assert served.group_a not in body and served.group_b not in body


def test_the_console_opens_with_the_facilitator_key(served):
    from kit.live.session import facilitator_key

    key = facilitator_key(served.settings)
    status, body, _, cookies = http(render(served, "facilitator.ipynb", f"key={key}"), timeout=180)
    assert status == 200 and "jupyter-config-data" in body and "Traceback" not in body
    assert close_like_a_page(served, body, cookies) == 204
    assert key not in served.kit.log_path.read_text()


def test_failed_attempts_are_limited_with_try_again_in_n_seconds(served):
    client = {"X-Forwarded-For": address()}
    url = render(served, "group_dashboard.ipynb", "key=wrong-wrong-wrong&lang=en")
    for _ in range(10):
        status, body, _, _ = http(url, headers=client)
        assert status == 403 and t("app.key.wrong", "en") in body
    status, body, headers, _ = http(url, headers=client)
    assert status == 429
    wait = int(headers["Retry-After"])
    assert 1 <= wait <= 60
    assert t("app.serve.limited.body", "en", seconds=wait) in body
    # while limited, even a valid key is not checked (a guesser learns nothing), in bokmål too
    status, body, headers, _ = http(
        render(served, "group_dashboard.ipynb", f"key={served.key_a}"), headers=client
    )
    assert status == 429 and "Retry-After" in headers
    assert t("app.serve.limited.title", "nb") in body
    # the PDF download shares the rule (its own budget)
    for _ in range(10):
        http(served.url("/kit/report?key=wrong-wrong-wrong"), headers=client)
    status, _, headers, _ = http(served.url("/kit/report?key=wrong-wrong-wrong"), headers=client)
    assert status == 429 and int(headers["Retry-After"]) >= 1
    # another client is not affected
    status, body, _, _ = http(url, headers={"X-Forwarded-For": address()})
    assert status == 403


# -- a kernel belongs to the browser that opened it ------------------------------------------------
async def _channel(port: int, kernel_id: str, cookie: str | None) -> list[str]:
    """Connect to a kernel's websocket and ask for kernel_info; the message types seen."""
    from tornado.httpclient import HTTPClientError, HTTPRequest
    from tornado.websocket import websocket_connect

    session = uuid.uuid4().hex
    request = HTTPRequest(
        f"ws://127.0.0.1:{port}/api/kernels/{kernel_id}/channels?session_id={session}",
        headers={"Cookie": cookie} if cookie else {},
    )
    try:
        ws = await websocket_connect(request)
    except HTTPClientError as exc:
        return [f"refused {exc.code}"]
    header = {
        "msg_id": uuid.uuid4().hex,
        "msg_type": "kernel_info_request",
        "username": "x",
        "session": session,
        "date": "",
        "version": "5.3",
    }
    msg = {"header": header, "parent_header": {}, "metadata": {}, "channel": "shell", "content": {}}
    await ws.write_message(json.dumps(msg))
    seen = []
    try:
        while "kernel_info_reply" not in seen:
            raw = await asyncio.wait_for(ws.read_message(), timeout=10)
            if raw is None:
                break
            if isinstance(raw, str):
                seen.append(json.loads(raw)["header"]["msg_type"])
    except TimeoutError:
        pass
    ws.close()
    return seen


async def _query_socket(port: int, path: str) -> str:
    from tornado.httpclient import HTTPClientError
    from tornado.websocket import websocket_connect

    try:
        ws = await websocket_connect(f"ws://127.0.0.1:{port}{path}")
    except HTTPClientError as exc:
        return f"refused {exc.code}"
    ws.close()
    return "open"


def _run(coro):
    with ThreadPoolExecutor(1) as pool:  # Playwright's loop runs in the test's thread
        return pool.submit(asyncio.run, coro).result()


def test_a_kernel_answers_only_the_browser_that_opened_it(served, browser):
    owner = browser.new_page()
    other = browser.new_page()
    owner.set_default_timeout(120_000)
    other.set_default_timeout(120_000)
    try:
        kernel_id = open_dashboard(served, owner, served.key_a)
        port = served.kit.port
        # the owner's page works, and its own websocket too
        assert "kernel_info_reply" in _run(_channel(port, kernel_id, cookie_header(owner)))
        # a stranger who knows the kernel id: no cookie, a made-up one, another viewer's
        assert _run(_channel(port, kernel_id, None)) == ["refused 403"]
        forged = "kit_viewer=" + "A" * 32
        assert _run(_channel(port, kernel_id, forged)) == ["refused 403"]
        other.goto(served.url("/"))  # a browser of its own, with its own viewer cookie later
        other_kernel = open_dashboard(served, other, served.key_b)
        assert other_kernel != kernel_id
        assert _run(_channel(port, kernel_id, cookie_header(other))) == ["refused 403"]
        status, body, _, _ = http(
            served.url(f"/api/kernels/{kernel_id}"), headers={"Cookie": cookie_header(other)}
        )
        assert status == 403 and served.group_a not in body
        # the viewer's query string (the key) is not to be had from the kernel's query socket
        assert _run(_query_socket(port, f"/voila/query/{kernel_id}")).startswith("refused 404")
        assert _run(_query_socket(port, f"/kit/q/guess/voila/query/{kernel_id}")).startswith(
            "refused 404"
        )
        # ... nor the next viewer's, from a preheated kernel nobody holds yet
        served.kit.wait_ready("group_dashboard.ipynb")
        # a shutdown from another browser, with its own valid xsrf token, is refused too
        xsrf = next(c["value"] for c in other.context.cookies() if c["name"] == "_xsrf")
        status, _, _, _ = http(
            served.url(f"/voila/api/shutdown/{kernel_id}"),
            method="POST",
            headers={
                "Cookie": cookie_header(other),
                "Content-Type": "application/x-www-form-urlencoded",
            },
            data=f"_xsrf={xsrf}".encode(),
        )
        assert status == 403
        # the owner still works: a filter redraws the chart
        first = owner.inner_html(".kit-dashboard [data-kit-chart=profile]")
        owner.get_by_role("button", name=t("common.wave.before", "nb"), exact=True).click()
        owner.wait_for_function(
            "prev => { const el = document.querySelector("
            "'.kit-dashboard [data-kit-chart=profile]');"
            " return el && el.innerHTML !== prev && el.querySelector('svg'); }",
            arg=first,
        )
    finally:
        owner.close(run_before_unload=True)
        other.close(run_before_unload=True)


def test_closing_a_dashboard_frees_its_kernel_within_seconds(served, page):
    # the earlier tests' pages are closed and their kernels are going: counting before they are
    # gone would count one of them as this page's (CI saw 3 before and 3 after opening)
    assert wait_until(lambda: kernels(served)["viewers"] == 0, timeout=90)
    before = kernels(served)
    kernel_id = open_dashboard(served, page, served.key_a)
    opened = kernels(served)
    assert opened["viewers"] == before["viewers"] + 1
    start = time.monotonic()
    page.goto("about:blank")  # leaving the page: Voilà's beforeunload POSTs the shutdown
    gone = wait_until(lambda: kernels(served)["viewers"] == before["viewers"], timeout=15)
    seconds = time.monotonic() - start
    assert gone, "the closed page's kernel is still running"
    assert seconds < 10
    # and it is really gone: its websocket is refused now
    assert _run(_channel(served.kit.port, kernel_id, None)) == ["refused 403"]


def test_a_page_closed_without_its_shutdown_request_frees_its_kernel(served, browser):
    """A phone's browser drops a page without running beforeunload (no shutdown request): the
    kernel goes once its websocket has been closed for the grace period (30 s), not at the cull."""
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.set_default_timeout(120_000)
    # the earlier tests' pages are closed: their kernels go within the grace period too
    assert wait_until(lambda: kernels(served)["viewers"] == 0, timeout=90)
    before = 0
    try:
        kernel_id = open_dashboard(served, page, served.key_a)
        assert kernels(served)["viewers"] == before + 1
        owner = cookie_header(page)
        start = time.monotonic()
        page.close()  # no beforeunload: Voilà's page sends nothing
        gone = wait_until(lambda: kernels(served)["viewers"] <= before, timeout=90)
        assert gone, "the dropped page's kernel is still running"
        assert time.monotonic() - start < 75  # the grace period (30 s), then shut down
        # really gone: even its own browser's cookie gets no websocket now
        assert _run(_channel(served.kit.port, kernel_id, owner)) == ["refused 403"]
    finally:
        context.close()


def test_a_cross_site_post_cannot_shut_a_kernel(served, browser):
    context = browser.new_context()
    owner = context.new_page()
    owner.set_default_timeout(120_000)
    try:
        kernel_id = open_dashboard(served, owner, served.key_a)
        held = kernels(served)["viewers"]
        port = served.kit.port
        # another site posts a form at the shutdown URL, and fetches it, in the viewer's own
        # browser: the SameSite cookies are not sent, the Origin is foreign, no token is known
        context.route(
            "http://evil.example/**",
            lambda r: r.fulfill(body="<html><body>evil</body></html>", content_type="text/html"),
        )
        target = f"http://127.0.0.1:{port}/voila/api/shutdown/{kernel_id}"
        evil = context.new_page()
        evil.goto("http://evil.example/")
        evil.evaluate(
            "url => fetch(url, {method: 'POST', mode: 'no-cors', credentials: 'include'})"
            ".then(() => 'sent', () => 'failed')",
            target,
        )
        with evil.expect_navigation():
            evil.evaluate(
                """url => { const f = document.createElement('form'); f.method = 'POST';
                            f.action = url; document.body.appendChild(f); f.submit(); }""",
                target,
            )
        assert "Traceback" not in evil.content()
        refused = re.findall(r"403 POST /voila/api/shutdown/", served.kit.log_path.read_text())
        assert refused  # the form's POST reached the server, and was refused
        # the viewer's cookies without the xsrf token (what a forged request could carry at
        # best) are refused as well
        cookies = "; ".join(
            f"{c['name']}={c['value']}" for c in owner.context.cookies() if c["name"] != "_xsrf"
        )
        status, _, _, _ = http(
            served.url(f"/voila/api/shutdown/{kernel_id}"),
            method="POST",
            headers={"Cookie": cookies},
        )
        assert status == 403
        time.sleep(1.5)
        assert kernels(served)["viewers"] == held
        assert "kernel_info_reply" in _run(_channel(port, kernel_id, cookie_header(owner)))
        evil.close()
    finally:
        owner.close(run_before_unload=True)
        context.close()


def test_forged_widget_messages_get_no_traceback(served, page):
    kernel_id = open_dashboard(served, page, served.key_a)
    seen = _run(_forge_comms(served.kit.port, kernel_id, cookie_header(page)))
    text = json.dumps(seen)
    types = {m["header"]["msg_type"] for m in seen}
    assert "comm_info_reply" in types  # the forger did reach the kernel ...
    assert "error" not in types and "stream" not in types  # ... and got no error back
    assert "Traceback" not in text and "TraitError" not in text and ".py" not in text
    # the errors are in the server's log instead
    assert wait_until(lambda: "TraitError" in served.kit.log_path.read_text(), timeout=10)
    assert page.is_visible(CHART)


async def _forge_comms(port: int, kernel_id: str, cookie: str) -> list[dict]:
    from tornado.httpclient import HTTPRequest
    from tornado.websocket import websocket_connect

    session = uuid.uuid4().hex
    ws = await websocket_connect(
        HTTPRequest(
            f"ws://127.0.0.1:{port}/api/kernels/{kernel_id}/channels?session_id={session}",
            headers={"Cookie": cookie},
        )
    )

    def msg(msg_type: str, content: dict) -> str:
        header = {
            "msg_id": uuid.uuid4().hex,
            "msg_type": msg_type,
            "username": "x",
            "session": session,
            "date": "",
            "version": "5.3",
        }
        return json.dumps(
            {
                "header": header,
                "parent_header": {},
                "metadata": {},
                "channel": "shell",
                "content": content,
            }
        )

    seen: list[dict] = []
    comms: dict = {}

    async def read(seconds: float) -> None:
        try:
            while True:
                raw = await asyncio.wait_for(ws.read_message(), timeout=seconds)
                if raw is None:
                    return
                if isinstance(raw, str):
                    m = json.loads(raw)
                    seen.append(m)
                    if m["header"]["msg_type"] == "comm_info_reply":
                        comms.update(m["content"]["comms"])
        except TimeoutError:
            return

    await ws.write_message(msg("comm_info_request", {}))
    await read(4)
    for comm_id in list(comms)[:40]:
        for data in (
            {"method": "update", "state": {"value": {"x": 1}, "index": "no", "description": 5}},
            {"method": "custom", "content": {"event": "click"}},
            {"method": "no-such-method"},
        ):
            await ws.write_message(msg("comm_msg", {"comm_id": comm_id, "data": data}))
    await ws.write_message(msg("comm_msg", {"comm_id": "nope", "data": {"method": "update"}}))
    await ws.write_message(msg("comm_open", {"comm_id": "x", "target_name": "nope", "data": {}}))
    await ws.write_message(
        msg("comm_open", {"comm_id": "y", "target_name": "jupyter.widget", "data": {}})
    )
    await read(12)
    ws.close()
    return seen


# -- the PDF report: exactly the key's own group --------------------------------------------------
def test_a_key_downloads_its_own_report_never_a_file_name_match(served):
    from tests.apps.test_served import write_report_run

    a, b = served.group_a, served.group_b
    run = write_report_run(
        served,
        "run-decoy",
        {
            # another group whose file name holds group a's id
            f"groups/{a}-board_after": (b, "nb", "report of the board (B)"),
            f"groups/x-{a}_before": (b, "en", "another group's report"),
        },
    )
    client = {"X-Forwarded-For": address()}
    status, body, _, _ = http(served.url(f"/kit/report?key={served.key_a}"), headers=client)
    if status == 200:  # an earlier test made A's own report; it must be that one
        assert "report of A" in body
    assert "board (B)" not in body and "another group" not in body
    write_report_run(served, "run-own", {f"groups/{a}_after": (a, "nb", "own report of A")})
    status, body, headers, _ = http(served.url(f"/kit/report?key={served.key_a}"), headers=client)
    assert status == 200 and "report of A" in body and "(B)" not in body
    status, body, _, _ = http(served.url(f"/kit/report?key={served.key_b}"), headers=client)
    assert status == 200 and ("report of B" in body or "board (B)" in body or "another" in body)
    # a manifest pointing outside its run's folder is not followed
    (run / ".kit-run.json").write_text(
        json.dumps(
            {
                "evil": {
                    "kind": "group",
                    "status": "made",
                    "group_id": a,
                    "pdf_path": "../../var/kit.sqlite",
                }
            }
        )
    )
    status, body, _, _ = http(served.url(f"/kit/report?key={served.key_a}"), headers=client)
    assert "SQLite" not in body


# -- logs, headers, assets ------------------------------------------------------------------------
def test_no_key_code_or_token_is_written_to_the_log(served):
    store = served.store
    code = create_invitations(store, served.group_a, "after", 1)[0]
    expired = create_key(store, served.group_b, expires_days=1e-6)
    time.sleep(0.3)
    secrets_sent = [served.key_a, served.key_b, code, expired.key, "guessed-key-0123456789"]
    client = {"X-Forwarded-For": address()}
    for path in (
        f"/kit/report?key={served.key_b}",  # valid key of a group without a PDF
        f"/kit/report?key={expired.key}",
        "/kit/report?key=guessed-key-0123456789",
        f"/voila/render/group_dashboard.ipynb?key={expired.key}",
        f"/voila/render/group_dashboard.ipynb?key={served.key_a}xx",
        f"/voila/render/nope.ipynb?key={served.key_a}",
        f"/voila/tree?key={served.key_a}&token={served.key_b}",
        f"/api/kernels/00000000-0000-0000-0000-000000000000?token={served.key_a}",
        f"/kit/live/api/s/ABCDEF/state?key={served.key_a}",
    ):
        http(served.url(path), headers=client)
    if SURVEY_IN_VOILA:  # a survey page opened with its code (a kernel; the code unlogged too)
        url = served.url(f"/voila/render/survey.ipynb?code={code}")
        _, body, _, cookies = http(url, timeout=120)
        assert close_like_a_page(served, body, cookies) == 204
    else:
        http(served.url(f"/kit/survey?code={code}"), headers=client)
    log_text = wait_until(lambda: served.kit.log_path.read_text(), timeout=2)
    assert "/kit/report" in log_text  # the requests were logged ...
    for secret in secrets_sent:
        assert secret not in log_text  # ... without their keys
    assert not re.search(r"[?&](key|code|token)=(?!\[redacted\])", log_text)


def test_every_response_sends_security_headers(served):
    for path in (
        "/",
        "/voila/tree",
        "/kit/status",
        "/kit/report",
        "/voila/render/group_dashboard.ipynb?key=nope",
        "/voila/static/voila.js",
        "/kit/assets/fontawesome/css/all.min.css",
    ):
        status, _, headers, _ = http(served.url(path), headers={"X-Forwarded-For": address()})
        assert status < 500, path
        assert headers.get("Referrer-Policy") == "no-referrer", path
        csp = headers.get("Content-Security-Policy", "")
        # the kit's own policy, or a page's stricter one (default-src 'none')
        assert re.search(r"default-src '(self|none)'", csp), path
        assert "frame-ancestors 'none'" in csp, path
        assert headers.get("X-Content-Type-Options") == "nosniff", path


def test_cookies_are_samesite_and_secure_behind_https(served):
    query = f"key={served.key_a}"
    plain = http(render(served, "group_dashboard.ipynb", query), timeout=120)
    proxied = http(
        render(served, "group_dashboard.ipynb", query),
        headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": address()},
        timeout=120,
    )
    for status, body, _, cookies in (plain, proxied):
        assert status == 200
        assert close_like_a_page(served, body, cookies) == 204
        names = {c.split("=", 1)[0] for c in cookies}
        assert {"kit_viewer", "_xsrf"} <= names
        for cookie in cookies:
            assert "samesite=" in cookie.lower(), cookie
    viewer = next(c for c in plain[3] if c.startswith("kit_viewer="))
    assert "httponly" in viewer.lower() and "secure" not in viewer.lower()
    for cookie in proxied[3]:
        if cookie.startswith(("kit_viewer=", "username-", "_xsrf=")):
            assert "; secure" in cookie.lower(), cookie


def test_pages_load_nothing_from_outside_127_0_0_1(served, browser, screenshot_dir):
    outside: list[str] = []
    problems: list[str] = []
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.set_default_timeout(120_000)

    def route(r):
        url = r.request.url
        if url.startswith(("http://127.0.0.1:", "ws://127.0.0.1:", "data:", "blob:")):
            r.continue_()
        else:
            outside.append(url)
            r.abort()

    context.route("**/*", route)
    page.on(
        "console",
        lambda m: (
            problems.append(m.text)
            if m.type == "error" or "Content Security Policy" in m.text
            else None
        ),
    )
    page.on("pageerror", lambda e: problems.append(str(e)))
    try:
        open_dashboard(served, page, served.key_a, lang="en")
        page.wait_for_timeout(1000)
        page.screenshot(path=str(screenshot_dir / "dashboard-phone-offline.png"), full_page=True)
        if SURVEY_IN_VOILA:
            code = create_invitations(served.store, served.group_a, "after", 1)[0]
            page.goto(render(served, "survey.ipynb", f"code={code}"), wait_until="commit")
            page.wait_for_selector(".kit-item")
        for path in ("/", "/voila/render/group_dashboard.ipynb?key=nope"):
            page.goto(served.url(path))
        assert outside == []
        assert [p for p in problems if "Content Security Policy" in p] == []
        fa = page.evaluate(
            "url => fetch(url).then(r => r.status)",
            served.url("/kit/assets/fontawesome/webfonts/fa-solid-900.woff2"),
        )
        assert fa == 200
    finally:
        page.close(run_before_unload=True)
        context.close()


# -- under load: no empty page --------------------------------------------------------------------
def test_concurrent_dashboards_never_come_up_empty(served, browser):
    before = kernels(served)["viewers"]
    pages = []
    try:
        for _ in range(4):
            p = browser.new_page()
            p.set_default_timeout(180_000)
            pages.append(p)
        for p in pages:
            p.goto(
                render(served, "group_dashboard.ipynb", f"key={served.key_a}"),
                wait_until="commit",
            )
        for p in pages:
            p.wait_for_selector(f"{CHART}, [data-kit-notice]")
            has_chart = p.query_selector(CHART) is not None
            notice = p.query_selector("[data-kit-notice]")
            assert has_chart or notice is not None
            assert "Traceback" not in p.content()
    finally:
        for p in pages:
            p.close(run_before_unload=True)
    # every page's kernel freed (by its shutdown request, or its websocket closing for good);
    # other tests' idle kernels on this server may be culled meanwhile
    assert wait_until(lambda: kernels(served)["viewers"] <= before, timeout=90)


# -- a capped server: the queue and the idle cull -------------------------------------------------
@pytest.fixture(scope="module")
def capped(demo_home, tmp_path_factory):
    """A second kit serve on the same home: one viewer kernel at a time, no pool, fast cull."""
    from kit.apps.launch import ServedKit

    log = tmp_path_factory.mktemp("capped") / "serve.log"
    with ServedKit(
        demo_home.settings.home_dir,
        pools=(0, 0, 0),
        log_path=log,
        extra_args=("--max-kernels", "1", "--cull-idle", "10"),
    ) as kit:
        yield kit


def test_over_the_cap_viewers_queue_with_a_wait_and_get_in_when_a_kernel_frees(
    capped, demo_home, page, screenshot_dir
):
    key_a, key_b = demo_home.key_a, demo_home.key_b
    base = f"http://127.0.0.1:{capped.port}/voila/render/group_dashboard.ipynb"
    page.goto(f"{base}?key={key_a}", wait_until="commit")
    page.wait_for_selector(CHART)
    assert capped.kernels()["viewers"] == 1
    # a second viewer waits: a page that says where they are and how long, and reloads itself
    status, body, headers, cookies = http(f"{base}?key={key_b}&lang=en")
    assert status == 503 and int(headers["Retry-After"]) >= 1
    assert 'http-equiv="refresh"' in body
    assert t("app.serve.queue.title", "en") in body
    assert re.search(r"number 1 in the queue, and the wait is about \d+ (seconds|minutes)", body)
    ticket = next(c.split(";")[0] for c in cookies if c.startswith("kit_queue="))
    status, body, _, _ = http(f"{base}?key={key_b}", headers={"Cookie": ticket})
    assert status == 503 and t("app.serve.queue.title", "nb") in body and "nummer 1" in body
    assert capped.kernels()["queued"] == 1 and capped.kernels()["live"] == 1
    # a third one is behind them
    status, body, _, _ = http(f"{base}?key={key_a}&lang=en")
    assert status == 503 and "number 2" in body
    waiting = browser_page_for_queue(page, f"{base}?key={key_b}", ticket)
    waiting.screenshot(path=str(screenshot_dir / "queue.png"))
    waiting.close()
    # the first viewer leaves: the first in line gets in
    page.goto("about:blank")
    assert wait_until(lambda: capped.kernels()["viewers"] == 0, timeout=15)
    status, body, _, _ = http(f"{base}?key={key_b}", headers={"Cookie": ticket}, timeout=180)
    assert status == 200 and "jupyter-config-data" in body
    # that viewer went away without closing (no browser): the idle kernel is culled
    assert capped.kernels()["viewers"] == 1
    assert wait_until(lambda: capped.kernels()["live"] == 0, timeout=60, every=1)


def browser_page_for_queue(page, url: str, ticket: str):
    """The queue page as a viewer sees it (a page of its own with the queue ticket)."""
    context = page.context.browser.new_context(viewport={"width": 390, "height": 844})
    name, value = ticket.split("=", 1)
    context.add_cookies([{"name": name, "value": value, "url": url}])
    waiting = context.new_page()
    waiting.goto(url + "&lang=nb")
    waiting.wait_for_selector("[data-kit-notice]")
    return waiting


def test_status_shows_live_pooled_and_queued_kernels(served):
    status = served.kit.full_status()
    assert set(status["kernels"]) >= {"live", "viewers", "pooled", "queued", "max_viewers"}
    assert status["kernels"]["pooled"] >= 1
    assert all(isinstance(v, int) for v in status["kernels"].values())
    assert "group_dashboard.ipynb" in status["pools"]
    assert Path(served.kit.log_path).is_file()


# -- the client behind a proxy: believed from a trusted proxy only --------------------------------
def _from_address(
    source: str, port: int, method: str, path: str, body: dict | None = None, xff: str = ""
) -> int:
    """The status of one request sent from the loopback address ``source`` (127.0.0.0/8 is all
    this machine's), with a forged ``X-Forwarded-For`` when ``xff`` is given."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=(source, 0))
    try:
        headers = {"X-Forwarded-For": xff} if xff else {}
        raw = None
        if body is not None:
            raw = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        conn.request(method, path, body=raw, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


LIMITED_ENDPOINTS = {  # (method, path, body, failures allowed per client and minute)
    "dashboard": ("GET", "/kit/dashboard?key=wrong-wrong-wrong", None, 10),
    "survey": ("POST", "/kit/survey/api/open", {"code": "WRONGWRONG"}, 20),
    "live": ("POST", "/kit/live/api/s/ZZZZ2222/join", {}, 10),
}


@pytest.mark.parametrize("endpoint", sorted(LIMITED_ENDPOINTS))
def test_a_forged_forwarded_header_is_ignored_unless_it_comes_from_a_trusted_proxy(
    served, endpoint
):
    method, path, body, allowed = LIMITED_ENDPOINTS[endpoint]
    port = served.kit.port
    n = sorted(LIMITED_ENDPOINTS).index(endpoint)
    guesser, neighbour = f"127.0.0.{20 + 2 * n}", f"127.0.0.{21 + 2 * n}"
    # a client that is no proxy names a new address in every request: counted as itself
    for _ in range(allowed):
        status = _from_address(guesser, port, method, path, body, xff=address())
        assert status in (400, 403, 404), status
    assert _from_address(guesser, port, method, path, body, xff=address()) == 429
    assert _from_address(guesser, port, method, path, body) == 429
    # ... and locks out nobody else
    assert _from_address(neighbour, port, method, path, body) != 429
    # through the trusted proxy (loopback's 127.0.0.1): each client behind it counts on its own
    one, other = address(), address()
    for _ in range(allowed):
        assert _from_address("127.0.0.1", port, method, path, body, xff=one) != 429
    assert _from_address("127.0.0.1", port, method, path, body, xff=one) == 429
    assert _from_address("127.0.0.1", port, method, path, body, xff=other) != 429
    assert _from_address("127.0.0.1", port, method, path, body, xff=f"{address()}, {one}") == 429
