"""/v1/webhooks: the organisation's webhook URLs and signing secret (organisation keys only)."""

from __future__ import annotations

from aiohttp import web

from control.api.common import read_body, scope_of, service
from control.domain.errors import Forbidden
from control.domain.model import OrgSettings
from control.domain.rules import WEBHOOK_EVENTS

routes = web.RouteTableDef()


def _view(settings: OrgSettings) -> dict[str, object]:
    return {
        "urls": settings.webhook_urls,
        "signing_secret": settings.webhook_secret,
        "events": sorted(WEBHOOK_EVENTS),
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
