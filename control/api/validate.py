"""A small JSON-Schema (2020-12 subset) checker for request bodies and query parameters.

The OpenAPI document and the checks are the same objects (control/api/schemas.py), so
what the document promises is what the server enforces. Supported keywords: type
(incl. lists), properties, required, additionalProperties: false, enum, minLength,
maxLength, pattern, minimum, maximum, exclusiveMinimum, items, maxItems, maxProperties,
format "uri" (http/https), $ref to #/components/schemas. Errors name the field path.
"""

from __future__ import annotations

import math
import re
from typing import Any
from urllib.parse import urlsplit

from control.domain.errors import InvalidField

_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "boolean": (bool,),
    "integer": (int,),
    "number": (int, float),
    "null": (type(None),),
}
_PATTERNS: dict[str, re.Pattern[str]] = {}


def _is_type(value: Any, name: str) -> bool:
    if name in ("integer", "number") and isinstance(value, bool):
        return False
    if name == "number" and isinstance(value, float) and not math.isfinite(value):
        return False
    return isinstance(value, _TYPES[name])


def _type_names(schema: dict[str, Any]) -> list[str]:
    t = schema.get("type")
    if t is None:
        return []
    return list(t) if isinstance(t, list) else [t]


def check(schema: dict[str, Any], value: Any, path: str, components: dict[str, Any]) -> None:
    """Raise :class:`InvalidField` naming ``path`` at the first rule ``value`` breaks."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        check(components[name], value, path, components)
        return
    label = path or "body"
    types = _type_names(schema)
    if types and not any(_is_type(value, t) for t in types):
        raise InvalidField(label, f"must be {' or '.join(types)}")
    if "enum" in schema and value not in schema["enum"]:
        raise InvalidField(label, "must be one of " + ", ".join(repr(v) for v in schema["enum"]))
    if isinstance(value, str):
        _check_string(schema, value, label)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        _check_number(schema, value, label)
    elif isinstance(value, list):
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            raise InvalidField(label, f"must have at most {schema['maxItems']} items")
        items = schema.get("items")
        if items is not None:
            for i, item in enumerate(value):
                check(items, item, f"{label}[{i}]", components)
    elif isinstance(value, dict):
        _check_object(schema, value, path, components)


def _check_string(schema: dict[str, Any], value: str, label: str) -> None:
    if "minLength" in schema and len(value) < schema["minLength"]:
        raise InvalidField(label, f"must be at least {schema['minLength']} characters")
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        raise InvalidField(label, f"must be at most {schema['maxLength']} characters")
    pattern = schema.get("pattern")
    if pattern is not None:
        compiled = _PATTERNS.get(pattern) or _PATTERNS.setdefault(pattern, re.compile(pattern))
        if not compiled.search(value):
            raise InvalidField(label, f"must match {pattern}")
    if schema.get("format") == "uri":
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise InvalidField(label, "must be an http:// or https:// URL")


def _check_number(schema: dict[str, Any], value: float, label: str) -> None:
    if "minimum" in schema and value < schema["minimum"]:
        raise InvalidField(label, f"must be at least {schema['minimum']}")
    if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
        raise InvalidField(label, f"must be greater than {schema['exclusiveMinimum']}")
    if "maximum" in schema and value > schema["maximum"]:
        raise InvalidField(label, f"must be at most {schema['maximum']}")


def _check_object(schema: dict[str, Any], value: dict[str, Any], path: str, components: dict[str, Any]) -> None:
    prefix = f"{path}." if path else ""
    props: dict[str, Any] = schema.get("properties", {})
    if "maxProperties" in schema and len(value) > schema["maxProperties"]:
        raise InvalidField(path or "body", f"must have at most {schema['maxProperties']} entries")
    for name in schema.get("required", []):
        if name not in value:
            raise InvalidField(f"{prefix}{name}", "is required", code="missing_field")
    extra = schema.get("additionalProperties", True)
    for name, item in value.items():
        if name in props:
            check(props[name], item, f"{prefix}{name}", components)
        elif extra is False:
            raise InvalidField(f"{prefix}{name}", "is not a known field")
        elif isinstance(extra, dict):
            check(extra, item, f"{prefix}{name}", components)
