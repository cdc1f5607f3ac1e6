"""A participant that re-joins as the JS client does: same token, at once, then with backoff.

When its socket closes without a ``bye`` (1012 from an entrance or a draining owner, or a
dead node), it connects again — to the next URL of its list when one refuses (a node that
is gone), as a load balancer in front of the nodes would — joins with the same token and
publishes a fresh camera. A ``bye`` ends it, as it ends the JS client.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from tests.support.media import PatternVideoTrack, ToneAudioTrack
from tests.support.peer import TestPeer

BACKOFF_S = (0.0, 0.2, 0.4, 0.8, 1.0)


class RejoiningPeer:
    def __init__(self, urls: list[str], token: str, name: str, *, publish: bool = True) -> None:
        self.publish = publish
        self.urls = urls
        self.token = token
        self.name = name
        self.peer: TestPeer | None = None
        self.url_index = 0
        self.closes: list[tuple[float, int | None]] = []  # (loop time, close code)
        self.joins: list[dict[str, Any]] = []
        self.bye: dict[str, Any] | None = None
        self._watch: asyncio.Task[None] | None = None
        self._stopped = False
        #: replies to join that count as in (a waiting visitor: ``waiting`` too)
        self.accepted: tuple[str, ...] = ("joined",)
        #: wait this long before re-joining (tests make participants come back in a set order)
        self.rejoin_delay_s = 0.0

    async def start(self) -> dict[str, Any]:
        joined = await self._join()
        self._watch = asyncio.create_task(self._watch_loop())
        return joined

    async def _join(self) -> dict[str, Any]:
        attempt = 0
        while True:
            peer = TestPeer(self.urls[self.url_index], self.token, self.name)
            try:
                reply = await peer.connect()
            except (TimeoutError, OSError, Exception) as exc:  # refused, reset, timed out
                await peer.close()
                self.url_index = (self.url_index + 1) % len(self.urls)
                last: Any = exc
            else:
                if reply["type"] in self.accepted:
                    self.peer = peer
                    self.joins.append(reply)
                    if self.publish:
                        await peer.publish([(PatternVideoTrack(320, 240, 15), "camera"), (ToneAudioTrack(), "microphone")])
                    return reply
                await peer.close()
                last = reply
            if attempt >= 40:
                raise AssertionError(f"{self.name} could not join again: {last}")
            await asyncio.sleep(BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)])
            attempt += 1

    async def _watch_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._stopped:
            peer = self.peer
            assert peer is not None and peer._ws is not None
            while True:  # TestPeer has no close event: poll its socket
                if peer._ws.closed:
                    break
                await asyncio.sleep(0.02)
            if self._stopped:
                return
            self.closes.append((loop.time(), peer._ws.close_code))
            bye = next((m for m in peer.messages if m["type"] == "bye"), None)
            await peer.close()
            if bye is not None:
                self.bye = bye
                return
            await asyncio.sleep(self.rejoin_delay_s)
            await self._join()

    def media_from(self, identity: str) -> int:
        """Video frames received from ``identity`` on the current connection."""
        peer = self.peer
        if peer is None or not self.joins:
            return 0
        ids = {p["participant_id"] for p in self.joins[-1]["participants"] if p["identity"] == identity}
        ids |= {m["participant"]["participant_id"] for m in peer.messages if m["type"] == "participant_joined" and m["participant"]["identity"] == identity}
        return sum(r.frames for r in peer.received.values() if r.participant_id in ids and r.kind == "video")

    async def wait_media_from(self, identity: str, frames: int = 3, timeout: float = 30.0, after_joins: int = 0) -> float:
        """Loop time when ``frames`` video frames from ``identity`` have arrived on the current
        connection, once there have been more than ``after_joins`` joins."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            if len(self.joins) > after_joins and self.media_from(identity) >= frames:
                return loop.time()
            await asyncio.sleep(0.02)
        raise AssertionError(f"{self.name}: no video from {identity} within {timeout} s (closes {self.closes})")

    async def close(self) -> None:
        self._stopped = True
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._watch
        if self.peer is not None:
            await self.peer.close()
