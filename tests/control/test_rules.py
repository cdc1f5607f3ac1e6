"""The sans-I/O rules on their own: plain objects, time passed in."""

from __future__ import annotations

import pytest

from control.domain import rules
from control.domain.errors import Conflict
from control.domain.model import Room, RoomKind, RoomState, WaitingStatus
from control.domain.rules import Joiner

T = 1_000_000.0


def room(kind: RoomKind = RoomKind.APPOINTMENT) -> Room:
    return Room(id="r", org="o", kind=kind, starts_at=T, ends_at=T + 1800, opens_at=T - 3600, closes_at=T + 5400, created_at=T - 86400)


def test_window_edges_are_inclusive() -> None:
    r = room()
    assert rules.refusal(r, T - 3600) is None
    assert rules.refusal(r, T + 5400) is None
    early = rules.refusal(r, T - 3600.001)
    assert early is not None and early.reason == "too_early" and early.opens_at == T - 3600
    late = rules.refusal(r, T + 5400.001)
    assert late is not None and late.reason == "too_late"


def test_arrival_exactly_at_the_start_is_on_time() -> None:
    r = room()
    result, _ = rules.join(r, Joiner("c", "C", "client"), "p1", T)
    assert result.status is WaitingStatus.ON_TIME
    result, _ = rules.join(r, Joiner("d", "D", "client"), "p2", T + 0.5)
    assert result.status is WaitingStatus.LATE


def test_reconnect_keeps_the_place_in_the_queue() -> None:
    r = room()
    rules.join(r, Joiner("c", "C", "client"), "p1", T - 100)
    rules.join(r, Joiner("other", "O", "client"), "p2", T - 50)
    rules.join(r, Joiner("c", "C", "client"), "p3", T - 10)  # same person, new connection
    assert [p.participant_id for p in r.waiting()] == ["p3", "p2"]
    assert r.present["p3"].waiting_since == T - 100


def test_a_join_that_takes_back_its_session_is_marked_resumed() -> None:
    # The signalling session reuses the participant id of the session it takes back.
    r = room(RoomKind.QUICK)
    _, first = rules.join(r, Joiner("c", "C", "client"), "p1", T)
    _, again = rules.join(r, Joiner("c", "C", "client"), "p1", T + 5)
    _, new_connection = rules.join(r, Joiner("c", "C", "client"), "p2", T + 9)
    joined = [next(e for e in events if e.name == "participant_joined").data for events in (first, again, new_connection)]
    assert ["resumed" in d for d in joined] == [False, True, False] and joined[1]["resumed"] is True
    w = room()
    rules.join(w, Joiner("v", "V", "client"), "p1", T - 60)
    _, waiting_again = rules.join(w, Joiner("v", "V", "client"), "p1", T - 30)
    assert next(e for e in waiting_again if e.name == "participant_waiting").data["resumed"] is True
    assert w.present["p1"].waiting_since == T - 60


def test_events_of_an_admission() -> None:
    r = room()
    rules.join(r, Joiner("c", "C", "client"), "p1", T)
    events = rules.admit(r, "p1", T + 60)
    names = [e.name for e in events]
    assert names == ["participant_admitted", "participant_joined", "consultation_started", rules.QUEUE_CHANGED]
    assert events[0].data["waited_s"] == 60
    assert r.state is RoomState.STARTED and r.started_at == T + 60
    with pytest.raises(Conflict):
        rules.admit(r, "p1", T + 61)


def test_end_reports_duration_and_empties_the_room() -> None:
    r = room()
    rules.join(r, Joiner("dr", "Dr", "practitioner"), "p0", T)
    rules.force_start(r, T + 10)
    (ended,) = rules.end(r, T + 310)
    assert ended.data["duration_s"] == 300 and ended.data["forced"] is True
    assert ended.data["participants"] == ["p0"] and r.present == {}
    never_started = room()
    (ended,) = rules.end(never_started, T)
    assert ended.data["duration_s"] == 0 and ended.data["started_at"] is None


def test_guest_invited_after_a_forced_start_still_waits_for_the_client() -> None:
    """docs/api.md: a forced start does not let guests in before the client (issue 13)."""
    r = room(RoomKind.APPOINTMENT)
    rules.join(r, Joiner("dr", "Dr", "practitioner"), "p0", T)
    rules.force_start(r, T + 10)
    result, _ = rules.join(r, Joiner("g", "G", "guest", invited_during_call=True), "p1", T + 20)
    assert result.outcome == "wait" and result.status is WaitingStatus.WAITING_FOR_CLIENT
    result, _ = rules.join(r, Joiner("c", "C", "client", invited_during_call=True), "p2", T + 30)
    assert result.outcome == "admit"  # the client enters the running consultation...
    assert r.present["p1"].state.value != "waiting"  # ...and the waiting guest with it
    result, _ = rules.join(r, Joiner("g2", "G2", "guest", invited_during_call=True), "p3", T + 40)
    assert result.outcome == "admit"  # with the client inside, an invited guest enters directly
