"""Each subscriber gets the best picture its own link carries (issue 15): the asyncio shell.

One :class:`LinkAdapter` per participant, for its subscribe connection (all its legs share one
bundled transport, so one link). It watches the RTCP every leg receives (REMB, receiver
reports: ``SenderHandle.set_rtcp_observer``) and what each leg sends, and every
``ADAPT_INTERVAL_S`` (from the room's ticker):

1. feeds the sans-I/O :class:`~sfu.packet.link_estimate.LinkEstimator` and reads its estimate;
2. builds each video leg's options (:func:`~sfu.packet.rendition_chooser.video_options`: the
   source at its measured rate, the ladder steps below the subscriber's own cap at their
   encoding bitrate) and lets the sans-I/O
   :class:`~sfu.packet.rendition_chooser.RenditionChooser` pick one per leg, with hysteresis;
3. hands each choice to the leg's producer as a *limit* (``SourceSelector.set_limit``): the
   same path an explicit cap takes, so the producer's ``RenditionDemand`` stays the one place
   that decides the source and the rendition pipeline encodes what it is told;
4. reports the subscriber's quality (``good`` / ``reduced`` / ``paused``) when it changes;
5. hands the estimate to the link's :class:`~sfu.packet.send_budget.SendBudget`, which every
   leg's NACK answers pass (``Consumer.retransmission_gate``): resends only from what the
   media leaves of the estimate;
6. runs the padding probe the chooser asks for before an up-switch
   (:class:`~sfu.packet.padding_probe.PaddingProbe`): the padding itself is sent on every room
   tick (50 ms, so it is spread like media, not sent in bursts), its verdict is read from the
   estimator and handed back to the chooser.

Audio is never limited: what the audio legs send is taken off the budget first.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from aiortc.rtp import (
    RTCP_PSFB_APP,
    AnyRtcpPacket,
    RtcpPsfbPacket,
    RtcpRrPacket,
    RtcpSrPacket,
    unpack_remb_fci,
)

from sfu.aiortc_hooks import ReceiverTap
from sfu.config import RenditionConfig
from sfu.consumer import Consumer
from sfu.events import LinkState
from sfu.ids import ConsumerId, ProducerId
from sfu.packet.link_estimate import LinkEstimator
from sfu.packet.padding_probe import PaddingProbe
from sfu.packet.rendition_chooser import (
    HEADROOM,
    Choice,
    RenditionChooser,
    VideoLeg,
    rendition_bitrate,
    video_options,
)
from sfu.packet.renditions import PAUSED, Cap
from sfu.packet.send_budget import SendBudget
from sfu.packet.uplink_watch import UplinkWatch
from sfu.producer import Producer
from sfu.stats import SfuCounters

logger = logging.getLogger(__name__)

ADAPT_INTERVAL_S = 0.25
#: After a switch, one more keyframe request this much later (see ``_keyframe_again``).
KEYFRAME_AGAIN_S = 1.0
#: Smoothing of measured rates (per adaptation step).
RATE_EWMA = 0.3
#: The estimate is dropped (no limit) once it exceeds what the subscriber would receive with
#: no limit by this factor: the link is no longer the constraint.
CEILING_MARGIN = 1.5
#: What a packet costs the link beyond its RTP bytes, for the send budget: SRTP's 10-byte
#: authentication tag, IPv4 and UDP headers.
PACKET_OVERHEAD = 10 + 28


@dataclass(frozen=True)
class LinkQuality:
    """A subscriber's link quality, as the client is told (``quality`` event)."""

    #: "good" (every video at its best), "reduced" (some at a lower resolution), "paused"
    #: (some video paused to keep audio)
    state: LinkState
    estimate_bps: int | None
    reduced: tuple[ProducerId, ...]
    paused: tuple[ProducerId, ...]


class _Watched:
    __slots__ = ("applied", "cap", "consumer", "keyframe_again_at", "last_bytes", "producer", "rate")

    def __init__(self, consumer: Consumer, producer: Producer) -> None:
        self.consumer = consumer
        self.producer = producer
        self.last_bytes = consumer.bytes_sent
        self.rate: float | None = None
        #: the choice last handed to the producer (None: no limit)
        self.applied: Choice = None
        #: when to ask the leg's source for one more keyframe after a switch (None: no need)
        self.keyframe_again_at: float | None = None
        #: the subscriber's own cap last seen (None: not seen yet)
        self.cap: Cap | None = None

    def sent_since_last(self) -> int:
        """Media bytes sent on the leg since the previous call. Retransmissions are left out:
        receiver reports count loss over media sequence numbers, so the loss-based estimate
        ("what got through") is a share of what was sent the first time."""
        sent = max(0, self.consumer.bytes_sent - self.last_bytes)
        self.last_bytes = self.consumer.bytes_sent
        return sent


