"""The batch runner behind ``kit report``: many reports, few kernels.

Starting a kernel and importing pandas and altair costs seconds; running one report on a warm
kernel costs a fraction of that. So the runner keeps a few **warm kernels** (one per core at
most) that imported the kit once, each driven by a thread of the main process. Each report still
runs through papermill (parameters injected, failing cell marked, executed notebook kept), on
such a kernel, in a fresh namespace (``kit.reports.notebook_api.reset`` before every report; the
kernel is restarted after a failure); its thread exports the HTML. One headless Chromium draws
the reports' charts (``kit.drawing``: the kernels leave a placeholder holding each chart's spec)
and prints every PDF; without PDFs the kernels draw the charts with vl_convert. The kernels and
the printer start while the run's inputs are hashed, when there is work for certain. Each report
reads only its own parameters' data, and one report's failure never stops the others.

Re-running skips a report whose inputs did not change: its data fingerprint, parameters, notebook,
template and kit version together make a key stored in ``<run>/.kit-run.json``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import json
import logging
import os
import queue
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from kit import __version__
from kit.i18n import t
from kit.reports.export import atomic_write_text, template_files, title_and_language
from kit.reports.index import write_index
from kit.reports.outcomes import ReportOutcome, RunSummary
from kit.reports.params import PARAMS_BY_KIND, ReportJob, RunSpec
from kit.settings import Settings

MANIFEST_NAME = ".kit-run.json"
WARM_CODE = """
import kit.drawing, kit.reports.notebook_api, kit.results, kit.charts
import pandas, altair
kit.drawing.draw_charts_in_printer({in_printer})
kit.reports.notebook_api.warm_up()
kit.results.enable_run_cache()
"""
KERNEL_ARGUMENTS = [
    # IPython's input history: a SQLite write per cell into the user's ~/.ipython, which would
    # also keep every report's parameters there
    "--HistoryManager.enabled=False",
]
RESET_CODE = "import kit.reports.notebook_api as _k\n_k.reset()\n"
HIDDEN_MARK = 'class="kit-notice kit-suppressed"'  # the cover of a report whose results are hidden
WARM_ENGINE = "kit-warm-kernel"  # papermill engine: the thread's warm kernel and its client
RESET_TAG = "kit-reset"  # the first cell on a warm kernel; removed from the executed notebook
log = logging.getLogger(__name__)


# -- fingerprints --------------------------------------------------------------------------------


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def code_fingerprint(notebook_path: Path) -> str:
    """Hash of what turns data into a report: notebook, template files and kit version."""
    h = hashlib.sha256(__version__.encode())
    h.update(notebook_path.read_bytes())
    for p in template_files():
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def report_key(job: ReportJob, data_hash: str, code_hash: str) -> str:
    payload = json.dumps(
        {"params": job.params.as_dict(), "kind": job.kind, "data": data_hash, "code": code_hash},
        sort_keys=True,
    )
    return _sha(payload.encode())


# -- one warm kernel per report thread ------------------------------------------------------------

_LOCAL = threading.local()  # this thread's kernel and how it draws charts


def _kernel() -> dict[str, Any]:
    """This thread's warm kernel (empty when none is running)."""
    if not hasattr(_LOCAL, "kernel"):
        _LOCAL.kernel = {}
    return _LOCAL.kernel  # type: ignore[no-any-return]


def _start_kernel() -> None:
    from jupyter_client.manager import AsyncKernelManager
    from jupyter_core.utils import run_sync

    ipc_dir = tempfile.mkdtemp(prefix="kit-kernel-")
    km = AsyncKernelManager(
        kernel_name="python3",
        kernel_spec_manager=_kernel_specs(),
        transport="ipc",
        ip=ipc_dir + "/k",
    )
    kernel = _kernel()
    kernel.clear()
    kernel.update(km=km, ipc_dir=ipc_dir)
    run_sync(km.start_kernel)(cwd=str(Path.cwd()), extra_arguments=KERNEL_ARGUMENTS)
    kernel["pid"] = getattr(km.provisioner, "pid", None)  # from now on it can be killed
    _prepare_worker()  # while the kernel process starts
    kc = km.client()
    kc.start_channels()
    kernel["kc"] = kc
    run_sync(kc.wait_for_ready)(timeout=120)
    _run_code(WARM_CODE.format(in_printer=getattr(_LOCAL, "charts_in_printer", False)))


