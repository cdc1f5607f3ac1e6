"""Files shared during a consultation, through the real server: upload with the join token,
``file_shared`` to everyone inside, download through a short-lived link only a participant
inside can use; every bad input a documented error that leaves nothing behind; files gone
when the room's media closes, when the consultation ends and when the server stops."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import pytest

from control.features.files import links
from control.features.files.feature import FILES_KEY, FilesFeature
from control.tokens import mint
from tests.chat.files_support import docx, download, pdf, png, upload
from tests.chat.live import ChatPeer, appointment, call, live, peers, token
from tests.support.server import SECRET, RunningServer, running_server


def feature(server: RunningServer) -> FilesFeature:
    return server.app[FILES_KEY]


async def settled(server: RunningServer, timeout: float = 5.0) -> None:
    """Nothing held, nothing in flight (what every refusal must leave)."""
    vault = feature(server).vault
    deadline = time.monotonic() + timeout
    while vault.held_bytes() or vault.counts() != (0, 0) or vault._reserved:
        assert time.monotonic() < deadline, (vault.held_bytes(), vault.counts(), vault._reserved)
        await asyncio.sleep(0.02)


async def link_for(peer: ChatPeer, file_id: str) -> dict[str, Any]:
    return await peer.request({"type": "get_file_link", "file_id": file_id}, expect=("file_link", "error"))


async def test_a_file_reaches_the_others_and_only_participants_inside_download_it(tmp_path: Path) -> None:
    async with running_server(tmp_path, files__memory_bytes=100_000) as server:
        base = server.http_url
        dr = ChatPeer(server.ws_url, server.token("f1", "dr", "practitioner", name="Dr Who"), "dr")
        ann = ChatPeer(server.ws_url, server.token("f1", "ann", "client", name="Ann"), "ann")
        async with peers(dr, ann):
            await dr.connect()
            await ann.connect()
            limits = await ann.next_message("file_limits")
            assert limits["max_file_bytes"] == 25 * 1024 * 1024 and limits["max_room_bytes"] == 200 * 1024 * 1024 and ".pdf" in limits["extensions"]
            picture, report = png(5000), pdf(2_000_000)  # one kept in memory, one in a nameless temporary file
            status, body = await upload(base, "f1", dr.token, picture, "scan.png")
            assert status == 201, body
            status, shared = await upload(base, "f1", dr.token, report, "Report 2026.pdf")
            assert status == 201, shared
            assert shared["name"] == "Report 2026.pdf" and shared["size"] == 2_000_000 and shared["content_type"] == "application/pdf"
            vault = feature(server).vault
            held = vault.get("f1", shared["file_id"])
            assert held is not None and held.blob.on_disk and not vault.get("f1", body["file_id"]).blob.on_disk
            notice = await ann.until(lambda m: m["type"] == "file_shared" and m["file"]["file_id"] == shared["file_id"])
            assert notice["kind"] == "file" and notice["sender"]["name"] == "Dr Who" and notice["message_id"] == shared["message_id"]
            await dr.until(lambda m: m["type"] == "file_shared" and m["file"]["file_id"] == shared["file_id"])  # the uploader too

            link = await link_for(ann, shared["file_id"])
            assert link["type"] == "file_link" and link["url"].startswith("files/f1/") and link["expires_at"] <= time.time() + 61
            status, got, headers = await download(base, link["url"])
            assert status == 200 and got == report
            assert headers["Content-Type"] == "application/pdf" and headers["X-Content-Type-Options"] == "nosniff"
            assert headers["Content-Disposition"] == "attachment; filename*=UTF-8''Report%202026.pdf"
            assert headers["Cache-Control"] == "no-store" and "sandbox" in headers["Content-Security-Policy"]
            status, got, _ = await download(base, (await link_for(dr, body["file_id"]))["url"])
            assert status == 200 and got == picture

            late = ChatPeer(server.ws_url, server.token("f1", "kim", "guest"), "kim")
            async with peers(late):
                await late.connect()
                files = [m["file"] for m in (await late.history())["messages"] if m["kind"] == "file"]
                assert [(f["name"], f["available"]) for f in files] == [("scan.png", True), ("Report 2026.pdf", True)]

            # bad links: tampered, expired, for another file, unknown file
            key = links.link_key(SECRET)
            url = link["url"]
            status, _, _ = await download(base, url[:-3] + ("AAA" if not url.endswith("AAA") else "BBB"))
            assert status == 403
            expired = links.mint(key, links.Link("f1", shared["file_id"], ann.joined["participant_id"], time.time() - 1))
            status, body_bytes, _ = await download(base, f"files/f1/{shared['file_id']}?t={expired}")
            assert status == 403 and json.loads(body_bytes)["error"]["code"] == "link_expired"
            status, body_bytes, _ = await download(base, f"files/f1/FL_other?t={url.split('t=')[1]}")
            assert status == 403 and json.loads(body_bytes)["error"]["code"] == "invalid_link"
            assert (await link_for(ann, "FL_nothing"))["code"] == "not_found"

            # someone who left cannot use a link they were given
            left_link = (await link_for(ann, shared["file_id"]))["url"]
            await ann.send({"type": "leave"})
            await dr.until(lambda m: m["type"] == "participant_left")
            status, body_bytes, _ = await download(base, left_link)
            assert status == 403 and json.loads(body_bytes)["error"]["code"] == "not_in_room"

            # everyone leaves: the room's media closes and its files are gone
            await dr.send({"type": "leave"})
        await settled(server)
        assert vault.get("f1", shared["file_id"]) is None and held.blob.closed


async def test_every_bad_upload_is_a_documented_error_and_leaves_nothing(tmp_path: Path) -> None:
    before = set(os.listdir(tmp_path.parent))
    async with running_server(tmp_path, files__max_file_bytes=300_000, files__max_room_bytes=500_000, files__memory_bytes=1000) as server:
        base = server.http_url
        ann = ChatPeer(server.ws_url, server.token("f2", "ann", "client"), "ann")
        async with peers(ann):
            await ann.connect()
            expired_token = mint(SECRET, room="f2", identity="ann", role="client", ttl_s=60, now=time.time() - 3600)
            cases: list[tuple[str, Any, bytes, str | None, int, str]] = [
                ("no token", None, png(), "a.png", 401, "unauthorized"),
                ("forged token", "eyJhbGciOiJIUzI1NiJ9.e30.bad", png(), "a.png", 401, "invalid_token"),
                ("expired token", expired_token, png(), "a.png", 401, "token_expired"),
                ("another room", server.token("f-other", "ann", "client"), png(), "a.png", 403, "wrong_room"),
                ("not inside", server.token("f2", "someone", "client"), png(), "a.png", 403, "not_in_room"),
                ("no name", ann.token, png(), None, 422, "invalid_name"),
                ("empty", ann.token, b"", "a.png", 422, "empty"),
                ("program renamed pdf", ann.token, b"MZ" + os.urandom(5000), "invoice.pdf", 415, "unsupported_type"),
                ("pdf renamed exe", ann.token, pdf(5000), "run.exe", 415, "unsupported_type"),
                ("zip renamed docx", ann.token, docx(real=False), "letter.docx", 415, "unsupported_type"),
                ("html renamed png", ann.token, b"<html><script>alert(1)</script></html>", "x.png", 415, "unsupported_type"),
                ("too large (declared)", ann.token, pdf(300_001), "big.pdf", 413, "too_large"),
            ]
            for what, tok, data, name, status, code in cases:
                got, body = await upload(base, "f2", tok, data, name)
                assert (got, body["error"]["code"]) == (status, code), what
                assert body["error"]["message"], what
                await settled(server)
            # too large without a declared length (chunked): refused as it passes the limit
            async def chunks() -> Any:
                yield b"%PDF-1.7\n"
                for _ in range(40):
                    yield os.urandom(10_000)
            got, body = await upload(base, "f2", ann.token, chunks(), "stream.pdf")  # type: ignore[arg-type]
            assert (got, body["error"]["code"]) == (413, "too_large")
            await settled(server)
            # the room's total
            assert (await upload(base, "f2", ann.token, pdf(250_000), "one.pdf"))[0] == 201
            got, body = await upload(base, "f2", ann.token, pdf(260_000), "two.pdf")
            assert (got, body["error"]["code"]) == (413, "room_full")
            assert (await upload(base, "f2", ann.token, docx(), "letter.docx"))[0] == 201  # a real one fits
            vault = feature(server).vault
            assert vault.counts() == (2, 0) and vault.room_bytes("f2") == 250_000 + len(docx())
            await ann.alive()
    assert set(os.listdir(tmp_path.parent)) - before <= {tmp_path.name}


async def test_an_interrupted_upload_leaves_nothing(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async with running_server(tmp_path, files__memory_bytes=10_000) as server:
        ann = ChatPeer(server.ws_url, server.token("f3", "ann", "client"), "ann")
        async with peers(ann):
            await ann.connect()
            _, writer = await asyncio.open_connection("127.0.0.1", server.server.port)
            head = (
                f"POST /files/f3?name=half.pdf HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {ann.token}\r\n"
                "Content-Type: application/pdf\r\nContent-Length: 3000000\r\n\r\n"
            )
            writer.write(head.encode() + pdf(1_500_000))
            await writer.drain()
            vault = feature(server).vault
            deadline = time.monotonic() + 5
            while vault.held_bytes() < 1_000_000:  # the server got a good part of it, on disk
                assert time.monotonic() < deadline
                await asyncio.sleep(0.02)
            assert vault.counts() == (0, 1)
            writer.transport.abort()  # the browser tab closes mid-upload
            await settled(server)
            assert vault.counts() == (0, 0)
            await ann.alive()
            assert all(m["type"] != "file_shared" for m in ann.messages)
            assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


async def test_files_are_gone_when_the_consultation_ends(tmp_path: Path, store_kind: str, request: pytest.FixtureRequest) -> None:
    async with live(tmp_path, store_kind, request) as (server, http):
        room = await appointment(http, starts_at=time.time() - 60)
        dr = ChatPeer(server.ws_url, await token(http, room["id"], "dr", "practitioner"), "dr")
        ann = ChatPeer(server.ws_url, await token(http, room["id"], "ann", "client"), "ann")
        async with peers(dr, ann):
            await dr.connect()
            await dr.send({"type": "force_start"})
            await dr.until(lambda m: m["type"] == "queue" and m["state"] == "started")
            assert (await ann.connect())["type"] == "joined"
            status, shared = await upload(server.http_url, room["id"], ann.token, pdf(50_000), "notes.pdf")
            assert status == 201
            url = (await link_for(dr, shared["file_id"]))["url"]
            assert feature(server).vault.held_bytes() == 50_000
            await call(http, "POST", f"/v1/rooms/{room['id']}/end")
            await dr.next_message("consultation_ended")
            await settled(server)
            status, _, _ = await download(server.http_url, url)
            assert status == 403  # the consultation ended: nobody is inside any more
            got, refused = await upload(server.http_url, room["id"], ann.token, pdf(1000), "late.pdf")
            assert (got, refused["error"]["code"]) == (409, "room_ended")


async def test_files_are_gone_when_the_server_stops(tmp_path: Path) -> None:
    async with running_server(tmp_path, files__memory_bytes=0) as server:
        ann = ChatPeer(server.ws_url, server.token("f4", "ann", "client"), "ann")
        async with peers(ann):
            await ann.connect()
            status, shared = await upload(server.http_url, "f4", ann.token, pdf(20_000), "kept.pdf")
            assert status == 201
            held = feature(server).vault.get("f4", shared["file_id"])
            assert held is not None and held.blob.on_disk
            fd = held.blob._fd
            assert fd is not None and os.readlink(f"/proc/self/fd/{fd}").endswith("(deleted)")  # it never had a name
    assert held.blob.closed and held.blob._fd is None and feature(server).vault.held_bytes() == 0
