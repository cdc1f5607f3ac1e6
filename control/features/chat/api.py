"""The chat feature's part of /v1: the organisation's chat settings.

``GET /v1/chat/settings`` -> ``{"chat_retention": "delete"}`` (any key of the organisation);
``PUT /v1/chat/settings {"chat_retention": "delete" | "hand_over"}`` (organisation-wide keys
only, like the webhooks it may feed). A room's ``settings.chat_retention`` overrides it.
``hand_over`` sends the whole transcript at the end as one ``chat_transcript`` webhook
(docs/api.md, "Chat transcripts"); without webhook URLs configured the transcript is
simply deleted.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from control.api import ApiExtension
from control.api.common import read_json_object, scope_of, service
from control.api.schemas import COMPONENTS
from control.api.validate import check
from control.domain.errors import ControlError, Forbidden
from control.domain.model import CHAT_RETENTIONS, OrgSettings

routes = web.RouteTableDef()

SETTINGS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["chat_retention"],
    "additionalProperties": False,
    "properties": {
        "chat_retention": {
            "type": "string",
            "enum": list(CHAT_RETENTIONS),
            "description": "delete (default): the transcript is deleted when the consultation ends; "
            "hand_over: it is sent as one chat_transcript webhook, then deleted",
        }
    },
}


def _view(settings: OrgSettings) -> dict[str, Any]:
    return {"chat_retention": settings.chat_retention}


@routes.get("/chat/settings")
async def get_settings(request: web.Request) -> web.Response:
    settings = await service(request).store.get_org(scope_of(request).org)
    return web.json_response(_view(settings))


@routes.put("/chat/settings")
async def put_settings(request: web.Request) -> web.Response:
    scope = scope_of(request)
    if scope.department is not None:
        raise Forbidden("chat settings are set with an organisation-wide API key, not a department key")
    body = await read_json_object(request)
    if body is None:
        raise ControlError("bad_json", "request body must be a JSON object")
    check(SETTINGS_SCHEMA, body, "", COMPONENTS)
    retention = str(body["chat_retention"])

    def change(settings: OrgSettings) -> OrgSettings:
        settings.chat_retention = retention
        return settings

    return web.json_response(_view(await service(request).store.update_org(scope.org, change)))


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


_OK = {"200": {"description": "success", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ChatSettings"}}}}}

OPENAPI_PATHS: dict[str, Any] = {
    "/v1/chat/settings": {
        "get": {
            "summary": "The organisation's chat settings (chat_retention)",
            "responses": {**_OK, "401": _error("missing or invalid API key"), "503": _error("the state store is unavailable")},
        },
        "put": {
            "summary": "Set what happens to chat transcripts at the end of a consultation (organisation keys only)",
            "requestBody": {"required": True, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ChatSettings"}}}},
            "responses": {
                **_OK,
                "400": _error("bad_json"),
                "401": _error("missing or invalid API key"),
                "403": _error("a department key cannot change the organisation's settings"),
                "422": _error("invalid_field / missing_field"),
                "503": _error("the state store is unavailable"),
            },
        },
    }
}

EXTENSION = ApiExtension(routes, paths=OPENAPI_PATHS, schemas={"ChatSettings": SETTINGS_SCHEMA})
