"""The aioice internals sfu/aiortc_hooks/ice.py patches are still there, and every patch comes off.

If an aioice upgrade renames or changes any of these, this file fails first and says which
hook to revisit (the pin in setup.cfg is exact for this reason).
"""

from __future__ import annotations

import inspect
from importlib.metadata import version

import aioice
import aioice.ice
import pytest
from aioice import stun

from sfu import IceConfig, MediaServer, RoomId, SfuConfig
from sfu.aiortc_hooks import ice
from sfu.aiortc_hooks.ice import patched_aioice_attributes, restore_aioice

ALL_PATCHES = [
    "Connection._add_remote_candidate",
    "Connection.request_received",
    "StunProtocol.datagram_received",
    "ice.asyncio",
    "ice.get_host_addresses",
]


@pytest.fixture(autouse=True)
def aioice_restored() -> object:
    yield None
    restore_aioice()


def test_aioice_is_the_pinned_version() -> None:
    assert version("aioice") == "0.13.0", "sfu/aiortc_hooks/ice.py was written against aioice 0.13.0"


def test_the_attributes_we_replace_are_what_aioice_calls() -> None:
    source = inspect.getsource(aioice.ice.Connection.gather_candidates)
    assert "get_host_addresses(" in source
    source = inspect.getsource(aioice.ice.Connection.get_component_candidates)
    assert "asyncio.get_running_loop()" in source and "local_addr=(address, 0)" in source
    source = inspect.getsource(aioice.ice.Connection.add_remote_candidate)
    assert "self._add_remote_candidate(remote_candidate, remote_candidate.host)" in source
    assert list(inspect.signature(aioice.ice.Connection.request_received).parameters) == [
        "self", "message", "addr", "protocol"
    ]
    source = inspect.getsource(aioice.ice.StunProtocol.datagram_received)
    assert "self.receiver.data_received(data, self.local_candidate.component)" in source


def test_host_addresses_are_configurable() -> None:
    ice.configure_host_addresses(["127.0.0.1", "::1"])
    assert aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=False) == ["127.0.0.1"]
    assert aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=True) == ["127.0.0.1", "::1"]


async def test_remote_networks_keep_candidates_outside_them_out() -> None:
    ice.configure_remote_networks(["127.0.0.0/8"])
    connection = aioice.Connection(ice_controlling=True)
    try:
        for host in ("10.1.2.3", "127.0.0.1"):
            await connection.add_remote_candidate(aioice.Candidate("1", 1, "udp", 1, host, 5000, "host"))
        assert [c.host for c in connection.remote_candidates] == ["127.0.0.1"]
    finally:
        await connection.close()


class _Connection:
    """Stands in for aioice's Connection (not ours): records what the protocol hands on."""

    def __init__(self) -> None:
        self.data: list[bytes] = []
        self.requests: list[object] = []

    def data_received(self, data: bytes, component: int) -> None:
        self.data.append(data)

    def request_received(self, message: object, addr: tuple[str, int], protocol: object) -> None:
        self.requests.append(message)


def test_stun_fast_path_hands_media_on_and_still_parses_stun() -> None:
    connection = _Connection()
    protocol = aioice.ice.StunProtocol(connection)  # type: ignore[arg-type]
    protocol.local_candidate = aioice.Candidate("1", 1, "udp", 1, "127.0.0.1", 5000, "host")
    request = stun.Message(stun.Method.BINDING, stun.Class.REQUEST)
    rtp = bytes([0x90, 0x60]) + bytes(30)
    dtls = bytes([22, 0xFE, 0xFD]) + bytes(20)
    ice.configure_stun_fast_path(True)
    assert patched_aioice_attributes() == ["StunProtocol.datagram_received"]
    for data in (rtp, dtls, bytes(request)):
        protocol.datagram_received(data, ("127.0.0.1", 6000))
    ice.configure_stun_fast_path(False)
    assert connection.data == [rtp, dtls]
    assert len(connection.requests) == 1
    assert patched_aioice_attributes() == []


async def test_media_server_patches_aioice_at_its_first_room_and_gives_every_patch_back_on_close() -> None:
    assert patched_aioice_attributes() == []
    config = SfuConfig(
        ice=IceConfig(host_addresses=("127.0.0.1",), port_min=40000, port_max=40100, remote_networks=("127.0.0.0/8",))
    )
    server = MediaServer(config)
    assert patched_aioice_attributes() == []  # the media stack is loaded at the first room, not at start-up
    server.room(RoomId("r1"))
    assert patched_aioice_attributes() == ALL_PATCHES
    await server.close()
    assert patched_aioice_attributes() == []


async def test_a_media_server_without_rooms_closes_without_touching_aioice() -> None:
    server = MediaServer(SfuConfig(ice=IceConfig(host_addresses=("127.0.0.1",))))
    await server.close()
    assert patched_aioice_attributes() == []


async def test_announced_addresses_replace_the_host_candidates_address_and_are_given_back() -> None:
    source = inspect.getsource(aioice.ice.Connection.get_component_candidates)
    assert "candidates.append(protocol.local_candidate)" in source  # the object we rewrite is the protocol's
    ice.configure_host_addresses(["127.0.0.1"])
    ice.configure_announced_addresses({"127.0.0.1": "198.18.0.7"})
    assert patched_aioice_attributes() == ["Connection.get_component_candidates", "ice.get_host_addresses"]
    connection = aioice.ice.Connection(ice_controlling=True, components=1)
    try:
        await connection.gather_candidates()
        (candidate,) = connection.local_candidates
        assert (candidate.type, candidate.host) == ("host", "198.18.0.7")
        # the socket stays bound on the local address
        (protocol,) = connection._protocols
        assert protocol.transport.get_extra_info("sockname")[0] == "127.0.0.1"
        assert protocol.local_candidate is candidate
    finally:
        await connection.close()
    restore_aioice()
    assert patched_aioice_attributes() == []


def test_announced_addresses_are_checked() -> None:
    assert IceConfig(host_addresses=("10.0.0.5", "fd00::5"), announced_addresses=("203.0.113.7", "2001:db8::7")).announced() == (
        "203.0.113.7", "2001:db8::7"
    )
    assert IceConfig(host_addresses=("10.0.0.5", "10.0.0.6"), announced_addresses=("10.0.0.6=203.0.113.8",)).announced() == (
        "10.0.0.5", "203.0.113.8"
    )
    for host, announced, message in (
        (("10.0.0.5", "10.0.0.6"), ("203.0.113.7",), "has 2 IPv4 addresses; write LOCAL=PUBLIC"),
        (("10.0.0.5",), ("2001:db8::7",), "has 0 IPv6 addresses"),
        (("10.0.0.5",), ("10.0.0.9=203.0.113.7",), "10.0.0.9 is not one of ice.host_addresses"),
        (("10.0.0.5",), ("10.0.0.5=2001:db8::7",), "not of the same IP version"),
        (("10.0.0.5",), ("public.example.org",), "is not PUBLIC or LOCAL=PUBLIC"),
        (("10.0.0.5",), ("203.0.113.7", "10.0.0.5=203.0.113.8"), "10.0.0.5 is given two announced addresses"),
    ):
        with pytest.raises(ValueError, match=message):
            IceConfig(host_addresses=host, announced_addresses=announced)
