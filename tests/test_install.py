"""The newcomer's path: the wheel installs into a fresh virtual environment and both
`evmon --version` and `evmon demo --serve` work there, with nothing but evmon installed."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.waiting import wait_for

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.network  # the dependencies come from the package index


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("install")
    wheels = tmp / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(ROOT)],
        check=True,
        timeout=300,
    )
    (wheel,) = wheels.glob("evmon-*.whl")
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    # Dependencies come from the package index (or pip's cache), as for a user.
    subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            str(wheel),
        ],
        check=True,
        timeout=600,
    )
    return venv


def test_version_from_the_wheel(fresh_venv: Path) -> None:
    from evmon import __version__

    res = subprocess.run(
        [str(fresh_venv / "bin" / "evmon"), "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == f"evmon {__version__}"


def test_demo_serve_from_the_wheel(fresh_venv: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PYTHONUNBUFFERED"] = "1"
    proc = subprocess.Popen(
        [str(fresh_venv / "bin" / "evmon"), "demo", "--serve", "--seed", "3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=fresh_venv,
    )
    out: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in iter(proc.stdout.readline, b""):
            out.append(line.decode())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        m = wait_for(
            lambda: re.search(
                r"NATS at nats://127\.0\.0\.1:(\d+).*JetStream data in (\S+)", "".join(out), re.S
            ),
            timeout=60,
            message="the demo banner",
        )
        port, workdir = int(m[1]), Path(m[2])
        # the bundled nats-server answers (its monitoring port is not exposed: use the
        # client port's INFO line)
        import socket

        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            assert sock.recv(7) == b'INFO {"'
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
        assert not workdir.exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
