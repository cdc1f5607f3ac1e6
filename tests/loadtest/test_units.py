"""Unit tests of the load tester's pure parts: safety filter, probe, metrics, plans, clip marker."""

from __future__ import annotations

import ipaddress
import struct
from pathlib import Path

import av
import pytest

from loadtest.clip import read_marker, video_clip
from loadtest.config import ConfigError, RunConfig
from loadtest.metrics import percentile, window_figures
from loadtest.probe import StreamProbe
from loadtest.safety import LOOPBACK, UnsafeTargetError, check_url, filter_sdp_candidates
from loadtest.scenarios import plan
from loadtest.tracks import TRAILER, TRAILER_MAGIC, parse_trailer

NS = ipaddress.ip_network("10.203.0.0/30")
SDP = "\r\n".join([
    "v=0", "m=video 9 UDP/TLS/RTP/SAVPF 96",
    "a=candidate:1 1 udp 2130706431 192.0.2.2 5000 typ host",
    "a=candidate:2 1 udp 2130706431 127.0.0.1 5001 typ host",
    "a=candidate:3 1 udp 2130706431 10.203.0.2 5002 typ host",
    "a=candidate:4 1 udp 2130706431 abcd.local 5003 typ host",
    "a=candidate:5 1 udp 2130706431 10.203.0.5 5004 typ host",
]) + "\r\n"


def test_filter_keeps_only_allowed_candidates() -> None:
    out = filter_sdp_candidates(SDP, [LOOPBACK, NS])
    assert "127.0.0.1 5001" in out and "10.203.0.2 5002" in out
    for refused in ("192.0.2.2", "abcd.local", "10.203.0.5"):
        assert refused not in out
    assert "m=video" in out


def test_filter_refuses_sdp_without_usable_candidate() -> None:
    with pytest.raises(UnsafeTargetError, match="no ICE candidate"):
        filter_sdp_candidates(SDP, [ipaddress.ip_network("10.9.9.0/30")])


def test_check_url() -> None:
    assert check_url("ws://127.0.0.1:8080/ws", [LOOPBACK])
    assert check_url("http://localhost:1", [LOOPBACK])
    for bad in ("http://192.0.2.2:80", "http://example.org", "ftp://127.0.0.1/"):
        with pytest.raises(UnsafeTargetError):
            check_url(bad, [LOOPBACK])


def _frame(seq: int, publisher: int, sent_ns: int) -> bytes:
    return b"\x10" + b"x" * 100 + TRAILER.pack(TRAILER_MAGIC, publisher, seq, sent_ns)


def test_probe_counts_loss_frames_latency_with_seq_wrap() -> None:
    probe = StreamProbe("s", "p", "video", publisher_no=7)
    seqs = [65533, 65534, 65535, 1, 2]  # seq 0 lost across the wrap
    for i, seq in enumerate(seqs):
        probe.on_packet(10.0 + i * 0.033, seq, 1000 * i, True, _frame(i, 7, int((10.0 + i * 0.033 - 0.005) * 1e9)))
    assert probe.packets == 5 and probe.expected == 6 and probe.lost == 1
    assert probe.frames == 5 and probe.misrouted_frames == 0
    assert all(abs(lat - 0.005) < 1e-6 for _, lat in probe.latencies)


def test_probe_detects_misrouted_and_missing_frames() -> None:
    probe = StreamProbe("s", "p", "video", publisher_no=1)
    probe.on_packet(1.0, 1, 0, True, _frame(0, 1, 0))
    probe.on_packet(1.1, 2, 1, True, _frame(3, 1, 0))
    probe.on_packet(1.2, 3, 2, True, _frame(4, 2, 0))
    assert probe.frames_missing == 2 and probe.misrouted_frames == 1


def test_trailer_split_across_packets() -> None:
    probe = StreamProbe("s", "p", "video")
    data = b"y" * 50 + TRAILER.pack(TRAILER_MAGIC, 1, 0, 2_000_000_000)
    probe.on_packet(3.0, 1, 5, False, b"\x10" + data[:-8])
    probe.on_packet(3.0, 2, 5, True, b"\x00" + data[-8:])  # continuation packet: 1-byte descriptor
    assert [lat for _, lat in probe.latencies] == [pytest.approx(1.0)]
    assert parse_trailer(b"short") is None
    assert parse_trailer(b"z" * 4 + struct.pack(">4sIIQ", b"XXXX", 1, 1, 1)) is None


