"""`evmon connect` flags: checked before anything is drawn; Textual only loads when it runs."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.helpers import run_evmon


def test_connect_module_does_not_import_textual_until_it_runs() -> None:
    code = (
        "import sys, evmon.commands.connect\n"
        "print(','.join(m for m in sys.modules if m == 'textual' or m.startswith('textual.')))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert res.stdout.strip() == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "nothing to read"),
        (["--nats", "nats://127.0.0.1:1", "--filter", "bogus:1"], "unknown prefix 'bogus:'"),
        (["--nats", "nats://127.0.0.1:1", "--buffer", "0"], "--buffer must be a positive"),
        (["--nats", "nats://127.0.0.1:1", "--from", "yesterday"], "bad --from"),
        (["--kafka", "127.0.0.1:1", "--topic-pattern", "("], "bad --topic-pattern"),
        (["--kafka", "127.0.0.1:1"], "choose Kafka topics"),
    ],
)
def test_bad_flags_are_usage_errors(args: list[str], message: str) -> None:
    res = run_evmon(["connect", *args], timeout=30)
    assert res.returncode == 2, res.stderr
    assert message in res.stderr.decode()
    assert b"Traceback" not in res.stderr
