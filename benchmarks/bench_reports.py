"""Benchmark: the demo's group reports with `kit report` versus the naive loop a user would write.

    python benchmarks/bench_reports.py [--sizes 16,64] [--naive-groups 4] [--workers N]
                                       [--repeat 3] [--keep DIR]

1. makes the demo (16 programme groups, 64 norm groups) in a temporary home;
2. for each size (16: the programme's groups; 64: a run file over the norm base), side by side:
   - `kit report` on a run file with that many group reports (HTML + PDF), from a cold start,
     with the time per report split into notebook execution, HTML export and PDF printing
     (from the run's manifest);
   - the floor: the same reports without notebooks - results, sections and charts, the page
     from the same template, the charts drawn and the PDF printed by the same printer - in one
     process per worker;
   - the naive way, for each group in turn: the `papermill` command, `jupyter nbconvert --to
     html --no-input`, and Chromium's `--print-to-pdf` - on ``--naive-groups`` groups (default
     4), extrapolated per group (printed as such).
Figures are ratios against the floor and the naive loop measured in the same run, with the load
average (the machine may be shared). kit report and the floor run ``--repeat`` times in turn and
the median pair is shown: on a shared 2-core machine one run of either varies by 20 %.
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


def norm_groups(home: Path) -> list[str]:
    code = (
        "from kit.settings import load_settings; from kit.store import open_store; "
        "g = open_store(load_settings()).list_groups(); "
        "print(' '.join(g.loc[g['in_norm_base'].astype(bool), 'id']))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], env=_env(home), check=True, capture_output=True, text=True
    )
    return proc.stdout.split()


def run_kit_report(
    home: Path,
    groups: list[str],
    workers: int | None,
    name: str = "bench",
    waves: str = "before,after",
) -> tuple[float, dict[str, float]]:
    """Seconds for `kit report` on ``groups`` and the mean seconds per report of each phase."""
    import json

    run_file = home / f"{name}.yaml"
    run_file.write_text(
        f"name: {name}\ntitle: Benchmark\nwaves: [{waves}]\n"
        f"report_waves: [{waves.split(',')[-1]}]\n"
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
    manifest = json.loads((home / "outputs" / name / ".kit-run.json").read_text("utf-8"))
    phases = {
        k: sum(e.get(f"{k}_seconds", 0.0) for e in manifest.values()) / max(1, len(manifest))
        for k in ("execute", "html", "charts", "pdf")
    }
    return seconds, phases


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


FLOOR_CODE = """
import sys, time
from pathlib import Path
t0 = time.perf_counter()
from kit import drawing
from kit.reports.export import PdfPrinter, atomic_write_text, draw_pending_charts, export_html
from kit.reports.notebook_api import open_group_report, warm_up
from kit.settings import load_settings
import nbformat
drawing.draw_charts_in_printer(sys.argv[4] == "printer")  # as kit report draws them
warm_up()
groups, out, waves = sys.argv[1].split(","), Path(sys.argv[2]), sys.argv[3]
phase = {"results": 0.0, "html": 0.0, "charts": 0.0, "pdf": 0.0}
with PdfPrinter(load_settings().chromium_path) as printer:
    t1 = time.perf_counter()
    for gid in groups:
        a = time.perf_counter()
        report = open_group_report(group_id=gid, waves=waves)
        nb = nbformat.v4.new_notebook()
        for f in report.all_sections():
            cell = nbformat.v4.new_code_cell("")
            cell.outputs = [nbformat.v4.new_output("display_data", data={"text/html": str(f)})]
            nb.cells.append(cell)
        b = time.perf_counter()
        page = export_html(nb, title=gid, language=report.lang)
        c = time.perf_counter()
        page, _ = draw_pending_charts(page, printer)
        html = out / f"{gid}.html"
        atomic_write_text(html, page)
        d = time.perf_counter()
        printer.print_pdf(html, html.with_suffix(".pdf"), language=report.lang, title=gid)
        e = time.perf_counter()
        phase["results"] += b - a; phase["html"] += c - b; phase["charts"] += d - c
        phase["pdf"] += e - d
