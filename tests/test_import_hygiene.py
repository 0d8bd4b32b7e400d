"""Headless code must not import Textual: it keeps `evmon tail` and friends fast to start and
usable where only the engine is wanted.

The headless modules are found by walking the package (``tests/import_graph.py``): every
module outside ``evmon/tui/``, and the helpers under it that ``TUI_HEADLESS`` names. A new
module is covered the day it is added; ``tests/test_import_contracts.py`` checks the same
rule in the source, this checks what Python really loads."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.import_graph import imports, loaded_on_import, modules

#: Modules under evmon/tui/ that load no Textual (the root is lazy): the dashboard's
#: headless helpers. A tui module that imports no Textual must be listed here (so it is
#: checked); one listed here that gains a Textual import fails below.
TUI_HEADLESS = {
    "evmon.tui",
    "evmon.tui.connections",
    "evmon.tui.echo",
    "evmon.tui.format",
    "evmon.tui.options",
    "evmon.tui.sample",
    "evmon.tui.screens",
    "evmon.tui.targets",
    "evmon.tui.widgets",
}
#: Not imported: ``python -m evmon`` runs the command line when imported.
RUNS_ON_IMPORT = {"evmon.__main__"}
GUI = ("textual", "rich")


def _in_tui(module: str) -> bool:
    return module == "evmon.tui" or module.startswith("evmon.tui.")


def headless_modules() -> list[str]:
    return sorted(
        m for m in modules() if m not in RUNS_ON_IMPORT and (not _in_tui(m) or m in TUI_HEADLESS)
    )


def _imports_gui_on_import(module: str) -> bool:
    return any(
        not (imp.type_checking or imp.deferred) and imp.target.partition(".")[0] in GUI
        for m in loaded_on_import(module)
        if m in modules()
        for imp in imports(m)
    )


def _gui_loaded_by(names: list[str]) -> str:
    code = (
        "import importlib, sys\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module(name)\n"
        f"bad = sorted(m for m in sys.modules if m.partition('.')[0] in {GUI!r})\n"
        "print(','.join(bad[:5]))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return res.stdout.strip()


def test_the_walk_covers_every_headless_module() -> None:
    found = headless_modules()
    for module in (
        "evmon.lenses.lens",
        "evmon.regex_budget",
        "evmon.interest.report",
        "evmon.codec.template",
        "evmon.sources.nats.wire",
        "evmon.cli",
        "evmon.tui.options",
    ):
        assert module in found
    assert "evmon.tui.app" not in found


def test_tui_headless_lists_the_tui_modules_without_textual() -> None:
    """Both ways: a new tui helper with no Textual is listed (and so checked), and a
    listed one does not import Textual after all."""
    plain = {m for m in modules() if _in_tui(m) and not _imports_gui_on_import(m)}
    assert plain == TUI_HEADLESS, (
        f"add to TUI_HEADLESS: {sorted(plain - TUI_HEADLESS)}; "
        f"these import Textual now: {sorted(TUI_HEADLESS - plain)}"
    )


def test_headless_modules_do_not_import_textual() -> None:
    """All of them imported into one interpreter: what that loads is the union of what
    each loads, so one clean run clears every module (a failure then names the culprits)."""
    names = headless_modules()
    if bad := _gui_loaded_by(names):
        culprits = [m for m in names if _gui_loaded_by([m])]
        raise AssertionError(f"{', '.join(culprits)} imported {bad}")


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


def test_the_dashboard_asks_textual_for_its_frame_cap_unless_the_user_set_one() -> None:
    """``evmon.tui`` sets ``TEXTUAL_FPS`` before any of its modules imports Textual (which
    reads it once); a value in the environment wins."""
    code = "import evmon.tui.app, textual.constants as c; print(c.MAX_FPS)"
    env = {k: v for k, v in os.environ.items() if k != "TEXTUAL_FPS"}
    run = [sys.executable, "-c", code]
    res = subprocess.run(run, capture_output=True, text=True, check=True, env=env)
    assert res.stdout.strip() == "240"
    res = subprocess.run(
        run, capture_output=True, text=True, check=True, env={**env, "TEXTUAL_FPS": "30"}
    )
    assert res.stdout.strip() == "30"
