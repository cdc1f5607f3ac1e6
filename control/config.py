"""Server configuration: a tree of frozen dataclasses, from a TOML file and the environment.

Every setting can be given in the file (``[section] key = value``) and overridden by an
environment variable ``CONSULT_SFU_<SECTION>_<KEY>`` (upper case), e.g.
``CONSULT_SFU_ICE_HOST_ADDRESSES=203.0.113.7`` or ``CONSULT_SFU_SERVER_PORT=9000``.
Short aliases exist for the common ones: ``CONSULT_SFU_SECRET``, ``CONSULT_SFU_HOST``,
``CONSULT_SFU_PORT``, ``CONSULT_SFU_PUBLIC_URL``, ``CONSULT_SFU_REDIS_URL``,
``CONSULT_SFU_STORE``. Lists are comma-separated in the environment; ``ice.servers`` is JSON.

Each package owns its section's dataclass (``sfu.config`` ...); this module only reads.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import secrets
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from control.store import StoreConfig
from sfu.config import IceConfig, IceServer, RenditionConfig, SfuConfig


class ConfigError(Exception):
    """A setting that cannot be used; the message names it and the rule."""


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    #: Base of the join URLs handed out (what browsers reach), default http://host:port
    public_url: str = ""
    #: HS256 key of join tokens; generated into data_dir/secret when empty
    secret: str = ""
    data_dir: str = "var"
    log_level: str = "INFO"
    #: How long a participant may stay disconnected before its seat is freed (s)
    max_message_bytes: int = 256 * 1024


@dataclass(frozen=True)
class Config:
    server: ServerConfig = field(default_factory=ServerConfig)
    sfu: SfuConfig = field(default_factory=SfuConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    extra: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def public_url(self) -> str:
        return self.server.public_url or f"http://{self.server.host}:{self.server.port}"


_ALIASES = {
    "CONSULT_SFU_SECRET": ("server", "secret"),
    "CONSULT_SFU_HOST": ("server", "host"),
    "CONSULT_SFU_PORT": ("server", "port"),
    "CONSULT_SFU_PUBLIC_URL": ("server", "public_url"),
    "CONSULT_SFU_DATA_DIR": ("server", "data_dir"),
    "CONSULT_SFU_REDIS_URL": ("store", "redis_url"),
    "CONSULT_SFU_STORE": ("store", "backend"),
    "CONSULT_SFU_ICE_HOST_ADDRESSES": ("ice", "host_addresses"),
    "CONSULT_SFU_UDP_PORT_MIN": ("ice", "port_min"),
    "CONSULT_SFU_UDP_PORT_MAX": ("ice", "port_max"),
}

#: Sections owned by optional features: kept as text/values in ``Config.extra`` and
#: converted by the feature itself (control/features/effects/config.py, captions/config.py).
_EXTRA_SECTIONS = ("effects", "captions")

# section name -> (dataclass, path inside Config)
_SECTIONS: dict[str, tuple[type[Any], tuple[str, ...]]] = {
    "server": (ServerConfig, ("server",)),
    "store": (StoreConfig, ("store",)),
    "sfu": (SfuConfig, ("sfu",)),
    "ice": (IceConfig, ("sfu", "ice")),
    "renditions": (RenditionConfig, ("sfu", "renditions")),
}


def load(path: str | None = None, env: dict[str, str] | None = None, **overrides: Any) -> Config:
    """Read the file (if any), then the environment, then keyword overrides (section__key=value)."""
    environ = dict(os.environ if env is None else env)
    raw: dict[str, dict[str, Any]] = {}
    if path:
        try:
            with open(path, "rb") as fh:
                raw = tomllib.load(fh)
        except FileNotFoundError:
            raise ConfigError(f"config file {path!r} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path!r} is not valid TOML: {exc}") from None
    for section, values in raw.items():
        if not isinstance(values, dict):
            raise ConfigError(f"config file: [{section}] must be a table")
    for name, value in environ.items():
        if not name.startswith("CONSULT_SFU_") or not value:
            continue
        if name in _ALIASES:
            section, key = _ALIASES[name]
        else:
            rest = name[len("CONSULT_SFU_"):].lower()
            known = sorted((*_SECTIONS, *_EXTRA_SECTIONS), key=len, reverse=True)
            section = next((s for s in known if rest.startswith(s + "_")), "")
            if not section:
                continue
            key = rest[len(section) + 1:]
        raw.setdefault(section, {})[key] = _EnvValue(value)
    for dotted, value in overrides.items():
        section, key = dotted.split("__", 1)
        raw.setdefault(section, {})[key] = value
    sections: dict[str, Any] = {}
    extra: dict[str, dict[str, Any]] = {}
    for section, values in raw.items():
        if section not in _SECTIONS:
            extra[section] = {k: (v.text if isinstance(v, _EnvValue) else v) for k, v in values.items()}
            continue
        sections[section] = _build(section, _SECTIONS[section][0], values)
    ice = sections.get("ice", IceConfig())
    renditions = sections.get("renditions", RenditionConfig())
    sfu = sections.get("sfu", SfuConfig())
    sfu = dataclasses.replace(sfu, ice=ice, renditions=renditions)
    server = sections.get("server", ServerConfig())
    store = sections.get("store", StoreConfig())
    if "data_dir" not in raw.get("store", {}):
        store = dataclasses.replace(store, data_dir=Path(server.data_dir))  # one data folder by default
    config = Config(server=server, sfu=sfu, store=store, extra=extra)
    _validate(config)
    return config


class _EnvValue:
    """A value from the environment: text to convert to the field's type."""

    def __init__(self, text: str) -> None:
        self.text = text


