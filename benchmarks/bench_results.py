"""Benchmark: one group's results from published snapshots versus scoring every group's answers.

    python benchmarks/bench_results.py [--repeat 20]

Makes the demo (16 programme groups, 64 norm groups, published) in a temporary home, then times
``kit.results.group_results`` for one group three ways, in the same run:

- **before** (the baseline, what the kit did until snapshots): load every response of the
  instrument, score and protect them all (``score_responses`` + ``protect``), as
  ``load_scored_data`` did for each report and dashboard reload;
- **cold**: ``group_results`` from snapshots in a process that has read nothing yet (published
  dimension rows of every group, pooled statistics, the group's own snapshot);
- **warm**: ``group_results`` again after nothing was published (the comparison rows come from the
  per-stamp cache: two small queries plus the group's own snapshot).

Prints the median seconds of each, the ratios against the baseline, and the load average (the
machine is shared).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    from kit import results
    from kit.demo import make_demo
    from kit.instrument import load_instrument
    from kit.privacy import AnonymityRules, protect
    from kit.scoring import score_responses
    from kit.settings import Settings
    from kit.store import open_store

    home = Path(tempfile.mkdtemp(prefix="kit-bench-results-"))
    settings = Settings(home_dir=home, database_url="")
    t0 = time.perf_counter()
    make_demo(settings, seed=2024)
    print(f"demo made and published in {time.perf_counter() - t0:.1f} s")
    store = open_store(settings)
    inst = load_instrument("lagprofil")
    group = "k1-kystverket"

    def before() -> None:  # the old path: every answer loaded, scored and protected
        table = store.load_responses(inst)
        protect(score_responses(table, inst), AnonymityRules.from_settings(settings))

    def cold() -> None:
        results._CACHE.clear()
        results.group_results(store, settings, group, ["before", "after"], "en", inst)

    def warm() -> None:
        results.group_results(store, settings, group, ["before", "after"], "en", inst)

    warm()  # imports and the first cache entry
    timings = {}
    for name, fn in (("before", before), ("cold", cold), ("warm", warm)):
        runs = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            fn()
            runs.append(time.perf_counter() - t)
        timings[name] = statistics.median(runs)
    base = timings["before"]
    print(f"load average: {os.getloadavg()}")
    print(f"scoring every group (baseline): {base * 1000:.0f} ms (median of {args.repeat})")
    for name in ("cold", "warm"):
        t = timings[name]
        print(f"group_results from snapshots, {name}: {t * 1000:.0f} ms, {base / t:.1f}x faster")
    print("note: the baseline is only the scoring; the old group_results added its own work on top")


if __name__ == "__main__":
    main()
