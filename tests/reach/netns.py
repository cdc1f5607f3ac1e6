"""Network namespaces made by the reachability tests: a veth pair with a private /30 (no default
route, no IPv6) and nftables rules inside the namespace; a peer runs there (tests/reach/ns_peer.py)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = str(Path(__file__).resolve().parents[2])


@dataclass(frozen=True)
class Namespace:
    name: str
    server: str  # host side of the veth pair (where the test's servers listen)
    peer: str  # namespace side


def _run(*argv: str, stdin: str | None = None) -> None:
    subprocess.run(argv, check=True, input=stdin, text=True, capture_output=True, timeout=20)


@contextlib.contextmanager
def namespace(rules: Callable[[str, str], str], routes: tuple[str, ...] = ()) -> Iterator[Namespace]:
    """``rules(server, peer)``: the nftables ruleset loaded in the namespace; ``routes``: extra
    destinations (``x.x.x.x/32``) sent over the veth. Skips the test where namespaces cannot be made."""
    if os.geteuid() != 0 or shutil.which("nft") is None:
        pytest.skip("needs root (ip netns) and nftables")
    tag = f"{os.getpid() % 10000}{random.randrange(100)}"
    name, host_if, ns_if = f"reach-{tag}", f"rh{tag}", f"rn{tag}"
    octet = random.randrange(0, 63) * 4
    prefix = f"10.231.{random.randrange(256)}"
    server, peer = f"{prefix}.{octet + 1}", f"{prefix}.{octet + 2}"
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
        for route in routes:
            _run("ip", "-n", name, "route", "add", route, "dev", ns_if)
        _run("ip", "netns", "exec", name, "nft", "-f", "-", stdin=rules(server, peer))
    except (subprocess.CalledProcessError, OSError) as exc:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)
        subprocess.run(["ip", "link", "del", host_if], capture_output=True)
        detail = exc.stderr if isinstance(exc, subprocess.CalledProcessError) else exc
        pytest.skip(f"cannot build the namespace on this machine: {detail}")
    try:
        yield Namespace(name, server, peer)
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)
        subprocess.run(["ip", "link", "del", host_if], capture_output=True)


async def run_peer(ns: Namespace, ws_url: str, token: str, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """tests/reach/ns_peer.py inside the namespace; its JSON result."""
    argv = ["ip", "netns", "exec", ns.name, sys.executable, "-m", "tests.reach.ns_peer", ws_url, token, *args]
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env={**os.environ, "PYTHONPATH": ROOT, **(env or {})}
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    if proc.returncode != 0:
        raise AssertionError(f"the peer in the namespace failed ({proc.returncode}):\n{err.decode()[-3000:]}")
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return result
