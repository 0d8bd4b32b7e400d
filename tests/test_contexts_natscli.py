"""natscli habits: with no server on the command line evmon uses ``$NATS_CONTEXT``, else the
context ``nats context select`` chose (``nats/context.txt``), else ``$NATS_URL``.

Broker-free: HOME and XDG_CONFIG_HOME point into ``tmp_path``; the files are laid out the way
natscli (jsm.go ``natscontext``) writes them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
from pathlib import Path

import pytest

from evmon.cli import build_parser
from evmon.commands.common import apply_context, check_selection, nats_settings
from evmon.config import (
    default_nats_context,
    natscli_selected_path,
    natscli_selection,
    selected_context,
)
from evmon.errors import UsageError
from tests.helpers import evmon_cmd


def _natscli_context(config: Path, name: str, **fields: object) -> Path:
    folder = config / "nats" / "context"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(json.dumps(fields), encoding="utf-8")
    path.chmod(0o600)
    return path


def _select(config: Path, name: str) -> None:
    """What ``nats context select NAME`` leaves behind."""
    (config / "nats").mkdir(parents=True, exist_ok=True)
    (config / "nats" / "context.txt").write_text(name, encoding="utf-8")


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "xdg"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(folder))
    _natscli_context(folder, "east", url="nats://east:4222", user="u", password="east-pw")
    _natscli_context(folder, "west", url="nats://west1:4222,nats://west2:4222", token="west-tok")
    _natscli_context(folder, "local")  # no URL: natscli connects to 127.0.0.1:4222
    return folder


def _tail(*argv: str) -> argparse.Namespace:
    args = build_parser().parse_args(["tail", *argv])
    apply_context(args)
    return args


def test_paths_follow_natscli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert natscli_selected_path() == tmp_path / ".config" / "nats" / "context.txt"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "x"))
    assert natscli_selected_path() == tmp_path / "x" / "nats" / "context.txt"
    assert natscli_selection() is None
    (tmp_path / "x" / "nats").mkdir(parents=True)
    (tmp_path / "x" / "nats" / "context.txt").write_text("  east\n", encoding="utf-8")
    assert natscli_selection() == "east"


def test_nothing_set_means_no_default(config: Path) -> None:
    assert default_nats_context() is None
    with pytest.raises(UsageError, match="nothing to read"):
        check_selection(_tail())


def test_selected_context_is_used_without_nats(config: Path) -> None:
    _select(config, "east")
    args = _tail()
    assert args.nats == ["nats://east:4222"]
    settings = nats_settings(args)
    assert settings is not None
    assert (settings.urls, settings.user, settings.password) == (
        ("nats://east:4222",),
        "u",
        "east-pw",
    )
    ctx = selected_context(None, nats=args.nats)
    assert ctx is not None and ctx.name == "east"
    assert ctx.chosen_by == str(config / "nats" / "context.txt")


def test_nats_context_beats_the_selection_and_nats_url(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _select(config, "east")
    monkeypatch.setenv("NATS_URL", "nats://from-env:4222")
    monkeypatch.setenv("NATS_CONTEXT", "west")
    settings = nats_settings(_tail())
    assert settings is not None
    assert settings.urls == ("nats://west1:4222", "nats://west2:4222")
    assert settings.token == "west-tok"
    ctx = selected_context(None, nats=())
    assert ctx is not None and ctx.chosen_by == "$NATS_CONTEXT"


def test_nats_url_is_the_last_fallback(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NATS_URL", "nats://a:4222, nats://b:4222")
    settings = nats_settings(_tail())
    assert settings is not None
    assert settings.urls == ("nats://a:4222", "nats://b:4222")
    assert (settings.user, settings.token) == (None, None)
    ctx = selected_context(None, nats=())
    assert ctx is not None and (ctx.kind, ctx.chosen_by) == ("env", "$NATS_URL")


def test_a_context_without_url_connects_where_natscli_would(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NATS_CONTEXT", "local")
    settings = nats_settings(_tail())
    assert settings is not None and settings.urls == ("nats://127.0.0.1:4222",)


def test_explicit_nats_never_takes_the_defaults_credentials(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _select(config, "east")
    monkeypatch.setenv("NATS_URL", "nats://from-env:4222")
    settings = nats_settings(_tail("--nats", "nats://other:4222"))
    assert settings is not None
    assert (settings.urls, settings.user, settings.password) == (("nats://other:4222",), None, None)


def test_kafka_alone_stays_kafka_only(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NATS_CONTEXT", "east")
    args = _tail("--kafka", "k:9092", "-t", "orders")
    assert args.nats == []
    assert nats_settings(args) is None


def test_evmon_context_wins(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (config / "evmon").mkdir()
    (config / "evmon" / "config.toml").write_text(
        '[contexts.mine.nats]\nurl = "nats://mine:4222"\n', encoding="utf-8"
    )
    monkeypatch.setenv("NATS_CONTEXT", "east")
    monkeypatch.setenv("EVMON_CONTEXT", "mine")
    settings = nats_settings(_tail())
    assert settings is not None and settings.urls == ("nats://mine:4222",)
    ctx = selected_context(None, nats=())
    assert ctx is not None and ctx.chosen_by == "$EVMON_CONTEXT"
    ctx = selected_context("east", nats=())
    assert ctx is not None and (ctx.name, ctx.chosen_by) == ("east", "--context")


@pytest.mark.parametrize("name", ["gone", "../east", "a/b"])
def test_a_stale_or_hostile_selection_is_one_usage_error(config: Path, name: str) -> None:
    _select(config, name)
    with pytest.raises(UsageError, match=r"natscli context .* does not exist"):
        _tail()
    # ... but never in the way of an explicit --nats
    settings = nats_settings(_tail("--nats", "nats://h:4222"))
    assert settings is not None and settings.urls == ("nats://h:4222",)


def test_contexts_command_names_the_one_in_use(config: Path) -> None:
    _select(config, "west")
    env = {**os.environ, "XDG_CONFIG_HOME": str(config)}
    res = subprocess.run(evmon_cmd("contexts"), capture_output=True, env=env, check=False)
    out = res.stdout.decode()
    assert res.returncode == 0, res.stderr
    assert "* west  (natscli:" in out
    assert out.splitlines()[-1] == f"in use: west (natscli)  (from {config}/nats/context.txt)"
    assert "west-tok" not in out and "east-pw" not in out
    res = subprocess.run(
        evmon_cmd("contexts", "--format", "json"), capture_output=True, env=env, check=False
    )
    rows = {r["name"]: r for r in json.loads(res.stdout)}
    assert rows["west"]["default"] is True and rows["east"]["default"] is False
    assert rows["west"]["chosen_by"] == f"{config}/nats/context.txt"

    env["NATS_URL"] = "nats://env:4222"
    (config / "nats" / "context.txt").unlink()
    res = subprocess.run(evmon_cmd("contexts"), capture_output=True, env=env, check=False)
    assert res.stdout.decode().splitlines()[-1] == "in use: nats://env:4222  (from $NATS_URL)"


def test_contexts_command_survives_a_stale_selection(config: Path) -> None:
    _select(config, "gone")
    env = {**os.environ, "XDG_CONFIG_HOME": str(config)}
    res = subprocess.run(evmon_cmd("contexts"), capture_output=True, env=env, check=False)
    assert res.returncode == 0
    assert "'gone'" in res.stderr.decode() and "in use: none" in res.stdout.decode()


def test_the_status_bar_names_the_context(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The settings carry the chosen context's label; the dashboard's status bar shows it
    with the system name (so it stays when a narrow bar drops the URL)."""
    from evmon.tui.connections import StatusBoard, nats_spec
    from evmon.tui.widgets.status_bar import StatusLine

    monkeypatch.setenv("NATS_CONTEXT", "west")
    settings = nats_settings(_tail())
    assert settings is not None and settings.context == "west (natscli)"
    board = StatusBoard([nats_spec(settings)])
    ((system, url, state, _),) = StatusLine.connection_rows(list(board))
    assert (system, url, state) == (
        "nats [west (natscli)]",
        "nats://west1:4222,nats://west2:4222",
        "connecting",
    )
    monkeypatch.delenv("NATS_CONTEXT")
    monkeypatch.setenv("NATS_URL", "nats://env:4222")
    settings = nats_settings(_tail())
    assert settings is not None and settings.context == "$NATS_URL"
    plain = nats_settings(_tail("--nats", "nats://h:4222"))
    assert plain is not None and plain.context is None
    ((system, *_),) = StatusLine.connection_rows(list(StatusBoard([nats_spec(plain)])))
    assert system == "nats"
