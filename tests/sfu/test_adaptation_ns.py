"""Each subscriber gets the best picture its own link carries (issue 15), the constrained peer in
a network namespace this test creates (tests/reach/netns.py: a veth pair, a private /30).

Issue 15's drop-tail queue cases (a mobile link: delay grows, then loss): 300 kbit/s, 100
kbit/s, and a link oscillating between 400 and 1,500 kbit/s. The server, the publisher and an unconstrained subscriber
are in the test's process, on the veth's host address. The constrained subscriber is
tests/sfu/ns_subscriber.py in relay mode: a BrowserLikePeer and its link, the drop-tail queue
of tests/support/rate_relay.py (300 ms of buffer), in ONE process in the namespace. Its
subscribe connection crosses the veth from the relay's server side, then the relay's queue,
then the namespace's own address to the peer. One process for both: the relay's timing and
the peer's are then the peer's own, as when both ran in the test's process, and the test's
process (server, publisher, another subscriber, all decoding or encoding) adds no stalls to
the link. Only loopback and veth addresses are used.

The server-side reads (the leg's rendition, the link's estimate, what the legs sent) stay in
this process, by the participant id the subprocess reports; the subscriber's side (frames,
picture sizes, ``quality`` messages, the relay's counters) comes from its JSON state lines
(every 0.1 s, or at once when asked: :meth:`NsSubscriber.sample`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from tests.reach.netns import ROOT, Namespace, namespace
from tests.sfu.test_adaptation import (  # noqa: F401  (autouse: the publisher's VP8 <= 900 kbit/s, its Opus 32 kbit/s)
    BrowserLikePeer,
    Call,
    applied_choices,
    camera_at_900_kbps,
    link_adapter_of,
    link_of,
    publish_camera_and_voice,
    slow_video_leg_size,
    voice_bitrate_opus,
    wait_until,
)
from tests.support.child import end_child
from tests.support.peer import Received, TestPeer
from tests.support.server import RunningServer, running_server

pytestmark = pytest.mark.serial


def _no_rules(server: str, peer: str) -> str:
    return ""  # the link is the relay's queue: nothing for nftables to do


class NsSubscriber:
    """The test's handle on tests/sfu/ns_subscriber.py in relay mode, run in a namespace: its
    latest state, its rate commands, its stop."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self._proc = proc
        #: its latest state line (see tests/sfu/ns_subscriber.py)
        self.state: dict[str, Any] = {}
        self._acks: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._next_id = 0
        self._stderr = b""
        self._reader = asyncio.create_task(self._read())
        # Read as it comes: a full stderr pipe would stall the subprocess.
        self._errors = asyncio.create_task(self._read_errors())
        self._peer: BrowserLikePeer | None = None

    @classmethod
    async def start(cls, ns: Namespace, ws_url: str, token: str) -> NsSubscriber:
        proc = await asyncio.create_subprocess_exec(
            "ip", "netns", "exec", ns.name, sys.executable, "-m", "tests.sfu.ns_subscriber",
            ws_url, token, "--relay", ns.peer, ns.server,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": ROOT},
        )
        return cls(proc)

    async def _read(self) -> None:
        assert self._proc.stdout is not None
        async for line in self._proc.stdout:
            state = json.loads(line)
            self.state = state
            waiter = self._acks.pop(state.get("ack", -1), None)
            if waiter is not None and not waiter.done():
                waiter.set_result(state)

    async def _read_errors(self) -> None:
        assert self._proc.stderr is not None
        async for line in self._proc.stderr:
            self._stderr = (self._stderr + line)[-8000:]

    async def _send(self, command: dict[str, Any]) -> dict[str, Any]:
        """Sends ``command``; the state line made right after it was applied."""
        assert self._proc.stdin is not None
        self._next_id += 1
        ref = self._next_id
        waiter: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._acks[ref] = waiter
        self._proc.stdin.write((json.dumps({**command, "id": ref}) + "\n").encode())
        await self._proc.stdin.drain()
        try:
            return await asyncio.wait_for(waiter, 5)
        except TimeoutError:
            self._acks.pop(ref, None)
            raise AssertionError(f"the subscriber in the namespace did not answer {command} (exit {self._proc.returncode}, "
                                 f"stderr {self._stderr[-2000:].decode(errors='replace')})") from None

    async def set_rate(self, rate_bps: float | None) -> None:
        """The relay's downlink: a drop-tail queue at ``rate_bps`` (None: unlimited)."""
        state = await self._send({"rate": rate_bps})
        assert state["relay"]["rate"] == rate_bps, state["relay"]

    async def sample(self) -> dict[str, Any]:
        """A fresh state (the latest line may be 0.1 s old)."""
        return await self._send({})

    @property
    def participant_id(self) -> str | None:
        pid = self.state.get("participant_id")
        return None if pid is None else str(pid)

    @property
    def peer(self) -> BrowserLikePeer:
        """A never connected peer carrying the subprocess's participant id: what the server-side
        helpers of tests/sfu/test_adaptation.py look a subscriber up by (``peer.joined``)."""
        if self._peer is None:
            assert self.participant_id is not None, self.state
            self._peer = BrowserLikePeer("", "", "far (stand-in)")
            self._peer.joined = {"participant_id": self.participant_id}
        return self._peer

    @property
    def quality(self) -> list[dict[str, Any]]:
        """The ``quality`` messages it received."""
        return list(self.state.get("quality", []))

    def frames(self, kind: str, state: dict[str, Any] | None = None) -> int:
        return int((state or self.state).get(kind, {}).get("frames", 0))

    def video_size(self) -> tuple[int, int] | None:
        size = self.state.get("video", {}).get("size")
        return None if size is None else (int(size[0]), int(size[1]))

    async def close(self) -> None:
        """Closes its stdin (it leaves the room and stops), kills it after 5 s; prints its stderr."""
        await end_child(self._proc)
        for task in (self._reader, self._errors):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(task), 1)  # what the pipes still held
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._stderr.strip():
            print(f"[ns subscriber stderr, exit {self._proc.returncode}] {self._stderr[-4000:].decode(errors='replace')}")


