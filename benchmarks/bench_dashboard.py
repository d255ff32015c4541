"""Time to a rendered chart in the group dashboard, in headless Chromium: cold and warm.

Cold: ``kit serve`` without preheated kernels - each opening starts a kernel and runs the whole
notebook. Warm: preheated kernels (``--pool 2``) - each opening waits, as a viewer arriving at a
quiet server would, until a preheated kernel is ready (``/kit/status``), then opens the page.
The time runs from navigation to the profile chart's ``<svg>`` in the page (the first view is
written into the page as static HTML, shown before the widgets load) and, separately, to the
live widgets' chart (the dashboard is interactive). One browser profile per phase, as a viewer's
own browser: the first opening fetches Voilà's scripts, later ones find them in the HTTP cache.
Target: warm median under 2 s.

    python benchmarks/bench_dashboard.py                 # small demo in a temporary home
    python benchmarks/bench_dashboard.py --home DIR      # an existing home with demo data
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

from kit.apps.keys import create_key
from kit.apps.launch import ServedKit
from kit.settings import CHROMIUM_ARGS, load_settings
from kit.store import open_store

CHROMIUM = "/usr/bin/chromium"
# the first view's chart: the static copy shown at once, or the live one
CHART = "#kit-first-view [data-kit-chart=profile] svg, .kit-dashboard [data-kit-chart=profile] svg"
LIVE_CHART = ".kit-dashboard [data-kit-chart=profile] svg"  # the live widgets' chart


def demo_key(home: Path, make: bool) -> str:
    settings = load_settings(home_dir=home, database_url="")
    if make:
        from kit.demo import make_demo

        make_demo(settings, seed=1, small=True)
    store = open_store(settings)
    gw = store.list_group_waves()
    groups = store.list_groups()
    programme = set(groups.loc[groups["cohort_id"].notna(), "id"])
    group = str(gw[gw["group_id"].isin(programme) & (gw["respondents"] >= 5)]["group_id"].iloc[0])
    return create_key(store, group, expires_days=1, label="benchmark").key


POOL = 2


def time_openings(
    kit: ServedKit, key: str, runs: int, warm: bool, ready: int = 1
) -> tuple[list[float], list[float]]:
    """Seconds to the first chart and to the live (interactive) dashboard, per opening.

    ``warm``: before each opening wait until ``ready`` preheated kernels are waiting.
    """
    url = kit.url(f"/voila/render/group_dashboard.ipynb?key={key}")
    times, live = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=list(CHROMIUM_ARGS))
        context = browser.new_context(viewport={"width": 1200, "height": 900})
        for i in range(runs):
            if warm:
                kit.wait_ready("group_dashboard.ipynb", ready)
            page = context.new_page()
            start = time.perf_counter()
            page.goto(url, wait_until="commit", timeout=180_000)
            page.wait_for_selector(CHART, timeout=180_000)
            elapsed = time.perf_counter() - start
            page.wait_for_selector(LIVE_CHART, timeout=180_000)
            interactive = time.perf_counter() - start
            times.append(elapsed)
            live.append(interactive)
            print(
                f"  {'warm' if warm else 'cold'} {i + 1:2d}: chart {elapsed:6.2f} s, "
                f"interactive {interactive:6.2f} s",
                flush=True,
            )
            page.close()  # Voilà shuts the page's kernel down
        context.close()
        browser.close()
    return times, live


def report(label: str, times: list[float]) -> str:
    return (
        f"{label}: median {statistics.median(times):.2f} s  (min {min(times):.2f}, "
        f"max {max(times):.2f}, n={len(times)})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, help="kit home with demo data (default: a new one)")
    parser.add_argument("--runs", type=int, default=10, help="warm openings (default 10)")
    parser.add_argument("--cold-runs", type=int, default=10, help="cold openings (default 10)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="kit-bench-") as tmp:
        home = args.home or Path(tmp)
        key = demo_key(home, make=args.home is None)
        results = {}
        if args.cold_runs:
            print("cold (no preheated kernels):", flush=True)
            with ServedKit(home, pools=(0, 0, 0)) as kit:
                results["cold"], results["cold, interactive"] = time_openings(
                    kit, key, args.cold_runs, warm=False
                )
        with ServedKit(home, pools=(POOL, 0, 0)) as kit:
            print(f"warm (preheated kernels, --pool {POOL}, pool full before each opening: "
                  "a viewer arriving at an idle server):", flush=True)
            results["warm"], results["warm, interactive"] = time_openings(
                kit, key, args.runs, warm=True, ready=POOL
            )
            print("warm, back to back (one kernel ready; the pool refills on the same 2 cores "
                  "while the next viewer arrives):", flush=True)
            results["warm back to back"], _ = time_openings(
                kit, key, args.runs, warm=True, ready=1
            )
    print()
    for label, times in results.items():
        print(report(label, times))
    warm = statistics.median(results["warm"])
    busy = statistics.median(results["warm back to back"])
    print(f"target: warm median < 2 s to a rendered chart: {'met' if warm < 2 else 'NOT met'}"
          f" (idle server); back to back: {'met' if busy < 2 else 'NOT met'}")
    print("(machine load now: " + " ".join(f"{x:.1f}" for x in os.getloadavg()) + ")")
    return 0


if __name__ == "__main__":
    sys.exit(main())
