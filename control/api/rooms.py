"""/v1/rooms: create, get, list, end, force start, join tokens."""

from __future__ import annotations

from aiohttp import web

from control.api.common import (
    query_enum,
    query_name,
    query_number,
    read_body,
    scope_of,
    service,
)
from control.domain.views import room_view

routes = web.RouteTableDef()


@routes.post("/rooms")
async def create_room(request: web.Request) -> web.Response:
    body = await read_body(request, "RoomCreate")
    svc = service(request)
    room = await svc.create_room(scope_of(request), body)
    return web.json_response(room_view(room, svc.clock()), status=201)


@routes.get("/rooms")
async def list_rooms(request: web.Request) -> web.Response:
    svc = service(request)
    rooms = await svc.list_rooms(
        scope_of(request),
        department=query_name(request, "department"),
        state=query_enum(request, "state", ("scheduled", "started", "ended")),
        kind=query_enum(request, "kind", ("appointment", "quick", "walk_in")),
        starts_after=query_number(request, "starts_after"),
        starts_before=query_number(request, "starts_before"),
    )
    now = svc.clock()
    return web.json_response({"rooms": [room_view(r, now) for r in rooms]})


@routes.get("/rooms/{room_id}")
async def get_room(request: web.Request) -> web.Response:
    svc = service(request)
    room = await svc.room(scope_of(request), request.match_info["room_id"])
    return web.json_response(room_view(room, svc.clock()))


@routes.post("/rooms/{room_id}/end")
async def end_room(request: web.Request) -> web.Response:
    svc = service(request)
    room = await svc.end(scope_of(request), request.match_info["room_id"])
    return web.json_response(room_view(room, svc.clock()))


@routes.post("/rooms/{room_id}/start")
async def force_start(request: web.Request) -> web.Response:
    svc = service(request)
    room = await svc.force_start(scope_of(request), request.match_info["room_id"])
    return web.json_response(room_view(room, svc.clock()))


@routes.post("/rooms/{room_id}/tokens")
async def issue_token(request: web.Request) -> web.Response:
    body = await read_body(request, "TokenCreate")
    issued = await service(request).issue_token(scope_of(request), request.match_info["room_id"], body)
    return web.json_response(issued, status=201)
