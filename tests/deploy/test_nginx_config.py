"""The shipped nginx configuration on its own: two small echo servers behind it (no kit, quick).

What it must do, each shown here: spread requests without the routing cookie over both
processes, keep a browser (the cookie) on one, take a dead process out and retry what never
reached it, set the cookie with the right flags, and keep secrets out of its logs. The same file
in front of two real ``kit serve`` processes: ``test_nginx.py``.
"""

from __future__ import annotations

import http.client
import json
import re
import ssl
import subprocess
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
START_NGINX = ROOT / "scripts" / "start-nginx.sh"
TEMPLATE = ROOT / "deploy" / "nginx" / "kit.conf.template"

pytestmark = pytest.mark.timeout(120)


class Echo(BaseHTTPRequestHandler):
    """Answers with its own port, the request's headers and body (JSON)."""

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        data = {
            "port": self.server.server_address[1],
            "path": self.path,
            "body": body,
            "headers": {k.lower(): v for k, v in self.headers.items()},
        }
        raw = json.dumps(data).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


class EchoServer:
    def __init__(self) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()  # the port refuses connections from now on


@pytest.fixture
def echoes():
    servers = [EchoServer(), EchoServer()]
    yield servers
    for s in servers:
        if s.httpd.socket.fileno() != -1:
            s.stop()


def request(
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    tls: ssl.SSLContext | None = None,
) -> tuple[int, dict, dict[str, str]]:
    if tls is None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    else:
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=tls)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        raw = r.read()
        data = json.loads(raw) if r.getheader("Content-Type") == "application/json" else {}
        return r.status, data, {k.lower(): v for k, v in r.getheaders()}
    finally:
        conn.close()


def route_cookie(set_cookie: str) -> str:
    m = re.match(r"kit_route=([0-9a-f]{32});", set_cookie)
    assert m, set_cookie
    return m[1]


def test_doc_shows_the_shipped_configuration():
    """docs/DEPLOYMENT.md shows deploy/nginx/kit.conf.template verbatim (they cannot drift)."""
    doc = (ROOT / "docs" / "DEPLOYMENT.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```nginx\n(.*?)```", doc, flags=re.S)
    assert TEMPLATE.read_text(encoding="utf-8") in blocks
    assert "scripts/start-nginx.sh" in doc and "tests/deploy/test_nginx.py" in doc