print(time.perf_counter() - t0, phase["results"], phase["html"], phase["charts"], phase["pdf"])
"""


def run_floor(
    home: Path,
    groups: list[str],
    workers: int,
    waves: str = "before,after",
    drawing: str = "printer",
) -> tuple[float, dict[str, float]]:
    """The same reports without notebooks: ``workers`` processes at once, each with its own
    printer, over an equal share of the groups. (wall seconds, mean seconds per report by
    phase: results+sections+charts, HTML page, PDF)."""
    out = home / "floor"
    out.mkdir(exist_ok=True)
    shares = [groups[i::workers] for i in range(workers) if groups[i::workers]]
    start = time.perf_counter()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", FLOOR_CODE, ",".join(share), str(out), waves, drawing],
            env=_env(home),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for share in shares
    ]
    sums = {"execute": 0.0, "html": 0.0, "charts": 0.0, "pdf": 0.0}
    for p in procs:
        stdout, stderr = p.communicate(timeout=3600)
        if p.returncode != 0:
            print(stderr[-2000:], file=sys.stderr)
            raise SystemExit("floor failed")
        _, results, html, drawn, pdf = (float(x) for x in stdout.split()[-5:])
        sums["execute"] += results
        sums["html"] += html
        sums["charts"] += drawn
        sums["pdf"] += pdf
    wall = time.perf_counter() - start
    return wall, {k: v / len(groups) for k, v in sums.items()}


def _phases(p: dict[str, float]) -> str:
    return (
        f"execution {p['execute']:.2f} s + HTML {p['html']:.2f} s + charts {p['charts']:.2f} s "
        f"+ PDF {p['pdf']:.2f} s per report"
    )


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
    parser.add_argument("--sizes", default="16,64", help="group counts to run (default 16,64)")
    parser.add_argument("--keep", type=Path, help="use this folder as the home and keep it")
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="kit report and floor runs per size, in turn; the median pair is shown (default 3)",
    )
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

        sizes = [int(x) for x in args.sizes.split(",")]
        norm = norm_groups(home)
        workers = args.workers or os.cpu_count() or 1
        n = max(1, min(args.naive_groups, len(groups)))
        naive_groups = groups[:: len(groups) // n][:n]  # spread over the cohorts
        naive = run_naive(home, naive_groups)
        per_naive = naive / len(naive_groups)
        print(
            f"naive loop (papermill + nbconvert --no-input + chromium --print-to-pdf): "
            f"{per_naive:.2f} s per report (measured on {len(naive_groups)} groups in "
            f"{naive:.1f} s; extrapolated per group below)"
        )
        rows = []
        for size in sizes:
            # the programme's groups (before and after), or a run over the norm base (before)
            chosen, waves = (groups, "before,after") if size <= len(groups) else (norm, "before")
            chosen = chosen[:size]
            pairs = []  # kit report and floor in turn, so both meet the same machine
            for _ in range(args.repeat):
                fast, phases = run_kit_report(home, chosen, args.workers, f"bench{size}", waves)
                floor, floor_phases = run_floor(home, chosen, workers, waves)
                pairs.append((fast / floor, fast, floor, phases, floor_phases))
            pairs.sort(key=lambda p: p[0])
            ratio, fast, floor, phases, floor_phases = pairs[len(pairs) // 2]  # the median pair
            naive_all = per_naive * len(chosen)
            print(f"-- {len(chosen)} group reports (HTML + PDF), load average "
                  f"{os.getloadavg()[0]:.1f}")  # fmt: skip
            if len(pairs) > 1:
                print("kit report / floor in each of the runs: " + ", ".join(
                    f"{f:.1f}/{b:.1f} s = {r:.2f}x" for r, f, b, _, _ in pairs
                ) + "; the median pair below")  # fmt: skip
            print(f"kit report: {fast:.1f} s ({fast / len(chosen):.2f} s per report, cold start "
                  f"included); {_phases(phases)} (in its worker)")  # fmt: skip
            print(f"floor without notebooks ({workers} processes): {floor:.1f} s; "
                  f"{_phases(floor_phases)}")  # fmt: skip
            print(f"naive loop: {naive_all:.1f} s (extrapolated)")
            print(
                f"kit report = {ratio:.2f}x the floor (target <= 1.2x), "
                f"{naive_all / fast:.1f}x faster than the naive loop (target >= 15x)"
            )
            rows.append((len(chosen), fast, floor, naive_all))
        print("\nsize  kit report  floor  naive   x floor  x naive")
        for size, fast, floor, naive_all in rows:
            print(f"{size:4d}  {fast:9.1f}s {floor:5.1f}s {naive_all:6.1f}s  "
                  f"{fast / floor:6.2f}  {naive_all / fast:6.1f}")  # fmt: skip
        print(f"load average at the end: {os.getloadavg()}")
    finally:
        if not args.keep:
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
