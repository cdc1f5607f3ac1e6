"""Receive-side bandwidth estimate (REMB), sans-I/O: a lean port of aiortc's estimator.

``ReceiveBandwidthEstimator.add`` is fed every received video packet carrying the
abs-send-time extension and now and then answers the bitrate to advertise in a REMB
(with the SSRCs it covers). It is a port of ``aiortc.rate.RemoteBitrateEstimator``
(itself adapted from libwebrtc's RemoteBitrateEstimatorSingleStream): the same
inter-arrival grouping (abs-send-time << 8, 5 ms groups, the burst rule, out-of-order
packets ignored, 32-bit wrap), Kalman overuse estimator, overuse detector with adaptive
threshold and AIMD rate control (500 ms feedback interval, throughput taken as the start
after 3 s, increase/decrease/hold, near-max additive increase, clamp), and the same
incoming-bitrate bookkeeping (``RateWindow``, equivalent to aiortc's ``RateCounter``).
Floating-point expressions are evaluated in aiortc's order, so the answers are identical,
not merely close: tests/sfu/packet/test_receive_bandwidth.py feeds both classes random and
crafted packet sequences (bursts, reordering, wraps, gaps, sustained overuse, underuse,
recovery) and compares every return value exactly.

Why: in the running server aiortc's estimator cost about 13 us per received packet, the
largest single piece of the receive path (objects per packet and per group, a 60-entry
list scanned and popped from the front, enums, a rate division per packet). Here a packet
of an open group costs a handful of int attribute updates; the estimator, the detector and
the rate control only run when a group closes (about 30 times a second) or an update is
due (every 500 ms), and the 60-entry minimum is rescanned only when its smallest entry
leaves. benchmarks/packet_path.py times both on a 30 fps, ~100 packets/s stream (warm
caches, one CPU of the dev machine): about 3.2 us per packet for aiortc's (RateWindow
inside), 1.0 us for this one; most of what is left is the Kalman update once per frame and
the incoming-rate window.
"""

from __future__ import annotations

import math
from collections import deque

from .rate_window import RateWindow

# Bandwidth usage (aiortc's BandwidthUsage)
NORMAL = 0
UNDERUSING = 1
OVERUSING = 2

# Rate control state (aiortc's RateControlState)
HOLD = 0
INCREASE = 1
DECREASE = 2

_UINT32 = 0xFFFFFFFF
_HALF = 0x80000000
_BURST_DELTA_THRESHOLD_MS = 5
_INTER_ARRIVAL_SHIFT = 26
_TIMESTAMP_GROUP_LENGTH_MS = 5
_GROUP_LENGTH = (_TIMESTAMP_GROUP_LENGTH_MS << _INTER_ARRIVAL_SHIFT) // 1000
_TIMESTAMP_TO_MS = 1000.0 / (1 << _INTER_ARRIVAL_SHIFT)
_FEEDBACK_INTERVAL_MS = 500
_INITIAL_THROUGHPUT_WAIT_MS = 3000

# Overuse detector
_MAX_ADAPT_OFFSET_MS = 15
_MIN_NUM_DELTAS = 60
_K_UP = 0.0087
_K_DOWN = 0.039
_OVERUSE_TIME_THRESHOLD = 10

# Overuse estimator (Kalman filter)
_DELTA_COUNTER_MAX = 1000
_MIN_FRAME_PERIOD_HISTORY_LENGTH = 60
_PROCESS_NOISE_SLOPE = 1e-13
_PROCESS_NOISE_OFFSET = 1e-3
_PROCESS_NOISE_OFFSET_BOOST = 10 * _PROCESS_NOISE_OFFSET  # the value aiortc computes

# AIMD rate control
_INITIAL_BITRATE = 30000000
_RTT_MS = 200
_MAX_ALPHA = 0.05


