"""The exceptions a user may see. Anything else reaching the CLI is a bug (exit 3)."""

from __future__ import annotations


class ReconcilerError(Exception):
    """A problem the user can fix; the CLI prints it in one line and exits 1."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class ConfigError(ReconcilerError):
    """Settings, profiles or options that cannot work."""


class ServerUnavailableError(ReconcilerError):
    """No API is configured and the embedded server cannot be started."""


class StalePlanError(ReconcilerError):
    """A saved plan no longer matches the live or desired state."""


class ApplyError(ReconcilerError):
    """Some changes failed to apply; the report says which."""
