"""Background-effects messages of the signalling protocol (v1), see docs/effects.md.

Client -> server:

- ``set_effect`` turns the sender's own camera effect on or off: ``kind`` "none", "blur"
  (``strength`` "light" or "strong", default light) or "image" (``image_id`` from the
  ``backgrounds`` list). Refused with ``policy`` when the room forbids background effects,
  ``unavailable`` when the server has no segmentation model, ``not_found`` when the sender
  publishes no camera or the image does not exist. The reply is ``effect_state`` (same ``id``).

Server -> client:

- ``effect_state``: a participant's camera effect changed (sent to everyone in the room, so
  pages can show an indicator; the publisher gets it too, echoing its request's ``id``).
- ``effect_previous``: sent after ``joined`` when the room asks again on every join
  (``effects_ask_again``) and this identity chose an effect before: the page asks whether to
  re-apply it before the consultation starts (and sends ``set_effect`` if so).
- ``backgrounds``: the organisation's background images, sent after ``joined``;
  ``thumbnail_url`` is relative to the server (``backgrounds/<org>/<image_id>/thumb.jpg``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from signalling.codec import Message, ProtocolError, message

EffectKindName = Literal["none", "blur", "image"]
BlurStrengthName = Literal["light", "strong"]
MAX_IMAGE_ID_LENGTH = 64


@message("set_effect")
@dataclass(kw_only=True)
class SetEffect(Message):
    kind: EffectKindName
    strength: BlurStrengthName | None = None
    image_id: str | None = None

    def validate(self) -> None:
        if self.kind == "image":
            if not self.image_id:
                raise ProtocolError("missing_field", "field 'image_id' is required when kind is 'image'")
            if len(self.image_id) > MAX_IMAGE_ID_LENGTH:
                raise ProtocolError(
                    "invalid_field", f"field 'image_id' must be at most {MAX_IMAGE_ID_LENGTH} characters"
                )
        elif self.image_id is not None:
            raise ProtocolError("invalid_field", "field 'image_id' is only allowed when kind is 'image'")
        if self.strength is not None and self.kind != "blur":
            raise ProtocolError("invalid_field", "field 'strength' is only allowed when kind is 'blur'")


@message("effect_state", from_server=True)
@dataclass(kw_only=True)
class EffectState(Message):
    participant_id: str
    producer_id: str
    kind: EffectKindName
    strength: BlurStrengthName | None = None
    image_id: str | None = None


@message("effect_previous", from_server=True)
@dataclass(kw_only=True)
class EffectPrevious(Message):
    kind: EffectKindName
    strength: BlurStrengthName | None = None
    image_id: str | None = None


@dataclass(kw_only=True)
class BackgroundImage:
    image_id: str
    name: str
    thumbnail_url: str


@message("backgrounds", from_server=True)
@dataclass(kw_only=True)
class Backgrounds(Message):
    images: list[BackgroundImage] = field(default_factory=list)
