"""Baseline server: aiortc's MediaRelay, the way most Python WebRTC relays are built.

Each publisher's tracks are decoded once by aiortc's receiver; MediaRelay hands the
decoded frames to every subscriber, whose RTCRtpSender re-encodes them (one encoder per
subscriber). Minimal HTTP protocol of its own (JSON, loopback only):

- ``POST /rooms/{room}/publish`` ``{"sdp"}`` (client offer, send-only audio/video)
  -> ``{"peer_id", "sdp"}`` (answer); the publisher id is ``peer_id``.
- ``POST /rooms/{room}/subscribe`` ``{"publishers": [ids], "sdp"}`` where the offer has
  recv-only transceivers in order video, audio for each publisher -> ``{"peer_id", "sdp"}``.
- ``POST /peers/{peer_id}/close``; ``GET /healthz``.

Run: ``python -m loadtest.mediarelay_server --port 8090`` (binds 127.0.0.1 only).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import itertools
import logging
from dataclasses import dataclass, field

from aiohttp import web
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaBlackhole, MediaRelay
from aiortc.mediastreams import MediaStreamTrack

from loadtest.aiortc_seams import gather_on
from loadtest.peer import new_peer_connection
from loadtest.safety import LOOPBACK, UnsafeTargetError, filter_sdp_candidates

log = logging.getLogger("loadtest.mediarelay")


@dataclass
class Publisher:
    pc: RTCPeerConnection
    tracks: dict[str, MediaStreamTrack] = field(default_factory=dict)
    drain: MediaBlackhole = field(default_factory=MediaBlackhole)


@dataclass
class RelayState:
    relay: MediaRelay = field(default_factory=MediaRelay)
    publishers: dict[str, Publisher] = field(default_factory=dict)
    peers: dict[str, RTCPeerConnection] = field(default_factory=dict)
    ids: itertools.count[int] = field(default_factory=itertools.count)


STATE = web.AppKey("state", RelayState)
routes = web.RouteTableDef()


async def _offer(request: web.Request) -> tuple[dict, str]:
    body = await request.json()
    if not isinstance(body, dict) or not isinstance(body.get("sdp"), str):
        raise web.HTTPBadRequest(text="field 'sdp' (string) is required")
    try:
        return body, filter_sdp_candidates(body["sdp"], [LOOPBACK])
    except UnsafeTargetError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None


@routes.post("/rooms/{room}/publish")
async def publish(request: web.Request) -> web.Response:
    state = request.app[STATE]
    _, sdp = await _offer(request)
    pc = new_peer_connection()
    peer_id = f"p{next(state.ids)}"
    publisher = Publisher(pc)

    @pc.on("track")
    def on_track(track: MediaStreamTrack) -> None:
        publisher.tracks[track.kind] = track
        # keep the decoded queue drained even before anyone subscribes
        publisher.drain.addTrack(state.relay.subscribe(track, buffered=False))

    await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
    await pc.setLocalDescription(await pc.createAnswer())
    await publisher.drain.start()
    state.publishers[peer_id] = publisher
    state.peers[peer_id] = pc
    return web.json_response({"peer_id": peer_id, "sdp": pc.localDescription.sdp})


@routes.post("/rooms/{room}/subscribe")
async def subscribe(request: web.Request) -> web.Response:
    state = request.app[STATE]
    body, sdp = await _offer(request)
    ids = body.get("publishers")
    if not isinstance(ids, list) or not all(isinstance(i, str) and i in state.publishers for i in ids):
        raise web.HTTPBadRequest(text="field 'publishers' must list known publisher ids")
    pc = new_peer_connection()
    await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
    wanted = [(state.publishers[i], kind) for i in ids for kind in ("video", "audio")]
    transceivers = pc.getTransceivers()
    if len(transceivers) != len(wanted):
        await pc.close()
        raise web.HTTPBadRequest(text="offer must have a video and an audio m-line per publisher")
    for transceiver, (publisher, kind) in zip(transceivers, wanted, strict=True):
        source = publisher.tracks.get(kind)
        if source is None or transceiver.kind != kind:
            await pc.close()
            raise web.HTTPBadRequest(text=f"publisher has no {kind} track for m-line {transceiver.mid}")
        transceiver.sender.replaceTrack(state.relay.subscribe(source, buffered=False))
        transceiver.direction = "sendonly"
    await pc.setLocalDescription(await pc.createAnswer())
    peer_id = f"s{next(state.ids)}"
    state.peers[peer_id] = pc
    return web.json_response({"peer_id": peer_id, "sdp": pc.localDescription.sdp})


@routes.post("/peers/{peer_id}/close")
async def close_peer(request: web.Request) -> web.Response:
    state = request.app[STATE]
    peer_id = request.match_info["peer_id"]
    pc = state.peers.pop(peer_id, None)
    publisher = state.publishers.pop(peer_id, None)
    if publisher is not None:
        await publisher.drain.stop()
    if pc is not None:
        await pc.close()
    return web.json_response({"closed": pc is not None})


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"ok": True, "peers": len(request.app[STATE].peers)})


async def _close_all(app: web.Application) -> None:
    state = app[STATE]
    for publisher in state.publishers.values():
        with contextlib.suppress(Exception):
            await publisher.drain.stop()
    await asyncio.gather(*(pc.close() for pc in state.peers.values()), return_exceptions=True)
    state.peers.clear()
    state.publishers.clear()


def make_app() -> web.Application:
    app = web.Application()
    app[STATE] = RelayState()
    app.add_routes(routes)
    app.on_shutdown.append(_close_all)
    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.mediarelay_server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    args = parser.parse_args(argv)
    if ipaddress.ip_address(args.host) not in LOOPBACK:
        parser.error("--host must be a loopback address")
    logging.basicConfig(level=logging.WARNING)
    with gather_on([args.host]):
        web.run_app(make_app(), host=args.host, port=args.port, print=None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
