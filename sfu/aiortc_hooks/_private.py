"""How the hooks read aiortc's private state: loudly, never with a silent default."""

from __future__ import annotations

from typing import Any


class HookError(RuntimeError):
    """aiortc, aioice or pylibsrtp no longer looks the way these hooks expect (an upgrade)."""


RECEIVER = "_RTCRtpReceiver__"
SENDER = "_RTCRtpSender__"


def private(obj: object, prefix: str, name: str) -> Any:
    """``obj.<prefix><name>`` (a name-mangled attribute); HookError when it is gone."""
    try:
        return getattr(obj, prefix + name)
    except AttributeError:
        raise HookError(
            f"private attribute {prefix}{name} of {type(obj).__name__} is gone; check sfu/aiortc_hooks/"
        ) from None
