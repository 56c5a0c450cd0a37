"""The autouse ``no_network`` fixture (tests/conftest.py) keeps every test off the network, but not off loopback."""

from __future__ import annotations

import socket
import urllib.request

import pytest
from real_format import NetworkBlocked


@pytest.mark.parametrize("address", [("203.0.113.7", 443), ("2001:db8::1", 443), ("huggingface.co", 443)])
def test_a_connection_to_another_machine_raises(address) -> None:
    family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock, pytest.raises(NetworkBlocked, match="must not use"):
        sock.connect(address)


def test_name_lookups_and_http_are_refused() -> None:
    with pytest.raises(NetworkBlocked):
        socket.getaddrinfo("huggingface.co", 443)
    with pytest.raises(NetworkBlocked):
        urllib.request.urlopen("https://huggingface.co/jinaai/jina-clip-v2", timeout=1)


def test_loopback_still_works() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        with socket.create_connection(("localhost", server.getsockname()[1]), timeout=5) as client:
            connection, _ = server.accept()
            with connection:
                client.sendall(b"ping")
                assert connection.recv(4) == b"ping"
