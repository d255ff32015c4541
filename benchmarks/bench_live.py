"""Load test of the live participant side: 300 participants join and answer a pulse round.

The session expects the 300 (as a facilitator of a plenary sets it), so every join is admitted
automatically by the admission rule; the round is not revealed, so the step rule of published
results costs nothing here.

Starts the real server as a subprocess on loopback (``kit serve`` with no preheated kernels, or
with ``--standalone`` the live handlers alone), then simulates participants with asyncio + httpx:

1. every participant opens the page and joins (all at once);
2. the facilitator opens the pulse round through the console API;
3. "taps": every participant answers the 8 items one tap at a time (one POST per tap, as the
   page does) with 0-1 s of thinking between taps, while polling the state every 2 s;
   "burst": every participant sends all 8 answers in one POST at the same instant.

It prints p50/p95 latency, answers per second, answers lost (acknowledged but not in the store:
must be 0), the time until the facilitator's view (the console's data API) shows every answer,
and the server's memory, beside what 300 Voilà kernels would cost (one real kernel measured by
rendering the facilitator notebook through the same server, multiplied by 300).
Traffic goes only to 127.0.0.1 and is bounded (300 participants, 180 s at most).

Interactions (issue 12), "wordcloud" and "qa": every participant holds one pushed event stream
(server-sent events, as the page does) instead of polling; in the word cloud each sends three
answers (one, two, three words, as typed), in the Q&A three entries and then ten upvotes on
entries the facilitator allowed. The round is revealed from the start, so every answer can
change what the projector shows. It prints p95 per answer, answers lost, and how long after the
last acknowledged answer the projector shows the final state: pushed (its event stream) beside
the polling baseline (a projector polling every second, measured in the same run), plus the
server's CPU while 300 phones wait 5 s: holding streams vs polling every 2 s.

    python benchmarks/bench_live.py [--participants 300] [--standalone] [--no-kernel]
                                    [--modes taps,burst,wordcloud,qa]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kit.instrument import load_instrument  # noqa: E402
from kit.live import session as ls  # noqa: E402
from kit.settings import load_settings  # noqa: E402
from kit.store import live as repo  # noqa: E402
from kit.store import live_tables as lt  # noqa: E402
from kit.store import open_store  # noqa: E402

TIME_LIMIT = 180.0
MODES = {"taps": "8 taps per participant, 0-1 s apart, state polled every 2 s",
         "burst": "all 8 answers in one POST, everyone at the same instant",
         "wordcloud": "3 answers each (1, 2, 3 words), 0-1 s apart, phones on event streams",
         "qa": "3 entries each, then 10 upvotes each on allowed entries, phones on streams"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def pct(values: list[float], q: float) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


class Stats:
    def __init__(self) -> None:
        self.latency: dict[str, list[float]] = {}
        self.failed: dict[str, int] = {}

    def add(self, kind: str, seconds: float, ok: bool) -> None:
        self.latency.setdefault(kind, []).append(seconds)
        if not ok:
            self.failed[kind] = self.failed.get(kind, 0) + 1

    def line(self, kind: str) -> str:
        v = self.latency.get(kind, [])
        return (f"{kind:>7}: n={len(v):5d}  p50={pct(v, 50) * 1000:7.1f} ms  "
                f"p95={pct(v, 95) * 1000:7.1f} ms  max={max(v) * 1000:7.1f} ms  "
                f"failed={self.failed.get(kind, 0)}")


class Conn:
    """One participant's keep-alive HTTP/1.1 connection (a phone keeps one open, too).

    A minimal client on asyncio streams: the load generator must cost less CPU than the server
    it measures (httpx spends several times the server's CPU at this concurrency)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: object = None,
                      headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        data = b"" if body is None else json.dumps(body).encode()
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        self.writer.write(f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\n"
                          f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
                          f"{extra}\r\n".encode() + data)
        assert self.reader is not None
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("closed")
        status = int(status_line.split()[1])
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def timed(stats: Stats, kind: str, coro) -> tuple[int, bytes] | None:
    t0 = time.perf_counter()
    try:
        status, body = await coro
    except (OSError, ConnectionError, asyncio.IncompleteReadError, ValueError):
        stats.add(kind, time.perf_counter() - t0, False)
        return None
    stats.add(kind, time.perf_counter() - t0, status == 200)
    return status, body


async def participant(host: str, port: int, code: str, stats: Stats, opened: asyncio.Event,
                      acked: dict, items: list[str], mode: str, tokens: list[str],
                      go: asyncio.Event, rng: random.Random) -> None:
    conn = Conn(host, port)
    try:
        await timed(stats, "page", conn.request("GET", f"/kit/live/s/{code}"))
        r = await timed(stats, "join", conn.request("POST", f"/kit/live/api/s/{code}/join", {}))
        if r is None or r[0] != 200:
            return
        token = json.loads(r[1])["token"]
        tokens.append(token)
        await opened.wait()
        r = await timed(stats, "state", conn.request(
            "GET", f"/kit/live/api/s/{code}/state?mine=1&token={token}"))
        rid = json.loads(r[1])["rounds"][0]["id"]
        values = {item: rng.randint(1, 5) for item in items}
        await go.wait()
        path = f"/kit/live/api/s/{code}/answer"
        if mode == "burst":
            r = await timed(stats, "answer", conn.request(
                "POST", path, {"token": token, "round": rid, "answers": values}))
            if r is not None and r[0] == 200:
                for item, v in values.items():
                    acked[(token, item)] = (float(v), time.perf_counter())
            return
        last_poll = time.perf_counter()
        for item, v in values.items():
            await asyncio.sleep(rng.uniform(0, 1.0))
            r = await timed(stats, "answer", conn.request(
                "POST", path, {"token": token, "round": rid, "answers": {item: v}}))
            if r is not None and r[0] == 200:
                acked[(token, item)] = (float(v), time.perf_counter())
            if time.perf_counter() - last_poll > 2:
                last_poll = time.perf_counter()
                await timed(stats, "state", conn.request(
                    "GET", f"/kit/live/api/s/{code}/state?token={token}"))
    finally:
        conn.close()


async def run_round(host: str, port: int, made: ls.CreatedSession, rid: int, n: int, mode: str,
                    items: list[str]) -> dict:
    stats = Stats()
    acked: dict = {}
    tokens: list[str] = []
    opened, go = asyncio.Event(), asyncio.Event()
    rng = random.Random(7)
    tasks = [asyncio.create_task(participant(host, port, made.code, stats, opened, acked, items,
                                             mode, tokens, go, rng)) for _ in range(n)]
    while len(stats.latency.get("join", [])) < n and not all(t.done() for t in tasks):
        await asyncio.sleep(0.05)
    headers = {"X-Kit-Key": made.key}
    console = Conn(host, port)
    status, body = await console.request("POST", f"/kit/live/api/console/{made.code}/round",
                                         {"round": rid, "action": "open"}, headers)
    assert status == 200, body
    opened.set()
    while len(stats.latency.get("state", [])) < len(tokens) and not all(t.done() for t in tasks):
        await asyncio.sleep(0.05)
    t_start = time.perf_counter()
    go.set()
    await asyncio.wait_for(asyncio.gather(*tasks), TIME_LIMIT)
    t_end = max((t for _, t in acked.values()), default=time.perf_counter())
    # the facilitator's view: the console's data API, polled until every answer shows
    visible_after = float("nan")
    while time.perf_counter() - t_end < 30:
        status, body = await console.request("GET", f"/kit/live/api/console/{made.code}/state",
                                             None, headers)
        rnd = next(x for x in json.loads(body)["rounds"] if x["id"] == rid)
        if rnd["answers"] >= len(acked):
            visible_after = time.perf_counter() - t_end
            break
        await asyncio.sleep(0.05)
    # revealed: every phone fetches the published results at once (the step rule's cost)
    status, body = await console.request("POST", f"/kit/live/api/console/{made.code}/round",
                                         {"round": rid, "action": "reveal"}, headers)
    assert status == 200, body
    await asyncio.sleep(0.6)  # the state cache notices the new revision

    async def revealed(token: str) -> None:
        conn = Conn(host, port)
        try:
            r = await timed(stats, "results", conn.request(
                "GET", f"/kit/live/api/s/{made.code}/state?token={token}"))
            if r is None or b'"published": {"version": 1' not in r[1]:
                stats.failed["results"] = stats.failed.get("results", 0) + 1
        finally:
            conn.close()

    await asyncio.wait_for(asyncio.gather(*(revealed(tok) for tok in tokens)), TIME_LIMIT)
    console.close()
    return {"stats": stats, "acked": acked, "tokens": tokens, "seconds": t_end - t_start,
            "visible_after": visible_after}


class EventReader:
    """One server-sent event stream on asyncio streams (a phone or the projector)."""

    def __init__(self, host: str, port: int, path: str, parse: bool = True) -> None:
        self.host, self.port, self.path = host, port, path
        self.events: list[tuple[float, str]] = []  # (arrival, data) of every state event
        self.parse = parse  # a phone only counts its events: the client must stay cheap
        self.count = 0
        self.tail = b""
        self.status = 0
        self.task: asyncio.Task | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port,
                                                                 limit=1 << 22)
        self.writer.write(f"GET {self.path} HTTP/1.1\r\nHost: {self.host}\r\n"
                          "Accept: text/event-stream\r\n\r\n".encode())
        self.status = int((await self.reader.readline()).split()[1])
        while (await self.reader.readline()) not in (b"\r\n", b""):
            pass
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        event, data = "", []
        try:
            while not self.parse:
                chunk = await self.reader.read(1 << 16)
                if not chunk:
                    return
                self.count += chunk.count(b"event: state")
                self.tail = (self.tail + chunk)[-(1 << 16):]
            while True:
                line = await self.reader.readline()
                if not line:
                    return
                text = line.decode().rstrip("\r\n")
                if text.startswith("event:"):
                    event = text[6:].strip()
                elif text.startswith("data:"):
                    data.append(text[5:].strip())
                elif not text and data:
                    if event == "state":
                        self.events.append((time.perf_counter(), "\n".join(data)))
                    event, data = "", []
        except (OSError, asyncio.CancelledError):
            return

    def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
        self.writer.close()


