"""Signatures between workers and of admin requests."""

from __future__ import annotations

from control.cluster.auth import check_forward, derive_key, forward_headers

NOW = 1_700_000_000.0


def test_a_forward_signed_with_the_cluster_key_is_trusted_and_nothing_else_is() -> None:
    key = derive_key("s" * 40, "cluster")
    headers = forward_headers(key, "a/0/x", "203.0.113.9", NOW)
    assert check_forward(key, headers, NOW + 5) == ("a/0/x", "203.0.113.9")
    assert check_forward(key, headers, NOW + 31) is None  # too old: a replay
    assert check_forward(derive_key("t" * 40, "cluster"), headers, NOW) is None  # another cluster's secret
    assert check_forward(derive_key("s" * 40, "admin"), headers, NOW) is None  # the admin key is another key
    forged = {**headers, "X-Consult-Client": "198.51.100.1"}
    assert check_forward(key, forged, NOW) is None
    assert check_forward(key, {}, NOW) is None
    assert check_forward(key, {**headers, "X-Consult-Time": "soon"}, NOW) is None
