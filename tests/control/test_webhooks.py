"""Webhooks: signed POSTs to the organisation's URLs, retried with backoff, never blocking."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

from control.webhooks import SIGNATURE_HEADER, verify_signature
from tests.control.conftest import Api, eventually, join


class Receiver:
    """A real HTTP endpoint that fails the first ``fail_first`` requests of each delivery."""

    def __init__(self, fail_first: int = 0, delay_s: float = 0.0) -> None:
        self.fail_first = fail_first
        self.delay_s = delay_s
        self.attempts: dict[str, int] = {}
        self.received: list[tuple[dict[str, Any], bytes, str]] = []

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        delivery = request.headers["X-Consult-Delivery"]
        self.attempts[delivery] = self.attempts.get(delivery, 0) + 1
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.attempts[delivery] <= self.fail_first:
            return web.Response(status=503)
        self.received.append((json.loads(body), body, request.headers[SIGNATURE_HEADER]))
        return web.Response(status=204)

    def events(self) -> list[str]:
        return [payload["event"] for payload, _, _ in self.received]


async def _serve(receiver: Receiver) -> TestServer:
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server


async def test_events_are_signed_and_retried(api: Api) -> None:
    receiver = Receiver(fail_first=2)
    server = await _serve(receiver)
    try:
        config = await api.ok("PUT", "/v1/webhooks", {"urls": [str(server.make_url("/hook"))]})
        secret = config["signing_secret"]
        assert secret.startswith("whsec_") and "consultation_ended" in config["events"]
        assert (await api.ok("PUT", "/v1/webhooks", {"urls": [str(server.make_url("/hook"))]}))["signing_secret"] == secret
        room = await api.room()
        api.clock.advance(1800)
        _, _, pid = await join(api, room["id"], "client-1")
        await api.ok("POST", f"/v1/rooms/{room['id']}/waiting/{pid}/admit")
        api.clock.advance(300)
        await api.ok("POST", f"/v1/rooms/{room['id']}/end")
        await eventually(lambda: "consultation_ended" in receiver.events(), timeout=10)
        await api.plane.webhooks.drain()  # type: ignore[union-attr]
        assert receiver.events() == [
            "room_created",
            "participant_waiting",
            "participant_admitted",
            "participant_joined",
            "consultation_started",
            "consultation_ended",
        ] or sorted(receiver.events()) == sorted(
            ["room_created", "participant_waiting", "participant_admitted", "participant_joined", "consultation_started", "consultation_ended"]
        )
        for payload, body, signature in receiver.received:
            assert verify_signature(secret, body, signature)
            assert not verify_signature("whsec_wrong", body, signature)
            assert payload["org"] == "org1" and payload["room"] == room["id"]
        assert all(n == 3 for n in receiver.attempts.values())  # two failures, then delivered
        ended = next(p for p, _, _ in receiver.received if p["event"] == "consultation_ended")
        assert ended["data"]["duration_s"] == 300
        started = next(p for p, _, _ in receiver.received if p["event"] == "consultation_started")
        assert started["data"]["forced"] is False
        stats = api.plane.webhooks.stats  # type: ignore[union-attr]
        assert stats.delivered == 6 and stats.retries == 12 and stats.failed == 0
    finally:
        await server.close()


async def test_forced_start_and_camera_problem_events(api: Api) -> None:
    receiver = Receiver()
    server = await _serve(receiver)
    try:
        await api.ok("PUT", "/v1/webhooks", {"urls": [str(server.make_url("/hook"))]})
        room = await api.room()
        api.clock.advance(1800)
        _, _, doctor = await join(api, room["id"], "dr-a", role="practitioner")
        await api.ok("POST", f"/v1/rooms/{room['id']}/start")
        await api.plane.lobby.on_camera_problem(room["id"], doctor, "prod-1", False, api.clock.now)
        await api.plane.lobby.on_leave(room["id"], doctor, api.clock.now)
        # deliveries run concurrently (docs/api.md): wait for each event, not for the last one said
        expected = {"consultation_started", "camera_problem", "participant_left"}
        await eventually(lambda: expected <= set(receiver.events()), timeout=10)
        started = next(p for p, _, _ in receiver.received if p["event"] == "consultation_started")
        assert started["data"]["forced"] is True
        camera = next(p for p, _, _ in receiver.received if p["event"] == "camera_problem")
        assert camera["data"] == {"participant_id": doctor, "identity": "dr-a", "producer_id": "prod-1", "resolved": False}
    finally:
        await server.close()


async def test_a_slow_webhook_never_delays_the_api(api: Api) -> None:
    receiver = Receiver(delay_s=1.5)
    server = await _serve(receiver)
    try:
        await api.ok("PUT", "/v1/webhooks", {"urls": [str(server.make_url("/hook"))]})
        started = time.monotonic()
        for _ in range(20):
            await api.room()
        elapsed = time.monotonic() - started
        assert elapsed < 1.5, f"20 room creations took {elapsed:.2f}s behind a 1.5 s webhook"
        await eventually(lambda: len(receiver.received) == 20, timeout=20)
    finally:
        await server.close()


async def test_webhook_config_needs_an_organisation_key(api: Api) -> None:
    status, err = await api.call("PUT", "/v1/webhooks", {"urls": ["http://127.0.0.1:9/x"]}, key="dept")
    assert status == 403 and err["error"]["code"] == "forbidden"
    status, err = await api.call("PUT", "/v1/webhooks", {"urls": ["ftp://example"]})
    assert status == 422 and "'urls[0]'" in err["error"]["message"]
    other = await api.ok("GET", "/v1/webhooks", key="other_org")
    assert other["urls"] == [] and other["signing_secret"] is None
