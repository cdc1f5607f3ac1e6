"""What happens to a chat at the end: deleted (default), or handed over as one signed
``chat_transcript`` webhook (organisation setting, room override, the old
``chat_deleted_after`` field) and deleted here either way; retried like every webhook."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from control.features.chat.feature import CHAT_KEY
from control.webhooks import SIGNATURE_HEADER, verify_signature
from tests.chat.live import ChatPeer, appointment, call, live, peers, token


class Receiver:
    """A real webhook endpoint; fails the first ``fail_first`` attempts of every delivery."""

    def __init__(self, fail_first: int = 0) -> None:
        self.fail_first = fail_first
        self.attempts: dict[str, int] = {}
        self.received: list[tuple[dict[str, Any], bytes, str]] = []

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        delivery = request.headers["X-Consult-Delivery"]
        self.attempts[delivery] = self.attempts.get(delivery, 0) + 1
        if self.attempts[delivery] <= self.fail_first:
            return web.Response(status=503)
        self.received.append((json.loads(body), body, request.headers[SIGNATURE_HEADER]))
        return web.Response(status=204)

    def transcripts(self) -> list[dict[str, Any]]:
        return [payload for payload, _, _ in self.received if payload["event"] == "chat_transcript"]


async def receiving(receiver: Receiver) -> TestServer:
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server


async def until(predicate: Any, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def chat_and_end(server: Any, http: Any, room: dict[str, Any]) -> None:
    """A waiting client writes, the practitioner answers, admits, both chat, then it ends."""
    ann = ChatPeer(server.ws_url, await token(http, room["id"], "ann", "client", name="Ann"), "ann")
    dr = ChatPeer(server.ws_url, await token(http, room["id"], "dr", "practitioner", name="Dr Who"), "dr")
    async with peers(ann, dr):
        await ann.join_waiting()
        await ann.say("waiting-room question")
        await dr.connect()
        queue = await dr.until(lambda m: m["type"] == "queue" and m["entries"])
        pid = queue["entries"][0]["participant_id"]
        await dr.say("answer while waiting", to=pid)
        await dr.send({"type": "admit", "participant_id": pid})
        await ann.next_message("joined")
        await ann.link("https://docs.example.org/shared", text="notes")
        await dr.say("consultation message")
        assert len(await server.app[CHAT_KEY].records.read(room["id"])) == 4
        await call(http, "POST", f"/v1/rooms/{room['id']}/end")
        await ann.next_message("consultation_ended")


@pytest.mark.parametrize(
    ("org_setting", "room_settings", "handed_over"),
    [
        (None, {}, False),  # the default: delete
        ("hand_over", {}, True),  # the organisation keeps its chats (its platform does)
        ("hand_over", {"chat_retention": "delete"}, False),  # this room overrides it
        (None, {"chat_retention": "hand_over"}, True),
        (None, {"chat_deleted_after": False}, True),  # the old field, still understood
    ],
)
async def test_the_end_deletes_the_transcript_and_hands_it_over_if_asked(
    tmp_path: Path, store_kind: str, request: pytest.FixtureRequest, org_setting: str | None, room_settings: dict[str, Any], handed_over: bool
) -> None:
    receiver = Receiver(fail_first=1)  # retried like every webhook
    hooks = await receiving(receiver)
    try:
        async with live(tmp_path, store_kind, request) as (server, http):
            secret = (await call(http, "PUT", "/v1/webhooks", {"urls": [str(hooks.make_url("/hook"))]}))["signing_secret"]
            assert "chat_transcript" in (await call(http, "GET", "/v1/webhooks"))["events"]
            if org_setting is not None:
                assert await call(http, "PUT", "/v1/chat/settings", {"chat_retention": org_setting}) == {"chat_retention": org_setting}
            room = await appointment(http, settings=room_settings)
            expected = "hand_over" if room_settings.get("chat_deleted_after") is False else room_settings.get("chat_retention")
            assert room["settings"]["chat_retention"] == expected and "chat_deleted_after" not in room["settings"]
            await chat_and_end(server, http, room)
            service = server.app[CHAT_KEY]
            await until(lambda: service.held_bytes() == 0)
            assert await service.records.read(room["id"]) == []  # deleted here either way
            if handed_over:
                await until(lambda: len(receiver.transcripts()) == 1)
                payload, body, signature = next((p, b, s) for p, b, s in receiver.received if p["event"] == "chat_transcript")
                assert verify_signature(secret, body, signature)
                assert payload["room"] == room["id"] and payload["org"] == "clinic"
                data = payload["data"]
                assert data["retention"] == "hand_over" and data["message_count"] == 4 and data["ended_at"] is not None
                assert [(m["thread"], m["kind"], m.get("text")) for m in data["messages"]] == [
                    ("waiting", "text", "waiting-room question"),
                    ("waiting", "text", "answer while waiting"),
                    ("consultation", "link", "notes"),
                    ("consultation", "text", "consultation message"),
                ]
                assert data["messages"][0]["waiting_identity"] == "ann" and data["messages"][2]["url"] == "https://docs.example.org/shared"
                assert data["messages"][3]["sender"] == {"participant_id": data["messages"][3]["sender"]["participant_id"], "identity": "dr", "name": "Dr Who", "role": "practitioner"}
                assert all("audience" not in m for m in data["messages"])
                assert max(receiver.attempts.values()) == 2
            else:
                await until(lambda: any(p["event"] == "consultation_ended" for p, _, _ in receiver.received))
                await asyncio.sleep(0.3)
                assert receiver.transcripts() == []
    finally:
        await hooks.close()


async def test_chat_settings_api(tmp_path: Path, store_kind: str, request: pytest.FixtureRequest) -> None:
    async with live(tmp_path, store_kind, request) as (_, http):
        assert await call(http, "GET", "/v1/chat/settings") == {"chat_retention": "delete"}
        bad = await call(http, "PUT", "/v1/chat/settings", {"chat_retention": "keep_forever"}, status=422)
        assert bad["error"]["code"] == "invalid_field" and "chat_retention" in bad["error"]["message"]
        missing = await call(http, "PUT", "/v1/chat/settings", {}, status=422)
        assert "chat_retention" in missing["error"]["message"]
        contradiction = await call(
            http, "POST", "/v1/rooms",
            {"kind": "quick", "settings": {"chat_retention": "delete", "chat_deleted_after": False}}, status=422,
        )
        assert "chat_deleted_after" in contradiction["error"]["message"]
        unknown = await call(http, "POST", "/v1/rooms", {"kind": "quick", "settings": {"chat_retention": "sometimes"}}, status=422)
        assert "chat_retention" in unknown["error"]["message"]
        doc = await call(http, "GET", "/v1/openapi.json")
        assert "/v1/chat/settings" in doc["paths"] and "ChatSettings" in doc["components"]["schemas"]
