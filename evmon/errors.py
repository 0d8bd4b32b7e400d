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


def tls_files_error(broker: str, files: list[str], err: BaseException) -> str:
    """The one line for TLS files that Python's ssl module cannot load (not PEM, a key that
    does not belong to the certificate): it only says "PEM lib" or "no certificate found"."""
    reason = getattr(err, "reason", None) or getattr(err, "strerror", None) or str(err)
    reason = reason.replace("[SSL] ", "").split(" (_ssl.c", 1)[0]
    return (
        f"cannot load the {broker} TLS files {', '.join(files)}: {reason} "
        "(certificates and keys must be PEM files; the key must match the certificate)"
    )
