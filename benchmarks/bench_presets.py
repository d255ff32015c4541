"""Reading a survey tool's export through its preset, beside the kit's own format.

The same answers (lagprofil, ``--rows`` respondents in groups of 25) are written in the kit's own
format (the baseline), as a SurveyXact dataset of codes with its labels file (UTF-16, tab, no
respondent id: numbered by row, codes through the labels), as a LimeSurvey export (codes A1..A7
through a value map, zero-padded sub-question headers) and as a Qualtrics export (three header
rows). Each is read and validated with ``read_responses`` (nothing written), best of three; the
figures are ratios to the baseline measured in the same run.

    python benchmarks/bench_presets.py [--rows 50000]
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from kit.ingest import read_responses
from kit.instrument import load_instrument
from kit.mapping import ColumnMapping, load_preset


def _write(path: Path, rows: list[list[str]], sep: str, encoding: str, quote_all: bool) -> None:
    out = io.StringIO()
    csv.writer(
        out,
        delimiter=sep,
        lineterminator="\r\n",
        quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL,
    ).writerows(rows)
    path.write_bytes(out.getvalue().encode(encoding))


def write_files(folder: Path, n: int) -> dict[str, tuple[Path, ColumnMapping]]:
    inst = load_instrument("lagprofil")
    items = list(inst.item_ids)
    rng = np.random.default_rng(3)
    answers = rng.integers(1, 8, size=(n, len(items))).astype(str)
    groups = [f"g{k // 25:05d}" for k in range(n)]
    out: dict[str, tuple[Path, ColumnMapping]] = {}
    canon = [["respondent", "group", "wave", *items]]
    canon += [[f"r{k}", groups[k], "before", *answers[k]] for k in range(n)]
    _write(folder / "canonical.csv", canon, ";", "utf-8-sig", False)
    out["kit format"] = (folder / "canonical.csv", ColumnMapping())
    sx = folder / "sx"
    sx.mkdir()
    codes = {g: str(i + 1) for i, g in enumerate(dict.fromkeys(groups))}
    _write(
        sx / "dataset.txt",
        [["team", *[i.lower() for i in items]]]
        + [[codes[groups[k]], *answers[k]] for k in range(n)],
        "\t",
        "utf-16",
        False,
    )
    labels = [["team", c, g] for g, c in codes.items()]
    labels += [[i.lower(), str(v), f"label {v}"] for i in items for v in range(1, 8)]
    labels += [[i.lower(), "8", "Vet ikke"] for i in items]
    _write(sx / "labels.txt", labels, "\t", "utf-16", False)
    out["surveyxact (UTF-16, labels, by row)"] = (
        sx / "dataset.txt",
        load_preset("surveyxact").with_overrides(wave="before"),
    )
    lime = [["id", "submitdate", "team", *[f"LP[SQ{k:03d}]" for k in range(1, 57)]]]
    lime += [[str(k), "2026-01-05", groups[k], *np.char.add("A", answers[k])] for k in range(n)]
    _write(folder / "lime.csv", lime, ",", "utf-8-sig", True)
    out["limesurvey (value map)"] = (
        folder / "lime.csv",
        load_preset("limesurvey").with_overrides(wave="before"),
    )
    qual = [["StartDate", "EndDate", "ResponseId", "team", *[f"LP_{k}" for k in range(1, 57)]]]
    qual += [["Start", "End", "Response ID", "Team", *items]]
    qual += [['{"ImportId":"startDate"}'] * (4 + len(items))]
    qual += [["2026", "2026", f"R_{k}", groups[k], *answers[k]] for k in range(n)]
    _write(folder / "qualtrics.csv", qual, ",", "utf-8-sig", True)
    out["qualtrics (3 header rows)"] = (
        folder / "qualtrics.csv",
        load_preset("qualtrics").with_overrides(wave="before"),
    )
    return out


def best_of(func, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    args = parser.parse_args()
    inst = load_instrument("lagprofil")
    with tempfile.TemporaryDirectory() as tmp:
        files = write_files(Path(tmp), args.rows)
        timings = {}
        for name, (path, mapping) in files.items():
            result = read_responses(path, inst, mapping=mapping)
            assert len(result.table) == args.rows, name
            timings[name] = best_of(lambda p=path, m=mapping: read_responses(p, inst, mapping=m))
    base = timings["kit format"]
    print(f"{args.rows} respondents, load average {os.getloadavg()}")
    for name, seconds in timings.items():
        print(f"  {name:<40} {seconds:6.2f} s  {seconds / base:5.2f} x the kit format")


if __name__ == "__main__":
    main()
