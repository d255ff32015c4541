"""The batch runner on the small demo: real kernels, papermill, nbconvert and Chromium.

One run is built per module and shared: two reportable groups, one under the threshold, one
group that does not exist (a broken report), and a cohort report. A run file naming a group that
does not exist is refused before any kernel (``check_run``, tests/foundation/test_config_files.py);
here the check is switched off, so the group stands for a report that fails in its kernel.
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import nbformat
import pytest

from kit.reports.export import external_references
from kit.reports.params import RunSpec, load_run_file
from kit.reports.runner import run_reports
from kit.settings import Settings

pytestmark = [pytest.mark.slow, pytest.mark.browser]

GOOD = ("k1-kystverket", "k1-husbanken")
SMALL = "k2-fiskeridirektoratet"  # 4 respondents after (the demo's built-in anonymity case)
BROKEN = "no-such-group"


@pytest.fixture(scope="module")
def run(demo_settings: Settings, demo_store, tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("run") / "test_run.yaml"
    groups = ", ".join([*GOOD, SMALL, BROKEN])
    path.write_text(
        f"name: test_run\ntitle: Test run\nwaves: [before, after]\ngroups: [{groups}]\n"
        "cohorts: [kull-1]\n",
        encoding="utf-8",
    )
    spec = load_run_file(path)
    summary = run_reports(spec, demo_settings, workers=2, progress=False, check=False)
    return spec, summary, demo_settings


def _outcome(summary, stem: str):
    return next(o for o in summary.outcomes if o.stem == stem)


def _html(summary, gid: str) -> str:
    o = _outcome(summary, f"groups/{gid}_after")
    return (summary.output_dir / o.html_path).read_text(encoding="utf-8")


def test_good_reports_are_made_and_broken_one_fails_alone(run) -> None:
    _spec, summary, _ = run
    assert not summary.ok
    assert [o.label for o in summary.failed] == [f"{BROKEN} (after)"]
    for gid in (*GOOD, SMALL):
        o = _outcome(summary, f"groups/{gid}_after")
        assert o.status == "made", o.error
        for name in ("notebook_path", "html_path", "pdf_path"):
            assert (summary.output_dir / getattr(o, name)).is_file()
        # the kept notebook is written once, complete: its charts drawn (no placeholder left),
        # each section's text/plain its heading (not the whole HTML a second time)
        text = (summary.output_dir / o.notebook_path).read_text(encoding="utf-8")
        assert "kit-chart-pending" not in text
        assert ("<svg" in text) == (gid in GOOD)  # the small group's results are hidden
        kept = nbformat.reads(text, as_version=4)
        plain = [
            "".join(out["data"]["text/plain"])
            for c in kept.cells
            for out in c.get("outputs", [])
            if "text/plain" in out.get("data", {})
        ]
        assert plain and all("<" not in t and len(t) < 200 for t in plain), plain
    assert _outcome(summary, "cohorts/kull-1").status == "made"


def test_failure_is_reported_with_cell_and_kept_notebook(run) -> None:
    _spec, summary, _ = run
    failed = summary.failed[0]
    assert "NotFoundError" in failed.error and BROKEN in failed.error
    assert failed.failing_cell is not None
    kept = nbformat.read(str(summary.output_dir / failed.notebook_path), as_version=4)
    assert any(o.get("output_type") == "error" for c in kept.cells for o in c.get("outputs", []))
    index = summary.index_path.read_text(encoding="utf-8")
    assert "kit-status-failed" in index and BROKEN in index
    assert not list(summary.output_dir.rglob("*.tmp*")), "temp files must not be left behind"


def test_group_html_has_its_own_name_and_nothing_of_others(run, demo_store) -> None:
    _spec, summary, _ = run
    groups = demo_store.list_groups()
    names = dict(zip(groups["id"], groups["name"], strict=True))
    html = _html(summary, GOOD[0])
    assert names[GOOD[0]] in html
    for dim in ("Felles formål", "Åpent og trygt klima", "Riktige saker på agendaen"):
        assert dim in html
    for gid, name in names.items():
        if gid != GOOD[0]:
            assert name not in html, f"{name} leaked into {GOOD[0]}'s report"
            assert gid not in html


def test_html_has_no_code_and_no_external_request(run) -> None:
    _spec, summary, _ = run
    for o in summary.made:
        html = (summary.output_dir / o.html_path).read_text(encoding="utf-8")
        assert external_references(html) == []
        assert "<script" not in html.lower()
        assert "open_group_report" not in html and "report.cover()" not in html
        assert not re.search(r"https?://(?!www\.w3\.org/)", html)


def test_under_threshold_group_shows_no_scores(run) -> None:
    _spec, summary, _ = run
    html = _html(summary, SMALL)
    assert "For få svar til å vise resultater" in html
    assert "<svg" not in html  # no chart at all
    for section in (
        "kit-summary",
        "kit-profile",
        "kit-change",
        "kit-distributions",
        "kit-comments",
        "kit-exercises",
    ):
        assert section not in html
    assert "Styrker å bygge på" not in html
    assert "Felles formål" not in html  # no dimension is named, let alone scored


def test_report_shows_change_and_summary(run) -> None:
    _spec, summary, _ = run
    html = _html(summary, GOOD[0])
    for text in (
        "Sammendrag",
        "Styrker å bygge på",
        "Utviklingsområder",
        "Endring over tid",
        "Forslag til øvelser",
        "Om metoden",
        'role="img"',
    ):
        assert text in html


def test_executed_notebook_records_how_it_was_made(run) -> None:
    _spec, summary, _ = run
    o = _outcome(summary, f"groups/{GOOD[0]}_after")
    nb = nbformat.read(str(summary.output_dir / o.notebook_path), as_version=4)
    meta = nb.metadata["kit"]
    assert meta["instrument"] == {"id": "lagprofil", "version": "1.0"}
    assert len(meta["data_hash"]) == 64 and meta["kit_version"]
    assert meta["parameters"]["group_id"] == GOOD[0]
    assert nb.metadata["papermill"]["parameters"]["group_id"] == GOOD[0]


def test_pdf_is_a4_with_pages(run) -> None:
    _spec, summary, _ = run
    o = _outcome(summary, f"groups/{GOOD[0]}_after")
    pdf = summary.output_dir / o.pdf_path
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    pages = int(re.search(r"Pages:\s+(\d+)", info).group(1))
    assert pages >= 5
    assert "(A4)" in info, info
    out = pdf.parent / "page"
    subprocess.run(
        ["pdftoppm", "-png", "-r", "20", "-f", "1", "-l", "2", str(pdf), str(out)], check=True
    )
    assert len(list(pdf.parent.glob("page-*.png"))) == 2


def test_index_marks_hidden_groups_and_failures(run) -> None:
    _spec, summary, _ = run
    assert _outcome(summary, f"groups/{SMALL}_after").hidden
    assert not any(_outcome(summary, f"groups/{g}_after").hidden for g in GOOD)
    index = summary.index_path.read_text(encoding="utf-8")
    rows = re.findall(r'<tr class="([^"]*)"><td>(.*?)</td>', index)
    marked = [label for cls, label in rows if "kit-hidden" in cls]
    assert len(marked) == 1 and SMALL in marked[0]
    assert "resultater skjult" in marked[0]
    assert "1 med skjulte resultater" in index
    failed = [label for cls, label in rows if "kit-status-failed" in cls]
    assert len(failed) == 1 and BROKEN in failed[0]


def test_second_run_with_nothing_changed_does_no_work(run) -> None:
    spec, summary, settings = run
    good = tuple(j for j in spec.jobs if j.params.as_dict().get("group_id") != BROKEN)
    again = RunSpec(spec.name, spec.title, spec.source_path, good, spec.settings)
    before = {p: p.stat().st_mtime_ns for p in summary.output_dir.rglob("*.pdf")}
    start = time.perf_counter()
    second = run_reports(again, settings, workers=2, progress=False)
    assert second.made == [] and second.failed == []
    assert len(second.skipped) == len(good)
    assert time.perf_counter() - start < 30  # no kernel, no browser
    assert {p: p.stat().st_mtime_ns for p in summary.output_dir.rglob("*.pdf")} == before
    # the index shows this run's counts (all unchanged), not the first run's
    index = second.index_path.read_text(encoding="utf-8")
    counts = re.search(r'<p class="kit-run-counts">(.*?)</p>', index).group(1)
    assert counts.startswith(f"0 laget, {len(good)} uendret, 0 feilet"), counts
    assert BROKEN not in index
    small = _outcome(second, f"groups/{SMALL}_after")
    assert small.status == "skipped" and small.hidden  # kept from the manifest


def test_single_report_runs_with_papermill_and_language_switches(run, tmp_path: Path) -> None:
    import papermill as pm

    from kit.reports.export import export_html

    _spec, summary, settings = run
    out = tmp_path / "en.ipynb"
    pm.execute_notebook(
        str(settings.notebooks_dir / "group_report.ipynb"),
        str(out),
        parameters={
            "group_id": GOOD[1],
            "waves": "before,after",
            "language": "en",
            "database_url": settings.db_url,
        },
        progress_bar=False,
    )
    html_en = export_html(nbformat.read(str(out), as_version=4), title="t", language="en")
    html_nb = _html(summary, GOOD[1])
    assert "Summary" in html_en and "How to read this report" in html_en
    assert "Shared purpose" in html_en and "Felles formål" not in html_en
    assert "Sammendrag" in html_nb and "Slik leser du rapporten" in html_nb


def test_cli_exits_non_zero_and_names_the_failure(run, monkeypatch, capsys) -> None:
    from kit import cli
    from kit.reports import runner

    spec, summary, settings = run
    monkeypatch.setattr(runner, "run_reports", lambda *a, **k: summary)
    code = cli.main(["--home", str(settings.home_dir), "report", str(spec.source_path)])
    out = capsys.readouterr().out
    assert code == 1
    assert f"FEILET {BROKEN} (after): celle" in out
    assert "notatboken med feilen er tatt vare på" in out and "index.html" in out


def test_cli_exports_a_notebook_run_with_papermill(run, tmp_path: Path, capsys) -> None:
    import shutil

    from kit import cli

    _spec, summary, settings = run
    o = _outcome(summary, f"groups/{GOOD[0]}_after")
    nb = tmp_path / "by_hand.ipynb"
    shutil.copy(summary.output_dir / o.notebook_path, nb)
    code = cli.main(["--home", str(settings.home_dir), "report", str(nb)])
    assert code == 0
    assert nb.with_suffix(".pdf").stat().st_size > 10_000
    html = nb.with_suffix(".html").read_text(encoding="utf-8")
    assert "Toppledergruppen i Kystverket" in html and external_references(html) == []


def test_the_printer_draws_every_chart_into_page_and_kept_notebook(run) -> None:
    from kit.charts import PENDING_CLASS

    _spec, summary, _ = run
    o = _outcome(summary, f"groups/{GOOD[0]}_after")
    assert o.charts_seconds > 0  # the run's Chromium drew them, not the kernel
    html = (summary.output_dir / o.html_path).read_text(encoding="utf-8")
    assert html.count('<svg role="img" aria-label="') >= 4 and PENDING_CLASS not in html
    kept = nbformat.read(str(summary.output_dir / o.notebook_path), as_version=4)
    outputs = "".join(
        out.get("data", {}).get("text/html", "") for c in kept.cells for out in c.get("outputs", [])
    )
    assert PENDING_CLASS not in outputs and outputs.count("<svg") >= 4


def test_a_warm_kernel_runs_many_reports_on_one_client(tmp_path: Path) -> None:
    """nbclient given a kernel manager opens (and never closes) a client of its own for every
    notebook: 10-14 more open files a report, measured. The runner's engine hands it the
    thread's one client."""
    import threading

    import psutil

    from kit.reports import runner

    notebook = tmp_path / "tiny.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nb.cells = [
        nbformat.v4.new_code_cell(
            "from IPython.display import HTML\n"
            "HTML(f'<h1>T</h1><p>history {get_ipython().history_manager.enabled}</p>')"
        )
    ]
    nbformat.write(nb, str(notebook))
    me = psutil.Process()
    counts: list[int] = []
    results: list[dict] = []

    def reports() -> None:  # on a thread of its own, as the runner's report threads do
        try:
            for k in range(4):
                results.append(
                    runner.execute_report(str(notebook), str(tmp_path), f"r{k}", "group", {}, {})
                )
                counts.append(me.num_fds())
        finally:
            runner._shutdown_kernel()

    thread = threading.Thread(target=reports)
    thread.start()
    thread.join(timeout=300)
    assert [r["status"] for r in results] == ["made"] * 4, results
    assert all((tmp_path / f"r{k}.html").exists() for k in range(4))
    # and no report's cells (its parameters among them) go into the user's IPython history
    assert "history False" in (tmp_path / "r0.html").read_text(encoding="utf-8")
    assert counts[1:] == [counts[0]] * 3, f"open files after each report: {counts}"


