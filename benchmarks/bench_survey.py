"""300 respondents opening the online survey and submitting it, against the real ``kit serve``.

How the load is made: ``kit serve`` runs in its own process (no preheated kernels); the
respondents are simulated by a light HTTP/1.1 client on raw asyncio sockets in *another* process
(``--client``), one keep-alive connection per respondent, as a phone would: the page, its script
and style, ``open`` with the code, then ``submit`` with every answer. No browsers. Figures per
request: p50/p95/max in ms; lost = submissions not acknowledged, or acknowledged and not in the
database afterwards; the server's peak RSS (process and children) sampled every 50 ms.

Scenarios: ``burst`` - all 300 arrive within one second and submit at once (a plenary told
"answer now"); ``spread`` - arrivals spread over 30 s.

Baseline, measured in the same run: the old survey, one Voilà kernel per respondent
(``notebooks/survey.ipynb`` under plain Voilà, no preheated kernel): seconds until the page with
the first question is complete, for 1 respondent and then for 4 at once, and the RSS of each
kernel. Targets: p95 < 500 ms per page, 0 lost, server < 500 MB.

    python benchmarks/bench_survey.py                       # small demo in a temporary home
    python benchmarks/bench_survey.py --respondents 300 --baseline 4
    python benchmarks/bench_survey.py --no-baseline
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STEPS = ("page", "script", "style", "open", "submit")


# -- memory ----------------------------------------------------------------------------------------
def rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants, in MB (from /proc)."""
    total = 0
    for p in [pid, *descendants(pid)]:
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


class PeakRSS:
    """Samples the RSS of a process tree in a thread until stopped."""

    def __init__(self, pid: int, every: float = 0.05) -> None:
        self.pid, self.every, self.peak = pid, every, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_mb(self.pid))
            self._stop.wait(self.every)

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


# -- the client process ----------------------------------------------------------------------------
async def http(reader, writer, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n"
        "Content-Type: application/json\r\nAccept-Encoding: identity\r\n\r\n"
    )
    writer.write(head.encode("ascii") + body)
    await writer.drain()
    status = int((await reader.readline()).split()[1])
    length = 0
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    return status, await reader.readexactly(length)


async def respondent(port: int, code: str, answers: dict, delay: float, out: dict) -> None:
    await asyncio.sleep(delay)
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 60)
    try:
        timings: dict[str, float] = {}

        async def step(name: str, method: str, path: str, body: bytes = b"") -> bytes:
            start = time.perf_counter()
            status, data = await asyncio.wait_for(http(reader, writer, method, path, body), 60)
            timings[name] = time.perf_counter() - start
            if status != 200:
                raise RuntimeError(f"{name}: HTTP {status} {data[:200]!r}")
            return data

        page = (await step("page", "GET", "/kit/survey")).decode("utf-8")
        script, style = (
            re.search(rf'"(/kit/survey/static/survey\.{ext}[^"]*)"', page).group(1)
            for ext in ("js", "css")
        )
        await step("script", "GET", script)
        await step("style", "GET", style)
        await step("open", "POST", "/kit/survey/api/open", json.dumps({"code": code}).encode())
        await step(
            "submit",
            "POST",
            "/kit/survey/api/submit",
            json.dumps({"code": code, "answers": answers, "comments": {}}).encode(),
        )
        out["ok"].append(timings)
    except Exception as exc:  # noqa: BLE001 - counted and shown
        out["failed"].append(f"{type(exc).__name__}: {exc}"[:200])
    finally:
        writer.close()


async def run_clients(port: int, codes: list[str], items: list[str], spread: float) -> dict:
    rng = random.Random(7)
    out: dict = {"ok": [], "failed": []}
    start = time.perf_counter()
    await asyncio.gather(
        *(
            respondent(
                port, code, {i: rng.randint(1, 7) for i in items}, rng.uniform(0, spread), out
            )
            for code in codes
        )
    )
    out["wall"] = time.perf_counter() - start
    return out


def client_main(args: argparse.Namespace) -> None:
    job = json.loads(Path(args.client).read_text())
    result = asyncio.run(run_clients(job["port"], job["codes"], job["items"], job["spread"]))
    print(json.dumps(result))


# -- the runs --------------------------------------------------------------------------------------
def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, max(0, round(q * (len(values) - 1))))]


