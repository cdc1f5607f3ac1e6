"""MediaServer: the root of the media plane (mediasoup calls it a Worker).

Owns the rooms, the process-wide counters and the ICE configuration. A room is
created on first use and closed when its last participant leaves.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import ipaddress
from typing import TYPE_CHECKING

from sfu.config import IceConfig, SfuConfig
from sfu.events import RoomListener
from sfu.ids import RoomId
from sfu.latency_probe import LatencyProbe
from sfu.packet.link_estimate import link_estimate_buckets
from sfu.stats import SfuCounters

if TYPE_CHECKING:
    from sfu.aiortc_hooks import UdpMux
    from sfu.room import Room

LOOPBACK_NETWORKS = ("127.0.0.0/8", "::1/128")


def effective_remote_networks(ice: IceConfig) -> tuple[str, ...]:
    """Configured networks; unset on a server that announces only loopback: loopback only.

    A loopback-only server (``make run``, every test) then never talks ICE to the
    machine's other interfaces, even when a browser offers them as candidates.
    """
    if ice.remote_networks:
        return ice.remote_networks
    if all(ipaddress.ip_address(a).is_loopback for a in ice.host_addresses):
        return LOOPBACK_NETWORKS
    return ()


class MediaServer:
    def __init__(self, config: SfuConfig) -> None:
        self.config = config
        self.counters = SfuCounters()
        self.rooms: dict[RoomId, Room] = {}
        self._closing: set[asyncio.Task[None]] = set()
        self.closed = False
        self.latency_probe = LatencyProbe() if config.latency_probe else None
        self._listeners: list[RoomListener] = []
        #: every ICE connection of the server on one port (None: a socket per connection)
        self.udp_mux: UdpMux | None = None
        #: aiortc, aioice and PyAV (sfu.room and below), loaded and configured at the first room
        self._media_stack_ready = False
        if config.ice.udp_port:
            # The shared port is bound at start-up, so that a port in use fails the start (a
            # ConfigError), not the first call: this mode loads the media stack at once.
            self._load_media_stack()

    def _load_media_stack(self) -> None:
        """Import the media stack and apply the ICE settings to aioice (process-wide).

        Done at the first room, not at start-up: aiortc with PyAV, cryptography, OpenSSL and
        pylibsrtp is ~30 MB of an idle server's RSS (docs/performance.md, "Memory"), and a
        server that never gets a participant (a node waiting for its first call) needs none of it.
        The import takes ~0.3 s once, on the first join: :meth:`load_media_stack` does it in a
        thread so that the event loop keeps serving everyone else meanwhile."""
        from sfu import aiortc_hooks

        ice = self.config.ice
        # bound first, so that a port in use (OSError) leaves aioice unpatched
        self.udp_mux = aiortc_hooks.UdpMux(ice.host_addresses, ice.udp_port) if ice.udp_port else None
        aiortc_hooks.configure_host_addresses(ice.host_addresses)
        aiortc_hooks.configure_port_range(ice.port_min, ice.port_max)
        aiortc_hooks.configure_remote_networks(effective_remote_networks(ice))
        aiortc_hooks.configure_stun_fast_path(True)
        aiortc_hooks.configure_announced_addresses(ice.announced_by_local())
        aiortc_hooks.configure_udp_mux(self.udp_mux)
        self._media_stack_ready = True

    async def load_media_stack(self) -> None:
        """Import the media stack off the event loop (a no-op once loaded); the join path awaits
        it before :meth:`room`, which would otherwise import it on the loop."""
        if not self._media_stack_ready:
            await asyncio.to_thread(importlib.import_module, "sfu.room")
            self._load_media_stack()

    def room(self, room_id: RoomId, *, echo: bool = False) -> Room:
        """The room with this id, created if needed."""
        room = self.rooms.get(room_id)
        if room is None or room.closed:
            if not self._media_stack_ready:
                self._load_media_stack()
            from sfu.room import Room

            room = Room(
                room_id, self.config, self.counters, self._room_empty, echo=echo, latency_probe=self.latency_probe
            )
            self.rooms[room_id] = room
            for listener in self._listeners:
                room.subscribe(listener)
        return room

    def subscribe_all(self, listener: RoomListener) -> None:
        """Hear the events of every room, present and future (media processors, cleanup)."""
        self._listeners.append(listener)
        for room in self.rooms.values():
            room.subscribe(listener)

    def find_room(self, room_id: RoomId) -> Room | None:
        return self.rooms.get(room_id)

    def _room_empty(self, room: Room) -> None:
        if self.rooms.get(room.id) is room:
            del self.rooms[room.id]
        task = asyncio.create_task(room.close("empty"))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def close_room(self, room_id: RoomId, reason: str = "ended") -> None:
        room = self.rooms.pop(room_id, None)
        if room is not None:
            await room.close(reason)

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for room_id in list(self.rooms):
            await self.close_room(room_id, "server_shutdown")
        for task in list(self._closing):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        # The ICE settings are process-wide (aioice): give the process back aioice's own,
        # so other aiortc users in it (tests, tools) are not bound by this server's rules.
        if self._media_stack_ready:
            from sfu import aiortc_hooks

            aiortc_hooks.restore_aioice()
        if self.udp_mux is not None:
            self.udp_mux.close()

    def gauges(self) -> dict[str, int]:
        participants = [p for r in self.rooms.values() for p in r.participants.values()]
        producers = [pr for p in participants for pr in p.producers.values()]
        return {
            "rooms": len(self.rooms),
            "participants": len(participants),
            "producers": len(producers),
            "consumers": sum(len(p.consumers) for p in participants),
            "renditions": sum(len(pr.sources.renditions) for pr in producers),
            "decoders": sum(1 for pr in producers if pr.sources.decoding),
        }

    def adaptation_gauges(self) -> dict[str, int]:
        """Network adaptation (issue 15), for /metrics: legs paused for bandwidth and the
        distribution of subscriber links' estimates."""
        participants = [p for r in self.rooms.values() for p in r.participants.values()]
        return {
            "legs_paused_for_bandwidth": sum(p.link.paused_legs() for p in participants),
            **link_estimate_buckets([p.link.estimator.estimate for p in participants]),
        }

    def dump(self) -> dict[str, object]:
        return {
            "rooms": [r.dump() for r in self.rooms.values()],
            "counters": self.counters.dump(),
            "gauges": self.gauges(),
        }
