"""Refuse every network connection except loopback, in the current process.

Recognition and translation need no network; argostranslate and stanza would reach for
the internet to fetch a sentence-splitter model if ever asked. Worker processes call
:func:`forbid_network` first, so such an attempt fails loudly (``NetworkForbidden``)
instead of leaking data or hanging. Tests call it in the test process too.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from typing import Any


class NetworkForbidden(OSError):
    """A connection to a non-loopback address was attempted in a no-network process."""


def _is_local(address: Any) -> bool:
    if isinstance(address, str | bytes):  # AF_UNIX path
        return True
    if not isinstance(address, tuple) or not address:
        return False
    host = address[0]
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%", 1)[0]).is_loopback
    except ValueError:
        return False


_original: dict[str, Callable[..., Any]] = {}


def forbid_network() -> None:
    """Patch socket connect/connect_ex/sendto and getaddrinfo (idempotent)."""
    if _original:
        return
    _original["connect"] = socket.socket.connect
    _original["connect_ex"] = socket.socket.connect_ex
    _original["sendto"] = socket.socket.sendto
    _original["getaddrinfo"] = socket.getaddrinfo

    def connect(self: socket.socket, address: Any) -> None:
        if self.family != socket.AF_UNIX and not _is_local(address):
            raise NetworkForbidden(f"network access is forbidden here (connect to {address!r})")
        _original["connect"](self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        if self.family != socket.AF_UNIX and not _is_local(address):
            raise NetworkForbidden(f"network access is forbidden here (connect to {address!r})")
        return int(_original["connect_ex"](self, address))

    def sendto(self: socket.socket, data: bytes, *args: Any) -> int:
        address = args[-1]
        if self.family != socket.AF_UNIX and not _is_local(address):
            raise NetworkForbidden(f"network access is forbidden here (sendto {address!r})")
        return int(_original["sendto"](self, data, *args))

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host is not None and not _is_local((host.decode() if isinstance(host, bytes) else host, 0)):
            raise NetworkForbidden(f"network access is forbidden here (resolve {host!r})")
        return _original["getaddrinfo"](host, *args, **kwargs)

    socket.socket.connect = connect  # type: ignore[method-assign,assignment]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign,assignment]
    socket.socket.sendto = sendto  # type: ignore[assignment]
    socket.getaddrinfo = getaddrinfo


def allow_network() -> None:
    """Undo :func:`forbid_network` (tests)."""
    if not _original:
        return
    socket.socket.connect = _original.pop("connect")  # type: ignore[method-assign,assignment]
    socket.socket.connect_ex = _original.pop("connect_ex")  # type: ignore[method-assign,assignment]
    socket.socket.sendto = _original.pop("sendto")  # type: ignore[method-assign,assignment]
    socket.getaddrinfo = _original.pop("getaddrinfo")
