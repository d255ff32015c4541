"""The served apps for real: ``kit serve`` on loopback, Debian's Chromium through Playwright."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from kit.i18n import t

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(600)]

CHART = ".kit-dashboard [data-kit-chart=profile] svg"  # the live widgets' chart


def _get(url: str, method: str = "GET") -> tuple[int, str, dict]:
    req = urllib.request.Request(url, method=method, data=b"{}" if method == "POST" else None)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read().decode("utf-8", "replace"), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace"), dict(e.headers)


def _dashboard(served, query: str) -> str:
    return served.url(f"/voila/render/group_dashboard.ipynb?{query}")


# -- without a browser ----------------------------------------------------------------------------
def test_no_listing_no_sources_no_other_notebooks(served):
    status, body, _ = _get(served.url("/"))
    assert status == 200 and t("app.landing.title", "nb") in body and ".ipynb" not in body
    for path in (
        "/voila/tree",
        "/voila/tree/",
        "/voila/api/contents",
        "/voila/api/contents/",
        "/voila/files/group_dashboard.ipynb",
        "/voila/render/group_report.ipynb",
        "/voila/render/../kit/settings.py",
        "/api/kernels",
        "/api/contents",
        "/voila/render/notebooks.ipynb",
    ):
        status, body, _ = _get(served.url(path))
        assert status == 404, path
        assert "Traceback" not in body and "prepare_dashboard" not in body
    status, _, _ = _get(served.url("/api/kernels"), "POST")
    assert status in (404, 405)
    status, body, _ = _get(served.url("/kit/live/"))  # the live exercises' pages are served too
    assert status == 200 and "Traceback" not in body


def write_report_run(served, run: str, entries: dict[str, tuple[str, str, str]]) -> Path:
    """A report run as ``kit report`` leaves it: PDFs and a manifest naming each one's group.

    ``entries``: stem -> (group id, language, PDF text). Half the entries carry the group only in
    their executed notebook's parameters (older manifests), the rest in the entry itself."""
    run_dir = served.settings.outputs_dir / run
    manifest = {}
    for n, (stem, (group, lang, text)) in enumerate(entries.items()):
        pdf = run_dir / f"{stem}.pdf"
        pdf.parent.mkdir(parents=True, exist_ok=True)
        pdf.write_bytes(f"%PDF-1.4 {text}".encode())
        nb = run_dir / f"{stem}.ipynb"
        nb.write_text(
            json.dumps({"metadata": {"kit": {"parameters": {"group_id": group, "language": lang}}}})
        )
        entry = {
            "stem": stem,
            "label": stem,
            "kind": "group",
            "status": "made",
            "notebook_path": f"{stem}.ipynb",
            "pdf_path": f"{stem}.pdf",
        }
        if n % 2:
            entry["group_id"] = group
            entry["language"] = lang
        manifest[stem] = entry
    (run_dir / ".kit-run.json").write_text(json.dumps(manifest))
    return run_dir


def test_report_download_is_key_checked(served):
    write_report_run(
        served,
        "run",
        {
            f"groups/{served.group_a}_after": (served.group_a, "nb", "report of A"),
            f"groups/{served.group_b}_after": (served.group_b, "nb", "report of B"),
        },
    )
    status, body, headers = _get(
        served.url(f"/kit/report?key={served.key_a}&group={served.group_b}")
    )
    assert status == 200 and headers["Content-Type"] == "application/pdf"
    assert "report of A" in body and served.group_a in headers["Content-Disposition"]
    status, body, _ = _get(served.url("/kit/report?key=wrong-key-0123456789"))
    assert status == 403 and t("app.key.wrong", "nb") in body and "report of" not in body
    status, body, _ = _get(served.url(f"/kit/report?group={served.group_b}"))
    assert status == 403 and t("app.key.missing", "nb") in body


# -- in the browser -------------------------------------------------------------------------------
def test_dashboard_renders_charts_and_changes_with_a_filter(served, page, screenshot_dir):
    page.goto(_dashboard(served, f"key={served.key_a}"), wait_until="commit")
    page.wait_for_selector(CHART)
    name_a = served.store.get_group(served.group_a)["name"]
    assert name_a in page.inner_text(".kit-dashboard .kit-header")
    page.screenshot(path=str(screenshot_dir / "dashboard.png"), full_page=True)
    assert (screenshot_dir / "dashboard.png").stat().st_size > 10_000
    # the static first view was in the page, and is hidden now that the live widgets are there
    assert page.query_selector("#kit-first-view [data-kit-chart=profile] svg") is not None
    assert not page.is_visible("#kit-first-view [data-kit-chart=profile]")
    first = page.inner_html(".kit-dashboard [data-kit-chart=profile]")
    page.get_by_role("button", name=t("common.wave.before", "nb"), exact=True).click()
    page.wait_for_function(
        "prev => { const el = document.querySelector('.kit-dashboard [data-kit-chart=profile]');"
        " return el && el.innerHTML !== prev && el.querySelector('svg'); }",
        arg=first,
    )
    assert t("common.wave.before", "nb") in page.inner_text(".kit-dashboard .kit-header")
    page.get_by_role("tab", name=t("app.dashboard.tab.items", "nb")).click()
    page.wait_for_selector("[data-kit-chart=distribution] svg")
    dist = page.inner_html("[data-kit-chart=distribution]")
    page.select_option(".kit-controls select", index=4)
    page.wait_for_function(
        "prev => { const el = document.querySelector('[data-kit-chart=distribution]');"
        " return el && el.innerHTML !== prev && el.querySelector('svg'); }",
        arg=dist,
    )
    page.screenshot(path=str(screenshot_dir / "dashboard-items.png"), full_page=True)
    assert "Traceback" not in page.content()


