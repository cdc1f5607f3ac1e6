"""/v1/webhooks: the organisation's webhook URLs and signing secret (organisation keys only).

``POST /v1/webhooks/secret`` (``{"overlap_s": 86400}`` optional) rotates the secret: the
answer carries the new one; until ``previous_secret_valid_until`` every delivery carries
the signatures of both, so receivers can switch to the new secret at their own pace.
"""

from __future__ import annotations

from aiohttp import web

from control.api.common import read_body, read_json_object, scope_of, service
from control.api.schemas import COMPONENTS
from control.api.validate import check
from control.domain.errors import ControlError, Forbidden
from control.domain.model import OrgSettings
from control.domain.rules import WEBHOOK_EVENTS

routes = web.RouteTableDef()


DEFAULT_OVERLAP_S = 86400.0


def _view(settings: OrgSettings) -> dict[str, object]:
    return {
        "urls": settings.webhook_urls,
        "signing_secret": settings.webhook_secret,
        "events": sorted(WEBHOOK_EVENTS),
        "previous_secret_valid_until": settings.webhook_previous_until if settings.webhook_previous_secret else None,
    }


def _org_scope(request: web.Request) -> None:
    if scope_of(request).department is not None:
        raise Forbidden("webhooks are configured with an organisation-wide API key, not a department key")


@routes.get("/webhooks")
async def get_webhooks(request: web.Request) -> web.Response:
    _org_scope(request)
    settings = await service(request).store.get_org(scope_of(request).org)
    return web.json_response(_view(settings))


@routes.put("/webhooks")
async def put_webhooks(request: web.Request) -> web.Response:
    _org_scope(request)
    body = await read_body(request, "WebhooksPut")
    settings = await service(request).configure_webhooks(scope_of(request), body["urls"])
    return web.json_response(_view(settings))


@routes.post("/webhooks/secret")
async def rotate_webhook_secret(request: web.Request) -> web.Response:
    _org_scope(request)
    body = await read_json_object(request)
    if body is None:  # required: {} for the default overlap
        raise ControlError("bad_json", "request body must be a JSON object ({} for the default overlap)")
    check(COMPONENTS["WebhookSecretRotate"], body, "", COMPONENTS)
    overlap_s = float(body.get("overlap_s", DEFAULT_OVERLAP_S))
    settings = await service(request).rotate_webhook_secret(scope_of(request), overlap_s)
    return web.json_response(_view(settings))
