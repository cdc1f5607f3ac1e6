"""forbid_network: loopback and Unix sockets allowed, everything else refused."""

from __future__ import annotations

import socket

import pytest

from captions.netguard import NetworkForbidden


def test_remote_connections_and_lookups_are_refused() -> None:
    with pytest.raises(NetworkForbidden):
        socket.create_connection(("example.com", 443), timeout=1)
    with pytest.raises(NetworkForbidden):
        socket.create_connection(("192.0.2.1", 443), timeout=1)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with pytest.raises(NetworkForbidden):
        udp.sendto(b"x", ("8.8.8.8", 53))
    udp.close()


def test_loopback_still_works() -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    client = socket.create_connection(server.getsockname(), timeout=1)
    peer, _ = server.accept()
    client.sendall(b"ok")
    assert peer.recv(2) == b"ok"
    for sock in (client, peer, server):
        sock.close()
