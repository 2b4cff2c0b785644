"""The one error type users see: a message that says what is wrong and a hint that says how to fix it."""

from __future__ import annotations


class PolydemoError(Exception):
    """An expected failure. The CLI prints ``message``, ``details`` and ``hint`` and exits with ``exit_code``
    (see ``polydemo.cli.context.command``): never a traceback."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None, details: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.details = details

    def __str__(self) -> str:
        return self.message


class PortInUseError(PolydemoError):
    exit_code = 2


class ServiceStartError(PolydemoError):
    exit_code = 3
