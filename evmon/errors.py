"""Errors that end a command with one clear line instead of a traceback."""

from __future__ import annotations


class EvmonError(Exception):
    """An expected failure: the message is shown as-is, the exit code follows DESIGN.md."""

    exit_code = 1


class UsageError(EvmonError):
    """Bad flags, bad filter, bad configuration."""

    exit_code = 2


class ConnectError(EvmonError):
    """A broker could not be reached or refused us at start."""

    exit_code = 2


class RuntimeFailure(EvmonError):
    """Something failed after the start: a lost connection, an unacknowledged publish."""

    exit_code = 1
