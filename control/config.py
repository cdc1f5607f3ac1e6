"""Server configuration: a tree of frozen dataclasses, from a TOML file and the environment.

Every setting can be given in the file (``[section] key = value``) and overridden by an
environment variable ``CONSULT_SFU_<SECTION>_<KEY>`` (upper case), e.g.
``CONSULT_SFU_ICE_HOST_ADDRESSES=203.0.113.7`` or ``CONSULT_SFU_SERVER_PORT=9000``; keyword
overrides (the CLI's ``--host``/``--port``, tests) win over both. Short aliases exist for the
common ones (:data:`ALIASES`). Variables that name no section (``CONSULT_SFU_TEST_URL``) and
empty ones are ignored; a file table or a key of a known section that is not a setting is
an error.

Every section, the features' included, is converted by the one converter of
control/settings.py (types, boolean spellings, lists, the one-line messages); this module
lists the sections, assembles the tree and checks the rules that span fields. Each package
owns its section's dataclass (``sfu.config``, ``effects.config``, the features' config.py).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import secrets
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from control.cluster.config import ClusterConfig
from control.data_dir import default_data_dir
from control.features.captions.config import SECTION as CAPTIONS_SECTION
from control.features.captions.config import CaptionsFeatureConfig
from control.features.chat.config import SECTION as CHAT_SECTION
from control.features.chat.config import ChatConfig
from control.features.effects.config import SECTION as EFFECTS_SECTION
from control.features.files.config import SECTION as FILES_SECTION
from control.features.files.config import FilesConfig
from control.forwarded import parse_networks
from control.ratelimit import LimitsConfig
from control.settings import ConfigError, EnvText, Section
from control.store import BACKENDS, StoreConfig
from control.tokens import TokensConfig
from control.turn import TurnConfig
from effects.config import EffectsConfig
from sfu import IceConfig, RenditionConfig, SfuConfig
from signalling.reconnect import SessionConfig

__all__ = ["ALIASES", "Config", "ConfigError", "ServerConfig", "load", "resolve_secret"]

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    #: Base of the join URLs handed out (what browsers reach), default http://host:port
    public_url: str = ""
    #: HS256 key of join tokens; generated into data_dir/secret when empty
    secret: str = ""
    #: Secret, API keys (memory store), caption models: control/data_dir.py says the default
    data_dir: Path = field(default_factory=default_data_dir)
    log_level: str = "INFO"
    #: PEM certificate chain and private key: the server itself serves HTTPS/WSS (SIGHUP reloads them)
    tls_cert: Path | None = None
    tls_key: Path | None = None
    #: Reverse proxies (addresses or networks) whose X-Forwarded-For names the client
    trusted_proxies: tuple[str, ...] = ()
    #: text (time LEVEL logger: message [request id]) or json (one object per line): control/logs.py
    log_format: Literal["text", "json"] = "text"

    def __post_init__(self) -> None:
        level = self.log_level.strip().upper()
        if level not in LOG_LEVELS:
            raise ValueError(f"log_level must be one of {', '.join(LOG_LEVELS)}, got {self.log_level!r}")
        object.__setattr__(self, "log_level", level)
        try:
            parse_networks(self.trusted_proxies)
        except ValueError as exc:
            raise ValueError(f"trusted_proxies: {exc}") from None


@dataclass(frozen=True)
class Config:
    server: ServerConfig = field(default_factory=ServerConfig)
    sfu: SfuConfig = field(default_factory=SfuConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    effects: EffectsConfig = field(default_factory=EffectsConfig)
    captions: CaptionsFeatureConfig = field(default_factory=CaptionsFeatureConfig)
    chat: ChatConfig = field(default_factory=ChatConfig)
    files: FilesConfig = field(default_factory=FilesConfig)
    session: SessionConfig = field(default_factory=SessionConfig)
    turn: TurnConfig = field(default_factory=TurnConfig)
    tokens: TokensConfig = field(default_factory=TokensConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)

    @property
    def public_url(self) -> str:
        scheme = "https" if self.server.tls_cert is not None else "http"
        return self.server.public_url or f"{scheme}://{self.server.host}:{self.server.port}"


ALIASES = {
    "CONSULT_SFU_SECRET": ("server", "secret"),
    "CONSULT_SFU_HOST": ("server", "host"),
    "CONSULT_SFU_PORT": ("server", "port"),
    "CONSULT_SFU_PUBLIC_URL": ("server", "public_url"),
    "CONSULT_SFU_DATA_DIR": ("server", "data_dir"),
    "CONSULT_SFU_LOG_LEVEL": ("server", "log_level"),
    "CONSULT_SFU_REDIS_URL": ("store", "redis_url"),
    "CONSULT_SFU_REDIS_PREFIX": ("store", "redis_prefix"),
    "CONSULT_SFU_STORE": ("store", "backend"),
    "CONSULT_SFU_ICE_HOST_ADDRESSES": ("ice", "host_addresses"),
    "CONSULT_SFU_UDP_PORT_MIN": ("ice", "port_min"),
    "CONSULT_SFU_UDP_PORT_MAX": ("ice", "port_max"),
    "CONSULT_SFU_UDP_PORT": ("ice", "udp_port"),
}

#: Every section, in the order of docs/configuration.md.
SECTIONS: tuple[Section, ...] = (
    Section("server", ServerConfig),
    Section("ice", IceConfig),
    Section("sfu", SfuConfig, elsewhere=frozenset({"ice", "renditions"})),
    Section("renditions", RenditionConfig),
    Section("store", StoreConfig),
    Section("cluster", ClusterConfig),
    EFFECTS_SECTION,
    CAPTIONS_SECTION,
    CHAT_SECTION,
    FILES_SECTION,
    Section("session", SessionConfig),
    Section("turn", TurnConfig),
    Section("tokens", TokensConfig),
    Section("limits", LimitsConfig),
)
_BY_NAME = {section.name: section for section in SECTIONS}
_PREFIX = "CONSULT_SFU_"


def load(path: str | None = None, env: Mapping[str, str] | None = None, **overrides: Any) -> Config:
    """Read the file (if any), then the environment, then keyword overrides (section__key=value)."""
    environ = os.environ if env is None else env
    raw = _read_file(path) if path else {}
    for name, value in environ.items():
        if not name.startswith(_PREFIX) or not value:
            continue
        where = ALIASES.get(name) or _section_key(name[len(_PREFIX) :].lower())
        if where is not None:
            raw.setdefault(where[0], {})[where[1]] = EnvText(value, name)
    for dotted, value in overrides.items():
        section, key = dotted.split("__", 1)
        raw.setdefault(section, {})[key] = value
    for section in raw:
        if section not in _BY_NAME:
            raise ConfigError(f"unknown section [{section}] (known: {', '.join(sorted(_BY_NAME))})")
    raw.setdefault("server", {}).setdefault("data_dir", default_data_dir(environ))
    built = {name: section.build(raw.get(name, {})) for name, section in _BY_NAME.items()}
    server: ServerConfig = built["server"]
    store: StoreConfig = built["store"]
    if "data_dir" not in raw.get("store", {}):
        store = dataclasses.replace(store, data_dir=server.data_dir)  # one data folder by default
    config = Config(
        server=server,
        sfu=dataclasses.replace(built["sfu"], ice=built["ice"], renditions=built["renditions"]),
        store=store,
        cluster=built["cluster"],
        effects=built["effects"],
        captions=built["captions"].under(server.data_dir),
        chat=built["chat"],
        files=built["files"],
        session=built["session"],
        turn=built["turn"],
        tokens=built["tokens"],
        limits=built["limits"],
    )
    _validate(config)
    return config


def _read_file(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            raw = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file {path!r} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"config file {path!r} cannot be read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path!r} is not valid TOML: {exc}") from None
    for section, values in raw.items():
        if not isinstance(values, dict):
            raise ConfigError(f"config file: {section} must be a [{section}] table of settings, got {values!r}")
    return raw


def _section_key(rest: str) -> tuple[str, str] | None:
    """``server_port`` -> (server, port); None when no section is named (not a setting)."""
    for name in sorted(_BY_NAME, key=len, reverse=True):
        if rest.startswith(name + "_"):
            return name, rest[len(name) + 1 :]
    return None


def _validate(config: Config) -> None:
    if not (0 < config.server.port < 65536):
        raise ConfigError(f"server.port must be 1-65535, got {config.server.port}")
    if (config.server.tls_cert is None) != (config.server.tls_key is None):
        raise ConfigError("server.tls_cert and server.tls_key go together: set both (HTTPS) or neither (plain HTTP)")
    if config.server.secret and len(config.server.secret.encode()) < 32:
        raise ConfigError("server.secret must be at least 32 bytes (HS256 key); leave it empty to generate one")
    if config.store.backend not in BACKENDS:
        raise ConfigError(f"store.backend must be one of {', '.join(BACKENDS)}, got {config.store.backend!r}")
    if config.store.backend == "redis":
        from control.store.redis_url import RedisUrlError, parse_redis_url

        try:
            parse_redis_url(config.store.redis_url)
        except RedisUrlError as exc:
            raise ConfigError(str(exc)) from None
    ice = config.sfu.ice
    if (ice.port_min, ice.port_max) != (0, 0) and not (1024 <= ice.port_min <= ice.port_max <= 65535):
        raise ConfigError(f"ice.port_min/port_max must be 1024 <= min <= max <= 65535, got {ice.port_min}-{ice.port_max}")
    if ice.udp_port != 0 and not (1024 <= ice.udp_port <= 65535):
        raise ConfigError(f"ice.udp_port must be 0 (a port per connection) or 1024-65535, got {ice.udp_port}")
    if not ice.host_addresses:
        raise ConfigError("ice.host_addresses must name at least one local address")
    for i, server in enumerate(ice.servers):
        if not server.urls:
            raise ConfigError(f"ice.servers[{i}].urls must name at least one stun: or turn: URL")
    for network in ice.remote_networks:
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError:
            raise ConfigError(f"ice.remote_networks: {network!r} is not a network like 127.0.0.0/8") from None


def resolve_secret(config: Config) -> str:
    """The token secret: configured, or kept in data_dir/secret (created once, mode 600).

    Every subcommand reads the same file (control/data_dir.py), so tokens minted by
    ``consult-sfu token`` verify on the server. A folder that cannot be written or a file
    that cannot be read is a ConfigError naming ``server.data_dir``.
    """
    if config.server.secret:
        return config.server.secret
    path = config.server.data_dir / "secret"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            value = path.read_text().strip()
        else:
            value = secrets.token_hex(32)
            with os.fdopen(fd, "w") as fh:
                fh.write(value + "\n")
    except OSError as exc:
        raise ConfigError(f"server.data_dir: cannot keep the token secret in {str(path)!r}: {exc.strerror}") from None
    if len(value.encode()) < 32:
        raise ConfigError(f"server.data_dir: {str(path)!r} holds no usable secret (under 32 bytes): delete it to generate a new one")
    return value
