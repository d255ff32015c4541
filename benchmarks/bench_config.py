"""What strict configuration files cost, and how fast a far too large file is refused.

Baseline, measured in the same run: ``yaml.safe_load`` of the same text (what the kit did before,
without any checks). Strict: ``kit.store.programme.load_programme`` / ``kit.instrument.
load_instrument`` (size and UTF-8 check, duplicate keys with lines, pydantic schema, cross-
references). Printed as a ratio to the baseline. Then the time to refuse a 50 MB programme file
(before, reading it ran out of memory after minutes).

    python benchmarks/bench_config.py [--groups 400] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import yaml

from kit.errors import KitError
from kit.instrument import INSTRUMENTS_DIR, load_instrument
from kit.store.programme import load_programme

CLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def programme_text(groups: int) -> str:
    lines = [
        "programme: Benchmark",
        "waves:",
        "  - {id: before, ordinal: 1}",
        "  - {id: after, ordinal: 2}",
        "cohorts:",
    ]
    per = 4
    for c in range(groups // per):
        lines += [
            f"  - id: kull-{c}",
            f"    name: Kull {c}",
            "    start_date: 2025-01-13",
            "    end_date: 2025-11-07",
            "    groups:",
        ]
        for g in range(per):
            lines += [
                f"      - id: k{c}-g{g}",
                f"        name: Ledergruppen {c}-{g}",
                "        organisation: Etaten",
                "        invited: {before: 8, after: 8}",
                "        survey_dates: {before: 2025-01-06, after: 2025-10-27}",
            ]
    return "\n".join(lines) + "\n"


def best(func, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=400, help="groups in the programme file")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "programme.yaml"
        path.write_text(programme_text(args.groups), encoding="utf-8")
        size_kb = path.stat().st_size / 1024
        load_programme(path)  # warm: texts, schemas
        text = path.read_text(encoding="utf-8")
        base = best(lambda: yaml.safe_load(text), args.repeat)
        base_c = best(lambda: yaml.load(text, Loader=CLoader), args.repeat)
        strict = best(lambda: load_programme(path), args.repeat)
        print(
            f"programme file, {args.groups} groups ({size_kb:.0f} kB): yaml.safe_load "
            f"{base * 1000:.1f} ms, libyaml (CSafeLoader) {base_c * 1000:.1f} ms, strict load "
            f"{strict * 1000:.1f} ms = {strict / base:.2f}x yaml.safe_load, "
            f"{strict / base_c:.2f}x libyaml unchecked"
        )
        inst_path = INSTRUMENTS_DIR / "lagprofil.yaml"
        text_i = inst_path.read_text(encoding="utf-8")
        base_i = best(lambda: yaml.safe_load(text_i), args.repeat)
        base_ci = best(lambda: yaml.load(text_i, Loader=CLoader), args.repeat)
        strict_i = best(lambda: load_instrument(inst_path), args.repeat)
        print(
            f"instrument lagprofil ({inst_path.stat().st_size / 1024:.0f} kB): yaml.safe_load "
            f"{base_i * 1000:.1f} ms, libyaml {base_ci * 1000:.1f} ms, strict load "
            f"{strict_i * 1000:.1f} ms = {strict_i / base_i:.2f}x yaml.safe_load, "
            f"{strict_i / base_ci:.2f}x libyaml unchecked"
        )
        huge = Path(tmp) / "huge.yaml"
        with huge.open("w", encoding="utf-8") as f:
            f.write("waves: [before]\nnorm_base:\n")
            line = "  - {id: n, name: N, invited: {before: 5}}\n"
            f.write(line * (50 * 1024 * 1024 // len(line)))

        def refuse() -> None:
            try:
                load_programme(huge)
            except KitError:
                pass

        refused = best(refuse, args.repeat)
        print(
            f"50 MB programme file refused in {refused * 1000:.1f} ms "
            f"(= {refused / strict:.2f}x loading the {size_kb:.0f} kB one)"
        )
    print(f"load average (1, 5, 15 min): {os.getloadavg()}")


if __name__ == "__main__":
    main()
