"""``[effects]`` settings -> :class:`effects.config.EffectsConfig` (docs/effects.md)."""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path
from typing import Any

from control.config import Config, ConfigError
from effects.config import EffectsConfig
from effects.errors import EffectsError


def effects_settings(config: Config) -> EffectsConfig:
    """The feature's configuration from the ``[effects]`` section."""
    return effects_config_from(config.extra.get("effects", {}))


def effects_config_from(raw: dict[str, Any]) -> EffectsConfig:
    """``[effects]`` settings (file values, or text from the environment) -> EffectsConfig."""
    fields = {f.name: f for f in dataclasses.fields(EffectsConfig)}
    hints = typing.get_type_hints(EffectsConfig)
    kwargs: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in fields:
            raise ConfigError(f"unknown setting effects.{key} (known: {', '.join(sorted(fields))})")
        kwargs[key] = _convert(f"effects.{key}", hints[key], value)
    try:
        return EffectsConfig(**kwargs)
    except EffectsError as exc:
        raise ConfigError(f"effects.{exc}") from None


def _convert(name: str, tp: Any, value: Any) -> Any:
    if tp == Path | None:
        return None if value in (None, "") else Path(str(value))
    try:
        if tp is int and not isinstance(value, bool):
            return int(value)
        if tp is float and not isinstance(value, bool):
            return float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number, got {value!r}") from None
    if tp is str:
        return str(value)
    raise ConfigError(f"{name} must be a {getattr(tp, '__name__', tp)}, got {value!r}")
