"""The server's edges: /metrics, /healthz, the CLI, configuration from file and environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from control import config as config_module
from control.tokens import verify
from tests.support.media import PatternVideoTrack
from tests.support.peer import TestPeer
from tests.support.server import RunningServer, parse_metrics

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "control.cli"]


async def test_metrics_and_health(server: RunningServer) -> None:
    pub = TestPeer(server.ws_url, server.token("m", "pub"), "pub")
    sub = TestPeer(server.ws_url, server.token("m", "sub"), "sub")
    try:
        await pub.connect()
        await pub.publish([(PatternVideoTrack(320, 240, 15), "camera")])
        await sub.connect()
        await sub.wait_frames(pub.joined["participant_id"], "video", 5)
        async with aiohttp.ClientSession() as http:
            async with http.get(server.http_url + "/metrics") as resp:
                assert resp.status == 200 and resp.content_type == "text/plain"
                text = await resp.text()
            async with http.get(server.http_url + "/healthz") as resp:
                health = await resp.json()
        values = parse_metrics(text)
        for name in (
            "consult_sfu_rooms", "consult_sfu_participants", "consult_sfu_producers", "consult_sfu_consumers",
            "consult_sfu_rtp_packets_forwarded_total", "consult_sfu_rtp_bytes_forwarded_total",
            "consult_sfu_nacks_received_total", "consult_sfu_plis_sent_total", "consult_sfu_renditions",
            "consult_sfu_frames_decoded_total", "consult_sfu_frames_encoded_total",
        ):
            assert name in values, name
        assert values["consult_sfu_participants"] == 2
        assert values["consult_sfu_rtp_packets_forwarded_total"] > 0
        assert "# TYPE consult_sfu_rtp_packets_forwarded_total counter" in text
        # the features' figures (control.metrics.add_source): nobody uses them here
        assert values["consult_sfu_captions_listeners"] == 0 and values["consult_sfu_captions_speakers"] == 0
        assert values["consult_sfu_effects_active"] == 0 and "consult_sfu_effects_available" in values
        assert "# TYPE consult_sfu_captions_events_total counter" in text
        assert health["status"] == "ok" and health["participants"] == 2
    finally:
        await pub.close()
        await sub.close()


async def test_feature_figures_keep_integers_exact() -> None:
    from control.metrics import Sample, render
    from sfu.config import SfuConfig
    from sfu.media_server import MediaServer

    media = MediaServer(SfuConfig())
    try:
        text = render(media, [lambda: [Sample("x_total", "counter", "big", 1234567), Sample("y", "gauge", "half", 0.5)]])
    finally:
        await media.close()
    assert "consult_sfu_x_total 1234567\n" in text and "consult_sfu_y 0.5\n" in text
    assert "# TYPE consult_sfu_x_total counter" in text and "consult_sfu_rtp_packets_forwarded_total 0\n" in text


def clean_env(tmp_path: Path) -> dict[str, str]:
    """No CONSULT_SFU_ variable, and the default data folder under tmp_path (not the home)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONSULT_SFU_")}
    env["XDG_DATA_HOME"] = str(tmp_path / "xdg")
    return env


