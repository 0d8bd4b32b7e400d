"""Hostile input on the headless side: escaped output, bounded regexes, frozen servers and
one-line errors (issue 17). Brokers are real; hostile names are created through nats-py and
hostile subjects published through the raw protocol."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import nats
import nats.js.api
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from evmon.cli import build_parser
from evmon.codec import terminal_json
from evmon.filter import parse_filter
from evmon.model import Event
from tests.brokers import NatsServer
from tests.helpers import evmon_cmd, run_evmon
from tests.waiting import wait_for

LIVE = "\x7f\x85\x9b\u061c\u200e\u200f\u2028\u2029\u202a\u202b\u202c\u202d\u202e\u2066\u2069"


def raw_publish(url: str, messages: list[tuple[bytes, bytes]]) -> None:
    """PUB through the raw protocol: subjects with control bytes or invalid UTF-8, which
    nats-server accepts and nats-py would not send."""
    host, port = url.removeprefix("nats://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as s:
        f = s.makefile("rb")
        assert f.readline().startswith(b"INFO ")
        out = b'CONNECT {"verbose":false,"pedantic":false}\r\n'
        for subject, payload in messages:
            out += b"PUB %s %d\r\n%s\r\n" % (subject, len(payload), payload)
        s.sendall(out + b"PING\r\n")
        while (line := f.readline()) != b"PONG\r\n":
            assert not line.startswith(b"-ERR"), line


def assert_clean(data: bytes, allow_tab: bool = False) -> None:
    allowed = {0x0A, 0x09} if allow_tab else {0x0A}
    bad = sorted({b for b in data if b < 0x20 and b not in allowed})
    assert not bad, f"control bytes {bad} in {data[:400]!r}"
    assert b"\x1b" not in data


def one_line_error(res: subprocess.CompletedProcess[bytes]) -> str:
    err = res.stderr.decode()
    assert res.returncode == 2, err
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("evmon: error: "), err
    assert_clean(res.stderr)
    return lines[0]


# --------------------------------------------------------------------------- escaping


@given(st.text())
def test_terminal_json_decodes_to_the_same_string_with_nothing_live(s: str) -> None:
    try:
        data = orjson.dumps({"s": s})
    except TypeError:  # lone surrogates: orjson refuses them (the codec scrubs them first)
        return
    out = terminal_json(data)
    assert orjson.loads(out) == {"s": s}
    assert not any(ch in out.decode() for ch in LIVE)


def test_terminal_json_leaves_clean_output_alone() -> None:
    data = orjson.dumps({"subject": "orders.eu", "data": "é ü 日本"})
    assert terminal_json(data) is data
    assert terminal_json(orjson.dumps("a\u202eb\x9b")) == b'"a\\u202eb\\u009b"'


async def test_lag_table_and_json_escape_hostile_consumer_names(nats_url: str, unique: str) -> None:
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        stream = f"{unique}-EVIL"
        await js.add_stream(name=stream, subjects=[f"{unique}.>"])
        for name in ("w\x1b]0;pwned\x07", "a\u202eb", "c\x9bd"):
            await js.add_consumer(stream, nats.js.api.ConsumerConfig(durable_name=name))
        table = run_evmon(["lag", "--nats", nats_url, "--stream", stream])
        assert table.returncode == 0, table.stderr
        assert_clean(table.stdout)
        text = table.stdout.decode()
        for shown in ("w\\x1b]0;pwned\\x07", "a\\u202eb", "c\\x9bd"):
            assert f"{stream}  {shown}" in text
        piped = run_evmon(["lag", "--nats", nats_url, "--stream", stream, "--format", "json"])
        consumers = sorted(r["consumer"] for r in orjson.loads(piped.stdout))
        assert consumers == sorted(["w\x1b]0;pwned\x07", "a\u202eb", "c\x9bd"])
    finally:
        await nc.close()


def test_an_error_that_embeds_a_name_stays_one_escaped_line(nats_url: str) -> None:
    res = run_evmon(["tail", "--nats", nats_url, "--stream", "A\r\nB\x1b]0;x\x07", "-n", "1"])
    line = one_line_error(res)
    assert "'A\\r\\nB\\x1b]0;x\\x07'" in line


# --------------------------------------------------------------------------- one-line errors


@pytest.mark.parametrize(
    "flags",
    [
        ["tail", "--timeout", "nan"],
        ["tail", "--timeout", "inf"],
        ["tail", "--timeout", "-1"],
        ["tail", "--reconnect-deadline", "nan"],
        ["tail", "--reconnect-deadline", "-5"],
        ["tail", "-n", "-3"],
        ["tail", "--ping-interval", "0"],
        ["lag", "--watch", "nan"],
        ["lag", "--watch", "-2"],
        ["lag", "--window", "0"],
        ["lag", "--allowed-lag", "-1"],
        ["replay", "f.jsonl", "--rate", "inf"],
        ["skip", "--partition", "-1"],
        ["connect", "--buffer", "-10"],
    ],
)
def test_numeric_flags_refuse_nan_inf_and_negatives(
    flags: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(flags)
    assert exc.value.code == 2
    assert "must be a number" in capsys.readouterr().err


def test_numeric_flags_take_ordinary_values() -> None:
    args = build_parser().parse_args(["tail", "--timeout", "2.5", "--reconnect-deadline", "0"])
    assert (args.timeout, args.reconnect_deadline) == (2.5, 0.0)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The config folder of a home of the test's own (the CLI runs with this environment)."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("EVMON_CONTEXT", raising=False)
    (tmp_path / "cfg" / "evmon").mkdir(parents=True)
    (tmp_path / "cfg" / "nats" / "context").mkdir(parents=True)
    yield tmp_path / "cfg"


def test_config_nested_50000_deep_is_one_line(home: Path) -> None:
    cfg = home
    deep = "[" * 50_000 + "]" * 50_000
    (cfg / "evmon" / "config.toml").write_text(f"[contexts.a]\ndescription = {deep}\n")
    line = one_line_error(run_evmon(["tail", "--context", "a", "-s", "x"]))
    assert "not valid TOML: nested too deeply" in line


def test_natscli_context_nested_50000_deep_is_one_line(home: Path) -> None:
    cfg = home
    (cfg / "nats" / "context" / "deep.json").write_text('{"url": ' + "[" * 50_000 + "}")
    line = one_line_error(run_evmon(["tail", "--context", "deep", "-s", "x"]))
    assert "deep.json: not valid JSON: nested too deeply" in line


def test_a_world_writable_config_is_refused(home: Path) -> None:
    path = home / "evmon" / "config.toml"
    path.write_text(
        '[contexts.prod]\nread_only = false\n[contexts.prod.nats]\nurl = "nats://x:1"\n'
    )
    path.chmod(0o666)
    line = one_line_error(run_evmon(["skip", "--context", "prod", "--stream", "S"]))
    assert "is writable by every user (mode 0666)" in line
    assert f"chmod 600 {path}" in line


@pytest.mark.parametrize("command", ["tail", "lag"])
@pytest.mark.parametrize(
    "flags",
    [
        ["--nats", "nats://127.0.0.1:1", "--nats-tls-ca", "{bad}"],
        ["--nats", "nats://127.0.0.1:1", "--nats-tls-cert", "{bad}", "--nats-tls-key", "{bad}"],
        ["--kafka", "127.0.0.1:1", "--kafka-tls-ca", "{bad}"],
        ["--kafka", "127.0.0.1:1", "--kafka-tls-cert", "{bad}", "--kafka-tls-key", "{bad}"],
    ],
)
def test_non_pem_tls_files_are_one_line(command: str, flags: list[str], tmp_path: Path) -> None:
    bad = tmp_path / "not-pem.pem"
    bad.write_text("this is not a certificate\n")
    argv = [command, *(f.format(bad=bad) for f in flags)]
    if command == "tail":
        argv += ["-t", "x"] if "--kafka" in flags else ["-s", "x"]
    line = one_line_error(run_evmon(argv))
    assert f"TLS files {bad}" in line
    assert "must be PEM" in line


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["tail", "--nats", "nats://127.0.0.1:1", "--stream", "a.b"], "stream name 'a.b'"),
        (["lag", "--nats", "nats://127.0.0.1:1", "--stream", "a.b"], "stream name 'a.b'"),
        (["lag", "--nats", "nats://127.0.0.1:1", "--consumer", "c d"], "consumer name 'c d'"),
        (["tail", "--kafka", "127.0.0.1:notaport", "-t", "x"], "'127.0.0.1:notaport'"),
        (["lag", "--kafka", "127.0.0.1:notaport"], "'127.0.0.1:notaport'"),
    ],
)
def test_bad_names_and_addresses_are_one_line(argv: list[str], expected: str) -> None:
    assert expected in one_line_error(run_evmon(argv))


# --------------------------------------------------------------------------- regex budget


def _event(payload: bytes) -> Event:
    return Event("nats", "x", payload, 0.0, ())


@pytest.mark.parametrize(
    ("expr", "payload"),
    [
        ("/ +$/", b" " * 70_000 + b"x"),  # a match would need the text past the 64 KiB cut
        ("/(x+x+)+y/", b"x" * 5_000),  # exponential backtracking
        ("!/(x+x+)+y/", b"x" * 5_000),  # negated: still unknown, still left out
        (r"/(\s*)+$/", b" " * 30_000 + b"x"),
    ],
    ids=["cut", "exponential", "negated", "nested-star"],
)
def test_a_regex_over_its_budget_is_counted_not_silently_false(expr: str, payload: bytes) -> None:
    flt = parse_filter(expr)
    assert flt.budget is not None
    assert [flt(_event(payload)) for _ in range(3)] == [False, False, False]
    assert flt.budget.exceeded == 3
    assert flt.budget.first_term == expr


def test_a_regex_within_its_budget_answers_as_before() -> None:
    flt = parse_filter("/(a+)+$/ !/^skip/")
    assert flt(_event(b"aaaa")) and not flt(_event(b"aaab")) and not flt(_event(b"skip aa"))
    assert flt.budget is not None and flt.budget.exceeded == 0


@pytest.mark.timeout(120)
def test_tail_reports_the_budget_and_ends_on_its_timeout(
    nats_server: NatsServer, unique: str
) -> None:
    """Hostile payloads make the regex run out; tail still ends at --timeout, shows the
    events it could decide and says how many it left out."""
    proc = subprocess.Popen(
        evmon_cmd(
            "tail", "--nats", nats_server.url, "-s", f"{unique}.>",
            "--filter", "/(x+x+)+y/", "--timeout", "8", "--format", "jsonl",
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        wait_for(lambda: _subscribed(nats_server, f"{unique}.>"), timeout=15, message="tail up")
        hostile = [(f"{unique}.evil".encode(), b"x" * 5_000)] * 20
        raw_publish(nats_server.url, [*hostile, (f"{unique}.ok".encode(), b"xxy")])
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    text = err.decode()
    assert proc.returncode == 0, text
    assert [orjson.loads(line)["subject"] for line in out.splitlines()] == [f"{unique}.ok"]
    assert text.count("ran out of its time budget on an event") == 1
    assert "evmon: 20 events left out: /(x+x+)+y/ ran out of its time budget" in text


def _subscribed(server: NatsServer, subject: str) -> bool:
    import urllib.request

    with urllib.request.urlopen(f"{server.monitor_url}/subsz?subs=1", timeout=2) as resp:
        data = json.loads(resp.read())
    return any(s.get("subject") == subject for s in data.get("subscriptions_list", []))


# --------------------------------------------------------------------------- frozen server
# (the nats-py hook the frozen-server wording rests on, Client._process_op_err, is checked
# broker-free in tests/test_third_party_internals.py)


class _Lines:
    """A reader thread for a process's stderr, so a test can wait for a line."""

    def __init__(self, stream: object) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            self.lines.append(line.decode(errors="replace"))

    def has(self, text: str) -> bool:
        return any(text in line for line in self.lines)


