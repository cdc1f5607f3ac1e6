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
    """Build it with the enums, or with :meth:`parse` from plain strings ("blur", "strong", ...)."""

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

    @classmethod
    def parse(
        cls, kind: object, strength: object = "light", org: object = None, image_id: object = None
    ) -> EffectSpec:
        """From untyped values (a JSON request): plain strings in, validated spec out.

        Raises :class:`InvalidEffectSpec` naming the field.
        """
        for field, value in (("org", org), ("image_id", image_id)):
            if value is not None and not isinstance(value, str):
                raise InvalidEffectSpec(f"{field}: must be a string, got {type(value).__name__}")
        return cls(
            kind=_member(EffectKind, "kind", kind),
            strength=_member(BlurStrength, "strength", strength),
            org=org if isinstance(org, str) else None,
            image_id=image_id if isinstance(image_id, str) else None,
        )

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
