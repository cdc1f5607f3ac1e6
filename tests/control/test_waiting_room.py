"""Waiting room, admission, forced start, quick, group and walk-in rules, end to end
through the REST API and the lobby the signalling sessions call."""

from __future__ import annotations

import asyncio

from control import tokens
from tests.control.conftest import SECRET, Api, eventually, join


async def test_access_window_too_early_and_too_late_at_every_reconnect(api: Api) -> None:
    room = await api.room()  # starts in 30 min, window opens 1 h before the start
    opens_at = room["access_window"]["opens_at"]
    api.clock.now = opens_at - 1
    decision, _handle, _ = await join(api, room["id"], "client-1")
    assert decision.outcome == "refuse" and decision.reason == "too_early"
    assert decision.messages[0].type == "access_refused"
    assert decision.messages[0].opens_at == opens_at
    api.clock.now = opens_at
    decision, _handle, pid = await join(api, room["id"], "client-1")
    assert decision.outcome == "wait"
    await api.plane.lobby.on_leave(room["id"], pid, api.clock.now)
    api.clock.now = room["access_window"]["closes_at"] + 1
    # reconnect with a token issued while the window was open: too_late, not a bare expiry
    issued_claims = tokens.verify(SECRET, (await _token(api, room["id"], "client-1", at=opens_at)), now=api.clock.now)
    from tests.control.conftest import join_claims

    decision, _, _ = await join_claims(api, issued_claims)
    assert decision.outcome == "refuse" and decision.reason == "too_late"


async def _token(api: Api, room_id: str, identity: str, at: float) -> str:
    saved = api.clock.now
    api.clock.now = at
    try:
        issued = await api.ok("POST", f"/v1/rooms/{room_id}/tokens", {"identity": identity, "role": "client"}, status=201)
    finally:
        api.clock.now = saved
    return str(issued["token"])


async def test_token_response_and_claims(api: Api) -> None:
    room = await api.room(department="cardio")
    issued = await api.ok("POST", f"/v1/rooms/{room['id']}/tokens", {"identity": "c1", "name": "Ann", "role": "client"}, status=201)
    assert issued["join_url"] == f"http://127.0.0.1:8080/room/{room['id']}#token={issued['token']}"
    assert issued["expires_at"] > room["access_window"]["closes_at"]
    claims = tokens.verify(SECRET, issued["token"], now=api.clock.now)
    assert (claims.room, claims.identity, claims.name, claims.role) == (room["id"], "c1", "Ann", "client")
    assert claims.extra == {"org": "org1", "dept": "cardio"}
    status, err = await api.call("POST", f"/v1/rooms/{room['id']}/tokens", {"identity": "c1", "role": "boss"})
    assert status == 422 and "'role'" in err["error"]["message"]
    status, err = await api.call("POST", f"/v1/rooms/{room['id']}/tokens", {"role": "client"})
    assert status == 422 and "'identity'" in err["error"]["message"]


