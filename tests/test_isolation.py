"""The test suite leaves the developer's files alone: every test has its own HOME and XDG
directories (tests/conftest.py ``_own_home``), and the processes it starts inherit them."""

from __future__ import annotations

import os
import pwd
from pathlib import Path

import orjson

from tests.conftest import XDG_DIRS
from tests.helpers import run_evmon


def _real_home() -> Path:
    """The home directory from the password database: what $HOME was before the fixture."""
    return Path(pwd.getpwuid(os.getuid()).pw_dir)


def _stat(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_mtime_ns, st.st_size


def test_each_test_has_its_own_home_and_xdg_dirs(_own_home: Path, tmp_path: Path) -> None:
    assert Path(os.environ["HOME"]) == _own_home != _real_home()
    for name in XDG_DIRS:
        assert Path(os.environ[name]).is_relative_to(_own_home), name
    # the caches shared across runs still point at the developer's cache
    assert not Path(os.environ["EVMON_TEST_CACHE"]).is_relative_to(_own_home)


def test_an_audited_replay_writes_only_in_the_test_dirs(
    nats_url: str, unique: str, tmp_path: Path, _own_home: Path
) -> None:
    real_audit = _real_home() / ".local" / "state" / "evmon" / "audit.jsonl"
    before = _stat(real_audit)
    events = tmp_path / "one.jsonl"
    record = {
        "source": "nats",
        "subject": f"{unique}.replayed",
        "stream": None,
        "partition": None,
        "offset": None,
        "timestamp": "2024-05-01T12:00:00.000Z",
        "key": None,
        "headers": [],
        "size": 2,
        "data": "hi",
    }
    events.write_bytes(orjson.dumps(record) + b"\n")
    res = run_evmon(["replay", str(events), "--nats", nats_url, "--yes"], timeout=60)
    assert res.returncode in (0, 1), res.stderr  # 1: no interest known; it was still sent
    audit = Path(os.environ["XDG_STATE_HOME"]) / "evmon" / "audit.jsonl"
    lines = [orjson.loads(line) for line in audit.read_bytes().splitlines()]
    assert [line["action"] for line in lines] == ["replay"]
    assert unique in audit.read_text()
    assert audit.is_relative_to(_own_home)
    assert _stat(real_audit) == before  # not created, not appended to
