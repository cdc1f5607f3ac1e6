"""A participant on a network that blocks UDP (issue 16, item 5 as documented in
docs/deployment.md: no ICE over TCP on the server; TURN over TCP and over TLS instead).

The peer runs in a network namespace whose nftables rules drop every UDP datagram it sends;
coturn (deploy/coturn/turnserver.conf, with the server's private address allowed as a peer,
as documented) listens on the host side of the veth pair. The peer reaches it over TCP
(``turn:...?transport=tcp``) or TLS (``turns:``), and its echo comes back through the relay."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from control.tokens import mint
from tests.reach.coturn import running_coturn
from tests.reach.netns import Namespace, namespace, run_peer
from tests.reach.processes import SECRET, serve

TURN_SECRET = "udp-blocked-static-auth-secret-0123"


def _no_udp_out(server: str, peer: str) -> str:
    return """table inet no_udp {
  chain out { type filter hook output priority 0; meta l4proto udp drop; }
}
"""


@pytest.fixture
def udp_blocked() -> Iterator[Namespace]:
    with namespace(_no_udp_out) as ns:
        yield ns


@pytest.mark.long
@pytest.mark.parametrize("transport", ["turn-tcp", "turns"])
async def test_peer_without_udp_gets_media_through_turn_over_tcp(tmp_path: Path, udp_blocked: Namespace, transport: str) -> None:
    ns = udp_blocked
    with running_coturn(tmp_path / "coturn", TURN_SECRET, address=ns.server, allowed_peers=(ns.server,)) as coturn:
        url = (
            f"turn:{ns.server}:{coturn.port}?transport=tcp" if transport == "turn-tcp"
            else f"turns:{ns.server}:{coturn.tls_port}?transport=tcp"
        )
        env = {
            "CONSULT_SFU_ICE_HOST_ADDRESSES": ns.server,
            "CONSULT_SFU_ICE_REMOTE_NETWORKS": f"{ns.server}/30",
            "CONSULT_SFU_TURN_SECRET": TURN_SECRET,
            "CONSULT_SFU_TURN_URLS": url,
        }
        async with serve(tmp_path, workers=1, env=env, host=ns.server) as served:
            token = mint(SECRET, room="echo", identity="far", name="Far", role="guest", ttl_s=600, extra={"echo": True})
            # turns: the peer trusts coturn's certificate (made by the test) as its only CA.
            result = await run_peer(ns, served.ws_url, token, "--turn", env={"SSL_CERT_FILE": str(coturn.cert.cert)})
    assert result["frames"] >= 20, result
    # Host candidates were offered too, but UDP never left the namespace: only the relay worked.
    assert result["nominated"] and all(n["local"]["type"] == "relay" for n in result["nominated"]), result
    assert all(n["local"]["host"] == ns.server for n in result["nominated"]), result
