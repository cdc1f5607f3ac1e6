"""The client's address behind trusted proxies (control/forwarded.py)."""

from __future__ import annotations

import pytest

from control import config as config_module
from control.config import ConfigError
from control.forwarded import client_address, parse_networks

NGINX = parse_networks(("127.0.0.1", "10.0.0.0/8"))


def test_a_trusted_proxy_names_the_client() -> None:
    assert client_address("127.0.0.1", "198.51.100.4", NGINX) == "198.51.100.4"
    # Through two of our proxies: the first untrusted hop from the right.
    assert client_address("127.0.0.1", "198.51.100.4, 10.1.2.3", NGINX) == "198.51.100.4"
    assert client_address("127.0.0.1", "2001:db8::7", NGINX) == "2001:db8::7"


def test_what_the_client_wrote_itself_is_not_believed() -> None:
    assert client_address("127.0.0.1", "203.0.113.9, 198.51.100.4", NGINX) == "198.51.100.4"
    # Not from a trusted proxy: the socket's peer, whatever the header says.
    assert client_address("198.51.100.4", "203.0.113.9", NGINX) == "198.51.100.4"
    assert client_address("127.0.0.1", "203.0.113.9", ()) == "127.0.0.1"


def test_garbage_is_the_proxy() -> None:
    assert client_address("127.0.0.1", "unknown", NGINX) == "127.0.0.1"
    assert client_address("127.0.0.1", "", NGINX) == "127.0.0.1"
    assert client_address("127.0.0.1", None, NGINX) == "127.0.0.1"


def test_a_bad_network_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError, match=r"server\.trusted_proxies: 'nginx' is not an address or network"):
        config_module.load(None, env={"CONSULT_SFU_SERVER_TRUSTED_PROXIES": "127.0.0.1,nginx"})

