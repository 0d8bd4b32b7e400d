"""Export's default file: the XDG data folder (created 0700), never the current directory."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from evmon.actions import ActionContext, export
from evmon.actions.jsonl_export import default_export_dir, default_export_path
from evmon.model import Event

EVENTS = [Event("nats", "a.b", b"x", 1.5)]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_default_dir_follows_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert default_export_dir() == tmp_path / "data" / "evmon" / "exports"
    for unset in ("", "relative/dir"):  # XDG: a relative path is ignored
        monkeypatch.setenv("XDG_DATA_HOME", unset)
        assert default_export_dir() == tmp_path / "home" / ".local/share/evmon/exports"
    path = default_export_path(now=0)
    assert path.parent == default_export_dir() and path.suffix == ".jsonl"
    assert not path.parent.exists()  # naming the file creates nothing


async def test_export_creates_the_folder_private_and_names_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    result = await export(ActionContext(audit=None), EVENTS)
    folder = tmp_path / "data" / "evmon" / "exports"
    assert result.path.parent == folder and result.path.is_file()
    assert _mode(folder) == 0o700 and _mode(folder.parent) == 0o700
    assert _mode(result.path) == 0o600
    assert result.summary() == f"exported 1 event to {result.path}"
    assert result.path.is_absolute()
    assert not any(n.startswith("evmon-export-") for n in os.listdir(tmp_path))


async def test_an_existing_folder_keeps_its_mode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    folder = tmp_path / "data" / "evmon" / "exports"
    folder.mkdir(parents=True, mode=0o750)
    folder.chmod(0o750)
    result = await export(ActionContext(audit=None), EVENTS)
    assert result.path.parent == folder and _mode(folder) == 0o750


async def test_a_chosen_path_is_used_as_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    result = await export(ActionContext(audit=None), EVENTS, tmp_path / "mine.jsonl")
    assert result.path == tmp_path / "mine.jsonl" and result.path.is_file()
    assert not (tmp_path / "data").exists()
