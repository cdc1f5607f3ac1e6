"""Debian's coturn, started by a test on loopback with deploy/coturn/turnserver.conf."""

from __future__ import annotations

import contextlib
import random
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.browser.conftest import free_port, stop_server
from tests.reach.certs import SelfSigned, make_self_signed

TURNSERVER = shutil.which("turnserver") or "/usr/bin/turnserver"
CONF = Path(__file__).resolve().parents[2] / "deploy" / "coturn" / "turnserver.conf"


@dataclass(frozen=True)
class Coturn:
    port: int
    tls_port: int
    secret: str
    log: Path
    cert: SelfSigned

    address: str = "127.0.0.1"

    @property
    def url(self) -> str:
        return f"turn:{self.address}:{self.port}?transport=udp"


def conf_for_test(
    secret: str, port: int, tls_port: int, relay_low: int, cert: SelfSigned, folder: Path,
    address: str = "127.0.0.1", allowed_peers: tuple[str, ...] = (),
) -> str:
    """The documented configuration moved to loopback: addresses, ports, certificate, files.

    Loopback is among the documented denied peers; the test's SFU is on loopback, so that one
    line becomes ``allow-loopback-peers`` (coturn refuses loopback peers without it anyway).
    """
    text = CONF.read_text()
    replacements = {
        "static-auth-secret=REPLACE-WITH-32-RANDOM-BYTES-openssl-rand-hex-32": f"static-auth-secret={secret}",
        "listening-ip=203.0.113.8": f"listening-ip={address}",
        "listening-port=3478": f"listening-port={port}",
        "tls-listening-port=443": f"tls-listening-port={tls_port}",
        "relay-ip=203.0.113.8": f"relay-ip={address}",
        "min-port=49152": f"min-port={relay_low}",
        "max-port=65535": f"max-port={relay_low + 99}",
        "cert=/etc/letsencrypt/live/turn.example.org/fullchain.pem": f"cert={cert.cert}",
        "pkey=/etc/letsencrypt/live/turn.example.org/privkey.pem": f"pkey={cert.key}",
        "denied-peer-ip=127.0.0.0-127.255.255.255": "allow-loopback-peers",
        "log-file=/var/log/turnserver/turnserver.log": f"log-file={folder / 'turnserver.log'}",
    }
    for old, new in replacements.items():
        assert old in text, f"deploy/coturn/turnserver.conf no longer has {old!r}: update the test"
        text = text.replace(old, new)
    allowed = "".join(f"allowed-peer-ip={peer}\n" for peer in allowed_peers)  # as documented for a private SFU address
    return text + allowed + f"userdb={folder / 'turndb'}\npidfile={folder / 'turnserver.pid'}\nno-stdout-log\nverbose\n"


@contextlib.contextmanager
def running_coturn(
    folder: Path, secret: str, address: str = "127.0.0.1", allowed_peers: tuple[str, ...] = ()
) -> Iterator[Coturn]:
    """turnserver on ``address`` only (listening and relaying), loopback peers allowed, TLS on a second port."""
    folder.mkdir(parents=True, exist_ok=True)
    port, tls_port = free_port(), free_port()
    cert = make_self_signed(folder / "tls", "turn.test", ips=(address,) if address != "127.0.0.1" else ())
    conf = folder / "turnserver.conf"
    conf.write_text(conf_for_test(secret, port, tls_port, random.randrange(50000, 60000, 100), cert, folder, address, allowed_peers))
    log = folder / "turnserver.log"
    proc = subprocess.Popen(
        [TURNSERVER, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 15
        for wanted in (port, tls_port):
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"turnserver exited with {proc.returncode}: {_tail(log)}")
                with contextlib.suppress(OSError), socket.create_connection((address, wanted), timeout=1):
                    break  # it listens on TCP and UDP together
                if time.monotonic() > deadline:
                    raise RuntimeError(f"turnserver does not listen on {wanted}: {_tail(log)}")
                time.sleep(0.1)
        yield Coturn(port, tls_port, secret, log, cert, address)
    finally:
        stop_server(proc)


def _tail(log: Path) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-20:]) if log.exists() else "(no log)"
