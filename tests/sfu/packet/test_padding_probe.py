"""A padding probe's pacing and verdict (time passed in)."""

from __future__ import annotations

import pytest

from sfu.packet.padding_probe import (
    PASS_REPORT_AFTER_S,
    PROBE_S,
    REPORT_AFTER_S,
    VERDICT_BY_S,
    PaddingProbe,
    PaddingProbeError,
)

NEVER = float("-inf")


def padded(probe: PaddingProbe, start: float, end: float, step: float = 0.05) -> int:
    """Bytes sent when the shell sends what is due every ``step`` (in 1,000-byte packets, as
    ``Consumer.send_padding`` sends whole packets: at least what is due)."""
    t = start
    total = 0
    while t < end - 1e-9:
        t = round(t + step, 6)
        due = probe.due(t)
        if due > 0:
            sent = -(-due // 1000) * 1000
            probe.sent(sent)
            total += sent
    return total


def test_padding_ramps_up_to_its_rate_then_runs_at_it_and_stops() -> None:
    probe = PaddingProbe("leg", (480, 360), 400_000, 10.0)
    # Up to 400 kbit/s (50,000 bytes/s) over the first second: a quarter of that in its first
    # half, then the full rate; within the packet sent ahead of what was due.
    total = padded(probe, 10.0, 10.5)
    assert 6_250 <= total <= 7_250
    total += padded(probe, 10.5, 11.0)
    assert 25_000 <= total <= 26_000
    total += padded(probe, 11.0, 12.0)
    assert 75_000 <= total <= 76_000
    assert padded(probe, 10.0 + PROBE_S, 15.0) == 0
    assert probe.sent_bytes >= 75_000


def test_a_clean_report_after_the_padding_passes_it() -> None:
    probe = PaddingProbe("leg", None, 400_000, 0.0)
    probe.observe(REPORT_AFTER_S - 0.1, loss=0.0, remb_fell_at=NEVER, decreased_at=NEVER)
    probe.observe(PASS_REPORT_AFTER_S - 0.1, loss=0.0, remb_fell_at=NEVER, decreased_at=NEVER)
    assert probe.verdict(PROBE_S) is None  # neither report came late enough to speak for it
    assert PASS_REPORT_AFTER_S > PROBE_S  # a report after the padding ended
    probe.observe(PASS_REPORT_AFTER_S + 0.1, loss=0.01, remb_fell_at=NEVER, decreased_at=NEVER)
    assert probe.verdict(PASS_REPORT_AFTER_S + 0.1) == "passed"


@pytest.mark.parametrize(
    ("loss", "remb_fell_at", "decreased_at", "because"),
    [(0.02, NEVER, NEVER, "loss"), (None, 0.3, NEVER, "delay"), (None, NEVER, 0.8, "cut")],
)
def test_loss_a_falling_remb_or_a_cut_fails_it_at_once(
    loss: float | None, remb_fell_at: float, decreased_at: float, because: str
) -> None:
    probe = PaddingProbe("leg", None, 400_000, 0.0)
    probe.observe(0.9, loss=loss, remb_fell_at=remb_fell_at, decreased_at=decreased_at)
    assert probe.verdict(0.9) == "failed"
    assert probe.failed_because == because
    assert probe.due(1.2) == 0  # the padding stops


def test_a_loss_report_too_early_to_describe_the_padding_is_not_its_verdict() -> None:
    probe = PaddingProbe("leg", None, 400_000, 0.0)
    probe.observe(REPORT_AFTER_S - 0.1, loss=0.5, remb_fell_at=-1.0, decreased_at=-1.0)
    assert probe.verdict(REPORT_AFTER_S) is None


def test_no_report_fails_it() -> None:
    probe = PaddingProbe("leg", None, 400_000, 0.0)
    assert probe.verdict(VERDICT_BY_S - 0.1) is None
    assert probe.verdict(VERDICT_BY_S) == "failed"
    assert probe.failed_because == "no report"


def test_a_rate_that_is_not_positive_is_refused() -> None:
    with pytest.raises(PaddingProbeError, match="positive"):
        PaddingProbe("leg", None, 0, 0.0)
