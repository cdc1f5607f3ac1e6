"""Captions messages of the signalling protocol (v1), see docs/captions.md.

Client -> server:

- ``captions`` turns captions on or off for a participant and sets the language they
  speak (recognition) and the language they want to read (translation). Without
  ``participant_id`` it is about the sender; a practitioner may name another participant
  (e.g. set them for the patient). Absent languages keep their current value.

Server -> client:

- ``caption``: one subtitle line. ``utterance_id`` identifies the line: a later caption
  with the same ``utterance_id`` replaces it (partial -> final, or an echo re-attributed
  to the person who really spoke). ``translated_from`` is set when ``text`` is a
  translation (then ``language`` is the reader's language). ``started_at`` / ``ended_at``
  (epoch seconds, the server's clock) are when the utterance's first and last loud audio
  reached the server (for a partial: its latest audio so far).
- ``caption_withdrawn``: remove the line ``utterance_id`` (a partial that turned out to be
  an echo of another microphone, or an utterance that ended with no words). A later
  ``caption`` with the same id shows a line again.
- ``captions_state``: a participant's captions settings after a change, with the
  languages the server can recognise / show, so the CC menu lists only those.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from signalling.codec import Message, ProtocolError, message

_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")


def _check_language(name: str, value: str | None) -> None:
    if value is not None and not _LANGUAGE.match(value):
        raise ProtocolError(
            "invalid_field", f"field '{name}' must be a language code like 'en', 'fr' or 'pt-BR'"
        )


@message("captions")
@dataclass(kw_only=True)
class Captions(Message):
    enabled: bool
    speak_lang: str | None = None
    read_lang: str | None = None
    participant_id: str | None = None

    def validate(self) -> None:
        _check_language("speak_lang", self.speak_lang)
        _check_language("read_lang", self.read_lang)
        if self.participant_id is not None and not self.participant_id:
            raise ProtocolError("invalid_field", "field 'participant_id' must not be empty")


@message("caption", from_server=True)
@dataclass(kw_only=True)
class Caption(Message):
    speaker_id: str
    text: str
    language: str
    final: bool
    utterance_id: str
    #: Epoch seconds (server clock) of the utterance's first / last loud audio at the server.
    started_at: float
    ended_at: float
    translated_from: str | None = None


@message("caption_withdrawn", from_server=True)
@dataclass(kw_only=True)
class CaptionWithdrawn(Message):
    utterance_id: str


@message("captions_state", from_server=True)
@dataclass(kw_only=True)
class CaptionsState(Message):
    participant_id: str
    enabled: bool
    speak_lang: str | None = None
    read_lang: str | None = None
    #: Languages the server can recognise (``speak``) and show (``read``).
    available_languages: dict[str, list[str]] = field(default_factory=dict)
