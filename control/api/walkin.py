"""Walk-in hours: a practitioner switches available/unavailable; who is available now."""

from __future__ import annotations

from aiohttp import web

from control.api.common import query_name, read_body, scope_of, service
from control.domain.views import person_view, room_view

routes = web.RouteTableDef()


@routes.put("/rooms/{room_id}/availability")
async def set_availability(request: web.Request) -> web.Response:
    body = await read_body(request, "Availability")
    svc = service(request)
    room = await svc.set_availability(scope_of(request), request.match_info["room_id"], body["available"])
    return web.json_response(room_view(room, svc.clock()))


@routes.get("/walk-in/available")
async def available_now(request: web.Request) -> web.Response:
    rooms = await service(request).available_now(scope_of(request), query_name(request, "department"))
    return web.json_response(
        {
            "available": [
                {
                    "room": r.id,
                    "practitioner": person_view(r.practitioner),
                    "department": r.department,
                    "available_since": r.available_since,
                    "walk_in_until": r.ends_at,
                    "waiting_count": len(r.waiting()),
                }
                for r in rooms
            ]
        }
    )
