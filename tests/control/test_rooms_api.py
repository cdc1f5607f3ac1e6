"""Rooms through the REST API: create, get, list with filters, end, scopes, errors."""

from __future__ import annotations

import pytest

from tests.control.conftest import Api


async def test_create_and_get_appointment(api: Api) -> None:
    room = await api.room(settings={"captions_allowed": False, "post_consultation_message": "Call 123"})
    assert room["kind"] == "appointment"
    assert room["state"] == "scheduled"
    assert room["access_window"] == {"opens_at": room["starts_at"] - 3600, "closes_at": room["ends_at"] + 3600}
    assert room["settings"]["captions_allowed"] is False
    assert room["settings"]["resolution_change_allowed"] is True
    assert room["settings"]["post_consultation_message"] == "Call 123"
    got = await api.ok("GET", f"/v1/rooms/{room['id']}")
    assert got == room


async def test_access_window_configurable(api: Api) -> None:
    room = await api.room(access_window={"before_start_s": 600, "after_end_s": 0})
    assert room["access_window"]["opens_at"] == room["starts_at"] - 600
    assert room["access_window"]["closes_at"] == room["ends_at"]


async def test_unknown_and_other_org_room_are_plain_404(api: Api) -> None:
    room = await api.room()
    unknown_status, unknown = await api.call("GET", "/v1/rooms/r0000000000000000")
    other_status, other = await api.call("GET", f"/v1/rooms/{room['id']}", key="other_org")
    assert unknown_status == other_status == 404
    assert unknown == other == {"error": {"code": "not_found", "message": "room not found"}}
    for path in ("end", "start", "tokens"):
        status, _ = await api.call("POST", f"/v1/rooms/{room['id']}/{path}", {"identity": "x", "role": "client"}, key="other_org")
        assert status == 404


async def test_department_separation(api: Api) -> None:
    cardio = await api.room(department="cardio")
    derma = await api.room(department="derma")
    plain = await api.room()
    listed = await api.ok("GET", "/v1/rooms", key="dept")
    assert [r["id"] for r in listed["rooms"]] == [cardio["id"]]
    assert (await api.call("GET", f"/v1/rooms/{derma['id']}", key="dept"))[0] == 404
    assert (await api.call("GET", f"/v1/rooms/{plain['id']}", key="dept"))[0] == 404
    assert (await api.call("GET", f"/v1/rooms/{cardio['id']}", key="other_dept"))[0] == 404
    # a department key creates rooms in its own department only
    made = await api.ok("POST", "/v1/rooms", {"kind": "quick", "practitioner": {"identity": "d"}}, key="dept", status=201)
    assert made["department"] == "cardio"
    status, err = await api.call("POST", "/v1/rooms", {"kind": "quick", "department": "derma"}, key="dept")
    assert status == 403 and "department" in err["error"]["message"]
    everything = await api.ok("GET", "/v1/rooms")
    assert len(everything["rooms"]) == 4


async def test_list_filters(api: Api) -> None:
    t = api.clock.now
    early = await api.room(starts_at=t + 100, ends_at=t + 200, department="cardio")
    late = await api.room(starts_at=t + 5000, ends_at=t + 6000)
    quick = await api.ok("POST", "/v1/rooms", {"kind": "quick"}, status=201)
    await api.ok("POST", f"/v1/rooms/{late['id']}/end")

    async def ids(query: str) -> list[str]:
        data = await api.ok("GET", f"/v1/rooms{query}")
        return [r["id"] for r in data["rooms"]]

    assert await ids("?department=cardio") == [early["id"]]
    assert await ids("?state=ended") == [late["id"]]
    assert set(await ids("?state=scheduled")) == {early["id"], quick["id"]}
    assert await ids(f"?starts_after={t + 50}&starts_before={t + 1000}") == [early["id"]]
    assert await ids("?kind=quick") == [quick["id"]]


async def test_end_records_start_end_duration(api: Api) -> None:
    room = await api.room()
    api.clock.advance(1800)
    started = await api.ok("POST", f"/v1/rooms/{room['id']}/start")
    assert started["state"] == "started" and started["forced"] is True
    assert started["started_at"] == api.clock.now
    api.clock.advance(754.5)
    ended = await api.ok("POST", f"/v1/rooms/{room['id']}/end")
    assert ended["state"] == "ended"
    assert ended["ended_at"] == api.clock.now
    assert ended["duration_s"] == pytest.approx(754.5)
    status, err = await api.call("POST", f"/v1/rooms/{room['id']}/end")
    assert status == 409 and err["error"]["code"] == "room_ended"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "kind"),
        ({"kind": "nope"}, "kind"),
        ({"kind": "appointment", "client": {"identity": "c"}, "practitioner": {"identity": "p"}, "ends_at": 10}, "starts_at"),
        ({"kind": "appointment", "practitioner": {"identity": "p"}, "starts_at": 10, "ends_at": 20}, "client"),
        ({"kind": "appointment", "client": {"identity": "c"}, "starts_at": 10, "ends_at": 20}, "practitioner"),
        ({"kind": "appointment", "client": {"identity": "c"}, "practitioner": {"identity": "p"}, "starts_at": 30, "ends_at": 20}, "ends_at"),
        ({"kind": "walk_in", "starts_at": 10, "ends_at": 20}, "practitioner"),
        ({"kind": "quick", "starts_at": "soon"}, "starts_at"),
        ({"kind": "quick", "colour": "red"}, "colour"),
        ({"kind": "quick", "settings": {"captions_allowed": "yes"}}, "settings.captions_allowed"),
        ({"kind": "quick", "guests": [{"name": "no identity"}]}, "guests[0].identity"),
        ({"kind": "quick", "access_window": {"before_start_s": -1}}, "access_window.before_start_s"),
        ({"kind": "quick", "department": "bad dept!"}, "department"),
    ],
)
async def test_bad_room_input_names_the_field(api: Api, body: dict, field: str) -> None:
    status, err = await api.call("POST", "/v1/rooms", body)
    assert 400 <= status < 500
    assert f"'{field}'" in err["error"]["message"], err
    assert err["error"]["code"] in ("invalid_field", "missing_field")


async def test_bad_json_and_bad_query(api: Api) -> None:
    json_headers = {**api.headers(api.org_key), "Content-Type": "application/json"}
    async with api.client.post("/v1/rooms", data=b"{nope", headers=json_headers) as resp:
        assert resp.status == 400
        assert (await resp.json())["error"]["code"] == "bad_json"
    status, err = await api.call("GET", "/v1/rooms?state=running")
    assert status == 422 and "'state'" in err["error"]["message"]
    status, err = await api.call("GET", "/v1/rooms?starts_after=tomorrow")
    assert status == 422 and "'starts_after'" in err["error"]["message"]


async def test_api_key_required(api: Api) -> None:
    status, err = await api.call("GET", "/v1/rooms", key=None)
    assert status == 401 and err["error"]["code"] == "unauthorized"
    status, _ = await api.call("GET", "/v1/rooms", key="csk_0123456789abcdef_" + "A" * 43)
    assert status == 401
    forged = api.org_key[:-4] + ("AAAA" if not api.org_key.endswith("AAAA") else "BBBB")
    status, _ = await api.call("GET", "/v1/rooms", key=forged)
    assert status == 401


async def test_unknown_route_is_json_404(api: Api) -> None:
    status, err = await api.call("GET", "/v1/nothing-here")
    assert status == 404 and err["error"]["code"] == "not_found"
