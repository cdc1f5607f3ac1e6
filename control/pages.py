"""HTML pages served by the server itself: the room page, the settings page, an index."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

routes = web.RouteTableDef()
STATIC = Path(__file__).parent / "static"


def _page(name: str) -> web.StreamResponse:
    path = STATIC / name
    if not path.is_file():
        return web.Response(status=404, text=f"{name} is not installed")
    return web.FileResponse(path, headers={"Cache-Control": "no-store"})


@routes.get("/room/{room}")
async def room_page(request: web.Request) -> web.StreamResponse:
    return _page("room.html")


@routes.get("/settings")
async def settings_page(request: web.Request) -> web.StreamResponse:
    return _page("settings.html")


@routes.get("/")
async def index(request: web.Request) -> web.Response:
    return web.Response(
        content_type="text/html",
        text=(
            "<!doctype html><meta charset=utf-8><title>consult-sfu</title>"
            "<h1>consult-sfu</h1><p>Open the join link from your appointment e-mail, or "
            "<a href='/settings'>test your camera, microphone and network</a>.</p>"
            "<p><a href='/v1/docs'>API reference</a> · <a href='/healthz'>health</a></p>"
        ),
    )