def results_of(data: str) -> str:
    """The part of a projector state that is its results (what 'final state' compares)."""
    body = json.loads(data)
    res = body.get("results") or {}
    res.pop("published", None)
    return json.dumps({"results": res, "answered": (body.get("round") or {}).get("answered")},
                      sort_keys=True)


def first_final(seen: list[tuple[float, str]]) -> float | None:
    """When ``seen`` (time, results) first showed what it showed last."""
    if not seen:
        return None
    final = seen[-1][1]
    at = seen[-1][0]
    for t, res in reversed(seen):
        if res != final:
            break
        at = t
    return at


async def interaction_round(host: str, port: int, made: ls.CreatedSession, n: int,
                            mode: str, settings) -> dict:
    """A word-cloud or Q&A round with n phones on event streams, a pushed projector and a
    polling projector; see the module's docstring."""
    stats = Stats()
    rng = random.Random(11)
    headers = {"X-Kit-Key": made.key}
    console = Conn(host, port)
    exercise = "wordcloud" if mode == "wordcloud" else "qa"
    config = {"question": "bench", "words": 3} if mode == "wordcloud" else {"question": "bench"}
    status, body = await console.request("POST", f"/kit/live/api/console/{made.code}/round",
                                         {"action": "add_round", "exercise": exercise,
                                          "config": config}, headers)
    assert status == 200, body
    rid = json.loads(body)["round"]["id"]
    status, body = await console.request("POST", f"/kit/live/api/console/{made.code}/round",
                                         {"round": rid, "action": "reveal"}, headers)
    assert status == 200, body
    conns = [Conn(host, port) for _ in range(n)]
    tokens: list[str] = []
    for c in conns:
        r = await timed(stats, "join", c.request("POST", f"/kit/live/api/s/{made.code}/join", {}))
        tokens.append(json.loads(r[1])["token"])
    streams = [EventReader(host, port, f"/kit/live/api/s/{made.code}/events?token={t}&lang=en",
                           parse=False) for t in tokens]
    for st in streams:
        await st.open()
    ticket = ls.projector_ticket(repo.get_session(open_store(settings), made.code))
    projector = EventReader(host, port, f"/kit/live/api/p/{made.code}/events?t={ticket}&lang=en")
    await projector.open()
    polled: list[tuple[float, str]] = []
    stop = asyncio.Event()

    async def poll_projector() -> None:  # the baseline: the projector polling every second
        c = Conn(host, port)
        while not stop.is_set():
            r = await timed(stats, "poll", c.request(
                "GET", f"/kit/live/api/p/{made.code}/state?t={ticket}&lang=en"))
            if r is not None and r[0] == 200:
                polled.append((time.perf_counter(), r[1].decode()))
            await asyncio.sleep(1.0)
        c.close()

    poller = asyncio.create_task(poll_projector())
    acked: dict = {}
    path = f"/kit/live/api/s/{made.code}/answer"
    words = ["trust", "speed", "focus", "silos", "courage", "budget", "users", "clarity",
             "time", "priorities", "energy", "openness"]

    async def writer(conn: Conn, token: str) -> None:
        for k in range(3):
            await asyncio.sleep(rng.uniform(0, 1.0))
            if mode == "wordcloud":
                answers = {"words": rng.sample(words, k + 1)}
            else:
                answers = {"entry": {"id": f"e{k}", "text": f"Entry {k} {rng.choice(words)}"}}
            r = await timed(stats, "answer", conn.request(
                "POST", path, {"token": token, "round": rid, "answers": answers}))
            if r is not None and r[0] == 200:
                acked[(token, k)] = (answers, time.perf_counter())

    t_start = time.perf_counter()
    await asyncio.wait_for(asyncio.gather(*(writer(c, t) for c, t in zip(conns, tokens,
                                                                          strict=True))),
                           TIME_LIMIT)
    if mode == "qa":  # the facilitator allows 30 entries of the published version
        await asyncio.sleep(0.3)
        status, body = await console.request("GET", f"/kit/live/api/console/{made.code}/state",
                                             None, headers)
        rnd = next(x for x in json.loads(body)["rounds"] if x["id"] == rid)
        entries = [e["id"] for e in rnd["results"]["entries"]][:30]
        for eid in entries:
            await console.request("POST", f"/kit/live/api/console/{made.code}/round",
                                  {"round": rid, "action": "approve", "entry": eid}, headers)
        await asyncio.sleep(0.6)  # the state cache notices the new revision

        async def voter(conn: Conn, token: str) -> None:
            for k, eid in enumerate(rng.sample(entries, min(10, len(entries)))):
                await asyncio.sleep(rng.uniform(0, 0.5))
                r = await timed(stats, "answer", conn.request(
                    "POST", path, {"token": token, "round": rid, "answers": {"vote": eid}}))
                if r is not None and r[0] == 200:
                    acked[(token, f"vote{k}")] = ({"vote": eid}, time.perf_counter())

        await asyncio.wait_for(asyncio.gather(*(voter(c, t) for c, t in zip(conns, tokens,
                                                                             strict=True))),
                               TIME_LIMIT)
    t_end = max((t for _, t in acked.values()), default=time.perf_counter())
    await asyncio.sleep(4.0)  # quiet: whatever the projector shows now is the final state
    stop.set()
    await poller
    pushed = [(t, results_of(d)) for t, d in projector.events]
    pulled = [(t, results_of(d)) for t, d in polled]
    push_at, poll_at = first_final(pushed), first_final(pulled)
    final_same = bool(pushed and pulled and pushed[-1][1] == pulled[-1][1])
    last = [st.tail.rsplit(b"event: state", 1)[-1] for st in streams]
    phones_with_results = sum(1 for tail in last if b'"results"' in tail)
    phone_events = sum(st.count for st in streams)
    for st in [*streams, projector]:
        st.close()
    for c in [*conns, console]:
        c.close()
    return {"stats": stats, "acked": acked, "rid": rid, "seconds": t_end - t_start,
            "push_after": (push_at - t_end) if push_at else float("nan"),
            "poll_after": (poll_at - t_end) if poll_at else float("nan"),
            "final_same": final_same, "projector_events": len(projector.events),
            "phones_with_results": phones_with_results, "streams": len(streams),
            "phone_events": phone_events,
            "stream_status": {st.status for st in streams}}


