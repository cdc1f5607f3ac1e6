"""/healthz, /readyz and /metrics (Prometheus text exposition format 0.0.4).

The media plane's figures are always there; features (captions, effects) add theirs
with :func:`add_source`: a function returning :class:`Sample` s, read at every scrape.
Every process adds its ``process_*`` figures (prometheus-client's ProcessCollector: CPU
seconds, resident memory, open and maximum file descriptors, start time), named as every
Prometheus exporter names them (no ``consult_sfu_`` prefix), and ``/metrics`` starts with
``consult_sfu_build_info{version, python, aiortc} 1``. In a node with several workers each
worker's lines carry ``worker="<index>"`` (control/cluster/node_metrics.py), process ones too.

``/healthz`` (liveness, with the store): 200 ``ok``; 503 with ``status`` ``closing``,
``draining`` or ``store_unavailable`` (and ``reason``) when the store (Redis) does not answer
within 2 s. ``/readyz`` (readiness: send new consultations here): 200 only when the
application finished starting, is neither closing nor draining, and the store answers.
"""

from __future__ import annotations

import asyncio
import platform
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib import metadata
from typing import TYPE_CHECKING, Literal

from aiohttp import web
from prometheus_client import ProcessCollector

if TYPE_CHECKING:
    from sfu import MediaServer

routes = web.RouteTableDef()
#: the media plane (typed only: a node's supervisor imports this module but never aiortc)
MEDIA: web.AppKey[MediaServer] = web.AppKey("media")


@dataclass(frozen=True)
class Sample:
    """One metric: ``name`` without the ``consult_sfu_`` prefix (counters end in ``_total``)."""

    name: str
    kind: Literal["counter", "gauge"]
    help: str
    value: float


MetricSource = Callable[[], list[Sample]]
SOURCES = web.AppKey("metric_sources", list[MetricSource])
#: A status other than "ok" for /healthz (503), e.g. "draining" from the cluster; None: ok.
StatusSource = Callable[[], str | None]
STATUS: web.AppKey[StatusSource] = web.AppKey("health_status")


#: the store's health: None when it answers, else why not (set by the control plane)
StoreCheck = Callable[[], Awaitable[str | None]]
STORE_CHECK: web.AppKey[StoreCheck] = web.AppKey("store_check")
#: set once the application finished starting (its cleanup contexts ran)
READY: web.AppKey[asyncio.Event] = web.AppKey("ready")
STORE_CHECK_TIMEOUT_S = 2.0
#: names exported as they are (the conventions of every Prometheus exporter), never prefixed
UNPREFIXED = ("process_",)
_PROCESS = ProcessCollector(registry=None)


def add_source(app: web.Application, source: MetricSource) -> None:
    """A feature's figures on /metrics (call while building the app)."""
    app.setdefault(SOURCES, []).append(source)