@dataclass
class NsCall:
    server: RunningServer
    pub: TestPeer
    free: TestPeer
    far: NsSubscriber
    pid: str

    def legs(self) -> Call:
        """What slow_video_leg_size of tests/sfu/test_adaptation.py reads: ``call.slow``, the
        constrained subscriber (the link itself is in the subprocess: no relay here)."""
        return cast(Call, SimpleNamespace(slow=self.far.peer))

    def free_video(self) -> Received:
        rec = self.free.receiving_from(self.pid, "video")
        assert rec is not None
        return rec


@pytest.fixture
async def ns_call(tmp_path: Path) -> AsyncIterator[Callable[[], Awaitable[NsCall]]]:
    """A namespace, the server on its veth's host address, and a call in it (one per test)."""
    made: list[NsCall] = []
    with namespace(_no_rules) as ns:
        async with running_server(tmp_path, host=ns.server, ice__host_addresses=[ns.server]) as server:

            async def make() -> NsCall:
                room = "adapt-ns-queue"
                pub = TestPeer(server.ws_url, server.token(room, "pub"), "pub")
                free = TestPeer(server.ws_url, server.token(room, "free"), "free")
                far = await NsSubscriber.start(ns, server.ws_url, server.token(room, "far"))
                call = NsCall(server, pub, free, far, "")
                made.append(call)
                call.pid = await publish_camera_and_voice(pub)
                await free.connect()
                await free.wait_frames(call.pid, "video", 30, timeout=30)
                await free.wait_frames(call.pid, "audio", 50, timeout=30)
                await wait_until(
                    lambda: far.frames("video") >= 30 and far.frames("audio") >= 50, 30, "the far subscriber decoding",
                    lambda: far.state,
                )
                return call

            try:
                yield make
            finally:
                for call in made:
                    await call.far.close()
                    for peer in (call.pub, call.free):
                        await peer.close()


async def rates(far: NsSubscriber, seconds: float) -> dict[str, float]:
    """From fresh states taken every 0.5 s: frames
    per second the constrained subscriber decoded over ``seconds`` (over the states' own times);
    the fewest audio frames between two of them (50 frames/s sent: 25); the share of datagrams
    its link dropped."""
    first = last = await far.sample()
    fewest = 1_000.0
    for _ in range(round(seconds / 0.5)):
        await asyncio.sleep(0.5)
        state = await far.sample()
        fewest, last = min(fewest, far.frames("audio", state) - far.frames("audio", last)), state
    took = last["t"] - first["t"]
    r0, r1 = first["relay"], last["relay"]
    passed, dropped = r1["passed"] - r0["passed"], r1["dropped"] - r0["dropped"]
    return {
        "video_fps": (far.frames("video", last) - far.frames("video", first)) / took,
        "audio_fps": (far.frames("audio", last) - far.frames("audio", first)) / took,
        "audio_fewest_per_half_s": fewest,
        "link_loss": dropped / (passed + dropped) if passed + dropped else 0.0,
    }


