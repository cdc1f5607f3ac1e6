"""The control plane's REST API under /v1, mounted as an aiohttp sub-application.

Wiring (in control/app.py)::

    plane = ControlPlane.build(store, ...)             # control/plane.py: owned by the app
    setup_api(app, plane.consultations, extensions)    # /v1/...

The sub-application receives what it needs and nothing else: the consultations service
(rules + store; API keys are checked against its store) and the features' parts of the
API (:class:`ApiExtension`: routes and their OpenAPI description, e.g. the effects
feature's /v1/backgrounds). It has its own middlewares (JSON errors, Bearer API keys), so
the parent app's other routes (/ws, /static, /room) are untouched. It starts and stops
nothing: the store, the webhooks and the lobby belong to the app's ControlPlane.
"""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import web

from control.api import announcements, apikeys, openapi, rooms, waiting, walkin, webhooks_config
from control.api.common import (
    LIMITS_KEY,
    SERVICE_KEY,
    VERIFIER_KEY,
    auth_middleware,
    error_middleware,
)
from control.api.openapi import ApiExtension
from control.apikeys import ApiKeyVerifier
from control.consultations import Consultations
from control.ratelimit import Limits

__all__ = ["ApiExtension", "build_api", "setup_api"]


def build_api(consultations: Consultations, extensions: Sequence[ApiExtension] = (), limits: Limits | None = None) -> web.Application:
    """``limits``: requests per API key (429 with Retry-After); None: no limit (tests of the rules)."""
    extensions = (apikeys.EXTENSION, *extensions)
    v1 = web.Application(middlewares=[error_middleware, auth_middleware])
    if limits is not None:
        v1[LIMITS_KEY] = limits
    v1[SERVICE_KEY] = consultations
    v1[VERIFIER_KEY] = ApiKeyVerifier(consultations.store)
    for module in (openapi, rooms, waiting, announcements, walkin, webhooks_config):
        v1.add_routes(module.routes)
    for extension in extensions:
        v1.add_routes(extension.routes)
    v1[openapi.DOCUMENT_KEY] = openapi.Document.of(extensions)
    return v1


def setup_api(
    app: web.Application, consultations: Consultations, extensions: Sequence[ApiExtension] = (), limits: Limits | None = None
) -> None:
    """Mount /v1 on ``app``."""
    app.add_subapp("/v1", build_api(consultations, extensions, limits))
