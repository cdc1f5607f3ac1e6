"""TURN the standard way (issue 16, item 2): coturn from Debian with use-auth-secret, started
by the test on loopback; every participant gets its own time-limited credential in
``joined.ice_servers``; an aiortc peer forced to relay gets media through coturn; an expired
credential (or one made with another secret) is refused by coturn itself."""

from __future__ import annotations

import asyncio
import ssl
import time
from pathlib import Path
from typing import Any

import aioice.ice
import aioice.stun
import aioice.turn
import pytest

from control.turn import TurnConfig, credential, ice_server
from tests.reach.coturn import running_coturn
from tests.support.media import PatternVideoTrack, ToneAudioTrack
from tests.support.peer import TestPeer
from tests.support.server import running_server

SECRET = "coturn-static-auth-secret-for-tests"


@pytest.fixture
def loopback_ice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aioice.ice, "get_host_addresses", lambda use_ipv4=True, use_ipv6=True: ["127.0.0.1"])


class _Quiet(asyncio.DatagramProtocol):
    pass


async def _allocate(port: int, username: str, password: str, tls: ssl.SSLContext | None = None) -> tuple[str, int]:
    """A TURN allocation at coturn (turns: over TLS when ``tls``); its relayed address, or
    aioice's TransactionFailed (401...)."""
    transport, _ = await aioice.turn.create_turn_endpoint(
        _Quiet, ("127.0.0.1", port), username, password, lifetime=60, ssl=tls, transport="tcp" if tls else "udp"
    )
    try:
        address: tuple[str, int] = transport.get_extra_info("sockname")
        return address
    finally:
        transport.close()


def test_credential_is_coturns_rest_scheme() -> None:
    # The value coturn computes: base64(HMAC-SHA1(static-auth-secret, username)) (RFC draft
    # uberti-behave-turn-rest-00; checked with `printf %s 1700000000:p1 | openssl dgst -sha1
    # -hmac coturn-static-auth-secret-for-tests -binary | base64`).
    assert credential(SECRET, "1700000000:p1") == "nFANrrwb0DpzikZfTkXCZ93OkxU="
    entry = ice_server(TurnConfig(secret=SECRET, urls=("turn:t.example:3478",), ttl_s=3600), "p1", 1_699_996_400.7)
    assert entry == {"urls": ["turn:t.example:3478"], "username": "1700000000:p1", "credential": "nFANrrwb0DpzikZfTkXCZ93OkxU="}


async def test_coturn_refuses_expired_and_foreign_credentials(tmp_path: Path) -> None:
    config = TurnConfig(secret=SECRET, urls=("turn:127.0.0.1",), ttl_s=600)
    with running_coturn(tmp_path / "coturn", SECRET) as coturn:
        fresh = ice_server(config, "p-fresh", time.time())
        relayed = await _allocate(coturn.port, fresh["username"], fresh["credential"])
        assert relayed[0] == "127.0.0.1"
        expired = ice_server(config, "p-old", time.time() - 700)  # expired 100 s ago
        with pytest.raises(aioice.stun.TransactionFailed, match="401"):
            await _allocate(coturn.port, expired["username"], expired["credential"])
        foreign = ice_server(TurnConfig(secret="another-secret", urls=("turn:127.0.0.1",)), "p-x", time.time())
        with pytest.raises(aioice.stun.TransactionFailed, match="401"):
            await _allocate(coturn.port, foreign["username"], foreign["credential"])
        # turns: (TLS over TCP, what networks that allow only HTTPS reach on 443), same rules.
        tls = coturn.cert.client_context()
        assert (await _allocate(coturn.tls_port, fresh["username"], fresh["credential"], tls))[0] == "127.0.0.1"
        with pytest.raises(aioice.stun.TransactionFailed, match="401"):
            await _allocate(coturn.tls_port, expired["username"], expired["credential"], tls)


