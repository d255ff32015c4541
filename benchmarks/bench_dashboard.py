"""N leaders opening their group dashboards within the same second: the kit's own page
(``/kit/dashboard``, no kernel) against today's Voilà-per-viewer path, in the same run.

For each N (default 1, 8, 32, 64), N keys of N different groups (the full demo: 16 programme
groups and 60+ norm-base groups) are made, as a facilitator sends the links before a gathering;
a fresh ``kit serve`` builds those groups' pages in the background at start (the time is
printed); then the N open at once ("prepared") and once more ("again"). "new keys": N new keys
for N other groups, made while the server runs once it has built the pages of every group with
published results in the background (the time is printed), opened at once; "cold": the same N
right after the data changed (a group added: every built page is stale, so each is built on its
first request, while the background warming starts over). Both only where the demo has 2N
groups. While the viewers load, a probe asks the server a trivial question every 0.1 s ("other
requests meanwhile": how long a live round's answers or the survey would wait). All N start at
the same instant:

- a few viewers (``--browsers``, default 4) are real headless Chromium pages, each in its own
  profile (empty cache: it downloads the page's scripts): time from navigation until the first
  chart is drawn (``[data-kit-spec=profile][data-kit-drawn] svg``);
- the rest are a light HTTP client in **another process** (one thread per viewer, urllib):
  time until the page and every script and style it names are downloaded, so the load does not
  starve the server of CPU the way 64 browsers on 2 cores would.

Failures: a browser without a chart within ``--timeout`` s, an HTTP answer that is not 200 or has
no data. Server memory: the peak RSS of ``kit serve`` and every process under it (kernels),
sampled every 0.2 s. The baseline is the Voilà dashboard with today's defaults (``--pool 2``),
measured the same way (its HTML carries the first chart as static SVG, so the HTTP clients read
the whole streamed page; each one starts a kernel); at small N only (``--voila``, default 1,4),
as at 8 and more most viewers time out after 120 s. The load average is printed with the figures.

Each size runs once per ``--builders`` value (``KIT_PAGE_BUILDERS``: processes that build the
pages; 0 builds them on one thread of the server's own process, the baseline for the builders),
each on a fresh ``kit serve``.

    python benchmarks/bench_dashboard.py
    python benchmarks/bench_dashboard.py --sizes 1,8,32 --voila 1 --browsers 2
    python benchmarks/bench_dashboard.py --sizes 32 --voila '' --builders 0,1,2
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing as mp
import os
import re
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from kit.apps.keys import create_key, dashboard_url, explorer_url
from kit.apps.launch import ServedKit
from kit.settings import CHROMIUM_ARGS, load_settings
from kit.store import open_store

CHROMIUM = "/usr/bin/chromium"
PAGE_CHART = "[data-kit-spec=profile][data-kit-drawn] svg"
VOILA_CHART = (
    "#kit-first-view [data-kit-chart=profile] svg, .kit-dashboard [data-kit-chart=profile] svg"
)


# -- measuring ------------------------------------------------------------------------------------
def tree_rss(pid: int) -> int:
    """RSS in bytes of ``pid`` and all its descendants (from /proc)."""
    total, todo, seen = 0, [pid], set()
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            status = Path(f"/proc/{p}/status").read_text()
            m = re.search(r"VmRSS:\s+(\d+) kB", status)
            total += int(m.group(1)) * 1024 if m else 0
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(x) for x in (task / "children").read_text().split()]
        except OSError:
            continue
    return total


class Probe:
    """Asks the server a trivial question (``/kit/dashboard/status``, answered from memory)
    every 0.1 s while in use: how long its event loop keeps other requests (a live round's
    answers, the survey) waiting while pages are built."""

    def __init__(self, url: str, start_at: float) -> None:
        self.url, self.start_at, self.times = url, start_at, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        self._stop.wait(max(0.0, self.start_at - time.time()))
        while not self._stop.is_set():
            t0 = time.perf_counter()
            try:
                _fetch(self.url, 60)
            except OSError:
                continue
            self.times.append(time.perf_counter() - t0)
            self._stop.wait(0.1)

    def __enter__(self) -> Probe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=65)


class PeakMemory:
    """Samples the server's tree RSS every 0.2 s while in use."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._stop = pid, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_rss(self.pid))
            self._stop.wait(0.2)

    def __enter__(self) -> PeakMemory:
        self.peak = tree_rss(self.pid)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.peak = max(self.peak, tree_rss(self.pid))