async def test_client_waits_on_time_then_is_admitted(api: Api) -> None:
    room = await api.room()
    api.clock.advance(600)  # 20 min before the start
    decision, client, pid = await join(api, room["id"], "client-1", name="Client One")
    assert decision.outcome == "wait"
    waiting_msg = decision.messages[0]
    assert waiting_msg.type == "waiting"
    assert waiting_msg.status == "on_time"
    assert waiting_msg.appointment_at == room["starts_at"]
    assert waiting_msg.practitioner_status == "offline"
    queue = await api.ok("GET", f"/v1/rooms/{room['id']}/waiting")
    assert queue["waiting"] == [
        {
            "participant_id": pid,
            "room": room["id"],
            "identity": "client-1",
            "name": "Client One",
            "role": "client",
            "status": "on_time",
            "appointment_at": room["starts_at"],
            "waiting_since": api.clock.now,
        }
    ]
    # the practitioner enters directly and sees the queue live
    decision, doctor, _ = await join(api, room["id"], "dr-a", role="practitioner")
    assert decision.outcome == "admit"
    assert decision.messages[0].type == "queue"
    assert [e.participant_id for e in decision.messages[0].entries] == [pid]
    await eventually(lambda: any(m.practitioner_status == "online" for m in client.of_type("waiting")))
    api.clock.advance(60)
    admitted = await api.ok("POST", f"/v1/rooms/{room['id']}/waiting/{pid}/admit")
    assert admitted["state"] == "started" and admitted["forced"] is False
    assert admitted["started_at"] == api.clock.now
    await eventually(lambda: client.admitted)
    await eventually(lambda: doctor.of_type("queue") and doctor.last("queue").entries == [])
    assert (await api.ok("GET", f"/v1/rooms/{room['id']}/waiting"))["waiting"] == []
    # admitted once: a reconnect skips the waiting room
    await api.plane.lobby.on_leave(room["id"], pid, api.clock.now)
    decision, _, _ = await join(api, room["id"], "client-1")
    assert decision.outcome == "admit"


async def test_late_client_and_deny_with_message(api: Api) -> None:
    room = await api.room()
    api.clock.now = room["starts_at"] + 120
    decision, client, pid = await join(api, room["id"], "client-1")
    assert decision.messages[0].status == "late"
    entries = (await api.ok("GET", f"/v1/rooms/{room['id']}/waiting"))["waiting"]
    assert entries[0]["status"] == "late"
    await api.ok("POST", f"/v1/rooms/{room['id']}/waiting/{pid}/deny", {"message": "Please book again"})
    await eventually(lambda: client.closed is not None)
    assert client.last("denied").message == "Please book again"
    assert client.closed == ("denied", "Please book again")
    status, err = await api.call("POST", f"/v1/rooms/{room['id']}/waiting/{pid}/admit")
    assert status == 409 and err["error"]["code"] == "not_waiting"
    status, err = await api.call("POST", f"/v1/rooms/{room['id']}/waiting/{pid}/deny", {"message": 5})
    assert status == 422 and "'message'" in err["error"]["message"]


async def test_forced_start_lets_a_late_client_straight_in(api: Api) -> None:
    room = await api.room()
    api.clock.now = room["starts_at"] + 300
    await join(api, room["id"], "dr-a", role="practitioner")
    forced = await api.ok("POST", f"/v1/rooms/{room['id']}/start")
    assert forced["forced"] is True and forced["state"] == "started"
    status, err = await api.call("POST", f"/v1/rooms/{room['id']}/start")
    assert status == 409 and err["error"]["code"] == "already_started"
    api.clock.advance(600)
    decision, _client, _ = await join(api, room["id"], "client-1")
    assert decision.outcome == "admit"
    assert (await api.ok("GET", f"/v1/rooms/{room['id']}/waiting"))["waiting"] == []


async def test_quick_consultation_has_no_waiting_room(api: Api) -> None:
    room = await api.ok("POST", "/v1/rooms", {"kind": "quick", "practitioner": {"identity": "dr-a"}}, status=201)
    decision, _, _ = await join(api, room["id"], "dr-a", role="practitioner")
    assert decision.outcome == "admit"
    decision, _, _ = await join(api, room["id"], "someone", role="client")
    assert decision.outcome == "admit"
    got = await api.ok("GET", f"/v1/rooms/{room['id']}")
    assert got["state"] == "started" and got["forced"] is False and got["participant_count"] == 2