@pytest.mark.long
async def test_peer_forced_to_relay_gets_media_through_coturn(tmp_path: Path, loopback_ice: None) -> None:
    with running_coturn(tmp_path / "coturn", SECRET) as coturn:
        overrides: dict[str, Any] = {"turn__secret": SECRET, "turn__urls": [coturn.url], "turn__ttl_s": 7200}
        async with running_server(tmp_path, **overrides) as server:
            relayed = TestPeer(server.ws_url, server.token("turn-room", "far"), name="far", use_ice_servers=True, relay_only=True)
            local = TestPeer(server.ws_url, server.token("turn-room", "near"), name="near")
            try:
                before = time.time()
                joined = await relayed.connect()
                assert joined["type"] == "joined", joined
                (entry,) = joined["ice_servers"]
                expiry, user = entry["username"].split(":", 1)
                assert user == joined["participant_id"]
                assert before + 7200 - 5 <= int(expiry) <= time.time() + 7200
                other = await local.connect()
                assert other["ice_servers"][0]["username"] != entry["username"]  # each their own

                # The relayed peer publishes and subscribes with relay candidates only.
                await relayed.publish([(PatternVideoTrack(320, 240, fps=15), "camera"), (ToneAudioTrack(), "microphone")])
                await local.publish([(PatternVideoTrack(320, 240, fps=15), "camera")])
                await local.wait_frames(joined["participant_id"], "video", 20, timeout=40)
                await local.wait_frames(joined["participant_id"], "audio", 20, timeout=40)
                await relayed.wait_frames(other["participant_id"], "video", 20, timeout=40)
                pcs = [pc for pc in (relayed._publish_pc, relayed._subscribe_pc) if pc is not None]
                assert len(pcs) == 2
                for pc in pcs:
                    ice = pc.getTransceivers()[0].sender.transport.transport
                    assert {c.type for c in ice.iceGatherer.getLocalCandidates()} == {"relay"}
            finally:
                await relayed.close()
                await local.close()
        log = coturn.log.read_text(errors="replace")
        assert f":{joined['participant_id']}" in log  # coturn saw this participant's own username


def test_turn_settings_are_checked() -> None:
    from control import config as config_module
    from control.config import ConfigError

    with pytest.raises(ConfigError, match=r"turn\.secret is required with urls"):
        config_module.load(None, env={"CONSULT_SFU_TURN_URLS": "turn:t.example:3478"})
    with pytest.raises(ConfigError, match=r"turn\.urls: 'stun:t.example' is not a turn: or turns: URL"):
        config_module.load(None, env={"CONSULT_SFU_TURN_SECRET": "s", "CONSULT_SFU_TURN_URLS": "stun:t.example"})
    with pytest.raises(ConfigError, match=r"turn\.ttl_s must be at least 60"):
        config_module.load(None, env={"CONSULT_SFU_TURN_SECRET": "s", "CONSULT_SFU_TURN_URLS": "turn:t", "CONSULT_SFU_TURN_TTL_S": "5"})
    config = config_module.load(
        None, env={"CONSULT_SFU_TURN_SECRET": "s", "CONSULT_SFU_TURN_URLS": "turn:t.example:3478?transport=udp,turns:t.example:443?transport=tcp"}
    )
    assert config.turn.urls == ("turn:t.example:3478?transport=udp", "turns:t.example:443?transport=tcp")
    assert config.turn.ttl_s == 6 * 3600


# Every RTCPeerConnection the page makes uses relay candidates only (what a browser on a
# network that blocks direct UDP ends up with); the page's own code is unchanged.
FORCE_RELAY_JS = """
(() => {
  const Native = window.RTCPeerConnection;
  window.RTCPeerConnection = class extends Native {
    constructor(config, ...rest) { super({...(config || {}), iceTransportPolicy: 'relay'}, ...rest); }
  };
})();
"""

SELECTED_PAIRS_JS = """
async () => {
  const out = [];
  for (const pc of [window.consult.client.pcs.publish, window.consult.client.pcs.subscribe]) {
    if (!pc) continue;
    const stats = await pc.getStats();
    stats.forEach((s) => {
      if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') {
        const local = stats.get(s.localCandidateId);
        out.push(local ? local.candidateType : 'unknown');
      }
    });
  }
  return out;
}
"""


@pytest.mark.browser
@pytest.mark.long
async def test_chromium_with_relay_policy_calls_through_coturn(tmp_path: Path, loopback_ice: None, chromium: Any) -> None:
    from control.tokens import join_url
    from tests.browser.pages import open_and_join, wait_media_flowing

    with running_coturn(tmp_path / "coturn", SECRET) as coturn:
        overrides: dict[str, Any] = {"turn__secret": SECRET, "turn__urls": [coturn.url]}
        async with running_server(tmp_path, **overrides) as server:
            robot = TestPeer(server.ws_url, server.token("relay-room", "robot"), name="robot")
            try:
                assert (await robot.connect())["type"] == "joined"
                await robot.publish([(PatternVideoTrack(320, 240, fps=15), "camera"), (ToneAudioTrack(), "microphone")])
                page = await chromium.new_page()
                await page.page.add_init_script(FORCE_RELAY_JS)
                await open_and_join(page, join_url(server.http_url, "relay-room", server.token("relay-room", "dana", name="Dana")))
                await wait_media_flowing(page)
                dana = await page.evaluate("() => window.consult.client.self.participant_id")
                await robot.wait_frames(dana, "video", 10, timeout=40)
                pairs = await page.evaluate(SELECTED_PAIRS_JS)
                assert pairs and set(pairs) == {"relay"}, pairs
                assert not page.errors, page.errors
            finally:
                await chromium.close()  # the page leaves before the server stops (no wait for its socket)
                await robot.close()