def _fetch(url: str, timeout: float) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, b""


def http_viewer(url: str, voila: bool, start_at: float, timeout: float) -> tuple[bool, float]:
    """One light viewer: the page, then (kit page) the scripts and styles it names."""
    time.sleep(max(0.0, start_at - time.time()))
    t0 = time.perf_counter()
    try:
        status, body = _fetch(url, timeout)
        text = body.decode("utf-8", "replace")
        if voila:
            ok = status == 200 and 'data-kit-chart="profile"' in text and "<svg" in text
        else:
            ok = status == 200 and 'id="kit-dashboard-data"' in text
            base = url.split("/kit/", 1)[0]
            for asset in re.findall(r'(?:src|href)="(/kit/static/[^"]+)"', text):
                ok = ok and _fetch(base + asset.replace("&amp;", "&"), timeout)[0] == 200
    except Exception:  # noqa: BLE001 - a timeout or a reset is a failure to count
        ok = False
    return ok, time.perf_counter() - t0


def http_load(urls: list[str], voila: bool, start_at: float, timeout: float, out: mp.Queue) -> None:
    """The light clients, in a process of their own: one thread per viewer."""
    results: list[tuple[bool, float]] = [(False, 0.0)] * len(urls)

    def run(i: int, u: str) -> None:
        results[i] = http_viewer(u, voila, start_at, timeout)

    threads = [threading.Thread(target=run, args=(i, u)) for i, u in enumerate(urls)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    out.put(results)


async def browser_viewers(
    urls: list[str], selector: str, start_at: float, timeout: float
) -> list[tuple[bool, float]]:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=list(CHROMIUM_ARGS))
        contexts = [
            await browser.new_context(viewport={"width": 1200, "height": 900}) for _ in urls
        ]
        pages = [await c.new_page() for c in contexts]

        async def one(page, url: str) -> tuple[bool, float]:
            await asyncio.sleep(max(0.0, start_at - time.time()))
            t0 = time.perf_counter()
            try:
                await page.goto(url, wait_until="commit", timeout=timeout * 1000)
                await page.wait_for_selector(selector, timeout=timeout * 1000)
                return True, time.perf_counter() - t0
            except Exception:  # noqa: BLE001 - a timeout is a failure to count
                return False, time.perf_counter() - t0

        results = await asyncio.gather(*(one(pg, u) for pg, u in zip(pages, urls, strict=True)))
        for c in contexts:
            await c.close()
        await browser.close()
    return list(results)


@dataclass
class Figures:
    label: str
    n: int
    browser: list[tuple[bool, float]] = field(default_factory=list)
    http: list[tuple[bool, float]] = field(default_factory=list)
    peak_rss: int = 0
    load: tuple[float, float, float] = (0.0, 0.0, 0.0)
    probe: list[float] = field(default_factory=list)

    def line(self) -> str:
        every = self.browser + self.http
        times = sorted(s for ok, s in every if ok)
        failed = sum(not ok for ok, _ in every)
        chart = sorted(s for ok, s in self.browser if ok)

        def pct(xs: list[float], q: float) -> str:
            if not xs:
                return "   –  "
            return f"{xs[min(len(xs) - 1, max(0, round(q * len(xs)) - 1))]:6.2f}"

        return (
            f"{self.label:<22} N={self.n:<3} served {len(times):>3}/{self.n:<3} failed {failed:>3}"
            f" | all: p50 {pct(times, 0.5)} p95 {pct(times, 0.95)} max {pct(times, 1)} s"
            f" | browser to chart: p50 {pct(chart, 0.5)} max {pct(chart, 1)} s"
            f" ({len(self.browser)} pages)"
            f" | server peak {self.peak_rss / 2**20:7.0f} MB"
            + (
                f" | other requests meanwhile p95 {pct(sorted(self.probe), 0.95).strip()} s"
                f" max {pct(sorted(self.probe), 1).strip()} s"
                if self.probe
                else ""
            )
            + f" | load {' '.join(f'{x:.1f}' for x in self.load)}"
        )


