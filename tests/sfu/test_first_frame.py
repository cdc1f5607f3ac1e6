"""A late joiner's first picture (issue 13): before, p90 490 ms and max 1,083 ms (waiting out
the one-a-second keyframe throttle); now the leg starts from the publisher's recent keyframe
when there is one, and otherwise asks at once or at the end of the (half-second) window."""

from __future__ import annotations

import pytest

from tests.support.late_joins import late_joins, percentile
from tests.support.server import RunningServer

pytestmark = pytest.mark.serial


@pytest.mark.long
async def test_late_joiners_see_a_picture_fast_and_the_publisher_gets_two_requests_a_second_at_most(
    server: RunningServer,
) -> None:
    result = await late_joins(server, joins=12, max_pause=0.8)
    summary = result.summary()
    assert result.failed == 0, summary
    # the benchmark's targets are p95 <= 300 ms and max <= 600 ms over 60 joins; a loaded
    # test machine gets some slack on the maximum
    assert percentile(result.after_connect, 50) <= 0.200, summary
    assert max(result.after_connect) <= 0.800, summary
    assert result.max_requests_per_second() <= 2, summary
    assert server.media.counters.legs_started_from_cached_keyframe >= 1, summary
    metrics = await server.metrics()
    assert metrics["consult_sfu_legs_started_from_cached_keyframe_total"] >= 1
