"""/v1/apikeys: an organisation's API keys, managed with an organisation-wide key.

``GET /v1/apikeys`` lists the organisation's keys (ids, department, creation time; never a
key); ``POST /v1/apikeys`` (``{"department": D}`` optional) creates one and answers the key,
the only time it is shown; ``DELETE /v1/apikeys/{key_id}`` revokes a key (the next request
with it gets 401, in every process); ``POST /v1/apikeys/{key_id}/rotate`` creates a key of
the same scope, revokes the old one and answers the new key. A department key gets 403; a
key id of another organisation is 404, like an unknown one.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from control.api.common import read_json_object, scope_of, service
from control.api.openapi import ApiExtension
from control.api.schemas import COMPONENTS
from control.api.validate import check
from control.apikeys import create_key, key_view, list_keys, revoke_key, rotate_key
from control.domain.errors import ControlError, Forbidden, NotFound

routes = web.RouteTableDef()
_KEY_ID_RE = re.compile(r"^[0-9a-f]{16}$")


def _org(request: web.Request) -> str:
    scope = scope_of(request)
    if scope.department is not None:
        raise Forbidden("API keys are managed with an organisation-wide API key, not a department key")
    return scope.org


def _key_id(request: web.Request) -> str:
    key_id = request.match_info["key_id"]
    if not _KEY_ID_RE.match(key_id):
        raise NotFound("API key")
    return key_id


async def _read_json(request: web.Request) -> dict[str, Any]:
    """The JSON object body, required (``{}`` for the defaults), within the API's limits."""
    data = await read_json_object(request)
    if data is None:
        raise ControlError("bad_json", "request body must be a JSON object ({} for the defaults)")
    return data


def _created(key: str, view: dict[str, object]) -> web.Response:
    return web.json_response({**view, "key": key}, status=201)


@routes.get("/apikeys")
async def list_api_keys(request: web.Request) -> web.Response:
    records = await list_keys(service(request).store, _org(request))
    return web.json_response({"keys": [key_view(r) for r in records]})


@routes.post("/apikeys")
async def create_api_key(request: web.Request) -> web.Response:
    org = _org(request)
    body = await _read_json(request)
    check(SCHEMAS["ApiKeyCreate"], body, "", COMPONENTS)
    department = body.get("department")
    store = service(request).store
    key = await create_key(store, org, department)
    record = await store.get_api_key(key.split("_")[1])
    return _created(key, key_view(record) if record is not None else {"org": org, "department": department})


@routes.delete("/apikeys/{key_id}")
async def revoke_api_key(request: web.Request) -> web.Response:
    await revoke_key(service(request).store, _key_id(request), _org(request))
    return web.Response(status=204)


@routes.post("/apikeys/{key_id}/rotate")
async def rotate_api_key(request: web.Request) -> web.Response:
    store = service(request).store
    key, _old = await rotate_key(store, _key_id(request), _org(request))
    record = await store.get_api_key(key.split("_")[1])
    return _created(key, key_view(record) if record is not None else {})


# ---------------------------------------------------------------- OpenAPI


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _ok(status: str, schema: str) -> dict[str, Any]:
    return {status: {"description": "success", "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}}}


_COMMON = {
    "401": _error("missing or invalid API key"),
    "403": _error("a department key cannot manage API keys"),
    "503": _error("the state store (Redis) is unavailable"),
}
_KEY_ID = [{"name": "key_id", "in": "path", "required": True, "schema": {"type": "string", "pattern": "^[0-9a-f]{16}$"}}]
_KEY_PROPERTIES: dict[str, Any] = {
    "key_id": {"type": "string"},
    "org": {"type": "string"},
    "department": {"type": ["string", "null"]},
    "created_at": {"type": "number", "description": "unix seconds"},
}

SCHEMAS: dict[str, Any] = {
    "ApiKey": {"type": "object", "required": ["key_id", "org", "department", "created_at"], "properties": _KEY_PROPERTIES},
    "ApiKeyList": {"type": "object", "required": ["keys"], "properties": {"keys": {"type": "array", "items": {"$ref": "#/components/schemas/ApiKey"}}}},
    "ApiKeyCreated": {
        "type": "object",
        "required": ["key_id", "org", "department", "created_at", "key"],
        "properties": {**_KEY_PROPERTIES, "key": {"type": "string", "description": "the key itself: shown this once, only its hash is kept"}},
    },
    "ApiKeyCreate": {
        "type": "object",
        "additionalProperties": False,
        "properties": {"department": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"}},
    },
}

PATHS: dict[str, Any] = {
    "/v1/apikeys": {
        "get": {"summary": "The organisation's API keys (never the keys themselves)", "responses": {**_ok("200", "ApiKeyList"), **_COMMON}},
        "post": {
            "summary": "Create an API key (organisation-wide, or for one department); the key is in this answer only",
            "requestBody": {"required": True, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ApiKeyCreate"}}}},
            "responses": {**_ok("201", "ApiKeyCreated"), **_COMMON, "400": _error("body is not a JSON object"), "422": _error("a field breaks a rule")},
        },
    },
    "/v1/apikeys/{key_id}": {
        "delete": {
            "summary": "Revoke an API key: the next request with it is refused",
            "parameters": _KEY_ID,
            "responses": {"204": {"description": "revoked"}, **_COMMON, "404": _error("no such key in the organisation")},
        },
    },
    "/v1/apikeys/{key_id}/rotate": {
        "post": {
            "summary": "Replace an API key: a new key of the same scope (in this answer only); the old one is revoked",
            "parameters": _KEY_ID,
            "responses": {**_ok("201", "ApiKeyCreated"), **_COMMON, "404": _error("no such key in the organisation")},
        },
    },
}

#: /v1/apikeys, mounted by build_api like a feature's part of the API
EXTENSION = ApiExtension(routes, paths=PATHS, schemas=SCHEMAS)
