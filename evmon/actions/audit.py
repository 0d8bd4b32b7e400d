"""The audit log: one JSONL line per operator action, appended to a file only the user reads.

``$XDG_STATE_HOME/evmon/audit.jsonl`` (created 0600 in a 0700 directory): time, user, host,
action, broker, target, event identities, outcome, detail — never payloads, never credentials
(brokers are written in their display form, URLs without user info). ``ActionContext``
(``evmon.actions.context``) checks it before acting and records the outcome after.
"""

from __future__ import annotations

import getpass
import os
import socket
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import orjson

from evmon.codec import format_timestamp
from evmon.errors import RuntimeFailure, UsageError

__all__ = ["AuditLog", "default_audit_path"]


def default_audit_path() -> Path:
    """``$XDG_STATE_HOME/evmon/audit.jsonl``, else ``~/.local/state/evmon/audit.jsonl``."""
    state = os.environ.get("XDG_STATE_HOME", "")
    base = Path(state) if os.path.isabs(state) else Path.home() / ".local" / "state"
    return base / "evmon" / "audit.jsonl"


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry and no LOGNAME (containers)
        return str(os.getuid()) if hasattr(os, "getuid") else "unknown"


def _json_text(s: str) -> str:
    """``s`` as text JSON can hold: a subject that is not UTF-8 (kept with surrogateescape)
    names its bytes as ``\\xff`` escapes instead of stopping the entry from being written."""
    try:
        return s.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:
        return s.encode("utf-8", "backslashreplace").decode("utf-8")


def _dumps(entry: dict[str, Any]) -> bytes:
    try:
        return orjson.dumps(entry)
    except TypeError:  # a str with surrogates, from broker data
        for k, v in entry.items():
            if isinstance(v, str):
                entry[k] = _json_text(v)
            elif isinstance(v, list):
                entry[k] = [_json_text(x) if isinstance(x, str) else x for x in v]
        return orjson.dumps(entry)


class AuditLog:
    """Append-only JSONL audit trail, one line per action, written with one ``write``.

    ``O_APPEND`` makes concurrent evmon processes interleave whole lines, never bytes.
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_audit_path()

    def check(self) -> None:
        """Make sure a line can be appended; UsageError naming the file otherwise."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            os.close(fd)
        except OSError as err:
            raise UsageError(
                f"cannot write the audit log {self.path}: {err.strerror or err}"
            ) from None

    def record(
        self,
        *,
        action: str,
        broker: str,
        target: str,
        events: Sequence[str],
        outcome: Literal["ok", "partial", "failed", "cancelled"],
        detail: str = "",
        extra: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Append one entry and return it. RuntimeFailure if the file cannot be written.

        ``partial``: everything was sent and acknowledged but not all of it stored (a
        re-publish that JetStream dropped as duplicates). ``extra`` adds action-specific
        fields (re-publish: ``edited``, ``copies``, ``sha256`` of what was sent, counts).
        """
        entry: dict[str, Any] = {
            "time": format_timestamp(time.time()),
            "user": _user(),
            "host": socket.gethostname(),
            "action": action,
            "broker": broker,
            "target": target,
            "events": list(events),
            "outcome": outcome,
            "detail": detail,
            **(extra or {}),
        }
        line = _dumps(entry) + b"\n"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)
        except OSError as err:
            raise RuntimeFailure(
                f"{action} {outcome}, but the audit log {self.path} could not be written: "
                f"{err.strerror or err}"
            ) from None
        return entry

    def entries(self) -> list[dict[str, Any]]:
        """Every entry so far (for tests and an audit view); [] when there is no file."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return []
        return [orjson.loads(line) for line in data.splitlines() if line.strip()]