async def test_group_guests_wait_for_the_client(api: Api) -> None:
    room = await api.room(guests=[{"identity": "family-1", "name": "Family"}])
    api.clock.advance(1000)
    decision, guest, guest_pid = await join(api, room["id"], "family-1", role="guest")
    assert decision.outcome == "wait" and decision.messages[0].status == "waiting_for_client"
    entries = (await api.ok("GET", f"/v1/rooms/{room['id']}/waiting"))["waiting"]
    assert entries[0]["status"] == "waiting_for_client"
    status, err = await api.call("POST", f"/v1/rooms/{room['id']}/waiting/{guest_pid}/admit")
    assert status == 409 and err["error"]["code"] == "waiting_for_client"
    # a forced start without the client does not let guests in either
    await api.ok("POST", f"/v1/rooms/{room['id']}/start")
    assert not guest.admitted
    decision, _, _ = await join(api, room["id"], "client-1")
    assert decision.outcome == "admit"  # consultation running: the client goes straight in
    await eventually(lambda: guest.admitted)
    decision, _, _ = await join(api, room["id"], "family-2", role="guest")
    assert decision.outcome == "admit"  # client present: later guests enter directly


async def test_guest_admitted_together_with_the_client(api: Api) -> None:
    room = await api.room(guests=[{"identity": "g"}])
    api.clock.advance(1000)
    _, guest, _ = await join(api, room["id"], "g", role="guest")
    _, client, client_pid = await join(api, room["id"], "client-1")
    await api.ok("POST", f"/v1/rooms/{room['id']}/waiting/{client_pid}/admit")
    await eventually(lambda: client.admitted and guest.admitted)


async def test_invited_during_the_call_joins_directly(api: Api) -> None:
    room = await api.room()
    api.clock.advance(1800)
    await join(api, room["id"], "dr-a", role="practitioner")
    _, _client, pid = await join(api, room["id"], "client-1")
    await api.ok("POST", f"/v1/rooms/{room['id']}/waiting/{pid}/admit")
    decision, _, _ = await join(api, room["id"], "interpreter", role="guest")
    assert decision.outcome == "admit"
    issued = await api.ok("POST", f"/v1/rooms/{room['id']}/tokens", {"identity": "x", "role": "client"}, status=201)
    assert tokens.verify(SECRET, issued["token"], now=api.clock.now).extra.get("inv") is True


async def test_walk_in_availability_and_queue(api: Api) -> None:
    t = api.clock.now
    room = await api.ok(
        "POST",
        "/v1/rooms",
        {"kind": "walk_in", "practitioner": {"identity": "dr-w", "name": "Dr W"}, "department": "cardio", "starts_at": t, "ends_at": t + 3600},
        status=201,
    )
    assert (await api.ok("GET", "/v1/walk-in/available"))["available"] == []
    await api.ok("PUT", f"/v1/rooms/{room['id']}/availability", {"available": True})
    available = (await api.ok("GET", "/v1/walk-in/available?department=cardio"))["available"]
    assert [(a["room"], a["practitioner"]["name"]) for a in available] == [(room["id"], "Dr W")]
    assert (await api.ok("GET", "/v1/walk-in/available?department=derma"))["available"] == []
    decision, visitor, pid = await join(api, room["id"], "visitor-1")
    assert decision.outcome == "wait" and decision.messages[0].status == "walk_in"
    assert decision.messages[0].appointment_at is None
    _, visitor2, pid2 = await join(api, room["id"], "visitor-2")
    await api.ok("POST", f"/v1/rooms/{room['id']}/waiting/{pid}/admit")
    await eventually(lambda: visitor.admitted)
    assert not visitor2.admitted  # a running walk-in room does not let the next visitor skip the queue
    entries = (await api.ok("GET", f"/v1/rooms/{room['id']}/waiting"))["waiting"]
    assert [e["participant_id"] for e in entries] == [pid2] and entries[0]["status"] == "walk_in"
    api.clock.advance(3601)  # outside the walk-in hours
    assert (await api.ok("GET", "/v1/walk-in/available"))["available"] == []
    api.clock.now = t + 10
    await api.ok("PUT", f"/v1/rooms/{room['id']}/availability", {"available": False})
    assert (await api.ok("GET", "/v1/walk-in/available"))["available"] == []
    appointment = await api.room()
    status, err = await api.call("PUT", f"/v1/rooms/{appointment['id']}/availability", {"available": True})
    assert status == 409 and err["error"]["code"] == "not_walk_in"
    status, err = await api.call("PUT", f"/v1/rooms/{room['id']}/availability", {"available": "yes"})
    assert status == 422 and "'available'" in err["error"]["message"]


