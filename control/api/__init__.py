"""The control plane's REST API under /v1, mounted as an aiohttp sub-application.

Wiring (in control/app.py)::

    store = create_store(store_config)                 # memory or Redis, chosen there
    webhooks = WebhookDispatcher(store, webhook_config)
    deps = ApiDeps(store=store, secret=secret, public_url=url, clock=time.time, webhooks=webhooks)
    setup_api(app, deps)                                # /v1/..., starts/stops everything below
    lobby = deps.lobby                                  # give it to the signalling sessions

The sub-application has its own middlewares (JSON errors, Bearer API keys), so the
parent app's other routes (/ws, /static, /room) are untouched. Its cleanup context
starts the webhook dispatcher and the lobby's event listener, and on shutdown stops
them and closes the store (``close_store``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from aiohttp import web

from control.api import announcements, backgrounds, openapi, rooms, waiting, walkin, webhooks_config
from control.api.common import SERVICE_KEY, VERIFIER_KEY, auth_middleware, error_middleware
from control.apikeys import ApiKeyVerifier
from control.consultations import Consultations
from control.lobby_service import ControlLobby
from control.store import Store
from control.webhooks import WebhookDispatcher

__all__ = ["ApiDeps", "setup_api"]


@dataclass
class ApiDeps:
    store: Store
    secret: str
    public_url: str
    clock: Callable[[], float]
    webhooks: WebhookDispatcher | None = None
    close_store: bool = True
    consultations: Consultations = field(init=False)
    lobby: ControlLobby = field(init=False)

    def __post_init__(self) -> None:
        self.consultations = Consultations(
            self.store,
            secret=self.secret,
            public_url=self.public_url,
            clock=self.clock,
            webhooks=self.webhooks,
        )
        self.lobby = ControlLobby(self.consultations)


def build_api(deps: ApiDeps) -> web.Application:
    v1 = web.Application(middlewares=[error_middleware, auth_middleware])
    v1[SERVICE_KEY] = deps.consultations
    v1[VERIFIER_KEY] = ApiKeyVerifier(deps.store)
    for module in (openapi, rooms, waiting, announcements, walkin, webhooks_config, backgrounds):
        v1.add_routes(module.routes)

    async def lifecycle(_: web.Application) -> AsyncIterator[None]:
        if deps.webhooks is not None:
            await deps.webhooks.start()
        await deps.lobby.start()
        try:
            yield
        finally:
            await deps.lobby.close()
            if deps.webhooks is not None:
                await deps.webhooks.close()
            if deps.close_store:
                await deps.store.close()

    v1.cleanup_ctx.append(lifecycle)
    return v1


def setup_api(app: web.Application, deps: ApiDeps) -> None:
    """Mount /v1 on ``app``; ``deps.lobby`` is then the Lobby for signalling sessions."""
    app.add_subapp("/v1", build_api(deps))
