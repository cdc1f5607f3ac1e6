"""Request bodies checked against the API's JSON schemas with jsonschema-rs (Draft 2020-12).

The OpenAPI document and the checks use the same schema objects (control/api/schemas.py),
so what the document promises is what the server enforces, keyword for keyword (a
maintained validator: no keyword is silently ignored). ``format: uri`` is checked, and
means an http:// or https:// URL here. Errors name the field path and the rule broken;
they never echo the offending value back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import jsonschema_rs

from control.domain.errors import InvalidField

_VALIDATORS: dict[int, tuple[dict[str, Any], jsonschema_rs.Draft202012Validator]] = {}


def _is_web_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _validator(schema: dict[str, Any], components: dict[str, Any]) -> jsonschema_rs.Draft202012Validator:
    # schemas are module constants: cache by identity (the schema is kept alive with it)
    cached = _VALIDATORS.get(id(schema))
    if cached is not None and cached[0] is schema:
        return cached[1]
    root = {**schema, "components": {"schemas": components}}  # "#/components/schemas/X" resolves here
    validator = jsonschema_rs.Draft202012Validator(root, validate_formats=True, formats={"uri": _is_web_url})
    _VALIDATORS[id(schema)] = (schema, validator)
    return validator


def _path(parts: list[str | int]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _rule(kind: str, detail: dict[str, Any]) -> str:
    limit = detail.get("limit")
    rules: dict[str, Callable[[], str]] = {
        "type": lambda: "must be " + " or ".join(detail.get("types", [])),
        "enum": lambda: "must be one of " + ", ".join(repr(v) for v in detail.get("options", [])),
        "minLength": lambda: f"must be at least {limit} characters",
        "maxLength": lambda: f"must be at most {limit} characters",
        "pattern": lambda: f"must match {detail.get('pattern')}",
        "minimum": lambda: f"must be at least {limit}",
        "maximum": lambda: f"must be at most {limit}",
        "exclusiveMinimum": lambda: f"must be greater than {limit}",
        "exclusiveMaximum": lambda: f"must be less than {limit}",
        "maxItems": lambda: f"must have at most {limit} items",
        "minItems": lambda: f"must have at least {limit} items",
        "maxProperties": lambda: f"must have at most {limit} entries",
        "format": lambda: "must be an http:// or https:// URL" if detail.get("format") == "uri" else "has the wrong format",
    }
    make = rules.get(kind)
    return make() if make is not None else f"breaks the rule '{kind}' of the schema"


def check(schema: dict[str, Any], value: Any, path: str, components: dict[str, Any]) -> None:
    """Raise :class:`InvalidField` naming the field at the first rule ``value`` breaks."""
    validator = _validator(schema, components)
    error = next(iter(validator.iter_errors(value)), None)
    if error is None:
        return
    parts: list[str | int] = [path] if path else []
    where = _path([*parts, *error.instance_path])
    prefix = f"{where}." if where else ""
    kind = error.kind.name
    detail: dict[str, Any] = error.kind.as_dict()
    if kind == "required":
        raise InvalidField(f"{prefix}{detail.get('property')}", "is required", code="missing_field")
    if kind in ("additionalProperties", "unevaluatedProperties"):
        unexpected = detail.get("unexpected") or ["?"]
        raise InvalidField(f"{prefix}{str(unexpected[0])[:64]}", "is not a known field")
    raise InvalidField(where or "body", _rule(kind, detail))