class ReceiveBandwidthEstimator:
    """aiortc's ``RemoteBitrateEstimator``: same calls, same answers; times in ms."""

    __slots__ = (
        "_avg_max_bitrate_kbps",
        "_avg_noise",
        "_cur_arrival",
        "_cur_first",
        "_cur_last",
        "_cur_size",
        "_current_bitrate",
        "_current_bitrate_initialized",
        "_detector_previous_offset",
        "_e00",
        "_e01",
        "_e10",
        "_e11",
        "_estimator_previous_offset",
        "_first_throughput_ms",
        "_groups",
        "_hypothesis",
        "_incoming",
        "_incoming_initialized",
        "_last_change_ms",
        "_last_update_ms",
        "_latest_throughput",
        "_near_max",
        "_num_of_deltas",
        "_offset",
        "_overuse_counter",
        "_overuse_time",
        "_prev_arrival",
        "_prev_last",
        "_prev_size",
        "_rate_state",
        "_slope",
        "_ssrcs",
        "_threshold",
        "_threshold_updated_ms",
        "_ts_delta_history",
        "_ts_delta_min",
        "_var_max_bitrate_kbps",
        "_var_noise",
    )

    def __init__(self) -> None:
        self._ssrcs: dict[int, int] = {}  # insertion order is the REMB's SSRC order
        self._incoming = RateWindow(1000, 8000)
        self._incoming_initialized = True
        self._last_update_ms: int | None = None

        # Inter-arrival: timestamp groups (0, 1 or 2 of them seen so far)
        self._groups = 0
        self._cur_first = 0
        self._cur_last = 0
        self._cur_size = 0
        self._cur_arrival = 0
        self._prev_last = 0
        self._prev_size = 0
        self._prev_arrival = 0

        # Overuse estimator: covariance E, state (slope, offset), noise
        self._e00 = 100.0
        self._e01 = 0.0
        self._e10 = 0.0
        self._e11 = 0.1
        self._num_of_deltas = 0
        self._offset = 0.0
        self._estimator_previous_offset = 0.0
        self._slope = 1 / 64
        self._ts_delta_history: deque[float] = deque(maxlen=_MIN_FRAME_PERIOD_HISTORY_LENGTH)
        self._ts_delta_min = math.inf  # min of the history, rescanned only when it leaves
        self._avg_noise = 0.0
        self._var_noise = 50.0

        # Overuse detector
        self._hypothesis = NORMAL
        self._threshold_updated_ms: int | None = None
        self._overuse_counter = 0
        self._overuse_time: float | None = None
        self._detector_previous_offset = 0.0
        self._threshold: float = 12.5

        # AIMD rate control
        self._avg_max_bitrate_kbps: float | None = None
        self._var_max_bitrate_kbps = 0.4
        self._current_bitrate = _INITIAL_BITRATE
        self._current_bitrate_initialized = False
        self._first_throughput_ms: int | None = None
        self._last_change_ms: int | None = None
        self._near_max = False
        self._latest_throughput = _INITIAL_BITRATE
        self._rate_state = HOLD

    @property
    def hypothesis(self) -> int:
        """The detector's current bandwidth usage: NORMAL, UNDERUSING or OVERUSING."""
        return self._hypothesis

    def add(
        self, arrival_time_ms: int, abs_send_time: int, payload_size: int, ssrc: int
    ) -> tuple[int, list[int]] | None:
        """Account one packet; the REMB (bitrate, SSRCs) when one is due, else None."""
        timestamp = abs_send_time << 8
        self._ssrcs[ssrc] = arrival_time_ms

        incoming = self._incoming
        if incoming.active(arrival_time_ms):
            self._incoming_initialized = True
        elif self._incoming_initialized:
            incoming.reset()
            self._incoming_initialized = False
        incoming.add(payload_size, arrival_time_ms)

        # Inter-arrival grouping (aiortc's InterArrival.compute_deltas)
        if timestamp == self._cur_last and self._groups:
            # Same send time as the group's latest: a burst, never out of order.
            self._cur_size += payload_size
            self._cur_arrival = arrival_time_ms
        elif not self._groups:
            self._groups = 1
            self._cur_first = self._cur_last = timestamp
            self._cur_size = payload_size
            self._cur_arrival = arrival_time_ms
        elif ((timestamp - self._cur_first) & _UINT32) < _HALF:  # else out of order: ignored
            self._group_packet(timestamp, arrival_time_ms, payload_size)

        last_update_ms = self._last_update_ms
        if (
            last_update_ms is None
            or (arrival_time_ms - last_update_ms) > _FEEDBACK_INTERVAL_MS
            or self._hypothesis == OVERUSING
        ):
            target_bitrate = self._rate_control_update(
                self._hypothesis, incoming.rate(arrival_time_ms), arrival_time_ms
            )
            if target_bitrate is not None:
                self._last_update_ms = arrival_time_ms
                return target_bitrate, list(self._ssrcs)
        return None

    def _group_packet(self, timestamp: int, arrival_time_ms: int, payload_size: int) -> None:
        """A packet that is not out of order: joins the current group or starts the next."""
        last = self._cur_last
        timestamp_delta_ms = round(_TIMESTAMP_TO_MS * ((timestamp - last) & _UINT32))
        arrival_time_delta = arrival_time_ms - self._cur_arrival
        belongs_to_burst = timestamp_delta_ms == 0 or (
            (arrival_time_delta - timestamp_delta_ms) < 0
            and arrival_time_delta <= _BURST_DELTA_THRESHOLD_MS
        )
        if belongs_to_burst or ((timestamp - self._cur_first) & _UINT32) <= _GROUP_LENGTH:
            if (last < timestamp and timestamp - last < _HALF) or (
                last > timestamp and last - timestamp > _HALF
            ):
                self._cur_last = timestamp
            self._cur_size += payload_size
            self._cur_arrival = arrival_time_ms
            return

        # A new group: the one it closes and the one before give the deltas.
        if self._groups == 2:
            group_delta_ms = ((last - self._prev_last) & _UINT32) * _TIMESTAMP_TO_MS
            self._estimator_update(
                self._cur_arrival - self._prev_arrival,
                group_delta_ms,
                self._cur_size - self._prev_size,
            )
            self._detect(group_delta_ms, arrival_time_ms)
        else:
            self._groups = 2
        self._prev_last = last
        self._prev_size = self._cur_size
        self._prev_arrival = self._cur_arrival
        self._cur_first = self._cur_last = timestamp
        self._cur_size = payload_size
        self._cur_arrival = arrival_time_ms

    def _estimator_update(
        self, time_delta_ms: int, timestamp_delta_ms: float, size_delta: int
    ) -> None:
        """aiortc's OveruseEstimator.update, h = [size_delta, 1.0] written out (x * 1.0 is
        exactly x in IEEE arithmetic, so those products are left out)."""
        # The smallest of the last 60 timestamp deltas, this one included (aiortc pops the
        # oldest of 60 first); rescanned only when the smallest leaves.
        history = self._ts_delta_history
        dropped = history[0] if len(history) == _MIN_FRAME_PERIOD_HISTORY_LENGTH else math.inf
        history.append(timestamp_delta_ms)
        if timestamp_delta_ms <= self._ts_delta_min:
            self._ts_delta_min = timestamp_delta_ms
        elif dropped == self._ts_delta_min:
            self._ts_delta_min = min(history)
        min_frame_period = self._ts_delta_min
        t_ts_delta = time_delta_ms - timestamp_delta_ms
        fs_delta = size_delta
        hypothesis = self._hypothesis

        self._num_of_deltas = min(self._num_of_deltas + 1, _DELTA_COUNTER_MAX)

        e00 = self._e00 + _PROCESS_NOISE_SLOPE
        e01 = self._e01
        e10 = self._e10
        e11 = self._e11 + _PROCESS_NOISE_OFFSET
        offset = self._offset
        if (hypothesis == OVERUSING and offset < self._estimator_previous_offset) or (
            hypothesis == UNDERUSING and offset > self._estimator_previous_offset
        ):
            e11 += _PROCESS_NOISE_OFFSET_BOOST

        eh0 = e00 * fs_delta + e01
        eh1 = e10 * fs_delta + e11

        residual = t_ts_delta - self._slope * fs_delta - offset
        if hypothesis == NORMAL:
            max_residual = 3.0 * math.sqrt(self._var_noise)
            if abs(residual) >= max_residual:
                residual_used = -max_residual if residual < 0 else max_residual
            else:
                residual_used = residual
            # aiortc's update_noise_estimate
            alpha = 0.002 if self._num_of_deltas > 10 * 30 else 0.01
            beta = pow(1 - alpha, min_frame_period * 30.0 / 1000.0)
            avg_noise = self._avg_noise = beta * self._avg_noise + (1 - beta) * residual_used
            var_noise = beta * self._var_noise + (1 - beta) * (avg_noise - residual_used) ** 2
            self._var_noise = 1 if var_noise < 1 else var_noise

        denom = self._var_noise + fs_delta * eh0 + eh1
        k0 = eh0 / denom
        k1 = eh1 / denom

        ikh00 = 1.0 - k0 * fs_delta
        ikh01 = -k0
        ikh10 = -k1 * fs_delta
        ikh11 = 1.0 - k1

        self._e00 = e00 * ikh00 + e10 * ikh01
        self._e01 = e01 * ikh00 + e11 * ikh01
        self._e10 = e00 * ikh10 + e10 * ikh11
        self._e11 = e01 * ikh10 + e11 * ikh11

        self._estimator_previous_offset = offset
        self._slope += k0 * residual
        self._offset = offset + k1 * residual

    def _detect(self, timestamp_delta_ms: float, now_ms: int) -> None:
        """aiortc's OveruseDetector.detect."""
        num_of_deltas = self._num_of_deltas
        if num_of_deltas < 2:
            return
        offset = self._offset
        t = min(num_of_deltas, _MIN_NUM_DELTAS) * offset
        if t > self._threshold:
            if self._overuse_time is None:
                self._overuse_time = timestamp_delta_ms / 2
            else:
                self._overuse_time += timestamp_delta_ms
            self._overuse_counter += 1
            if (
                self._overuse_time > _OVERUSE_TIME_THRESHOLD
                and self._overuse_counter > 1
                and offset >= self._detector_previous_offset
            ):
                self._overuse_counter = 0
                self._overuse_time = 0
                self._hypothesis = OVERUSING
        elif t < -self._threshold:
            self._overuse_counter = 0
            self._overuse_time = None
            self._hypothesis = UNDERUSING
        else:
            self._overuse_counter = 0
            self._overuse_time = None
            self._hypothesis = NORMAL
        self._detector_previous_offset = offset
        self._update_threshold(t, now_ms)

    def _update_threshold(self, modified_offset: float, now_ms: int) -> None:
        if self._threshold_updated_ms is None:
            self._threshold_updated_ms = now_ms
        if abs(modified_offset) > self._threshold + _MAX_ADAPT_OFFSET_MS:
            self._threshold_updated_ms = now_ms
            return
        k = _K_DOWN if abs(modified_offset) < self._threshold else _K_UP
        time_delta_ms = min(now_ms - self._threshold_updated_ms, 100)
        self._threshold += k * (abs(modified_offset) - self._threshold) * time_delta_ms
        self._threshold = max(6, min(self._threshold, 600))
        self._threshold_updated_ms = now_ms

    def _rate_control_update(
        self, bandwidth_usage: int, estimated_throughput: int | None, now_ms: int
    ) -> int | None:
        """aiortc's AimdRateControl.update."""
        if not self._current_bitrate_initialized and estimated_throughput is not None:
            if self._first_throughput_ms is None:
                self._first_throughput_ms = now_ms
            elif now_ms - self._first_throughput_ms > _INITIAL_THROUGHPUT_WAIT_MS:
                self._current_bitrate = estimated_throughput
                self._current_bitrate_initialized = True

        if not self._current_bitrate_initialized and bandwidth_usage != OVERUSING:
            return None

        if bandwidth_usage == NORMAL and self._rate_state == HOLD:
            self._last_change_ms = now_ms
            self._rate_state = INCREASE
        elif bandwidth_usage == OVERUSING:
            self._rate_state = DECREASE
        elif bandwidth_usage == UNDERUSING:
            self._rate_state = HOLD

        new_bitrate = self._current_bitrate
        if estimated_throughput is not None:
            self._latest_throughput = estimated_throughput
        else:
            estimated_throughput = self._latest_throughput
        estimated_throughput_kbps = estimated_throughput / 1000

        if self._rate_state == INCREASE:
            # A throughput well above the estimated maximum: forget that maximum.
            if self._avg_max_bitrate_kbps is not None:
                sigma_kbps = math.sqrt(self._var_max_bitrate_kbps * self._avg_max_bitrate_kbps)
                if estimated_throughput_kbps >= self._avg_max_bitrate_kbps + 3 * sigma_kbps:
                    self._near_max = False
                    self._avg_max_bitrate_kbps = None
            if self._near_max:
                new_bitrate += self._additive_rate_increase(now_ms)
            else:
                new_bitrate += self._multiplicative_rate_increase(new_bitrate, now_ms)
            self._last_change_ms = now_ms
        elif self._rate_state == DECREASE:
            # A throughput well below the estimated maximum: forget that maximum.
            if self._avg_max_bitrate_kbps is not None:
                sigma_kbps = math.sqrt(self._var_max_bitrate_kbps * self._avg_max_bitrate_kbps)
                if estimated_throughput_kbps < self._avg_max_bitrate_kbps - 3 * sigma_kbps:
                    self._avg_max_bitrate_kbps = None
            self._update_max_throughput_estimate(estimated_throughput_kbps)
            self._near_max = True
            new_bitrate = round(0.85 * estimated_throughput)
            self._last_change_ms = now_ms
            self._rate_state = HOLD

        max_bitrate = max(int(1.5 * estimated_throughput) + 10000, self._current_bitrate)
        self._current_bitrate = min(new_bitrate, max_bitrate)
        return self._current_bitrate

    def _additive_rate_increase(self, now_ms: int) -> int:
        # _last_change_ms is set on entering INCREASE, the only state that gets here
        last_ms = self._last_change_ms if self._last_change_ms is not None else now_ms
        bits_per_frame = self._current_bitrate / 30
        packets_per_frame = math.ceil(bits_per_frame / (8 * 1200))
        avg_packet_size_bits = bits_per_frame / packets_per_frame
        response_time = _RTT_MS + 100
        near_max_rate_increase = max(4000, int((avg_packet_size_bits * 1000) / response_time))
        return int((now_ms - last_ms) * near_max_rate_increase / 1000)

    def _multiplicative_rate_increase(self, new_bitrate: int, now_ms: int) -> int:
        alpha = 1.08
        if self._last_change_ms is not None:
            elapsed_ms = min(now_ms - self._last_change_ms, 1000)
            alpha = pow(alpha, elapsed_ms / 1000)
        return int(max((alpha - 1) * new_bitrate, 1000))

    def _update_max_throughput_estimate(self, estimated_throughput_kbps: float) -> None:
        alpha = _MAX_ALPHA
        if self._avg_max_bitrate_kbps is None:
            self._avg_max_bitrate_kbps = estimated_throughput_kbps
        else:
            self._avg_max_bitrate_kbps = (
                1 - alpha
            ) * self._avg_max_bitrate_kbps + alpha * estimated_throughput_kbps
        norm = max(1, self._avg_max_bitrate_kbps)
        self._var_max_bitrate_kbps = (1 - alpha) * self._var_max_bitrate_kbps + alpha * (
            (self._avg_max_bitrate_kbps - estimated_throughput_kbps) ** 2
        ) / norm
        self._var_max_bitrate_kbps = max(0.4, min(self._var_max_bitrate_kbps, 2.5))
