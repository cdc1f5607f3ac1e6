"""Background effects wired into the server: ``install_effects(ctx)`` (one of DEFAULT_FEATURES).

What it adds:

* start-up: :func:`effects.model.check_model` on the ``[effects]`` configuration. A missing
  model is logged at ERROR with its message (which model, where we looked, how to install)
  and the server keeps serving with effects unavailable (``set_effect`` -> ``unavailable``);
* the organisations' background images in the store, shared by every worker and node
  (:class:`control.features.effects.shared.SharedBackgrounds`; each worker keeps a decoded
  cache in its :class:`effects.images.BackgroundImageStore`), on the main app under
  :data:`control.features.effects.api.IMAGES_KEY` (the /v1/backgrounds routes use it), and the
  thumbnails at ``GET /backgrounds/{org}/{image_id}/thumb.jpg`` (no API key: ids are random);
  a listener of the store's events re-sends ``backgrounds`` to an organisation's participants
  on this worker when any worker added or deleted one of its images;
* the ``set_effect`` handler on signalling sessions, and on_joined / on_left bookkeeping.

``set_effect``: refused with ``policy`` when the room's ``background_effects_allowed`` is
False; the sender's camera producer gets a :class:`effects.transform.BackgroundEffect` as its
frame transform (``none`` removes it: back to passthrough, the decoder stops within ~2 s).
While an effect is on, the publisher also receives its own camera from the server (a
consumer of its own producer, fed by the processed rendition): the page shows that stream as
the self view, so the publisher sees what the others see. Everyone in the room gets
``effect_state``.

What is remembered: the last choice per (organisation, identity), in the store
(:class:`control.features.effects.shared.SharedChoices`, forgotten 30 days after the last
choice), so a participant whose next consultation runs on another worker or node gets it
too, for rooms whose ``effects_ask_again`` is on. It is a preference of the person, not
consultation content, so it outlives a consultation; the live state (which producer has
which effect) is per room — on the room's one owner — and registered with the consultation
memory. A store that cannot be reached loses the remembering, never the effect.

Organisation: the join token's ``org`` claim (tokens from the control API carry one; tokens
minted by the CLI have none -> ``"default"``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib.util
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from aiohttp import web

from control import metrics
from control.features.context import FeatureContext
from control.features.effects import api
from control.features.effects.api import IMAGES_KEY, thumbnail_path
from control.features.effects.shared import BACKGROUNDS_CHANGED, SharedBackgrounds, SharedChoices
from control.metrics import Sample
from control.store import StoreError
from control.webhooks import cancel_and_wait
from effects.config import EffectsConfig
from effects.errors import ImageNotFound, InvalidEffectSpec, ModelMissingError
from effects.images import BackgroundImageStore
from effects.model import check_model
from effects.spec import BlurStrength, EffectKind, EffectSpec
from sfu import ProducerId, RoomEvent, TrackUnpublished
from signalling import messages_effects as me
from signalling.codec import Message, ProtocolError
from signalling.session import ParticipantSession, SessionState

if TYPE_CHECKING:  # they bring aiortc: loaded at the first room (sfu/__init__.py)
    from sfu import Participant, Producer, Room

logger = logging.getLogger(__name__)

DEFAULT_ORG = "default"
#: Waits before subscribing to the store's events again after a failure (doubling).
RESUBSCRIBE_MIN_S = 0.5
RESUBSCRIBE_MAX_S = 10.0


@dataclass(frozen=True)
class Choice:
    """What a publisher picked, as sent on the wire."""

    kind: me.EffectKindName
    strength: me.BlurStrengthName | None = None
    image_id: str | None = None

    @classmethod
    def of(cls, spec: EffectSpec) -> Choice:
        if spec.kind is EffectKind.BLUR:
            return cls("blur", strength="strong" if spec.strength is BlurStrength.STRONG else "light")
        if spec.kind is EffectKind.IMAGE:
            return cls("image", image_id=spec.image_id)
        return cls("none")


@dataclass
class _Active:
    """An effect running on a producer."""

    room_id: str
    participant_id: str
    producer_id: str
    choice: Choice
    #: we added the publisher's consumer of its own camera (not so in an echo room, where
    #: the participant receives its own tracks anyway: that leg must stay when we stop)
    self_view: bool


class EffectsFeature:
    """The composition of effects with sessions and rooms (one per server)."""

    def __init__(self, ctx: FeatureContext, config: EffectsConfig) -> None:
        self._ctx = ctx
        self.config = config
        self.images = BackgroundImageStore(config)
        self.shared = SharedBackgrounds(ctx.plane.store, self.images, config)
        self.choices = SharedChoices(ctx.plane.store)
        self.model_path: Path | None = None
        self.unavailable: str | None = None
        self._active: dict[str, _Active] = {}  # producer id -> running effect
        self._transform_module: ModuleType | None = None  # effects.transform, imported at the first effect
        if importlib.util.find_spec("cv2") is None:  # the effects extra is not installed: not an error
            self.unavailable = "background effects are not installed on this server (the effects extra)"
            logger.info("background effects are off: %s (pip install 'consult-sfu[effects]')", self.unavailable)
        else:
            try:
                self.model_path = check_model(config)
            except ModelMissingError as exc:
                self.unavailable = str(exc)
                logger.error("background effects are unavailable: %s", exc)
        self._listener: asyncio.Task[None] | None = None

    # ------------------------------------------------------------ set_effect

    async def on_set_effect(self, session: ParticipantSession, msg: Message) -> None:
        if not isinstance(msg, me.SetEffect):  # registered for 'set_effect' only
            raise ProtocolError("unknown_type", f"message type {msg.type!r} is not handled here")
        if msg.kind != "none" and self.unavailable is None and self._transform_module is None:
            # OpenCV (and mediapipe) at the first effect: ~0.1 s of import, off the event loop,
            # before the session's state is read (it may change meanwhile)
            self._transform_module = await asyncio.to_thread(importlib.import_module, "effects.transform")
        room, participant, context = session.room, session.participant, session.context
        if session.state is not SessionState.JOINED or room is None or participant is None or context is None:
            raise ProtocolError("wrong_state", "'set_effect' is accepted once you are in the consultation")
        if session.settings.get("background_effects_allowed") is False:
            raise ProtocolError("policy", "background effects are switched off for this room")
        producer = _camera_of(participant)
        if producer is None:
            raise ProtocolError("not_found", "you publish no camera: publish it before choosing a background effect")
        org = org_of(session)
        if msg.kind == "none":
            self._switch_off(room, participant, producer)
            choice = Choice("none")
        else:
            if self.unavailable is not None:
                raise ProtocolError("unavailable", self.unavailable)
            try:
                spec = EffectSpec.parse(msg.kind, msg.strength or "light", org=org, image_id=msg.image_id)
                if spec.kind is EffectKind.IMAGE and spec.image_id is not None:
                    await self.shared.get(org, spec.image_id)  # decoded into this worker's cache if new here
                effect = self._transform().BackgroundEffect(spec, self.images, model_path=self.model_path, config=self.config)
            except StoreError:
                raise ProtocolError("unavailable", "background images cannot be read right now; try again in a minute") from None
            except ImageNotFound:
                raise ProtocolError("not_found", f"field 'image_id': no background image {msg.image_id!r} in your organisation") from None
            except InvalidEffectSpec as exc:
                raise ProtocolError("invalid_field", f"field {exc}") from None
            room.set_transform(producer.id, effect)
            before = self._active.get(producer.id)
            # the self view: the processed stream, from the server
            added = room.add_leg(participant.id, producer.id) or (before is not None and before.self_view)
            choice = Choice.of(spec)
            self._active[producer.id] = _Active(room.id, participant.id, producer.id, choice, added)
        self._broadcast(session, producer.id, choice, ref=msg.id)
        await self._remember(org, context.identity, choice)

    def _transform(self) -> ModuleType:
        if self._transform_module is None:  # not reached: on_set_effect imports it first
            self._transform_module = importlib.import_module("effects.transform")
        return self._transform_module

    def _switch_off(self, room: Room, participant: Participant, producer: Producer) -> None:
        active = self._active.pop(producer.id, None)
        if active is None:
            return  # no effect on this camera (every transform is set by this feature)
        if active.self_view:
            room.remove_leg(participant.id, producer.id)
        room.set_transform(producer.id, None)

    def _broadcast(self, session: ParticipantSession, producer_id: str, choice: Choice, ref: str | None) -> None:
        if session.participant_id is None or session.context is None:
            return
        for other in self._ctx.registry.in_room(session.context.room):
            # same media room: echo rooms share the signalling room name "echo"
            if other.state is not SessionState.JOINED or other.room is not session.room:
                continue
            other.send(_state(session.participant_id, producer_id, choice, ref if other is session else None))

    async def _remember(self, org: str, identity: str, choice: Choice) -> None:
        try:
            await self.choices.remember(org, identity, dataclasses.asdict(choice))
        except StoreError as exc:
            logger.warning("effects: could not remember a choice (the effect itself is on): %s", exc)

    async def remembered(self, org: str, identity: str) -> Choice | None:
        try:
            data = await self.choices.recall(org, identity)
        except StoreError as exc:
            logger.warning("effects: could not read a remembered choice: %s", exc)
            return None
        if data is None:
            return None
        try:
            return Choice(kind=data["kind"], strength=data.get("strength"), image_id=data.get("image_id"))
        except (KeyError, TypeError):
            return None

    # ------------------------------------------------------------ joining and leaving

    async def on_joined(self, session: ParticipantSession) -> None:
        context, room = session.context, session.room
        if context is None or room is None:
            return
        org = org_of(session)
        try:
            session.send(await self._backgrounds(org))
        except StoreError as exc:
            logger.warning("effects: background images unavailable for a join: %s", exc)
        for active in self._active.values():
            if active.room_id == room.id:
                session.send(_state(active.participant_id, active.producer_id, active.choice, None))
        allowed = session.settings.get("background_effects_allowed") is not False
        ask = allowed and session.settings.get("effects_ask_again")
        previous = await self.remembered(org, context.identity) if ask else None
        if previous is not None and previous.kind != "none":
            session.send(me.EffectPrevious(kind=previous.kind, strength=previous.strength, image_id=previous.image_id))

    async def _backgrounds(self, org: str) -> me.Backgrounds:
        return me.Backgrounds(
            images=[
                me.BackgroundImage(image_id=i.image_id, name=i.name, thumbnail_url=thumbnail_path(org, i.image_id))
                for i in await self.shared.list(org)
            ]
        )

    async def on_images_changed(self, org: str) -> None:
        """An administrator added or deleted an image (through any worker): this worker's
        participants of the organisation get the new list."""
        sessions = [
            session
            for room in self._ctx.registry.rooms()
            for session in self._ctx.registry.in_room(room)
            if session.state is SessionState.JOINED and org_of(session) == org
        ]
        if not sessions:
            return
        message = await self._backgrounds(org)
        for session in sessions:
            session.send(message)

    async def lifecycle(self, _: web.Application) -> AsyncIterator[None]:
        self._listener = asyncio.create_task(self._listen_forever(), name="effects-events")
        try:
            yield
        finally:
            await cancel_and_wait(self._listener)
            self._listener = None

    async def _listen_forever(self) -> None:
        delay = RESUBSCRIBE_MIN_S
        while True:
            try:
                subscription = await self._ctx.plane.store.subscribe()
            except StoreError as exc:
                logger.warning("effects: store events unavailable (%s); retrying in %.1f s", exc, delay)
            else:
                delay = RESUBSCRIBE_MIN_S
                try:
                    async for event in subscription:
                        if event.name == BACKGROUNDS_CHANGED:
                            try:
                                await self.on_images_changed(event.org)
                            except StoreError as exc:
                                logger.warning("effects: could not re-send background images: %s", exc)
                        del event
                except StoreError as exc:
                    logger.warning("effects: lost store events: %s", exc)
                finally:
                    await subscription.close()
            await asyncio.sleep(delay)
            delay = min(RESUBSCRIBE_MAX_S, delay * 2)

    async def on_left(self, session: ParticipantSession, reason: str) -> None:
        # The producers closed with the participant (their renditions close the effect).
        for producer_id, active in list(self._active.items()):
            if active.participant_id == session.participant_id:
                del self._active[producer_id]

    def on_room_event(self, event: RoomEvent) -> None:
        if isinstance(event, TrackUnpublished):
            self._active.pop(event.producer_id, None)

    def forget_room(self, room_id: str) -> None:
        for producer_id, active in list(self._active.items()):
            if active.room_id == room_id:
                del self._active[producer_id]

    def dump(self) -> dict[str, object]:
        return {
            "model_path": str(self.model_path) if self.model_path else None,
            "unavailable": self.unavailable,
            "active": [dataclasses.asdict(a) for a in self._active.values()],
        }

    def metrics(self) -> list[Sample]:
        """Figures for /metrics."""
        return [
            Sample("effects_available", "gauge", "1 when background effects can be used, 0 when the model is missing",
                   0 if self.unavailable else 1),
            Sample("effects_active", "gauge", "cameras with a background effect applied", len(self._active)),
        ]


FEATURE_KEY = web.AppKey("effects_feature", EffectsFeature)


def org_of(session: ParticipantSession) -> str:
    context = session.context
    org = context.extra.get("org") if context is not None else None
    return org if isinstance(org, str) and org else DEFAULT_ORG


def _camera_of(participant: Participant) -> Producer | None:
    cameras = [p for p in participant.producers.values() if p.kind == "video" and p.source == "camera" and not p.closed]
    return cameras[-1] if cameras else None


def _state(participant_id: str, producer_id: str, choice: Choice, ref: str | None) -> me.EffectState:
    return me.EffectState(
        id=ref,
        participant_id=participant_id,
        producer_id=ProducerId(producer_id),
        kind=choice.kind,
        strength=choice.strength,
        image_id=choice.image_id,
    )


def install_effects(ctx: FeatureContext) -> None:
    """Feature entry point (control.app.DEFAULT_FEATURES)."""
    feature = EffectsFeature(ctx, ctx.config.effects)
    ctx.app[FEATURE_KEY] = feature
    ctx.app[IMAGES_KEY] = feature.shared
    ctx.app.cleanup_ctx.append(feature.lifecycle)
    ctx.app.router.add_routes(api.page_routes)
    ctx.api.append(api.EXTENSION)
    ctx.sessions.handlers[me.SetEffect.type] = feature.on_set_effect
    ctx.sessions.on_joined.append(feature.on_joined)
    ctx.sessions.on_left.append(feature.on_left)
    ctx.media.subscribe_all(feature.on_room_event)
    ctx.memory.register("effects", feature.forget_room)
    metrics.add_source(ctx.app, feature.metrics)
