"""``consult-sfu doctor`` (issue 16, item 6) against real servers: consult-sfu serving HTTPS with
a certificate made by the test, coturn from Debian with use-auth-secret; what is right is
reported ok, what is wrong is named with what to do."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from control import config as config_module
from control.doctor import check_ports, covers, diagnose
from tests.reach.certs import make_self_signed
from tests.reach.coturn import running_coturn
from tests.reach.processes import serve

SECRET = "doctor-static-auth-secret-0123456789"


def _by_topic(findings: list[object]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for f in findings:
        out.setdefault(f.topic, []).append(f.line())  # type: ignore[attr-defined]
    return out


@pytest.mark.long
async def test_a_working_deployment_is_reported_ok(tmp_path: Path) -> None:
    cert = make_self_signed(tmp_path / "tls", "video.test")
    with running_coturn(tmp_path / "coturn", SECRET) as coturn:
        ca = tmp_path / "ca.pem"
        ca.write_bytes(cert.cert.read_bytes() + coturn.cert.cert.read_bytes())
        env = {"CONSULT_SFU_SERVER_TLS_CERT": str(cert.cert), "CONSULT_SFU_SERVER_TLS_KEY": str(cert.key)}
        async with serve(tmp_path, workers=1, env=env, tls=cert.client_context()) as served:
            settings = {
                **env,
                "CONSULT_SFU_PUBLIC_URL": served.base_url,
                "CONSULT_SFU_ICE_HOST_ADDRESSES": "127.0.0.1",
                "CONSULT_SFU_UDP_PORT_MIN": "40000",
                "CONSULT_SFU_UDP_PORT_MAX": "40999",
                "CONSULT_SFU_TURN_SECRET": SECRET,
                "CONSULT_SFU_TURN_URLS": f"{coturn.url},turns:127.0.0.1:{coturn.tls_port}?transport=tcp",
                "CONSULT_SFU_DATA_DIR": str(tmp_path / "data"),
            }
            config = config_module.load(None, env=settings)
            found = _by_topic(await diagnose(config, workers=4, ca=ca, timeout_s=5))
    assert found["public URL"] == [f"ok   public URL: {served.base_url}"]
    assert len(found["TLS files"]) == 1 and found["TLS files"][0].startswith("ok   TLS files: the certificate is valid until")
    assert [line[:4] for line in found["served"]] == ["ok  ", "ok  "], found["served"]
    assert found["served"][1].endswith("/healthz answers 200")
    assert found["UDP ports"] == ["ok   UDP ports: open UDP 40000-40999 in the firewall (1000 ports, 250 per worker for 4 worker(s): about 125 participants each)"]
    turn = found["TURN"]
    assert len(turn) == 2 and all(line.startswith("ok   TURN:") and "refuses an expired one" in line for line in turn), turn
    assert "turns:127.0.0.1" in turn[1]
    # Loopback announced on an HTTPS deployment: nobody outside could send media.
    (media,) = found["media address"]
    assert media.startswith("FAIL media address: announced: 127.0.0.1: no public address"), media


@pytest.mark.long
async def test_what_is_wrong_is_named(tmp_path: Path) -> None:
    cert = make_self_signed(tmp_path / "tls", "video.test", days=5)  # about to expire, and not trusted
    with running_coturn(tmp_path / "coturn", SECRET) as coturn:
        env = {"CONSULT_SFU_SERVER_TLS_CERT": str(cert.cert), "CONSULT_SFU_SERVER_TLS_KEY": str(cert.key)}
        async with serve(tmp_path, workers=1, env=env, tls=cert.client_context()) as served:
            settings = {
                **os.environ, **env,
                "CONSULT_SFU_PUBLIC_URL": served.base_url,
                "CONSULT_SFU_TURN_SECRET": "not-the-secret-coturn-has",
                "CONSULT_SFU_TURN_URLS": coturn.url,
                "CONSULT_SFU_DATA_DIR": str(tmp_path / "data"),
            }
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "control.cli", "doctor", "--workers", "1", "--timeout", "5",
                env=settings, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            )
            out, _ = await asyncio.wait_for(proc.communicate(), 60)
    text = out.decode()
    assert proc.returncode == 1, text
    assert "warn TLS files: the certificate expires in 4 days" in text or "warn TLS files: the certificate expires in 5 days" in text, text
    assert "FAIL served: 127.0.0.1:" in text and "presents a certificate browsers do not trust" in text, text
    assert f"FAIL TURN: {coturn.url} refused a fresh test credential" in text, text
    assert "turn.secret is not coturn's static-auth-secret" in text, text
    assert "warn UDP ports: ice.port_min/port_max are not set" in text, text
    assert "Traceback" not in text
    assert "problem(s)" in text.rstrip().splitlines()[-1] and "will not all get through" in text, text


def test_certificate_names() -> None:
    assert covers(("video.example.org",), "video.example.org")
    assert covers(("*.example.org",), "video.example.org")
    assert not covers(("*.example.org",), "a.video.example.org")
    assert not covers(("*.org",), "example.org")
    assert covers(("127.0.0.1",), "127.0.0.1")
    assert not covers(("other.example.org",), "video.example.org")


def test_one_udp_port_per_worker_is_reported() -> None:
    """``ice.udp_port``: the ports to open are udp_port .. udp_port + workers - 1, the range is not needed."""

    def lines(workers: int, **env: str) -> list[str]:
        config = config_module.load(None, env={"CONSULT_SFU_ICE_HOST_ADDRESSES": "127.0.0.1", **env})
        return [f.line() for f in check_ports(config, workers)]

    assert lines(4, CONSULT_SFU_UDP_PORT="7882") == [
        "ok   UDP ports: open UDP 7882-7885 (one port per worker, ice.udp_port) in the firewall, for 4 worker(s) and any number of participants"
    ]
    assert lines(1, CONSULT_SFU_UDP_PORT="7882", CONSULT_SFU_UDP_PORT_MIN="40000", CONSULT_SFU_UDP_PORT_MAX="40999") == [
        "ok   UDP ports: open UDP 7882 (one port per worker, ice.udp_port) in the firewall, for 1 worker(s) and any number of participants;"
        " the range ice.port_min-port_max (40000-40999) is then not used, keep it closed"
    ]
    (beyond,) = lines(4, CONSULT_SFU_UDP_PORT="65534")
    assert beyond.startswith("FAIL UDP ports: ice.udp_port 65534 with 4 worker(s) needs ports up to 65537, beyond 65535"), beyond
    # without udp_port: the range messages as before
    assert lines(2, CONSULT_SFU_UDP_PORT_MIN="40000", CONSULT_SFU_UDP_PORT_MAX="40003") == [
        "ok   UDP ports: open UDP 40000-40003 in the firewall (4 ports, 2 per worker for 2 worker(s): about 1 participants each)"
    ]
    (unset,) = lines(2)
    assert unset.startswith("warn UDP ports: ice.port_min/port_max are not set"), unset
    (small,) = lines(3, CONSULT_SFU_UDP_PORT_MIN="40000", CONSULT_SFU_UDP_PORT_MAX="40003")
    assert small.startswith("FAIL UDP ports: open UDP 40000-40003"), small
