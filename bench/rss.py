"""Resident set size from /proc (Linux), of this process or another."""

from __future__ import annotations

import os


def rss_bytes(pid: int | None = None) -> int:
    """VmRSS of ``pid`` (default: this process) in bytes; 0 where /proc has no answer."""
    path = f"/proc/{pid or 'self'}/statm"
    try:
        with open(path, encoding="ascii") as f:
            resident = int(f.read().split()[1])
    except (OSError, IndexError, ValueError):
        return 0
    return resident * os.sysconf("SC_PAGE_SIZE")
