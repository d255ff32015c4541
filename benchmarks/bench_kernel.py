"""The memory and start cost of one Voilà explorer kernel (``notebooks/group_dashboard.ipynb``).

How it is measured: a real IPython kernel (jupyter_client, as Voilà starts one) in the kit's
kernel profile, with the settings ``kit serve`` exports; it runs the notebook's two cells for a
group's key, as for a viewer who opened the explorer (no preheated pool). Then the kernel's RSS
(``/proc``), its CPU seconds and the wall time of the cells. Three kernels in the same run:

- ``bare``: an ipykernel that runs nothing (the floor any kernel costs);
- ``before``: the explorer as ``kit serve`` started it before: a startup file that only
  hardens the kernel (no ``kit.apps.kernel.lighten``) and the viewer's request read through
  ``voila.utils`` (whose package imports the Jupyter server);
- ``after``: the explorer in the profile ``kit serve`` writes now.

    python benchmarks/bench_kernel.py             # small demo in a temporary home
    python benchmarks/bench_kernel.py --home DIR --repeat 3
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def rss_mb(pid: int) -> float:
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", text).group(1)) / 1024


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cells(notebook: Path) -> list[str]:
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    return [c.source for c in nb.cells if c.cell_type == "code"]


def run_kernel(env: dict[str, str], code: list[str], timeout: float = 300) -> dict[str, float]:
    """Start a kernel with ``env``, run ``code`` cell by cell; its RSS, CPU and wall time."""
    from jupyter_client import KernelManager

    km = KernelManager(kernel_name="python3")
    km.start_kernel(env=env, cwd=str(ROOT))
    try:
        kc = km.client()
        kc.start_channels()
        kc.wait_for_ready(timeout=120)
        pid = km.provisioner.process.pid
        start = time.perf_counter()
        errors: list[str] = []

        def output(msg: dict) -> None:
            if msg["msg_type"] == "error":
                errors.append(msg["content"].get("ename", "error"))

        for source in code:
            reply = kc.execute_interactive(source, timeout=timeout, output_hook=output)
            if reply["content"]["status"] != "ok":
                errors.append(reply["content"].get("ename", "error"))
        wall = time.perf_counter() - start
        time.sleep(0.5)
        if errors:
            raise SystemExit(f"the explorer's cells failed in the kernel: {errors}")
        kc.stop_channels()
        return {"rss": rss_mb(pid), "cpu": cpu_s(pid), "wall": wall}
    finally:
        km.shutdown_kernel(now=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, help="a kit home with demo data (default: new)")
    parser.add_argument("--repeat", type=int, default=2, help="kernels per variant (median)")
    args = parser.parse_args()

    from kit.apps.keys import create_key
    from kit.apps.server import export_settings, kernel_profile_dir
    from kit.demo import make_demo
    from kit.settings import load_settings
    from kit.store import open_store

    print(f"load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())} (2 cores, shared)")
    tmp = Path(tempfile.mkdtemp(prefix="bench-kernel-"))
    try:
        home = args.home or tmp / "home"
        settings = load_settings(home_dir=home, database_url="")
        if args.home is None:
            make_demo(settings, seed=1, small=True)
        store = open_store(settings)
        gw = store.list_group_waves()
        groups = store.list_groups()
        programme = set(groups.loc[groups["cohort_id"].notna(), "id"])
        answered = gw[gw["group_id"].isin(programme) & (gw["respondents"] > 0)]
        group = str(answered.groupby("group_id")["wave_id"].nunique().idxmax())
        key = create_key(store, group, expires_days=1, label="bench_kernel").key

        saved = dict(os.environ)
        export_settings(settings)  # what kit serve gives its kernels
        base_env = {k: v for k, v in os.environ.items()}
        os.environ.clear()
        os.environ.update(saved)
        base_env.update({"PYTHONPATH": str(ROOT), "QUERY_STRING": f"key={key}"})
        base_env.pop("VOILA_PREHEAT", None)

        after_dir = kernel_profile_dir(settings)
        before_dir = tmp / "ipython-before"
        shutil.copytree(after_dir, before_dir)
        startup = before_dir / "profile_default" / "startup" / "00-kit-apps.py"
        startup.write_text(  # as before: no lighten(), and the request read through voila.utils
            "import kit.apps.kernel as _kit_kernel\n_kit_kernel.harden()\ndel _kit_kernel\n"
            "import voila.utils\n",
            encoding="utf-8",
        )
        bare_dir = tmp / "ipython-bare"
        shutil.copytree(after_dir, bare_dir)
        (bare_dir / "profile_default" / "startup" / "00-kit-apps.py").unlink()
        code = cells(ROOT / "notebooks" / "group_dashboard.ipynb")
        # one kernel first, not counted: it fills the shared cache of the group's first view
        # (as the server's preheated kernels do), so every measured kernel reads it alike
        run_kernel({**base_env, "IPYTHONDIR": str(after_dir)}, code)
        variants = {
            "bare": ({**base_env, "IPYTHONDIR": str(bare_dir)}, ["pass"]),
            "before": ({**base_env, "IPYTHONDIR": str(before_dir)}, code),
            "after": ({**base_env, "IPYTHONDIR": str(after_dir)}, code),
        }
        results: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
        for _ in range(args.repeat):
            for name, (env, source) in variants.items():  # interleaved: the load hits each
                results[name].append(run_kernel(env, source))
        print(
            "Load: one kernel at a time (jupyter_client), the explorer's two cells for a key of "
            f"group {group!r} with two waves; median of {args.repeat} kernels each."
        )
        med = {
            name: {m: statistics.median(r[m] for r in runs) for m in ("rss", "cpu", "wall")}
            for name, runs in results.items()
        }
        for name, m in med.items():
            print(
                f"{name:7s} RSS {m['rss']:6.0f} MB   CPU {m['cpu']:5.1f} s   "
                f"cells {m['wall']:5.1f} s"
            )
        b, a, bare = med["before"], med["after"], med["bare"]
        print(
            f"after / before: RSS {a['rss'] / b['rss']:.2f} ({a['rss'] - b['rss']:+.0f} MB), "
            f"CPU {a['cpu'] / b['cpu']:.2f}; above a bare kernel: before "
            f"{b['rss'] - bare['rss']:.0f} MB, after {a['rss'] - bare['rss']:.0f} MB"
        )
        print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
