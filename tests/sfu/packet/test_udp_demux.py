"""The shared UDP port's demultiplexing table (sans-I/O): STUN bytes built here, no sockets."""

from __future__ import annotations

import struct

from sfu.udp_demux import DemuxTable

COOKIE = b"\x21\x12\xa4\x42"
A = ("127.0.0.1", 40000)
B = ("127.0.0.1", 40001)


def binding_request(txid: bytes, username: str) -> bytes:
    name = username.encode()
    attribute = struct.pack("!HH", 0x0006, len(name)) + name + b"\x00" * (-len(name) % 4)
    return b"\x00\x01" + struct.pack("!H", len(attribute)) + COOKIE + txid + attribute


def binding_response(txid: bytes) -> bytes:
    return b"\x01\x01\x00\x00" + COOKIE + txid


def trusting(target: str, data: bytes) -> bool:
    return True


def test_a_binding_request_learns_its_address_and_media_follows() -> None:
    table: DemuxTable[str] = DemuxTable()
    table.add("ufA", "a")
    table.add("ufB", "b")
    assert table.route(binding_request(b"1" * 12, "ufB:them"), A, trusting) == "b"
    assert table.by_address[A] == "b"
    assert table.route(b"\x80" + b"\x00" * 30, A, trusting) == "b"
    assert table.route(b"\x80" + b"\x00" * 30, B, trusting) is None
    assert table.dropped["unknown_address"] == 1


def test_an_address_is_not_learnt_without_the_password() -> None:
    table: DemuxTable[str] = DemuxTable()
    table.add("ufA", "a")
    assert table.route(binding_request(b"1" * 12, "ufA:them"), A, lambda target, data: False) is None
    assert A not in table.by_address and table.dropped["bad_integrity"] == 1


def test_a_response_from_an_unknown_address_goes_to_the_check_that_asked() -> None:
    table: DemuxTable[str] = DemuxTable()
    table.add("ufA", "a")
    table.add("ufB", "b")
    table.expect_response(b"t" * 12, "b")
    assert table.route(binding_response(b"t" * 12), A, trusting) == "b"
    assert A not in table.by_address  # a response learns nothing
    assert table.route(binding_response(b"u" * 12), A, trusting) is None
    assert table.dropped["unknown_address"] == 1


def test_a_late_response_to_a_finished_check_goes_to_its_sender_not_to_the_drops() -> None:
    table: DemuxTable[str] = DemuxTable()
    table.add("ufA", "a")
    table.expect_response(b"t" * 12, "a")
    assert table.route(binding_response(b"t" * 12), A, trusting) == "a"
    table.response_done(b"t" * 12)
    assert table.route(binding_response(b"t" * 12), A, trusting) == "a"  # the retransmission's answer
    assert table.dropped["unknown_address"] == 0
    assert table.sizes()["checks"] == 0


def test_finished_checks_are_remembered_boundedly_and_forgotten_with_their_connection() -> None:
    table: DemuxTable[str] = DemuxTable()
    table.add("ufA", "a")
    txids = [i.to_bytes(12, "big") for i in range(100)]
    for txid in txids:
        table.expect_response(txid, "a")
        table.response_done(txid)
    assert table.route(binding_response(txids[-1]), A, trusting) == "a"
    assert table.route(binding_response(txids[0]), A, trusting) is None  # long forgotten
    assert len(table._finished) <= 16
    table.remove("a")
    assert table.route(binding_response(txids[-1]), A, trusting) is None
    assert not table._finished and table.sizes() == {"connections": 0, "addresses": 0, "checks": 0}


def test_a_transaction_id_drawn_twice_breaks_nothing() -> None:
    table: DemuxTable[str] = DemuxTable()
    table.add("ufA", "a")
    table.add("ufB", "b")
    for target in ("a", "b", "a"):
        table.expect_response(b"same" * 3, target)
        table.response_done(b"same" * 3)
    for i in range(40):  # evicts every copy
        table.expect_response(i.to_bytes(12, "big"), "a")
        table.response_done(i.to_bytes(12, "big"))
    table.remove("b")
    table.remove("a")
    assert not table._finished