def open_all(
    kit: ServedKit, urls: list[str], browsers: int, voila: bool, timeout: float, label: str
) -> Figures:
    """All ``urls`` opened at one instant: ``browsers`` in Chromium, the rest over HTTP."""
    start_at = time.time() + 3.0
    b_urls, h_urls = urls[:browsers], urls[browsers:]
    fig = Figures(label, len(urls))
    queue: mp.Queue = mp.get_context("spawn").Queue()
    proc = None
    probe = Probe(kit.url("/kit/dashboard/status"), start_at)
    with PeakMemory(kit.process.pid) as mem, probe:  # type: ignore[union-attr]
        if h_urls:
            proc = mp.get_context("spawn").Process(
                target=http_load, args=(h_urls, voila, start_at, timeout, queue)
            )
            proc.start()
        if b_urls:
            selector = VOILA_CHART if voila else PAGE_CHART
            fig.browser = asyncio.run(browser_viewers(b_urls, selector, start_at, timeout))
        if proc is not None:
            fig.http = queue.get(timeout=timeout + 60)
            proc.join(timeout=30)
    fig.peak_rss = mem.peak
    fig.probe = probe.times
    fig.load = os.getloadavg()
    print(fig.line(), flush=True)
    return fig


@contextlib.contextmanager
def started(kit: ServedKit, timeout: float = 600):
    """``kit`` started with a patient timeout (a shared machine can be slow), stopped after."""
    try:
        kit.start(timeout=timeout)
        yield kit
    finally:
        kit.stop()


