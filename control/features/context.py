"""Extension point of the composition root: optional features install themselves here.

A feature (background effects, captions) lives in one folder under control/features/ and
exposes a function ``install(ctx)`` that adds its routes (on the main app, and on /v1 as
an :class:`ApiExtension`), its message handlers on the signalling sessions, its
room-event listeners, its cleanup context and its /metrics source, and registers what it
keeps per consultation with ``ctx.memory`` so that it is forgotten when the consultation
ends. It reads its own ``[section]`` of the configuration with the one settings loader
(``ctx.config``) and reaches the media plane through ``ctx.media``. Features that keep
consultation data several processes must share (the chat transcript) or that follow the
consultation's rules (who is waiting, when it ended) use ``ctx.plane``: its store (through
:class:`control.store.consultation_data.ConsultationRecords` only), its webhooks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

from control.api import ApiExtension
from control.config import Config
from control.plane import ControlPlane
from recordings_off import ConsultationMemory
from sfu import MediaServer
from signalling.session import SessionDeps, SessionRegistry


@dataclass
class FeatureContext:
    #: the main application: routes outside /v1, cleanup contexts, /metrics sources
    app: web.Application
    config: Config
    media: MediaServer
    sessions: SessionDeps
    registry: SessionRegistry
    memory: ConsultationMemory
    #: the control plane the app owns (store, rules, webhooks, lobby)
    plane: ControlPlane
    #: the feature's parts of /v1 (mounted after every feature is installed)
    api: list[ApiExtension] = field(default_factory=list)


Feature = Callable[[FeatureContext], None]