def _build(section: str, cls: type[Any], values: dict[str, Any]) -> Any:
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        if key not in fields:
            raise ConfigError(f"unknown setting {section}.{key} (known: {', '.join(sorted(fields))})")
        kwargs[key] = _convert(f"{section}.{key}", hints[key], value)
    return cls(**kwargs)


def _convert(name: str, tp: Any, value: Any) -> Any:
    origin = typing.get_origin(tp)
    text = value.text if isinstance(value, _EnvValue) else None
    if name == "ice.servers":
        data = json.loads(text) if text is not None else value
        if not isinstance(data, list):
            raise ConfigError("ice.servers must be a list of {urls, username?, credential?}")
        servers = []
        for item in data:
            urls = item.get("urls") if isinstance(item, dict) else None
            if isinstance(urls, str):
                urls = [urls]
            if not isinstance(urls, list) or not urls:
                raise ConfigError("ice.servers: every entry needs 'urls'")
            servers.append(IceServer(tuple(urls), item.get("username"), item.get("credential")))
        return tuple(servers)
    if origin is tuple:
        items = [s.strip() for s in text.split(",") if s.strip()] if text is not None else value
        if not isinstance(items, list | tuple):
            raise ConfigError(f"{name} must be a list")
        return tuple(str(i) for i in items)
    if dataclasses.is_dataclass(tp):
        raise ConfigError(f"{name} is a section: use its own [table]")
    if tp is Path:
        return Path(text if text is not None else str(value))
    try:
        if tp is bool:
            if text is not None:
                return text.lower() in ("1", "true", "yes", "on")
            if not isinstance(value, bool):
                raise ValueError
            return value
        if tp is int:
            return int(text if text is not None else value)
        if tp is float:
            return float(text if text is not None else value)
        if tp is str:
            return str(text if text is not None else value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be {getattr(tp, '__name__', tp)}, got {text or value!r}") from None
    return text if text is not None else value


def _validate(config: Config) -> None:
    if not (0 < config.server.port < 65536):
        raise ConfigError(f"server.port must be 1-65535, got {config.server.port}")
    if config.server.secret and len(config.server.secret.encode()) < 32:
        raise ConfigError("server.secret must be at least 32 bytes (HS256 key); leave it empty to generate one")
    if config.store.backend not in ("memory", "redis"):
        raise ConfigError(f"store.backend must be 'memory' or 'redis', got {config.store.backend!r}")
    ice = config.sfu.ice
    if (ice.port_min, ice.port_max) != (0, 0) and not (1024 <= ice.port_min <= ice.port_max <= 65535):
        raise ConfigError(f"ice.port_min/port_max must be 1024 <= min <= max <= 65535, got {ice.port_min}-{ice.port_max}")
    if not ice.host_addresses:
        raise ConfigError("ice.host_addresses must name at least one local address")
    for network in ice.remote_networks:
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError:
            raise ConfigError(f"ice.remote_networks: {network!r} is not a network like 127.0.0.0/8") from None


def resolve_secret(config: Config) -> str:
    """The token secret: configured, or kept in data_dir/secret (created once, mode 600)."""
    if config.server.secret:
        return config.server.secret
    path = Path(config.server.data_dir) / "secret"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value + "\n")
    return value
