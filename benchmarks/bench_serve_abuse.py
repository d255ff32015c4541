"""What bad links and a dashboard viewer cost ``kit serve``: kernels started and memory (RSS).

1. ``kit serve --pool 1`` on a small demo; the server's and each kernel's RSS once the pool is
   ready (the baseline of this run).
2. 1,000 requests with bad keys (wrong, missing, expired; dashboard, survey and console links)
   from 8 light HTTP client threads, each with its own ``X-Forwarded-For`` address so that every
   refusal is checked rather than rate limited: kernels before/after, server RSS before/after.
3. One viewer opens a dashboard (plain HTTP, the page is read to its end): the RSS of the
   viewer's kernel against a preheated kernel's, and the server's.

    python benchmarks/bench_serve_abuse.py               # small demo in a temporary home
"""

from __future__ import annotations

import argparse
import itertools
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from kit.apps.keys import create_key
from kit.apps.launch import ServedKit
from kit.settings import load_settings
from kit.store import open_store


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def kernel_pids(server_pid: int) -> list[int]:
    out = subprocess.run(
        ["ps", "-o", "pid=,args=", "--ppid", str(server_pid)],
        capture_output=True,
        text=True,
        timeout=10,
    ).stdout
    return [int(line.split()[0]) for line in out.splitlines() if "ipykernel" in line]


def get(url: str, headers: dict[str, str]) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=60) as r:
            r.read()
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="kit-bench-abuse-"))
    settings = load_settings(home_dir=home, database_url="")
    from kit.demo import make_demo

    make_demo(settings, seed=1, small=True)
    store = open_store(settings)
    gw = store.list_group_waves()
    group = str(gw[gw["respondents"] >= 7]["group_id"].iloc[0])
    key = create_key(store, group, label="bench").key
    expired = create_key(store, group, expires_days=1e-6).key
    time.sleep(0.2)
    with ServedKit(home, pools=(1, 0, 0)) as kit:
        kit.wait_ready("group_dashboard.ipynb", timeout=600)
        pid = kit.process.pid  # type: ignore[union-attr]
        server_before = rss_mb(pid)
        before = kit.kernels()
        pool_rss = [rss_mb(k) for k in kernel_pids(pid)]
        links = [
            "/voila/render/group_dashboard.ipynb?key=wrong-key-0123456789",
            "/voila/render/group_dashboard.ipynb",
            f"/voila/render/group_dashboard.ipynb?key={expired}",
            "/voila/render/survey.ipynb?code=not-a-code",
            "/voila/render/facilitator.ipynb",
            "/voila/render/facilitator.ipynb?key=guess-0123456789",
        ]
        addresses = (f"10.{a}.{b}.{c}" for a, b, c in itertools.product(range(1, 250), repeat=3))
        jobs = [(links[n % len(links)], next(addresses)) for n in range(args.requests)]
        t0 = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(lambda j: get(kit.url(j[0]), {"X-Forwarded-For": j[1]}), jobs))
        seconds = time.perf_counter() - t0
        after = kit.kernels()
        server_after = rss_mb(pid)
        refused = sum(s in (403, 429) for s in statuses)
        print(f"load average {os.getloadavg()}; load: 8 urllib threads, no browser")
        print(
            f"bad links: {args.requests} requests in {seconds:.1f} s "
            f"({args.requests / seconds:.0f}/s), {refused} refused (403/429)"
        )
        print(
            f"kernels before/after: {before['live']} / {after['live']} "
            f"(viewers {before['viewers']} / {after['viewers']})"
        )
        print(
            f"server RSS before/after: {server_before:.0f} MB / {server_after:.0f} MB "
            f"({server_after / server_before:.2f}x)"
        )
        kernels_before = set(kernel_pids(pid))
        status = get(kit.url(f"/voila/render/group_dashboard.ipynb?key={key}"), {})
        time.sleep(2)
        viewer = [rss_mb(k) for k in kernel_pids(pid) if k in kernels_before]
        print(f"dashboard page: HTTP {status}")
        print(
            "preheated kernel RSS (pool ready): "
            + ", ".join(f"{r:.0f} MB" for r in pool_rss)
            + "; the same kernel serving its viewer: "
            + ", ".join(f"{r:.0f} MB" for r in viewer)
            + (f" ({viewer[0] / pool_rss[0]:.2f}x)" if viewer and pool_rss else "")
        )
        print(f"server RSS with one viewer: {rss_mb(pid):.0f} MB")
    sys.exit(0 if after["live"] == before["live"] else 1)


if __name__ == "__main__":
    main()
