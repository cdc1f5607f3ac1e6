"""The ``[chat]`` section (docs/configuration.md), read by the one settings loader.

- ``rate_per_s`` / ``burst``: each participant may send ``burst`` messages at once, then
  ``rate_per_s`` a second (a token bucket); beyond that ``rate_limited``. Shared links
  count; file uploads are limited by size instead.
- ``max_messages``: per room, every thread together (consultation and waiting-room chats);
  beyond it ``chat_full`` (nothing is dropped silently).
- ``abandoned_after_s``: a transcript nobody ended (the consultation was never ended) is
  deleted by the store itself this long after the room's access window closed.
- ``ad_hoc_expire_s``: the same backstop for rooms the control plane does not know (tokens
  from ``consult-sfu token``), counted from the last message; normally their transcript is
  deleted when their media room closes.

What happens to a transcript at the end is not a server setting: it is the organisation's
``chat_retention`` (``PUT /v1/chat/settings``) or the room's (``settings.chat_retention``),
``delete`` unless someone chose ``hand_over`` (docs/api.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from control.settings import Section


@dataclass(frozen=True)
class ChatConfig:
    rate_per_s: float = 2.0
    burst: int = 8
    max_messages: int = 1000
    abandoned_after_s: float = 3600.0
    ad_hoc_expire_s: float = 12 * 3600.0

    def __post_init__(self) -> None:
        if not 0 < self.rate_per_s <= 1000:
            raise ValueError(f"rate_per_s must be above 0 and at most 1000, got {self.rate_per_s!r}")
        if not 1 <= self.burst <= 10_000:
            raise ValueError(f"burst must be 1 to 10000, got {self.burst!r}")
        if not 1 <= self.max_messages <= 100_000:
            raise ValueError(f"max_messages must be 1 to 100000, got {self.max_messages!r}")
        for name in ("abandoned_after_s", "ad_hoc_expire_s"):
            value = getattr(self, name)
            if not 60 <= value <= 7 * 24 * 3600:
                raise ValueError(f"{name} must be 60 to 604800 seconds, got {value!r}")


SECTION = Section("chat", ChatConfig)
