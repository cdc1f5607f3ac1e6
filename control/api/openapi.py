"""The OpenAPI 3.1 document (/v1/openapi.json) and its readable page (/v1/docs, no CDN).

The core operations are described here; a feature that adds routes to /v1 describes them
in its :class:`ApiExtension`, merged into the document of the app it is installed in.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from control.api.schemas import COMPONENTS, NAME_PATTERN

routes = web.RouteTableDef()

Op = dict[str, Any]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(name: str) -> dict[str, Any]:
    return {"application/json": {"schema": _ref(name)}}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": _json("Error")}


ERRORS = {
    "401": _error("missing or invalid API key"),
    "404": _error("unknown room, or one of another organisation/department"),
    "503": _error("the state store (Redis) is unavailable"),
}
ROOM_ID = {"name": "room_id", "in": "path", "required": True, "schema": {"type": "string", "maxLength": 64}}
PARTICIPANT_ID = {"name": "participant_id", "in": "path", "required": True, "schema": {"type": "string", "maxLength": 128}}
DEPARTMENT = {"name": "department", "in": "path", "required": True, "schema": {"type": "string", "pattern": NAME_PATTERN}}
ANNOUNCEMENT_ID = {"name": "announcement_id", "in": "path", "required": True, "schema": {"type": "string", "maxLength": 64}}
INCLUDE_EXPIRED = {"name": "include_expired", "in": "query", "schema": {"type": "string", "enum": ["true", "false"]}}


def op(
    summary: str,
    ok: str,
    response: str | None,
    *,
    body: str | None = None,
    params: list[dict[str, Any]] | None = None,
    errors: tuple[str, ...] = (),
    body_required: bool = True,
) -> Op:
    responses: dict[str, Any] = {ok: {"description": "success"}}
    if response is not None:
        responses[ok]["content"] = _json(response)
    responses.update(ERRORS)
    for status in errors:
        responses[status] = _error({"409": "the current state forbids it", "422": "a field breaks a rule", "403": "not allowed with this key", "400": "body is not JSON"}[status])
    out: Op = {"summary": summary, "responses": responses}
    if params:
        out["parameters"] = params
    if body is not None:
        out["requestBody"] = {"required": body_required, "content": _json(body)}
        responses.setdefault("400", _error("body is not a JSON object"))
        responses.setdefault("422", _error("a field breaks a rule (the message names it)"))
    return out


ROOM_LINK_TARGETS = {
    "getRoom": "/v1/rooms/{room_id}",
    "issueToken": "/v1/rooms/{room_id}/tokens",
    "roomWaiting": "/v1/rooms/{room_id}/waiting",
    "forceStart": "/v1/rooms/{room_id}/start",
    "listRoomAnnouncements": "/v1/rooms/{room_id}/announcements",
    "setAvailability": "/v1/rooms/{room_id}/availability",
    "endRoom": "/v1/rooms/{room_id}/end",
}


def _with_ids(paths: dict[str, Any]) -> dict[str, Any]:
    """operationIds (method + path) and links from createRoom to the per-room operations."""
    ids = {(path, method): _operation_id(method, path) for path, methods in paths.items() for method in methods}
    for (path, method), op_id in ids.items():
        paths[path][method]["operationId"] = op_id
    created = paths["/v1/rooms"]["post"]["responses"]["201"]
    created["links"] = {
        name: {"operationId": ids[(path, _method_of(paths[path]))], "parameters": {"room_id": "$response.body#/id"}}
        for name, path in ROOM_LINK_TARGETS.items()
    }
    return paths


def _method_of(methods: dict[str, Any]) -> str:
    return "post" if "post" in methods else next(iter(methods))


def _operation_id(method: str, path: str) -> str:
    words = [w.strip("{}").replace("-", "_") for w in path.split("/")[2:] if w]
    return method + "".join(w.title().replace("_", "") for w in words)


def q(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    """A query parameter."""
    return {"name": name, "in": "query", "schema": schema}


def _paths() -> dict[str, Any]:
    time = {"type": "number", "minimum": 0, "maximum": 4102444800}
    return {
        "/v1/rooms": {
            "post": op("Create a room (appointment, quick or walk_in)", "201", "Room", body="RoomCreate", errors=("403",)),
            "get": op(
                "List rooms, filtered by department, state, kind and start time",
                "200",
                "RoomList",
                params=[
                    q("department", {"type": "string", "pattern": NAME_PATTERN}),
                    q("state", {"type": "string", "enum": ["scheduled", "started", "ended"]}),
                    q("kind", {"type": "string", "enum": ["appointment", "quick", "walk_in"]}),
                    q("starts_after", time),
                    q("starts_before", time),
                ],
                errors=("422",),
            ),
        },
        "/v1/rooms/{room_id}": {"get": op("Get a room", "200", "Room", params=[ROOM_ID])},
        "/v1/rooms/{room_id}/end": {
            "post": op("End the consultation: disconnect everyone, record start, end and duration", "200", "Room", params=[ROOM_ID], errors=("409",))
        },
        "/v1/rooms/{room_id}/start": {
            "post": op("Force the start without the client", "200", "Room", params=[ROOM_ID], errors=("409",))
        },
        "/v1/rooms/{room_id}/tokens": {
            "post": op("Issue a join token and URL for one participant", "201", "Token", body="TokenCreate", params=[ROOM_ID], errors=("409",))
        },
        "/v1/rooms/{room_id}/waiting": {"get": op("The room's waiting queue", "200", "WaitingList", params=[ROOM_ID])},
        "/v1/rooms/{room_id}/waiting/{participant_id}/admit": {
            "post": op("Admit a waiting participant into the consultation", "200", "Room", params=[ROOM_ID, PARTICIPANT_ID], errors=("409",))
        },
        "/v1/rooms/{room_id}/waiting/{participant_id}/deny": {
            "post": op("Deny a waiting participant, with a message", "200", "Room", body="Deny", body_required=False, params=[ROOM_ID, PARTICIPANT_ID], errors=("409",))
        },
        "/v1/departments/{department}/waiting": {
            "get": op("Everyone waiting in the department's rooms", "200", "WaitingList", params=[DEPARTMENT], errors=("422",))
        },
        "/v1/rooms/{room_id}/announcements": {
            "get": op("The room's announcements (visible ones unless include_expired=true)", "200", "AnnouncementList", params=[ROOM_ID, INCLUDE_EXPIRED], errors=("422",)),
            "post": op("Add an announcement, optionally expiring", "201", "Announcement", body="AnnouncementCreate", params=[ROOM_ID]),
            "delete": op("Delete all the room's announcements", "204", None, params=[ROOM_ID]),
        },
        "/v1/rooms/{room_id}/announcements/{announcement_id}": {
            "delete": op("Delete one announcement", "204", None, params=[ROOM_ID, ANNOUNCEMENT_ID]),
        },
        "/v1/departments/{department}/announcements": {
            "get": op("The department's announcements", "200", "AnnouncementList", params=[DEPARTMENT, INCLUDE_EXPIRED], errors=("422",)),
            "post": op("Add a department announcement, optionally expiring", "201", "Announcement", body="AnnouncementCreate", params=[DEPARTMENT]),
            "delete": op("Delete all the department's announcements", "204", None, params=[DEPARTMENT], errors=("422",)),
        },
        "/v1/departments/{department}/announcements/{announcement_id}": {
            "delete": op("Delete one department announcement", "204", None, params=[DEPARTMENT, ANNOUNCEMENT_ID], errors=("422",)),
        },
        "/v1/rooms/{room_id}/availability": {
            "put": op("Walk-in room: the practitioner is available or not", "200", "Room", body="Availability", params=[ROOM_ID], errors=("409",))
        },
        "/v1/walk-in/available": {
            "get": op(
                "Practitioners available for walk-in now (the walk-in widget)",
                "200",
                "AvailableList",
                params=[q("department", {"type": "string", "pattern": NAME_PATTERN})],
                errors=("422",),
            )
        },
        "/v1/webhooks": {
            "get": op("The organisation's webhook URLs and signing secret", "200", "Webhooks", errors=("403",)),
            "put": op("Set the webhook URLs (creates the signing secret once)", "200", "Webhooks", body="WebhooksPut", errors=("403",)),
        },
        "/v1/webhooks/secret": {
            "post": op(
                "Rotate the signing secret: deliveries are signed with the new and the previous one for overlap_s seconds",
                "200", "Webhooks", body="WebhookSecretRotate", errors=("403",),
            ),
        },
    }


@dataclass(frozen=True)
class ApiExtension:
    """A feature's part of /v1: its routes, and their OpenAPI paths and component schemas."""

    routes: web.RouteTableDef
    paths: dict[str, Any] = field(default_factory=dict)
    schemas: dict[str, Any] = field(default_factory=dict)


