"""``kit.client``: whose address a request is counted under (the per-client limits)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from tornado.httputil import HTTPHeaders

from kit.client import client_address, forwarded, parse_proxies
from kit.errors import SettingsError
from kit.settings import Settings, load_settings


def request(peer: str, xff: str = "", proto: str = "", scheme: str = "http"):
    headers = HTTPHeaders()
    if xff:
        headers["X-Forwarded-For"] = xff
    if proto:
        headers["X-Forwarded-Proto"] = proto
    return SimpleNamespace(remote_ip=peer, protocol=scheme, headers=headers)


def test_a_client_that_is_no_trusted_proxy_is_its_own_address_whatever_it_sends():
    forged = request("203.0.113.7", xff="10.9.9.9", proto="https")
    assert forwarded(forged, "127.0.0.1,::1") == ("203.0.113.7", False)
    assert client_address(request("127.0.0.5", xff="10.1.1.1"), "127.0.0.1") == "127.0.0.5"


def test_behind_a_trusted_proxy_the_client_is_the_last_hop_that_is_no_proxy():
    assert forwarded(request("127.0.0.1", xff="198.51.100.4"), "127.0.0.1") == (
        "198.51.100.4",
        False,
    )
    # a client's own forged hops come first; the proxies' appended ones are skipped
    chain = request("10.0.0.2", xff="6.6.6.6, 198.51.100.4, 10.0.0.3", proto="https")
    assert forwarded(chain, "10.0.0.0/24") == ("198.51.100.4", True)
    # a trusted proxy that names no client: the proxy itself
    assert client_address(request("::1"), "127.0.0.1,::1") == "::1"
    assert client_address(request("::ffff:127.0.0.1", xff="192.0.2.1"), "127.0.0.1") == (
        "192.0.2.1"
    )


def test_no_trusted_proxies_believes_no_header():
    assert client_address(request("127.0.0.1", xff="192.0.2.1"), "") == "127.0.0.1"
    assert client_address(request("127.0.0.1", xff="192.0.2.1"), "none") == "127.0.0.1"


def test_the_setting_refuses_what_is_not_an_address(monkeypatch):
    assert [str(n) for n in parse_proxies(" 10.0.0.0/8, ::1 ,")] == ["10.0.0.0/8", "::1/128"]
    with pytest.raises(SettingsError, match=r"'nginx' is not an IP address or network"):
        Settings(trusted_proxies="127.0.0.1, nginx")
    monkeypatch.setenv("KIT_TRUSTED_PROXIES", "192.0.2.0/24")
    assert load_settings().trusted_proxies == "192.0.2.0/24"
    # kit serve exports its settings: the default of a process is what it runs with
    assert client_address(request("192.0.2.9", xff="198.51.100.1")) == "198.51.100.1"
    assert client_address(request("127.0.0.1", xff="198.51.100.1")) == "127.0.0.1"
