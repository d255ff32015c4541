"""Fixtures of the live tests: a temporary kit home with two groups, sessions, a real server."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kit.live import session as ls
from kit.settings import Settings, load_settings
from kit.store import Store, open_store

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def live_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.delenv("KIT_FACILITATOR_KEY", raising=False)
    return load_settings(home_dir=tmp_path, min_respondents=3, min_subgroup_respondents=3,
                         min_comment_respondents=3, port=free_port(), language="en")


@pytest.fixture
def live_store(live_settings: Settings) -> Store:
    return seed_store(open_store(live_settings))


@pytest.fixture
def created(live_store: Store, live_settings: Settings) -> ls.CreatedSession:
    return ls.create_session(live_store, live_settings, expected=20,
                             title="Gathering 2", group_ids=["g1"],
                             language="en")


class Server:
    """A real live server process on loopback (``python -m kit.live.server``)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.base = f"http://127.0.0.1:{settings.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update({"KIT_HOME": str(self.settings.home_dir), "KIT_PORT": str(self.settings.port),
                    "KIT_HOST": "127.0.0.1", "KIT_MIN_RESPONDENTS": "3",
                    "KIT_MIN_SUBGROUP_RESPONDENTS": "3", "KIT_MIN_COMMENT_RESPONDENTS": "3",
                    "KIT_LANGUAGE": self.settings.language, "PYTHONUNBUFFERED": "1"})
        return env

    def start(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "kit.live.server"], env=self.env(),
                                     cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120  # a shared 2-core machine can be very busy
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.proc.stdout.read().decode()}")
            try:
                urllib.request.urlopen(self.base + "/kit/live/join", timeout=1).read()
                return
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.1)
        raise RuntimeError("server did not start within 120 s")

    def kill(self) -> None:
        """kill -9: no chance to flush or clean up."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def call(self, method: str, path: str, body: Any = None, raw: bytes | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, Any]:
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json",
                                              **(headers or {})})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                status, text = resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            status, text = exc.code, exc.read().decode()
        try:
            return status, json.loads(text)
        except ValueError:
            return status, text


def seed_store(store: Store) -> Store:
    store.save_cohort("k5", "Kull 5")
    store.save_group("g1", "Team One", organisation="Agency A", cohort_id="k5")
    store.save_group("g2", "Team Two", organisation="Agency B", cohort_id="k5")
    return store


@pytest.fixture
def server(live_settings: Settings, live_store: Store) -> Iterator[Server]:
    """A server of its own (for tests that kill it)."""
    srv = Server(live_settings)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def shared() -> Iterator[tuple[Server, Settings, Store]]:
    """One server for a module's tests; each test makes its own session."""
    import tempfile

    with tempfile.TemporaryDirectory() as home:
        os.environ.pop("KIT_FACILITATOR_KEY", None)
        settings = load_settings(home_dir=Path(home), min_respondents=3,
                                 min_subgroup_respondents=3, min_comment_respondents=3,
                                 port=free_port(), language="en")
        store = seed_store(open_store(settings))
        srv = Server(settings)
        srv.start()
        yield srv, settings, store
        srv.stop()
        store.engine.dispose()


class KitServe(Server):
    def start(self) -> None:
        cmd = [sys.executable, "-m", "kit.cli", "--home", str(self.settings.home_dir), "serve",
               "--port", str(self.settings.port), "--pool", "0", "--survey-pool", "0",
               "--facilitator-pool", "0"]
        self.proc = subprocess.Popen(cmd, env=self.env(), cwd=ROOT, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 240  # kit serve starts slowly on a busy shared machine
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(self.proc.stdout.read().decode())
            try:
                urllib.request.urlopen(self.base + "/kit/live/join", timeout=2).read()
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("kit serve did not start within 240 s")


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[KitServe, Settings, Store]]:
    """``kit serve`` on a temporary home, shared by a module's tests."""
    try:
        import kit.apps.server  # noqa: F401
    except ModuleNotFoundError:
        pytest.skip("kit serve (kit.apps) is not installed")
    import tempfile

    with tempfile.TemporaryDirectory() as home:
        settings = load_settings(home_dir=Path(home), min_respondents=3,
                                 min_subgroup_respondents=3, min_comment_respondents=3,
                                 port=free_port(), language="en")
        store = seed_store(open_store(settings))
        srv = KitServe(settings)
        srv.start()
        yield srv, settings, store
        srv.stop()
        store.engine.dispose()


class EventStream:
    """A server-sent event stream read the way a browser reads it (tests only)."""

    def __init__(self, url: str, headers: dict[str, str] | None = None,
                 timeout: float = 10.0) -> None:
        import http.client
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
        self.conn.request("GET", parts.path + ("?" + parts.query if parts.query else ""),
                          headers={"Accept": "text/event-stream", **(headers or {})})
        self.resp = self.conn.getresponse()
        self.status = self.resp.status
        self.headers = dict(self.resp.getheaders())
        self.comments = 0

    def body(self) -> str:
        return self.resp.read().decode()

    def next_event(self, timeout: float = 10.0) -> dict[str, Any] | None:
        """The next event (``event``, ``id``, ``data`` decoded) or None at the end."""
        self.conn.sock.settimeout(timeout)
        event: dict[str, Any] = {}
        data: list[str] = []
        while True:
            line = self.resp.readline()
            if not line:
                return None
            text = line.decode().rstrip("\n")
            if not text:
                if data or "event" in event:
                    event["data"] = json.loads("\n".join(data)) if data else None
                    event["at"] = time.monotonic()
                    return event
                continue
            if text.startswith(":"):
                self.comments += 1
                continue
            name, _, value = text.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "data":
                data.append(value)
            elif name in ("event", "id", "retry"):
                event[name] = value

    def wait_for(self, ok: Any, seconds: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no matching event in time")
            ev = self.next_event(left)
            if ev is None:
                raise AssertionError("stream ended")
            if ev.get("event") == "state" and ok(ev["data"]):
                return ev

    def close(self) -> None:
        self.conn.close()
