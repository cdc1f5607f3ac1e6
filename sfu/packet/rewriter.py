"""Continuous sequence numbers and timestamps for one subscriber leg across source switches.

A leg (the outgoing RTP stream to one subscriber, with an SSRC fixed by the caller) may be fed
by different sources over its life: the publisher's passthrough stream, then a scaled rendition
encoded by the server, then the passthrough again. Each source has its own sequence number and
timestamp space. ``LegRewriter`` maps the *current* source onto one continuous outgoing space so
the receiver sees a single stream: no sequence jump, no timestamp jump back.

The mapping of a source starts at its first packet accepted after ``switch()``:

* out_seq = highest out_seq ever issued + 1. "Highest ever", not "last issued", so a late
  packet of the previous source that was forwarded just before the switch cannot make the new
  mapping collide with sequence numbers already used.
* out_ts = newest out_ts + max(1, round(elapsed * clock_rate)), where elapsed is the wall time
  between the newest packet sent so far and this first packet (the receiver sees that gap, so
  its jitter estimate stays sane). The first mapping of all starts at (initial_seq, initial_ts).
* With ``shared_ts_space=True`` (every source of the leg stamps frames in one timestamp space,
  e.g. renditions keeping the source frames' timestamps) the timestamp offset is kept across a
  switch whenever that keeps out_ts moving forward (by at most ``MAX_KEPT_TS_JUMP`` seconds),
  so Sender Reports and lip sync stay exact through the switch; only when the new source is
  behind (a rendition's keyframe is older than the passthrough frame just sent: decode and
  encode take time) is it rebased as above, since a receiver drops a frame older than the last
  one it decoded.

After that every packet of the current source is mapped by constant offsets, so reordering is
preserved: a late packet gets its proper earlier out_seq, as long as it is not older than the
switch point (those are dropped: their out_seq would belong to the previous source) and not more
than ``max_late`` packets behind the newest. Duplicates (a packet already forwarded, e.g. the
original arriving after an upstream retransmission) are dropped.

Hot path notes: incoming sequence numbers are unwrapped to unbounded ints against the newest
one, so wrap-around needs no special case; duplicate detection is a fixed ring of the last
``DUP_WINDOW`` extended sequence numbers (one list store per packet, no set growth).
"""

from .seqnum import SEQ_HALF, SEQ_MASK, TS_HALF, TS_MASK

DUP_WINDOW = 1024
_DUP_MASK = DUP_WINDOW - 1
MAX_KEPT_TS_JUMP = 10.0  # seconds


class RewriterError(ValueError):
    """Invalid construction argument for a LegRewriter."""


