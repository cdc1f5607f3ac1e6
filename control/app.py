"""Composition root: builds the aiohttp application from a Config.

Builds and owns: the media plane (sfu), the control plane (:class:`control.plane.ControlPlane`:
store, rules, webhooks, the lobby), the signalling sessions, the HTTP routes, the REST API
(/v1, handed the consultations service), and the optional features (control/features/).
Everything started here is stopped by the app's cleanup contexts, in reverse order: the
control plane's first, so it stops last, after every session has left.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from control import logs, metrics, pages, turn, ws
from control.api import setup_api
from control.cluster.install import install_cluster
from control.cluster.options import WorkerOptions
from control.config import Config, ConfigError, resolve_secret
from control.domain.model import RoomState
from control.features.captions.feature import install_captions
from control.features.chat.feature import install_chat
from control.features.context import Feature, FeatureContext
from control.features.effects.feature import install_effects
from control.features.files.feature import install_files
from control.forwarded import parse_networks
from control.plane import ControlPlane
from control.ratelimit import Limits
from control.reconnect_choices import StoreChoices
from control.store import Store, StoreError, create_store
from control.tokens import TokenError, TokensConfig, mint, verify
from control.turn import TurnConfig
from control.webhooks import WebhookDispatcher, webhook_samples
from recordings_off import ConsultationMemory, Lifetime
from sfu import MediaServer, RoomClosed, RoomEvent
from signalling.lobby import JoinContext
from signalling.resume import ReconnectKeeper
from signalling.session import JoinRefused, SessionDeps, SessionRegistry, TokenVerifier

logger = logging.getLogger(__name__)

CONFIG = web.AppKey("config", Config)
SECRET = web.AppKey("secret", str)
REGISTRY = web.AppKey("registry", SessionRegistry)
MEMORY = web.AppKey("consultation_memory", ConsultationMemory)
PLANE = web.AppKey("control_plane", ControlPlane)
FORGETTING = web.AppKey("forgetting_tasks", set[asyncio.Task[list[str]]])
#: Optional features installed by default (each adds routes, handlers, listeners).
DEFAULT_FEATURES: list[Feature] = [install_effects, install_captions, install_chat, install_files]
STATIC_DIR = Path(__file__).parent / "static"
MAX_ECHO_ROOMS = 20


def ice_servers_for_clients(config: Config) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for server in config.sfu.ice.servers:
        entry: dict[str, Any] = {"urls": list(server.urls)}
        if server.username:
            entry["username"] = server.username
        if server.credential:
            entry["credential"] = server.credential
        out.append(entry)
    return out


def _turn_credentials(config: TurnConfig) -> Callable[[str, float], list[dict[str, Any]]] | None:
    """Each participant's own TURN credential (coturn's shared-secret scheme), if configured."""
    if not config.enabled:
        return None
    return lambda participant_id, now: [turn.ice_server(config, participant_id, now)]


def make_token_verifier(secret: str, bounds: TokensConfig | None = None) -> TokenVerifier:
    """Join token -> who is joining, with the token rules of control/tokens.py; a refused
    token raises JoinRefused (the session answers ``access_refused`` with its reason)."""

    def verify_token(token: str) -> JoinContext:
        try:
            claims = verify(secret, token, config=bounds)
        except TokenError as exc:
            raise JoinRefused(exc.reason, exc.message) from None
        return JoinContext(
            room=claims.room, identity=claims.identity, name=claims.name, role=claims.role, extra=claims.extra
        )

    return verify_token


def create_app(
    config: Config, features: list[Feature] | None = None, worker: WorkerOptions | None = None
) -> web.Application:
    """The server (one worker of a node). ``features`` default to every optional feature."""
    app = web.Application(client_max_size=8 * 1024 * 1024)
    logs.install(app)  # first: every line of a request carries its id
    secret = resolve_secret(config)
    worker = worker or WorkerOptions()
    try:
        media = MediaServer(config.sfu)
    except OSError as exc:  # ice.udp_port taken or not bindable: the message names it
        raise ConfigError(str(exc)) from None
    registry = SessionRegistry()
    store = create_store(config.store, worker.private_redis_url)
    choices = StoreChoices(store)  # a participant's choices, for a re-join served elsewhere
    webhooks = WebhookDispatcher(store)
    plane = ControlPlane.build(store, secret=secret, public_url=config.public_url, clock=time.time, webhooks=webhooks)
    metrics.add_source(app, lambda: webhook_samples(webhooks))
    app.cleanup_ctx.append(plane.lifecycle)  # first in, last out: sessions leave the lobby before it stops
    deps = SessionDeps(
        media=media,
        verify_token=make_token_verifier(secret, config.tokens),
        ice_servers=ice_servers_for_clients(config),
        lobby=plane.lobby,
        registry=registry,
        reconnects=ReconnectKeeper(config.session.reconnect_grace_s),
        ice_servers_for=_turn_credentials(config.turn),
        choices=choices,
    )
    app[CONFIG] = config
    app[SECRET] = secret
    app[REGISTRY] = registry
    app[PLANE] = plane
    app[metrics.MEDIA] = media
    app[ws.SESSION_DEPS] = deps
    app[ws.CLOSING] = ws.ClosingSessions()
    app[ws.OPEN] = ws.OpenSockets()
    app.on_shutdown.append(ws.close_open_sockets)  # before aiohttp waits for the handlers
    app[ws.TRUSTED_PROXIES] = parse_networks(config.server.trusted_proxies)
    limits = Limits(config.limits)
    app[ws.LIMITS] = limits
    metrics.add_source(app, lambda: _limit_samples(limits))
    metrics.add_source(app, lambda: [metrics.Sample("event_loop_tasks", "gauge", "asyncio tasks alive in this process (leak check)", len(asyncio.all_tasks()))])
    metrics.add_source(app, lambda: [metrics.Sample("store_errors_total", "counter", "store (Redis) operations that failed in this process", StoreError.raised)])
    install_cluster(
        app, config=config.cluster, store=store, media=media, verify_token=deps.verify_token,
        secret=secret, node_port=config.server.port, options=worker,
    )
    app.router.add_routes(ws.routes)
    app.router.add_routes(metrics.routes)
    app.router.add_routes(pages.routes)
    app.router.add_post("/echo/token", echo_token)
    if STATIC_DIR.is_dir():
        app.router.add_static("/static/", STATIC_DIR, follow_symlinks=False)
    app.cleanup_ctx.append(_media_lifecycle)
    memory = ConsultationMemory()
    app[MEMORY] = memory
    app[FORGETTING] = set()
    media.subscribe_all(_forget_when_closed(memory, store, app[FORGETTING]))
    plane.lobby.ended_listeners.append(memory.forget)  # heard by every process, wherever the room was
    memory.register("waiting_room", plane.lobby.forget_room, lifetime=Lifetime.CONSULTATION)
    memory.register("reconnect_choices", choices.forget, lifetime=Lifetime.CONSULTATION)
    metrics.add_source(app, lambda: [metrics.Sample("consultation_bytes_held", "gauge", HELD_HELP, memory.total_held_bytes())])
    metrics.add_source(app, _reconnect_samples(deps))
    context = FeatureContext(
        app=app, config=config, media=media, sessions=deps, registry=registry, memory=memory, plane=plane
    )
    for install in DEFAULT_FEATURES if features is None else features:
        install(context)
    setup_api(app, plane.consultations, context.api, limits)
    app[metrics.STORE_CHECK] = lambda: _store_problem(store)
    app[metrics.READY] = asyncio.Event()
    app.on_startup.append(_ready)  # last: after every cleanup context's start
    return app


async def _store_problem(store: Store) -> str | None:
    try:
        await store.get_raw("health")  # one round trip
    except StoreError as exc:
        return f"the store is unreachable: {exc}"
    return None


async def _ready(app: web.Application) -> None:
    app[metrics.READY].set()


def _limit_samples(limits: Limits) -> list[metrics.Sample]:
    refused = limits.rejections()
    text = "refused by the rate limits (429)"
    return [
        metrics.Sample("rate_limited_api_requests_total", "counter", f"REST requests {text}, per API key", refused["api"]),
        metrics.Sample("rate_limited_joins_token_total", "counter", f"joins {text}, per join token", refused["join_token"]),
        metrics.Sample("rate_limited_joins_address_total", "counter", f"WebSocket connections {text}, per client address", refused["join_address"]),
    ]


def _reconnect_samples(deps: SessionDeps) -> Callable[[], list[metrics.Sample]]:
    def samples() -> list[metrics.Sample]:
        keeper = deps.reconnects
        if keeper is None:
            return []
        return [
            metrics.Sample("reconnects_resumed_total", "counter", "participants who came back within the reconnect grace", keeper.resumed),
            metrics.Sample("reconnects_expired_total", "counter", "participants whose reconnect grace ended (they left)", keeper.expired),
        ]

    return samples


HELD_HELP = "bytes of consultation content (chat, files, transcripts) this process holds now; 0 when none runs"


def _forget_when_closed(
    memory: ConsultationMemory, store: Store, tasks: set[asyncio.Task[list[str]]]
) -> Callable[[RoomEvent], None]:
    """The media room closed: if the consultation is over (ended, or a room the control plane
    does not know) every holder forgets it; else (everyone left, they may come back) only
    what lived with the media room."""

    async def closed(room_id: str) -> list[str]:
        try:
            room = await store.get_room(room_id)
        except StoreError as exc:
            logger.warning("room %s: store unavailable (%s); forgetting its media state only", room_id, exc)
            return await memory.media_room_closed(room_id)
        if room is None or room.state is RoomState.ENDED:
            return await memory.forget(room_id)
        return await memory.media_room_closed(room_id)

    def listener(event: RoomEvent) -> None:
        if isinstance(event, RoomClosed):
            task = asyncio.create_task(closed(event.room_id))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    return listener


async def _media_lifecycle(app: web.Application) -> AsyncIterator[None]:
    yield
    reconnects = app[ws.SESSION_DEPS].reconnects
    if reconnects is not None:  # parked sessions end first: their media leaves with the rest
        await reconnects.close()
    for task in list(app[ws.CLOSING].tasks):
        with contextlib.suppress(Exception):
            await task
    registry = app[REGISTRY]
    for room in registry.rooms():
        for session in registry.in_room(room):
            await session.close("server_shutdown")
    await app[metrics.MEDIA].close()
    forgetting: set[asyncio.Task[list[str]]] = app[FORGETTING]
    while forgetting:  # rooms closed just now are forgotten before the store closes
        await asyncio.gather(*list(forgetting), return_exceptions=True)


async def echo_token(request: web.Request) -> web.Response:
    """A short-lived token for the network test: a private room that sends you your own media."""
    media = request.app[metrics.MEDIA]
    echo_rooms = sum(1 for room in media.rooms.values() if room.echo)
    if echo_rooms >= MAX_ECHO_ROOMS:
        return web.json_response(
            {"error": {"code": "busy", "message": "too many network tests at once; try again in a minute"}}, status=429
        )
    identity = f"echo-{secrets.token_urlsafe(6)}"
    token = mint(request.app[SECRET], room="echo", identity=identity, name="Network test", role="guest", ttl_s=600, extra={"echo": True})
    config = request.app[CONFIG]
    ws_url = config.public_url.replace("http", "ws", 1) + "/ws"
    return web.json_response({"token": token, "ws_url": ws_url})
