"""Join tokens: required claims, bounded lifetime, iat not in the future, bounded room ids and names.

Each case was accepted before issue 13; each must now be refused with ``invalid_token``
(and the message names the claim), while the server's own tokens still pass.
"""

from __future__ import annotations

from typing import Any

import jwt
import pytest

from control.config import load
from control.tokens import AUDIENCE, TokenError, TokensConfig, mint, verify

SECRET = "s" * 40
NOW = 1_800_000_000.0


def signed(**changes: Any) -> str:
    claims: dict[str, Any] = {
        "room": "clinic-7",
        "sub": "pat-1",
        "name": "Ana",
        "role": "client",
        "iat": int(NOW),
        "exp": int(NOW + 3600),
        "aud": AUDIENCE,
    }
    for key, value in changes.items():
        if value is None:
            claims.pop(key)
        else:
            claims[key] = value
    return jwt.encode(claims, SECRET, algorithm="HS256")


def test_a_well_formed_token_passes() -> None:
    claims = verify(SECRET, signed(org="o1"), now=NOW)
    assert (claims.room, claims.identity, claims.name, claims.extra) == ("clinic-7", "pat-1", "Ana", {"org": "o1"})
    assert verify(SECRET, mint(SECRET, room="r", identity="x", now=NOW), now=NOW + 1).name == "x"


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"iat": int(NOW + 3600)}, "'iat' is in the future"),
        ({"exp": int(NOW + 100 * 365 * 86400)}, "'exp' is more than"),
        ({"room": "r" * 5000}, "'room' must match"),
        ({"room": "a/b"}, "'room' must match"),
        ({"sub": "x" * 129}, "'sub' must be 1 to 128"),
        ({"name": "evil\nname"}, "'name' must be 1 to 128"),
        ({"iat": None}, "iat"),
        ({"name": None}, "name"),
        ({"iat": True}, "'iat' must be a number"),
        ({"name": 7}, "'name' must be a non-empty string"),
    ],
)
def test_out_of_bounds_tokens_are_refused(changes: dict[str, Any], words: str) -> None:
    with pytest.raises(TokenError) as refused:
        verify(SECRET, signed(**changes), now=NOW)
    assert refused.value.reason == "invalid_token"
    assert words in refused.value.message


def test_leeway_and_maximum_are_settings() -> None:
    assert verify(SECRET, signed(iat=int(NOW + 30)), now=NOW).identity == "pat-1"  # within 60 s of skew
    week_ahead = signed(exp=int(NOW + 7 * 86400))
    assert verify(SECRET, week_ahead, now=NOW).identity == "pat-1"
    with pytest.raises(TokenError):
        verify(SECRET, week_ahead, now=NOW, config=TokensConfig(max_remaining_s=86400))
    config = load(env={"CONSULT_SFU_TOKENS_MAX_REMAINING_S": "86400", "CONSULT_SFU_TOKENS_IAT_LEEWAY_S": "5"})
    assert config.tokens == TokensConfig(max_remaining_s=86400, iat_leeway_s=5)


def test_mint_refuses_what_verify_would_refuse() -> None:
    with pytest.raises(ValueError, match="room must match"):
        mint(SECRET, room="r" * 65, identity="x")
    with pytest.raises(ValueError, match="identity"):
        mint(SECRET, room="r", identity="a\x00b")


def test_a_token_for_a_later_window_counts_its_lifetime_from_the_opening() -> None:
    """The API's tokens for an appointment weeks ahead reach the lobby (which says too_early)."""
    opens = NOW + 30 * 86400
    later = signed(opens_at=int(opens), exp=int(opens + 2 * 86400))
    assert verify(SECRET, later, now=NOW).identity == "pat-1"
    with pytest.raises(TokenError, match="'exp' is more than"):
        verify(SECRET, signed(opens_at=int(opens), exp=int(opens + 30 * 86400)), now=NOW)
