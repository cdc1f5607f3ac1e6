"""Signatures between the workers of a cluster, and for the operator's admin requests.

Every node shares ``server.secret`` (join tokens must verify on any node), so the cluster
key is derived from it: HMAC-SHA256(secret, "consult-sfu cluster v1"). A forwarded
WebSocket carries the entrance's worker id, the client's address and a timestamp, signed
with that key; the owner trusts the client address only from a signed request on its
internal endpoint, so a forged ``X-Consult-Client`` header gets nowhere. Signatures older
than :data:`MAX_SKEW_S` are refused (clocks of the nodes must agree within that; NTP).

Admin requests (``consult-sfu nodes``, ``consult-sfu drain``) are signed the same way with a
key of their own, derived from the same secret, so only whoever holds the secret can drain a
node through its public port.
"""

from __future__ import annotations

import hashlib
import hmac

MAX_SKEW_S = 30.0
HEADER_ENTRANCE = "X-Consult-Entrance"
HEADER_CLIENT = "X-Consult-Client"
HEADER_TIME = "X-Consult-Time"
HEADER_SIGNATURE = "X-Consult-Signature"


def derive_key(secret: str, purpose: str) -> bytes:
    return hmac.new(secret.encode(), f"consult-sfu {purpose} v1".encode(), hashlib.sha256).digest()


def sign(key: bytes, *parts: str) -> str:
    return hmac.new(key, "\n".join(parts).encode(), hashlib.sha256).hexdigest()


def verify(key: bytes, signature: str, timestamp: str, now: float, *parts: str) -> bool:
    """A signature made with ``key`` over (timestamp, *parts), within MAX_SKEW_S of ``now``."""
    try:
        at = float(timestamp)
    except ValueError:
        return False
    if abs(now - at) > MAX_SKEW_S:
        return False
    return hmac.compare_digest(sign(key, timestamp, *parts), signature)


def forward_headers(key: bytes, entrance: str, client: str, now: float) -> dict[str, str]:
    timestamp = f"{now:.3f}"
    return {
        HEADER_ENTRANCE: entrance,
        HEADER_CLIENT: client,
        HEADER_TIME: timestamp,
        HEADER_SIGNATURE: sign(key, timestamp, entrance, client),
    }


def check_forward(key: bytes, headers: dict[str, str], now: float) -> tuple[str, str] | None:
    """(entrance, client address) of a correctly signed forward; None otherwise."""
    entrance = headers.get(HEADER_ENTRANCE, "")
    client = headers.get(HEADER_CLIENT, "")
    ok = verify(key, headers.get(HEADER_SIGNATURE, ""), headers.get(HEADER_TIME, ""), now, entrance, client)
    return (entrance, client) if ok and entrance else None
