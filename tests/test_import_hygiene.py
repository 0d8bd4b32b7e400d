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
    "evmon.codec.timestamps",
    "evmon.codec.record",
    "evmon.codec.display",
    "evmon.config",
    "evmon.config.settings",
    "evmon.config.contexts",
    "evmon.config.resolve",
    "evmon.filter",
    "evmon.subjects",
    "evmon.store",
    "evmon.event_index",
    "evmon.heap",
    "evmon.sources",
    "evmon.sources.ack",
    "evmon.sources.spec",
    "evmon.sources.nats",
    "evmon.sources.nats.wire",
    "evmon.sources.nats.connect",
    "evmon.sources.nats.cutoffs",
    "evmon.sources.nats.tail",
    "evmon.sources.nats.jetstream_lag",
    "evmon.sources.nats.interest",
    "evmon.sources.nats.publish",
    "evmon.sources.nats.consumer_skip",
    "evmon.sources.kafka",
    "evmon.sources.kafka.client",
    "evmon.sources.kafka.records",
    "evmon.sources.kafka.protocol",
    "evmon.sources.kafka.tail",
    "evmon.sources.kafka.group_lag",
    "evmon.sources.kafka.publish",
    "evmon.sources.kafka.group_offsets",
    "evmon.commands.tail",
    # headless helpers under tui/: the package root is lazy, so they load no Textual
    "evmon.tui",
    "evmon.tui.format",
    "evmon.tui.connections",
    "evmon.tui.targets",
    "evmon.tui.options",
    "evmon.tui.sample",
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


def test_codec_and_config_roots_load_only_what_is_used() -> None:
    """The package roots re-export lazily: a timestamp needs no orjson, a source that takes
    ``NatsSettings`` loads neither the contexts' TOML/JSON readers nor the flag resolution."""
    code = (
        "import sys\n"
        "from evmon.codec import parse_timestamp\n"
        "from evmon.config import NatsSettings\n"
        "loaded = ('orjson', 'evmon.codec.record', 'evmon.codec.display', 'tomllib', 'json',\n"
        "          'evmon.config.contexts', 'evmon.config.resolve')\n"
        "print(','.join(m for m in loaded if m in sys.modules))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert res.stdout.strip() == ""


def test_tui_root_does_not_import_the_app() -> None:
    """``evmon.tui`` re-exports ``EvmonApp`` lazily (PEP 562): a headless helper under tui
    loads neither the app nor its widgets, and the app still comes from the root on use."""
    code = (
        "import sys\n"
        "import evmon.tui, evmon.tui.targets, evmon.tui.options\n"
        "from evmon.tui import SourceSpec, nats_spec\n"
        "early = [m for m in ('evmon.tui.app', 'evmon.tui.screens', 'evmon.tui.widgets')\n"
        "         if m in sys.modules]\n"
        "from evmon.tui import EvmonApp\n"
        "print(','.join(early), EvmonApp.__module__)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert res.stdout.split() == ["evmon.tui.app"], res.stdout
