"""Run at the start of every kernel of ``kit serve`` (an IPython startup file written by
``kit.apps.server.kernel_profile_dir``): what a viewer's browser receives from the kernel.

A viewer can send widget messages (comm messages) to their page's kernel; one that makes a
callback fail would get the Python traceback back on the page's websocket, and warnings would
be shown as output. Here errors and warnings go to the server's log (the kernel's original
stderr) and the viewer gets nothing but the page.
"""

from __future__ import annotations

import logging
import sys
import warnings
from typing import Any


def harden(shell: Any = None) -> None:
    """Tracebacks and warnings of this kernel go to the log, never to a viewer."""
    if shell is None:
        try:
            from IPython import get_ipython
        except ImportError:  # pragma: no cover - ipykernel needs IPython
            return
        shell = get_ipython()
    if shell is None:
        return
    log = sys.__stderr__

    def _showtraceback(etype: Any, evalue: Any, stb: list[str]) -> None:
        # InteractiveShell.showtraceback still records the error for the execute reply (the
        # server-side executor sees it); only the copy published to the viewers is dropped.
        if log is not None:
            print("kit kernel: error (not shown to the viewer):", file=log)  # dev-text: log
            print(shell.InteractiveTB.stb2text(stb), file=log, flush=True)

    def _showwarning(message: Any, category: Any, filename: str, lineno: int, *_: Any) -> None:
        if log is not None:
            line = f"kit kernel: {category.__name__}: {message} ({filename}:{lineno})"
            print(line, file=log)  # dev-text: the server's log

    shell._showtraceback = _showtraceback
    warnings.showwarning = _showwarning
    # The kernel's own log (comm errors with their tracebacks) and stray writes to stderr: to
    # the server's log. Cell outputs the apps show are displays, never stderr.
    if log is not None:
        for logger in (logging.getLogger(), *_app_loggers()):
            for handler in getattr(logger, "handlers", []):
                if isinstance(handler, logging.StreamHandler) and handler.stream is not log:
                    handler.setStream(log)
        sys.stderr = log


def _app_loggers() -> list[logging.Logger]:
    loggers = []
    try:
        from ipykernel.kernelapp import IPKernelApp

        if IPKernelApp.initialized():
            loggers.append(IPKernelApp.instance().log)
    except Exception:  # noqa: BLE001 - hardening must never stop a kernel
        pass
    return [x for x in loggers if isinstance(x, logging.Logger)]


# Modules an app's kernel never needs, kept from being imported. jsonschema (imported by altair)
# loads ``rfc3987_syntax`` when present, which builds a parser grammar at import: about 17 MB and
# 2-5 s of CPU per kernel, for IRI format checks the kit never makes (its charts are not
# validated against the Vega-Lite schema: ``KitChart.to_dict(validate=False)``).
NEVER_IMPORTED = ("rfc3987_syntax",)


def lighten() -> None:
    """Keep ``NEVER_IMPORTED`` out of this kernel (an import of one raises ImportError, which
    its importers treat as the optional module being absent)."""
    for name in NEVER_IMPORTED:
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]