def lost_interactions(store, rid: int, mode: str, acked: dict) -> int:
    """Acknowledged answers missing from the store: a word cloud's last acknowledged words
    per participant, every acknowledged Q&A entry and vote."""
    from sqlalchemy import select

    a, p = lt.live_answers, lt.live_participants
    with store.begin() as conn:
        rows = conn.execute(select(p.c.token, a.c.question, a.c.text)
                            .join(p, p.c.id == a.c.participant_id)
                            .where(a.c.round_id == rid)).all()
    have: dict[str, dict[str, str | None]] = {}
    for token, q, text in rows:
        have.setdefault(token, {})[q] = text
    lost = 0
    if mode == "wordcloud":
        last: dict[str, tuple[float, list[str]]] = {}
        for (token, _), (answers, at) in acked.items():
            if token not in last or at > last[token][0]:
                last[token] = (at, answers["words"])
        for token, (_, words) in last.items():
            got = sorted(v for k, v in have.get(token, {}).items() if k.startswith("word:"))
            lost += 0 if got == sorted(words) else 1
        return lost
    for (token, _), (answers, _at) in acked.items():
        mine = have.get(token, {})
        if "entry" in answers:
            lost += mine.get("entry:" + answers["entry"]["id"]) != answers["entry"]["text"]
        else:
            lost += f"vote:{answers['vote']}" not in mine
    return lost