async def test_department_waiting_room(api: Api) -> None:
    room1 = await api.room(department="cardio", practitioner=None)
    room2 = await api.room(department="cardio")
    other = await api.room(department="derma")
    api.clock.advance(1000)
    _, _, p1 = await join(api, room1["id"], "c1")
    api.clock.advance(5)
    _, _, p2 = await join(api, room2["id"], "c2")
    await join(api, other["id"], "c3")
    entries = (await api.ok("GET", "/v1/departments/cardio/waiting", key="dept"))["waiting"]
    assert [(e["participant_id"], e["room"]) for e in entries] == [(p1, room1["id"]), (p2, room2["id"])]
    assert (await api.call("GET", "/v1/departments/cardio/waiting", key="other_dept"))[0] == 403  # names another department
    assert (await api.call("GET", "/v1/rooms?department=cardio", key="other_dept"))[0] == 403
    assert (await api.call("GET", "/v1/walk-in/available?department=cardio", key="other_dept"))[0] == 403
    assert (await api.call("GET", f"/v1/rooms/{room1['id']}/waiting", key="other_dept"))[0] == 404
    assert (await api.call("POST", f"/v1/rooms/{room1['id']}/waiting/{p1}/admit", key="other_dept"))[0] == 404
    # every practitioner of the department can admit from the department room
    _, doc1, _ = await join(api, room1["id"], "dr-1", role="practitioner")
    _, doc2, _ = await join(api, room1["id"], "dr-2", role="department_manager")
    await api.ok("POST", f"/v1/rooms/{room1['id']}/waiting/{p1}/admit", key="dept")
    await eventually(lambda: doc1.last("queue").entries == [] and doc2.last("queue").entries == [])


async def test_end_disconnects_everyone_and_shows_the_message(api: Api) -> None:
    room = await api.room(settings={"post_consultation_message": "Book a follow-up: 555-0100"})
    api.clock.advance(1800)
    _, doctor, _ = await join(api, room["id"], "dr-a", role="practitioner")
    _, client, pid = await join(api, room["id"], "client-1")
    _, waiting_guest, _ = await join(api, room["id"], "late-guest", role="guest")
    await api.ok("POST", f"/v1/rooms/{room['id']}/waiting/{pid}/admit")
    await eventually(lambda: client.admitted)
    api.clock.advance(900)
    ended = await api.ok("POST", f"/v1/rooms/{room['id']}/end")
    assert ended["duration_s"] == 900 and ended["participant_count"] == 0 and ended["waiting_count"] == 0
    for handle in (doctor, client, waiting_guest):
        await eventually(lambda h=handle: h.closed is not None)
        assert handle.closed == ("ended", "Book a follow-up: 555-0100")
        assert handle.last("consultation_ended").post_consultation_message == "Book a follow-up: 555-0100"
    assert api.plane.lobby.dump() == {}
    decision, _, _ = await join_after_end(api, room["id"])
    assert decision.outcome == "refuse" and decision.reason == "room_ended"
    status, err = await api.call("POST", f"/v1/rooms/{room['id']}/tokens", {"identity": "x", "role": "client"})
    assert status == 409 and err["error"]["code"] == "room_ended"


async def join_after_end(api: Api, room_id: str) -> tuple:
    from control import tokens as t
    from tests.control.conftest import join_claims

    token = t.mint(SECRET, room=room_id, identity="client-1", role="client", now=api.clock.now, extra={"org": "org1"})
    return await join_claims(api, t.verify(SECRET, token, now=api.clock.now))


