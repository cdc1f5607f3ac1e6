"""Caption workers start at the first use and stop once captions are unused (idle_stop_s);
the next use starts them again. Real worker processes, a real server, aiortc peers."""

from __future__ import annotations

import asyncio
import multiprocessing
from pathlib import Path

import pytest

from tests.captions_e2e.conftest import feature, join, pid
from tests.support.server import running_server
from tests.support.waiting import until

pytestmark = pytest.mark.long


def caption_workers() -> list[str]:
    return [p.name for p in multiprocessing.active_children() if p.name.startswith("consult-sfu-captions")]


async def test_workers_stop_when_unused_and_start_again(tmp_path: Path) -> None:
    async with running_server(tmp_path, captions__start_workers="first_use", captions__idle_stop_s=1.0) as server:
        captions = feature(server)
        assert caption_workers() == []  # nobody used captions yet
        for round_ in range(2):  # the second round: started again after the stop
            peer = await join(server, f"idle-{round_}", "ann")
            try:
                reply = await peer.request({"type": "captions", "enabled": True}, expect=("captions_state", "error"), timeout=60)
                assert reply["type"] == "captions_state" and reply["enabled"] is True, reply
                await asyncio.wait_for(captions.wait_started(), 120)
                assert caption_workers() != [] and captions.unavailable is None
                await asyncio.sleep(2.0)  # a listener: never idle, however long
                assert caption_workers() != []
                off = await peer.request({"type": "captions", "enabled": False}, expect=("captions_state", "error"))
                assert off["enabled"] is False and off["participant_id"] == pid(peer)
            finally:
                await peer.close()  # the room closes, its transcript is forgotten
            # the count comes when close() has returned, a moment after the processes are gone
            await until(lambda n=round_ + 1: caption_workers() == [] and captions.stops == n, 60, "the workers stopped after 1 s unused")