@pytest.mark.long
async def test_a_narrow_queue_link_gets_a_smaller_picture_then_the_source_back(
    ns_call: Callable[[], Awaitable[NsCall]],
) -> None:
    # Issue 15's first case and its last one: 300 kbit/s (a drop-tail queue, 300 ms of buffer): within 5 s a server rendition <= 320x240, >= 20 fps,
    # loss <= 2 %, audio without gaps; the unconstrained subscriber keeps the source; the limit
    # lifted, the source back within 15 s. What the server sends the constrained link (measured
    # where the link begins, before its queue drops anything) stays within 1.5x its estimate.
    # (The test camera sends up to 900 kbit/s: ``camera_at_900_kbps``.)
    call = await ns_call()
    server, far = call.server, call.far
    assert slow_video_leg_size(server, call.legs()) == "source"
    link = link_adapter_of(server, far.peer)
    series: list[tuple[float, int, float | None]] = []
    # (media bytes, resent bytes) the link's legs sent (RTP, without SRTP/UDP/IP), at each sample
    budget_series: list[tuple[int, int]] = []

    async def sample_sending() -> None:
        for _ in range(1_200):  # 2 min at most: cancelled long before
            # The relay's counter is in the subprocess: its latest state line, at most 0.1 s old,
            # with the time it was counted (the same monotonic clock): a window's rate is exact;
            # the estimate is read here, now.
            relay = far.state["relay"]
            series.append((float(far.state["t"]), int(relay["bytes_offered"]), link.estimator.estimate))
            legs = [w.consumer for w in link._legs.values()]
            budget_series.append((sum(c.bytes_sent for c in legs), sum(c.retransmitted_bytes for c in legs)))
            await asyncio.sleep(0.1)

    sampler = asyncio.create_task(sample_sending())
    try:
        await far.set_rate(300_000)
        took = await wait_until(
            lambda: isinstance(size := slow_video_leg_size(server, call.legs()), tuple) and size[1] <= 240,
            timeout=5,
            what="a rendition of at most 320x240 behind 300 kbit/s",
            diag=lambda: (slow_video_leg_size(server, call.legs()), link_of(server, far.peer)),
        )
        print(f"queue 300 kbit/s: rendition {slow_video_leg_size(server, call.legs())} after {took:.1f} s")
        # The message crosses the namespace's process boundary (a state line every 0.1 s): a fresh
        # state may still be a few ms behind the server's switch.
        await wait_until(lambda: bool(far.quality) and far.quality[-1]["state"] == "reduced", 0.5, "told reduced",
                         lambda: far.quality)
        free_video = call.free_video()
        await asyncio.sleep(2.0)  # what the link's queue held when the switch was made
        frames = free_video.frames
        measured = await rates(far, 5.0)
    finally:
        sampler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampler
    print(f"queue 300 kbit/s: {measured}, holes skipped {far.state['holes_skipped']}, link {link_of(server, far.peer)}")
    assert measured["video_fps"] >= 20, measured
    assert measured["link_loss"] <= 0.02, measured
    assert measured["audio_fps"] >= 47, measured
    assert measured["audio_fewest_per_half_s"] >= 15, measured
    assert free_video.sizes[-1] == (640, 480), "the unconstrained subscriber keeps the source"
    assert (free_video.frames - frames) / 5.0 >= 20
    assert slow_video_leg_size(server, call.legs()) != "source"
    # Sent vs estimate, over windows of 2 s from the first estimate on.
    first = next(i for i, (_, _, e) in enumerate(series) if e is not None)
    # Before the first estimate, resends earn half of the media sent (sfu/packet/send_budget.py):
    # 1.5x the media at most, plus the 32 kB the bucket may hold.
    (media0, resent0), (media1, resent1) = budget_series[0], budget_series[first]
    print(f"queue 300 kbit/s, before the first estimate ({series[first][0] - series[0][0]:.1f} s): "
          f"media {media1 - media0} B, resent {resent1 - resent0} B")
    assert resent1 - resent0 <= 0.5 * (media1 - media0) + 32_000, budget_series[: first + 1]
    windows = []
    for i in range(first, len(series) - 20, 5):
        (t0, b0, _), (t1, b1, _) = series[i], series[i + 20]
        estimates = [e for _, _, e in series[i : i + 21] if e is not None]
        windows.append((round(t0 - series[0][0], 1), int((b1 - b0) * 8 / (t1 - t0)), int(sum(estimates) / len(estimates))))
    print(f"queue 300 kbit/s, (window start s, sent bit/s, estimate bit/s): {windows}")
    assert windows
    assert all(sent <= 1.5 * estimate for _, sent, estimate in windows), windows

    # The source back within 15 s, each step up after a padding probe (a failed one bars its
    # picture for 3-6 s; the bar left at the lift is printed).
    before = link_of(server, far.peer)
    barred = max(dict(before["probe_barred_s"]).values(), default=0.0)
    await far.set_rate(None)
    took = await wait_until(
        lambda: slow_video_leg_size(server, call.legs()) == "source",
        timeout=15,
        what="the source back once the link is free",
        diag=lambda: link_of(server, far.peer),
    )
    after = link_of(server, far.peer)
    print(
        f"limit lifted ({barred:.1f} s of a padding probe's bar left): source back after {took:.1f} s;"
        f" padding probes passed {before['probes_passed']} -> {after['probes_passed']},"
        f" failed {before['probes_failed']} -> {after['probes_failed']}"
    )
    assert after["probes_passed"] > before["probes_passed"], "the way back up was probed with padding"
    await wait_until(lambda: far.quality[-1]["state"] == "good", timeout=2, what="quality good")
    await wait_until(lambda: far.video_size() == (640, 480), timeout=10, what="source-size frames decoded")


