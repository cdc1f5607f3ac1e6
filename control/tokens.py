"""Join tokens: signed JWTs (HS256) that let one person into one room.

Claims, all required: ``room``, ``sub`` (identity), ``name``, ``role``, ``iat``,
``exp`` and ``aud`` = ``consult-sfu``. Extra claims (e.g. ``org``) pass through
untouched. The token goes in the URL fragment (``/room/<room>#token=...``) so it
never reaches a proxy's access log.

Bounds (``[tokens]``, :class:`TokensConfig`): ``iat`` no more than ``iat_leeway_s``
ahead of the server's clock; ``exp`` no more than ``max_remaining_s`` ahead of the
moment the token is used, or of its optional ``opens_at`` claim when that is later (the
API's tokens carry their room's window opening, so a link opened weeks early still gets
``too_early`` from the lobby, while a token valid for a century is refused); room ids
follow the REST API's name rule and identities/names its text-id rule.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import jwt

from control.domain.names import NAME_PATTERN, TEXT_ID_MAX, TEXT_ID_PATTERN
from control.domain.roles import ROLES

AUDIENCE = "consult-sfu"
DEFAULT_TTL_S = 4 * 3600
REQUIRED_CLAIMS = ("room", "sub", "name", "role", "iat", "exp", "aud")
_ROOM_RE = re.compile(NAME_PATTERN)
_TEXT_RE = re.compile(TEXT_ID_PATTERN)
_TEXT_MAX = TEXT_ID_MAX


@dataclass(frozen=True)
class TokensConfig:
    """``[tokens]``: how far a join token may reach into the future."""

    #: a token whose ``exp`` is further ahead than this when it is used is refused: the
    #: API's tokens end 24 h after their room's access window, so this allows windows of 7 days
    max_remaining_s: float = 8 * 24 * 3600.0
    #: how far ``iat`` may be ahead of the server's clock (clock skew of the issuer)
    iat_leeway_s: float = 60.0

    def __post_init__(self) -> None:
        if not 60 <= self.max_remaining_s <= 366 * 24 * 3600:
            raise ValueError(f"max_remaining_s must be 60 to 31622400 seconds (a year), got {self.max_remaining_s!r}")
        if not 0 <= self.iat_leeway_s <= 3600:
            raise ValueError(f"iat_leeway_s must be 0 to 3600 seconds, got {self.iat_leeway_s!r}")


class TokenError(Exception):
    """A token that cannot be used; ``reason`` is stable: invalid_token, token_expired."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class JoinClaims:
    room: str
    identity: str
    name: str
    role: str
    expires_at: float
    extra: dict[str, Any] = field(default_factory=dict)


def mint(
    secret: str,
    *,
    room: str,
    identity: str,
    name: str | None = None,
    role: str = "client",
    ttl_s: float = DEFAULT_TTL_S,
    now: float | None = None,
    extra: dict[str, Any] | None = None,
) -> str:
    if not _ROOM_RE.match(room):
        raise ValueError(f"room must match {NAME_PATTERN}, got {room[:80]!r}")
    for what, text in (("identity", identity), ("name", name or identity)):
        if len(text) > _TEXT_MAX or not _TEXT_RE.match(text):
            raise ValueError(f"{what} must be 1 to {_TEXT_MAX} characters without control characters")
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    issued = time.time() if now is None else now
    claims: dict[str, Any] = dict(extra or {})
    claims.update(
        room=room,
        sub=identity,
        name=name or identity,
        role=role,
        iat=int(issued),
        exp=int(issued + ttl_s),
        aud=AUDIENCE,
    )
    return jwt.encode(claims, secret, algorithm="HS256")


def verify(secret: str, token: str, *, now: float | None = None, config: TokensConfig | None = None) -> JoinClaims:
    """Check signature, audience, the required claims, their shapes and the time bounds."""
    bounds = config or TokensConfig()
    if len(token) > 8192:
        raise TokenError("invalid_token", "join token is longer than 8192 characters")
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            audience=AUDIENCE,
            # times are checked below against ``now`` (tests and clocks pass it in)
            options={"require": list(REQUIRED_CLAIMS), "verify_exp": False, "verify_iat": False},
        )
    except jwt.InvalidTokenError as exc:
        raise TokenError("invalid_token", f"join token rejected: {exc}") from None
    current = time.time() if now is None else now
    for key in ("iat", "exp"):
        if isinstance(claims[key], bool) or not isinstance(claims[key], int | float):
            raise TokenError("invalid_token", f"join token claim '{key}' must be a number (unix seconds)")
    if claims["exp"] <= current:
        raise TokenError("token_expired", "join token has expired; ask for a new link")
    if claims["iat"] > current + bounds.iat_leeway_s:
        raise TokenError("invalid_token", "join token claim 'iat' is in the future; check the issuer's clock")
    opens_at = claims.get("opens_at", current)
    if isinstance(opens_at, bool) or not isinstance(opens_at, int | float):
        raise TokenError("invalid_token", "join token claim 'opens_at' must be a number (unix seconds)")
    if claims["exp"] - max(current, opens_at) > bounds.max_remaining_s:
        raise TokenError(
            "invalid_token", f"join token claim 'exp' is more than {bounds.max_remaining_s:.0f} s ahead; tokens must be short-lived"
        )
    for key in ("room", "sub", "name", "role"):
        if not isinstance(claims[key], str) or not claims[key]:
            raise TokenError("invalid_token", f"join token claim '{key}' must be a non-empty string")
    if not _ROOM_RE.match(claims["room"]):
        raise TokenError("invalid_token", f"join token claim 'room' must match {NAME_PATTERN}")
    for key in ("sub", "name"):
        if len(claims[key]) > _TEXT_MAX or not _TEXT_RE.match(claims[key]):
            raise TokenError("invalid_token", f"join token claim '{key}' must be 1 to {_TEXT_MAX} characters, no control characters")
    if claims["role"] not in ROLES:
        raise TokenError("invalid_token", f"join token role {claims['role']!r} is not one of {', '.join(ROLES)}")
    known = {*REQUIRED_CLAIMS, "opens_at"}
    return JoinClaims(
        room=claims["room"],
        identity=claims["sub"],
        name=claims["name"],
        role=claims["role"],
        expires_at=float(claims["exp"]),
        extra={k: v for k, v in claims.items() if k not in known},
    )


def join_url(public_url: str, room: str, token: str) -> str:
    return f"{public_url.rstrip('/')}/room/{quote(room, safe='')}#token={token}"
