"""What effect a publisher asked for: a small frozen value, validated on construction.

The control API builds one from the publisher's request (after checking the room's
"background effects allowed" policy) and hands it to :class:`effects.transform.BackgroundEffect`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from effects.errors import InvalidEffectSpec


class EffectKind(StrEnum):
    NONE = "none"
    BLUR = "blur"
    IMAGE = "image"


class BlurStrength(StrEnum):
    LIGHT = "light"
    STRONG = "strong"


@dataclass(frozen=True)
class EffectSpec:
    """``kind`` and ``strength`` accept the plain strings ("blur", "strong", ...)."""

    kind: EffectKind
    strength: BlurStrength = BlurStrength.LIGHT
    #: Organisation owning the replacement image (kind "image").
    org: str | None = None
    image_id: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", _member(EffectKind, "kind", self.kind))
        object.__setattr__(self, "strength", _member(BlurStrength, "strength", self.strength))
        if self.kind is EffectKind.IMAGE:
            if not isinstance(self.org, str) or not self.org:
                raise InvalidEffectSpec("org: required (a non-empty string) when kind is 'image'")
            if not isinstance(self.image_id, str) or not self.image_id:
                raise InvalidEffectSpec("image_id: required (a non-empty string) when kind is 'image'")

    @property
    def name(self) -> str:
        """Short name for stats and logs: ``none``, ``blur:strong``, ``image:<id>``."""
        if self.kind is EffectKind.BLUR:
            return f"blur:{self.strength.value}"
        if self.kind is EffectKind.IMAGE:
            return f"image:{self.image_id}"
        return "none"


_E = TypeVar("_E", bound=StrEnum)


def _member(enum: type[_E], field: str, value: object) -> _E:
    if isinstance(value, enum):
        return value
    if isinstance(value, str) and value in enum._value2member_map_:
        return enum(value)
    allowed = ", ".join(repr(m.value) for m in enum)
    raise InvalidEffectSpec(f"{field}: must be one of {allowed}, got {value!r}")
