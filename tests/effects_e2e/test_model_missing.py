"""A server whose segmentation model is missing says so at start-up and keeps serving."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.effects_e2e.conftest import PhotoVideoTrack
from tests.support.peer import TestPeer
from tests.support.server import running_server


async def test_missing_model_is_named_at_start_up_and_effects_are_refused(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    missing = tmp_path / "nowhere" / "selfie.tflite"
    with caplog.at_level(logging.ERROR, logger="control.features.effects.feature"):
        async with running_server(tmp_path, effects__model_path=str(missing)) as server:
            logged = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR and r.name == "control.features.effects.feature"]
            assert len(logged) == 1, logged
            message = logged[0]
            assert "selfie.tflite" in message and str(missing) in message
            assert "pip install mediapipe==0.10.21" in message and "effects.model_path" in message

            peer = TestPeer(server.ws_url, server.token("nomodel", "pub"), "pub")
            try:
                await peer.connect()
                await peer.publish([(PhotoVideoTrack(320, 240, 10), "camera")])
                reply = await peer.request({"type": "set_effect", "kind": "blur"}, expect=("effect_state", "error"))
                assert reply["type"] == "error" and reply["code"] == "unavailable", reply
                assert "selfie.tflite" in reply["message"]
                off = await peer.request({"type": "set_effect", "kind": "none"}, expect=("effect_state", "error"))
                assert off["type"] == "effect_state" and off["kind"] == "none", "switching off needs no model"
                assert server.media.gauges()["decoders"] == 0
                assert (await server.metrics())["consult_sfu_effects_available"] == 0
            finally:
                await peer.close()


async def test_bad_effects_setting_stops_the_server_naming_it(tmp_path: Path) -> None:
    from control.config import ConfigError

    with pytest.raises(ConfigError, match=r"effects\.max_segment_every"):
        async with running_server(tmp_path, effects__max_segment_every="lots"):
            pass
    with pytest.raises(ConfigError, match=r"unknown setting effects\.blur_radius"):
        async with running_server(tmp_path, effects__blur_radius=3):
            pass