def document(extensions: Sequence[ApiExtension] = ()) -> dict[str, Any]:
    schemas = dict(COMPONENTS)
    paths = _paths()
    for extension in extensions:
        schemas.update(extension.schemas)
        paths.update(extension.paths)
    _common_refusals(paths)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "consult-sfu control API",
            "version": "1",
            "description": (
                "Rooms, join tokens, waiting rooms, forced starts, announcements, walk-in hours and "
                "webhooks. Times are unix seconds. Errors: {\"error\": {\"code\", \"message\"}}; "
                "an unknown room and another organisation's room are both 404; a department key naming "
                "another department is 403. JSON bodies: Content-Type application/json (else 415 "
                "unsupported_media_type), at most 64 KiB (else 413 too_large), at most 32 levels of "
                "nesting (else 400 bad_json)."
            ),
        },
        "servers": [{"url": "/"}],
        "security": [{"bearerAuth": []}],
        "components": {
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
            "schemas": schemas,
        },
        "paths": _with_ids(paths),
    }


def _common_refusals(paths: dict[str, Any]) -> None:
    """The refusals every JSON-body operation, every department-naming operation and every
    operation (the rate limit) can give."""
    for methods in paths.values():
        for operation in methods.values():
            responses = operation.setdefault("responses", {})
            if "application/json" in operation.get("requestBody", {}).get("content", {}):
                responses.setdefault("400", _error("bad_json: not JSON, not an object, or nested over 32 levels"))
                responses.setdefault("413", _error("too_large: the JSON body is over 64 KiB"))
                responses.setdefault("415", _error("unsupported_media_type: the body is not sent as application/json"))
            if any(p.get("name") == "department" for p in operation.get("parameters", [])):
                responses.setdefault("403", _error("forbidden: a department key naming another department"))
            # every /v1 request counts against its key's rate limit ([limits], docs/operations.md)
            responses.setdefault("429", _error("rate_limited: too many requests for this key; Retry-After says when to retry"))