def load_run(kit, settings, store, inst, name: str, n: int, spread: float) -> dict:
    from kit.apps.invitations import create_invitations

    gw = store.list_group_waves()
    waves = gw[(gw["wave_id"] == "after") & (gw["status"] == "open")]
    targets = list(zip(waves["group_id"], waves["wave_id"], strict=True))
    codes: list[str] = []
    per = -(-n // len(targets))
    for group, wave in targets:
        codes += create_invitations(store, group, wave, min(per, n - len(codes)))
        if len(codes) >= n:
            break
    before = len(store.load_responses(inst))
    job = Path(tempfile.mkstemp(suffix=".json")[1])
    job.write_text(
        json.dumps(
            {"port": kit.port, "codes": codes, "items": list(inst.item_ids), "spread": spread}
        )
    )
    cpu = cpu_seconds(kit.process.pid)
    with PeakRSS(kit.process.pid) as peak:
        proc = subprocess.run(
            [sys.executable, __file__, "--client", str(job)],
            capture_output=True,
            text=True,
            timeout=900,
            cwd=ROOT,
        )
    cpu = cpu_seconds(kit.process.pid) - cpu
    job.unlink()
    if proc.returncode:
        raise SystemExit(f"client failed: {proc.stderr[-2000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    stored = len(store.load_responses(inst)) - before
    acked = len(result["ok"])
    return {
        "name": name,
        "n": n,
        "spread": spread,
        "wall": result["wall"],
        "acked": acked,
        "stored": stored,
        "lost": n - min(acked, stored) + max(0, acked - stored),
        "failed": result["failed"][:3],
        "cpu_ms": 1000 * cpu / n,
        "peak": peak.peak,
        "steps": {s: [t[s] * 1000 for t in result["ok"]] for s in STEPS},
    }


def baseline(home: Path, code_for, concurrent: int) -> dict:
    """The old survey under plain Voilà: one kernel per respondent, none preheated."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    root = Path(tempfile.mkdtemp(prefix="bench-survey-voila-"))
    shutil.copy(ROOT / "notebooks" / "survey.ipynb", root / "survey.ipynb")
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIT_")}
    env.update({"KIT_HOME": str(home), "PYTHONPATH": str(ROOT)})
    log = open(root / "voila.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "voila",
            "--no-browser",
            f"--port={port}",
            "--Voila.ip=127.0.0.1",
            str(root),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(base + "/", timeout=2).read()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise SystemExit(f"Voilà did not start; see {root / 'voila.log'}") from None
                time.sleep(0.3)
        idle = rss_mb(proc.pid)

        def open_one(code: str) -> float:
            start = time.perf_counter()
            url = f"{base}/voila/render/survey.ipynb?code={code}"
            with urllib.request.urlopen(url, timeout=600) as r:
                page = r.read().decode("utf-8", "replace")
            if "kit-item" not in page and "jupyter-widgets" not in page:
                raise SystemExit("the Voilà survey page has no form")
            return time.perf_counter() - start

        with PeakRSS(proc.pid) as peak:
            single = open_one(code_for())
            with ThreadPoolExecutor(concurrent) as pool:
                together = list(pool.map(open_one, [code_for() for _ in range(concurrent)]))
            time.sleep(1)
            kernels = [p for p in descendants(proc.pid) if _is_kernel(p)]
            per_kernel = [rss_mb(p) for p in kernels]
        return {
            "single": single,
            "together": together,
            "kernels": len(kernels),
            "per_kernel": statistics.median(per_kernel) if per_kernel else float("nan"),
            "idle": idle,
            "peak": peak.peak,
        }
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        shutil.rmtree(root, ignore_errors=True)


def _is_kernel(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"ipykernel" in f.read()
    except OSError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--respondents", type=int, default=300)
    parser.add_argument("--spread", type=float, default=30.0, help="seconds of the spread run")
    parser.add_argument("--baseline", type=int, default=4, help="respondents at once on Voilà")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--home", type=Path, help="an existing home with demo data")
    parser.add_argument("--client", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        client_main(args)
        return

    from kit.apps.invitations import create_invitations
    from kit.apps.launch import ServedKit
    from kit.demo import make_demo
    from kit.instrument import load_instrument
    from kit.settings import load_settings
    from kit.store import open_store

    tmp = None
    home = args.home
    if home is None:
        tmp = tempfile.TemporaryDirectory(prefix="bench-survey-")
        home = Path(tmp.name)
    settings = load_settings(home_dir=home, database_url="")
    if args.home is None:
        make_demo(settings, seed=1, small=True)
    store = open_store(settings)
    inst = load_instrument(settings.instrument)
    print(
        f"load average before: {', '.join(f'{x:.2f}' for x in os.getloadavg())} "
        f"({os.cpu_count()} cores, shared)"
    )
    print(
        "load: one light asyncio HTTP/1.1 client process (not browsers), one keep-alive "
        "connection per respondent: page, script, style, open, submit"
    )
    runs = []
    with ServedKit(home, pools=(0, 0, 0)) as kit:
        idle = rss_mb(kit.process.pid)
        runs.append(load_run(kit, settings, store, inst, "burst", args.respondents, 1.0))
        runs.append(load_run(kit, settings, store, inst, "spread", args.respondents, args.spread))
    print(
        f"\nkit serve, kernel-free survey ({args.respondents} respondents per run, server idle "
        f"{idle:.0f} MB)"
    )
    print(
        f"{'run':8} {'arrivals':>9} {'wall s':>7} {'lost':>5} {'peak MB':>8} {'CPU ms':>7}  "
        + "  ".join(f"{s + ' p50/p95/max ms':>26}" for s in STEPS)
    )
    for r in runs:
        cells = []
        for s in STEPS:
            v = r["steps"][s]
            cells.append(f"{pct(v, 0.5):8.1f} {pct(v, 0.95):8.1f} {max(v):8.1f}" if v else "-")
        print(
            f"{r['name']:8} {r['spread']:>7.0f} s {r['wall']:7.1f} {r['lost']:5d} "
            f"{r['peak']:8.0f} {r['cpu_ms']:7.1f}  " + "  ".join(f"{c:>26}" for c in cells)
        )
        if r["failed"]:
            print("   failures:", *r["failed"], sep="\n   ")
    spread_run = runs[-1]

    def worst_p95(run: dict) -> float:
        return max(pct(run["steps"][s], 0.95) for s in STEPS if run["steps"][s])

    peak = max(r["peak"] for r in runs)
    lost = sum(r["lost"] for r in runs)
    cpu_ms = statistics.median(r["cpu_ms"] for r in runs)
    print(
        f"server CPU per respondent (5 requests): {cpu_ms:.1f} ms, i.e. about "
        f"{1000 / cpu_ms:.0f} respondents a second per free core; the burst queues behind that"
    )
    worst = ", ".join(f"{r['name']} {worst_p95(r):.0f} ms" for r in runs)
    met = all(worst_p95(r) < 500 for r in runs) and lost == 0 and peak < 500
    print(
        f"targets: p95 < 500 ms per page -> worst p95: {worst}; "
        f"0 lost (both runs) -> {lost}; server < 500 MB -> {peak:.0f} MB: "
        + ("met" if met else "NOT met")
    )

    if not args.no_baseline:

        def code_for() -> str:
            gw = store.list_group_waves()
            open_ = gw[(gw["wave_id"] == "after") & (gw["status"] == "open")]
            return create_invitations(store, str(open_["group_id"].iloc[0]), "after", 1)[0]

        b = baseline(home, code_for, args.baseline)
        together = b["together"]
        print(
            "\nbaseline: the old survey on Voilà, one kernel per respondent (no preheat), same run"
        )
        print(f"  1 respondent: {b['single']:.1f} s to the page with the first question")
        print(
            f"  {len(together)} at once: median {statistics.median(together):.1f} s, "
            f"max {max(together):.1f} s"
        )
        print(
            f"  memory: Voilà idle {b['idle']:.0f} MB, {b['per_kernel']:.0f} MB per kernel "
            f"({b['kernels']} kernels alive), peak {b['peak']:.0f} MB for "
            f"{len(together) + 1} respondents"
        )
        # to the first question without a kernel: page + script + style + open, one respondent
        steps = spread_run["steps"]
        first = statistics.median(map(sum, zip(*(steps[k] for k in STEPS[:4]), strict=True))) / 1000
        need = args.respondents * b["per_kernel"] / 1024
        print(
            f"  ratio: the first question {b['single'] / first:,.0f}x sooner without a kernel "
            f"({first * 1000:.0f} ms, spread run, median); "
            f"{args.respondents} respondents would need ~{need:.0f} GB of kernels on Voilà "
            f"vs {peak:.0f} MB"
        )
    print(f"\nload average after: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
