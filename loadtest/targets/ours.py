"""Adapter for consult-sfu itself, over the documented wire protocol only.

The tester starts ``consult-sfu serve`` on a free loopback port (or uses ``--url``),
mints join tokens itself with PyJWT from the documented claims, and speaks the
signalling protocol through ``signalling.codec`` / ``signalling.messages``. Packets
forwarded come from the server's ``/metrics`` (consult_sfu_rtp_packets_forwarded_total).
"""

from __future__ import annotations

import os
import secrets
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import jwt

from loadtest.procs import ManagedProcess
from loadtest.safety import LOOPBACK, Network, UnsafeTargetError, check_url
from loadtest.targets.base import Participant, PeerContext, Target, TargetError
from loadtest.targets.ours_session import OursParticipant
from loadtest.targets.util import free_port, wait_http_ok

AUDIENCE = "consult-sfu"
TOKEN_TTL_S = 3600
FORWARDED_METRIC = "consult_sfu_rtp_packets_forwarded_total"


def mint_token(secret: str, room: str, identity: str, role: str) -> str:
    now = int(time.time())
    claims = {"room": room, "sub": identity, "name": identity, "role": role, "iat": now,
              "exp": now + TOKEN_TTL_S, "aud": AUDIENCE}
    return jwt.encode(claims, secret, algorithm="HS256")


class OursTarget(Target):
    name = "ours"

    def __init__(
        self, run_dir: Path, cpu: int | None = None, *, url: str | None = None, secret: str | None = None,
        server_pid: int | None = None, role: str = "practitioner", workers: int = 1, label: str = "ours",
        udp_port: int = 0,
    ) -> None:
        self.name = label
        #: ``serve --workers N`` (1: one process, as before the cluster; more: a supervisor, N
        #: worker processes and a private redis-server, all measured as one process tree)
        self.workers = workers
        #: ice.udp_port of the server we start (0: a UDP port per connection)
        self.udp_port = udp_port
        self.run_dir = run_dir
        self.cpu = cpu if url is None else None  # a server we did not start is not ours to pin
        self.url = url
        self.secret_given = secret is not None
        self.secret = secret or secrets.token_urlsafe(32)
        self.given_pid = server_pid
        self.role = role
        self.process: ManagedProcess | None = None
        self.http: aiohttp.ClientSession | None = None
        self.http_url = ""

    @property
    def networks(self) -> Sequence[Network]:
        return [LOOPBACK]

    @property
    def host_addresses(self) -> Sequence[str]:
        return ["127.0.0.1"]

    @property
    def ws_url(self) -> str:
        scheme = "wss" if self.http_url.startswith("https") else "ws"
        return scheme + self.http_url[self.http_url.index(":"):] + "/ws"

    async def start(self) -> None:
        if self.url is not None:
            if not self.secret_given:
                raise TargetError("--url needs --secret (the server's CONSULT_SFU_SECRET)")
            parts = urlsplit(check_url(self.url, self.networks))
            scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
            self.http_url = urlunsplit((scheme, parts.netloc, "", "", "")).rstrip("/")
        else:
            port = free_port()
            self.http_url = f"http://127.0.0.1:{port}"
            env = dict(os.environ)
            env.update(CONSULT_SFU_SECRET=self.secret, CONSULT_SFU_ICE_HOST_ADDRESSES="127.0.0.1",
                       CONSULT_SFU_DATA_DIR=str(self.run_dir / "ours-data"))
            if self.udp_port:
                env["CONSULT_SFU_UDP_PORT"] = str(self.udp_port)
            executable = Path(sys.executable).parent / "consult-sfu"
            self.process = ManagedProcess(
                [str(executable), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(self.workers)],
                log_path=self.run_dir / "ours.log", env=env, cpu=self.cpu,
            )
            self.process.start()
        # a supervisor answers once every worker has started (fresh interpreters, one by one on a busy machine)
        await wait_http_ok(f"{self.http_url}/healthz", self.process, timeout_s=20.0 if self.workers == 1 else 90.0)
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))

    async def stop(self) -> None:
        if self.http is not None:
            await self.http.close()
            self.http = None
        if self.process is not None:
            await self.process.stop()

    def server_pid(self) -> int | None:
        return self.process.pid if self.process is not None else self.given_pid

    async def packets_forwarded(self) -> int | None:
        if self.http is None:
            return None
        try:
            async with self.http.get(f"{self.http_url}/metrics") as resp:
                text = await resp.text()
        except (aiohttp.ClientError, OSError, TimeoutError):
            return None
        total = None
        for line in text.splitlines():
            if line.startswith(FORWARDED_METRIC):
                total = (total or 0) + int(float(line.split()[-1]))
        return total

    def participant(self, room: str, ctx: PeerContext) -> Participant:
        if not self.http_url:
            raise UnsafeTargetError("ours target is not started")
        token = mint_token(self.secret, room, ctx.identity, self.role)
        return OursParticipant(self.ws_url, token, ctx)