def run_cli(args: list[str], tmp_path: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = clean_env(tmp_path)
    full_env.update(env or {})
    return subprocess.run([*CLI, *args], cwd=tmp_path, env=full_env, capture_output=True, text=True, timeout=60, check=False)


def test_token_command_prints_a_join_url_on_its_last_line(tmp_path: Path) -> None:
    secret = "s" * 40
    result = run_cli(
        ["token", "--room", "clinic-7", "--identity", "pat-1", "--name", "Ana", "--role", "client"],
        tmp_path,
        {"CONSULT_SFU_SECRET": secret, "CONSULT_SFU_PUBLIC_URL": "https://video.example.org"},
    )
    assert result.returncode == 0, result.stderr
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("https://video.example.org/room/clinic-7#token=")
    claims = verify(secret, last.split("#token=", 1)[1])
    assert (claims.room, claims.identity, claims.name, claims.role) == ("clinic-7", "pat-1", "Ana", "client")


def test_token_secret_is_generated_once_and_shared(tmp_path: Path) -> None:
    first = run_cli(["token", "--room", "r", "--identity", "a"], tmp_path)
    second = run_cli(["token", "--room", "r", "--identity", "b"], tmp_path)
    assert first.returncode == 0 and second.returncode == 0
    path = tmp_path / "xdg" / "consult-sfu" / "secret"  # the default data_dir: $XDG_DATA_HOME/consult-sfu
    secret = path.read_text().strip()
    assert oct(path.stat().st_mode)[-3:] == "600"
    verify(secret, first.stdout.strip().splitlines()[-1].split("#token=")[1])
    verify(secret, second.stdout.strip().splitlines()[-1].split("#token=")[1])


def test_cli_refuses_bad_input_clearly(tmp_path: Path) -> None:
    result = run_cli(["token", "--room", "r", "--identity", "a", "--role", "admin"], tmp_path)
    assert result.returncode == 2 and "invalid choice: 'admin'" in result.stderr
    result = run_cli(["serve", "--port", "70000"], tmp_path)
    assert result.returncode == 2 and "server.port" in result.stderr
    result = run_cli(["serve"], tmp_path, {"CONSULT_SFU_SECRET": "short"})
    assert result.returncode == 2 and "at least 32 bytes" in result.stderr


def test_configuration_from_file_then_environment(tmp_path: Path) -> None:
    path = tmp_path / "sfu.toml"
    path.write_text(
        '[server]\nport = 9000\n\n[ice]\nhost_addresses = ["10.0.0.5"]\nport_min = 40000\nport_max = 40100\n'
    )
    config = config_module.load(str(path), env={"CONSULT_SFU_ICE_HOST_ADDRESSES": "192.0.2.1, 192.0.2.2", "CONSULT_SFU_RENDITIONS_IDLE_STOP_S": "1.0"})
    assert config.server.port == 9000
    assert config.sfu.ice.host_addresses == ("192.0.2.1", "192.0.2.2")
    assert (config.sfu.ice.port_min, config.sfu.ice.port_max) == (40000, 40100)
    assert config.sfu.renditions.idle_stop_s == 1.0
    assert config.sfu.ice.servers == ()  # no public STUN server unless configured


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"CONSULT_SFU_SERVER_PORT": "eighty"}, "server.port must be an integer"),
        ({"CONSULT_SFU_STORE": "postgres"}, "store.backend"),
        ({"CONSULT_SFU_UDP_PORT_MIN": "50000", "CONSULT_SFU_UDP_PORT_MAX": "40000"}, "ice.port_min"),
        ({"CONSULT_SFU_SERVER_NOPE": "1"}, "unknown setting server.nope"),
    ],
)
def test_bad_configuration_names_the_setting(env: dict[str, str], words: str) -> None:
    with pytest.raises(config_module.ConfigError, match=words):
        config_module.load(None, env=env)


def test_serve_runs_on_uvloop(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # One process (a node with several workers prints its workers' loop too: tests/cluster).
    proc = subprocess.Popen(
        [*CLI, "serve", "--port", str(port), "--workers", "1"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env=clean_env(tmp_path),
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert f"serving on http://127.0.0.1:{port}" in line and "loop: uvloop" in line, line
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0




async def test_a_token_minted_from_another_directory_joins_the_server(tmp_path: Path) -> None:
    """No secret configured: ``serve`` and ``token`` share the default data_dir's secret,
    wherever each is run from (control/data_dir.py)."""
    import asyncio
    import json
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (tmp_path / "server-cwd").mkdir()
    (tmp_path / "admin-cwd").mkdir()
    env = clean_env(tmp_path)
    proc = await asyncio.create_subprocess_exec(
        *CLI, "serve", "--port", str(port), cwd=tmp_path / "server-cwd", env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
        assert "serving on" in line, line
        minted = await asyncio.to_thread(
            run_cli, ["token", "--room", "r", "--identity", "pat", "--config", "/dev/null"], tmp_path / "admin-cwd", {"XDG_DATA_HOME": env["XDG_DATA_HOME"]}
        )
        assert minted.returncode == 0, minted.stderr
        token = minted.stdout.strip().splitlines()[-1].split("#token=")[1]
        async with aiohttp.ClientSession() as http, http.ws_connect(f"ws://127.0.0.1:{port}/ws") as ws:
            await ws.send_str(json.dumps({"v": 1, "type": "join", "id": "1", "token": token}))
            reply = json.loads((await ws.receive(timeout=10)).data)
        assert reply["type"] == "joined" and reply["identity"] == "pat", reply
        assert not list((tmp_path / "server-cwd").iterdir()) and not list((tmp_path / "admin-cwd").iterdir())
    finally:
        proc.terminate()
        assert await asyncio.wait_for(proc.wait(), 15) == 0
