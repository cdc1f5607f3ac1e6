"""The reconnect grace clock (signalling/reconnect.py), in memory with ``now`` passed in, and
its setting ``[session] reconnect_grace_s`` through the one loader."""

from __future__ import annotations

import pytest

from control.config import ConfigError, load
from sfu import Preference
from signalling.messages_captions import Captions
from signalling.messages_effects import SetEffect
from signalling.reconnect import DEFAULT_RECONNECT_GRACE_S, GraceClock, SessionConfig
from signalling.resume import MAX_KEPT_SUBSCRIPTIONS, KeptChoices


def test_back_within_the_grace_is_taken_back_and_after_it_is_not() -> None:
    clock: GraceClock[str] = GraceClock(30.0)
    assert clock.start("ann", now=100.0) == 130.0
    clock.start("bob", now=110.0)
    assert clock.next_deadline() == 130.0
    assert clock.take("ann", now=129.9) == 130.0  # back in time
    assert "ann" not in clock and clock.expired(now=139.9) == []
    assert clock.take("bob", now=140.0) is None  # too late: left for expired() to report
    assert clock.expired(now=140.0) == ["bob"] and len(clock) == 0


def test_expired_reports_the_earliest_first_and_only_once() -> None:
    clock: GraceClock[str] = GraceClock(10.0)
    clock.start("late", now=5.0)
    clock.start("early", now=1.0)
    clock.start("later", now=50.0)
    assert clock.expired(now=20.0) == ["early", "late"]
    assert clock.expired(now=20.0) == []
    assert clock.next_deadline() == 60.0


def test_a_refused_rejoin_puts_the_key_back_with_its_own_deadline() -> None:
    clock: GraceClock[str] = GraceClock(30.0)
    clock.start("ann", now=0.0)
    deadline = clock.take("ann", now=10.0)
    assert deadline == 30.0
    clock.start("ann", now=12.0, deadline=deadline)  # not a fresh 30 s
    assert clock.expired(now=30.0) == ["ann"]


def test_no_grace_means_disabled() -> None:
    assert not GraceClock(0.0).enabled and GraceClock(0.5).enabled
    with pytest.raises(ValueError, match="grace_s"):
        GraceClock(-1.0)


def test_the_setting_defaults_to_30_s_and_is_checked() -> None:
    assert load(None, env={}).session.reconnect_grace_s == DEFAULT_RECONNECT_GRACE_S == 30.0
    assert load(None, env={"CONSULT_SFU_SESSION_RECONNECT_GRACE_S": "5"}).session.reconnect_grace_s == 5.0
    assert load(None, env={}, session__reconnect_grace_s=0).session == SessionConfig(0.0)
    with pytest.raises(ConfigError, match=r"session\.reconnect_grace_s"):
        load(None, env={}, session__reconnect_grace_s=-1)
    with pytest.raises(ConfigError, match="reconnect_grace_s"):
        load(None, env={"CONSULT_SFU_SESSION_RECONNECT_GRACE_S": "soon"})


def test_kept_choices_keep_the_last_of_each_and_forget_a_removed_preference() -> None:
    kept = KeptChoices()
    kept.remember_subscription("dr", "camera", Preference(None, 180, False))
    kept.remember_subscription("dr", "screen", Preference(None, None, True))
    kept.remember_subscription("dr", "screen", Preference(None, None, False))  # no cap, not paused: removed
    assert kept.subscriptions == {("dr", "camera"): Preference(None, 180, False)}
    for i in range(MAX_KEPT_SUBSCRIPTIONS + 5):
        kept.remember_subscription(f"p{i}", "camera", Preference(None, 360, False))
    assert len(kept.subscriptions) == MAX_KEPT_SUBSCRIPTIONS
    kept.remember_message(SetEffect(kind="blur", strength="light", id="7"))
    kept.remember_message(SetEffect(kind="blur", strength="strong"))
    kept.remember_message(Captions(enabled=True, read_lang="en", participant_id="PA_other"))  # someone else's
    assert list(kept.messages) == ["set_effect"]
    effect = kept.messages["set_effect"]
    assert isinstance(effect, SetEffect) and effect.strength == "strong" and effect.id is None
