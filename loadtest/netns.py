"""A private network namespace joined to the tester by a veth pair with a /30 of its own.

Janus 1.1.2 will not use loopback for media (see ../shared/NOTES.md), so it runs in
here: the namespace has only ``lo`` and its end of the veth pair, IPv6 off, no default
route. The tester keeps the other end (first host address of the /30). Everything is
removed on :meth:`Netns.destroy` and, as a last resort, by an ``atexit`` hook.
"""

from __future__ import annotations

import asyncio
import atexit
import ipaddress
import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

_created: set[str] = set()


class NetnsError(Exception):
    """The namespace or its veth pair could not be set up (root needed)."""


def _run(argv: Sequence[str], check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=15)
    if check and proc.returncode != 0:
        raise NetnsError(f"{' '.join(argv)} failed: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc


def _addresses_in_use() -> set[ipaddress.IPv4Address]:
    out = _run(["ip", "-4", "-o", "addr", "show"], check=False).stdout
    found = set()
    for line in out.splitlines():
        parts = line.split()
        if "inet" in parts:
            found.add(ipaddress.IPv4Interface(parts[parts.index("inet") + 1]).ip)
    return found


def pick_subnet(preferred: str) -> ipaddress.IPv4Network:
    """``preferred`` if free, else the next free /30 in the same /24 (parallel runs)."""
    first = ipaddress.IPv4Network(preferred, strict=True)
    if first.prefixlen != 30 or not first.is_private:
        raise NetnsError("--janus-subnet must be a private /30, e.g. 10.203.0.0/30")
    used = _addresses_in_use()
    for net in ipaddress.IPv4Network(f"{first.network_address}/24", strict=False).subnets(new_prefix=30):
        if net < first:
            continue
        if not any(h in used for h in net.hosts()):
            return net
    raise NetnsError(f"no free /30 left after {preferred}")


@dataclass
class Netns:
    name: str
    host_if: str
    ns_if: str
    network: ipaddress.IPv4Network

    @property
    def host_ip(self) -> str:
        return str(self.network.network_address + 1)

    @property
    def ns_ip(self) -> str:
        return str(self.network.network_address + 2)

    @classmethod
    def for_this_process(cls, preferred_subnet: str) -> Netns:
        tag = f"{os.getpid() % 10_000_000}"
        return cls(f"loadtest-{tag}", f"lt{tag}h", f"lt{tag}n", pick_subnet(preferred_subnet))

    def _create(self) -> None:
        if os.geteuid() != 0:
            raise NetnsError("the janus target needs root (ip netns)")
        _created.add(self.name)
        prefix = self.network.prefixlen
        for argv in (
            ["ip", "netns", "add", self.name],
            ["ip", "link", "add", self.host_if, "type", "veth", "peer", "name", self.ns_if],
            ["ip", "link", "set", self.ns_if, "netns", self.name],
            ["sysctl", "-q", "-w", f"net.ipv6.conf.{self.host_if}.disable_ipv6=1"],
            ["ip", "addr", "add", f"{self.host_ip}/{prefix}", "dev", self.host_if],
            ["ip", "link", "set", self.host_if, "up"],
            ["ip", "netns", "exec", self.name, "sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1"],
            ["ip", "netns", "exec", self.name, "sysctl", "-q", "-w", "net.ipv6.conf.default.disable_ipv6=1"],
            ["ip", "-n", self.name, "addr", "add", f"{self.ns_ip}/{prefix}", "dev", self.ns_if],
            ["ip", "-n", self.name, "link", "set", self.ns_if, "up"],
            ["ip", "-n", self.name, "link", "set", "lo", "up"],
        ):
            _run(argv)

    async def create(self) -> None:
        try:
            await asyncio.to_thread(self._create)
        except BaseException:
            await self.destroy()
            raise

    def exec_prefix(self) -> list[str]:
        return ["ip", "netns", "exec", self.name]

    async def destroy(self) -> None:
        await asyncio.to_thread(_destroy, self.name, self.host_if)


def _destroy(name: str, host_if: str) -> None:
    _run(["ip", "netns", "del", name], check=False)  # takes the namespace's veth end along
    _run(["ip", "link", "del", host_if], check=False)
    _created.discard(name)


@atexit.register
def _emergency_cleanup() -> None:
    for name in list(_created):
        tag = name.removeprefix("loadtest-")
        _destroy(name, f"lt{tag}h")