class LinkAdapter:
    """One subscriber link: estimate, choice, limits on its legs, quality reports."""

    def __init__(
        self,
        *,
        config: RenditionConfig,
        counters: SfuCounters,
        on_quality: Callable[[LinkQuality], None],
    ) -> None:
        self._config = config
        self._counters = counters
        self._on_quality = on_quality
        self.estimator = LinkEstimator()
        self.budget = SendBudget()
        self._chooser = RenditionChooser(probe_up=True)
        self._legs: dict[ConsumerId, _Watched] = {}
        #: the padding probe running (None: none)
        self.probe: PaddingProbe | None = None
        self.probes_passed = 0
        self.probes_failed = 0
        self._loss_reports = 0
        self._source_rates: dict[ProducerId, tuple[int, float | None]] = {}
        self._last_step: float | None = None
        self.quality = LinkQuality("good", None, (), ())

    # ------------------------------------------------------------ legs

    def watch(self, consumer: Consumer, producer: Producer) -> None:
        self._legs[consumer.id] = _Watched(consumer, producer)
        ssrc = consumer.handle.ssrc

        def observe(packet: AnyRtcpPacket, now: float) -> None:
            self._on_rtcp(ssrc, packet, now)

        consumer.handle.set_rtcp_observer(observe)
        consumer.retransmission_gate = self.admit_retransmissions

    def forget(self, consumer: Consumer) -> None:
        if self._legs.pop(consumer.id, None) is not None:
            consumer.handle.set_rtcp_observer(None)
            consumer.retransmission_gate = None
            self._chooser.remove(consumer.id)
            self.estimator.forget_stream(consumer.handle.ssrc)
            if self.probe is not None and self.probe.leg == consumer.id:
                self.probe = None

    def _on_rtcp(self, ssrc: int, packet: AnyRtcpPacket, now: float) -> None:
        if isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP:
            try:
                bitrate, ssrcs = unpack_remb_fci(packet.fci)
            except ValueError:
                return  # an APP feedback that is not REMB
            self.estimator.on_remb(bitrate, ssrcs, now)
        elif isinstance(packet, RtcpRrPacket | RtcpSrPacket):
            # A compound report reaches every leg it names: each leg reads its own block.
            for report in packet.reports:
                if report.ssrc == ssrc:
                    self.estimator.on_receiver_report(
                        ssrc, report.packets_lost, report.highest_sequence, now
                    )

    def admit_retransmissions(self, packets: list[bytes], now: float) -> list[bytes]:
        """The resends of one NACK that the link's send budget allows."""
        budget = self.budget
        media = self._media_wire_bytes()
        return [data for data in packets if budget.allow_retransmission(len(data) + PACKET_OVERHEAD, media, now)]

    def _media_wire_bytes(self) -> int:
        """Media sent on the link so far (the legs' own counters), with per-packet overhead."""
        return sum(w.consumer.bytes_sent + PACKET_OVERHEAD * w.consumer.packets_sent for w in self._legs.values())

    # ------------------------------------------------------------ the step

    def tick(self, now: float) -> None:
        """Every room tick: a probe's padding; the rest every ``ADAPT_INTERVAL_S``."""
        if self.probe is not None:
            self._pad(self.probe, now)
        last = self._last_step
        if last is not None and now - last < ADAPT_INTERVAL_S:
            return
        self._last_step = now
        dt = None if last is None else now - last
        sent = 0
        audio_bps = 0.0
        for watched in self._legs.values():
            delta = watched.sent_since_last()
            sent += delta
            if dt:
                watched.rate = _smooth(watched.rate, delta * 8 / dt)
            self._keyframe_again(watched, now)
            if watched.consumer.kind == "audio":
                audio_bps += watched.rate or 0.0
        self.estimator.on_sent(sent, now)
        legs = self._video_legs(dt)
        self.estimator.ceiling = (
            (sum(leg.options[0].need_bps for leg in legs) + audio_bps) / HEADROOM * CEILING_MARGIN
        )
        before = self.estimator.estimate
        self.estimator.probe_target = (
            None if before is None else self._chooser.next_step(before, audio_bps, legs)
        )
        self.estimator.update(now)
        self._judge_probe(now, audio_bps, legs)  # may cap the estimate (a failed probe)
        estimate = self.estimator.estimate
        self.budget.set_rate(estimate, self._media_wire_bytes(), now)
        if (before is None) != (estimate is None):
            logger.debug("link %s: %s", "limited" if estimate is not None else "unlimited", self.estimator.dump(now))
        # No loss report yet counts as losing: only a report may keep a starved leg playing.
        losing = self.estimator.last_loss is None or self.estimator.losing
        choices, switches = self._chooser.choose(estimate, audio_bps, legs, now, losing=losing)
        wanted = self._chooser.probe_wanted
        if wanted is not None and self.probe is None and not losing and wanted.extra_bps > 0:
            self.probe = PaddingProbe(wanted.leg, wanted.picture, wanted.extra_bps, now)
            logger.debug(
                "leg %s: probing for %s with %d bit/s of padding (estimate %s)",
                wanted.leg, wanted.picture, wanted.extra_bps, estimate and int(estimate),
            )
        for switch in switches:
            logger.debug(
                "leg %s switched %s to %s (estimate %s, audio %d bit/s, options %s)",
                switch.leg,
                switch.direction,
                switch.choice,
                estimate and int(estimate),
                audio_bps,
                [(o.picture, int(o.need_bps)) for leg in legs if leg.leg == switch.leg for o in leg.options],
            )
            if switch.direction == "up":
                self._counters.adaptation_switches_up += 1
            else:
                self._counters.adaptation_switches_down += 1
        reduced: list[ProducerId] = []
        paused: list[ProducerId] = []
        for leg in legs:
            watched = self._legs[leg.leg]  # type: ignore[index]
            choice = choices[leg.leg]
            if choice != watched.applied:
                watched.applied = choice
                limit = choice if isinstance(choice, tuple) else None
                watched.producer.sources.set_limit(watched.consumer, limit, choice == PAUSED, now)
                watched.keyframe_again_at = None if choice == PAUSED else now + KEYFRAME_AGAIN_S
            if choice == PAUSED:
                paused.append(watched.producer.id)
            elif choice != leg.options[0].picture:
                reduced.append(watched.producer.id)
        self._report(estimate, tuple(reduced), tuple(paused))

    def _pad(self, probe: PaddingProbe, now: float) -> None:
        due = probe.due(now)
        watched = self._legs.get(probe.leg)  # type: ignore[call-overload]
        if due <= 0 or watched is None:
            return
        sent = watched.consumer.send_padding(due)
        probe.sent(sent)
        self.estimator.on_padding(sent, now)

    def _judge_probe(self, now: float, audio_bps: float, legs: list[VideoLeg]) -> None:
        """Feed the running probe what the estimator took in; on a verdict, tell the chooser."""
        estimator = self.estimator
        reports, self._loss_reports = self._loss_reports, estimator.loss_reports
        probe = self.probe
        if probe is None:
            return
        probe.observe(
            now,
            loss=estimator.last_loss if estimator.loss_reports != reports else None,
            remb_fell_at=estimator.remb_fell_at,
            decreased_at=estimator.decreased_at,
        )
        verdict = probe.verdict(now)
        if verdict is None:
            return
        self.probe = None
        passed = verdict == "passed"
        self._chooser.probe_result(probe.leg, probe.picture, passed, now)
        if passed:
            self.probes_passed += 1
            self._counters.padding_probes_passed += 1
            estimator.on_probe_passed(now)
        else:
            self.probes_failed += 1
            self._counters.padding_probes_failed += 1
            # capped at what the link was offered, held at what its pictures need for a moment
            estimator.on_probe_failed(self._chooser.estimate_for_current(audio_bps, legs), now)
        logger.debug(
            "leg %s: probe for %s %s%s (%d bytes of padding)",
            probe.leg, probe.picture, verdict,
            "" if passed else f" ({probe.failed_because})", probe.sent_bytes,
        )

    @staticmethod
    def _keyframe_again(watched: _Watched, now: float) -> None:
        # A switch made because the link is congested asks the new source for a keyframe, and
        # that keyframe may be lost behind what the link's queue still holds; a receiver that
        # misses it decodes nothing until the next (aiortc's never asks). One more request once
        # the queue has drained costs one keyframe of a small picture.
        due = watched.keyframe_again_at
        if due is not None and now >= due:
            watched.keyframe_again_at = None
            source = watched.consumer.current
            if source is not None and watched.consumer.pending is None:
                source.request_keyframe(now)

    def _video_legs(self, dt: float | None) -> list[VideoLeg]:
        legs: list[VideoLeg] = []
        seen: set[ProducerId] = set()
        for leg_id, watched in self._legs.items():
            producer = watched.producer
            if watched.consumer.kind != "video" or producer.closed:
                continue
            explicit = producer.sources.explicit(watched.consumer)
            if explicit is None or explicit[1]:
                continue  # not attached, or paused by the subscriber: needs nothing
            if watched.cap != explicit[0]:
                if watched.cap is not None:
                    # The subscriber changed its own cap (a bigger tile): an explicit choice,
                    # not a fluctuation of the link. The chooser starts over from what the
                    # estimate allows now instead of holding the old picture for an up-switch's
                    # 5-10 s (a link that cannot carry more is still brought down as usual).
                    self._chooser.remove(leg_id)
                watched.cap = explicit[0]
            if producer.id not in seen:
                seen.add(producer.id)
                self._measure_source(producer, dt)
            options = video_options(
                producer.sources.source_size,
                explicit[0],
                transform=producer.transform is not None,
                source_bps=self._source_rates[producer.id][1],
                per_720p=self._config.bitrate_per_720p,
                min_bps=self._config.min_bitrate,
            )
            legs.append(VideoLeg(leg_id, options, priority=0 if producer.source == "screen" else 1))
        for gone in self._source_rates.keys() - seen:
            del self._source_rates[gone]
        return legs

    def _measure_source(self, producer: Producer, dt: float | None) -> None:
        last_bytes, rate = self._source_rates.get(producer.id, (producer.bytes, None))
        if dt:
            rate = _smooth(rate, max(0, producer.bytes - last_bytes) * 8 / dt)
        self._source_rates[producer.id] = (producer.bytes, rate)

    def _report(
        self,
        estimate: float | None,
        reduced: tuple[ProducerId, ...],
        paused: tuple[ProducerId, ...],
    ) -> None:
        state: LinkState = "paused" if paused else "reduced" if reduced else "good"
        old = self.quality
        rounded = None if estimate is None else int(estimate)
        if (state, reduced, paused) != (old.state, old.reduced, old.paused):
            self.quality = LinkQuality(state, rounded, reduced, paused)
            self._on_quality(self.quality)
        else:
            self.quality = LinkQuality(state, rounded, reduced, paused)

    def paused_legs(self) -> int:
        return sum(1 for w in self._legs.values() if w.applied == PAUSED)

    def dump(self, now: float) -> dict[str, object]:
        return {
            **self.estimator.dump(now),
            "quality": self.quality.state,
            "resends_over_budget": self.budget.dropped,
            "probes_passed": self.probes_passed,
            "probes_failed": self.probes_failed,
            "probe": None
            if self.probe is None
            else {"leg": str(self.probe.leg), "picture": self.probe.picture, "padding_bps": int(self.probe.rate_bps)},
            "resent_bytes": self.budget.resent_bytes,
            "legs": {
                str(k): w.applied for k, w in self._legs.items() if w.consumer.kind == "video"
            },
            # per video leg, seconds until its last failed probe's picture may be tried again
            "probe_barred_s": {
                str(k): round(self._chooser.barred_for(k, now), 1)
                for k, w in self._legs.items()
                if w.consumer.kind == "video"
            },
        }


