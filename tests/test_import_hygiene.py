"""Headless code must not import Textual: it keeps `evmon tail` and friends fast to start and
usable where only the engine is wanted."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEADLESS = [
    "evmon.cli",
    "evmon.model",
    "evmon.codec",
    "evmon.filter",
    "evmon.store",
    "evmon.event_index",
    "evmon.heap",
    "evmon.sources.nats",
    "evmon.sources.kafka",
    "evmon.commands.tail",
]


@pytest.mark.parametrize("module", HEADLESS)
def test_headless_module_does_not_import_textual(module: str) -> None:
    code = (
        f"import sys, {module}\n"
        "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
        "print(','.join(bad))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert res.stdout.strip() == "", f"{module} imported {res.stdout.strip()}"


def test_cli_help_imports_no_broker_client() -> None:
    """`evmon --version` must cost about as much as starting Python."""
    code = (
        "import sys\n"
        "from evmon import cli\n"
        "heavy = [m for m in ('textual', 'nats', 'aiokafka', 'orjson') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert res.stdout.strip() == ""