@pytest.mark.long
async def test_a_very_narrow_link_pauses_video_keeps_audio_and_resumes(ns_call: Callable[[], Awaitable[NsCall]]) -> None:
    call = await ns_call()
    server, far = call.server, call.far
    await far.set_rate(100_000)
    await wait_until(
        lambda: bool(far.quality) and far.quality[-1]["state"] == "paused",
        timeout=15,
        what="video paused at 100 kbit/s",
        diag=lambda: (far.quality, link_of(server, far.peer)),
    )
    assert slow_video_leg_size(server, call.legs()) is None
    assert far.quality[-1]["paused"] == far.state["video_producers"]
    await asyncio.sleep(1.0)  # what the queue still held
    measured = await rates(far, 4.0)
    print(f"queue 100 kbit/s: {measured}, link {link_of(server, far.peer)}")
    assert measured["video_fps"] == 0, measured
    assert measured["audio_fps"] >= 45, measured
    metrics = await server.metrics()
    assert metrics["consult_sfu_legs_paused_for_bandwidth"] == 1
    assert metrics["consult_sfu_adaptation_switches_down_total"] >= 1
    assert metrics["consult_sfu_links_estimated"] >= 1

    await far.set_rate(None)
    took = await wait_until(
        lambda: far.quality[-1]["state"] != "paused",
        timeout=30,  # measured 8-12 s
        what="video resumed",
        diag=lambda: link_of(server, far.peer),
    )
    print(f"limit lifted: video resumed after {took:.1f} s")
    # The server feeds the leg again. (Whether this aiortc receiver decodes it soon depends on
    # its recovery from the loss before the pause: it NACKs a packet once and may wait for its
    # jitter buffer to overflow; a browser asks for a keyframe.)
    assert slow_video_leg_size(server, call.legs()) is not None

    def video_sent() -> int:
        return next(int(leg["packets_sent"]) for leg in link_of(server, far.peer)["legs"] if leg["kind"] == "video")

    sent = video_sent()
    await wait_until(lambda: video_sent() > sent + 30, timeout=5, what="video sent again")


@pytest.mark.long
async def test_an_oscillating_link_switches_at_most_once_per_two_seconds(ns_call: Callable[[], Awaitable[NsCall]]) -> None:
    # 400 and 1,500 kbit/s alternating every 3 s for 18 s: three narrow phases (a drop-tail queue,
    # 300 ms of buffer).
    call = await ns_call()
    server, far = call.server, call.far
    changes: list[tuple[float, Any]] = []
    last = applied_choices(server, far.peer)
    start = time.monotonic()
    rate: int | None = None
    while time.monotonic() - start < 18:
        phase = int((time.monotonic() - start) / 3)
        if rate != (wanted := 400_000 if phase % 2 == 0 else 1_500_000):
            await far.set_rate(wanted)  # a command to the subprocess only when the phase changes
            rate = wanted
        await asyncio.sleep(0.05)
        now_choices = applied_choices(server, far.peer)
        if now_choices != last:
            changes.append((time.monotonic() - start, now_choices))
            last = now_choices
    print(f"oscillating link: {len(changes)} switches at {[round(t, 1) for t, _ in changes]}")
    assert changes, "the 400 kbit/s phases bring the picture down"
    gaps = [b - a for (a, _), (b, _) in itertools.pairwise(changes)]
    assert all(gap >= 2.0 - 0.1 for gap in gaps), gaps  # 0.1: the sampling above
