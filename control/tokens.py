"""Join tokens: signed JWTs (HS256) that let one person into one room.

Claims: ``room``, ``sub`` (identity), ``name``, ``role``, ``iat``, ``exp`` and
``aud`` = ``consult-sfu``. Extra claims (e.g. ``org``) pass through untouched.
The token goes in the URL fragment (``/room/<room>#token=...``) so it never
reaches a proxy's access log.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import jwt

from control.domain.roles import ROLES

AUDIENCE = "consult-sfu"
DEFAULT_TTL_S = 4 * 3600


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
    if not room:
        raise ValueError("room must not be empty")
    if not identity:
        raise ValueError("identity must not be empty")
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


def verify(secret: str, token: str, *, now: float | None = None) -> JoinClaims:
    """Check signature, audience, expiry and the claims' shape."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            audience=AUDIENCE,
            # expiry is checked below against ``now`` (tests and clocks pass it in); iat is
            # informational: a token issued by a platform whose clock runs ahead stays usable
            options={"require": ["exp", "room", "sub", "role"], "verify_exp": False, "verify_iat": False},
        )
    except jwt.InvalidTokenError as exc:
        raise TokenError("invalid_token", f"join token rejected: {exc}") from None
    current = time.time() if now is None else now
    if not isinstance(claims.get("exp"), int | float) or claims["exp"] <= current:
        raise TokenError("token_expired", "join token has expired; ask for a new link")
    for key in ("room", "sub", "role"):
        if not isinstance(claims.get(key), str) or not claims[key]:
            raise TokenError("invalid_token", f"join token claim '{key}' must be a non-empty string")
    if claims["role"] not in ROLES:
        raise TokenError("invalid_token", f"join token role {claims['role']!r} is not one of {', '.join(ROLES)}")
    name = claims.get("name") if isinstance(claims.get("name"), str) else claims["sub"]
    known = {"room", "sub", "name", "role", "iat", "exp", "aud"}
    return JoinClaims(
        room=claims["room"],
        identity=claims["sub"],
        name=name or claims["sub"],
        role=claims["role"],
        expires_at=float(claims["exp"]),
        extra={k: v for k, v in claims.items() if k not in known},
    )


def join_url(public_url: str, room: str, token: str) -> str:
    return f"{public_url.rstrip('/')}/room/{quote(room, safe='')}#token={token}"
