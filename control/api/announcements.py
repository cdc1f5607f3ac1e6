"""Announcements shown live to everyone waiting: per room or per department.

``GET`` lists visible ones; ``?include_expired=true`` also lists expired ones, which stay
stored but are no longer shown. ``DELETE`` on the collection removes them all at once.
"""

from __future__ import annotations

from aiohttp import web

from control.api.common import department_param, query_enum, read_body, scope_of, service
from control.domain.views import announcement_view

routes = web.RouteTableDef()


def _include_expired(request: web.Request) -> bool:
    return query_enum(request, "include_expired", ("true", "false")) == "true"


@routes.get("/rooms/{room_id}/announcements")
async def list_room(request: web.Request) -> web.Response:
    svc = service(request)
    include_expired = _include_expired(request)
    room = await svc.room(scope_of(request), request.match_info["room_id"])
    now = svc.clock()
    shown = [
        announcement_view(a, "room", now)
        for a in room.announcements
        if include_expired or a.visible(now)
    ]
    return web.json_response({"announcements": shown})


@routes.post("/rooms/{room_id}/announcements")
async def add_room(request: web.Request) -> web.Response:
    body = await read_body(request, "AnnouncementCreate")
    svc = service(request)
    ann = await svc.add_room_announcement(scope_of(request), request.match_info["room_id"], body)
    return web.json_response(announcement_view(ann, "room", svc.clock()), status=201)


@routes.delete("/rooms/{room_id}/announcements")
async def delete_all_room(request: web.Request) -> web.Response:
    await service(request).delete_room_announcements(scope_of(request), request.match_info["room_id"], None)
    return web.Response(status=204)


@routes.delete("/rooms/{room_id}/announcements/{announcement_id}")
async def delete_room(request: web.Request) -> web.Response:
    await service(request).delete_room_announcements(
        scope_of(request), request.match_info["room_id"], request.match_info["announcement_id"]
    )
    return web.Response(status=204)


@routes.get("/departments/{department}/announcements")
async def list_department(request: web.Request) -> web.Response:
    svc = service(request)
    include_expired = _include_expired(request)
    dept = await svc.department(scope_of(request), department_param(request))
    now = svc.clock()
    shown = [
        announcement_view(a, "department", now)
        for a in dept.announcements
        if include_expired or a.visible(now)
    ]
    return web.json_response({"announcements": shown})


@routes.post("/departments/{department}/announcements")
async def add_department(request: web.Request) -> web.Response:
    department = department_param(request)
    body = await read_body(request, "AnnouncementCreate")
    svc = service(request)
    ann = await svc.add_department_announcement(scope_of(request), department, body)
    return web.json_response(announcement_view(ann, "department", svc.clock()), status=201)


@routes.delete("/departments/{department}/announcements")
async def delete_all_department(request: web.Request) -> web.Response:
    await service(request).delete_department_announcements(scope_of(request), department_param(request), None)
    return web.Response(status=204)


@routes.delete("/departments/{department}/announcements/{announcement_id}")
async def delete_department(request: web.Request) -> web.Response:
    await service(request).delete_department_announcements(
        scope_of(request), department_param(request), request.match_info["announcement_id"]
    )
    return web.Response(status=204)
