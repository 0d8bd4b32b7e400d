"""Contexts, precedence and secret hygiene (no broker needed)."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
from pathlib import Path

import pytest

from evmon.cli import build_parser
from evmon.commands.common import apply_context, check_selection, kafka_settings, nats_settings
from evmon.config import KafkaSettings, NatsSettings, find_context
from evmon.errors import UsageError
from tests.helpers import evmon_cmd

CONFIG = """
[contexts.prod]
description = "production"
read_only = true

[contexts.prod.nats]
urls = ["tls://n1:4222", "tls://n2:4222"]
user = "monitor"
password_env = "PROD_NATS_PW"
tls_ca = "certs/ca.pem"
subjects = ["orders.>"]

[contexts.prod.kafka]
bootstrap = "k1:9093,k2:9093"
sasl_mechanism = "SCRAM-SHA-512"
user = "monitor"
password = "inline-kafka-secret"
topics = ["orders"]

[contexts.dev.nats]
url = "nats://127.0.0.1:4222"
token = "dev-token-secret"
"""


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    for var in ("EVMON_CONTEXT", "EVMON_NATS_PASSWORD", "EVMON_NATS_TOKEN", "EVMON_KAFKA_PASSWORD"):
        monkeypatch.delenv(var, raising=False)
    (tmp_path / "evmon").mkdir()
    cfg = tmp_path / "evmon" / "config.toml"
    cfg.write_text(CONFIG, encoding="utf-8")
    cfg.chmod(0o600)
    (tmp_path / "evmon" / "certs").mkdir()
    (tmp_path / "evmon" / "certs" / "ca.pem").write_text("x", encoding="utf-8")
    ctxdir = tmp_path / "nats" / "context"
    ctxdir.mkdir(parents=True)
    (ctxdir / "ngs.json").write_text(
        json.dumps(
            {
                "description": "natscli one",
                "url": "nats://a:4222,nats://b:4222",
                "user": "u",
                "password": "natscli-secret",
                "tls_first": True,
                "color_scheme": "",
            }
        ),
        encoding="utf-8",
    )
    (ctxdir / "ngs.json").chmod(0o600)
    return tmp_path


def _args(*argv: str) -> argparse.Namespace:
    args = build_parser().parse_args(["tail", *argv])
    apply_context(args)
    return args


def test_context_fills_connection_selection_and_secrets(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROD_NATS_PW", "from-env-var")
    args = _args("--context", "prod")
    n = nats_settings(args)
    k = kafka_settings(args)
    assert n is not None and k is not None
    assert n.urls == ("tls://n1:4222", "tls://n2:4222")
    assert (n.user, n.password) == ("monitor", "from-env-var")
    assert n.tls_ca == str(home / "evmon" / "certs" / "ca.pem")
    assert (k.security_protocol, k.sasl_mechanism) == ("SASL_PLAINTEXT", "SCRAM-SHA-512")
    assert k.sasl_password == "inline-kafka-secret"
    assert args.subjects == ["orders.>"] and args.topics == ["orders"]
    assert n.reconnect_deadline == 60 and k.reconnect_deadline == 60


def test_flags_and_environment_override_the_context(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROD_NATS_PW", "ctx")
    monkeypatch.setenv("EVMON_NATS_PASSWORD", "env")
    monkeypatch.setenv("EVMON_CONTEXT", "prod")
    args = _args("--nats", "nats://other:4222", "-s", "x.>", "--reconnect-deadline", "0")
    n = nats_settings(args)
    assert n is not None
    assert n.urls == ("nats://other:4222",) and n.password == "env"
    assert n.reconnect_deadline is None
    assert args.subjects == ["x.>"]
    args = _args("--context", "prod", "--nats-password", "flag")
    assert (nats_settings(args) or NatsSettings(())).password == "flag"


def test_missing_password_variable_is_a_usage_error(home: Path) -> None:
    with pytest.raises(UsageError, match="PROD_NATS_PW"):
        nats_settings(_args("--context", "prod"))


def test_natscli_fallback(home: Path) -> None:
    n = nats_settings(_args("--context", "ngs"))
    assert n is not None
    assert n.urls == ("nats://a:4222", "nats://b:4222")
    assert (n.user, n.password, n.tls_first) == ("u", "natscli-secret", True)


def test_unknown_context_and_unknown_keys(home: Path) -> None:
    with pytest.raises(UsageError, match="known: dev, prod, ngs"):
        find_context("nope")
    (home / "evmon" / "config.toml").write_text(
        '[contexts.x.nats]\nurl = "nats://h"\ntls_cafile = "typo"\n', encoding="utf-8"
    )
    with pytest.raises(UsageError, match="unknown nats setting 'tls_cafile'"):
        find_context("x")


def test_context_kafka_without_topics_does_not_block_a_nats_tail(home: Path) -> None:
    (home / "evmon" / "config.toml").write_text(
        '[contexts.both.nats]\nurl = "nats://h:1"\n[contexts.both.kafka]\nbootstrap = "k:1"\n',
        encoding="utf-8",
    )
    args = _args("--context", "both", "-s", "a")
    check_selection(args)
    assert args.kafka is None and args.nats == ["nats://h:1"]


def test_world_readable_context_file_with_a_secret_warns(home: Path) -> None:
    cfg = home / "evmon" / "config.toml"
    cfg.chmod(0o644)
    warnings: list[str] = []
    find_context("dev", warn=warnings.append)
    assert len(warnings) == 1 and "chmod 600" in warnings[0] and str(cfg) in warnings[0]
    assert "dev-token-secret" not in warnings[0]
    cfg.chmod(0o600)
    warnings.clear()
    find_context("dev", warn=warnings.append)
    assert warnings == []


def test_contexts_command_masks_secrets(home: Path) -> None:
    (home / "evmon" / "config.toml").chmod(0o640)
    env = {**os.environ, "XDG_CONFIG_HOME": str(home), "EVMON_CONTEXT": "dev"}
    res = subprocess.run(evmon_cmd("contexts"), capture_output=True, env=env, check=False)
    out, err = res.stdout.decode(), res.stderr.decode()
    assert res.returncode == 0, err
    for name in ("prod", "dev", "ngs"):
        assert name in out
    assert "* dev" in out and "PROD_NATS_PW (not set)" in out
    for secret in ("inline-kafka-secret", "dev-token-secret", "natscli-secret"):
        assert secret not in out + err
    assert "warning" in err and "chmod 600" in err
    res = subprocess.run(
        evmon_cmd("contexts", "--format", "json"), capture_output=True, env=env, check=False
    )
    rows = json.loads(res.stdout)
    assert {r["name"] for r in rows} == {"prod", "dev", "ngs"}
    assert "secret" not in res.stdout.decode()


def test_settings_never_show_secrets() -> None:
    n = NatsSettings(
        urls=("nats://bob:pw-in-url@h:4222", "tls://tok-in-url@h2:4222"),
        user="bob",
        password="hidden-pw",
        token="hidden-token",
    )
    assert "hidden-pw" not in repr(n) and "hidden-token" not in repr(n)
    assert n.display == "nats://h:4222,tls://h2:4222"
    assert n.redact("echo pw-in-url hidden-pw tok-in-url") == "echo ******** ******** ********"
    k = KafkaSettings("k:1", "SASL_SSL", "PLAIN", "u", "kafka-pw")
    assert "kafka-pw" not in repr(k) and "kafka-pw" not in k.redact("x kafka-pw")


def test_kafka_protocol_is_inferred(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVMON_KAFKA_PASSWORD", "p")
    ca = str(home / "evmon" / "certs" / "ca.pem")
    cases = {
        ("--kafka-tls-ca", ca): "SSL",
        ("--kafka-user", "u"): "SASL_PLAINTEXT",
        ("--kafka-user", "u", "--kafka-tls-ca", ca): "SASL_SSL",
        (): "PLAINTEXT",
    }
    for flags, protocol in cases.items():
        k = kafka_settings(_args("--kafka", "k:1", "-t", "t", *flags))
        assert k is not None and k.security_protocol == protocol, flags
