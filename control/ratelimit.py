"""Rate limits: REST requests per API key, joins per join token and per client address.

Pure (no aiohttp): the settings loader imports the section's dataclass for every command.

Token buckets, sans-I/O (``now`` passed in): ``burst`` at once, then ``per_minute`` spread
over the minute. A refusal says how many seconds until the next one is allowed, which the
edge turns into ``429`` with ``Retry-After`` (REST, and the WebSocket upgrade refused per
address) or a ``rate_limited`` error on the socket (a join refused per token: the token is
only known from the join message, after the upgrade; the server then closes the socket). Limits are per process: a node with N workers allows up to N times as much in total.

The buckets are kept for the most recently seen keys only (``max_keys`` per limit, the
least recently used forgotten first), so a flood of addresses cannot grow memory. The
address is the client's as ``server.trusted_proxies`` makes it out (control/forwarded.py);
addresses in ``exempt_networks`` (loopback by default: the tests and load tests) are never
limited per address.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
from collections import OrderedDict
from dataclasses import dataclass


@dataclass(frozen=True)
class LimitsConfig:
    """The ``[limits]`` section (0 in a ``per_minute``: no limit)."""

    api_requests_per_minute: float = 1200.0
    api_burst: int = 200
    joins_per_token_per_minute: float = 6.0
    joins_per_token_burst: int = 10
    joins_per_address_per_minute: float = 120.0
    joins_per_address_burst: int = 60
    exempt_networks: tuple[str, ...] = ("127.0.0.0/8", "::1/128")
    max_keys: int = 100_000

    def __post_init__(self) -> None:
        for name in ("api_requests_per_minute", "joins_per_token_per_minute", "joins_per_address_per_minute"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be 0 (no limit) or more, got {getattr(self, name)!r}")
        for name in ("api_burst", "joins_per_token_burst", "joins_per_address_burst", "max_keys"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)!r}")
        for network in self.exempt_networks:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                raise ValueError(f"exempt_networks: {network!r} is not a network like 127.0.0.0/8") from None


class KeyedLimiter:
    """One token bucket per key."""

    def __init__(self, per_minute: float, burst: int, max_keys: int = 100_000) -> None:
        self.rate_per_s = per_minute / 60.0
        self.burst = burst
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, at)
        self.rejected = 0

    def take(self, key: str, now: float) -> float:
        """Spend one: 0.0 when allowed, else the seconds until the next is allowed."""
        if self.rate_per_s <= 0:
            return 0.0
        tokens, at = self._buckets.pop(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + max(0.0, now - at) * self.rate_per_s)
        wait = 0.0
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) / self.rate_per_s
            self.rejected += 1
        self._buckets[key] = (tokens, max(at, now))
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        return wait


def retry_after(wait_s: float) -> str:
    """``Retry-After`` in whole seconds, never 0 for a refusal."""
    return str(max(1, math.ceil(wait_s)))


class Limits:
    """The server's limits (one per process)."""

    def __init__(self, config: LimitsConfig) -> None:
        self.config = config
        self.api = KeyedLimiter(config.api_requests_per_minute, config.api_burst, config.max_keys)
        self.join_token = KeyedLimiter(config.joins_per_token_per_minute, config.joins_per_token_burst, config.max_keys)
        self.join_address = KeyedLimiter(config.joins_per_address_per_minute, config.joins_per_address_burst, config.max_keys)
        self._exempt = [ipaddress.ip_network(n, strict=False) for n in config.exempt_networks]

    def api_request(self, key_id: str, now: float) -> float:
        return self.api.take(key_id, now)

    def join_with_token(self, token: str, now: float) -> float:
        # the bucket is keyed by a digest: tokens are secrets, not kept in memory longer than needed
        return self.join_token.take(hashlib.sha256(token.encode()).hexdigest()[:32], now)

    def join_from(self, address: str, now: float) -> float:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            ip = None
        if ip is not None and any(ip in network for network in self._exempt):
            return 0.0
        return self.join_address.take(address, now)

    def rejections(self) -> dict[str, int]:
        """Refusals so far, per limit (for /metrics)."""
        return {"api": self.api.rejected, "join_token": self.join_token.rejected, "join_address": self.join_address.rejected}

