"""Extension point of the composition root: optional features install themselves here.

A feature (background effects, captions) is a function ``install(ctx)`` that adds its
routes, its message handlers on the signalling sessions, its room-event listeners and
its cleanup context, and registers what it keeps per consultation with
``ctx.memory`` so that it is forgotten when the consultation ends.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from control.api import ApiDeps
from control.config import Config
from recordings_off import ConsultationMemory
from sfu.media_server import MediaServer
from signalling.session import SessionDeps, SessionRegistry


@dataclass
class FeatureContext:
    app: web.Application
    config: Config
    media: MediaServer
    sessions: SessionDeps
    registry: SessionRegistry
    api: ApiDeps
    memory: ConsultationMemory


Feature = Callable[[FeatureContext], None]