def test_wrong_key_shows_a_short_message_and_no_data(served, page, screenshot_dir):
    page.goto(
        _dashboard(served, f"key={served.key_a[:-3]}xyz&group={served.group_a}"),
        wait_until="commit",
    )
    page.wait_for_selector("[data-kit-notice=refused]")
    text = page.inner_text("body")
    assert t("app.key.wrong", "nb") in text
    assert served.store.get_group(served.group_a)["name"] not in text
    assert page.query_selector("svg.marks, [data-kit-chart]") is None
    page.screenshot(path=str(screenshot_dir / "dashboard-wrong-key.png"), full_page=True)
    assert (screenshot_dir / "dashboard-wrong-key.png").stat().st_size > 5_000


def test_group_a_key_never_shows_group_b_and_viewers_cannot_run_code(served, page, tmp_path):
    name_a = served.store.get_group(served.group_a)["name"]
    name_b = served.store.get_group(served.group_b)["name"]
    query = (
        f"group={served.group_b}&key={served.key_a}&key={served.key_b}"
        f"&group_id={served.group_b}&lang=en"
    )
    page.goto(_dashboard(served, query), wait_until="commit")
    page.wait_for_selector(CHART)
    for tab in ("items", "change", "agreement", "comments"):
        page.get_by_role("tab", name=t(f"app.dashboard.tab.{tab}", "en")).click()
        page.wait_for_timeout(300)
    body = page.inner_text("body")
    assert name_a in body and name_b not in body and served.group_b not in page.content()

    # Voilà refuses execute requests from viewers: send one on the page's own kernel.
    config = json.loads(page.inner_text("#jupyter-config-data"))
    kernel_id = config["kernelId"]
    marker = tmp_path / "executed.txt"
    code = f"open({str(marker)!r}, 'w').write('ran')"
    cookie = "; ".join(f"{c['name']}={c['value']}" for c in page.context.cookies())
    with ThreadPoolExecutor(1) as pool:  # Playwright's loop runs in this thread
        replies = pool.submit(
            asyncio.run, _try_execute(served.kit.port, kernel_id, code, cookie)
        ).result()
    assert not marker.exists()
    assert "kernel_info_reply" in replies  # the channel works ...
    assert "execute_reply" not in replies and "execute_input" not in replies  # ... code does not


async def _try_execute(port: int, kernel_id: str, code: str, cookie: str) -> list[str]:
    """Send code to a kernel as its own viewer (with the page's cookies) would."""
    from tornado.httpclient import HTTPRequest
    from tornado.websocket import websocket_connect

    session = uuid.uuid4().hex
    ws = await websocket_connect(
        HTTPRequest(
            f"ws://127.0.0.1:{port}/api/kernels/{kernel_id}/channels?session_id={session}",
            headers={"Cookie": cookie},
        )
    )
    msg = {
        "header": {
            "msg_id": uuid.uuid4().hex,
            "msg_type": "execute_request",
            "username": "viewer",
            "session": session,
            "date": "",
            "version": "5.3",
        },
        "parent_header": {},
        "metadata": {},
        "channel": "shell",
        "content": {
            "code": code,
            "silent": False,
            "store_history": False,
            "user_expressions": {},
            "allow_stdin": False,
            "stop_on_error": True,
        },
    }
    await ws.write_message(json.dumps(msg))
    # an allowed request on the same channel, to show the channel itself works
    info = {
        **msg,
        "header": {**msg["header"], "msg_id": uuid.uuid4().hex, "msg_type": "kernel_info_request"},
        "content": {},
    }
    await ws.write_message(json.dumps(info))
    seen: list[str] = []
    try:
        while True:
            raw = await asyncio.wait_for(ws.read_message(), timeout=4)
            if raw is None:
                break
            if isinstance(raw, str):
                seen.append(json.loads(raw).get("header", {}).get("msg_type", ""))
    except TimeoutError:
        pass
    ws.close()
    return seen