def test_render_fills_every_placeholder_and_refuses_bad_options():
    out = subprocess.run(
        [
            str(START_NGINX),
            "--render",
            "--listen",
            "443 ssl",
            "--server-name",
            "profil.example.org",
            "--upstream",
            "127.0.0.1:8871",
            "--upstream",
            "127.0.0.1:8872",
            "--tls-cert",
            "/etc/ssl/kit.pem",
            "--tls-key",
            "/etc/ssl/private/kit.key",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    assert not re.search(r"@@[A-Z_]+@@", out)
    assert "    server 127.0.0.1:8871 max_fails=1 fail_timeout=10s;\n" in out
    assert "    server 127.0.0.1:8872 max_fails=1 fail_timeout=10s;\n" in out
    assert "listen 443 ssl;" in out and "server_name profil.example.org;" in out
    assert (
        "    ssl_certificate /etc/ssl/kit.pem;\n    ssl_certificate_key /etc/ssl/private/kit.key;"
        in out
    )
    assert "access_log /var/log/nginx/kit-access.log kit;" in out
    for args, message in [
        ([], "give the address to listen on"),
        (["--listen", "127.0.0.1:1"], "give each kit serve process with --upstream"),
        (["--listen", "127.0.0.1:1", "--upstream", "x;y:1"], "is not host:port"),
        (["--listen", "80; include /etc/passwd", "--upstream", "a:1"], "may not contain ';'"),
        (["--listen", "127.0.0.1:1", "--upstream", "a:1", "--tls-cert", "c"], "both --tls-cert"),
        (["--listen", "127.0.0.1:1", "--upstream", "a:1", "--colour"], "unknown option"),
    ]:
        r = subprocess.run(
            [str(START_NGINX), "--render", *args], capture_output=True, text=True, timeout=30
        )
        assert r.returncode == 2 and message in r.stderr, (args, r.stderr)
        assert r.stdout == ""


def test_spread_stick_fail_over_and_no_secrets_in_logs(echoes, start_proxy):
    a, b = echoes
    proxy = start_proxy([a.port, b.port])
    # Requests without the cookie spread over both processes, each told to keep a route.
    ports = Counter()
    cookies = {}
    for i in range(40):
        status, data, headers = request(proxy.port, "GET", f"/kit/live/?key=secret-key-{i}")
        assert status == 200
        ports[data["port"]] += 1
        cookie = headers["set-cookie"]
        assert cookie.endswith("; Path=/; HttpOnly; SameSite=Lax")  # no Secure over http
        cookies.setdefault(data["port"], route_cookie(cookie))
        assert data["headers"]["host"] == f"127.0.0.1:{proxy.port}"  # with the port
        assert data["headers"]["x-forwarded-for"] == "127.0.0.1"
    assert ports[a.port] >= 8 and ports[b.port] >= 8, ports
    # A browser with the cookie stays on its process, websockets and POSTs included.
    for port, route in cookies.items():
        jar = {"Cookie": f"kit_route={route}"}
        for path in (
            "/voila/render/group_dashboard.ipynb?key=x",
            "/voila/query/abc",
            "/api/kernels/0b5d3c1e-4c1f-4f7e-9b1a-7d2b8c9e0f11/channels",
        ):
            status, data, headers = request(proxy.port, "GET", path, headers=jar)
            assert data["port"] == port and "set-cookie" not in headers
        status, data, _ = request(proxy.port, "POST", "/voila/api/shutdown/k1", b"{}", jar)
        assert data["port"] == port and data["body"] == "{}"
    # A forged X-Forwarded-For does not survive the proxy.
    _, data, _ = request(proxy.port, "GET", "/", headers={"X-Forwarded-For": "10.9.9.9"})
    assert data["headers"]["x-forwarded-for"] == "127.0.0.1"

    # One process dies: everything reaches the other, POSTs that never reached it included.
    a.stop()
    for i in range(20):
        status, data, _ = request(
            proxy.port,
            "POST",
            "/kit/live/api/s/ABC/answer",
            json.dumps({"n": i}).encode(),
            {"Content-Type": "application/json"},
        )
        assert status == 200 and data["port"] == b.port and data["body"] == f'{{"n": {i}}}'
    status, data, _ = request(
        proxy.port, "GET", "/x", headers={"Cookie": f"kit_route={cookies[a.port]}"}
    )
    assert status == 200 and data["port"] == b.port  # a's browsers move to b
    status, data, _ = request(
        proxy.port, "GET", "/x", headers={"Cookie": f"kit_route={cookies[b.port]}"}
    )
    assert data["port"] == b.port

    hits = proxy.access()
    failed_over = [h for h in hits if len(h.upstreams) == 2]
    assert failed_over and all(
        h.upstreams[0] == f"127.0.0.1:{a.port}"
        and h.served_by == f"127.0.0.1:{b.port}"
        and h.upstream_statuses[-1] == "200"
        for h in failed_over
    )
    assert any(h.path == "/api/kernels/*/channels" for h in hits)
    assert any(h.path == "/voila/api/shutdown/k1" for h in hits)  # short: not masked
    logs = proxy.log_text()
    assert "secret-key" not in logs and "?" not in logs
    assert "0b5d3c1e-4c1f-4f7e-9b1a-7d2b8c9e0f11" not in logs
    assert all(route[:9] not in logs for route in cookies.values())  # 8 characters only

    # Both processes gone: a short 502, not a hang.
    b.stop()
    status, _, _ = request(proxy.port, "GET", "/kit/live/")
    assert status == 502


def test_over_https_the_cookie_is_secure_and_the_scheme_is_passed_on(echoes, start_proxy, tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        capture_output=True,
        timeout=60,
        check=True,
    )
    proxy = start_proxy([e.port for e in echoes], tls=(cert, key))
    assert proxy.base.startswith("https://")
    client = ssl.create_default_context(cafile=str(cert))
    client.check_hostname = False  # a certificate made for this test only
    status, data, headers = request(proxy.port, "GET", "/kit/live/", tls=client)
    assert status == 200
    assert headers["set-cookie"].endswith("; Path=/; HttpOnly; SameSite=Lax; Secure")
    assert data["headers"]["x-forwarded-proto"] == "https"
    status, data, _ = request(proxy.port, "GET", "/kit/live/")  # plain HTTP on the TLS port
    assert status == 400 and data == {}  # refused by nginx, never passed on
