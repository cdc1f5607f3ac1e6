"""Shared pieces of the /v1 API: app keys, error translation, auth, body and query parsing.

Errors are translated to ``{"error": {"code", "message"}}`` here and nowhere else.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from control.api.schemas import COMPONENTS, NAME_PATTERN
from control.api.validate import check
from control.apikeys import ApiKeyVerifier, parse_key_id
from control.consultations import Consultations
from control.domain.errors import BodyTooLarge, ControlError, InvalidField, UnsupportedMediaType
from control.domain.scope import Scope
from control.ratelimit import Limits, retry_after
from control.store import StoreError
from signalling.bounded_json import MAX_JSON_DEPTH, TooDeep, loads_bounded

log = logging.getLogger(__name__)

SERVICE_KEY = web.AppKey("consultations", Consultations)
VERIFIER_KEY = web.AppKey("api_key_verifier", ApiKeyVerifier)
SCOPE_KEY = web.RequestKey("scope", Scope)
#: requests per API key (absent: no limit)
LIMITS_KEY = web.AppKey("api_limits", Limits)
PUBLIC_PATHS = frozenset({"/v1/openapi.json", "/v1/docs"})
_NAME_RE = re.compile(NAME_PATTERN)
#: JSON request bodies of the /v1 API (uploads such as backgrounds have their own limits)
MAX_JSON_BODY_BYTES = 64 * 1024

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error_response(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ControlError as exc:
        return error_response(exc.status, exc.code, exc.message)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(exc.status, "http_error")
        response = error_response(exc.status, code, exc.reason)
        if "Allow" in exc.headers:
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    except StoreError as exc:
        log.error("store unavailable: %s", exc)
        return error_response(503, "store_unavailable", "the state store is unavailable; retry later")


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path not in PUBLIC_PATHS:
        verifier = request.config_dict[VERIFIER_KEY]
        authorization = request.headers.get("Authorization")
        request[SCOPE_KEY] = await verifier.scope_for(authorization)
        limits = request.config_dict.get(LIMITS_KEY)
        if limits is not None and authorization is not None:
            wait = limits.api_request(parse_key_id(authorization.removeprefix("Bearer ").strip()), time.monotonic())
            if wait:
                response = error_response(429, "rate_limited", f"too many requests with this API key: retry in {retry_after(wait)} s")
                response.headers["Retry-After"] = retry_after(wait)
                return response
    return await handler(request)


def scope_of(request: web.Request) -> Scope:
    return request[SCOPE_KEY]


def service(request: web.Request) -> Consultations:
    return request.config_dict[SERVICE_KEY]


async def read_json_object(request: web.Request) -> dict[str, Any] | None:
    """The request's JSON object body (None when there is no body), within the documented limits.

    415 ``unsupported_media_type`` unless ``Content-Type`` is ``application/json`` (a body
    sent as text/plain or a form is refused, not guessed at); 413 ``too_large`` over
    :data:`MAX_JSON_BODY_BYTES`; 400 ``bad_json`` for invalid JSON, nesting deeper than
    :data:`MAX_JSON_DEPTH` levels, NaN/Infinity, or anything but an object.
    """
    if request.content_length is not None and request.content_length > MAX_JSON_BODY_BYTES:
        raise BodyTooLarge(f"request body is over {MAX_JSON_BODY_BYTES} bytes")
    raw = await request.content.read(MAX_JSON_BODY_BYTES + 1)
    if len(raw) > MAX_JSON_BODY_BYTES:
        raise BodyTooLarge(f"request body is over {MAX_JSON_BODY_BYTES} bytes")
    if not raw.strip():
        return None
    if request.content_type != "application/json":
        raise UnsupportedMediaType(
            f"request body must be sent as application/json, not {request.content_type[:80]!r}"
        )
    try:
        data = loads_bounded(raw, MAX_JSON_DEPTH)
    except TooDeep as exc:
        raise ControlError("bad_json", f"request body is {exc}") from None
    except ValueError:  # JSONDecodeError, UnicodeDecodeError, NaN/Infinity
        raise ControlError("bad_json", "request body must be a JSON object") from None
    if not isinstance(data, dict):
        raise ControlError("bad_json", "request body must be a JSON object")
    return data


async def read_body(request: web.Request, schema_name: str) -> dict[str, Any]:
    """Parse the JSON body and check it against the named schema (errors name the field)."""
    data = await read_json_object(request) or {}
    check(COMPONENTS[schema_name], data, "", COMPONENTS)
    return data


def query_number(request: web.Request, name: str) -> float | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise InvalidField(name, "must be a number (unix seconds)") from None
    if not (0 <= value <= 4102444800):
        raise InvalidField(name, "must be between 0 and 4102444800")
    return value


def query_enum(request: web.Request, name: str, allowed: tuple[str, ...]) -> str | None:
    raw = request.query.get(name)
    if raw is not None and raw not in allowed:
        raise InvalidField(name, "must be one of " + ", ".join(allowed))
    return raw


def query_name(request: web.Request, name: str) -> str | None:
    raw = request.query.get(name)
    if raw is not None and not _NAME_RE.match(raw):
        raise InvalidField(name, f"must match {NAME_PATTERN}")
    return raw


def department_param(request: web.Request) -> str:
    department = request.match_info["department"]
    if not _NAME_RE.match(department):
        raise InvalidField("department", f"must match {NAME_PATTERN}")
    return department
