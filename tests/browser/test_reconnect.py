"""Reconnect with state kept, from the room page (issue 12 item 4).

The server under test runs with the default `[session] reconnect_grace_s` (30 s). A Chromium
page and an aiortc peer share a room:

- the page's WebSocket drops (closed under the client's feet): the JS client re-joins by
  itself, the server takes its session back (`joined.resumed`, same participant id) and the
  peer sees `participant_reconnecting` twice (true, false), never left + joined; video flows
  again on the page's new connections;
- the page is reloaded and joined again: the same;
- the peer's socket drops: the page marks its tile "connection dropped — reconnecting…"
  until the peer is back;
- the media path dies while the socket lives: the client re-joins into its kept session.

Chromium only: what is tested is the JS client and the server, the same code in Firefox.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aioice.ice
import pytest

from control.tokens import join_url
from sfu import ParticipantId, RoomId
from tests.browser.conftest import RunningServer
from tests.browser.engine import BrowserPage, Engine
from tests.browser.pages import join, open_and_join, wait_media_flowing
from tests.support.media import PatternVideoTrack, ToneAudioTrack
from tests.support.peer import TestPeer
from tests.support.server import running_server

pytestmark = pytest.mark.browser

REMOTE_TILE = ".tile-camera:not(.tile-self)"


@pytest.fixture
def loopback_ice(monkeypatch: pytest.MonkeyPatch) -> None:
    """aioice leaves 127.0.0.1 out of its host candidates; our peer lives on loopback."""
    monkeypatch.setattr(aioice.ice, "get_host_addresses", lambda use_ipv4=True, use_ipv6=True: ["127.0.0.1"])


def presence_of(peer: TestPeer, participant_id: str) -> list[str]:
    out = []
    for msg in peer.messages:
        pid = msg.get("participant_id") or (msg.get("participant") or {}).get("participant_id")
        if pid != participant_id:
            continue
        if msg["type"] == "participant_reconnecting":
            out.append(f"reconnecting:{msg['reconnecting']}")
        elif msg["type"] in ("participant_joined", "participant_left"):
            out.append(msg["type"])
    return out


async def page_participant_id(page: BrowserPage) -> str:
    return str(await page.evaluate("() => window.consult.client.self.participant_id"))


async def back_in_call(peer: TestPeer, pid: str, page: BrowserPage) -> None:
    await asyncio.wait_for(peer.wait_for(lambda m: m["type"] == "participant_reconnecting" and m["participant_id"] == pid and m["reconnecting"] is False), 45)
    await page.wait_for_selector("body[data-state='connected'][data-view='call']", timeout_s=45)


async def test_the_page_comes_back_with_its_place_after_a_socket_drop_and_a_reload(
    server: RunningServer, chromium: Engine, loopback_ice: None
) -> None:
    room = "reconnect-page"
    robot = TestPeer(server.ws_url, server.token(room, "robot", "Robot", role="practitioner"), name="robot")
    try:
        assert (await robot.connect())["type"] == "joined"
        await robot.publish([(PatternVideoTrack(320, 240, fps=15), "camera"), (ToneAudioTrack(), "microphone")])
        page = await chromium.new_page()
        url = server.join_url(room, "carol", "Carol")
        await open_and_join(page, url)
        await wait_media_flowing(page)
        carol = await page_participant_id(page)
        await robot.wait_frames(carol, "video", 3, timeout=45)

        # 1. The socket drops under the client: it re-joins by itself within the grace.
        await page.evaluate("() => { window.__joinedDetails = []; window.consult.client.on('joined', (d) => window.__joinedDetails.push(d)); }")
        await page.evaluate("() => window.consult.client._signalling.ws.close()")
        await back_in_call(robot, carol, page)
        detail: Any = await page.wait_for("() => window.__joinedDetails.length > 0 && window.__joinedDetails[0]", timeout_s=30, what="joined again")
        assert detail["resumed"] is True and detail["reconnected"] is True
        assert await page_participant_id(page) == carol
        await wait_media_flowing(page)
        assert presence_of(robot, carol) == ["participant_joined", "reconnecting:True", "reconnecting:False"]

        # 2. A reload, then Join on the pre-join screen: the same participant again.
        await page.evaluate("() => { setTimeout(() => location.reload(), 0); }")  # the same URL: a goto would only move to its #fragment
        await page.wait_for_selector("body[data-view='call']", state="detached", timeout_s=30)
        await join(page)
        await asyncio.wait_for(robot.wait_for(lambda m: len([x for x in presence_of(robot, carol) if x == "reconnecting:False"]) == 2), 45)
        assert await page_participant_id(page) == carol
        assert presence_of(robot, carol) == ["participant_joined"] + ["reconnecting:True", "reconnecting:False"] * 2
        await wait_media_flowing(page)
        await robot.wait_frames(carol, "video", 3, timeout=45)
    finally:
        await robot.close()


async def test_the_page_shows_a_participant_reconnecting_until_they_are_back(
    server: RunningServer, chromium: Engine, loopback_ice: None
) -> None:
    room = "reconnect-tile"
    robot_token = server.token(room, "robot", "Robot", role="practitioner")
    robot = TestPeer(server.ws_url, robot_token, name="robot")
    again = TestPeer(server.ws_url, robot_token, name="robot-again")
    try:
        await robot.connect()
        await robot.publish([(PatternVideoTrack(320, 240, fps=15), "camera"), (ToneAudioTrack(), "microphone")])
        page = await chromium.new_page()
        await open_and_join(page, server.join_url(room, "carol", "Carol"))
        await page.wait_for_selector(REMOTE_TILE)
        await robot.close()  # its socket drops
        await page.wait_for_selector(f"{REMOTE_TILE}.reconnecting", timeout_s=15)
        assert "reconnecting" in (await page.text(f"{REMOTE_TILE} .tile-notice")).lower()
        joined = await again.connect()
        assert joined["resumed"] is True
        await again.publish([(PatternVideoTrack(320, 240, fps=15), "camera"), (ToneAudioTrack(), "microphone")])
        await page.wait_for_selector(f"{REMOTE_TILE}.reconnecting", state="detached", timeout_s=15)
        assert await page.count(REMOTE_TILE) == 1  # the same tile: nobody left, nobody joined
        await wait_media_flowing(page)
    finally:
        await again.close()
        await robot.close()


async def test_a_dead_media_path_with_a_live_socket_keeps_the_call(tmp_path: Path, chromium: Engine, loopback_ice: None) -> None:
    """The network path of the media dies but the WebSocket survives (a network change the
    socket outlived). aiortc 1.16 cannot restart ICE (its ICE transport starts once), so the
    client's answer to a failed or 5 s disconnected ICE connection is to re-join: with the
    session kept, the call goes on as the same participant. The server (in this process, so
    the test can reach it) stops answering the page's ICE checks: its aioice sockets close.
    """
    async with running_server(tmp_path, session__reconnect_grace_s=30) as server:
        room = "reconnect-ice"
        robot = TestPeer(server.ws_url, server.token(room, "robot", "practitioner"), name="robot")
        page: BrowserPage | None = None
        try:
            await robot.connect()
            await robot.publish([(PatternVideoTrack(320, 240, fps=15), "camera"), (ToneAudioTrack(), "microphone")])
            page = await chromium.new_page()
            await open_and_join(page, join_url(server.http_url, room, server.token(room, "carol", "client")))
            await wait_media_flowing(page)
            carol = await page_participant_id(page)
            await page.evaluate(
                "() => { window.__states = []; window.__joinedDetails = [];"
                " window.consult.client.on('state', (d) => window.__states.push(d));"
                " window.consult.client.on('joined', (d) => window.__joinedDetails.push(d)); }"
            )
            media_room = server.media.rooms[RoomId(room)]
            participant = media_room.participants[ParticipantId(carol)]
            await _silence_ice(participant)
            detail: Any = await page.wait_for("() => window.__joinedDetails.length > 0 && window.__joinedDetails[0]", timeout_s=60, what="joined again")
            states: list[dict[str, Any]] = await page.evaluate("() => window.__states")
            lost = next(s for s in states if s["state"] == "reconnecting")
            assert "media connection" in lost["reason"], states  # ICE, not the socket
            assert detail["resumed"] is True and await page_participant_id(page) == carol
            await back_in_call(robot, carol, page)
            assert presence_of(robot, carol) == ["participant_joined", "reconnecting:True", "reconnecting:False"]
            await wait_media_flowing(page)
            await robot.wait_frames(carol, "video", 3, timeout=45)
        finally:
            # The page leaves before this in-process server stops: with its call still open,
            # the server's shutdown waited ~30 s for the page's connection to end.
            if page is not None:
                await page.close()
            await robot.close()


async def _silence_ice(participant: Any) -> None:
    """Close the server-side ICE sockets of both peer connections: checks go unanswered."""
    for pc in (participant._publish_pc, participant._subscribe_pc):
        for transceiver in pc.getTransceivers():
            connection = transceiver.receiver.transport.transport._connection
            for protocol in list(connection._protocols):
                if protocol.transport is not None:
                    protocol.transport.close()
