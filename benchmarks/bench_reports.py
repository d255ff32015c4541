"""Benchmark: the demo's group reports with `kit report` versus the naive loop a user would write.

    python benchmarks/bench_reports.py [--naive-groups 4] [--workers N] [--keep DIR]

1. makes the demo (16 programme groups, 64 norm groups) in a temporary home;
2. `kit report` on a run file with the 16 group reports (HTML + PDF), from a cold start;
3. the naive way, for each group in turn: the `papermill` command, `jupyter nbconvert --to html
   --no-input`, and Chromium's `--print-to-pdf` - on ``--naive-groups`` groups (default 4) and
   extrapolated per group to all 16 (printed as such; use --naive-groups 16 for the real thing);
4. the floor: the same results, sections and charts in one process, no notebooks, no export.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kit.settings import CHROMIUM_ARGS

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = list(CHROMIUM_ARGS)


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIT_")}
    env["KIT_HOME"] = str(home)
    return env


def make_demo(home: Path) -> list[str]:
    env = _env(home)
    code = (
        "from kit.settings import load_settings; from kit.demo import make_demo; "
        "s = make_demo(load_settings(), seed=2024); print(s.programme_groups)"
    )
    subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True)
    import numpy as np

    from kit.demo import build_programme

    programme = build_programme(np.random.default_rng(2024))
    return [g.id for g in programme.programme_groups]


def run_kit_report(home: Path, groups: list[str], workers: int | None) -> float:
    run_file = home / "bench_groups.yaml"
    run_file.write_text(
        "name: bench\ntitle: Benchmark\nwaves: [before, after]\nreport_waves: [after]\n"
        f"groups: [{', '.join(groups)}]\n",
        encoding="utf-8",
    )
    cmd = [sys.executable, "-m", "kit.cli", "report", str(run_file), "--force", "--quiet"]
    if workers:
        cmd += ["--workers", str(workers)]
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=_env(home), capture_output=True, text=True, cwd=ROOT)
    seconds = time.perf_counter() - start
    print(proc.stdout.strip())
    if proc.returncode != 0:
        print(proc.stderr[-2000:], file=sys.stderr)
        raise SystemExit("kit report failed")
    return seconds


def run_naive(home: Path, groups: list[str]) -> float:
    out = home / "naive"
    out.mkdir(exist_ok=True)
    env = _env(home)
    db_url = f"sqlite:///{home / 'var' / 'kit.sqlite'}"
    start = time.perf_counter()
    for gid in groups:
        nb = out / f"{gid}.ipynb"
        subprocess.run(
            [
                "papermill",
                str(ROOT / "notebooks" / "group_report.ipynb"),
                str(nb),
                "-p",
                "group_id",
                gid,
                "-p",
                "waves",
                "before,after",
                "-p",
                "database_url",
                db_url,
                "--no-progress-bar",
            ],
            env=env,
            check=True,
            capture_output=True,
        )
        subprocess.run(
            ["jupyter", "nbconvert", "--to", "html", "--no-input", str(nb)],
            env=env,
            check=True,
            capture_output=True,
        )
        html = nb.with_suffix(".html")
        subprocess.run(
            [
                CHROMIUM,
                *CHROMIUM_FLAGS,
                f"--print-to-pdf={nb.with_suffix('.pdf')}",
                "--no-pdf-header-footer",
                html.as_uri(),
            ],
            env=env,
            check=True,
            capture_output=True,
        )
    return time.perf_counter() - start


def run_floor(home: Path, groups: list[str]) -> tuple[float, float]:
    """(seconds including imports, seconds for the reports alone) in a fresh process."""
    code = f"""
import time
t0 = time.perf_counter()
from kit.reports.notebook_api import open_group_report, warm_up
warm_up()
t1 = time.perf_counter()
for gid in {groups!r}:
    report = open_group_report(group_id=gid, waves="before,after")
    html = "".join(report.all_sections())
t2 = time.perf_counter()
print(t2 - t0, t2 - t1)
"""
    proc = subprocess.run(
        [sys.executable, "-c", code], env=_env(home), check=True, capture_output=True, text=True
    )
    total, alone = (float(x) for x in proc.stdout.split()[-2:])
    return total, alone


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--naive-groups",
        type=int,
        default=4,
        help="groups to run the naive way (extrapolated to all; default 4)",
    )
    parser.add_argument("--workers", type=int, default=None, help="kit report --workers")
    parser.add_argument("--keep", type=Path, help="use this folder as the home and keep it")
    args = parser.parse_args()

    home = args.keep or Path(tempfile.mkdtemp(prefix="kit-bench-"))
    home.mkdir(parents=True, exist_ok=True)
    try:
        print(
            f"cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.1f} "
            f"(other work on the machine slows every figure below)"
        )
        t = time.perf_counter()
        groups = make_demo(home)
        print(f"demo made in {time.perf_counter() - t:.1f} s: {len(groups)} programme groups")

        fast = run_kit_report(home, groups, args.workers)
        print(
            f"kit report: {len(groups)} group reports (HTML + PDF) in {fast:.1f} s "
            f"({fast / len(groups):.2f} s per report, cold start included)"
        )

        n = max(1, min(args.naive_groups, len(groups)))
        naive_groups = groups[:: len(groups) // n][:n]  # spread over the cohorts
        naive = run_naive(home, naive_groups)
        per = naive / len(naive_groups)
        naive_all = per * len(groups)
        measured = (
            "measured"
            if len(naive_groups) == len(groups)
            else (f"extrapolated from {len(naive_groups)} groups measured in {naive:.1f} s")
        )
        print(
            f"naive loop (papermill + nbconvert --no-input + chromium --print-to-pdf): "
            f"{per:.2f} s per report -> {naive_all:.1f} s for {len(groups)} ({measured})"
        )

        floor_total, floor_alone = run_floor(home, groups)
        print(
            f"floor, one process without notebooks: {floor_total:.1f} s "
            f"({floor_alone:.1f} s for the {len(groups)} reports' results, sections and charts "
            "after imports)"
        )
        print(
            f"speed-up of kit report over the naive loop: {naive_all / fast:.1f}x "
            f"(target >= 8x); kit report is {fast / floor_total:.1f}x the one-process floor"
        )
    finally:
        if not args.keep:
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
