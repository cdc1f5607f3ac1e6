"""Live captions wired into the server: ``install_captions(ctx)`` (one of DEFAULT_FEATURES).

What it adds:

* one :class:`captions.service.CaptionService` per server, owned by an app cleanup
  context: its worker processes are spawned when the first participant turns captions on
  (or in the background when the server starts, ``captions.start_workers = "startup"``) and
  closed on shutdown. If they cannot start, the reason is logged at ERROR and ``captions`` is
  refused with ``unavailable``. A server installed without the ``captions`` extra (no vosk,
  pocketsphinx or argostranslate) never starts them: ``unavailable`` says so, logged at INFO;
* the ``captions`` handler on signalling sessions, a ``captions_state`` to each participant
  when they join (the languages the CC menu may offer), room-event and on_left bookkeeping;
* the consultation memory forgetter ``captions`` (transcripts live only in memory and are
  dropped when the consultation ends).

Who is captioned. A participant turning captions on is a *listener* (``read_lang``). While
a room has at least one listener, every microphone in it is tapped, each in the language
its speaker speaks (their own ``speak_lang``, set by themselves or by the practitioner,
else ``captions.default_language``): a deaf patient who turns captions on must see what
the practitioner says without the practitioner touching anything. When the last listener
of a room turns captions off or leaves, the taps are removed and the workers' streams
closed (no work for nobody). The captions package itself also ignores audio of rooms
without listeners.

``participant_id`` in ``captions`` (settings for someone else) is for practitioners and
department managers only; the target gets the new ``captions_state`` too.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiohttp import web

from captions.errors import CaptionsError, InvalidLanguage, LanguageUnavailable, ServiceClosed
from captions.languages import SpeechCatalog, normalise_language
from captions.room_state import CaptionEvent, CaptionsOutput
from captions.service import CaptionService, SpeakerTap
from control import metrics
from control.domain.roles import HOST_ROLES
from control.features.captions.config import CaptionsFeatureConfig
from control.features.context import FeatureContext
from control.metrics import Sample
from sfu import ProducerId, RoomEvent, TrackPublished, TrackUnpublished
from signalling import messages_captions as mc
from signalling.codec import Message, ProtocolError
from signalling.session import ParticipantSession, SessionState

if TYPE_CHECKING:
    from sfu import Room  # brings aiortc: loaded at the first room (sfu/__init__.py)

logger = logging.getLogger(__name__)

#: what the captions extra installs; the workers import them (never the server process)
EXTRA_MODULES = ("vosk", "pocketsphinx", "argostranslate")


@dataclass
class _Prefs:
    """One participant's captions choices (in memory, per media room)."""

    enabled: bool = False
    speak_lang: str | None = None
    read_lang: str | None = None


