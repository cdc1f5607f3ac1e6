"""Named errors of the control plane; the API turns them into JSON errors in one place.

``code`` is stable (clients switch on it); ``message`` names the field or the rule.
"""

from __future__ import annotations


class ControlError(Exception):
    """Base class. ``status`` is the HTTP status the edge should use."""

    status = 400

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class InvalidField(ControlError):
    """A request field breaks a rule (wrong type, out of range, missing...)."""

    status = 422

    def __init__(self, field: str, rule: str, code: str = "invalid_field") -> None:
        super().__init__(code, f"field '{field}' {rule}")
        self.field = field


class NotFound(ControlError):
    """Unknown thing, or one that belongs to another organisation/department (same answer)."""

    status = 404

    def __init__(self, what: str = "room") -> None:
        super().__init__("not_found", f"{what} not found")


class Conflict(ControlError):
    """The request is well-formed but the current state forbids it (e.g. room already ended)."""

    status = 409


class Unauthorized(ControlError):
    status = 401

    def __init__(self, message: str = "missing or invalid API key (Authorization: Bearer <key>)") -> None:
        super().__init__("unauthorized", message)


class Forbidden(ControlError):
    status = 403

    def __init__(self, message: str) -> None:
        super().__init__("forbidden", message)


class BodyTooLarge(ControlError):
    """A request body over the documented limit."""

    status = 413

    def __init__(self, message: str) -> None:
        super().__init__("too_large", message)


class UnsupportedMediaType(ControlError):
    """A request body in a content type the endpoint does not take."""

    status = 415

    def __init__(self, message: str) -> None:
        super().__init__("unsupported_media_type", message)
