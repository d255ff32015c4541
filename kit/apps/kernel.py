"""Run at the start of every kernel of ``kit serve`` (an IPython startup file written by
``kit.apps.server.kernel_profile_dir``): what a viewer's browser receives from the kernel.

A viewer can send widget messages (comm messages) to their page's kernel; one that makes a
callback fail would get the Python traceback back on the page's websocket, and warnings would
be shown as output. Here errors and warnings go to the server's log (the kernel's original
stderr) and the viewer gets nothing but the page.
"""

from __future__ import annotations

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
            print("kit kernel: error (not shown to the viewer):", file=log)
            print(shell.InteractiveTB.stb2text(stb), file=log, flush=True)

    def _showwarning(message: Any, category: Any, filename: str, lineno: int, *_: Any) -> None:
        if log is not None:
            print(f"kit kernel: {category.__name__}: {message} ({filename}:{lineno})", file=log)

    shell._showtraceback = _showtraceback
    warnings.showwarning = _showwarning