@pytest.mark.timeout(120)
def test_a_frozen_server_with_2000_subscriptions_is_noticed_and_named(tmp_path: Path) -> None:
    """SIGSTOP on a nats-server of this test's own: tail says which server stopped
    answering pings within a few intervals, and ends after --reconnect-deadline with one
    line (2,000 subjects subscribed: the resubscribe must not hang on the frozen socket)."""
    subjects = [f"frozen.s{i}" for i in range(2_000)]
    with NatsServer(workdir=tmp_path / "nats") as server:
        argv = ["tail", "--nats", server.url, "--ping-interval", "0.5"]
        argv += ["--reconnect-deadline", "3"]
        for s in subjects:
            argv += ["-s", s]
        proc = subprocess.Popen(evmon_cmd(*argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        err = _Lines(proc.stderr)
        assert server.pid is not None
        try:
            wait_for(lambda: _subscribed(server, subjects[-1]), timeout=30, message="subscribed")
            os.kill(server.pid, signal.SIGSTOP)
            try:
                wait_for(
                    lambda: err.has(f"NATS server 127.0.0.1:{server.port} stopped answering pings"),
                    timeout=30,
                    message="the frozen server reported",
                )
                proc.wait(timeout=60)
            finally:
                os.kill(server.pid, signal.SIGCONT)
        finally:
            proc.kill()
            proc.wait()
    assert proc.returncode == 1, err.lines
    final = [line for line in err.lines if line.startswith("evmon: error:")]
    assert len(final) == 1 and f"lost the connection to NATS at {server.url} for 3 s" in final[0]
    assert not any("Traceback" in line for line in err.lines)
