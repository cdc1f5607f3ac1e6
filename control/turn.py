"""TURN credentials per participant: coturn's shared-secret REST scheme.

coturn with ``use-auth-secret`` and ``static-auth-secret=<secret>`` accepts a username
``<expiry unix time>:<anything>`` whose password is base64(HMAC-SHA1(secret, username)), until
that time (it checks on every allocation and refresh). So each participant gets its own
credential in ``joined.ice_servers``, valid ``ttl_s`` from the join; nobody holds a password
that works for everyone or for ever, and nothing needs to be stored or revoked. The part after
the colon is the participant's id (opaque, no name), so coturn's log ties an allocation to a
participant without telling who they are.

``[turn]`` is for credentials minted here; a static TURN/STUN entry (another provider's) can
still go in ``ice.servers``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

#: "A few hours": longer than any consultation, short enough that a leaked one soon dies.
DEFAULT_TTL_S = 6 * 3600


@dataclass(frozen=True)
class TurnConfig:
    #: coturn's static-auth-secret; empty: no TURN credentials are handed out
    secret: str = ""
    #: TURN URLs given to browsers, e.g. turn:turn.example.org:3478?transport=udp, turns:turn.example.org:443?transport=tcp
    urls: tuple[str, ...] = ()
    #: validity of a participant's credential from its join (seconds)
    ttl_s: int = DEFAULT_TTL_S

    def __post_init__(self) -> None:
        if self.ttl_s < 60:
            raise ValueError(f"ttl_s must be at least 60 (seconds), got {self.ttl_s}")
        for url in self.urls:
            if not url.startswith(("turn:", "turns:")):
                raise ValueError(f"urls: {url!r} is not a turn: or turns: URL")
        if self.secret and not self.urls:
            raise ValueError("urls must name at least one turn: or turns: URL when secret is set")
        if self.urls and not self.secret:
            raise ValueError("secret is required with urls (coturn's static-auth-secret)")

    @property
    def enabled(self) -> bool:
        return bool(self.secret)


def credential(secret: str, username: str) -> str:
    """coturn's REST password for ``username``: base64(HMAC-SHA1(secret, username))."""
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def ice_server(config: TurnConfig, user: str, now: float) -> dict[str, Any]:
    """The RTCIceServer entry of one participant, valid until ``now + ttl_s``."""
    username = f"{int(now) + config.ttl_s}:{user}"
    return {"urls": list(config.urls), "username": username, "credential": credential(config.secret, username)}
