"""Where a remote device is served: pymobiledevice3's tunnel service (`tunneld`) on another host.

`sudo pymobiledevice3 remote tunneld --host 0.0.0.0` on the host the device is plugged into keeps an RSD tunnel
to every iOS 17+ device it sees and serves them over HTTP (`GET /` lists the tunnels) and a WebSocket bridge
(`/connect`). A harness on any other machine reaches the device through that bridge: the matrix names the
host as `HOST` or `HOST:PORT` (port 49151 by default). Kept free of heavy imports: the devices file is parsed
at pytest collection.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from mlharness.errors import ConfigError

DEFAULT_PORT = 49151
# A DNS name or an IPv4 address; IPv6 goes in brackets (`[fe80::1]:49151`).
_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")
_FORMS = "HOST or HOST:PORT, e.g. lab-mac.local or 192.168.1.20:49151 ([IPv6]:PORT for IPv6)"


@dataclass(frozen=True, order=True)
class TunneldHost:
    """A tunneld server: host name or address, and its HTTP port."""

    host: str
    port: int = DEFAULT_PORT

    @property
    def address(self) -> tuple[str, int]:
        """`(host, port)` as pymobiledevice3's tunneld API takes it."""
        return self.host, self.port

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def parse_tunneld_host(text: str, *, where: str) -> TunneldHost:
    """`HOST`, `HOST:PORT` or `[IPv6]:PORT`; anything else is a ConfigError naming `where` and the forms."""
    value = text.strip()
    host, port_text = _split(value)
    if "/" in value or not _valid_host(host):  # no URL: tunneld is always plain HTTP at `/`
        raise ConfigError(f"{text!r} is not a host name or address", where=where, fix=f"write {_FORMS}")
    if port_text is None:
        return TunneldHost(host.lower())
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ConfigError(f"port {port_text!r} is not a TCP port", where=where, fix=f"use 1-65535; write {_FORMS}")
    return TunneldHost(host.lower(), int(port_text))


def _split(value: str) -> tuple[str, str | None]:
    if value.startswith("["):
        host, bracket, rest = value[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            return "", None
        return host, rest[1:] if rest else None
    if value.count(":") == 1:
        host, _, port = value.partition(":")
        return host, port
    return value, None


def _valid_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return bool(_NAME.match(host)) and ".." not in host
    return True