async def waiting_cost(host: str, port: int, made: ls.CreatedSession, pid: int, n: int,
                       seconds: float = 5.0) -> dict:
    """Server CPU while n phones wait: holding event streams vs polling every 2 s."""
    conns = [Conn(host, port) for _ in range(n)]
    tokens = []
    for c in conns:
        status, body = await c.request("POST", f"/kit/live/api/s/{made.code}/join", {})
        tokens.append(json.loads(body)["token"])
    streams = [EventReader(host, port, f"/kit/live/api/s/{made.code}/events?token={t}",
                           parse=False) for t in tokens]
    for st in streams:
        await st.open()
    await asyncio.sleep(1.0)
    cpu0 = cpu_seconds(pid)
    await asyncio.sleep(seconds)
    push_cpu = cpu_seconds(pid) - cpu0
    for st in streams:
        st.close()
    requests = 0

    async def poller(c: Conn, token: str) -> None:
        nonlocal requests
        await asyncio.sleep(random.uniform(0, 2))
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            await c.request("GET", f"/kit/live/api/s/{made.code}/state?token={token}")
            requests += 1
            await asyncio.sleep(2.0)

    cpu0 = cpu_seconds(pid)
    await asyncio.gather(*(poller(c, t) for c, t in zip(conns, tokens, strict=True)))
    poll_cpu = cpu_seconds(pid) - cpu0
    for c in conns:
        c.close()
    return {"push_cpu": push_cpu, "poll_cpu": poll_cpu, "poll_requests": requests}


