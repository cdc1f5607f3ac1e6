"""Announced addresses separate from bind addresses (issue 16, item 3)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from control import config as config_module
from control.config import ConfigError
from control.tokens import mint
from tests.reach.netns import Namespace, namespace, run_peer
from tests.reach.processes import SECRET, serve


def test_announced_addresses_from_the_environment() -> None:
    config = config_module.load(
        None, env={"CONSULT_SFU_ICE_HOST_ADDRESSES": "10.0.0.5", "CONSULT_SFU_ICE_ANNOUNCED_ADDRESSES": "203.0.113.7"}
    )
    assert config.sfu.ice.announced() == ("203.0.113.7",)
    with pytest.raises(ConfigError, match=r"^ice\.announced_addresses: '203\.0\.113\.7=198\.51\.100\.1': 203\.0\.113\.7 is not one of"):
        config_module.load(None, env={"CONSULT_SFU_ICE_HOST_ADDRESSES": "10.0.0.5", "CONSULT_SFU_ICE_ANNOUNCED_ADDRESSES": "203.0.113.7=198.51.100.1"})


# --------------------------------------------------------------- a 1:1 NAT in a network namespace

PUBLIC = "198.18.0.1"  # RFC 2544 benchmarking range: never routed anywhere


def _one_to_one_nat(server: str, peer: str) -> str:
    """PUBLIC maps to the server's private address and back; UDP to the private address is dropped."""
    return f"""table ip one_to_one {{
  chain out_nat {{ type nat hook output priority -100; ip daddr {PUBLIC} dnat to {server}; }}
  chain in_nat {{ type nat hook input priority 100; ip saddr {server} snat to {PUBLIC}; }}
  chain out_filter {{ type filter hook output priority 0; meta l4proto udp ip daddr {server} ct original ip daddr {server} drop; }}
}}
"""


@pytest.fixture
def nat_namespace() -> Iterator[Namespace]:
    """A namespace that reaches the server's UDP through its public address only (1:1 NAT);
    TCP (the signalling) reaches the private address as it is."""
    with namespace(_one_to_one_nat, routes=(f"{PUBLIC}/32",)) as ns:
        yield ns


@pytest.mark.long
async def test_peer_behind_the_nat_reaches_the_announced_address_only(tmp_path: Path, nat_namespace: Namespace) -> None:
    env = {
        "CONSULT_SFU_ICE_HOST_ADDRESSES": nat_namespace.server,
        "CONSULT_SFU_ICE_ANNOUNCED_ADDRESSES": PUBLIC,
        "CONSULT_SFU_ICE_REMOTE_NETWORKS": f"{nat_namespace.server}/30",
    }
    async with serve(tmp_path, workers=1, env=env, host=nat_namespace.server) as served:
        token = mint(SECRET, room="echo", identity="far", name="Far", role="guest", ttl_s=600, extra={"echo": True})
        result = await run_peer(nat_namespace, served.ws_url, token)
    # The server told the peer its public address only, and media went there (and back):
    # without the announced address the peer would still connect, but only through a
    # peer-reflexive candidate learnt from the server's own checks (what a browser behind a
    # stricter NAT or firewall cannot count on), so the nominated pair is checked too.
    assert result.get("server_candidates") == [PUBLIC], result
    assert result["frames"] >= 20, result
    assert result["nominated"] and all(n["remote"] == {"type": "host", "host": PUBLIC} for n in result["nominated"]), result
