"""Announcements per room and per department: expiry, delete one/all, live to waiting people."""

from __future__ import annotations

from tests.control.conftest import Api, eventually, join


async def test_room_announcements_expire_but_stay_stored(api: Api) -> None:
    room = await api.room()
    base = f"/v1/rooms/{room['id']}/announcements"
    a1 = await api.ok("POST", base, {"text": "Running 10 minutes late"}, status=201)
    a2 = await api.ok("POST", base, {"text": "Back at 14:00", "expires_in_s": 600}, status=201)
    assert a1["scope"] == "room" and a1["expires_at"] is None and a1["expired"] is False
    assert a2["expires_at"] == api.clock.now + 600
    assert [a["id"] for a in (await api.ok("GET", base))["announcements"]] == [a1["id"], a2["id"]]
    api.clock.advance(601)
    assert [a["id"] for a in (await api.ok("GET", base))["announcements"]] == [a1["id"]]
    stored = (await api.ok("GET", base + "?include_expired=true"))["announcements"]
    assert [(a["id"], a["expired"]) for a in stored] == [(a1["id"], False), (a2["id"], True)]
    await api.ok("DELETE", f"{base}/{a1['id']}", status=204)
    assert (await api.call("DELETE", f"{base}/{a1['id']}"))[0] == 404
    await api.ok("POST", base, {"text": "three"}, status=201)
    await api.ok("DELETE", base, status=204)
    assert (await api.ok("GET", base + "?include_expired=true"))["announcements"] == []
    status, err = await api.call("POST", base, {"text": ""})
    assert status == 422 and "'text'" in err["error"]["message"]
    status, err = await api.call("POST", base, {"text": "x", "expires_in_s": 0})
    assert status == 422 and "'expires_in_s'" in err["error"]["message"]
    assert (await api.call("GET", base, key="other_org"))[0] == 404


async def test_department_announcements_and_scope(api: Api) -> None:
    base = "/v1/departments/cardio/announcements"
    made = await api.ok("POST", base, {"text": "Dept closes at 17:00", "expires_at": api.clock.now + 60}, key="dept", status=201)
    assert made["scope"] == "department"
    assert (await api.ok("GET", base))["announcements"][0]["id"] == made["id"]
    # a department key naming another department: 403, as docs/api.md says (issue 13: it was 404)
    for method, body in (("GET", None), ("POST", {"text": "x"}), ("DELETE", None)):
        status, err = await api.call(method, base, body, key="other_dept")
        assert (status, err["error"]["code"]) == (403, "forbidden"), (method, err)
    assert (await api.call("DELETE", f"{base}/{made['id']}", key="other_dept"))[0] == 403
    # another organisation's department of the same name is separate
    assert (await api.ok("GET", base, key="other_org"))["announcements"] == []
    api.clock.advance(61)
    assert (await api.ok("GET", base))["announcements"] == []
    assert len((await api.ok("GET", base + "?include_expired=true"))["announcements"]) == 1
    await api.ok("DELETE", base, key="dept", status=204)
    assert (await api.ok("GET", base + "?include_expired=true"))["announcements"] == []
    status, err = await api.call("GET", "/v1/departments/bad%20name/announcements")
    assert status == 422 and "'department'" in err["error"]["message"]


async def test_waiting_clients_see_announcements_live(api: Api) -> None:
    room = await api.room(department="cardio")
    await api.ok("POST", f"/v1/rooms/{room['id']}/announcements", {"text": "Welcome"}, status=201)
    api.clock.advance(1000)
    decision, client, _ = await join(api, room["id"], "client-1")
    assert [a.text for a in decision.messages[0].announcements] == ["Welcome"]
    await api.ok("POST", "/v1/departments/cardio/announcements", {"text": "Dept news"}, status=201)
    await eventually(lambda: client.of_type("announcement") and len(client.last("announcement").announcements) == 2)
    shown = client.last("announcement").announcements
    assert [(a.text, a.scope) for a in shown] == [("Welcome", "room"), ("Dept news", "department")]
    await api.ok("DELETE", f"/v1/rooms/{room['id']}/announcements", status=204)
    await eventually(lambda: [a.text for a in client.last("announcement").announcements] == ["Dept news"])