class LegRewriter:
    """Maps (source_id, seq, ts) of the current source to the leg's (out_seq, out_ts)."""

    __slots__ = (
        "_base_in",
        "_clock_rate",
        "_highest_in",
        "_last_out_time",
        "_max_kept_jump",
        "_max_late",
        "_max_out_seq",
        "_newest_out_ts",
        "_pending",
        "_seen",
        "_seq_offset",
        "_shared_ts_space",
        "_source_id",
        "_ts_offset",
        "dropped_duplicate",
        "dropped_late",
        "dropped_other_source",
        "switches",
        "switches_rebased",
    )

    def __init__(
        self,
        clock_rate: int,
        initial_seq: int,
        initial_ts: int,
        *,
        max_late: int = 512,
        shared_ts_space: bool = False,
    ) -> None:
        if not isinstance(clock_rate, int) or clock_rate <= 0:
            raise RewriterError(f"clock_rate must be a positive int, got {clock_rate!r}")
        if not 0 <= initial_seq <= SEQ_MASK:
            raise RewriterError(f"initial_seq must be in [0, 65535], got {initial_seq!r}")
        if not 0 <= initial_ts <= TS_MASK:
            raise RewriterError(f"initial_ts must be in [0, 2**32-1], got {initial_ts!r}")
        if not 0 < max_late < min(SEQ_HALF, DUP_WINDOW):
            raise RewriterError(f"max_late must be in [1, {DUP_WINDOW - 1}], got {max_late!r}")
        self._clock_rate = clock_rate
        self._max_late = max_late
        self._shared_ts_space = shared_ts_space
        self._max_kept_jump = min(round(MAX_KEPT_TS_JUMP * clock_rate), TS_HALF - 1)
        # Outgoing space, kept unwrapped (masked on output).
        self._max_out_seq = initial_seq - 1
        self._newest_out_ts = initial_ts
        self._last_out_time: float | None = None
        # Current source and its mapping.
        self._source_id: int | None = None
        self._pending = False
        self._highest_in = 0  # extended (unwrapped) seq of the newest packet of the source
        self._base_in = 0  # extended seq of the first packet of the mapping (switch point)
        self._seq_offset = 0  # out_seq (unwrapped) = extended in seq + offset
        self._ts_offset = 0  # out_ts = (ts + offset) & TS_MASK
        self._seen = [-1] * DUP_WINDOW
        # Drop counters (touched only on the drop branches, never on the forwarding path).
        self.dropped_other_source = 0
        self.dropped_late = 0
        self.dropped_duplicate = 0
        self.switches = 0  # mappings started after the first
        self.switches_rebased = 0  # of which the timestamp offset had to change

    @property
    def source_id(self) -> int | None:
        """The current source (None until the first switch)."""
        return self._source_id

    @property
    def last_out_seq(self) -> int:
        """Highest outgoing sequence number issued (initial_seq - 1 before any packet)."""
        return self._max_out_seq & SEQ_MASK

    @property
    def last_out_ts(self) -> int:
        """Outgoing timestamp of the newest packet issued (initial_ts before any packet)."""
        return self._newest_out_ts & TS_MASK

    @property
    def switch_pending(self) -> bool:
        """True between switch() and the first packet accepted from the new source."""
        return self._pending

    def switch(self, source_id: int, now: float) -> None:
        """Make ``source_id`` current; its next accepted packet starts a new mapping.

        Packets of any other source are dropped from now on. ``now`` is accepted for symmetry
        with the shell's clock; the timestamp gap is measured at the first packet of the new
        mapping, which is when the receiver actually sees it.
        """
        self._source_id = source_id
        self._pending = True

    def rewrite(self, source_id: int, seq: int, ts: int, now: float) -> tuple[int, int] | None:
        """Return (out_seq, out_ts) for this packet, or None to drop it."""
        if source_id != self._source_id:
            self.dropped_other_source += 1
            return None
        if self._pending:
            return self._start_mapping(seq, ts, now)
        highest = self._highest_in
        ext = highest + (((seq - highest + SEQ_HALF) & SEQ_MASK) - SEQ_HALF)
        if ext > highest:
            self._highest_in = ext
            out_seq = ext + self._seq_offset
            out_ts = ts + self._ts_offset
            self._max_out_seq = out_seq
            self._newest_out_ts = out_ts
            self._last_out_time = now
        else:
            if ext < self._base_in or highest - ext > self._max_late:
                self.dropped_late += 1
                return None
            if self._seen[ext & _DUP_MASK] == ext:
                self.dropped_duplicate += 1
                return None
            out_seq = ext + self._seq_offset
            out_ts = ts + self._ts_offset
        self._seen[ext & _DUP_MASK] = ext
        return out_seq & SEQ_MASK, out_ts & TS_MASK

    def map_ts(self, source_id: int, ts: int) -> int | None:
        """Map a timestamp of ``source_id`` to the leg's timestamp space (for Sender Reports).

        None when ``source_id`` is not current or its mapping has not started yet.
        """
        if source_id != self._source_id or self._pending:
            return None
        return (ts + self._ts_offset) & TS_MASK

    def dump(self) -> dict[str, object]:
        """State and counters, for stats endpoints and tests."""
        return {
            "source_id": self._source_id,
            "switch_pending": self._pending,
            "last_out_seq": self.last_out_seq,
            "last_out_ts": self.last_out_ts,
            "seq_offset": self._seq_offset & SEQ_MASK,
            "ts_offset": self._ts_offset,
            "dropped_other_source": self.dropped_other_source,
            "dropped_late": self.dropped_late,
            "dropped_duplicate": self.dropped_duplicate,
            "switches": self.switches,
            "switches_rebased": self.switches_rebased,
        }

    def _start_mapping(self, seq: int, ts: int, now: float) -> tuple[int, int]:
        out_seq = self._max_out_seq + 1
        if self._last_out_time is None:
            out_ts = self._newest_out_ts
        else:
            self.switches += 1
            newest = self._newest_out_ts & TS_MASK
            kept = (ts + self._ts_offset) & TS_MASK
            ahead = ((kept - newest + TS_HALF) & TS_MASK) - TS_HALF
            if self._shared_ts_space and 0 < ahead <= self._max_kept_jump:
                out_ts = kept
            else:
                self.switches_rebased += 1
                elapsed = round((now - self._last_out_time) * self._clock_rate)
                out_ts = newest + (elapsed if elapsed > 1 else 1)
        self._pending = False
        self._base_in = seq
        self._highest_in = seq
        self._seq_offset = out_seq - seq
        self._ts_offset = (out_ts - ts) & TS_MASK
        self._max_out_seq = out_seq
        self._newest_out_ts = out_ts & TS_MASK
        self._last_out_time = now
        self._seen = [-1] * DUP_WINDOW
        self._seen[seq & _DUP_MASK] = seq
        return out_seq & SEQ_MASK, out_ts & TS_MASK
