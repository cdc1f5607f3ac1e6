"""The consultation workflow of one server process: store, rules, webhooks and the lobby.

The composition root (control/app.py) builds one :class:`ControlPlane` and owns it: the
REST sub-application (control/api) receives its ``consultations``, the signalling sessions
receive its ``lobby``, the features receive nothing of it. Its :meth:`lifecycle` is the
app's first cleanup context, so it starts before anything that uses it and stops last,
after every session has left (a session leaving tells the lobby, which writes the store)::

    plane = ControlPlane.build(store, secret=secret, public_url=url, clock=time.time,
                               webhooks=WebhookDispatcher(store))
    app.cleanup_ctx.append(plane.lifecycle)   # webhooks, lobby listener; closes the store
    setup_api(app, plane.consultations)       # /v1
    SessionDeps(..., lobby=plane.lobby)       # the WebSocket sessions
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from aiohttp import web

from control.consultations import Consultations
from control.lobby_service import ControlLobby
from control.store import Store
from control.webhooks import WebhookDispatcher


@dataclass(frozen=True)
class ControlPlane:
    store: Store
    consultations: Consultations
    lobby: ControlLobby
    webhooks: WebhookDispatcher | None = None

    @classmethod
    def build(
        cls,
        store: Store,
        *,
        secret: str,
        public_url: str,
        clock: Callable[[], float],
        webhooks: WebhookDispatcher | None = None,
    ) -> ControlPlane:
        consultations = Consultations(store, secret=secret, public_url=public_url, clock=clock, webhooks=webhooks)
        return cls(store, consultations, ControlLobby(consultations), webhooks)

    async def lifecycle(self, _: web.Application) -> AsyncIterator[None]:
        """aiohttp cleanup context: start the webhook dispatcher and the lobby's listener;
        on shutdown stop them and close the store."""
        if self.webhooks is not None:
            await self.webhooks.start()
        await self.lobby.start()
        try:
            yield
        finally:
            await self.lobby.close()
            if self.webhooks is not None:
                await self.webhooks.close()
            await self.store.close()
