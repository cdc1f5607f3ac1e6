"""Announced addresses separate from bind addresses (issue 16, item 3)."""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from control import config as config_module
from control.config import ConfigError
from control.tokens import mint
from tests.reach.processes import SECRET, serve


def test_announced_addresses_from_the_environment() -> None:
    config = config_module.load(
        None, env={"CONSULT_SFU_ICE_HOST_ADDRESSES": "10.0.0.5", "CONSULT_SFU_ICE_ANNOUNCED_ADDRESSES": "203.0.113.7"}
    )
    assert config.sfu.ice.announced() == ("203.0.113.7",)
    with pytest.raises(ConfigError, match=r"^ice\.announced_addresses: '203\.0\.113\.7=198\.51\.100\.1': 203\.0\.113\.7 is not one of"):
        config_module.load(None, env={"CONSULT_SFU_ICE_HOST_ADDRESSES": "10.0.0.5", "CONSULT_SFU_ICE_ANNOUNCED_ADDRESSES": "203.0.113.7=198.51.100.1"})


# --------------------------------------------------------------- a 1:1 NAT in a network namespace

ROOT = str(Path(__file__).resolve().parents[2])
PUBLIC = "198.18.0.1"  # RFC 2544 benchmarking range: never routed anywhere


@dataclass(frozen=True)
class NatNamespace:
    name: str
    server: str  # the server's private address (host side of the veth pair)


def _run(*argv: str, stdin: str | None = None) -> None:
    subprocess.run(argv, check=True, input=stdin, text=True, capture_output=True, timeout=20)


@pytest.fixture
def nat_namespace() -> Iterator[NatNamespace]:
    """A namespace that reaches the server's UDP through its public address only (1:1 NAT).

    A veth pair joins it to the machine (/30, no default route, no IPv6); nftables in the
    namespace maps PUBLIC to the server's private address and back, and drops UDP sent to the
    private address directly. TCP (the signalling) reaches the private address as it is.
    """
    if os.geteuid() != 0 or shutil.which("nft") is None:
        pytest.skip("needs root (ip netns) and nftables")
    tag = f"{os.getpid() % 10000}{random.randrange(100)}"
    name, host_if, ns_if = f"reach-{tag}", f"rh{tag}", f"rn{tag}"
    octet = random.randrange(0, 63) * 4
    server = f"10.231.{random.randrange(256)}.{octet + 1}"
    peer = server.rsplit(".", 1)[0] + f".{octet + 2}"
    try:
        _run("ip", "netns", "add", name)
        _run("ip", "link", "add", host_if, "type", "veth", "peer", "name", ns_if)
        _run("ip", "link", "set", ns_if, "netns", name)
        _run("sysctl", "-q", "-w", f"net.ipv6.conf.{host_if}.disable_ipv6=1")
        _run("ip", "addr", "add", f"{server}/30", "dev", host_if)
        _run("ip", "link", "set", host_if, "up")
        _run("ip", "netns", "exec", name, "sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1")
        _run("ip", "-n", name, "addr", "add", f"{peer}/30", "dev", ns_if)
        _run("ip", "-n", name, "link", "set", ns_if, "up")
        _run("ip", "-n", name, "link", "set", "lo", "up")
        _run("ip", "-n", name, "route", "add", f"{PUBLIC}/32", "dev", ns_if)
        rules = f"""table ip one_to_one {{
  chain out_nat {{ type nat hook output priority -100; ip daddr {PUBLIC} dnat to {server}; }}
  chain in_nat {{ type nat hook input priority 100; ip saddr {server} snat to {PUBLIC}; }}
  chain out_filter {{ type filter hook output priority 0; meta l4proto udp ip daddr {server} ct original ip daddr {server} drop; }}
}}
"""
        _run("ip", "netns", "exec", name, "nft", "-f", "-", stdin=rules)
    except (subprocess.CalledProcessError, OSError) as exc:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)
        subprocess.run(["ip", "link", "del", host_if], capture_output=True)
        detail = exc.stderr if isinstance(exc, subprocess.CalledProcessError) else exc
        pytest.skip(f"cannot build the namespace on this machine: {detail}")
    try:
        yield NatNamespace(name, server)
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)
        subprocess.run(["ip", "link", "del", host_if], capture_output=True)


@pytest.mark.long
async def test_peer_behind_the_nat_reaches_the_announced_address_only(tmp_path: Path, nat_namespace: NatNamespace) -> None:
    env = {
        "CONSULT_SFU_ICE_HOST_ADDRESSES": nat_namespace.server,
        "CONSULT_SFU_ICE_ANNOUNCED_ADDRESSES": PUBLIC,
        "CONSULT_SFU_ICE_REMOTE_NETWORKS": f"{nat_namespace.server}/30",
    }
    async with serve(tmp_path, workers=1, env=env, host=nat_namespace.server) as served:
        token = mint(SECRET, room="echo", identity="far", name="Far", role="guest", ttl_s=600, extra={"echo": True})
        argv = ["ip", "netns", "exec", nat_namespace.name, sys.executable, "-m", "tests.reach.ns_peer", served.ws_url, token]
        proc = await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env={**os.environ, "PYTHONPATH": ROOT}
        )
        out, err = await asyncio.wait_for(proc.communicate(), 120)
        assert proc.returncode == 0, err.decode()[-3000:] + "\n" + served.log_tail()
        result = json.loads(out.decode().strip().splitlines()[-1])
    # The server told the peer its public address only, and media went there (and back):
    # without the announced address the peer would still connect, but only through a
    # peer-reflexive candidate learnt from the server's own checks (what a browser behind a
    # stricter NAT or firewall cannot count on), so the nominated pair is checked too.
    assert result.get("server_candidates") == [PUBLIC], result
    assert result["frames"] >= 20, result
    assert result["nominated"] and all(n == {"type": "host", "host": PUBLIC} for n in result["nominated"]), result
