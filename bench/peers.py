"""Finding (and, in a full run, installing) the peer tools: natscli and kcat.

A peer that cannot be had is skipped with a note saying why; it never fails the run.
natscli is built from the Go module proxy into ~/.cache/evmon-bench/bin (pinned, so runs
compare like with like: a cached build of another version is rebuilt); kcat comes from
Debian's package of that name.

Besides their raw modes the peers have JSON output modes that do work comparable to
``evmon tail --format jsonl`` (one record per message with subject, headers, position and
data): ``nats sub --dump=-`` (NUL-terminated JSON to stdout) and ``kcat -J`` (one JSON
envelope per record). ``nats_sub_argv`` and ``kcat_argv`` build both kinds, so every
benchmark runs the peers the same way.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

NATS_CLI_MODULE = "github.com/nats-io/natscli/nats"
#: v0.5.1 is skipped: the pinned version is the newest the package lists allow.
NATS_CLI_VERSION = "v0.5.0"


def cache_dir() -> Path:
    return Path(os.environ.get("EVMON_BENCH_CACHE", Path.home() / ".cache" / "evmon-bench"))


def nats_cli(install: bool) -> tuple[str | None, str]:
    """The ``nats`` binary and a note (how it was found, or why there is none)."""
    cached = cache_dir() / "bin" / "nats"
    if cached.is_file() and os.access(cached, os.X_OK):
        have = _nats_version(cached)
        if have == NATS_CLI_VERSION:
            return str(cached), f"natscli {NATS_CLI_VERSION} (cached build)"
        if not install:
            return (
                str(cached),
                f"natscli {have or 'of unknown version'} (cached build; "
                f"a full run builds {NATS_CLI_VERSION})",
            )
    if not install:
        return None, f"natscli not built (run without --quick to build it into {cached.parent})"
    go = shutil.which("go") or next(
        (p for p in ("/usr/local/go/bin/go", "/usr/lib/go/bin/go") if Path(p).is_file()), None
    )
    if go is None:
        return None, "natscli skipped: no Go toolchain to build it with"
    env = dict(os.environ)
    env["GOBIN"] = str(cached.parent)
    env.setdefault("GOPATH", str(cache_dir() / "go"))
    env["GOFLAGS"] = "-modcacherw"
    try:
        proc = subprocess.run(
            [go, "install", f"{NATS_CLI_MODULE}@{NATS_CLI_VERSION}"],
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        return None, f"natscli skipped: go install failed ({err})"
    if proc.returncode != 0 or not cached.is_file():
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return None, f"natscli skipped: go install failed ({last})"
    return str(cached), f"natscli {NATS_CLI_VERSION} (built with go install)"


def _nats_version(path: Path) -> str | None:
    try:
        out = subprocess.run([str(path), "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (out.stdout or out.stderr).strip()
    return text.splitlines()[0].strip() if text else None


def nats_sub_argv(
    nats: str,
    url: str,
    subject: str,
    *,
    stream: str | None = None,
    count: int | None = None,
    dump: bool = False,
) -> list[str]:
    """``nats sub``: ``--raw`` (payloads, one a line) or ``--dump=-`` (JSON records, NUL
    terminated: the mode comparable to evmon's jsonl); ``stream`` reads it from the first
    message through an ephemeral ordered consumer, as ``evmon tail --stream`` does."""
    argv = [nats, "--server", url, "sub", subject]
    if stream is not None:
        argv += ["--stream", stream, "--all"]
    if count is not None:
        argv += ["--count", str(count)]
    return argv + (["--dump=-"] if dump else ["--raw"])


def kcat_argv(
    kcat: str,
    bootstrap: str,
    topic: str,
    *,
    count: int | None = None,
    json: bool = False,
    exit_at_end: bool = True,
) -> list[str]:
    """``kcat -C`` from the beginning: payloads one a line, or with ``json`` one ``-J``
    envelope a line (topic, partition, offset, timestamp, key, headers, payload)."""
    argv = [kcat, "-C", "-b", bootstrap, "-t", topic, "-o", "beginning", "-q"]
    if count is not None:
        argv += ["-c", str(count)]
    if exit_at_end:
        argv.append("-e")
    return argv + (["-J"] if json else [])


def kcat(install: bool) -> tuple[str | None, str]:
    """The ``kcat`` binary and a note."""
    found = shutil.which("kcat") or shutil.which("kafkacat")
    if found:
        return found, _kcat_version(found)
    apt = shutil.which("apt-get")
    if not install or apt is None or os.geteuid() != 0:
        why = "not installed" if install else "not installed (a full run installs it as root)"
        return None, f"kcat skipped: {why}; `apt-get install -y kcat`"
    install_kcat = [apt, "install", "-y", "-q", "kcat"]
    for argv in (install_kcat, [apt, "update", "-q"], install_kcat):  # the list may be stale
        try:
            subprocess.run(argv, capture_output=True, timeout=600, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired):
            break
        found = shutil.which("kcat")
        if found:
            return found, _kcat_version(found) + " (installed with apt-get)"
    return None, "kcat skipped: `apt-get install -y kcat` failed"


def _kcat_version(path: str) -> str:
    try:
        out = subprocess.run([path, "-V"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "kcat"
    for line in out.splitlines():
        if "version" in line.lower():
            return line.strip()
    return "kcat"
