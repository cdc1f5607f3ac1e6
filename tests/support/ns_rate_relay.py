"""The rate relay of tests/support/rate_relay.py as a process of its own, run inside a test's
network namespace (tests/reach/netns.py) beside the constrained peer: the peer's side of its
link.

Why a process: the test process also runs the server, the publisher and the browser driver;
a relay sharing their event loop would add their stalls to the link's delay. Here the link's
timing is the relay's own, and the only way from the namespace to the server's media port of
the relayed connection is across the veth, from the relay's server-side port (the test's
nftables rules can then hold every other datagram of that connection back).

``python -m tests.support.ns_rate_relay ADDRESS PEER_PORT SERVER_PORT``: both sides bound on
ADDRESS (the namespace's veth address). One JSON command a line on stdin: ``{"server": [addr,
port]}`` (where the server side sends: the server's candidate), ``{"rate": bits_per_s | null}``
(the downlink's drop-tail queue, 300 ms of buffer). One JSON line of counters on stdout every
0.1 s; it stops when stdin closes. :class:`RelayProcess` is the test's handle on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections.abc import AsyncIterator
from typing import Any

from tests.reach.netns import ROOT
from tests.support.child import end_child
from tests.support.rate_limit import RateLimit
from tests.support.rate_relay import RateRelay


def _counters(relay: RateRelay) -> dict[str, Any]:
    link = relay.downlink
    return {
        "bytes_to_peer": relay.bytes_to_peer,
        "passed": link.passed,
        "dropped": link.dropped,
        "rate": link.rate_bps,
        "peer": relay.peer_addr,
        "server": relay.server_addr,
    }


async def _main(address: str, peer_port: int, server_port: int) -> None:
    relay = RateRelay(RateLimit(None, "queue"), address=address, ports=(peer_port, server_port))
    await relay.start()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    async def report() -> None:
        while True:
            print(json.dumps(_counters(relay)), flush=True)
            await asyncio.sleep(0.1)

    reporter = asyncio.create_task(report())
    try:
        while line := await reader.readline():
            command = json.loads(line)
            if "server" in command:
                relay.server_addr = (command["server"][0], int(command["server"][1]))
            if "rate" in command:
                relay.downlink.set_rate(command["rate"])
            print(json.dumps(_counters(relay)), flush=True)
    finally:
        reporter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reporter
        relay.close()


class RelayProcess:
    """The test's side: starts the relay in namespace ``ns_name`` and follows its counters."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self._proc = proc
        #: the relay's last report (see ``_counters``)
        self.counters: dict[str, Any] = {}
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self._proc.stdout is not None
        async for line in self._proc.stdout:
            self.counters = json.loads(line)

    async def send(self, command: dict[str, Any]) -> None:
        assert self._proc.stdin is not None
        self._proc.stdin.write((json.dumps(command) + "\n").encode())
        await self._proc.stdin.drain()

    async def set_rate(self, rate_bps: float | None) -> None:
        await self.send({"rate": rate_bps})

    async def close(self) -> str:
        """Stop the relay; its stderr (empty unless it failed)."""
        await end_child(self._proc)
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader
        assert self._proc.stderr is not None
        return (await self._proc.stderr.read()).decode(errors="replace")


@contextlib.asynccontextmanager
async def relay_in_namespace(ns_name: str, address: str, peer_port: int, server_port: int) -> AsyncIterator[RelayProcess]:
    proc = await asyncio.create_subprocess_exec(
        "ip", "netns", "exec", ns_name, sys.executable, "-m", "tests.support.ns_rate_relay",
        address, str(peer_port), str(server_port),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": ROOT},
    )
    relay = RelayProcess(proc)
    try:
        for _ in range(100):  # its first report: both sides bound
            if relay.counters or proc.returncode is not None:
                break
            await asyncio.sleep(0.05)
        if not relay.counters:
            raise RuntimeError(f"the relay did not start in {ns_name} (its stderr follows)")
        yield relay
    finally:
        errors = await relay.close()
        if errors.strip():
            print(f"[relay stderr] {errors[-2000:]}")


if __name__ == "__main__":
    asyncio.run(_main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