_COUNTERS = {
    "rtp_packets_received": "RTP packets received from publishers",
    "rtp_packets_forwarded": "RTP packets sent to subscribers (forwarded or from renditions)",
    "rtp_bytes_forwarded": "RTP bytes sent to subscribers",
    "nacks_received": "NACK feedback packets received from subscribers",
    "nacks_sent": "NACK feedback packets sent to publishers",
    "retransmissions": "packets resent to subscribers from the per-leg cache",
    "plis_received": "PLI/FIR received from subscribers",
    "plis_sent": "PLI sent to publishers (throttled)",
    "frames_decoded": "video frames decoded by the server (renditions)",
    "frames_encoded": "video frames encoded by the server (renditions)",
    "frames_dropped": "decoded frames not processed because a newer one was waiting",
    "renditions_started": "renditions started",
    "renditions_stopped": "renditions stopped after nobody needed them",
    "retransmissions_suppressed": "NACKed packets not resent: resent less than the leg's round trip ago",
    "adaptation_switches_up": "subscriber videos switched to a bigger picture by their link's estimate",
    "adaptation_switches_down": "subscriber videos switched to a smaller picture (or paused) by their link's estimate",
    "legs_started_from_cached_keyframe": "video legs started from the source's recent keyframe, without a request",
    "retransmissions_over_budget": "NACKed packets not resent: their subscriber link's send budget (its estimate) was spent",
    "rtp_bytes_retransmitted": "RTP bytes resent to subscribers",
    "padding_probes_passed": "padding probes after which a subscriber video was switched up: its link carried the better picture's rate",
    "padding_probes_failed": "padding probes that met loss or growing delay: the better picture was not sent",
    "padding_bytes_sent": "bytes of padding sent to probe subscriber links (duplicates of recent packets, dropped by the receiver)",
}
_GAUGES = {
    "rooms": "rooms with media",
    "participants": "participants in rooms",
    "producers": "published tracks",
    "consumers": "subscriber legs",
    "renditions": "active renditions (one encoder each)",
    "decoders": "producers being decoded",
    "legs_paused_for_bandwidth": "subscriber video legs paused because their link cannot carry the smallest picture",
    "links_estimated": "subscriber links with a bandwidth estimate (seen congested; the others are not limited)",
    **{
        f"link_estimate_le_{b}kbps": f"subscriber links whose bandwidth estimate is at most {b} kbit/s"
        for b in (100, 300, 600, 1200, 2500)
    },
}


#: Why the shared UDP port (``ice.udp_port``) dropped a datagram: sfu.udp_demux.DROP_REASONS
_UDP_PORT_DROPS = {
    "unknown_address": "datagrams on the shared UDP port from an address no ICE connection learnt, and not a STUN answer it awaits (junk, scans, a closed connection's peer)",
    "unknown_ufrag": "STUN binding requests on the shared UDP port for an ICE ufrag no connection has",
    "bad_integrity": "STUN binding requests on the shared UDP port whose MESSAGE-INTEGRITY fails with the connection's password",
    "malformed": "empty datagrams and STUN binding requests without a usable USERNAME on the shared UDP port",
}


def media_samples(media: MediaServer) -> list[Sample]:
    """The media plane's counters and gauges, and this process's ``process_*`` figures."""
    counters = media.counters.dump()
    samples = [Sample(f"{name}_total", "counter", text, counters[name]) for name, text in _COUNTERS.items()]
    samples += [Sample(name, "gauge", _GAUGES.get(name, name), value) for name, value in media.gauges().items()]
    samples += [
        Sample(name, "gauge", _GAUGES.get(name, name), value) for name, value in media.adaptation_gauges().items()
    ]
    return samples + udp_port_samples(media) + process_samples()


def udp_port_samples(media: MediaServer) -> list[Sample]:
    """The shared UDP port's figures (``ice.udp_port``; none without it): what it holds, what it dropped."""
    mux = media.udp_mux
    if mux is None:
        return []
    sizes, dropped = mux.sizes(), mux.dropped()
    samples = [
        Sample("udp_port_connections", "gauge", "ICE connections on the shared UDP port", sizes["connections"]),
        Sample("udp_port_addresses", "gauge", "remote addresses the shared UDP port routes to a connection", sizes["addresses"]),
    ]
    samples += [Sample(f"udp_port_datagrams_dropped_{reason}_total", "counter", text, dropped.get(reason, 0)) for reason, text in _UDP_PORT_DROPS.items()]
    return samples


def process_samples() -> list[Sample]:
    out: list[Sample] = []
    for family in _PROCESS.collect():
        kind: Literal["counter", "gauge"] = "counter" if family.type == "counter" else "gauge"
        out += [Sample(s.name, kind, family.documentation, s.value) for s in family.samples if not s.name.endswith("_created")]
    return out


def _metric(name: str) -> str:
    return name if name.startswith(UNPREFIXED) else f"consult_sfu_{name}"