def test_window_figures_and_percentile() -> None:
    probe = StreamProbe("s", "p", "video")
    start = {0: probe.counters(0.0)}
    for i in range(30):
        probe.on_packet(i / 30, i, i, True, b"\x10abc")
    probe.on_packet(1.0, 31, 31, True, b"\x10abc")  # seq 30 lost
    end = {0: probe.counters(1.0)}
    fig = window_figures([probe], start, end)
    assert fig.fps == [31.0] and fig.streams == 1
    assert fig.loss_pct == pytest.approx(100 / 32)
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5 and percentile([], 50) is None


def test_plans() -> None:
    consults = plan(RunConfig(scenario="consults", consults=3))
    assert len(consults) == 6 and all(p.publishes and len(p.receives_from) == 1 for p in consults)
    group = plan(RunConfig(scenario="group", rooms=2, room_size=3))
    assert len(group) == 6 and all(len(p.receives_from) == 2 for p in group)
    broadcast = plan(RunConfig(scenario="broadcast", subscribers=4))
    assert [p.publishes for p in broadcast] == [True, False, False, False, False]
    step = plan(RunConfig(scenario="broadcast"), first_subscriber=5, subscribers=2)
    assert [p.identity for p in step] == ["b0-sub5", "b0-sub6"]
    consult_step = plan(RunConfig(scenario="consults"), first_subscriber=2, subscribers=1)
    assert [(p.room, p.identity, p.receives_from) for p in consult_step] == [
        ("c2", "c2-a", ("c2-b",)), ("c2", "c2-b", ("c2-a",)),
    ]


def test_config_errors_name_the_option() -> None:
    with pytest.raises(ConfigError, match="--subscribers"):
        RunConfig(subscribers=0).validate()
    with pytest.raises(ConfigError, match="--ramp"):
        RunConfig(scenario="group", ramp=True).validate()
    with pytest.raises(ConfigError, match="--ramp-max"):
        RunConfig(scenario="consults", ramp=True, ramp_max=201).validate()
    assert RunConfig(scenario="consults", ramp=True, ramp_max=20).validate().ramp_unit == "consults"


def test_visual_marker_survives_encoding() -> None:
    clip = video_clip(320, 240, 15, 300_000, 20)
    decoder = av.CodecContext.create("libvpx", "r")
    seen = []
    for data in clip.frames:
        for frame in decoder.decode(av.Packet(data + TRAILER.pack(TRAILER_MAGIC, 1, 1, 1))):
            seen.append(read_marker(frame.to_ndarray(format="yuv420p")[: frame.height]))
    assert seen == list(range(20))


def test_table_has_ratio_columns_against_the_first_target() -> None:
    from loadtest.report import table

    runs = [
        {"target": "ours", "scenario": "broadcast", "server_us_per_packet": 30.0, "streams": 10},
        {"target": "janus", "scenario": "broadcast", "server_us_per_packet": 15.0, "streams": 10},
        {"target": "mediarelay", "scenario": "broadcast", "error": "boom", "streams": 0},
    ]
    text = table(runs)
    row = next(line for line in text.splitlines() if line.startswith("server_us_per_packet"))
    assert "0.50x" in row.split()
    assert "FAILED mediarelay: boom" in text


@pytest.mark.skipif(not Path("/usr/lib/x86_64-linux-gnu/janus/plugins").is_dir(), reason="janus not installed")
def test_janus_config_enables_only_videoroom_and_http(tmp_path: Path) -> None:
    from loadtest.janus_config import write_config

    main = write_config(tmp_path, interface="lt1n", address="10.203.0.2").read_text()
    plugins = main.split("plugins: {")[1].split("}")[0]
    transports = main.split("transports: {")[1].split("}")[0]
    assert "libjanus_videoroom.so" not in plugins and "libjanus_echotest.so" in plugins
    assert "libjanus_http.so" not in transports and "libjanus_websockets.so" in transports
    assert 'ice_enforce_list = "lt1n"' in main and "ice_ipv6 = false" in main
    http = (tmp_path / "janus.transport.http.jcfg").read_text()
    assert 'ip = "10.203.0.2"' in http and "admin_http = false" in http