async def test_cli_tokens_for_unknown_rooms_enter_directly(api: Api) -> None:
    from tests.control.conftest import join_claims

    cli = tokens.mint(SECRET, room="adhoc-room", identity="me", role="client", now=api.clock.now)
    decision, _, _ = await join_claims(api, tokens.verify(SECRET, cli, now=api.clock.now))
    assert decision.outcome == "admit"
    platform = tokens.mint(SECRET, room="adhoc-room", identity="me", role="client", now=api.clock.now, extra={"org": "org1"})
    decision, _, _ = await join_claims(api, tokens.verify(SECRET, platform, now=api.clock.now))
    assert decision.outcome == "refuse" and decision.reason == "not_found"
    room = await api.room()
    other_org = tokens.mint(SECRET, room=room["id"], identity="me", role="practitioner", now=api.clock.now, extra={"org": "org2"})
    decision, _, _ = await join_claims(api, tokens.verify(SECRET, other_org, now=api.clock.now))
    assert decision.reason == "not_found"


async def test_practitioner_controls_over_signalling(api: Api) -> None:
    from signalling.lobby import LobbyError
    from signalling.messages_waiting import Admit, EndConsultation, ForceStart

    room = await api.room()
    api.clock.advance(1800)
    _, doctor, doctor_pid = await join(api, room["id"], "dr-a", role="practitioner")
    _, client, client_pid = await join(api, room["id"], "client-1")
    lobby = api.plane.lobby
    try:
        await lobby.on_message(room["id"], client_pid, Admit(participant_id=client_pid), api.clock.now)
        raise AssertionError("a client must not admit")
    except LobbyError as exc:
        assert exc.code == "forbidden"
    await lobby.on_message(room["id"], doctor_pid, Admit(participant_id=client_pid), api.clock.now)
    await eventually(lambda: client.admitted)
    try:
        await lobby.on_message(room["id"], doctor_pid, Admit(participant_id=client_pid), api.clock.now)
        raise AssertionError("admitting twice must fail")
    except LobbyError as exc:
        assert exc.code == "not_waiting"
    try:
        await lobby.on_message(room["id"], doctor_pid, ForceStart(), api.clock.now)
        raise AssertionError("already started")
    except LobbyError as exc:
        assert exc.code == "already_started"
    await lobby.on_message(room["id"], doctor_pid, EndConsultation(), api.clock.now)
    await eventually(lambda: client.closed is not None and doctor.closed is not None)
    assert (await api.ok("GET", f"/v1/rooms/{room['id']}"))["state"] == "ended"


async def test_concurrent_admits_admit_once(api: Api, make_store) -> None:
    """Two practitioners (here: two API processes with their own store connection) admit at once."""
    from control.consultations import Consultations
    from control.domain.errors import Conflict
    from control.domain.scope import Scope

    t = api.clock.now  # a walk-in room: every visitor waits, even while it is running
    room = await api.room(kind="walk_in", client=None, starts_at=t, ends_at=t + 3600)
    second_store = make_store() if api.store_kind == "redis" else api.plane.store
    second = Consultations(second_store, secret=SECRET, public_url="http://x", clock=api.clock)
    first = api.plane.consultations
    for round_ in range(10):
        _, client, pid = await join(api, room["id"], f"client-{round_}")
        results = await asyncio.gather(
            first.admit(Scope("org1"), room["id"], pid),
            second.admit(Scope("org1"), room["id"], pid),
            first.admit(Scope("org1"), room["id"], pid),
            return_exceptions=True,
        )
        conflicts = [r for r in results if isinstance(r, Conflict)]
        assert len(conflicts) == 2, results
        assert all(c.code == "not_waiting" for c in conflicts)
        await eventually(lambda c=client: c.admitted)
    got = await api.ok("GET", f"/v1/rooms/{room['id']}")
    assert got["participant_count"] == 10
    if second_store is not api.plane.store:
        await second_store.close()