def build_info() -> list[str]:
    """``consult_sfu_build_info`` lines: what runs (one constant series)."""

    def version(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "unknown"

    labels = f'version="{version("consult-sfu")}",python="{platform.python_version()}",aiortc="{version("aiortc")}"'
    metric = "consult_sfu_build_info"
    return [f"# HELP {metric} the running build (always 1)", f"# TYPE {metric} gauge", f"{metric}{{{labels}}} 1"]


def _number(value: float) -> str:
    # Counters stay exact integers (a "{:g}" would round 1234567 to 1.23457e+06).
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def all_samples(app: web.Application) -> list[Sample]:
    """This process's figures: the media plane's and every feature's."""
    samples = media_samples(app[MEDIA])
    for source in app.get(SOURCES) or ():
        samples += source()
    return samples


def render(media: MediaServer, sources: list[MetricSource] | None = None) -> str:
    samples = media_samples(media)
    for source in sources or ():
        samples += source()
    lines: list[str] = build_info()
    for sample in samples:
        metric = _metric(sample.name)
        lines += [f"# HELP {metric} {sample.help}", f"# TYPE {metric} {sample.kind}", f"{metric} {_number(sample.value)}"]
    probe = media.latency_probe
    if probe is not None and probe.count:
        metric = "consult_sfu_forwarding_latency_seconds"
        lines += [f"# HELP {metric} packet hand-over to last subscriber's send (sampled, bucket upper bounds)", f"# TYPE {metric} summary"]
        for q in (0.5, 0.95, 0.99):
            lines.append(f'{metric}{{quantile="{q}"}} {probe.quantile(q)}')
        lines += [f"{metric}_count {probe.count}", f"{metric}_sum {probe.total:.6f}"]
    return "\n".join(lines) + "\n"


def render_labelled(by_label: dict[str, list[Sample]], label: str) -> str:
    """Several processes' samples, one line each per metric with ``label`` telling them apart."""
    order: dict[str, Sample] = {}
    for samples in by_label.values():
        for sample in samples:
            order.setdefault(sample.name, sample)
    lines: list[str] = build_info()
    for name, first in order.items():
        metric = _metric(name)
        lines += [f"# HELP {metric} {first.help}", f"# TYPE {metric} {first.kind}"]
        for value, samples in by_label.items():
            for sample in samples:
                if sample.name == name:
                    lines.append(f'{metric}{{{label}="{value}"}} {_number(sample.value)}')
    return "\n".join(lines) + "\n"


#: Renders /metrics instead of this process alone (a node with several workers: every worker's).
RENDERER: web.AppKey[Callable[[web.Application], Awaitable[str]]] = web.AppKey("metrics_renderer")


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    renderer = request.app.get(RENDERER)
    text = await renderer(request.app) if renderer is not None else render(request.app[MEDIA], request.app.get(SOURCES))
    return web.Response(text=text, content_type="text/plain", charset="utf-8")


async def _store_problem(app: web.Application) -> str | None:
    check = app.get(STORE_CHECK)
    if check is None:
        return None
    try:
        async with asyncio.timeout(STORE_CHECK_TIMEOUT_S):
            return await check()
    except TimeoutError:
        return f"the store did not answer within {STORE_CHECK_TIMEOUT_S:g} s"


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    media = request.app[MEDIA]
    source = request.app.get(STATUS)
    status = "closing" if media.closed else (source() if source is not None else None) or "ok"
    body: dict[str, object] = {"status": status, **media.gauges()}
    if status == "ok":
        problem = await _store_problem(request.app)
        if problem is not None:
            body.update(status="store_unavailable", reason=problem)
    return web.json_response(body, status=200 if body["status"] == "ok" else 503)


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    media = request.app[MEDIA]
    source = request.app.get(STATUS)
    ready = request.app.get(READY)
    reason: str | None = None
    if media.closed:
        reason = "closing"
    elif ready is not None and not ready.is_set():
        reason = "starting"
    elif source is not None and source() is not None:
        reason = source()
    else:
        reason = await _store_problem(request.app)
    if reason is None:
        return web.json_response({"status": "ready"})
    return web.json_response({"status": "not_ready", "reason": reason}, status=503)