def lost_answers(store, rid: int, acked: dict) -> int:
    from sqlalchemy import select

    a, p = lt.live_answers, lt.live_participants
    with store.begin() as conn:
        rows = conn.execute(select(p.c.token, a.c.question, a.c.value)
                            .join(p, p.c.id == a.c.participant_id)
                            .where(a.c.round_id == rid)).all()
    have = {(t, q): v for t, q, v in rows}
    return sum(1 for key, (v, _) in acked.items() if have.get(key) != v)


def kernel_cost(base: str, server_pid: int, key: str = "") -> tuple[float, float] | None:
    """Render the facilitator notebook once (one real Voilà kernel): seconds and kernel RSS.
    ``key``: the kit's facilitator key (kit serve starts no console kernel without it)."""
    before = set(children(server_pid))
    t0 = time.perf_counter()
    try:
        r = httpx.get(f"{base}/voila/render/facilitator.ipynb?key={key}", timeout=120)
    except httpx.HTTPError:
        return None
    seconds = time.perf_counter() - t0
    if r.status_code != 200:
        return None
    kernels = [pid for pid in children(server_pid) if pid not in before]
    if not kernels:
        return None
    return seconds, sum(rss_mb(pid) for pid in kernels)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--participants", type=int, default=300)
    ap.add_argument("--standalone", action="store_true",
                    help="serve the live handlers alone instead of through 'kit serve'")
    ap.add_argument("--no-kernel", action="store_true", help="skip measuring a Voilà kernel")
    ap.add_argument("--modes", default="taps,burst,wordcloud,qa",
                    help="comma-separated: " + ", ".join(MODES))
    args = ap.parse_args()
    modes = [m for m in args.modes.split(",") if m in MODES]
    n = max(1, min(args.participants, 1000))
    home = Path(tempfile.mkdtemp(prefix="kit-bench-live-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIT_")}
    env.update({"KIT_HOME": str(home), "KIT_PORT": str(port), "KIT_HOST": "127.0.0.1",
                "KIT_LANGUAGE": "en"})
    settings = load_settings(home_dir=home, port=port, language="en")
    store = open_store(settings)
    store.save_group("bench", "Bench team")
    standalone = args.standalone or shutil.which("kit") is None
    if standalone:
        cmd = [sys.executable, "-m", "kit.live.server"]
    else:
        cmd = [sys.executable, "-m", "kit.cli", "serve", "--pool", "0", "--survey-pool", "0",
               "--facilitator-pool", "0"]
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 240  # a busy shared machine starts kit serve slowly
        while True:
            try:
                if httpx.get(f"{base}/kit/live/join", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                print("the server did not start", file=sys.stderr)
                return 1
            time.sleep(0.2)
        idle = rss_mb(proc.pid)
        load = Path("/proc/loadavg").read_text().split()[:3]
        print(f"machine: {os.cpu_count()} cores, load average {' '.join(load)} before the run "
              "(the client runs on the same cores as the server)")
        print(f"server: {'kit.live.server (standalone)' if standalone else 'kit serve'} "
              f"pid {proc.pid} on {base}; RSS idle {idle:.0f} MB; {n} participants")
        results = {}
        interactions = {}
        for mode in [m for m in modes if m in ("wordcloud", "qa")]:
            made = ls.create_session(store, settings, title=f"bench {mode}", group_ids=["bench"],
                                     exercises=["pulse"], expected=n)
            cpu0, me0 = cpu_seconds(proc.pid), time.process_time()
            res = asyncio.run(interaction_round("127.0.0.1", port, made, n, mode, settings))
            cpu1, me1 = cpu_seconds(proc.pid), time.process_time()
            res["lost"] = lost_interactions(store, res["rid"], mode, res["acked"])
            interactions[mode] = res
            st = res["stats"]
            print(f"\n== {mode}: {MODES[mode]} (load average {load_average()})")
            for kind in ("join", "answer", "poll"):
                print("  " + st.line(kind))
            print(f"  answers acknowledged: {len(res['acked'])} in {res['seconds']:.2f} s; "
                  f"lost: {res['lost']}")
            print(f"  event streams: {res['streams']} phones (HTTP {sorted(res['stream_status'])})"
                  f", {res['phones_with_results']} of them showing results at the end; "
                  f"{res['phone_events']} events to phones; projector got "
                  f"{res['projector_events']} events")
            print(f"  projector shows the final state {res['push_after'] * 1000:.0f} ms after "
                  f"the last answer (pushed); polling every 1 s (baseline): "
                  f"{res['poll_after'] * 1000:.0f} ms; same final state: {res['final_same']} "
                  "(negative: shown before the last acknowledgement, whose answers made no new "
                  "step of the published results)")
            print(f"  CPU used: server {cpu1 - cpu0:.1f} s, load client {me1 - me0:.1f} s; "
                  "server RSS now "
                  f"{rss_mb(proc.pid):.0f} MB, peak {rss_mb(proc.pid, 'VmHWM'):.0f} MB")
        if interactions:
            made = ls.create_session(store, settings, title="bench waiting", group_ids=["bench"],
                                     exercises=["pulse"], expected=n)
            wait = asyncio.run(waiting_cost("127.0.0.1", port, made, proc.pid, n))
            print(f"\n== {n} phones waiting 5 s: server CPU {wait['push_cpu']:.2f} s holding "
                  f"event streams (0 requests) vs {wait['poll_cpu']:.2f} s polling every 2 s "
                  f"({wait['poll_requests']} requests) = "
                  f"{wait['push_cpu'] / max(wait['poll_cpu'], 1e-9):.2f}x the polling baseline")
        for mode in [m for m in modes if m in ("taps", "burst")]:
            made = ls.create_session(store, settings, title=f"bench {mode}", group_ids=["bench"],
                                     exercises=["pulse"], expected=n)  # a plenary of n
            rid = repo.list_rounds(store, made.session_id)[0]["id"]
            items = list(load_instrument("pulse").item_ids)
            cpu0, me0 = cpu_seconds(proc.pid), time.process_time()
            res = asyncio.run(run_round("127.0.0.1", port, made, rid, n, mode, items))
            cpu1, me1 = cpu_seconds(proc.pid), time.process_time()
            lost = lost_answers(store, rid, res["acked"])
            res["lost"] = lost
            results[mode] = res
            st = res["stats"]
            print(f"\n== {mode}: {MODES[mode]} (load average {load_average()})")
            for kind in ("page", "join", "state", "answer", "results"):
                print("  " + st.line(kind))
            rate = len(res["acked"]) / res["seconds"]
            print(f"  answers acknowledged: {len(res['acked'])} of {n * len(items)} "
                  f"in {res['seconds']:.2f} s = {rate:.0f} answers/s")
            print(f"  answers lost: {lost}")
            print(f"  CPU used: server {cpu1 - cpu0:.1f} s, load client {me1 - me0:.1f} s")
            print(f"  facilitator's view shows all answers {res['visible_after'] * 1000:.0f} ms "
                  "after the last acknowledgement (console API; the console notebook reads the "
                  "store when the server pushes a change, every 1 s only without a stream)")
            print(f"  server RSS now {rss_mb(proc.pid):.0f} MB, "
                  f"peak {rss_mb(proc.pid, 'VmHWM'):.0f} MB")
        peak = rss_mb(proc.pid, "VmHWM")
        if not args.no_kernel and not standalone:
            cost = kernel_cost(base, proc.pid, ls.facilitator_key(settings))
            if cost:
                sec, mb = cost
                print(f"\none Voilà kernel (facilitator.ipynb rendered through the same server): "
                      f"{sec:.1f} s to first page, {mb:.0f} MB RSS")
                print(f"300 such kernels would need about {300 * mb / 1024:.1f} GB and "
                      f"{300 * sec / 60:.0f} kernel-minutes to start (measured one, multiplied)")
                print(f"the live server served {n} participants with a peak RSS of {peak:.0f} MB")
        print(f"\nload average after the run: {' '.join(f'{x:.2f}' for x in os.getloadavg())} "
              f"({os.cpu_count()} cores, shared with other work)")
        peak = rss_mb(proc.pid, "VmHWM")
        ok = all(pct(r["stats"].latency["answer"], 95) < 0.5 and r["lost"] == 0
                 and r["visible_after"] < 2 for r in results.values()) and peak < 500
        ok = ok and all(pct(r["stats"].latency["answer"], 95) < 0.5 and r["lost"] == 0
                        and r["push_after"] < 1 for r in interactions.values())
        print("\ntargets (p95 < 500 ms, 0 lost, visible < 2 s, projector final state < 1 s "
              "after the last answer, memory < 500 MB): " + ("met" if ok else "NOT met"))
        return 0 if ok else 1
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
