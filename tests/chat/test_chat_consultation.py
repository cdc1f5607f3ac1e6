"""Chat inside a consultation through the real server: live delivery with id, sender, role
and time; history for whoever joins or reconnects; links; every bad input a documented
error with the connection alive and nothing stored."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from control.features.chat.feature import CHAT_KEY
from tests.chat.live import ChatPeer, peers
from tests.support.server import RunningServer, running_server


async def test_messages_reach_everyone_and_the_history_reaches_latecomers(server: RunningServer) -> None:
    doctor = ChatPeer(server.ws_url, server.token("c1", "dr", "practitioner", name="Dr Who"), "dr")
    ann = ChatPeer(server.ws_url, server.token("c1", "ann", "client", name="Ann"), "ann")
    async with peers(doctor, ann):
        await doctor.connect()
        await ann.connect()
        assert (await ann.history())["messages"] == [] and (await ann.history())["retention"] == "delete"
        reply = await doctor.say("Good morning <b>Ann</b>")
        assert reply["type"] == "chat_message" and reply["kind"] == "text" and reply["thread"] == "consultation"
        assert reply["sender"] == {"participant_id": doctor.joined["participant_id"], "identity": "dr", "name": "Dr Who", "role": "practitioner"}
        got = await ann.next_message("chat_message")
        assert got["message_id"] == reply["message_id"] and got["text"] == "Good morning <b>Ann</b>" and got["at"] == reply["at"]
        assert "id" not in got  # only the sender's reply carries the request id
        link = await ann.link("https://docs.example.org/d/42?x=1", text="Our shared notes")
        assert link["kind"] == "link" and link["url"] == "https://docs.example.org/d/42?x=1" and link["text"] == "Our shared notes"
        await doctor.wait_for(lambda m: m["type"] == "chat_message" and m["message_id"] == link["message_id"])
        assert [m["message_id"] for m in doctor.chat()] == [link["message_id"]]  # not its own message twice

        late = ChatPeer(server.ws_url, server.token("c1", "kim", "guest", name="Kim"), "kim")
        again = ChatPeer(server.ws_url, server.token("c1", "ann", "client", name="Ann"), "ann2")
        async with peers(late, again):
            await late.connect()
            history = (await late.history())["messages"]
            assert [(m["kind"], m.get("text"), m.get("url")) for m in history] == [
                ("text", "Good morning <b>Ann</b>", None),
                ("link", "Our shared notes", "https://docs.example.org/d/42?x=1"),
            ]
            assert history[0]["sender"]["role"] == "practitioner" and history[1]["sender"]["identity"] == "ann"
            await ann.close()
            await again.connect()  # Ann reconnects: the whole conversation is there again
            assert [m["message_id"] for m in (await again.history())["messages"]] == [reply["message_id"], link["message_id"]]


async def test_every_bad_input_is_a_documented_error_and_nothing_is_stored(tmp_path: Path) -> None:
    async with running_server(tmp_path, chat__burst=20, chat__rate_per_s=1) as server:
        ann = ChatPeer(server.ws_url, server.token("c2", "ann", "client"), "ann")
        dr = ChatPeer(server.ws_url, server.token("c2", "dr", "practitioner"), "dr")
        async with peers(ann, dr):
            await ann.connect(join=False)
            early = await ann.say("before joining")
            assert early["code"] == "wrong_state"
            await ann.request({"type": "join", "token": ann.token}, expect=("joined",))
            await dr.connect()
            cases = {
                "too_long": {"type": "chat_send", "text": "é" * 2049},  # 4098 bytes of UTF-8
                "missing_field": {"type": "chat_send", "text": "   "},
                "invalid_url": {"type": "chat_send", "kind": "link", "url": "javascript:alert(1)"},
            }
            bad_urls = ["ftp://files.example.org/x", "https://user:pw@example.org/", "https:///nohost", "https://a.org/" + "x" * 2100, "https://a.org/a b"]
            for code, body in cases.items():
                error = await ann.request(body, expect=("error", "chat_message"))
                assert error["type"] == "error" and error["code"] == code, error
                assert error["message"]
            for url in bad_urls:
                error = await ann.link(url)
                assert error["type"] == "error" and error["code"] == "invalid_url", (url, error)
            forbidden = await ann.say("to someone", to="PA_whoever")
            assert forbidden["code"] == "forbidden"
            nobody = await dr.say("to nobody", to="PA_whoever")
            assert nobody["code"] == "not_waiting"
            seen = len(ann.messages)
            await ann.send_raw(json.dumps({"v": 1, "type": "chat_send", "text": "x" * 300_000}))
            too_large = await ann.next_message("error", after=seen)
            assert too_large["code"] == "too_large"
            await ann.alive()
            ok = await ann.say("the one that counts")
            assert ok["type"] == "chat_message"
            service = server.app[CHAT_KEY]
            stored = await service.records.read("c2")
            assert [r["text"] for r in stored] == ["the one that counts"]
            assert [m.get("text") for m in dr.chat()] == ["the one that counts"]


async def test_too_many_messages_per_second_are_refused(tmp_path: Path) -> None:
    async with running_server(tmp_path, chat__burst=3, chat__rate_per_s=1) as server:
        ann = ChatPeer(server.ws_url, server.token("c3", "ann", "client"), "ann")
        async with peers(ann):
            await ann.connect()
            replies = [await ann.say(f"message {i}") for i in range(6)]
            assert [r["type"] for r in replies[:3]] == ["chat_message"] * 3
            assert [r.get("code") for r in replies[3:]] == ["rate_limited"] * 3
            assert "wait" in replies[3]["message"]
            await ann.alive()
            assert len(await server.app[CHAT_KEY].records.read("c3")) == 3


async def test_a_full_transcript_refuses_more(tmp_path: Path) -> None:
    async with running_server(tmp_path, chat__max_messages=2) as server:
        ann = ChatPeer(server.ws_url, server.token("c4", "ann", "client"), "ann")
        async with peers(ann):
            await ann.connect()
            assert (await ann.say("one"))["type"] == "chat_message"
            assert (await ann.say("two"))["type"] == "chat_message"
            full = await ann.say("three")
            assert full["code"] == "chat_full" and "2 messages" in full["message"]
            await ann.alive()


@pytest.mark.parametrize("how", ["leave", "disconnect"])
async def test_an_ad_hoc_room_forgets_its_chat_when_its_media_room_closes(server: RunningServer, how: str) -> None:
    ann = ChatPeer(server.ws_url, server.token("c5", "ann", "client"), "ann")
    async with peers(ann):
        await ann.connect()
        await ann.say("secret words")
        service = server.app[CHAT_KEY]
        assert len(await service.records.read("c5")) == 1 and service.held_bytes() == len("secret words")
        if how == "leave":
            await ann.send({"type": "leave"})
        await ann.close()
        for _ in range(100):
            if not await service.records.read("c5") and service.held_bytes() == 0:
                break
            await asyncio.sleep(0.05)
        assert await service.records.read("c5") == [] and service.held_bytes() == 0
