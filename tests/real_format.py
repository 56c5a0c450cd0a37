"""What only the tests need: a guard that keeps every test off the network.

The fake checkpoint in the real format that the converter's tests load lives in the library, for offline demos
too: :mod:`jclip_lab.offline.fake_checkpoint`.

- :func:`block_network` makes socket connections to anything but loopback raise :class:`NetworkBlocked`.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable


class NetworkBlocked(RuntimeError):
    """Raised by a socket operation aimed at anything but this machine while the tests run."""


def _is_loopback(host: object) -> bool:
    if host in (None, "localhost", b"localhost"):
        return True
    try:
        return ipaddress.ip_address(host.decode() if isinstance(host, bytes) else str(host)).is_loopback
    except ValueError:  # a host name other than localhost
        return False


def block_network() -> Callable[[], None]:
    """Make connections, sends and name lookups for anything but loopback raise; returns the undo function."""
    originals = {
        "connect": socket.socket.connect,
        "connect_ex": socket.socket.connect_ex,
        "sendto": socket.socket.sendto,
        "getaddrinfo": socket.getaddrinfo,
    }

    def check(address: object) -> None:
        if isinstance(address, (str, bytes)):  # an AF_UNIX path
            return
        host = address[0] if isinstance(address, tuple) else address
        if not _is_loopback(host):
            raise NetworkBlocked(f"Tests must not use the network: a connection to {address!r} was refused.")

    def connect(sock: socket.socket, address: object) -> None:
        check(address)
        return originals["connect"](sock, address)

    def connect_ex(sock: socket.socket, address: object) -> int:
        check(address)
        return originals["connect_ex"](sock, address)

    def sendto(sock: socket.socket, data: bytes, *args: object) -> int:
        check(args[-1])
        return originals["sendto"](sock, data, *args)

    def getaddrinfo(host: object, *args: object, **kwargs: object) -> list:
        check((host,))
        return originals["getaddrinfo"](host, *args, **kwargs)

    socket.socket.connect, socket.socket.connect_ex, socket.socket.sendto = connect, connect_ex, sendto
    socket.getaddrinfo = getaddrinfo

    def undo() -> None:
        socket.socket.connect, socket.socket.connect_ex = originals["connect"], originals["connect_ex"]
        socket.socket.sendto, socket.getaddrinfo = originals["sendto"], originals["getaddrinfo"]

    return undo
