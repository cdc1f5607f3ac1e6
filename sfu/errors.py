"""Named errors of the media plane; the edge translates them to wire errors."""

from __future__ import annotations


class SfuError(Exception):
    """Base class; ``code`` is the stable wire error code."""

    code = "sfu_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidSdp(SfuError):
    code = "invalid_sdp"


class InvalidCandidate(SfuError):
    code = "invalid_candidate"


class WrongState(SfuError):
    code = "wrong_state"


class NotFound(SfuError):
    code = "not_found"


class Forbidden(SfuError):
    code = "forbidden"


class Unsupported(SfuError):
    code = "unsupported"