@pytest.mark.parametrize("warm", [True, False])
def test_a_failing_cell_keeps_its_notebook_on_warm_and_cold_kernels(
    tmp_path: Path, warm: bool
) -> None:
    """A warm kernel's notebook is never written by papermill (the runner writes it once); a
    cold one is. Either way a failing cell leaves the executed notebook, marked, and no temp."""
    import threading

    from kit.reports import runner

    notebook = tmp_path / "broken.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nb.cells = [nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_code_cell("1 / 0")]
    nbformat.write(nb, str(notebook))
    out = tmp_path / "out"
    results: list[dict] = []

    def report() -> None:
        try:
            results.append(
                runner.execute_report(str(notebook), str(out), "r", "group", {}, {}, warm=warm)
            )
        finally:
            runner._shutdown_kernel()

    thread = threading.Thread(target=report)
    thread.start()
    thread.join(timeout=300)
    (result,) = results
    assert result["status"] == "failed" and "ZeroDivisionError" in result["error"]
    kept = nbformat.read(str(out / "r.ipynb"), as_version=4)
    assert any(o.get("output_type") == "error" for c in kept.cells for o in c.get("outputs", []))
    assert not any(runner.RESET_TAG in c.metadata.get("tags", []) for c in kept.cells)
    assert sorted(p.name for p in out.iterdir()) == ["r.ipynb"]  # no page, no temp file
