"""/healthz and /metrics (Prometheus text exposition format 0.0.4)."""

from __future__ import annotations

from aiohttp import web

from sfu.media_server import MediaServer

routes = web.RouteTableDef()
MEDIA = web.AppKey("media", MediaServer)

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
}
_GAUGES = {
    "rooms": "rooms with media",
    "participants": "participants in rooms",
    "producers": "published tracks",
    "consumers": "subscriber legs",
    "renditions": "active renditions (one encoder each)",
    "decoders": "producers being decoded",
}


def render(media: MediaServer) -> str:
    lines: list[str] = []
    counters = media.counters.dump()
    for name, help_text in _COUNTERS.items():
        metric = f"consult_sfu_{name}_total"
        lines += [f"# HELP {metric} {help_text}", f"# TYPE {metric} counter", f"{metric} {counters[name]}"]
    for name, value in media.gauges().items():
        metric = f"consult_sfu_{name}"
        lines += [f"# HELP {metric} {_GAUGES.get(name, name)}", f"# TYPE {metric} gauge", f"{metric} {value}"]
    probe = media.latency_probe
    if probe is not None and probe.count:
        metric = "consult_sfu_forwarding_latency_seconds"
        lines += [f"# HELP {metric} packet hand-over to last subscriber's send (sampled, bucket upper bounds)", f"# TYPE {metric} summary"]
        for q in (0.5, 0.95, 0.99):
            lines.append(f'{metric}{{quantile="{q}"}} {probe.quantile(q)}')
        lines += [f"{metric}_count {probe.count}", f"{metric}_sum {probe.total:.6f}"]
    return "\n".join(lines) + "\n"


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    return web.Response(text=render(request.app[MEDIA]), content_type="text/plain", charset="utf-8")


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    media = request.app[MEDIA]
    status = "closing" if media.closed else "ok"
    return web.json_response({"status": status, **media.gauges()}, status=503 if media.closed else 200)
