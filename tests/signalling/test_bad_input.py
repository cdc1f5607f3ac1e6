"""Every kind of bad input gets an error naming the problem, and the connection survives."""

from __future__ import annotations

import json
import time

import jwt
import pytest

from tests.support.peer import TestPeer
from tests.support.server import SECRET, RunningServer


async def still_alive(peer: TestPeer) -> None:
    reply = await peer.request({"type": "ping"}, expect=("pong",))
    assert reply["type"] == "pong"


async def last_error(peer: TestPeer, after: int) -> dict:  # type: ignore[type-arg]
    msg = await peer.next_message("error", after=after)
    return msg


@pytest.mark.parametrize(
    ("frame", "code", "words"),
    [
        ("{not json", "bad_json", "not valid JSON"),
        ("[1, 2]", "bad_json", "JSON object"),
        (json.dumps({"v": 1, "type": "dance"}), "unknown_type", "'dance'"),
        (json.dumps({"v": 2, "type": "ping"}), "unsupported_version", "'v'"),
        (json.dumps({"v": 1, "type": "mute", "muted": True}), "missing_field", "'producer_id'"),
        (json.dumps({"v": 1, "type": "mute", "producer_id": 5, "muted": True}), "invalid_field", "'producer_id' must be a string"),
        (json.dumps({"v": 1, "type": "mute", "producer_id": "x", "muted": "yes"}), "invalid_field", "'muted' must be a boolean"),
        (json.dumps({"v": 1, "type": "offer", "pc": "sideways", "sdp": "v=0"}), "invalid_field", "'pc'"),
        (json.dumps({"v": 1, "type": "joined"}), "unknown_type", "'joined'"),
        (json.dumps({"v": 1, "type": "ping", "extra": 1}), "invalid_field", "unknown field 'extra'"),
        (json.dumps({"v": 1, "type": "subscription", "producer_id": "p", "max_height": 99999}), "invalid_field", "'max_height'"),
    ],
)
async def test_malformed_messages_get_named_errors(server: RunningServer, frame: str, code: str, words: str) -> None:
    peer = TestPeer(server.ws_url, server.token("bad", "alice"), "alice")
    try:
        await peer.connect()
        n = len(peer.messages)
        await peer.send_raw(frame)
        err = await last_error(peer, n)
        assert err["code"] == code
        assert words in err["message"]
        await still_alive(peer)
    finally:
        await peer.close()


async def test_oversize_message_is_refused_and_connection_survives(server: RunningServer) -> None:
    peer = TestPeer(server.ws_url, server.token("bad", "alice"), "alice")
    try:
        await peer.connect()
        n = len(peer.messages)
        await peer.send_raw(json.dumps({"v": 1, "type": "ping", "pad": "x" * 300_000}))
        err = await last_error(peer, n)
        assert err["code"] == "too_large"
        await still_alive(peer)
    finally:
        await peer.close()


async def test_invalid_sdp_and_candidate_are_refused(server: RunningServer) -> None:
    peer = TestPeer(server.ws_url, server.token("bad", "alice"), "alice")
    try:
        await peer.connect()
        reply = await peer.request({"type": "offer", "pc": "publish", "sdp": "hello"}, expect=("error",))
        assert reply["code"] == "invalid_sdp"
        reply = await peer.request(
            {"type": "offer", "pc": "publish", "sdp": "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\nm=video nonsense\r\n"},
            expect=("error",),
        )
        assert reply["code"] == "invalid_sdp" and "'sdp'" in reply["message"]
        reply = await peer.request(
            {"type": "candidate", "pc": "publish", "candidate": {"candidate": "candidate:garbage"}}, expect=("error",)
        )
        assert reply["code"] == "invalid_candidate"
        good = "candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host"
        reply = await peer.request(
            {"type": "candidate", "pc": "publish", "candidate": {"candidate": good, "sdpMid": "0"}}, expect=("error",)
        )
        assert reply["code"] == "wrong_state"
        reply = await peer.request({"type": "answer", "pc": "subscribe", "sdp": "v=0\r\n"}, expect=("error",))
        assert reply["code"] in ("wrong_state", "invalid_sdp")
        await still_alive(peer)
        assert server.media.gauges()["producers"] == 0
    finally:
        await peer.close()


async def test_messages_in_the_wrong_state(server: RunningServer) -> None:
    peer = TestPeer(server.ws_url, server.token("bad", "alice"), "alice")
    try:
        await peer.connect(join=False)
        reply = await peer.request({"type": "mute", "producer_id": "x", "muted": True}, expect=("error",))
        assert reply["code"] == "wrong_state" and "join" in reply["message"]
        await peer.request({"type": "join", "token": peer.token}, expect=("joined",))
        reply = await peer.request({"type": "join", "token": peer.token}, expect=("error",))
        assert reply["code"] == "wrong_state"
        reply = await peer.request({"type": "unpublish", "producer_id": "TR_nope"}, expect=("error",))
        assert reply["code"] == "not_found" and "TR_nope" in reply["message"]
        reply = await peer.request({"type": "answer", "pc": "publish", "sdp": "v=0\r\n"}, expect=("error",))
        assert reply["code"] == "invalid_field"
        await still_alive(peer)
    finally:
        await peer.close()


@pytest.mark.parametrize(
    ("make_token", "code"),
    [
        (lambda: jwt.encode({"room": "r", "sub": "x", "name": "X", "iat": int(time.time()) - 60, "role": "client", "exp": int(time.time()) - 5, "aud": "consult-sfu"}, SECRET, "HS256"), "token_expired"),
        (lambda: jwt.encode({"room": "r", "sub": "x", "name": "X", "iat": int(time.time()) - 60, "role": "client", "exp": int(time.time()) + 60, "aud": "consult-sfu"}, "another-secret-that-is-long-enough!!", "HS256"), "invalid_token"),
        (lambda: "not.a.token", "invalid_token"),
        (lambda: jwt.encode({"room": "r", "sub": "x", "name": "X", "iat": int(time.time()) - 60, "role": "admin", "exp": int(time.time()) + 60, "aud": "consult-sfu"}, SECRET, "HS256"), "invalid_token"),
    ],
)
async def test_bad_tokens_are_refused_and_allocate_nothing(server: RunningServer, make_token, code: str) -> None:  # type: ignore[no-untyped-def]
    peer = TestPeer(server.ws_url, make_token(), "mallory")
    try:
        reply = await peer.connect()
        assert reply["type"] == "access_refused" and reply["reason"] == code
        gauges = server.media.gauges()
        assert {k: gauges[k] for k in ("rooms", "participants", "producers", "consumers", "renditions", "decoders")} == dict.fromkeys(
            ("rooms", "participants", "producers", "consumers", "renditions", "decoders"), 0
        )
    finally:
        await peer.close()
