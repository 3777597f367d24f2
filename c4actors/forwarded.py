"""Who the client is behind a reverse proxy: ``--forwarded-allow-ips``.

Behind nginx every connection comes from the proxy's address and arrives in cleartext, so
the per-address limits, the login throttle, the logs, the Origin check and the cookies'
``Secure`` flag would all see the proxy instead of the client.  A proxy says who the
client is in headers: ``X-Forwarded-For`` (each proxy appends the address it received the
request from) with ``X-Forwarded-Proto`` (the scheme the client used), or the standard
``Forwarded`` header (RFC 7239: ``for=...;proto=...`` per hop).

Anyone can send those headers, so they mean something only when the connection comes from a
proxy the operator listed (``TrustedProxies``).  Then the client is the **right-most
untrusted** address of the chain ``[*header entries, peer]``: the entries to its right were
written by trusted proxies, the entries to its left by whoever the untrusted client is, and
a client can prepend anything it likes but cannot get past the entry its first trusted
proxy wrote.  From any other peer the headers are ignored entirely.

Only one header family is read (``ForwardedHeader``): reading both would let a client
spoof the family the operator's proxy does not maintain (nginx appends to
``X-Forwarded-For`` and passes a client's ``Forwarded`` through untouched).

``resolve`` is the pure decision; ``ForwardedLayer`` is the ASGI middleware that applies it
to ``scope["client"]`` and ``scope["scheme"]`` once, in front of everything else.
"""

from __future__ import annotations

import enum
import ipaddress
import re
from collections.abc import Iterable, Sequence
from typing import Final

import attrs
from starlette.types import ASGIApp, Receive, Scope, Send

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class ForwardedHeader(enum.StrEnum):
    """Which headers a trusted proxy maintains."""

    X_FORWARDED = "x-forwarded"
    """``X-Forwarded-For`` and ``X-Forwarded-Proto`` (nginx, HAProxy, most load balancers)."""
    FORWARDED = "forwarded"
    """``Forwarded: for=...;proto=...`` (RFC 7239)."""


def parse_networks(texts: Iterable[str]) -> tuple[IPNetwork, ...]:
    """Addresses or networks (``127.0.0.1``, ``10.0.0.0/8``, ``::1``), possibly several to a
    text separated by commas; ``ValueError`` names the one that is not."""
    networks: list[IPNetwork] = []
    for text in texts:
        for item in text.split(","):
            if item := item.strip():
                try:
                    networks.append(ipaddress.ip_network(item, strict=False))
                except ValueError:
                    raise ValueError(f"not an IP address or network: {item!r}") from None
    return tuple(networks)


@attrs.frozen
class TrustedProxies:
    """The peers whose forwarding headers are believed; none by default."""

    networks: tuple[IPNetwork, ...] = ()
    header: ForwardedHeader = ForwardedHeader.X_FORWARDED

    def trusts(self, address: str) -> bool:
        ip = _ip(address)
        return ip is not None and any(ip in network for network in self.networks)


@attrs.frozen
class Client:
    """Who sent a request: the address and the scheme (``http`` or ``https``) it used."""

    address: str
    scheme: str


def resolve(
    peer: Client, headers: Sequence[tuple[bytes, bytes]], proxies: TrustedProxies
) -> Client:
    """The client behind ``peer`` according to ``headers`` (see the module docstring).

    ``peer`` is the TCP peer and its scheme.  An entry that is not an IP address where the
    client's address should be (``unknown``, an obfuscated ``_name``, garbage) leaves the
    nearest trusted hop as the client; a scheme other than ``http``/``https`` is ignored."""
    if not proxies.trusts(peer.address):
        return peer
    if proxies.header is ForwardedHeader.FORWARDED:
        hops = [_forwarded_element(element) for element in _values(headers, b"forwarded")]
        addresses = [address for address, _ in hops]
        schemes = [scheme for _, scheme in hops]
    else:
        addresses = [_strip_port(entry) for entry in _values(headers, b"x-forwarded-for")]
        schemes = list(_values(headers, b"x-forwarded-proto"))
    address, scheme, index = peer.address, peer.scheme, len(addresses)
    while index > 0 and proxies.trusts(address):
        index -= 1
        candidate = addresses[index]
        if _ip(candidate) is None:
            break
        address = candidate
    if proxies.header is ForwardedHeader.FORWARDED:
        # Each element says how its proxy was reached: the client's says how the client came.
        chosen = schemes[index] if index < len(schemes) else None
    elif len(schemes) == len(addresses) and index < len(schemes):
        chosen = schemes[index]
    else:
        # One X-Forwarded-Proto for the whole chain: the proxy that talks to us set it.
        chosen = schemes[-1] if schemes else None
    if chosen is not None and chosen.lower() in ("http", "https"):
        scheme = chosen.lower()
    return Client(address, scheme)


def _values(headers: Sequence[tuple[bytes, bytes]], name: bytes) -> list[str]:
    """Every comma-separated entry of every ``name`` header, in order."""
    return [
        entry.strip()
        for header, value in headers
        if header.lower() == name
        for entry in value.decode("latin-1").split(",")
        if entry.strip()
    ]


_PAIR: Final = re.compile(r'\s*([A-Za-z]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)\s*')


def _forwarded_element(element: str) -> tuple[str, str | None]:
    """``for`` (its address, port removed) and ``proto`` of one ``Forwarded`` element."""
    values: dict[str, str] = {}
    for pair in element.split(";"):
        match = _PAIR.fullmatch(pair)
        if match:
            values[match[1].lower()] = match[2].strip('"')
    return _strip_port(values.get("for", "")), values.get("proto")


def _strip_port(entry: str) -> str:
    """``1.2.3.4:80`` -> ``1.2.3.4``, ``[::1]:80`` -> ``::1``; anything else unchanged."""
    entry = entry.strip().strip('"')
    if entry.startswith("["):
        return entry[1:].partition("]")[0]
    if entry.count(":") == 1:
        return entry.partition(":")[0]
    return entry


def _ip(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


_WEBSOCKET_SCHEMES: Final = {"http": "ws", "https": "wss"}
_PAGE_SCHEMES: Final = {"ws": "http", "wss": "https"}


class ForwardedLayer:
    """ASGI middleware: ``scope["client"]`` and ``scope["scheme"]`` become the forwarded
    client's when the peer is a trusted proxy (a WebSocket's scheme is ``ws``/``wss``)."""

    def __init__(self, app: ASGIApp, proxies: TrustedProxies) -> None:
        self.app = app
        self.proxies = proxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and self.proxies.networks:
            peer_address = (scope.get("client") or ("", 0))[0]
            websocket = scope["type"] == "websocket"
            scheme = str(scope.get("scheme", "ws" if websocket else "http"))
            peer = Client(peer_address, _PAGE_SCHEMES.get(scheme, scheme))
            client = resolve(peer, scope.get("headers", []), self.proxies)
            if client != peer:
                scope = {
                    **scope,
                    "client": (client.address, 0),
                    "scheme": _WEBSOCKET_SCHEMES[client.scheme] if websocket else client.scheme,
                }
        await self.app(scope, receive, send)
