"""The deployment of docs/DEPLOYMENT.md for real: one PostgreSQL, two ``kit serve`` processes and
one nginx in front (``scripts/start-nginx.sh`` with ``deploy/nginx/kit.conf.template``).

Through nginx only: a group's dashboard in Chromium (its kernel's websocket reaches the process
that rendered it), the survey submitted and stored, a live round whose participants land on both
processes, one process killed with SIGKILL in the middle of the round - every acknowledged answer
is in the database and every participant carries on through the other process - and a viewer of
the dead process opening the dashboard again. Links come from the kit's own URL functions
(``dashboard_url``, ``survey_url``, ``join_url``) with nginx as the public address, so the test
follows the apps when their pages change.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import os
import re
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pandas as pd
import pytest

from kit.apps.invitations import create_invitations, survey_url
from kit.apps.keys import create_key, dashboard_url
from kit.apps.launch import ServedKit, free_port
from kit.i18n import t
from kit.instrument import load_instrument
from kit.live import session as ls
from kit.settings import Settings
from kit.store import live as repo
from kit.store import open_store

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.browser, pytest.mark.timeout(900)]

# a group's profile chart, whatever draws it: the kit's page (Vega in the browser) or a kernel
CHART = "[data-kit-spec=profile][data-kit-drawn] svg, [data-kit-chart=profile] svg"
KERNEL_CHART = ".kit-dashboard [data-kit-chart=profile] svg"  # drawn by the page's kernel
PARTICIPANTS = 12
ENTRIES = 24  # agenda items each participant adds, one request each (at most 40 per round)
RETRYABLE = (502, 503, 504)


# -- helpers --------------------------------------------------------------------------------------
def http_request(
    port: int,
    method: str,
    path: str,
    body: dict | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 20,
    source: str = "",
) -> tuple[int, dict, dict[str, str]]:
    """One request to 127.0.0.1:``port``, from the loopback address ``source`` if given."""
    conn = http.client.HTTPConnection(
        "127.0.0.1", port, timeout=timeout, source_address=(source, 0) if source else None
    )
    try:
        raw = None if body is None else json.dumps(body).encode()
        head = {"Content-Type": "application/json", **(headers or {})} if raw else headers or {}
        conn.request(method, path, body=raw, headers=head)
        r = conn.getresponse()
        data = r.read()
        try:
            parsed = json.loads(data) if "json" in (r.getheader("Content-Type") or "") else {}
        except ValueError:
            parsed = {}
        return r.status, parsed, {k.lower(): v for k, v in r.getheaders()}
    finally:
        conn.close()


def route_to(proxy, port: int, tries: int = 60) -> str:
    """A fresh ``kit_route`` cookie that nginx routes to the process on ``port`` (as a new
    browser would get on its first request, drawn until it lands there)."""
    want = f"127.0.0.1:{port}"
    for _ in range(tries):
        status, _, headers = http_request(proxy.port, "GET", "/kit/live/")
        m = re.match(r"kit_route=([0-9a-f]{32});", headers.get("set-cookie", ""))
        assert status == 200 and m, (status, headers)
        hit = next(h for h in reversed(proxy.access()) if h.route == m[1][:8])
        if hit.served_by == want:
            return m[1]
    raise AssertionError(f"no route to {want} in {tries} tries")


def browser_context(browser, proxy, route: str):
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    context.add_cookies([{"name": "kit_route", "value": route, "url": proxy.base}])
    return context


def hits_of(proxy, route: str, after: int = 0) -> list:
    return [h for h in proxy.access()[after:] if h.route == route[:8]]


async def _ws_status(port: int, kernel_id: str) -> int | str:
    """What a process answers to a websocket for ``kernel_id`` on its own port."""
    from tornado.httpclient import HTTPClientError
    from tornado.websocket import websocket_connect

    try:
        ws = await asyncio.wait_for(
            websocket_connect(f"ws://127.0.0.1:{port}/api/kernels/{kernel_id}/channels"), 15
        )
    except HTTPClientError as exc:
        return exc.code
    ws.close()
    return "open"


def ws_status(port: int, kernel_id: str) -> int | str:
    with ThreadPoolExecutor(1) as pool:  # Playwright's loop runs in this thread
        return pool.submit(asyncio.run, _ws_status(port, kernel_id)).result(timeout=30)


def open_page(context, url: str):
    """A new page of ``context`` on its way to ``url`` (the server has the request)."""
    page = context.new_page()
    page.set_default_timeout(150_000)
    page.goto(url, wait_until="commit")
    return page


def finish_dashboard(page, name: str, shots: Path, shot: str) -> str | None:
    """Wait until the group's chart is drawn; the page's kernel id, if it has one."""
    page.wait_for_selector(CHART, state="visible")
    kernel_id = None
    config = page.query_selector("#jupyter-config-data")
    if config is not None:
        kernel_id = json.loads(config.inner_text()).get("kernelId")
    if kernel_id:  # a Voilà page: its widgets come over the kernel's websocket, through nginx
        page.wait_for_selector(KERNEL_CHART, state="visible")
    assert name in page.inner_text("body")
    assert "Traceback" not in page.content()
    page.screenshot(path=str(shots / shot), full_page=True)
    return kernel_id


def submit_survey(page, lang: str, shots: Path) -> None:
    """Answer every statement with 6 page by page, submit, wait for the thank-you."""
    inst = load_instrument("lagprofil")
    page.wait_for_selector(".item")
    for _ in range(len(inst.dimensions) + 2):
        for card in page.locator(".item").all():
            card.locator("button[data-value='6']").click()
        if page.locator("#submit").count() and page.locator("#submit").is_visible():
            break
        page.click("#next")
    page.click("#submit")
    page.wait_for_selector("[data-kit-notice=done]")
    page.screenshot(path=str(shots / "survey-done.png"), full_page=True)
    page.close(run_before_unload=True)


@dataclass
class Participant:
    """A phone in the room: one ``kit_route`` cookie (as its browser would keep) and a token."""

    route: str
    token: str = ""
    acked: list[tuple[str, float]] = field(default_factory=list)  # (entry id, time of the 200)
    retried: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def cookie(self) -> dict[str, str]:
        return {"Cookie": f"kit_route={self.route}"}


def run_participant(p: Participant, port: int, code: str, round_id: int, deadline: float) -> None:
    """Open the page, join, add ``ENTRIES`` agenda items; retry what the proxy answered 502
    (a request in flight when its process died), as the participant page lets one resend."""
    try:
        status, _, _ = http_request(port, "GET", f"{ls.LIVE_PREFIX}/s/{code}", headers=p.cookie)
        assert status == 200, f"page: {status}"
        status, data, _ = http_request(
            port, "POST", f"{ls.LIVE_PREFIX}/api/s/{code}/join", {}, p.cookie
        )
        assert status == 200, f"join: {status} {data}"
        p.token = data["token"]
        for k in range(1, ENTRIES + 1):
            entry = {
                "id": f"e{k:02d}",
                "title": f"Sak {k}",
                "minutes": 5 + k,
                "kind": "discussion",
                "focus": "strategy",
            }
            body = {"token": p.token, "round": round_id, "answers": {"entry": entry}}
            while True:
                if time.monotonic() > deadline:
                    raise AssertionError(f"entry {k} not acknowledged before the deadline")
                try:
                    status, data, _ = http_request(
                        port, "POST", f"{ls.LIVE_PREFIX}/api/s/{code}/answer", body, p.cookie
                    )
                except (OSError, http.client.HTTPException):
                    status, data = 0, {}
                if status == 200 and data.get("ok"):
                    p.acked.append((entry["id"], time.monotonic()))
                    break
                if status in RETRYABLE or status == 0:
                    p.retried += 1
                    time.sleep(0.2)
                    continue
                raise AssertionError(f"entry {k}: {status} {data}")
            time.sleep(0.03)
    except AssertionError as exc:
        p.errors.append(str(exc))


def end_orphans(pids: list[int], wait: float = 15) -> None:
    """Kernels of a killed server end by themselves when they see their parent gone; any that
    did not within ``wait`` seconds are ended by pid."""
    deadline = time.monotonic() + wait
    alive = list(pids)
    while alive and time.monotonic() < deadline:
        alive = [pid for pid in alive if _alive(pid)]
        time.sleep(0.2)
    for pid in alive:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ")[-1][0] != "Z"
    except OSError:
        return False


def demo_groups(store) -> tuple[str, str, str]:
    """A programme group reportable in two waves, and a programme group and wave still open."""
    groups = store.list_groups().set_index("id")
    gw = store.list_group_waves()
    programme = [g for g in groups.index if pd.notna(groups.loc[g, "cohort_id"])]
    ok = gw[(gw["respondents"] >= 7) & gw["group_id"].isin(programme)]
    ok = ok.groupby("group_id")["wave_id"].nunique()
    group = str(ok[ok >= 2].index[0])
    open_waves = gw[gw["group_id"].isin(programme) & (gw["status"] == "open")]
    return group, str(open_waves["group_id"].iloc[0]), str(open_waves["wave_id"].iloc[0])


# -- the test -------------------------------------------------------------------------------------
def test_two_kit_serve_processes_behind_nginx_on_postgresql(pg_url, start_proxy, browser, tmp_path):
    from kit.demo import make_demo

    started = time.monotonic()
    took: dict[str, float] = {}

    def lap(what: str) -> None:
        took[what] = round(time.monotonic() - started - sum(took.values()), 1)

    shots = Path(os.environ.get("DEPLOY_SCREENSHOT_DIR") or tmp_path / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    home = tmp_path / "home"
    settings = Settings(home_dir=home, database_url=pg_url)
    make_demo(settings, seed=1, small=True)  # creates the schema before any process starts
    store = open_store(settings)
    group, survey_group, survey_wave = demo_groups(store)

    ports = [free_port(), free_port()]
    proxy = start_proxy(ports)
    base = proxy.base
    kits = [
        ServedKit(
            home,
            port=port,
            pools=(0, 0, 0),
            database_url=pg_url,
            public_url=base,
            log_path=tmp_path / f"serve-{port}.log",
        )
        for port in ports
    ]
    orphans: list[int] = []
    contexts: list = []
    a, b = kits
    addr_a, addr_b = (f"127.0.0.1:{port}" for port in ports)
    try:
        lap("demo data")
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda kit: kit.start(timeout=240), kits))  # a busy machine is slow
        lap("two kit serve")
        status, data, _ = http_request(proxy.port, "GET", "/kit/status")  # from loopback: allowed
        assert status == 200 and "pools" in data
        route_a, route_b = route_to(proxy, a.port), route_to(proxy, b.port)
        secrets: list[str] = []

        # -- a group's dashboard from process A and the survey from B, at once, through nginx -
        key = create_key(store, group, label="deployment test").key
        link = dashboard_url(base, key)
        assert link.startswith(base + "/")
        inst = load_instrument("lagprofil")
        before = len(store.load_responses(inst, [survey_group], [survey_wave]))
        code = create_invitations(store, survey_group, survey_wave, 1)[0]
        secrets.extend([key, code])
        context_a = browser_context(browser, proxy, route_a)
        context_b = browser_context(browser, proxy, route_b)
        contexts += [context_a, context_b]
        page = open_page(context_a, link)
        survey_page = open_page(context_b, survey_url(base, code, "en"))
        name = store.get_group(group)["name"]
        kernel_id = finish_dashboard(page, name, shots, "dashboard-nginx.png")
        if kernel_id:
            secrets.append(kernel_id)
            assert ws_status(b.port, kernel_id) in (403, 404)  # B does not know A's kernel
        page.close(run_before_unload=True)  # Voilà asks its process to shut the kernel down
        time.sleep(0.5)
        seen = hits_of(proxy, route_a)
        assert seen and {h.served_by for h in seen} == {addr_a}, seen
        if kernel_id:  # the websocket went through nginx to A, was upgraded and has closed
            assert any(h.path == "/api/kernels/*/channels" and h.status == 101 for h in seen)
        submit_survey(survey_page, "en", shots)
        after = store.load_responses(inst, [survey_group], [survey_wave])
        assert len(after) == before + 1  # stored in the one database
        first = inst.dimensions[0].item_ids
        assert [after.iloc[-1][i] for i in first] == [6.0] * len(first)
        seen = hits_of(proxy, route_b)
        assert seen and {h.served_by for h in seen} == {addr_b}, seen
        lap("dashboard and survey")

        # -- the processes count failed attempts per client behind nginx, not per nginx ------
        # two clients (two addresses of this machine) on one process: one guesses codes until
        # it must wait; the other is not locked out, and nobody can pick its own address
        guesser = {"Cookie": f"kit_route={route_a}", "X-Forwarded-For": "10.6.6.6"}
        neighbour = {"Cookie": f"kit_route={route_a}"}
        guess = {"code": "WRONGWRONG"}
        statuses = [
            http_request(proxy.port, "POST", "/kit/survey/api/open", guess, guesser, source=ip)[0]
            for ip in ["127.0.0.2"] * 21
        ]
        assert statuses[:20] == [statuses[0]] * 20 and statuses[0] in (400, 403, 404)
        assert statuses[20] == 429
        status, _, _ = http_request(
            proxy.port, "POST", "/kit/survey/api/open", guess, neighbour, source="127.0.0.3"
        )
        assert status == statuses[0]  # refused as a wrong code, not as a locked-out client
        # nginx replaces what a client sends as X-Forwarded-For: no one can take another's place
        status, _, _ = http_request(
            proxy.port,
            "POST",
            "/kit/survey/api/open",
            guess,
            {**neighbour, "X-Forwarded-For": "127.0.0.2"},
            source="127.0.0.5",
        )
        assert status == statuses[0]
        lap("limits per client")

        # -- a live round: participants on both processes, A killed in the middle ------------
        made = ls.create_session(  # the participants and the phone are all expected
            store,
            settings,
            title="Samling 2",
            group_ids=[group],
            language="nb",
            expected=PARTICIPANTS + 1,
        )
        rid = next(
            r["id"]
            for r in repo.list_rounds(store, made.session_id)
            if r["exercise"] == "agenda_audit"
        )
        join = urlsplit(ls.join_url(settings.replace(public_url=base), made.code))
        assert f"{join.scheme}://{join.netloc}" == base
        console = {"X-Kit-Key": made.key}
        status, data, _ = http_request(
            proxy.port,
            "POST",
            f"{ls.LIVE_PREFIX}/api/console/{made.code}/round",
            {"round": rid, "action": "open"},
            console,
        )
        assert status == 200 and data["round"]["status"] == "open", data
        time.sleep(0.6)  # both processes' short cache of the session state has expired
        # one participant on a phone in Chromium, on A
        phone_route = route_to(proxy, a.port)
        phone_context = browser.new_context(viewport={"width": 390, "height": 844})
        contexts.append(phone_context)
        phone_context.add_cookies([{"name": "kit_route", "value": phone_route, "url": base}])
        phone = phone_context.new_page()
        phone.set_default_timeout(60_000)
        phone.goto(ls.join_url(settings.replace(public_url=base), made.code))
        phone.wait_for_selector("[data-exercise=agenda_audit]")
        people = [Participant(route_to(proxy, kit.port)) for kit in (a, b) * (PARTICIPANTS // 2)]
        deadline = time.monotonic() + 180
        threads = [
            threading.Thread(
                target=run_participant, args=(p, proxy.port, made.code, rid, deadline), daemon=True
            )
            for p in people
        ]
        for th in threads:
            th.start()
        while sum(len(p.acked) for p in people) < PARTICIPANTS * ENTRIES // 3:
            assert time.monotonic() < deadline and any(th.is_alive() for th in threads)
            time.sleep(0.02)
        log_at_kill = len(proxy.access())  # what nginx logged before the kill: served by A
        orphans = a.kill()  # kill -9, mid-round
        killed_at = time.monotonic()
        # nginx logs a request when it ends: answers A gave just before the kill, and the phone's
        # event stream that the kill ended, are written in the next moments. After that, every
        # line is an answer B gave.
        time.sleep(1.0)
        log_settled = len(proxy.access())
        acked_before_kill = sum(len(p.acked) for p in people)
        for th in threads:
            th.join(timeout=max(1.0, deadline - time.monotonic()))
        assert not any(th.is_alive() for th in threads)
        assert [p.errors for p in people] == [[]] * PARTICIPANTS

        # every participant finished, those who were on A included, through B after the kill
        assert all(len(p.acked) == ENTRIES for p in people)
        on_a = people[0::2]
        assert all(any(at > killed_at for _, at in p.acked) for p in on_a)
        # every acknowledged answer is in the database
        for p in people:
            stored = {
                r["question"] for r in repo.participant_answers(store, made.code, p.token, [rid])
            }
            assert stored == {f"entry:{e}" for e, _ in p.acked}
        # the phone that was on A reloads its page: B serves it, the round is still there
        mark = len(proxy.access())
        phone.reload()
        phone.wait_for_selector("[data-exercise=agenda_audit]")
        agenda = phone.locator("section[data-exercise=agenda_audit]")
        agenda.locator("input").nth(0).fill("Budsjett 2027")
        agenda.locator("input").nth(1).fill("30")
        agenda.get_by_role("button", name=t("live.page.add_item", "nb")).click()
        phone.wait_for_selector("ul.entries li:has-text('Budsjett 2027')")
        phone.screenshot(path=str(shots / "live-phone-after-kill.png"), full_page=True)
        stored = repo.load_answers(store, round_ids=[rid])
        assert (stored["text"] == "Budsjett 2027").sum() == 1
        seen = hits_of(proxy, phone_route, after=mark)
        assert seen and {h.served_by for h in seen} == {addr_b}, seen
        earlier = [h for h in proxy.access()[:log_at_kill] if h.route == phone_route[:8]]
        assert len(earlier) > 3 and {h.served_by for h in earlier} == {addr_a}  # page, polls
        # ... and shown back to the participant by the process that is left
        p = on_a[0]
        status, data, _ = http_request(
            proxy.port,
            "GET",
            f"{ls.LIVE_PREFIX}/api/s/{made.code}/state?token={p.token}&mine=1",
            headers=p.cookie,
        )
        assert status == 200 and len([m for m in data["mine"] if m["round_id"] == rid]) == ENTRIES
        secrets.extend(p.token for p in people)

        hits = proxy.access()
        answers = f"{ls.LIVE_PREFIX}/api/s/{made.code}/answer"
        before_kill = [h for h in hits[:log_at_kill] if h.path == answers and h.status == 200]
        served = {addr: sum(h.served_by == addr for h in before_kill) for addr in (addr_a, addr_b)}
        assert served[addr_a] >= PARTICIPANTS and served[addr_b] >= PARTICIPANTS, served
        after_kill = [h for h in hits[log_settled:] if h.status == 200]
        assert after_kill and {h.served_by for h in after_kill} == {addr_b}
        # the facilitator's console, through nginx, counts every answer once
        status, data, _ = http_request(
            proxy.port, "GET", f"{ls.LIVE_PREFIX}/api/console/{made.code}/state", headers=console
        )
        assert status == 200
        rnd = next(r for r in data["rounds"] if r["id"] == rid)
        # (the phone's one item included)
        assert (rnd["respondents"], rnd["answers"]) == (
            PARTICIPANTS + 1,
            PARTICIPANTS * ENTRIES + 1,
        )
        retried = sum(p.retried for p in people)
        assert retried <= PARTICIPANTS  # at most the requests in flight on A when it died
        # how long A's participants waited: last answer before the kill to first one after it
        waits = []
        for p in on_a:
            times = [at for _, at in p.acked]
            later = [at for at in times if at > killed_at]
            earlier = [at for at in times if at <= killed_at] or [killed_at]
            waits.append(later[0] - earlier[-1])
        assert max(waits) < 15, waits

        lap("live round")

        # -- A's viewer opens the dashboard again: B serves it ---------------------------------
        mark = len(proxy.access())
        page = open_page(context_a, link)
        finish_dashboard(page, name, shots, "dashboard-after-kill.png")
        page.close(run_before_unload=True)
        seen = hits_of(proxy, route_a, after=mark)
        assert seen and all(h.status < 500 for h in seen)
        assert {h.served_by for h in seen} == {addr_b}, seen
        lap("dashboard again")

        # -- nothing secret in nginx's logs ----------------------------------------------------
        logs = proxy.log_text()
        assert not [s for s in secrets if s in logs]
        print(
            f"\nanswers before the kill {acked_before_kill} of {PARTICIPANTS * ENTRIES}; "
            f"answer requests served before it: {served}; resent after a 502: {retried}; "
            f"longest wait of a participant across the kill {max(waits):.2f} s; "
            f"seconds: {took}"
        )
    finally:
        for kit in kits:
            kit.stop()
        end_orphans(orphans)
        for context in contexts:
            with contextlib.suppress(Exception):  # the browser is shared: never fail here
                context.close()
