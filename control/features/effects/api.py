"""The effects feature's HTTP routes: /v1/backgrounds (the organisation's background images
for background replacement, API key required) and the pictures' thumbnails for the page.

``POST /v1/backgrounds?name=NAME`` with the raw PNG or JPEG file as body
(``Content-Type: image/png`` or ``image/jpeg``), ``GET /v1/backgrounds`` (list),
``DELETE /v1/backgrounds/{image_id}``. Any key of the organisation may list; adding and
deleting need an organisation-wide key (the set is shared by every department).

``GET /backgrounds/{org}/{image_id}/thumb.jpg`` (:data:`page_routes`, on the main app, no
API key: image ids are random) serves the 320x180 JPEG the room page's picker shows.

The images live in the store, shared by every worker and node
(:class:`control.features.effects.shared.SharedBackgrounds`, with each worker's decoded cache),
which the effects feature (feature.py) puts on the main application under :data:`IMAGES_KEY`;
``request.config_dict`` finds it from the /v1 sub-application. The /v1 routes and their
OpenAPI description are the feature's :data:`EXTENSION`: a server built without the
feature has no /v1/backgrounds (404 ``not_found``). Decoding a big JPEG
takes ~100 ms: it runs in the default executor, never on the event loop.

Refusals from the store become the API's JSON errors here (one place): unsupported_format
415, too_large 413, corrupt / too_small / invalid_name 422, too_many 409, unknown image 404, unavailable 503 (no OpenCV: the
``effects`` extra is not installed).
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from aiohttp import web

from control.api import ApiExtension
from control.api.common import error_response, scope_of
from control.domain.errors import Forbidden, InvalidField
from control.features.effects.shared import SharedBackgrounds
from control.store import StoreError
from effects.errors import EffectsError, ImageNotFound, ImageRejected
from effects.images import MAX_NAME_LENGTH, ImageInfo

logger = logging.getLogger(__name__)
#: under /v1 (the EXTENSION)
routes = web.RouteTableDef()
#: on the main application
page_routes = web.RouteTableDef()

IMAGES_KEY = web.AppKey("background_images", SharedBackgrounds)
ACCEPTED_TYPES = ("image/png", "image/jpeg")
REJECTION_STATUS = {
    "unsupported_format": 415,
    "too_large": 413,
    "corrupt": 422,
    "too_small": 422,
    "invalid_name": 422,
    "too_many": 409,
    "unavailable": 503,
}
IMAGE_ID_MAX = 64


def thumbnail_path(org: str, image_id: str) -> str:
    """Where the room page fetches a thumbnail (main app, no API key; ids are unguessable)."""
    return f"backgrounds/{quote(org, safe='')}/{quote(image_id, safe='')}/thumb.jpg"


def image_view(info: ImageInfo) -> dict[str, Any]:
    return {
        "image_id": info.image_id,
        "name": info.name,
        "content_type": info.content_type,
        "width": info.width,
        "height": info.height,
        "size_bytes": info.size_bytes,
        "added_at": info.added_at,
        "thumbnail_url": "/" + thumbnail_path(info.org, info.image_id),
    }


def _store(request: web.Request) -> SharedBackgrounds:
    store = request.config_dict.get(IMAGES_KEY)
    if store is None:
        raise web.HTTPNotFound(reason="background images are not available: this server runs without the effects feature")
    return store


def _org_wide(request: web.Request) -> str:
    scope = scope_of(request)
    if scope.department is not None:
        raise Forbidden("background images are managed with an organisation-wide API key, not a department key")
    return scope.org


def _rejected(exc: ImageRejected) -> web.Response:
    return error_response(REJECTION_STATUS.get(exc.code, 422), exc.code, exc.message)


@routes.get("/backgrounds")
async def list_backgrounds(request: web.Request) -> web.Response:
    org = scope_of(request).org
    images = await _store(request).list(org)
    return web.json_response({"images": [image_view(i) for i in images]})


@routes.post("/backgrounds")
async def add_background(request: web.Request) -> web.Response:
    org = _org_wide(request)
    name = request.query.get("name")
    if name is None or not name.strip():
        raise InvalidField("name", f"(query) is required: 1 to {MAX_NAME_LENGTH} characters naming the image")
    content_type = request.content_type
    if content_type not in ACCEPTED_TYPES:
        return error_response(
            415, "unsupported_format", f"Content-Type must be image/png or image/jpeg (the raw file as body), got {content_type!r}"
        )
    store = _store(request)
    # Bodies over the app's client_max_size (8 MB) are refused by aiohttp as 413 too_large;
    # the store applies the configured max_image_bytes (5 MB by default) before decoding.
    data = await request.read()
    try:
        info = await store.add(org, name, data)  # decodes in the executor
    except ImageRejected as exc:
        return _rejected(exc)
    return web.json_response(image_view(info), status=201)


@routes.delete("/backgrounds/{image_id}")
async def delete_background(request: web.Request) -> web.Response:
    org = _org_wide(request)
    image_id = request.match_info["image_id"]
    try:
        await _store(request).delete(org, image_id)
    except ImageNotFound:
        return error_response(404, "not_found", f"no background image {image_id[:IMAGE_ID_MAX]!r} in this organisation")
    return web.Response(status=204)


@page_routes.get("/backgrounds/{org}/{image_id}/thumb.jpg")
async def thumbnail(request: web.Request) -> web.Response:
    """GET /backgrounds/{org}/{image_id}/thumb.jpg: the 320x180 JPEG of the page's picker."""
    store = request.app[IMAGES_KEY]
    try:
        stored = await store.get(request.match_info["org"], request.match_info["image_id"])
    except (ImageNotFound, EffectsError):
        raise web.HTTPNotFound(reason="no such background image") from None
    except StoreError:
        raise web.HTTPServiceUnavailable(reason="the store cannot be reached; try again in a minute") from None
    return web.Response(
        body=stored.thumbnail_jpeg,
        content_type="image/jpeg",
        headers={"Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff"},
    )


