"""Wire codec: JSON text frames <-> message dataclasses, with validation.

Every message is a JSON object ``{"v": 1, "type": "...", "id": "...", ...fields}``.
``id`` is optional and chosen by the client; the server echoes it in the reply or
in the error that the message caused, so a client can match them.

Message classes register themselves with :func:`message` under their ``type``.
Feature packages (waiting room, captions, effects) add their own modules of
message classes; the codec knows nothing about them beyond the registry.

Validation is driven by the dataclass field annotations, restricted to a small
set of JSON shapes (str, int, float, bool, dict, list, Optional[...] and nested
message-part dataclasses). A bad message raises :class:`ProtocolError` whose
``code`` is stable and whose message names the field and the rule.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar, Union

from signalling.bounded_json import MAX_JSON_DEPTH, TooDeep, loads_bounded

PROTOCOL_VERSION = 1
MAX_MESSAGE_BYTES = 256 * 1024


class ProtocolError(Exception):
    """A message that cannot be accepted; ``code`` is stable, ``message`` says why."""

    def __init__(self, code: str, message: str, ref: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.ref = ref


@dataclasses.dataclass(kw_only=True)
class Message:
    """Base of every wire message. ``type`` is a class constant set by :func:`message`."""

    type: ClassVar[str] = ""
    id: str | None = None


M = TypeVar("M", bound=type[Message])

_REGISTRY: dict[str, type[Message]] = {}
_SERVER_ONLY: set[str] = set()
_HINTS: dict[type[Any], dict[str, Any]] = {}


def message(type_name: str, *, from_server: bool = False) -> Callable[[M], M]:
    """Class decorator: register a message dataclass under its wire ``type``.

    ``from_server`` marks messages only the server sends; a client sending one
    gets ``unknown_type``.
    """

    def register(cls: M) -> M:
        if type_name in _REGISTRY and _REGISTRY[type_name] is not cls:
            raise RuntimeError(f"message type {type_name!r} registered twice")
        cls.type = type_name
        _REGISTRY[type_name] = cls
        if from_server:
            _SERVER_ONLY.add(type_name)
        return cls

    return register


def registered_types() -> dict[str, type[Message]]:
    return dict(_REGISTRY)


def decode_server_message(text: str | bytes) -> Message:
    """Parse a frame the server sent (used by clients such as the load tester)."""
    body = _parse(text)
    if not isinstance(body, dict) or body.get("type") not in _REGISTRY:
        raise ProtocolError("unknown_type", f"unknown message {str(body)[:80]!r}")
    cls = _REGISTRY[body["type"]]
    fields = {k: v for k, v in body.items() if k not in ("v", "type")}
    return typing.cast(Message, _build(cls, fields, ""))


def _hints(cls: type[Any]) -> dict[str, Any]:
    hints = _HINTS.get(cls)
    if hints is None:
        hints = typing.get_type_hints(cls)
        _HINTS[cls] = hints
    return hints


def encode(msg: Message) -> str:
    """Serialise a message to a JSON text frame (optional ``None`` fields are left out)."""
    body: dict[str, Any] = {"v": PROTOCOL_VERSION, "type": msg.type}
    body.update(_to_json(msg))
    return json.dumps(body, separators=(",", ":"))


def _to_json(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out: dict[str, Any] = {}
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
            if value is not None or required:  # a required field that may be null is sent as null
                out[f.name] = _to_json(value)
        return out
    if isinstance(obj, list | tuple):
        return [_to_json(v) for v in obj]
    if isinstance(obj, dict):
        return {k: _to_json(v) for k, v in obj.items()}
    return obj


def decode(text: str | bytes) -> Message:
    """Parse and validate one text frame into its message dataclass."""
    if len(text) > MAX_MESSAGE_BYTES:
        raise ProtocolError(
            "too_large", f"message is {len(text)} bytes; the limit is {MAX_MESSAGE_BYTES}"
        )
    body = _parse(text)
    if not isinstance(body, dict):
        raise ProtocolError("bad_json", "message must be a JSON object")
    ref = body.get("id") if isinstance(body.get("id"), str) else None
    version = body.get("v")
    # type() and not ==: JSON true equals 1 in Python, and 1.0 is not an integer on the wire
    if type(version) is not int or version != PROTOCOL_VERSION:
        raise ProtocolError(
            "unsupported_version",
            f"field 'v' must be the integer {PROTOCOL_VERSION}, got {_short(version)}",
            ref,
        )
    type_name = body.get("type")
    if not isinstance(type_name, str):
        raise ProtocolError("missing_field", "field 'type' (string) is required", ref)
    cls = _REGISTRY.get(type_name)
    if cls is None or type_name in _SERVER_ONLY:
        raise ProtocolError("unknown_type", f"unknown message type {_short(type_name)}", ref)
    fields = {k: v for k, v in body.items() if k not in ("v", "type")}
    try:
        return typing.cast(Message, _build(cls, fields, ""))
    except ProtocolError as exc:
        exc.ref = ref
        raise


def _short(value: Any, limit: int = 60) -> str:
    """``repr`` of a client's value, cut: an error must not echo a large input back."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