def wait_voila(kit: ServedKit, count: int, timeout: float) -> None:
    """Until ``count`` preheated dashboard kernels are ready (a busy server may not answer)."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        try:
            if kit.status().get("group_dashboard.ipynb", {}).get("ready", 0) >= count:
                return
        except OSError:
            pass
        time.sleep(1.0)
    raise SystemExit(f"no {count} preheated Voilà kernels within {timeout:.0f} s")


def wait_pages(kit: ServedKit, n: int, timeout: float) -> float:
    """Seconds until the server has built ``n`` pages (``/kit/dashboard/status``)."""
    import json

    start = time.monotonic()
    while time.monotonic() - start < timeout:
        try:
            status, body = _fetch(kit.url("/kit/dashboard/status"), 30)
        except OSError:  # a busy machine: ask again
            continue
        if status == 200 and json.loads(body)["pages"] >= n:
            return time.monotonic() - start
        time.sleep(0.5)
    raise SystemExit(f"the server did not build {n} pages within {timeout:.0f} s")


# -- the data -------------------------------------------------------------------------------------
def groups_with_results(home: Path) -> list[str]:
    """Groups whose every wave is shown (the page opens on the latest wave; a group whose latest
    wave is hidden rightly opens on its notice, with no chart to time): programme groups
    first, then the norm base."""
    store = open_store(load_settings(home_dir=home, database_url=""))
    gw = store.list_group_waves()
    groups = store.list_groups()
    hidden = set(gw.loc[gw["respondents"] < 5, "group_id"])
    ok = set(gw.loc[gw["respondents"] >= 5, "group_id"]) - hidden
    programme = [g for g in groups.loc[groups["cohort_id"].notna(), "id"] if g in ok]
    norm = [g for g in groups.loc[groups["cohort_id"].isna(), "id"] if g in ok]
    return programme + norm


def make_keys(home: Path, groups: list[str]) -> list[tuple[int, str]]:
    store = open_store(load_settings(home_dir=home, database_url=""))
    issued = [create_key(store, g, expires_days=1, label="benchmark") for g in groups]
    return [(k.id, k.key) for k in issued]


def published_groups(home: Path) -> int:
    """How many groups have published results (the server keeps all their pages built)."""
    from kit.store.publications import list_publications

    store = open_store(load_settings(home_dir=home, database_url=""))
    return int(list_publications(store)["group_id"].nunique())


def change_data(home: Path) -> None:
    """A new data version (a group added, as an import does): every built page is stale."""
    store = open_store(load_settings(home_dir=home, database_url=""))
    n = len(store.list_groups())
    store.save_group(f"bench-new-{n}", f"Benchmark {n}", in_norm_base=False)


def revoke_keys(home: Path, keys: list[tuple[int, str]]) -> None:
    """So the next server's background warming does not build these groups' pages early."""
    from kit.store import access as repo

    store = open_store(load_settings(home_dir=home, database_url=""))
    for key_id, _ in keys:
        repo.revoke_key(store, key_id)


# -- the run --------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, help="kit home with the demo (default: a new one)")
    parser.add_argument("--sizes", default="1,8,32,64", help="viewers at once (default 1,8,32,64)")
    parser.add_argument("--voila", default="1,4", help="baseline sizes ('' to skip)")
    parser.add_argument("--browsers", type=int, default=4, help="real browser pages per size")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds a viewer waits")
    parser.add_argument(
        "--builders",
        default="0,1",
        help="page builder processes to compare (KIT_PAGE_BUILDERS; 0: a thread of the server)",
    )
    args = parser.parse_args(argv)
    sizes = [int(x) for x in args.sizes.split(",") if x]
    builders = [int(x) for x in args.builders.split(",") if x]
    voila_sizes = [int(x) for x in args.voila.split(",") if x]
    print(
        "Load: all N viewers start at one instant; "
        f"min(N, {args.browsers}) are headless Chromium pages (own profile, empty cache; time "
        "to the first drawn chart), the others a light HTTP client in a separate process (one "
        "thread each; time to the page and its scripts and styles). Each size on a fresh kit "
        "serve (see the docstring for prepared / again / cold).",
        flush=True,
    )
    print(f"(load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())})", flush=True)
    with tempfile.TemporaryDirectory(prefix="kit-bench-") as tmp:
        home = args.home or Path(tmp)
        if args.home is None:
            from kit.demo import make_demo

            make_demo(load_settings(home_dir=home, database_url=""), seed=1)
        groups = groups_with_results(home)
        if max(sizes + voila_sizes) > len(groups):
            print(f"note: {len(groups)} groups with results; larger N reuse groups (new keys)")
        base_groups = [groups[i % len(groups)] for i in range(max(sizes + voila_sizes))]
        figures: list[Figures] = []
        for n, b in [(n, b) for n in sizes for b in builders]:
            # keys handed out before the gathering: the server builds their pages at start
            keys = make_keys(home, base_groups[:n])
            env = {"KIT_PAGE_BUILDERS": str(b)}
            tag = f"{b} builder{'s' if b != 1 else ''}" if b else "builds on a server thread"
            with started(ServedKit(home, pools=(0, 0, 0), env=env)) as kit:
                ready = wait_pages(kit, n, timeout=900)
                print(
                    f"  (N={n}, {tag}: {n} pages built in the background {ready:.0f} s after start)"
                )
                urls = [dashboard_url(kit.url(""), k) for _, k in keys]
                for label in ("kit page, prepared", "kit page, again"):
                    label = f"{label} ({tag})"
                    figures.append(open_all(kit, urls, args.browsers, False, args.timeout, label))
                revoke_keys(home, keys)
                # keys made while the server runs, for other groups (their pages are built
                # in the background because their results are published), then the same
                # right after the data changed (every page is built anew: first visits)
                others = [g for g in groups if g not in set(base_groups[:n])][:n]
                if len(others) == n:
                    every = published_groups(home)
                    ready = wait_pages(kit, every, timeout=900)
                    print(f"  (all {every} published groups' pages built {ready:.0f} s later)")
                    fresh = make_keys(home, others)
                    urls = [dashboard_url(kit.url(""), k) for _, k in fresh]
                    label = f"kit page, new keys ({tag})"
                    figures.append(open_all(kit, urls, args.browsers, False, args.timeout, label))
                    change_data(home)
                    time.sleep(2.5)  # the server asks for the data version every 2 s
                    label = f"kit page, cold ({tag})"
                    figures.append(open_all(kit, urls, args.browsers, False, args.timeout, label))
                    revoke_keys(home, fresh)
                else:
                    print(f"  (N={n}: cold not measured, fewer than {2 * n} groups with results)")
        for n in voila_sizes:
            with started(ServedKit(home, pools=(2, 1, 0))) as kit:  # today's defaults: --pool 2
                wait_voila(kit, 2, timeout=600)
                keys = make_keys(home, base_groups[:n])
                urls = [explorer_url(kit.url(""), k) for _, k in keys]
                label = "Voilà per viewer"
                figures.append(
                    open_all(kit, urls, min(args.browsers, n), True, args.timeout, label)
                )
                revoke_keys(home, keys)
    print()
    print("Summary (times in s from the common start; 'all' = browsers and HTTP clients):")
    for f in figures:
        print(f.line())
    page32 = [f for f in figures if f.label.startswith("kit page") and f.n >= 32]
    for f in page32:
        times = sorted(s for ok, s in f.browser + f.http if ok)
        p95 = times[min(len(times) - 1, max(0, round(0.95 * len(times)) - 1))] if times else 1e9
        met = len(times) == f.n and p95 < 5 and f.peak_rss < 3 * 2**30
        print(
            f"target (N={f.n}, {f.label}): all served, p95 < 5 s, server < 3 GB: "
            f"{'met' if met else 'NOT met'}"
        )
    print(f"(load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