# ---------------------------------------------------------------- OpenAPI (merged by control/api/openapi.py)


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


_COMMON = {
    "401": _error("missing or invalid API key"),
    "404": _error("unknown image"),
    "503": _error("the state store (Redis) is unavailable"),
}

OPENAPI_SCHEMAS: dict[str, Any] = {
    "BackgroundImage": {
        "type": "object",
        "required": ["image_id", "name", "content_type", "width", "height", "size_bytes", "added_at", "thumbnail_url"],
        "properties": {
            "image_id": {"type": "string"},
            "name": {"type": "string"},
            "content_type": {"type": "string", "enum": list(ACCEPTED_TYPES)},
            "width": {"type": "integer"},
            "height": {"type": "integer"},
            "size_bytes": {"type": "integer"},
            "added_at": {"type": "number"},
            "thumbnail_url": {"type": "string", "description": "320x180 JPEG, no API key needed"},
        },
    },
    "BackgroundList": {
        "type": "object",
        "required": ["images"],
        "properties": {"images": {"type": "array", "items": {"$ref": "#/components/schemas/BackgroundImage"}}},
    },
}


def _ok(status: str, schema: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {"description": "success"}
    if schema is not None:
        out["content"] = {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}
    return {status: out}


OPENAPI_PATHS: dict[str, Any] = {
    "/v1/backgrounds": {
        "get": {
            "summary": "The organisation's background images (for background replacement)",
            "responses": {**_ok("200", "BackgroundList"), **_COMMON},
        },
        "post": {
            "summary": "Upload a background image: the raw PNG or JPEG file as body (organisation keys only)",
            "parameters": [
                {"name": "name", "in": "query", "required": True, "schema": {"type": "string", "minLength": 1, "maxLength": MAX_NAME_LENGTH, "pattern": "\\S"}}
            ],
            "requestBody": {
                "required": True,
                "content": {t: {"schema": {"type": "string", "format": "binary"}} for t in ACCEPTED_TYPES},
            },
            "responses": {
                **_ok("201", "BackgroundImage"),
                **_COMMON,
                "403": _error("a department key cannot change the organisation's images"),
                "409": _error("too_many: the organisation's set is full"),
                "413": _error("too_large: file or picture over the limits"),
                "415": _error("unsupported_format: neither PNG nor JPEG"),
                "422": _error("corrupt, too_small or invalid_name (the message says which)"),
            },
        },
    },
    "/v1/backgrounds/{image_id}": {
        "delete": {
            "summary": "Delete a background image (effects already using it keep it until changed)",
            "parameters": [{"name": "image_id", "in": "path", "required": True, "schema": {"type": "string", "maxLength": IMAGE_ID_MAX}}],
            "responses": {
                "204": {"description": "deleted"},
                **_COMMON,
                "403": _error("a department key cannot change the organisation's images"),
            },
        },
    },
}

#: What the feature adds to /v1.
EXTENSION = ApiExtension(routes, paths=OPENAPI_PATHS, schemas=OPENAPI_SCHEMAS)
