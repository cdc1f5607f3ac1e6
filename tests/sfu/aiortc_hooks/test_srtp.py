"""SrtpContext writes the same bytes as pylibsrtp and reads what it writes, shares a session
with pylibsrtp's own calls, and reports libsrtp's errors the same way."""

from __future__ import annotations

import gc
import os
import weakref

import pylibsrtp
import pytest
from pylibsrtp import Policy, Session

from sfu.aiortc_hooks.srtp import SrtpContext, srtp_context

KEY = os.urandom(30)


def _session(direction: int) -> Session:
    return Session(policy=Policy(key=KEY, ssrc_type=direction, srtp_profile=Policy.SRTP_PROFILE_AES128_CM_SHA1_80))


def _rtp(seq: int, size: int = 1100) -> bytes:
    return bytes([0x80, 96]) + seq.to_bytes(2, "big") + bytes(4) + bytes.fromhex("0000abcd") + os.urandom(size)


def test_same_bytes_as_pylibsrtp_and_readable_by_it() -> None:
    ours, theirs = srtp_context(_session(Policy.SSRC_ANY_OUTBOUND)), _session(Policy.SSRC_ANY_OUTBOUND)
    receiver = _session(Policy.SSRC_ANY_INBOUND)
    for seq in range(5):
        packet = _rtp(seq)
        protected = ours.protect(packet)
        assert protected == theirs.protect(packet)
        assert len(protected) == len(packet) + 10  # the SHA1-80 tag
        assert receiver.unprotect(protected) == packet


def test_reads_what_pylibsrtp_writes() -> None:
    sender, ours = _session(Policy.SSRC_ANY_OUTBOUND), srtp_context(_session(Policy.SSRC_ANY_INBOUND))
    for seq in (10, 11, 13, 12):  # reordered within the replay window
        packet = _rtp(seq, size=seq * 7)
        assert ours.unprotect(sender.protect(packet)) == packet


def test_interleaves_with_the_sessions_own_calls() -> None:
    # One buffer serves both: each call copies its result out before the next one.
    session = _session(Policy.SSRC_ANY_OUTBOUND)
    ours = srtp_context(session)
    receiver = _session(Policy.SSRC_ANY_INBOUND)
    first, second, third = _rtp(1), _rtp(2, size=50), _rtp(3, size=1200)
    out = [session.protect(first), ours.protect(second), session.protect(third)]
    assert [receiver.unprotect(p) for p in out] == [first, second, third]


def test_libsrtp_errors_are_pylibsrtp_errors() -> None:
    sender, ours = _session(Policy.SSRC_ANY_OUTBOUND), srtp_context(_session(Policy.SSRC_ANY_INBOUND))
    protected = sender.protect(_rtp(7))
    ours.unprotect(protected)
    with pytest.raises(pylibsrtp.Error, match="replay check failed"):
        ours.unprotect(protected)
    tampered = bytearray(sender.protect(_rtp(8)))
    tampered[20] ^= 0xFF
    with pytest.raises(pylibsrtp.Error, match="authentication failure"):
        ours.unprotect(bytes(tampered))


def test_too_long_packets_are_refused_before_libsrtp() -> None:
    ours = srtp_context(_session(Policy.SSRC_ANY_OUTBOUND))
    with pytest.raises(ValueError, match="too long for SRTP"):
        ours.protect(_rtp(1, size=1400))
    with pytest.raises(ValueError, match="too long"):
        srtp_context(_session(Policy.SSRC_ANY_INBOUND)).unprotect(bytes(1501))


def test_one_context_per_session_and_no_reference_cycle() -> None:
    session = _session(Policy.SSRC_ANY_OUTBOUND)
    context = srtp_context(session)
    assert isinstance(context, SrtpContext)
    assert srtp_context(session) is context
    alive = weakref.ref(session)
    gc.disable()
    try:
        del session, context
        assert alive() is None  # freed by reference counting, libsrtp context with it
    finally:
        gc.enable()


def test_pylibsrtp_is_the_pinned_version_and_its_session_state_is_where_we_look() -> None:
    from importlib.metadata import version

    assert version("pylibsrtp") == "1.0.0", "sfu/aiortc_hooks/srtp.py was written against pylibsrtp 1.0.0"
    session = _session(Policy.SSRC_ANY_OUTBOUND)
    for name in ("_srtp", "_cdata", "_buffer"):
        assert hasattr(session, name), f"pylibsrtp Session.{name} is gone: revisit sfu/aiortc_hooks/srtp.py"


def test_a_session_without_that_state_is_refused_loudly() -> None:
    from sfu.aiortc_hooks import HookError

    with pytest.raises(HookError, match="pylibsrtp's Session internals changed"):
        SrtpContext(object())  # type: ignore[arg-type]
