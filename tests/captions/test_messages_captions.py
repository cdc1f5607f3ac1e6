"""Wire messages of captions: validation and round trips through the codec."""

from __future__ import annotations

import json

import pytest

import signalling.messages  # noqa: F401  (core messages registered)
from signalling.codec import ProtocolError, decode, decode_server_message, encode
from signalling.messages_captions import Caption, Captions, CaptionsState, CaptionWithdrawn


def frame(**fields: object) -> str:
    return json.dumps({"v": 1, **fields})


def test_client_captions_message() -> None:
    msg = decode(frame(type="captions", enabled=True, speak_lang="en", read_lang="fr",
                       participant_id="patient-1", id="7"))
    assert isinstance(msg, Captions)
    assert (msg.enabled, msg.speak_lang, msg.read_lang, msg.participant_id) == (
        True, "en", "fr", "patient-1")
    off = decode(frame(type="captions", enabled=False))
    assert isinstance(off, Captions) and off.speak_lang is None


@pytest.mark.parametrize(("fields", "rule"), [
    ({"enabled": "yes"}, "field 'enabled' must be a boolean"),
    ({"enabled": True, "read_lang": "français"}, "field 'read_lang' must be a language code"),
    ({"enabled": True, "speak_lang": 3}, "field 'speak_lang' must be"),
    ({}, "field 'enabled' is required"),
])
def test_bad_captions_messages_name_the_field(fields: dict[str, object], rule: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        decode(frame(type="captions", **fields))
    assert rule in caught.value.message


def test_server_messages_round_trip_and_are_server_only() -> None:
    caption = Caption(speaker_id="alice", text="bonjour", language="fr", final=True,
                      utterance_id="s1-0", started_at=1790000000.125, ended_at=1790000002.5,
                      translated_from="en")
    assert decode_server_message(encode(caption)) == caption
    assert json.loads(encode(caption))["started_at"] == 1790000000.125
    withdrawn = CaptionWithdrawn(utterance_id="s2-0")
    assert json.loads(encode(withdrawn)) == {"v": 1, "type": "caption_withdrawn", "utterance_id": "s2-0"}
    assert decode_server_message(encode(withdrawn)) == withdrawn
    state = CaptionsState(participant_id="p", enabled=True, speak_lang="en", read_lang="fr",
                          available_languages={"speak": ["en", "ko"], "read": ["en", "fr", "ko"]})
    assert decode_server_message(encode(state)) == state
    with pytest.raises(ProtocolError) as caught:
        decode(encode(caption))  # a client cannot send it
    assert caught.value.code == "unknown_type"