class UplinkMonitor:
    """One publisher's uplink: per video producer, whether the REMB we send it stays well below
    what its picture needs (sans-I/O :class:`~sfu.packet.uplink_watch.UplinkWatch`)."""

    def __init__(
        self, *, config: RenditionConfig, on_change: Callable[[Literal["good", "limited"], int | None, tuple[ProducerId, ...]], None]
    ) -> None:
        self._config = config
        self._on_change = on_change
        self._watched: dict[ProducerId, tuple[Producer, ReceiverTap, UplinkWatch]] = {}
        self.state: Literal["good", "limited"] = "good"

    def watch(self, producer: Producer, tap: ReceiverTap) -> None:
        if producer.kind == "video":
            self._watched[producer.id] = (producer, tap, UplinkWatch())

    def forget(self, producer_id: ProducerId) -> None:
        self._watched.pop(producer_id, None)

    def tick(self, now: float) -> None:
        changed = False
        for producer, tap, watch in self._watched.values():
            need = None
            if producer.width and producer.height and not producer.muted:
                need = rendition_bitrate((producer.width, producer.height), self._config.bitrate_per_720p, 1)
            changed |= watch.update(tap.remb_bps, need, now) is not None
        if not changed:
            return
        limited = tuple(pid for pid, (_, _, watch) in self._watched.items() if watch.state == "limited")
        state: Literal["good", "limited"] = "limited" if limited else "good"
        if state != self.state or limited:
            self.state = state
            rembs = [tap.remb_bps for _, tap, _ in self._watched.values() if tap.remb_bps is not None]
            self._on_change(state, min(rembs) if rembs else None, limited)


def _smooth(previous: float | None, sample: float) -> float:
    return sample if previous is None else previous + RATE_EWMA * (sample - previous)
