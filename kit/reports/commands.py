"""``kit report RUN_FILE``: make every report of a run file (see ``parameters/``).

Registered by ``kit.cli`` through :func:`register`; also adds the demo's report step to
``kit demo`` (skipped with ``--no-reports``).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from kit.i18n import t
from kit.settings import PROJECT_DIR, Settings

DEMO_RUN_FILE = "demo_programme.yaml"
DEMO_WAVES_RUN_FILE = "demo_kull1_waves.yaml"  # the first cohort's three waves


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "report",
        help="make the reports of a run file (HTML, PDF, executed notebooks)",
        description=(
            "Make every report listed in a run file (parameters/*.yaml): one per group and "
            "wave, cohort reports and a programme report, under outputs/<run>/ with an "
            "index.html. Reports whose inputs did not change are skipped."
        ),
    )
    p.add_argument(
        "run_file",
        type=Path,
        help="the run file, e.g. parameters/demo_programme.yaml; or a report notebook executed "
        "with the papermill CLI, to export it to HTML and PDF beside it",
    )
    p.add_argument("--force", action="store_true", help="remake every report, changed or not")
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="reports made at the same time (default: the number of cores)",
    )
    p.add_argument("--no-pdf", action="store_true", help="make HTML only (no Chromium needed)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--shard",
        default=None,
        metavar="I/N",
        help="make only shard I of N (I from 0) of the run's reports, in a shared output folder; "
        "N alone takes I from JOB_COMPLETION_INDEX (a Kubernetes Indexed Job)",
    )
    p.add_argument(
        "--index",
        action="store_true",
        help="merge the shards' manifests into the run's manifest and index.html (after --shard)",
    )
    p.set_defaults(func=cmd_report)
    try:
        from kit.cli import add_demo_step

        add_demo_step("reports", "reports", _demo_step)
    except ImportError:  # pragma: no cover - an older cli without demo steps
        pass


def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    from kit.reports.params import load_run_file
    from kit.reports.runner import run_reports

    if args.run_file.suffix == ".ipynb":
        from kit.reports.export import export_notebook

        html_path, pdf_path = export_notebook(
            args.run_file, pdf=not args.no_pdf, chromium_path=settings.chromium_path
        )
        for path in (html_path, pdf_path):
            if path is not None:
                print(t("report.cli.exported", settings.language, path=path))
        return 0
    spec = load_run_file(_resolve(args.run_file, settings), lang=settings.language)
    if getattr(args, "index", False):
        from kit.reports.runner import merge_shards

        summary = merge_shards(spec, settings)
        print_summary(summary, settings.language)
        return 0 if summary.ok else 1
    shard = parse_shard(args.shard, settings.language) if getattr(args, "shard", None) else None
    summary = run_reports(
        spec,
        settings,
        force=args.force,
        workers=args.workers,
        pdf=not args.no_pdf,
        progress=not args.quiet,
        shard=shard,
    )
    print_summary(summary, settings.language, index=shard is None)
    return 0 if summary.ok else 1


def parse_shard(value: str, lang: str, env: dict[str, str] | None = None) -> tuple[int, int]:
    """``"I/N"`` (I from 0) or ``"N"`` with I from ``JOB_COMPLETION_INDEX`` -> (I, N)."""
    import os

    from kit.errors import ParameterError, Problem

    env = os.environ if env is None else env
    text = value.strip()
    index_text, _, count_text = text.rpartition("/")
    if not index_text:
        index_text = env.get("JOB_COMPLETION_INDEX", "")
    try:
        index, count = int(index_text), int(count_text)
    except ValueError:
        index, count = -1, 0
    if count < 1 or not 0 <= index < count:
        raise ParameterError(
            "--shard",
            [Problem("--shard", t("report.cli.shard", lang), column="--shard", value=text)],
        )
    return index, count


def _resolve(path: Path, settings: Settings) -> Path:
    if path.is_file() or path.is_absolute():
        return path
    for base in (settings.parameters_dir, PROJECT_DIR / "parameters"):
        if (base / path).is_file():
            return base / path
        if (base / path.name).is_file():
            return base / path.name
    return path


def print_summary(summary: Any, lang: str, *, index: bool = True) -> None:
    """The end-of-run summary: counts, each failure with its cell and kept notebook, the index."""
    print(
        t(
            "report.cli.summary",
            lang,
            made=len(summary.made),
            skipped=len(summary.skipped),
            failed=len(summary.failed),
            seconds=f"{summary.seconds:.1f}",
        )
    )
    for o in summary.failed:
        cell = "?" if o.failing_cell is None else o.failing_cell
        print(t("report.cli.failed", lang, label=o.label, cell=cell, error=o.error))
        if o.notebook_path:
            print(t("report.cli.kept", lang, path=summary.output_dir / o.notebook_path))
    if index:
        print(t("report.cli.index", lang, path=summary.index_path))
    else:
        print(t("report.cli.shard_done", lang))


def build_demo_reports(
    settings: Settings, *, force: bool = False, progress: bool = True, workers: int | None = None
) -> list[Any]:
    """Make the demo's reports: the programme's (parameters/demo_programme.yaml) and the first
    cohort's over its three waves (demo_kull1_waves.yaml); one RunSummary per run file."""
    from kit.reports.params import load_run_file
    from kit.reports.runner import run_reports

    return [
        run_reports(
            load_run_file(PROJECT_DIR / "parameters" / name),
            settings,
            force=force,
            progress=progress,
            workers=workers,
        )
        for name in (DEMO_RUN_FILE, DEMO_WAVES_RUN_FILE)
    ]


def _demo_step(args: argparse.Namespace, settings: Settings, _summary: Any) -> int:
    print(t("report.cli.demo", settings.language))
    summaries = build_demo_reports(settings)
    for summary in summaries:
        print_summary(summary, settings.language)
    return 0 if all(s.ok for s in summaries) else 1