@functools.lru_cache(maxsize=1)
def _kernel_specs() -> Any:
    """Jupyter's kernel specs, looked up in Jupyter's own folders: the default also looks in
    IPython's profile folder, importing IPython for it (0.44 s of the main process's CPU)."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_core.paths import jupyter_path

    return KernelSpecManager(kernel_dirs=jupyter_path("kernels"))


def _prepare_worker() -> None:
    """What every report needs: papermill, its engine on the warm kernel, and the HTML exporter
    (its template compiled)."""
    from papermill.engines import papermill_engines

    from kit.reports.export import _exporter

    papermill_engines.register(WARM_ENGINE, _warm_engine())
    _exporter()


@functools.lru_cache(maxsize=1)
def _warm_engine() -> type:
    """papermill's nbclient engine on this thread's warm kernel **and its one client**.

    nbclient takes a kernel manager but no client: given only ``km`` it opens a client of its own
    for each notebook (channels started, kernel_info waited for) and, not owning the kernel,
    never closes it: a long run held 10-14 more open files for every report (zmq sockets).
    """
    from papermill.clientwrap import PapermillNotebookClient
    from papermill.engines import NBClientEngine

    class WarmKernelEngine(NBClientEngine):
        @classmethod
        def execute_managed_notebook(  # type: ignore[override]
            cls,
            nb_man: Any,
            kernel_name: str,
            log_output: bool = False,
            stdout_file: Any = None,
            stderr_file: Any = None,
            start_timeout: int = 60,
            execution_timeout: int | None = None,
            **kwargs: Any,
        ) -> Any:
            client = PapermillNotebookClient(
                nb_man,
                km=_kernel()["km"],
                timeout=execution_timeout,
                startup_timeout=start_timeout,
                kernel_name=kernel_name,
                log=logging.getLogger("papermill"),
                log_output=log_output,
                stdout_file=stdout_file,
                stderr_file=stderr_file,
            )
            client.kc = _kernel()["kc"]
            _LOCAL.executing = nb_man.nb  # what execute_report keeps if a cell fails
            return client.execute()

    return WarmKernelEngine


def _run_code(code: str) -> None:
    """Run ``code`` on the warm kernel through nbclient (the same client papermill uses)."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(code)]
    client = NotebookClient(nb, km=_kernel()["km"], timeout=300)
    client.kc = _kernel()["kc"]  # not a constructor argument: nbclient would open one more
    try:
        client.execute()
    except CellExecutionError as exc:
        raise RuntimeError(f"warm kernel: {exc}") from None  # dev-text: a worker's own log


def _restart_kernel() -> None:

    try:
        _shutdown_kernel()
    except Exception:  # noqa: BLE001 - a dead kernel is replaced below either way
        log.debug("kernel shutdown failed", exc_info=True)
    _start_kernel()


def _shutdown_kernel() -> None:
    from jupyter_core.utils import run_sync

    if _kernel():
        kernel = dict(_kernel())
        _kernel().clear()
        try:
            if "kc" in kernel:
                kernel["kc"].stop_channels()
            run_sync(kernel["km"].shutdown_kernel)(now=True)
        finally:
            shutil.rmtree(kernel.get("ipc_dir", ""), ignore_errors=True)


