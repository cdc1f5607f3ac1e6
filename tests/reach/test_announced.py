"""Announced addresses separate from bind addresses (issue 16, item 3)."""

from __future__ import annotations

import pytest

from control import config as config_module
from control.config import ConfigError


def test_announced_addresses_from_the_environment() -> None:
    config = config_module.load(
        None, env={"CONSULT_SFU_ICE_HOST_ADDRESSES": "10.0.0.5", "CONSULT_SFU_ICE_ANNOUNCED_ADDRESSES": "203.0.113.7"}
    )
    assert config.sfu.ice.announced() == ("203.0.113.7",)
    with pytest.raises(ConfigError, match=r"^ice\.announced_addresses: '203\.0\.113\.7=198\.51\.100\.1': 203\.0\.113\.7 is not one of"):
        config_module.load(None, env={"CONSULT_SFU_ICE_HOST_ADDRESSES": "10.0.0.5", "CONSULT_SFU_ICE_ANNOUNCED_ADDRESSES": "203.0.113.7=198.51.100.1"})
