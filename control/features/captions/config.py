"""``[captions]`` settings -> :class:`captions.config.CaptionsConfig` plus this feature's own.

Values come from the TOML file (typed) or from ``CONSULT_SFU_CAPTIONS_<KEY>`` variables
(text): each is converted by the type of its field, and a bad one raises
:class:`control.config.ConfigError` naming ``captions.<key>`` and the rule. VAD settings
are a ``[captions.vad]`` table in the file, or ``CONSULT_SFU_CAPTIONS_VAD_<KEY>`` variables
(keys ``vad_<field>``). Relative folders are relative to the server's ``data_dir``; the
defaults are ``<data_dir>/models/vosk`` and ``<data_dir>/models/translate``.

Settings of the feature itself (not of the captions package):

- ``start_workers``: ``startup`` (default: the worker processes are spawned when the server
  starts, in the background) or ``first_use`` (when the first participant turns captions
  on: a server where nobody uses captions never pays for the processes);
- ``default_language``: what a participant who never chose is assumed to speak
  (default ``en`` when it can be recognised, else the first recognisable language);
- ``ready_timeout_s``: how long the workers may take to start before captions are
  declared unavailable (default 120).
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from captions.config import CaptionsConfig, VadConfig
from captions.errors import CaptionsError
from control.config import Config, ConfigError

START_MODES = ("startup", "first_use")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class CaptionsFeatureConfig:
    captions: CaptionsConfig
    start_workers: str = "startup"
    default_language: str | None = None
    ready_timeout_s: float = 120.0


def captions_settings(config: Config) -> CaptionsFeatureConfig:
    """The feature's configuration from ``config.extra["captions"]`` and ``data_dir``."""
    return captions_settings_from(config.extra.get("captions", {}), Path(config.server.data_dir))


def captions_settings_from(raw: dict[str, Any], data_dir: Path) -> CaptionsFeatureConfig:
    values = dict(raw)
    start = str(values.pop("start_workers", "startup")).strip().lower()
    if start not in START_MODES:
        raise ConfigError(f"captions.start_workers must be one of {', '.join(START_MODES)}, got {start!r}")
    default_language = values.pop("default_language", None)
    if default_language is not None and not isinstance(default_language, str):
        raise ConfigError(f"captions.default_language must be a language code, got {default_language!r}")
    timeout = _convert("captions.ready_timeout_s", float, values.pop("ready_timeout_s", 120.0))
    if timeout <= 0:
        raise ConfigError("captions.ready_timeout_s must be positive")
    vad_raw: dict[str, Any] = {}
    nested = values.pop("vad", None)
    if nested is not None:
        if not isinstance(nested, dict):
            raise ConfigError("captions.vad must be a table of VAD settings")
        vad_raw.update(nested)
    for key in [k for k in values if k.startswith("vad_")]:
        vad_raw[key[len("vad_"):]] = values.pop(key)
    kwargs = _fields(CaptionsConfig, values, "captions", skip=frozenset({"vad"}))
    kwargs["vad"] = VadConfig(**_fields(VadConfig, vad_raw, "captions.vad"))
    for name, default in (("models_folder", Path("models/vosk")), ("translation_folder", Path("models/translate"))):
        folder = kwargs.get(name, default)
        kwargs[name] = folder if folder.is_absolute() else data_dir / folder
    try:
        captions = CaptionsConfig(**kwargs)
    except CaptionsError as exc:  # the message already names captions.<field>
        raise ConfigError(str(exc)) from None
    return CaptionsFeatureConfig(captions, start, default_language or None, timeout)


def _fields(cls: type[Any], raw: dict[str, Any], prefix: str, skip: frozenset[str] = frozenset()) -> dict[str, Any]:
    known = {f.name for f in dataclasses.fields(cls)} - skip
    hints = typing.get_type_hints(cls)
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in known:
            raise ConfigError(f"unknown setting {prefix}.{key} (known: {', '.join(sorted(known))})")
        out[key] = _convert(f"{prefix}.{key}", hints[key], value)
    return out


def _convert(name: str, tp: Any, value: Any) -> Any:
    if tp is Path:
        if not isinstance(value, str | Path) or not str(value):
            raise ConfigError(f"{name} must be a folder path, got {value!r}")
        return Path(value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE or text in _FALSE:
            return text in _TRUE
        raise ConfigError(f"{name} must be true or false, got {value!r}")
    if tp is int or tp is float:
        if isinstance(value, bool):
            raise ConfigError(f"{name} must be a number, got {value!r}")
        try:
            number = float(value) if tp is float else int(str(value).strip()) if isinstance(value, str) else value
        except (TypeError, ValueError):
            raise ConfigError(f"{name} must be {'an integer' if tp is int else 'a number'}, got {value!r}") from None
        if tp is int and (not isinstance(number, int) or isinstance(number, bool)):
            raise ConfigError(f"{name} must be an integer, got {value!r}")
        return number
    if tp == tuple[str, ...]:
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
            raise ConfigError(f"{name} must be a list of language codes (comma-separated in the environment)")
        return tuple(i.strip() for i in items if i.strip())
    if tp is str:
        return str(value)
    raise ConfigError(f"{name}: unsupported setting type {tp!r}")