def _parse(text: str | bytes) -> Any:
    """JSON text -> value; nesting deeper than MAX_JSON_DEPTH is bad_json, checked before parsing."""
    try:
        return loads_bounded(text, MAX_JSON_DEPTH)
    except TooDeep as exc:
        raise ProtocolError("bad_json", f"message is not acceptable JSON: {exc}") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        raise ProtocolError("bad_json", f"message is not valid JSON: {exc}") from None


def _build(cls: type[Any], data: Any, path: str) -> Any:
    if not isinstance(data, dict):
        raise ProtocolError("invalid_field", f"field '{path.rstrip('.')}' must be an object")
    hints = _hints(cls)
    kwargs: dict[str, Any] = {}
    known = {f.name for f in dataclasses.fields(cls)}
    for key in data:
        if key not in known:
            raise ProtocolError("invalid_field", f"unknown field '{path}{_short(key, 40)[1:-1]}'")
    for f in dataclasses.fields(cls):
        name = f"{path}{f.name}"
        if f.name in data:
            kwargs[f.name] = _check(hints[f.name], data[f.name], name)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ProtocolError("missing_field", f"field '{name}' is required")
    obj = cls(**kwargs)
    validate = getattr(obj, "validate", None)
    if validate is not None:
        validate()
    return obj


def _describe(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(tp))
    if tp is type(None):
        return "null"
    if origin is list:
        return "array"
    if origin is dict or tp is dict:
        return "object"
    if origin is typing.Literal:
        return " or ".join(repr(a) for a in typing.get_args(tp))
    if dataclasses.is_dataclass(tp):
        return "object"
    return {str: "string", int: "integer", float: "number", bool: "boolean"}.get(tp, str(tp))


def _check(tp: Any, value: Any, name: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        errors: list[ProtocolError] = []
        for arg in typing.get_args(tp):
            try:
                return _check(arg, value, name)
            except ProtocolError as exc:
                errors.append(exc)
        nested = [e for e in errors if not e.message.startswith(f"field '{name}' must be")]
        if nested:
            raise nested[0]
        raise ProtocolError("invalid_field", f"field '{name}' must be {_describe(tp)}")
    if tp is type(None):
        if value is not None:
            raise ProtocolError("invalid_field", f"field '{name}' must be null")
        return None
    if origin is typing.Literal:
        if value not in typing.get_args(tp):
            raise ProtocolError("invalid_field", f"field '{name}' must be {_describe(tp)}")
        return value
    if origin is list:
        if not isinstance(value, list):
            raise ProtocolError("invalid_field", f"field '{name}' must be an array")
        (item_tp,) = typing.get_args(tp)
        return [_check(item_tp, v, f"{name}[{i}]") for i, v in enumerate(value)]
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise ProtocolError("invalid_field", f"field '{name}' must be an object")
        return value
    if dataclasses.is_dataclass(tp):
        return _build(typing.cast(type[Any], tp), value, f"{name}.")
    if tp is bool:
        if not isinstance(value, bool):
            raise ProtocolError("invalid_field", f"field '{name}' must be a boolean")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ProtocolError("invalid_field", f"field '{name}' must be an integer")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ProtocolError("invalid_field", f"field '{name}' must be a number")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ProtocolError("invalid_field", f"field '{name}' must be a string")
        return value
    raise TypeError(f"unsupported annotation {tp!r} on {name}")  # a bug in a message class
