"""Named exceptions of the captions package (translated to wire errors by control/)."""

from __future__ import annotations


class CaptionsError(Exception):
    """Base of every error the captions package raises on purpose."""


class ConfigError(CaptionsError):
    """A captions setting is out of range."""


class InvalidLanguage(CaptionsError, ValueError):
    """A language code is malformed (the message names the field and the rule)."""


class LanguageUnavailable(CaptionsError):
    """No model for the language; the message lists the available ones and how to add one."""

    def __init__(self, message: str, language: str, available: list[str]) -> None:
        super().__init__(message)
        self.language = language
        self.available = available


class ModelInstallError(CaptionsError):
    """A translation package file cannot be installed (not a zip, bad metadata, ...)."""


class ServiceClosed(CaptionsError):
    """The caption service was closed."""


class WorkerDied(CaptionsError):
    """A recognition or translation worker process exited unexpectedly."""
