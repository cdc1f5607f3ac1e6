"""The relay's link model (tests/support/rate_limit.py): the two kinds of narrow link, sans I/O."""

from __future__ import annotations

import pytest

from tests.support.rate_limit import RateLimit


def feed(model: RateLimit, rate_bps: float, seconds: float, size: int = 1000) -> list[float | None]:
    """Offer ``rate_bps`` in packets of ``size`` bytes, evenly spaced; the leave times."""
    interval = size * 8 / rate_bps
    return [model.offer(size, i * interval) for i in range(int(seconds / interval))]


def test_a_queue_delays_then_drops_and_carries_its_rate() -> None:
    model = RateLimit(300_000, "queue", buffer_s=0.3)
    leaves = feed(model, 900_000, 10.0)
    passed = [t for t in leaves if t is not None]
    assert model.dropped > 0
    # What passes leaves at the link's rate, never more than the buffer late.
    assert model.bytes_passed * 8 / passed[-1] == pytest.approx(300_000, rel=0.05)
    offered = [i * 1000 * 8 / 900_000 for i, t in enumerate(leaves) if t is not None]
    assert max(t - o for t, o in zip(passed, offered, strict=True)) <= 0.3 + 1000 * 8 / 300_000


def test_a_policer_drops_without_delay() -> None:
    model = RateLimit(300_000, "policer", burst_bytes=10_000)
    leaves = feed(model, 900_000, 10.0)
    offered = [i * (1000 * 8 / 900_000) for i in range(len(leaves))]
    assert all(t is None or t == o for t, o in zip(leaves, offered, strict=True))
    assert model.bytes_passed * 8 / 10.0 == pytest.approx(300_000, rel=0.05)


def test_no_rate_passes_everything_and_bad_settings_are_refused() -> None:
    model = RateLimit(None)
    assert feed(model, 10_000_000, 1.0)[-1] is not None and model.dropped == 0
    with pytest.raises(ValueError, match="rate_bps"):
        model.set_rate(0)
    with pytest.raises(ValueError, match="mode"):
        RateLimit(1, "shaper")  # type: ignore[arg-type]
