"""One UDP port per worker (``ice.udp_port``, issue 16 item 4) with real browsers: two Chromium
pages in a 1:1 call on a node of two workers started with ``CONSULT_SFU_UDP_PORT``. Media flows
both ways, every server candidate the pages see (in the SDP the server sent, in getStats, and
the selected pair) is on the port of the worker that holds the room (udp_port + its index),
and /metrics shows the connections on that worker's port, labelled by worker."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.browser.engine_chromium import ChromiumEngine
from tests.browser.pages import open_and_join, wait_media_flowing
from tests.reach.processes import serve
from tests.support.server import parse_metrics

pytestmark = [pytest.mark.browser, pytest.mark.long]

# The server's candidates as the page sees them, on both peer connections (both go to the server).
SERVER_CANDIDATES_JS = """
async () => {
  const out = [];
  for (const [name, pc] of Object.entries(window.consult.client.pcs)) {
    if (!pc) continue;
    const sdp = pc.remoteDescription ? pc.remoteDescription.sdp : '';
    for (const line of sdp.split(/\\r?\\n/)) {
      if (line.startsWith('a=candidate:')) {
        const f = line.split(' ');
        out.push({pc: name, from: 'sdp', protocol: f[2].toLowerCase(), address: f[4], port: Number(f[5]), type: f[7]});
      }
    }
    const report = await pc.getStats();
    const selected = new Set();
    report.forEach((s) => {
      if (s.type === 'transport' && s.selectedCandidatePairId) selected.add(s.selectedCandidatePairId);
    });
    report.forEach((s) => {
      if (s.type === 'remote-candidate') {
        out.push({pc: name, from: 'stats', protocol: s.protocol, address: s.address, port: s.port, type: s.candidateType});
      }
      if (s.type === 'candidate-pair' && selected.has(s.id)) {
        const remote = report.get(s.remoteCandidateId);
        out.push({pc: name, from: 'selected', protocol: remote.protocol, address: remote.address, port: remote.port, type: remote.candidateType});
      }
    });
  }
  return out;
}
"""


def two_free_udp_ports() -> int:
    """A port p with p + 1 free too (two workers: p and p + 1)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as first:
            first.bind(("127.0.0.1", 0))
            port = int(first.getsockname()[1])
            if port >= 65535:
                continue
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as second:
                try:
                    second.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
                return port
    raise RuntimeError("no two consecutive free UDP ports on 127.0.0.1")


async def test_a_browser_call_through_one_udp_port_per_worker(tmp_path: Path, chromium: ChromiumEngine) -> None:
    udp_port = two_free_udp_ports()
    async with serve(tmp_path, workers=2, env={"CONSULT_SFU_UDP_PORT": str(udp_port)}) as served:
        alice = await chromium.new_page()
        bob = await chromium.new_page()
        await open_and_join(alice, served.join_url("one-port", "alice", "Alice", role="practitioner"))
        await open_and_join(bob, served.join_url("one-port", "bob", "Bob"))
        for page in (alice, bob):
            await wait_media_flowing(page)

        seen: list[dict[str, Any]] = []
        for page in (alice, bob):
            candidates = await page.evaluate(SERVER_CANDIDATES_JS)
            # each page: both connections' candidates in the SDP, in getStats, and a selected pair
            assert {(c["pc"], c["from"]) for c in candidates} == {
                (pc, source) for pc in ("publish", "subscribe") for source in ("sdp", "stats", "selected")
            }, candidates
            seen += candidates
        ports = {c["port"] for c in seen}
        assert len(ports) == 1 and ports <= {udp_port, udp_port + 1}, seen
        assert {(c["protocol"], c["address"], c["type"]) for c in seen} == {("udp", "127.0.0.1", "host")}, seen

        # /metrics: the room's worker holds the four connections, on its port (udp_port + index)
        async with aiohttp.ClientSession() as http, http.get(served.base_url + "/metrics") as resp:
            figures = parse_metrics(await resp.text())
        (port,) = ports
        worker = port - udp_port
        assert figures[f'consult_sfu_udp_port_connections{{worker="{worker}"}}'] == 4, figures
        assert figures[f'consult_sfu_udp_port_connections{{worker="{1 - worker}"}}'] == 0, figures
        for page in (alice, bob):
            assert not page.errors, page.errors

