"""Waiting-room chat through the real server, on both stores: a waiting client writes to the
practice, staff read it (history included) and answer with ``to``; nobody else sees it;
once admitted the client keeps their thread and joins the consultation's; a walk-in
visitor does not read the previous visitor's chat; a client outside the access window is
refused before any chat."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from tests.chat.live import ChatPeer, appointment, call, live, peers, token


async def test_a_waiting_client_chats_with_the_staff(tmp_path: Path, store_kind: str, request: pytest.FixtureRequest) -> None:
    async with live(tmp_path, store_kind, request) as (server, http):
        room = await appointment(http, guests=[{"identity": "kim"}])
        ann = ChatPeer(server.ws_url, await token(http, room["id"], "ann", "client"), "ann")
        kim = ChatPeer(server.ws_url, await token(http, room["id"], "kim", "guest"), "kim")
        dr = ChatPeer(server.ws_url, await token(http, room["id"], "dr", "practitioner", name="Dr Who"), "dr")
        async with peers(ann, kim, dr):
            assert (await ann.join_waiting())["status"] == "on_time"  # early: before the appointment's start
            assert (await ann.history())["messages"] == []
            first = await ann.say("I am here, my camera may not work")
            assert first["thread"] == "waiting" and first["waiting_identity"] == "ann" and first["sender"]["role"] == "client"
            await kim.join_waiting()
            await kim.say("kim waiting too")
            await dr.connect()  # arrives later: finds both waiting chats in the history
            history = (await dr.history())["messages"]
            assert [(m["waiting_identity"], m["text"]) for m in history] == [("ann", "I am here, my camera may not work"), ("kim", "kim waiting too")]
            queue = await dr.until(lambda m: m["type"] == "queue" and len(m["entries"]) == 2)
            ann_pid = next(e["participant_id"] for e in queue["entries"] if e["identity"] == "ann")
            answer = await dr.say("Hello Ann, we will check it together", to=ann_pid)
            assert answer["thread"] == "waiting" and answer["waiting_identity"] == "ann" and answer["sender"]["name"] == "Dr Who"
            got = await ann.until(lambda m: m["type"] == "chat_message" and m["message_id"] == answer["message_id"])
            assert got["text"] == "Hello Ann, we will check it together"
            later = await ann.say("thank you")
            await dr.until(lambda m: m["type"] == "chat_message" and m.get("message_id") == later["message_id"])
            # Kim (waiting too) saw nothing of Ann's chat
            assert [m["waiting_identity"] for m in kim.chat()] == []
            assert all(m["waiting_identity"] == "kim" for m in (await kim.history())["messages"])

            seen = len(ann.messages)
            await dr.send({"type": "admit", "participant_id": ann_pid})
            await ann.next_message("joined", after=seen)
            inside = (await ann.history(after=seen))["messages"]
            assert [m["text"] for m in inside] == ["I am here, my camera may not work", "Hello Ann, we will check it together", "thank you"]
            # the guest went in with the client: the consultation's chat, not Ann's waiting-room
            # chat (in before the welcome below: a history taken after it holds it, rightly)
            joined_at = kim.messages.index(await kim.until(lambda m: m["type"] == "joined"))
            assert [e["text"] for e in (await kim.history(after=joined_at))["messages"]] == ["kim waiting too"]
            welcome = await dr.say("Welcome in")
            assert welcome["thread"] == "consultation"
            await ann.until(lambda m: m.get("message_id") == welcome["message_id"])
            await kim.until(lambda m: m.get("message_id") == welcome["message_id"])
            assert [m["text"] for m in kim.chat()] == ["Welcome in"]


async def test_a_walk_in_visitor_does_not_read_the_previous_visitors_chat(tmp_path: Path, store_kind: str, request: pytest.FixtureRequest) -> None:
    async with live(tmp_path, store_kind, request) as (server, http):
        now = time.time()
        room = await call(http, "POST", "/v1/rooms", {"kind": "walk_in", "practitioner": {"identity": "dr"}, "starts_at": now - 60, "ends_at": now + 3600}, status=201)
        dr = ChatPeer(server.ws_url, await token(http, room["id"], "dr", "practitioner"), "dr")
        one = ChatPeer(server.ws_url, await token(http, room["id"], "v1", "client"), "v1")
        two = ChatPeer(server.ws_url, await token(http, room["id"], "v2", "client"), "v2")
        async with peers(dr, one, two):
            await dr.connect()
            await one.join_waiting()
            entry = (await dr.until(lambda m: m["type"] == "queue" and len(m["entries"]) == 1))["entries"][0]
            await dr.send({"type": "admit", "participant_id": entry["participant_id"]})
            await one.next_message("joined")
            said = await one.say("my private question")
            assert said["thread"] == "consultation"
            await dr.until(lambda m: m.get("message_id") == said["message_id"])
            await one.send({"type": "leave"})
            await two.join_waiting()
            entry = (await dr.until(lambda m: m["type"] == "queue" and len(m["entries"]) == 1 and m["entries"][0]["identity"] == "v2"))["entries"][0]
            seen = len(two.messages)
            await dr.send({"type": "admit", "participant_id": entry["participant_id"]})
            await two.next_message("joined", after=seen)
            assert (await two.history(after=seen))["messages"] == []
            hello = await dr.say("next visitor, hello")
            await two.until(lambda m: m.get("message_id") == hello["message_id"])
            manager = ChatPeer(server.ws_url, await token(http, room["id"], "mgr", "department_manager"), "mgr")
            async with peers(manager):
                await manager.connect()  # staff read every visitor's chat
                assert [m["text"] for m in (await manager.history())["messages"]] == ["my private question", "next visitor, hello"]


async def test_a_client_outside_the_access_window_cannot_chat(tmp_path: Path, store_kind: str, request: pytest.FixtureRequest) -> None:
    async with live(tmp_path, store_kind, request) as (server, http):
        now = time.time()
        room = await appointment(http, starts_at=now + 7200, ends_at=now + 9000)  # opens in an hour
        early = ChatPeer(server.ws_url, await token(http, room["id"], "ann", "client"), "ann")
        async with peers(early):
            await early.connect(join=False)
            await early.send({"type": "join", "token": early.token})
            refused = await early.next_message("access_refused")
            assert refused["reason"] == "too_early"
            assert [m["type"] for m in early.messages] == ["access_refused"]  # the one refusal message
            assert all(m["type"] != "chat_history" for m in early.messages)
            # the server closed the connection: a chat message cannot even be sent
            with pytest.raises((ConnectionError, RuntimeError, AssertionError, asyncio.TimeoutError)):
                for _ in range(50):
                    await early.send({"type": "chat_send", "text": "let me in"})
                    await asyncio.sleep(0.02)
                await early.say("let me in")
