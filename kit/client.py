"""Who is asking: a request's client address and scheme, believing only the proxies we run.

Behind nginx every request comes from nginx's address; the client is in ``X-Forwarded-For``
(nginx replaces that header with the address that connected to it, ``deploy/nginx``). A header
is believed only from a trusted proxy (``Settings.trusted_proxies``: addresses or networks,
default this machine's loopback); from anyone else it is ignored, so a client cannot pick the
address its failed attempts are counted under. With a chain of trusted proxies the client is the
last address not among them. Used by every per-client limit (``kit.ratelimit``) and log line of
the served apps and the live pages; it imports nothing of theirs.
"""

from __future__ import annotations

import ipaddress
import os
from functools import lru_cache
from typing import Any

DEFAULT_TRUSTED_PROXIES = "127.0.0.1,::1"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=32)
def parse_proxies(text: str) -> tuple[Network, ...]:
    """The networks of a comma-separated list of addresses or networks (``10.0.0.0/8``).

    ``none`` (or an empty list) trusts no proxy. Raises ``ValueError`` naming every entry that
    is neither."""
    if text.strip().lower() == "none":
        return ()
    networks, bad = [], []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            bad.append(part)
    if bad:
        from kit.i18n import t  # kit.i18n needs kit.settings, which validates with this

        entries = ", ".join(repr(b) for b in bad)
        error = ValueError(t("app.proxies.bad", "en", entries=entries))
        error.entries = entries  # type: ignore[attr-defined]  # for the settings' own message
        raise error
    return tuple(networks)


def _trusted(address: str, networks: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in net for net in networks)


def _configured() -> str:
    """The trusted proxies in force in this process (``kit serve`` exports its settings)."""
    return os.environ.get("KIT_TRUSTED_PROXIES", DEFAULT_TRUSTED_PROXIES)


def forwarded(request: Any, trusted_proxies: str | None = None) -> tuple[str, bool]:
    """(client address, over HTTPS) of a tornado request.

    The peer's address unless the peer is a trusted proxy; then the last ``X-Forwarded-For``
    hop that is not a trusted proxy, and ``X-Forwarded-Proto`` says the scheme."""
    networks = parse_proxies(_configured() if trusted_proxies is None else trusted_proxies)
    client = request.remote_ip or ""
    https = request.protocol == "https"
    if not networks or not _trusted(client, networks):
        return client or "?", https
    hops = [h.strip() for h in request.headers.get("X-Forwarded-For", "").split(",")]
    for hop in reversed([h for h in hops if h]):
        client = hop
        if not _trusted(hop, networks):
            break
    https = https or request.headers.get("X-Forwarded-Proto", "").lower() == "https"
    return client[:64] or "?", https


def client_address(request: Any, trusted_proxies: str | None = None) -> str:
    """The address a request's failed attempts are counted under (see ``forwarded``)."""
    return forwarded(request, trusted_proxies)[0]
