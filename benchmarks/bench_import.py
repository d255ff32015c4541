"""A big survey export through ``kit import``: rows per second and peak memory, beside a baseline.

The export has 200,000 respondents (canonical headers, semicolon-separated, lagprofil: 65
columns) in 4,000 groups of 25 respondents in two waves. Each phase runs in its own process, which
reports its own peak memory (ru_maxrss):

- baseline: pandas' plain ``read_csv`` of the same file (every cell as text), nothing checked;
- ``kit validate``: every check, nothing written;
- ``kit import``: every check, then the write (SQLite, or PostgreSQL with ``--database-url``).

Targets: the import under 30 s and under 1 GB.

    python benchmarks/bench_import.py                  # 200,000 rows, SQLite in a temporary home
    python benchmarks/bench_import.py --rows 20000 --database-url postgresql+psycopg://...
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from kit.instrument import load_instrument

GROUP_SIZE = 25
BASELINE = (
    "import pandas as pd, sys; pd.read_csv(sys.argv[-1], sep=';', dtype=str, "
    "keep_default_na=False, encoding='utf-8-sig')"
)


def write_files(folder: Path, rows: int, seed: int = 7) -> tuple[Path, Path]:
    """The programme (groups of 25 in waves before and after) and the export."""
    instrument = load_instrument("lagprofil")
    rng = np.random.default_rng(seed)
    n_groups = max(1, rows // (2 * GROUP_SIZE))
    lines = [
        "programme: Benchmark",
        "waves:",
        "  - {id: before, ordinal: 1}",
        "  - {id: after, ordinal: 2}",
        "cohorts:",
        "  - id: big",
        "    name: Big",
        "    groups:",
    ]
    for g in range(n_groups):
        lines.append(
            f"      - {{id: g{g:05d}, name: Gruppe {g}, organisation: Etat {g}, "
            f"invited: {{before: {GROUP_SIZE + 2}, after: {GROUP_SIZE + 2}}}}}"
        )
    programme = folder / "programme.yaml"
    programme.write_text("\n".join(lines) + "\n", encoding="utf-8")
    header = [
        "respondent",
        "group",
        "wave",
        "role",
        *instrument.item_ids,
        *instrument.open_question_ids,
    ]
    answers = rng.integers(1, 8, size=(rows, len(instrument.item_ids)))
    export = folder / "big.csv"
    with export.open("w", encoding="utf-8-sig", newline="") as f:
        f.write(";".join(header) + "\n")
        for i in range(rows):
            group = (i // GROUP_SIZE) % n_groups
            wave = "before" if i < rows // 2 else "after"
            role = "leader" if i % GROUP_SIZE == 0 else "member"
            texts = ["Godt samarbeid" if i % 5 == 0 else ""] * len(instrument.open_question_ids)
            f.write(
                ";".join([f"r{i:07d}", f"g{group:05d}", wave, role, *map(str, answers[i]), *texts])
                + "\n"
            )
    return programme, export


# Each phase runs under this wrapper, which prints the process's own peak memory when it ends.
PEAK = (
    "import atexit, resource, runpy, sys\n"
    "atexit.register(lambda: sys.stderr.write("
    "'\\nPEAK_KB %d CPU_S %.3f\\n' % (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "
    "sum(resource.getrusage(resource.RUSAGE_SELF)[:2]))))\n"
    "code = sys.argv[1]\n"
    "sys.argv = sys.argv[1:]\n"
    "runpy.run_module('kit', run_name='__main__') if code == '-m' else exec(code)\n"
)


def run_phase(
    argv: list[str], env: dict[str, str], terminal: bool = False
) -> tuple[float, float, float, str]:
    """Wall seconds, CPU seconds, peak MB and the last line printed of one phase (own process).

    On a shared machine the wall time grows with the load; the CPU time is the work done. With
    ``terminal`` the phase's stderr is a terminal (a pty), so the progress bar is really drawn.
    """
    start = time.perf_counter()
    if terminal:
        done, err = _run_in_terminal([sys.executable, "-c", PEAK, *argv], env)
    else:
        done = subprocess.run(
            [sys.executable, "-c", PEAK, *argv],
            capture_output=True,
            text=True,
            env=env,
            timeout=900,
            check=False,
        )
        err = done.stderr
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{' '.join(argv[:4])} failed ({done.returncode}):\n{err[-2000:]}")
    figures = err.rsplit("PEAK_KB", 1)[1].split()
    peak_kb, cpu = int(figures[0]), float(figures[2])
    lines = done.stdout.strip().splitlines()
    if terminal:
        bars = err.count("\r")
        print(f"(progress bar drawn {bars} times on the terminal)", file=sys.stderr)
    return seconds, cpu, peak_kb / 1024, lines[-1] if lines else ""


def _run_in_terminal(cmd: list[str], env: dict[str, str]) -> tuple[Any, str]:
    """Run ``cmd`` with stderr on a pty (read as it comes, so the child never blocks)."""
    import pty
    import threading

    leader, follower = pty.openpty()
    import fcntl
    import struct
    import termios

    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # 100 columns
    chunks: list[bytes] = []

    def read() -> None:
        while True:
            try:
                data = os.read(leader, 65536)
            except OSError:  # the child closed the terminal
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        done = subprocess.run(
            cmd,
            stdout=subprocess.PIPE,
            stderr=follower,
            text=True,
            env=env,
            timeout=900,
            check=False,
        )
    finally:
        os.close(follower)
    reader.join(timeout=10)
    os.close(leader)
    return done, b"".join(chunks).decode("utf-8", "replace")


@contextmanager
def _fresh_schema(url: str) -> Iterator[str]:
    """PostgreSQL: the URL of a new, empty schema, dropped afterwards (every run starts empty)."""
    if not url.startswith("postgresql"):
        yield url
        return
    from urllib.parse import quote

    from sqlalchemy import create_engine, text

    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in url else "?"
    try:
        yield f"{url}{sep}options={quote(f'-csearch_path={schema}')}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIT_")}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    with (
        tempfile.TemporaryDirectory(prefix="bench-import-") as tmp,
        _fresh_schema(args.database_url) as url,
    ):
        home = Path(tmp)
        programme, export = write_files(home, args.rows)
        kit = ["-m", "--home", str(home), "--language", "en"]
        if url:
            kit += ["--database-url", url]
        subprocess.run(
            [sys.executable, "-m", "kit", *kit[1:], "programme", "load", str(programme)],
            check=True,
            timeout=600,
            env=env,
            capture_output=True,
        )
        size_mb = export.stat().st_size / 1e6
        figures = [
            ("baseline: pandas read_csv", *run_phase([BASELINE, str(export)], env)),
            ("kit validate", *run_phase([*kit, "validate", str(export)], env)),
            ("kit import (progress bar)", *run_phase([*kit, "import", str(export)], env, True)),
        ]
        load = os.getloadavg()
        base_wall, base_cpu = figures[0][1], figures[0][2]
        print(
            f"{args.rows:,} rows, {size_mb:.0f} MB, database "
            f"{'PostgreSQL' if args.database_url else 'SQLite'}; load average "
            f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores"
        )
        print(
            f"{'phase':26} {'wall s':>7} {'x base':>6} {'CPU s':>7} {'x base':>6} "
            f"{'rows/CPU s':>10} {'peak MB':>8}"
        )
        for name, wall, cpu, peak, _ in figures:
            print(
                f"{name:26} {wall:7.1f} {wall / base_wall:6.1f} {cpu:7.1f} {cpu / base_cpu:6.1f} "
                f"{args.rows / cpu:10,.0f} {peak:8.0f}"
            )
        print("import said:", figures[-1][4])
        wall, cpu, peak = figures[-1][1:4]
        # On a shared machine the wall time is the CPU time stretched by the load: the target is
        # judged on the work done (CPU s) and on the wall time, each said.
        for what, seconds in (("CPU", cpu), ("wall", wall)):
            verdict = "met" if seconds < 30 and peak < 1024 else "NOT met"
            print(
                f"target < 30 s and < 1 GB, {what}: {verdict} ({seconds:.1f} s, {peak:.0f} MB, "
                f"{args.rows / seconds:,.0f} rows/s)"
            )


if __name__ == "__main__":
    main()