@routes.get("/openapi.json")
async def openapi_json(request: web.Request) -> web.Response:
    return web.Response(text=request.app[DOCUMENT_KEY].json, content_type="application/json")


def _schema_html(schema: dict[str, Any]) -> str:
    return f"<pre>{html.escape(json.dumps(schema, indent=1))}</pre>"


def render_docs(doc: dict[str, Any]) -> str:
    """The whole reference as one self-contained HTML page (no scripts, no CDN)."""
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{html.escape(doc['info']['title'])}</title>",
        "<style>body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}"
        "code,pre{background:#f4f4f4;padding:.1rem .3rem;border-radius:3px}pre{padding:.6rem;overflow:auto}"
        ".m{display:inline-block;min-width:4.5rem;font-weight:bold}.get{color:#176}.post{color:#a50}"
        ".put{color:#55a}.delete{color:#a22}h3{margin-bottom:.2rem}</style></head><body>",
        f"<h1>{html.escape(doc['info']['title'])} v{html.escape(doc['info']['version'])}</h1>",
        f"<p>{html.escape(doc['info']['description'])}</p>",
        "<p>Authenticate with <code>Authorization: Bearer &lt;API key&gt;</code> "
        "(<code>consult-sfu apikey create --org ORG [--department D]</code>). "
        "Machine-readable: <a href='/v1/openapi.json'>/v1/openapi.json</a>.</p><h2>Endpoints</h2>",
    ]
    for path, methods in doc["paths"].items():
        for method, operation in methods.items():
            parts.append(
                f"<h3><span class='m {method}'>{method.upper()}</span><code>{html.escape(path)}</code></h3>"
                f"<p>{html.escape(operation['summary'])}</p>"
            )
            params = operation.get("parameters", [])
            if params:
                items = "".join(
                    f"<li><code>{html.escape(p['name'])}</code> ({p['in']}): "
                    f"<code>{html.escape(json.dumps(p['schema']))}</code></li>"
                    for p in params
                )
                parts.append(f"<ul>{items}</ul>")
            body = operation.get("requestBody")
            if body is not None:
                json_body = body["content"].get("application/json")
                if json_body is not None:
                    ref = json_body["schema"]["$ref"].rsplit("/", 1)[-1]
                    parts.append(f"<p>Body: <a href='#{ref}'>{ref}</a></p>")
                else:
                    parts.append(f"<p>Body: the raw file ({html.escape(', '.join(body['content']))})</p>")
            codes = ", ".join(f"{c} {html.escape(r['description'])}" for c, r in operation["responses"].items())
            parts.append(f"<p><small>Responses: {codes}</small></p>")
    parts.append("<h2>Schemas</h2>")
    for name, schema in doc["components"]["schemas"].items():
        parts.append(f"<h3 id='{name}'>{name}</h3>{_schema_html(schema)}")
    parts.append("</body></html>")
    return "".join(parts)


@dataclass(frozen=True)
class Document:
    """The document of one /v1 sub-application, rendered once when it is built."""

    json: str
    html: str

    @classmethod
    def of(cls, extensions: Sequence[ApiExtension] = ()) -> Document:
        doc = document(extensions)
        return cls(json.dumps(doc, indent=1), render_docs(doc))


DOCUMENT_KEY = web.AppKey("openapi_document", Document)


@routes.get("/docs")
async def docs_page(request: web.Request) -> web.Response:
    return web.Response(text=request.app[DOCUMENT_KEY].html, content_type="text/html")