class CaptionsFeature:
    """The composition of captions with sessions and rooms (one per server)."""

    def __init__(self, ctx: FeatureContext, settings: CaptionsFeatureConfig) -> None:
        self._ctx = ctx
        self.settings = settings
        self.service = CaptionService(settings.captions, on_event=self.deliver)
        self._speech = SpeechCatalog(settings.captions.models_folder)
        #: why captions cannot be used (workers failed to start), None when they can
        self.unavailable: str | None = None
        self._started = False
        #: times the workers were stopped for being unused (they start again at the next use)
        self.stops = 0
        missing = [name for name in EXTRA_MODULES if importlib.util.find_spec(name) is None]
        if missing:  # installed without the captions extra: not an error, and no worker ever starts
            self.unavailable = f"captions are not installed on this server (the captions extra: {', '.join(missing)} missing)"
            logger.info("%s (pip install 'consult-sfu[captions]')", self.unavailable)
            self._started = True
        self._starting: asyncio.Task[None] | None = None
        self._prefs: dict[tuple[str, str], _Prefs] = {}  # (media room, participant)
        self._taps: dict[tuple[str, str, str], tuple[str, SpeakerTap]] = {}  # -> (language, tap)
        self._signalling_room: dict[str, str] = {}  # media room id -> room name of the sessions

    # ------------------------------------------------------------ lifecycle

    async def lifecycle(self, app: web.Application) -> AsyncIterator[None]:
        """aiohttp cleanup context: workers start in the background, close on shutdown."""
        if self.settings.start_workers == "startup":
            await self._start()
        idle_watch = None
        if self.settings.start_workers == "first_use" and self.settings.idle_stop_s > 0:
            idle_watch = asyncio.create_task(self._stop_when_idle(), name="captions-idle-stop")
        yield
        if idle_watch is not None:
            idle_watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await idle_watch
        if self._starting is not None:
            self._starting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._starting
        await self.service.close()

    async def _start(self) -> None:
        """Spawn the worker processes (returns at once) and watch them become ready."""
        if self._started:
            return
        self._started = True
        try:
            # CaptionService.start only launches the processes (~10 ms): models load in them.
            await self.service.start()
        except Exception as exc:
            self._fail(f"the caption workers could not be started: {exc}")
            return
        self._starting = asyncio.create_task(self._wait_ready(), name="captions-wait-ready")

    async def _wait_ready(self) -> None:
        try:
            async with asyncio.timeout(self.settings.ready_timeout_s):
                await self.service.wait_ready()
        except TimeoutError:
            self._fail(f"the caption workers did not start within {self.settings.ready_timeout_s:g} s")
        except CaptionsError as exc:
            self._fail(str(exc))
        else:
            logger.info("captions ready: speak %s, read %s", *self._languages_text())

    async def _stop_when_idle(self) -> None:
        """Stop the workers once nobody used captions for ``idle_stop_s``; the next use starts them."""
        loop = asyncio.get_running_loop()
        period = min(30.0, max(0.05, self.settings.idle_stop_s / 4))
        idle_since: float | None = None
        while True:
            await asyncio.sleep(period)
            running = self._started and self.unavailable is None and self._starting is not None and self._starting.done()
            if not running or self._prefs or self._taps or not self.service.is_idle():
                idle_since = None
                continue
            idle_since = loop.time() if idle_since is None else idle_since
            if loop.time() - idle_since < self.settings.idle_stop_s:
                continue
            logger.info("captions: unused for %.0f s, stopping the caption workers", self.settings.idle_stop_s)
            await self.service.close()
            self.service = CaptionService(self.settings.captions, on_event=self.deliver)
            self._started, self._starting, idle_since = False, None, None
            self.stops += 1

    async def wait_started(self) -> None:
        """Until the workers are ready or declared unavailable (tests, health checks)."""
        if self._starting is not None:
            await asyncio.shield(self._starting)

    def _fail(self, reason: str) -> None:
        self.unavailable = f"captions are unavailable on this server: {reason}"
        logger.error("%s", self.unavailable)

    def _languages_text(self) -> tuple[str, str]:
        available = self.service.available_languages()
        return ", ".join(available.speak) or "none", ", ".join(available.read) or "none"

    # ------------------------------------------------------------ the captions message

    async def on_captions(self, session: ParticipantSession, msg: Message) -> None:
        if not isinstance(msg, mc.Captions):  # registered for 'captions' only
            raise ProtocolError("unknown_type", f"message type {msg.type!r} is not handled here")
        room, context, me = session.room, session.context, session.participant_id
        if session.state is not SessionState.JOINED or room is None or context is None or me is None:
            raise ProtocolError("wrong_state", "'captions' is accepted once you are in the consultation")
        if session.settings.get("captions_allowed") is False:
            raise ProtocolError("policy", "captions are switched off for this room")
        target = msg.participant_id or me
        target_session = session
        if target != me:
            if context.role not in HOST_ROLES:  # practitioners and department managers
                raise ProtocolError("forbidden", "only a practitioner or department manager may set captions for another participant")
            other = self._ctx.registry.get(context.room, target)
            if other is None or other.room is not room or other.state is not SessionState.JOINED:
                raise ProtocolError("not_found", f"field 'participant_id': no participant {target!r} in this consultation")
            target_session = other
        await self._start()  # first use (start_workers = "first_use")
        if self.unavailable is not None:
            raise ProtocolError("unavailable", self.unavailable)
        self._signalling_room[room.id] = context.room
        try:
            prefs = self._update(room, target, msg)
        except LanguageUnavailable as exc:
            raise ProtocolError("language_unavailable", str(exc)) from None
        except InvalidLanguage as exc:
            raise ProtocolError("invalid_field", str(exc)) from None
        except ServiceClosed:
            raise ProtocolError("unavailable", "captions are unavailable: the server is shutting down") from None
        state = self._state(target, prefs)
        state.id = msg.id
        session.send(state)
        if target_session is not session:
            target_session.send(self._state(target, prefs))

    def _update(self, room: Room, participant_id: str, msg: mc.Captions) -> _Prefs:
        """Validate the new choices, then apply them (nothing changes when one is refused)."""
        old = self._prefs.get((room.id, participant_id), _Prefs())
        speak = old.speak_lang
        if msg.speak_lang is not None:
            speak = self._speech.resolve(msg.speak_lang, "speak_lang").language
        read = old.read_lang
        if msg.read_lang is not None:
            read = normalise_language(msg.read_lang, "read_lang")
        if msg.enabled:
            read = read or speak or self.default_language()
            self.service.set_listener(room.id, participant_id, read)  # validates read_lang
        else:
            self.service.set_listener(room.id, participant_id, None)
        prefs = _Prefs(msg.enabled, speak, read)
        self._prefs[(room.id, participant_id)] = prefs
        self._sync_speakers(room)
        return prefs

    def default_language(self) -> str:
        speak = self.service.available_languages().speak
        if self.settings.default_language:
            return normalise_language(self.settings.default_language, "captions.default_language")
        return "en" if "en" in speak or not speak else speak[0]

    def _speak_lang(self, room_id: str, participant_id: str) -> str:
        prefs = self._prefs.get((room_id, participant_id))
        return prefs.speak_lang if prefs is not None and prefs.speak_lang else self.default_language()

    # ------------------------------------------------------------ speakers follow listeners

    def _has_listeners(self, room_id: str) -> bool:
        return any(p.enabled for (r, _), p in self._prefs.items() if r == room_id)

    def _sync_speakers(self, room: Room) -> None:
        """Tap every microphone of the room while somebody reads captions, none otherwise."""
        if not self._has_listeners(room.id):
            for key in [k for k in self._taps if k[0] == room.id]:
                self._untap(room, *key)
            return
        for participant in room.participants.values():
            for producer in participant.producers.values():
                if producer.kind == "audio" and producer.source == "microphone" and not producer.closed:
                    self._tap(room, participant.id, producer.id)

    def _tap(self, room: Room, participant_id: str, producer_id: str) -> None:
        language = self._speak_lang(room.id, participant_id)
        key = (room.id, participant_id, producer_id)
        current = self._taps.get(key)
        if current is not None and current[0] == language:
            return
        if current is not None:
            room.remove_audio_tap(ProducerId(producer_id), current[1])
        try:
            tap = self.service.attach_speaker(room.id, participant_id, producer_id, language)
        except LanguageUnavailable as exc:  # the default language has no model: say so once per speaker
            self._taps.pop(key, None)
            logger.warning("captions: %s is not captioned: %s", participant_id, exc)
            return
        except ServiceClosed:  # shutting down: sessions close after the service
            self._taps.pop(key, None)
            return
        room.add_audio_tap(ProducerId(producer_id), tap)
        self._taps[key] = (language, tap)

    def _untap(self, room: Room | None, room_id: str, participant_id: str, producer_id: str) -> None:
        entry = self._taps.pop((room_id, participant_id, producer_id), None)
        if entry is not None and room is not None:
            room.remove_audio_tap(ProducerId(producer_id), entry[1])
        self.service.detach_speaker(room_id, participant_id, producer_id)

    def on_room_event(self, event: RoomEvent) -> None:
        if isinstance(event, TrackPublished):
            producer = event.producer
            if producer.kind == "audio" and producer.source == "microphone" and self._has_listeners(event.room_id):
                room = self._ctx.media.find_room(event.room_id)
                if room is not None:
                    self._tap(room, producer.participant_id, producer.producer_id)
        elif isinstance(event, TrackUnpublished):
            # the producer closed: its tap's on_close already detached the speaker
            self._taps.pop((event.room_id, event.participant_id, event.producer_id), None)

    # ------------------------------------------------------------ joining and leaving

    async def on_joined(self, session: ParticipantSession) -> None:
        """Tell the page which languages the CC menu may offer (nothing when captions are off)."""
        room, me = session.room, session.participant_id
        if room is None or me is None or session.settings.get("captions_allowed") is False:
            return
        if self.unavailable is not None:
            return
        session.send(self._state(me, _Prefs()))

    async def on_left(self, session: ParticipantSession, reason: str) -> None:
        room, me = session.room, session.participant_id
        if room is None or me is None:
            return
        self._prefs.pop((room.id, me), None)
        if self._started:
            self.service.remove_listener(room.id, me)
        for key in [k for k in self._taps if k[:2] == (room.id, me)]:
            self._untap(room, *key)
        if self._started:
            self.service.detach_speaker(room.id, me)
            self._sync_speakers(room)  # the last listener left: stop the others' taps too

    def forget_room(self, room_id: str) -> None:
        """The consultation ended: its transcript and every choice made in it are forgotten."""
        for key in [k for k in self._prefs if k[0] == room_id]:
            del self._prefs[key]
        for tap_key in [k for k in self._taps if k[0] == room_id]:
            del self._taps[tap_key]
        self._signalling_room.pop(room_id, None)
        self.service.drop_room(room_id)

    # ------------------------------------------------------------ delivery

    def deliver(self, event: CaptionsOutput) -> None:
        """One ``caption`` (or ``caption_withdrawn``) message per listener of the event,
        through their session's bounded outbox."""
        room_name = self._signalling_room.get(event.room_id, event.room_id)
        message: Message
        if isinstance(event, CaptionEvent):
            message = self._caption_message(event)
        else:
            message = mc.CaptionWithdrawn(utterance_id=event.utterance_id)
        for listener_id in event.listener_ids:
            session = self._ctx.registry.get(room_name, listener_id)
            if session is not None and session.room is not None and session.room.id == event.room_id:
                session.send(message)

    @staticmethod
    def _caption_message(event: CaptionEvent) -> mc.Caption:
        # The service's times are time.monotonic() at the server; the wire says epoch seconds
        # (like every other time in the protocol), millisecond precision.
        to_epoch = time.time() - time.monotonic()
        return mc.Caption(
            speaker_id=event.speaker_id,
            text=event.text,
            language=event.language,
            final=event.final,
            utterance_id=event.utterance_id,
            started_at=round(event.started_at + to_epoch, 3),
            ended_at=round(event.ended_at + to_epoch, 3),
            translated_from=event.translated_from,
        )

    def _state(self, participant_id: str, prefs: _Prefs) -> mc.CaptionsState:
        available = self.service.available_languages()
        return mc.CaptionsState(
            participant_id=participant_id,
            enabled=prefs.enabled,
            speak_lang=prefs.speak_lang or self.default_language(),
            read_lang=prefs.read_lang,
            available_languages={"speak": list(available.speak), "read": list(available.read)},
        )

    def dump(self) -> dict[str, object]:
        return {
            "unavailable": self.unavailable,
            "started": self._started,
            "prefs": {f"{r}/{p}": vars(v) for (r, p), v in self._prefs.items()},
            "taps": [{"room_id": r, "participant_id": p, "producer_id": pr, "language": lang} for (r, p, pr), (lang, _) in self._taps.items()],
            "service": self.service.dump() if self._started else None,
        }

    def metrics(self) -> list[Sample]:
        """Figures for /metrics (an operator's view: is it up, how much, what is lost)."""
        counters = self.service.counters
        listeners = sum(1 for prefs in self._prefs.values() if prefs.enabled)
        return [
            Sample("captions_available", "gauge", "1 when the caption workers run (or start at first use), 0 when unavailable",
                   0 if self.unavailable else 1),
            Sample("captions_listeners", "gauge", "participants reading captions", listeners),
            Sample("captions_speakers", "gauge", "microphones being recognised", len(self._taps)),
            Sample("captions_events_total", "counter", "caption events delivered (partials and finals)", counters["events"]),
            Sample("captions_audio_seconds_total", "counter",
                   "seconds of speech recognised, counted as the recognition workers process it (silence is not counted)",
                   round(self.service.speech_seconds, 3)),
            Sample("captions_dropped_packets_total", "counter", "audio packets dropped because a worker was too far behind",
                   counters["dropped_packets"]),
            Sample("captions_echo_suppressed_total", "counter", "captions not shown twice (echo from another microphone)",
                   counters["echo_suppressed"] + counters["echo_reattributed"]),
            Sample("captions_translations_failed_total", "counter", "finals shown untranslated after a failure",
                   counters["translations_failed"]),
            Sample("captions_worker_restarts_total", "counter", "caption worker processes replaced after dying",
                   counters["worker_restarts"]),
        ]


FEATURE_KEY = web.AppKey("captions_feature", CaptionsFeature)


def install_captions(ctx: FeatureContext) -> None:
    """Feature entry point (control.app.DEFAULT_FEATURES)."""
    feature = CaptionsFeature(ctx, ctx.config.captions)
    ctx.app[FEATURE_KEY] = feature
    ctx.app.cleanup_ctx.append(feature.lifecycle)
    ctx.sessions.handlers[mc.Captions.type] = feature.on_captions
    ctx.sessions.on_joined.append(feature.on_joined)
    ctx.sessions.on_left.append(feature.on_left)
    ctx.media.subscribe_all(feature.on_room_event)
    ctx.memory.register("captions", feature.forget_room)
    metrics.add_source(ctx.app, feature.metrics)


__all__ = ["FEATURE_KEY", "CaptionsFeature", "install_captions"]
