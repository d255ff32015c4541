"""Start ``kit serve`` in a child process and wait for it: for tests, benchmarks and scripts.

>>> with ServedKit(home, pools=(1, 1, 0)) as kit:
...     kit.wait_ready("group_dashboard.ipynb")
...     page.goto(kit.url("/voila/render/group_dashboard.ipynb?key=..."))
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import TracebackType

from kit.errors import KitError


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def child_pids(pid: int) -> list[int]:
    """Pids of a process's descendants (Linux ``/proc``; empty elsewhere)."""
    found: list[int] = []
    todo = [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*/children"):
            try:
                kids = [int(x) for x in task.read_text().split()]
            except OSError:
                continue
            found.extend(kids)
            todo.extend(kids)
    return found


class ServedKit:
    """``kit serve`` on loopback for ``home`` (its outputs, and its SQLite database unless
    ``database_url`` names another, e.g. the PostgreSQL several processes share)."""

    def __init__(
        self,
        home: Path,
        *,
        port: int | None = None,
        pools: tuple[int, int, int] = (1, 1, 0),
        language: str = "nb",
        log_path: Path | None = None,
        database_url: str = "",
        public_url: str = "",
        extra_args: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
    ) -> None:
        self.home = Path(home)
        self.database_url = database_url  # empty: the SQLite file under ``home``
        self.public_url = public_url  # the address in printed links (e.g. a proxy in front)
        self.port = port or free_port()
        self.pools = pools
        self.language = language
        self.log_path = log_path or self.home / f"serve-{self.port}.log"
        self.extra_args = tuple(extra_args)
        self.extra_env = dict(env or {})
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self, timeout: float = 240) -> ServedKit:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KIT_")}
        env["KIT_HOME"] = str(self.home)
        if self.database_url:
            env["KIT_DATABASE_URL"] = self.database_url
        if self.public_url:
            env["KIT_PUBLIC_URL"] = self.public_url
        env.update(self.extra_env)
        dash, survey, console = self.pools
        cmd = [
            sys.executable,
            "-m",
            "kit.cli",
            "--home",
            str(self.home),
            "--language",
            self.language,
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--pool",
            str(dash),
            "--survey-pool",
            str(survey),
            "--facilitator-pool",
            str(console),
            *self.extra_args,
        ]
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise KitError(  # dev-text: the test and benchmark harness
                    f"kit serve exited with code {self.process.returncode}; see "
                    f"{self.log_path}:\n{self.log_path.read_text()[-2000:]}"
                )
            try:
                with urllib.request.urlopen(self.url("/"), timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise KitError(  # dev-text: the test and benchmark harness
            f"kit serve did not answer on port {self.port} within {timeout:.0f} s; "
            f"see {self.log_path}."
        )

    def status(self) -> dict[str, dict[str, int]]:
        """Preheated kernels per app: ``{notebook: {"ready": n, "starting": n}}``."""
        return self.full_status()["pools"]

    def full_status(self) -> dict:
        """``/kit/status``: ``pools`` and ``kernels`` (live, viewers, pooled, queued, ...)."""
        with urllib.request.urlopen(self.url("/kit/status"), timeout=5) as r:
            return json.loads(r.read())

    def kernels(self) -> dict[str, int]:
        return self.full_status()["kernels"]

    def wait_ready(
        self, notebook: str = "group_dashboard.ipynb", count: int = 1, timeout: float = 180
    ) -> float:
        """Wait until ``count`` preheated kernels of ``notebook`` are ready; returns seconds."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if self.status().get(notebook, {}).get("ready", 0) >= count:
                return time.monotonic() - start
            time.sleep(0.5)
        raise KitError(  # dev-text: the test and benchmark harness
            f"No preheated kernel of {notebook} became ready within {timeout:.0f} s."
        )

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    def kill(self) -> list[int]:
        """``kill -9`` the server (as a crash would) and return the pids of the kernels it left.

        The kernels run in sessions of their own; they notice their parent is gone and exit by
        themselves, and callers that must be sure end them by these pids.
        """
        if self.process is None or self.process.poll() is not None:
            return []
        orphans = child_pids(self.process.pid)
        self.process.kill()
        self.process.wait(timeout=10)
        return orphans

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None
        if getattr(self, "_log", None) is not None:
            self._log.close()

    def __enter__(self) -> ServedKit:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
