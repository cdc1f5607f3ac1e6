"""Configuration of the media plane: frozen dataclasses passed in through constructors."""

from __future__ import annotations

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
