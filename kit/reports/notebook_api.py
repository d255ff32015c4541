"""What the report notebooks call: validate parameters, load results, return the sections.

A notebook's first cell after ``parameters`` is::

    from kit.reports.notebook_api import open_group_report
    report = open_group_report(**{k: globals()[k] for k in PARAMETERS})

``warm_up`` and ``reset`` serve the batch runner's warm kernels.
"""

from __future__ import annotations

from typing import Any

from kit import __version__
from kit.reports.layout import CohortReport, GroupReport, ProgrammeReport
from kit.reports.params import (
    CohortReportParams,
    GroupReportParams,
    ProgrammeReportParams,
    validate_params,
)
from kit.settings import load_settings

_INSTRUMENTS: dict[tuple[str, float], Any] = {}


def _instrument(name: str) -> Any:
    """Instruments are read-only definitions: parse each file once per kernel (until it changes)."""
    from pathlib import Path

    from kit.instrument import INSTRUMENTS_DIR, load_instrument

    path = Path(name) if Path(name).suffix else INSTRUMENTS_DIR / f"{name}.yaml"
    key = (str(path), path.stat().st_mtime if path.is_file() else 0.0)
    if key not in _INSTRUMENTS:
        _INSTRUMENTS[key] = load_instrument(name)
    return _INSTRUMENTS[key]


def _context(params: Any) -> tuple[Any, Any, Any, Any, dict[str, Any]]:
    from kit.results import group_fingerprint, load_scored_data
    from kit.store import open_store

    settings = params.settings_for(load_settings())
    instrument = _instrument(params.instrument)
    store = open_store(settings)
    data = load_scored_data(store, settings, instrument)
    scope = getattr(params, "group_id", None) or None
    provenance = {
        "kit_version": __version__,
        "data_hash": group_fingerprint(data.data_hash, store, scope),
        "instrument": {"id": instrument.id, "version": instrument.version},
        "parameters": params.as_dict(),
    }
    return settings, instrument, store, data, provenance


def open_group_report(**values: Any) -> GroupReport:
    """Validate a group report's parameters and build its sections."""
    from kit.results import group_results

    params = validate_params(GroupReportParams, values, "group_report parameters")
    settings, instrument, store, data, provenance = _context(params)
    res = group_results(
        store,
        settings,
        params.group_id,
        params.wave_list or None,
        params.language or None,
        instrument,
        cohort_id=params.cohort_id or None,
        norm_base=params.norm_base,
        seed=params.seed,
        data=data,
        norm_wave=params.norm_wave or None,
    )
    return GroupReport(res, provenance)


def open_cohort_report(**values: Any) -> CohortReport:
    """Validate a cohort report's parameters and build its sections."""
    from kit.results import cohort_results

    params = validate_params(CohortReportParams, values, "cohort_report parameters")
    settings, instrument, store, data, provenance = _context(params)
    res = cohort_results(
        store,
        settings,
        params.cohort_id,
        params.wave_list or None,
        params.language or None,
        instrument,
        data=data,
        norm_base=params.norm_base,
        norm_wave=params.norm_wave or None,
    )
    return CohortReport(res, provenance)


def open_programme_report(**values: Any) -> ProgrammeReport:
    """Validate a programme report's parameters and build its sections."""
    from kit.results import programme_results

    params = validate_params(ProgrammeReportParams, values, "programme_report parameters")
    settings, instrument, store, data, provenance = _context(params)
    res = programme_results(
        store,
        settings,
        params.cohort_list or None,
        params.wave_list or None,
        params.language or None,
        instrument,
        data=data,
        norm_base=params.norm_base,
        norm_wave=params.norm_wave or None,
    )
    return ProgrammeReport(res, provenance)


def warm_up() -> None:
    """Pay one-off costs once per kernel: imports, texts, instruments, the SVG renderer."""
    import altair as alt
    import pandas as pd
    import scipy.sparse  # noqa: F401 - kit.scoring imports it on first use; reports use it
    import scipy.special  # noqa: F401

    from kit import charts
    from kit.i18n import load_texts
    from kit.instrument import load_instrument

    load_texts()
    load_instrument("lagprofil")
    chart = alt.Chart(pd.DataFrame({"x": [1]})).mark_point().encode(x="x:Q")
    if charts.charts_drawn_in_printer():
        charts.KitChart(chart, "", "").to_dict()  # the printer draws: no SVG renderer here
    else:
        charts.KitChart(chart, "", "").to_svg()


def reset() -> None:
    """Before each report on a warm kernel: nothing of the previous report may remain.

    Deletes every name the previous report made in the user namespace (and IPython's output
    history). Cheaper than ``%reset -f``, which also runs a full garbage collection. The kernel's
    database engines stay (``kit.store.open_store``, one per URL): a pool of connections holds no
    report's results, and opening the store anew cost each report its schema check and the
    compiled queries (85 ms of kernel CPU a report).
    """
    from IPython import get_ipython

    ip = get_ipython()
    if ip is not None:
        ns, hidden = ip.user_ns, ip.user_ns_hidden
        for name in list(ns):
            if name not in hidden and not name.startswith("__"):
                del ns[name]
        out = ns.get("_oh")
        if isinstance(out, dict):
            out.clear()
        for name in ("_", "__", "___"):
            ns[name] = ""
