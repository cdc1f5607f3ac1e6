"""Waiting queues: per room and per department; admit and deny."""

from __future__ import annotations

from aiohttp import web

from control.api.common import department_param, read_body, scope_of, service
from control.domain.views import room_view

routes = web.RouteTableDef()


@routes.get("/rooms/{room_id}/waiting")
async def room_waiting(request: web.Request) -> web.Response:
    entries = await service(request).waiting(scope_of(request), request.match_info["room_id"])
    return web.json_response({"waiting": entries})


@routes.get("/departments/{department}/waiting")
async def department_waiting(request: web.Request) -> web.Response:
    department = department_param(request)
    entries = await service(request).department_waiting(scope_of(request), department)
    return web.json_response({"waiting": entries})


@routes.post("/rooms/{room_id}/waiting/{participant_id}/admit")
async def admit(request: web.Request) -> web.Response:
    svc = service(request)
    room = await svc.admit(scope_of(request), request.match_info["room_id"], request.match_info["participant_id"])
    return web.json_response(room_view(room, svc.clock()))


@routes.post("/rooms/{room_id}/waiting/{participant_id}/deny")
async def deny(request: web.Request) -> web.Response:
    body = await read_body(request, "Deny")
    svc = service(request)
    room = await svc.deny(
        scope_of(request),
        request.match_info["room_id"],
        request.match_info["participant_id"],
        body.get("message", ""),
    )
    return web.json_response(room_view(room, svc.clock()))
