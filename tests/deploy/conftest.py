"""Fixtures of the deployment tests: nginx from the shipped configuration, run by the project's
own script, and a fresh schema in the test PostgreSQL database.

``NginxProxy`` runs ``scripts/start-nginx.sh`` (which renders ``deploy/nginx/kit.conf.template``
and execs ``nginx -g 'daemon off;'``) as a child process on loopback ports, in a directory of its
own; ``access()`` reads its access log (``kit`` format: path without query, upstream, route).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from kit.apps.launch import free_port

ROOT = Path(__file__).resolve().parents[2]
START_NGINX = ROOT / "scripts" / "start-nginx.sh"
TEMPLATE = ROOT / "deploy" / "nginx" / "kit.conf.template"
POSTGRES_ENV = "KIT_TEST_POSTGRES_URL"

LOG_LINE = re.compile(
    r'^(?P<client>\S+) \[(?P<time>[^\]]+)\] "(?P<method>\S+) (?P<path>[^"]*)" (?P<status>\d+) '
    r"(?P<bytes>\d+) (?P<seconds>[\d.]+) upstream=(?P<upstream>.*?) "
    r"upstream_status=(?P<upstream_status>.*?) route=(?P<route>\S+)$"
)


@dataclass(frozen=True)
class Hit:
    """One line of the proxy's access log."""

    method: str
    path: str
    status: int
    upstreams: tuple[str, ...]  # every process nginx tried, in order ("kit": none was up)
    upstream_statuses: tuple[str, ...]
    route: str  # first 8 characters of the routing key (the kit_route cookie or request id)

    @property
    def served_by(self) -> str:
        """The process that gave the answer (the last one tried)."""
        return self.upstreams[-1]


def wait_for_port(port: int, timeout: float, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with code {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f} s")


class NginxProxy:
    """nginx in front of ``upstreams`` (loopback ports), listening on a free loopback port."""

    def __init__(
        self,
        upstreams: list[int],
        *,
        fail_timeout: str = "10s",
        tls: tuple[Path, Path] | None = None,
    ) -> None:
        if shutil.which("nginx") is None:
            pytest.skip("nginx is not installed; run 'bash scripts/setup.sh --test'")
        self.port = free_port()
        self.upstreams = list(upstreams)
        self.fail_timeout = fail_timeout
        self.tls = tls  # (certificate, key): HTTPS on the port
        # Outside pytest's private temporary folders: nginx's workers run as nobody under root.
        self.dir = Path(tempfile.mkdtemp(prefix="kit-nginx-"))
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def url(self, path: str = "/") -> str:
        return self.base + path

    def command(self) -> list[str]:
        listen = f"127.0.0.1:{self.port}" + (" ssl" if self.tls else "")
        cmd = [
            str(START_NGINX),
            "--listen",
            listen,
            "--dir",
            str(self.dir),
            "--fail-timeout",
            self.fail_timeout,
        ]
        for port in self.upstreams:
            cmd += ["--upstream", f"127.0.0.1:{port}"]
        if self.tls:
            cmd += ["--tls-cert", str(self.tls[0]), "--tls-key", str(self.tls[1])]
        return cmd

    def start(self) -> NginxProxy:
        out = open(self.dir / "start.log", "wb")  # noqa: SIM115 - the child holds it
        self.proc = subprocess.Popen(
            self.command(), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        out.close()
        try:
            # 'nginx -t' in the script listens for a moment too: wait for the real one, whose
            # pid (the script execs it) is in its pid file once its sockets are open
            deadline = time.monotonic() + 15
            pid_file = self.dir / "nginx.pid"
            while not (pid_file.exists() and pid_file.read_text().strip() == str(self.proc.pid)):
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"no nginx master with pid {self.proc.pid}")
                time.sleep(0.05)
            wait_for_port(self.port, 5, self.proc)
        except RuntimeError as exc:
            self.stop()
            raise RuntimeError(f"nginx did not start ({exc}): {self.start_log()}") from None
        return self

    def start_log(self) -> str:
        path = self.dir / "start.log"
        return path.read_text(errors="replace") if path.exists() else ""

    @property
    def access_log_path(self) -> Path:
        return self.dir / "kit-access.log"

    def log_text(self) -> str:
        """Everything nginx wrote: access and error logs."""
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.dir.glob("*.log")))

    def access(self) -> list[Hit]:
        if not self.access_log_path.exists():
            return []
        hits = []
        for line in self.access_log_path.read_text().splitlines():
            m = LOG_LINE.match(line)
            assert m, f"access log line not in the kit format: {line!r}"
            hits.append(
                Hit(
                    m["method"],
                    m["path"],
                    int(m["status"]),
                    tuple(u.strip() for u in re.split(r"\s*[,:]\s+", m["upstream"]) if u.strip()),
                    tuple(s.strip() for s in re.split(r"\s*[,:]\s+", m["upstream_status"])),
                    m["route"],
                )
            )
        return hits

    def stop(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)  # nginx: fast shutdown of master+workers
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(self.proc.pid, signal.SIGKILL)  # its own session: only nginx
                    self.proc.wait(timeout=5)
            self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> NginxProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def upstream_address(port: int) -> str:
    return f"127.0.0.1:{port}"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A SQLAlchemy URL on a fresh schema of the test PostgreSQL database; dropped afterwards
    (with every connection still using it, found by their application name)."""
    from sqlalchemy import create_engine, text

    base = os.environ[POSTGRES_ENV]
    schema = f"deploy_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in base else "?"
    yield f"{base}{sep}application_name={schema}&options={quote(f'-csearch_path={schema}')}"
    with admin.begin() as conn:
        conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = :app AND pid <> pg_backend_pid()"
            ),
            {"app": schema},
        )
        conn.execute(text("SET lock_timeout = '20s'"))
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def start_proxy() -> Iterator[object]:
    """``start_proxy(upstream_ports, **options)``: a started ``NginxProxy``, stopped afterwards
    (also when the test fails)."""
    started: list[NginxProxy] = []

    def start(upstreams: list[int], **options: Any) -> NginxProxy:
        proxy = NginxProxy(upstreams, **options)
        started.append(proxy)
        return proxy.start()

    yield start
    for proxy in started:
        proxy.stop()