def execute_report(
    notebook_path: str,
    output_dir: str,
    stem: str,
    kind: str,
    params: dict[str, Any],
    meta: dict[str, Any],
    *,
    warm: bool = True,
    run_language: str = "nb",
) -> dict[str, Any]:
    """Run one report with papermill (on the warm kernel if ``warm``) and export its HTML.

    Returns a dict of :class:`ReportOutcome` fields. Writes ``<stem>.ipynb`` (kept also when a
    cell fails, with the failing cell marked) and ``<stem>.html``, each atomically. When the
    kernel left its charts to the printer, neither is written here: the page and the executed
    notebook stay in memory (``unprinted``, an :class:`Unprinted`) until the printer has drawn
    the charts, and each file is written once, complete (:func:`_print`).
    """
    import nbformat
    import papermill as pm

    from kit.drawing import PENDING_PATTERN
    from kit.reports.export import atomic_write_text, export_html, temp_path_for

    start = time.perf_counter()
    out_dir = Path(output_dir)
    nb_path = out_dir / f"{stem}.ipynb"
    html_path = out_dir / f"{stem}.html"
    tmp = None if warm else temp_path_for(nb_path)  # where papermill writes (cold kernels)
    result: dict[str, Any] = {"notebook_path": str(nb_path)}
    engine_kwargs: dict[str, Any] = {}
    source: Any = notebook_path
    if warm:
        if not _kernel():
            _start_kernel()
        engine_kwargs = {"engine_name": WARM_ENGINE}
        source = nbformat.read(notebook_path, as_version=4)
        reset = nbformat.v4.new_code_cell(RESET_CODE)
        reset.metadata["tags"] = [RESET_TAG]
        source.cells.insert(0, reset)
    _LOCAL.executing = None  # the notebook the warm engine runs: kept if a cell fails
    try:
        nb = pm.execute_notebook(
            source,
            None if tmp is None else str(tmp),  # warm: written here, once, not by papermill
            parameters=params,
            progress_bar=False,
            request_save_on_cell_execute=False,
            execution_timeout=600,
            **engine_kwargs,
        )
    except Exception as exc:  # noqa: BLE001 - any failure is this report's alone
        kept = _LOCAL.executing
        if kept is None and tmp is not None and tmp.exists() and tmp.stat().st_size:
            kept = nbformat.read(str(tmp), as_version=4)
        _LOCAL.executing = None
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        if kept is not None:  # with the failing cell marked by papermill
            kept.cells = [c for c in kept.cells if RESET_TAG not in c.metadata.get("tags", [])]
            _write_notebook(kept, nb_path)
        else:
            result["notebook_path"] = ""
        for p in (html_path, html_path.with_suffix(".pdf")):
            p.unlink(missing_ok=True)
        if warm:
            _restart_kernel()
        result.update(
            status="failed",
            error=_error_text(exc),
            failing_cell=getattr(exc, "exec_count", None),
            seconds=time.perf_counter() - start,
        )
        return result
    executed = time.perf_counter()
    _LOCAL.executing = None
    nb.cells = [c for c in nb.cells if RESET_TAG not in c.metadata.get("tags", [])]
    nb.metadata["kit"] = {
        "kit_version": __version__,
        **meta,
        "parameters": params,
        "kind": kind,
        "made_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    title, language = title_and_language(nb, params)
    try:
        html = export_html(nb, title=title, language=language)
    except Exception as exc:  # noqa: BLE001
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        result.update(
            status="failed",
            error=t("report.run.failed.html", run_language, error=_error_text(exc)),
            seconds=time.perf_counter() - start,
        )
        return result
    if tmp is not None:
        tmp.unlink(missing_ok=True)
    if PENDING_PATTERN.search(html):  # the printer draws the charts; then both are written
        result["unprinted"] = Unprinted(html, nb, nb_path)
    else:
        _write_notebook(nb, nb_path)
        atomic_write_text(html_path, html)
    done = time.perf_counter()
    result.update(
        status="made",
        html_path=str(html_path),
        title=title,
        language=language,
        seconds=done - start,
        hidden=HIDDEN_MARK in html,
        execute_seconds=executed - start,
        html_seconds=done - executed,
    )
    return result


@dataclasses.dataclass
class Unprinted:
    """An executed report whose charts the printer is to draw: its page (with the charts'
    placeholders) and its notebook, in memory until :func:`_print` writes both, complete."""

    page: str
    notebook: Any  # nbformat.NotebookNode
    notebook_path: Path

    def write_notebook(self, drawn: dict[str, str] | None = None) -> None:
        """Write the notebook (atomically), its charts replaced by ``drawn``, if given."""
        from kit.reports.export import patch_notebook_charts

        if drawn:
            patch_notebook_charts(self.notebook, drawn)
        _write_notebook(self.notebook, self.notebook_path)


def _write_notebook(nb: Any, path: Path) -> None:
    """``nb`` validated and written as nbformat writes it, atomically."""
    import nbformat

    from kit.reports.export import atomic_write_text

    text = nbformat.writes(nb)
    atomic_write_text(path, text if text.endswith("\n") else text + "\n")


def _error_text(exc: BaseException) -> str:
    ename, evalue = getattr(exc, "ename", None), getattr(exc, "evalue", None)
    if ename:
        return f"{ename}: {evalue}".strip()
    return f"{type(exc).__name__}: {exc}".strip()


# -- main side -----------------------------------------------------------------------------------


def shard_manifest_name(shard: tuple[int, int] | None) -> str:
    """The manifest a run (or one shard ``(index, count)`` of it) writes in the output folder."""
    if shard is None:
        return MANIFEST_NAME
    return f".kit-run.shard-{shard[0]}-of-{shard[1]}.json"


def shard_jobs(jobs: tuple[ReportJob, ...], shard: tuple[int, int] | None) -> tuple[ReportJob, ...]:
    """The deterministic share of ``jobs`` of shard ``(index, count)`` (index from 0): every
    count-th report of the run file's order, starting at index."""
    if shard is None:
        return jobs
    index, count = shard
    return tuple(j for k, j in enumerate(jobs) if k % count == index)


def _manifest(output_dir: Path, name: str = MANIFEST_NAME) -> dict[str, Any]:
    path = output_dir / name
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _is_current(entry: dict[str, Any] | None, key: str, output_dir: Path, pdf: bool) -> bool:
    return bool(entry) and entry.get("key") == key and _has_files(entry, output_dir, pdf)


def _has_files(entry: dict[str, Any] | None, output_dir: Path, pdf: bool) -> bool:
    """Whether a manifest entry is a made report whose files are all there (its key aside)."""
    if not entry or entry.get("status") != "made":
        return False
    needed = [entry.get("notebook_path"), entry.get("html_path")]
    if pdf:
        needed.append(entry.get("pdf_path"))
    return all(p and (output_dir / p).is_file() for p in needed)


def run_reports(
    spec: RunSpec,
    settings: Settings,
    *,
    force: bool = False,
    workers: int | None = None,
    pdf: bool = True,
    progress: bool = True,
    warm: bool = True,
    on_outcome: Callable[[ReportOutcome], None] | None = None,
    check: bool = True,
    shard: tuple[int, int] | None = None,
) -> RunSummary:
    """Make every report of ``spec``; never raises for one report's failure.

    ``workers`` defaults to ``settings.workers`` (bounded by the number of cores and reports).
    With ``check`` (the default) the run's groups, waves, cohorts and instrument are checked
    against the database first (``check_run``): a ``ParameterError`` before anything is made or
    written (kernels started meanwhile are killed).
    ``shard=(index, count)`` makes only that shard's share of the reports (``shard_jobs``) and
    records them in a manifest of its own, so shards on several machines can write to one shared
    folder at once; :func:`merge_shards` then writes the run's manifest and index.
    """
    from kit.reports.params import check_run

    start = time.perf_counter()
    checked, whole = settings, spec
    settings = settings.replace(**spec.settings) if spec.settings else settings
    output_dir = spec.output_dir(settings)
    manifest_name = shard_manifest_name(shard)
    manifest = {**_manifest(output_dir), **_manifest(output_dir, manifest_name)}
    if shard is not None:
        spec = dataclasses.replace(spec, jobs=shard_jobs(spec.jobs, shard))
    summary = RunSummary(spec.name, spec.title, output_dir)
    pending: list[tuple[ReportJob, str, dict[str, Any]]] = []
    results: dict[str, ReportOutcome] = {}
    env = _settings_env(settings)
    env_before = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the kernels see exactly these settings
    try:
        with _Makers(settings, workers, warm=warm, pdf=pdf) as makers:
            unmade = [j for j in spec.jobs if not _has_files(manifest.get(j.stem), output_dir, pdf)]
            if force or unmade:  # work for certain: kernels and printer start while the run is
                # checked and its inputs hashed; a refused run kills them (nothing is written)
                makers.start(len(spec.jobs) if force else len(unmade))
            if check:  # unknown groups, waves, cohorts: refused before any report or file
                check_run(whole, checked)
            output_dir.mkdir(parents=True, exist_ok=True)
            fingerprints = _data_fingerprints(spec, settings)
            code_hashes: dict[str, str] = {}
            for job in spec.jobs:
                nb_path = settings.notebooks_dir / job.params.notebook
                code = code_hashes.setdefault(job.params.notebook, code_fingerprint(nb_path))
                data_hash, meta = fingerprints[job.stem]
                key = report_key(job, data_hash, code)
                entry = manifest.get(job.stem)
                if not force and _is_current(entry, key, output_dir, pdf):
                    known = {f.name for f in fields(ReportOutcome)}
                    kept = {k: v for k, v in entry.items() if k in known}
                    outcome = ReportOutcome(**{**kept, "status": "skipped", "seconds": 0.0})
                    summary.outcomes.append(outcome)
                    continue
                pending.append((job, key, {**meta, "data_hash": data_hash}))
            for job, _, _ in pending:  # what an interrupted run of these reports left half-made
                target = output_dir / job.stem
                for stale in target.parent.glob(f".{target.name}.*.tmp.*"):
                    stale.unlink(missing_ok=True)
            bar = _progress(len(pending), progress)

            def finish(outcome: ReportOutcome) -> None:
                outcome = _relative(outcome, output_dir)
                results[outcome.stem] = outcome
                if outcome.status == "made":  # progress survives an interrupted run
                    manifest[outcome.stem] = asdict(outcome)
                    atomic_write_text(output_dir / manifest_name, json.dumps(manifest, indent=1))
                bar.update(1)
                if outcome.status == "failed":
                    bar.write(f"failed: {outcome.label}: {outcome.error}")
                if on_outcome:
                    on_outcome(outcome)

            if pending:
                makers.start(len(pending))
                makers.make(pending, output_dir, finish)
            bar.close()
    finally:
        for k, v in env_before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    summary.outcomes.extend(results[j.stem] for j, _, _ in pending)
    order = {j.stem: i for i, j in enumerate(spec.jobs)}
    summary.outcomes.sort(key=lambda o: order.get(o.stem, 0))
    new_manifest = {o.stem: asdict(o) for o in summary.outcomes if o.status != "skipped"}
    for o in summary.skipped:
        new_manifest[o.stem] = {**manifest[o.stem]}
    atomic_write_text(output_dir / manifest_name, json.dumps(new_manifest, indent=1))
    summary.seconds = time.perf_counter() - start
    if shard is None:
        write_index(summary, settings)  # always: the index shows the counts of this run
    return summary


class _Makers:
    """The run's report threads (each driving one warm kernel) and its printer, started at most
    once and only for work: :meth:`start` launches them without waiting (the kernels warm up and
    Chromium opens while the main process goes on), :meth:`make` runs the reports.

    Threads of the main process, not processes: a report's own work is in its kernel and in
    Chromium; what drives them (papermill's client, the HTML export) is loaded once, not once per
    worker (1.4 s of CPU each)."""

    def __init__(self, settings: Settings, workers: int | None, *, warm: bool, pdf: bool) -> None:
        self.settings, self.workers, self.warm, self.pdf = settings, workers, warm, pdf
        self.n_print = 0
        self._threads: list[threading.Thread] = []
        self._jobs: queue.Queue[tuple[ReportJob, str, tuple[Any, ...]] | None] = queue.Queue()
        # executed reports (from the report threads) and printed ones (their Futures)
        self._done: queue.Queue[tuple[ReportJob, str, dict[str, Any]] | Future[Any]] = queue.Queue()
        self._kernels: list[dict[str, Any]] = []  # every thread's kernel (killed on an abort)
        self._aborted = threading.Event()
        # reports executed and not yet finished (printing, or waiting for a printer's page): held
        # in memory, so bounded; a report thread waits for room before it runs one more
        self._in_flight = threading.Semaphore(IN_FLIGHT)
        self._printer: Future[Any] | None = None
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> _Makers:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        try:
            for _ in self._threads:
                self._jobs.put(None)  # each thread ends after the reports before it
            if exc_type is not None:  # refused or interrupted: the kernels go at once
                self._aborted.set()
                for kernel in list(self._kernels):
                    _kill(kernel.get("pid"))
            for thread in self._threads:
                thread.join(timeout=60 if exc_type is None else 15)
        finally:
            self._stack.close()

    def start(self, n_jobs: int) -> None:
        if self._threads:
            return
        logging.getLogger("papermill").setLevel(logging.WARNING)
        logging.getLogger("traitlets").setLevel(logging.ERROR)
        n = max(1, min(self.workers or self.settings.workers, os.cpu_count() or 1, n_jobs))
        for i in range(n):
            thread = threading.Thread(target=self._drive, name=f"kit-report-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)
        if self.pdf:
            self.n_print = max(1, min(PDF_PRINTERS, n))
            opener = ThreadPoolExecutor(1, thread_name_prefix="kit-print-open")
            self._printer = opener.submit(_open_printer, self.settings, self.n_print)
            opener.shutdown(wait=False)
            self._stack.callback(_close_printer, self._printer)

    def _drive(self) -> None:
        """A report thread: its kernel, then the reports it takes, until told to end."""
        _LOCAL.charts_in_printer = self.pdf  # with PDFs, the printer draws the charts
        start_error = ""
        if self.warm and not self._aborted.is_set():
            self._kernels.append(_kernel())  # its pid is known as soon as it is launched
            try:
                _start_kernel()
            except Exception as exc:  # noqa: BLE001 - each of its reports says so
                start_error = t(
                    "report.run.failed.kernel", self.settings.language, error=_error_text(exc)
                )
            if self._aborted.is_set():  # launched while the run was refused: gone at once
                _kill(_kernel().get("pid"))
        try:
            while (item := self._jobs.get()) is not None:
                if self._aborted.is_set():  # interrupted: no more reports, no kernel restarted
                    break
                job, key, args = item
                if not self._take_slot():
                    break
                if start_error:
                    result: dict[str, Any] = {"status": "failed", "error": start_error}
                else:
                    try:
                        result = execute_report(
                            *args, warm=self.warm, run_language=self.settings.language
                        )
                    except Exception as exc:  # noqa: BLE001 - this report's alone
                        result = {"status": "failed", "error": _error_text(exc)}
                self._done.put((job, key, result))
        finally:
            with contextlib.suppress(Exception):
                _shutdown_kernel()

    def make(
        self,
        pending: list[tuple[ReportJob, str, dict[str, Any]]],
        output_dir: Path,
        finish: Callable[[ReportOutcome], None],
    ) -> None:
        """Run ``pending`` on the report threads; print each made report as it comes; ``finish``
        each outcome (in the calling thread)."""
        for job, key, meta in pending:
            args = (
                str(self.settings.notebooks_dir / job.params.notebook),
                str(output_dir),
                job.stem,
                job.kind,
                _kernel_params(job, self.settings),
                meta,
            )
            self._jobs.put((job, key, args))
        with ThreadPoolExecutor(max(1, self.n_print), thread_name_prefix="kit-print") as printers:
            left, printing = len(pending), 0
            while left or printing:
                try:  # an executed report (from a report thread) or a printed one (a Future)
                    item = self._done.get(timeout=1.0)
                except queue.Empty:
                    if left and not any(t.is_alive() for t in self._threads):  # never happens
                        raise RuntimeError("report threads ended early") from None  # dev-text
                    continue
                if isinstance(item, Future):
                    printing -= 1
                    self._finished(finish, item.result())
                    continue
                job, key, result = item
                left -= 1
                outcome, language, to_draw = _collect(result, job, key)
                if outcome.status == "made" and self._printer is not None:
                    printed = printers.submit(
                        _print_when_open,
                        outcome,
                        language,
                        output_dir,
                        self._printer,
                        to_draw,
                        self.settings.language,
                    )
                    printing += 1
                    printed.add_done_callback(self._done.put)  # this loop finishes it
                    continue
                if to_draw is not None:  # not printed, so never drawn: no half-made page
                    with contextlib.suppress(OSError):
                        to_draw.write_notebook()
                    outcome.status, outcome.html_path = "failed", ""
                    outcome.error = t("report.run.failed.no_printer", self.settings.language)
                self._finished(finish, outcome)

    def _finished(self, finish: Callable[[ReportOutcome], None], outcome: ReportOutcome) -> None:
        self._in_flight.release()  # a report thread may run one more
        finish(outcome)

    def _take_slot(self) -> bool:
        """Wait for room to run one more report (False once the run is interrupted)."""
        while not self._in_flight.acquire(timeout=0.5):
            if self._aborted.is_set():
                return False
        return True


def _kill(pid: int | None) -> None:
    if pid:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def _open_printer(settings: Settings, pages: int) -> Any:
    """The run's printer, open, with its chart drawing page loaded (in a thread of its own)."""
    printer = _printer(settings, pages)
    printer.__enter__()
    try:
        printer.draw_charts([WARM_CHART])  # Vega loaded and compiled before the first report
    except Exception:  # noqa: BLE001 - the first report's drawing says what is wrong
        log.debug("warming the chart drawing failed", exc_info=True)
    return printer


def _close_printer(opened: Future[Any]) -> None:
    try:
        printer = opened.result()
    except Exception:  # noqa: BLE001 - it never opened: nothing to close
        return
    printer.__exit__(None, None, None)


def _print_when_open(
    outcome: ReportOutcome,
    language: str,
    output_dir: Path,
    opened: Future[Any],
    pending: Unprinted | None,
    run_language: str = "nb",
) -> ReportOutcome:
    try:
        printer = opened.result()
    except Exception as exc:  # noqa: BLE001 - no Chromium: each report says so
        outcome.status = "failed"
        outcome.error = t("report.run.failed.pdf", run_language, error=_error_text(exc))
        if pending is not None:  # no charts drawn: no page; the notebook is kept
            outcome.html_path = ""
            with contextlib.suppress(OSError):
                pending.write_notebook()
        return outcome
    return _print(outcome, language, output_dir, printer, pending, run_language)


WARM_CHART = {
    "spec": {
        "data": {"values": [{"a": 1.5, "b": "x"}]},
        "mark": "bar",
        "encoding": {"x": {"field": "a", "type": "quantitative"}, "y": {"field": "b"}},
    },
    "locale": None,
}


def merge_shards(spec: RunSpec, settings: Settings) -> RunSummary:
    """One manifest and one ``index.html`` for a run made in shards (``run_reports(shard=...)``):
    the shards' manifests merged in the run file's order; a report no shard made is listed as
    failed, so a missing shard cannot go unnoticed."""
    settings = settings.replace(**spec.settings) if spec.settings else settings
    output_dir = spec.output_dir(settings)
    merged: dict[str, Any] = {}
    for path in sorted(output_dir.glob(".kit-run.shard-*-of-*.json")):
        merged.update(_manifest(output_dir, path.name))
    known = {f.name for f in fields(ReportOutcome)}
    summary = RunSummary(spec.name, spec.title, output_dir)
    for job in spec.jobs:
        entry = merged.get(job.stem)
        if entry is None:
            summary.outcomes.append(
                ReportOutcome(
                    job.stem,
                    job.label,
                    job.kind,
                    "failed",
                    error=t("report.index.shard_missing", settings.language),
                )  # fmt: skip
            )
            continue
        summary.outcomes.append(ReportOutcome(**{k: v for k, v in entry.items() if k in known}))
    summary.seconds = max((o.seconds for o in summary.outcomes), default=0.0)
    manifest = {o.stem: asdict(o) for o in summary.outcomes if o.status != "failed" or o.key}
    atomic_write_text(output_dir / MANIFEST_NAME, json.dumps(manifest, indent=1))
    write_index(summary, settings)
    return summary


def _settings_env(settings: Settings) -> dict[str, str]:
    """``settings`` as the KIT_* variables ``load_settings`` reads in a worker and its kernel."""
    from dataclasses import fields

    env = {f"KIT_{f.name.upper()}": str(getattr(settings, f.name)) for f in fields(settings)}
    env["KIT_HOME"] = str(settings.home_dir)
    return {k: v for k, v in env.items() if v != ""}


def _kernel_params(job: ReportJob, settings: Settings) -> dict[str, Any]:
    """The parameters papermill injects (and writes into the notebook): never the database URL,
    which reaches the kernel as KIT_DATABASE_URL (it may hold a password)."""
    params = job.params.as_dict()
    params.pop("database_url", None)
    return params


def _collect(
    result: dict[str, Any], job: ReportJob, key: str
) -> tuple[ReportOutcome, str, Unprinted | None]:
    """The outcome of an executed report (not yet printed), its language, and what the printer
    is to draw the charts of (None if nothing)."""
    base = {"stem": job.stem, "label": job.label, "kind": job.kind, "key": key}
    res = dict(result)
    language = res.pop("language", "nb")
    pending = res.pop("unprinted", None)
    known = {f.name for f in fields(ReportOutcome)} - set(base)
    outcome = ReportOutcome(**base, **{k: v for k, v in res.items() if k in known})
    return outcome, language, pending


def _print(
    outcome: ReportOutcome,
    language: str,
    output_dir: Path,
    printer: Any,
    pending: Unprinted | None = None,
    run_language: str = "nb",
) -> ReportOutcome:
    """Draw a made report's charts (``pending``: its page and notebook, then written) and print
    its PDF, on the printer's pages (any thread). A report whose charts cannot be drawn fails,
    with no page (its notebook is kept, the charts not drawn)."""
    from kit.reports.export import draw_pending_charts

    pdf_path = output_dir / f"{outcome.stem}.pdf"
    html_path = Path(outcome.html_path)
    t0 = time.perf_counter()
    if pending is not None:
        drawn: dict[str, str] | None = None
        try:
            page, drawn = draw_pending_charts(pending.page, printer)
            atomic_write_text(html_path, page)
        except Exception as exc:  # noqa: BLE001
            outcome.status = "failed"
            outcome.error = t("report.run.failed.charts", run_language, error=_error_text(exc))
            outcome.html_path = ""
        try:
            pending.write_notebook(drawn)
        except OSError as exc:
            html_path.unlink(missing_ok=True)
            outcome.status = "failed"
            outcome.error = t("report.run.failed.write", run_language, error=_error_text(exc))
            outcome.html_path = outcome.notebook_path = ""
        outcome.charts_seconds = time.perf_counter() - t0
        outcome.seconds += outcome.charts_seconds
        if outcome.status == "failed":
            return outcome
    t1 = time.perf_counter()
    try:
        printer.print_pdf(html_path, pdf_path, language=language, title=outcome.title)
        outcome.pdf_path = str(pdf_path)
    except Exception as exc:  # noqa: BLE001
        outcome.status = "failed"
        outcome.error = t("report.run.failed.pdf", run_language, error=_error_text(exc))
    outcome.pdf_seconds = time.perf_counter() - t1
    outcome.seconds += outcome.pdf_seconds
    return outcome


def _relative(outcome: ReportOutcome, output_dir: Path) -> ReportOutcome:
    for name in ("notebook_path", "html_path", "pdf_path"):
        value = getattr(outcome, name)
        if value:
            setattr(outcome, name, os.path.relpath(value, output_dir))
    return outcome


PDF_PRINTERS = 2  # pages of the one Chromium printing at once; bounded by the workers
IN_FLIGHT = 8  # reports run and not yet printed, at most (each holds its page and notebook)


def _printer(settings: Settings, pages: int = 1) -> Any:
    from kit.reports.export import PdfPrinter

    return PdfPrinter(settings.chromium_path, pages=pages)


def _progress(total: int, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, disable=not enabled or total == 0, unit="report", desc="reports")


def _data_fingerprints(spec: RunSpec, settings: Settings) -> dict[str, tuple[str, dict[str, Any]]]:
    """Per job: a hash of the data its report reads, and instrument metadata.

    The responses are hashed once per data source and instrument; each group adds its action plan.
    """
    from kit.instrument import load_instrument
    from kit.results import base_fingerprint, group_fingerprint
    from kit.store import open_store

    out: dict[str, tuple[str, dict[str, Any]]] = {}
    bases: dict[tuple[str, str, str], tuple[str, dict[str, Any]]] = {}
    for job in spec.jobs:
        s = job.params.settings_for(settings)
        key = (s.db_url, job.params.instrument, f"{s.min_respondents}/{s.min_comment_respondents}")
        if key not in bases:
            inst = load_instrument(job.params.instrument)
            meta = {"instrument": {"id": inst.id, "version": inst.version}}
            bases[key] = (base_fingerprint(open_store(s), s, inst), meta)
        base, meta = bases[key]
        scope = getattr(job.params, "group_id", "") or None
        out[job.stem] = (group_fingerprint(base, open_store(s), scope), meta)
    return out


def params_class(kind: str) -> Any:
    return PARAMS_BY_KIND[kind]
