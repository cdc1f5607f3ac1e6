"""Configuration of the media plane: frozen dataclasses passed in through constructors."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field


@dataclass(frozen=True)
class IceServer:
    urls: tuple[str, ...]
    username: str | None = None
    credential: str | None = None


@dataclass(frozen=True)
class IceConfig:
    #: Given to every peer connection (ours and, through ``joined``, the browser's).
    #: Empty by default: no public STUN server is ever used unless configured.
    servers: tuple[IceServer, ...] = ()
    #: Local addresses announced as ICE host candidates (127.0.0.1 in tests,
    #: the machine's public address in a deployment).
    host_addresses: tuple[str, ...] = ("127.0.0.1",)
    #: UDP port range for host candidates; (0, 0) lets the OS choose.
    port_min: int = 0
    port_max: int = 0
    #: Remote addresses ICE may talk to, as networks (e.g. "127.0.0.0/8"); empty: any.
    #: Candidates and checks from elsewhere are ignored (tests keep everything on loopback).
    remote_networks: tuple[str, ...] = ()
    #: The addresses peers reach when they differ from ``host_addresses`` (1:1 NAT of a cloud
    #: VM): ``"PUBLIC"`` (for the one host address of its IP version) or ``"LOCAL=PUBLIC"``.
    #: Host candidates bound on LOCAL are announced with PUBLIC (mediasoup's announcedAddress).
    announced_addresses: tuple[str, ...] = ()
    #: One UDP port for every ICE connection (per host address), demultiplexed by ICE ufrag
    #: and remote address (sfu/udp_demux.py); 0: a port per connection (``port_min``-``port_max``).
    #: With ``serve --workers N`` worker i uses ``udp_port + i``.
    udp_port: int = 0

    def __post_init__(self) -> None:
        self.announced_by_local()  # ValueError naming the entry

    def announced_by_local(self) -> dict[str, str]:
        """Host address -> the address announced for it (only those that differ)."""
        locals_ = {}
        for address in self.host_addresses:
            try:
                locals_[address] = ipaddress.ip_address(address)
            except ValueError:
                raise ValueError(f"ice.host_addresses: {address!r} is not an IP address") from None
        out: dict[str, str] = {}
        for entry in self.announced_addresses:
            local, _, public = entry.rpartition("=")
            try:
                announced = ipaddress.ip_address(public.strip())
            except ValueError:
                raise ValueError(f"ice.announced_addresses: {entry!r} is not PUBLIC or LOCAL=PUBLIC with IP addresses") from None
            if local:
                if local.strip() not in locals_:
                    raise ValueError(f"ice.announced_addresses: {entry!r}: {local.strip()} is not one of ice.host_addresses")
                local = local.strip()
            else:
                same = [a for a, ip in locals_.items() if ip.version == announced.version]
                if len(same) != 1:
                    raise ValueError(
                        f"ice.announced_addresses: {entry!r}: ice.host_addresses has {len(same)} IPv{announced.version}"
                        " addresses; write LOCAL=PUBLIC to say which one it stands for"
                    )
                local = same[0]
            if locals_[local].version != announced.version:
                raise ValueError(f"ice.announced_addresses: {entry!r}: the two addresses are not of the same IP version")
            if local in out:
                raise ValueError(f"ice.announced_addresses: {local} is given two announced addresses")
            out[local] = str(announced)
        return out

    def announced(self) -> tuple[str, ...]:
        """What peers are told: each host address, or the address announced for it."""
        mapping = self.announced_by_local()
        return tuple(mapping.get(a, a) for a in self.host_addresses)


@dataclass(frozen=True)
class RenditionConfig:
    #: A rendition (or decoder) nobody needs is stopped after this long.
    idle_stop_s: float = 1.5
    #: Target bitrate per rendition height (bits/s); other heights scale linearly.
    bitrate_per_720p: int = 1_500_000
    min_bitrate: int = 100_000


@dataclass(frozen=True)
class SfuConfig:
    ice: IceConfig = field(default_factory=IceConfig)
    renditions: RenditionConfig = field(default_factory=RenditionConfig)
    #: At most one keyframe request per producer per this interval (0.5: two a second).
    keyframe_request_interval_s: float = 0.5
    #: Packets kept per subscriber leg to answer NACKs.
    nack_cache_packets: int = 512
    #: A publisher's camera that delivers no frame for this long is reported.
    camera_stall_s: float = 3.0
    #: Interval of sender reports on every leg.
    sender_report_interval_s: float = 1.0
    #: Measure forwarding latency inside the server (benchmarks; see sfu/latency_probe.py).
    latency_probe: bool = False
    #: Each subscriber's video follows its link's bandwidth estimate, and publishers are told
    #: when their uplink limits them (issue 15: sfu/link_adaptation.py).
    adaptation: bool = True
