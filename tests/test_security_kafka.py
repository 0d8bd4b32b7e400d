"""Kafka SASL (PLAIN, SCRAM-SHA-512) and SSL against an owned broker with those listeners.

Right credentials deliver a record through `KafkaSource`; wrong ones end `evmon tail` with
exit 2 and one line naming the broker and the cause, without echoing the password.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from evmon.config import KafkaSettings
from evmon.selection import Start
from evmon.sources.kafka.client import client_kwargs
from evmon.sources.kafka.tail import KafkaSource
from tests.brokers import KafkaBroker
from tests.helpers import ListSink, evmon_cmd
from tests.security_kit import Pki, avoid_dash_cluster_id, make_pki
from tests.waiting import async_wait_for

PLAIN_PW = "plain-Pw-7781"
SCRAM_PW = "scram-Pw-4410"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("kafka-pki"))


@pytest.fixture(scope="module")
def secure_broker(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    keystore = tmp_path_factory.mktemp("kafka-keystore") / "server-keystore.pem"
    keystore.write_bytes(pki.server_key.read_bytes() + pki.server_cert.read_bytes())
    broker = KafkaBroker(
        extra_ports=("SASL", "SSL"),
        properties={
            "listeners": "PLAINTEXT://127.0.0.1:{port},SASL_PLAINTEXT://127.0.0.1:{SASL},"
            "SSL://127.0.0.1:{SSL},CONTROLLER://127.0.0.1:{controller_port}",
            "advertised.listeners": "PLAINTEXT://127.0.0.1:{port},"
            "SASL_PLAINTEXT://127.0.0.1:{SASL},SSL://127.0.0.1:{SSL}",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,"
            "SASL_PLAINTEXT:SASL_PLAINTEXT,SSL:SSL",
            "sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-512",
            "listener.name.sasl_plaintext.plain.sasl.jaas.config": (
                "org.apache.kafka.common.security.plain.PlainLoginModule required "
                f'user_alice="{PLAIN_PW}";'
            ),
            "listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config": (
                "org.apache.kafka.common.security.scram.ScramLoginModule required;"
            ),
            "listener.name.ssl.ssl.keystore.type": "PEM",
            "listener.name.ssl.ssl.keystore.location": str(keystore),
            "listener.name.ssl.ssl.truststore.type": "PEM",
            "listener.name.ssl.ssl.truststore.location": str(pki.ca),
            "listener.name.ssl.ssl.client.auth": "required",
            "auto.create.topics.enable": "true",
        },
        format_args=["--add-scram", f"SCRAM-SHA-512=[name=bob,password={SCRAM_PW}]"],
    )
    avoid_dash_cluster_id(broker)
    try:
        broker.start()
        yield broker
    finally:
        broker.cleanup()


def _addr(broker: KafkaBroker, name: str) -> str:
    return f"127.0.0.1:{broker.ports[name]}"


async def _delivers(settings: KafkaSettings, broker: KafkaBroker, topic: str) -> None:
    """Produce (over the plaintext listener) and read it back with ``settings``."""
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"hello", key=b"k")
        sink = ListSink()
        src = KafkaSource(settings, sink, topics=[topic], start=Start(kind="first"))
        await src.start(wait=30)
        try:
            await async_wait_for(lambda: sink.events, timeout=20, message="the record")
        finally:
            await src.close()
        assert sink.events[0].payload == b"hello" and sink.events[0].key == b"k"
    finally:
        await producer.stop()


async def test_sasl_plain(secure_broker: KafkaBroker, unique: str) -> None:
    settings = KafkaSettings(
        _addr(secure_broker, "SASL"),
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="PLAIN",
        sasl_username="alice",
        sasl_password=PLAIN_PW,
    )
    await _delivers(settings, secure_broker, unique)


async def test_sasl_scram_sha_512(secure_broker: KafkaBroker, unique: str) -> None:
    settings = KafkaSettings(
        _addr(secure_broker, "SASL"),
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="bob",
        sasl_password=SCRAM_PW,
    )
    await _delivers(settings, secure_broker, unique)


async def test_ssl_with_client_certificate(
    secure_broker: KafkaBroker, pki: Pki, unique: str
) -> None:
    settings = KafkaSettings(
        _addr(secure_broker, "SSL"),
        security_protocol="SSL",
        ssl_cafile=str(pki.ca),
        ssl_certfile=str(pki.client_cert),
        ssl_keyfile=str(pki.client_key),
    )
    await _delivers(settings, secure_broker, unique)


def test_password_never_in_client_repr() -> None:
    settings = KafkaSettings("h:1", "SASL_PLAINTEXT", "PLAIN", "alice", PLAIN_PW)
    assert PLAIN_PW not in repr(settings)
    assert client_kwargs(settings)["sasl_plain_password"] == PLAIN_PW


def _fails(args: list[str], cause: str, secret: str | None = None, **env: str) -> str:
    res = subprocess.run(
        evmon_cmd("tail", *args, "-t", "anything", "--timeout", "30"),
        capture_output=True,
        timeout=90,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
        check=False,
    )
    err = res.stderr.decode()
    assert res.returncode == 2, err
    assert len(err.strip().splitlines()) == 1, err
    assert cause in err and "Traceback" not in err, err
    if secret:
        assert secret not in err
    return err


def test_cli_wrong_plain_password(secure_broker: KafkaBroker) -> None:
    addr = _addr(secure_broker, "SASL")
    err = _fails(
        ["--kafka", addr, "--kafka-sasl-mechanism", "PLAIN", "--kafka-user", "alice"],
        "SASL authentication failed",
        "wrong-pw-123",
        EVMON_KAFKA_PASSWORD="wrong-pw-123",
    )
    assert addr in err


def test_cli_wrong_scram_password(secure_broker: KafkaBroker) -> None:
    _fails(
        [
            "--kafka",
            _addr(secure_broker, "SASL"),
            "--kafka-security-protocol",
            "SASL_PLAINTEXT",
            "--kafka-sasl-mechanism",
            "SCRAM-SHA-512",
            "--kafka-user",
            "bob",
            "--kafka-password",
            "wrong-pw-456",
        ],
        "SASL authentication failed",
        "wrong-pw-456",
    )


def test_cli_untrusted_broker_certificate(secure_broker: KafkaBroker, pki: Pki) -> None:
    _fails(
        [
            "--kafka",
            _addr(secure_broker, "SSL"),
            "--kafka-tls-ca",
            str(pki.other_ca),
            "--kafka-tls-cert",
            str(pki.client_cert),
            "--kafka-tls-key",
            str(pki.client_key),
        ],
        "certificate verify failed",
    )


def test_cli_sasl_needs_a_password(secure_broker: KafkaBroker) -> None:
    env = {k: v for k, v in os.environ.items() if k != "EVMON_KAFKA_PASSWORD"}
    res = subprocess.run(
        evmon_cmd("tail", "--kafka", _addr(secure_broker, "SASL"), "--kafka-user", "a", "-t", "x"),
        capture_output=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert res.returncode == 2 and b"EVMON_KAFKA_PASSWORD" in res.stderr


def test_cli_context_with_scram(secure_broker: KafkaBroker, tmp_path: Path, unique: str) -> None:
    """A context holds bootstrap, mechanism, user and the name of the password variable."""
    import asyncio

    async def produce() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=secure_broker.bootstrap)
        await producer.start()
        try:
            await producer.send_and_wait(unique, b"from-context")
        finally:
            await producer.stop()

    asyncio.run(produce())
    (tmp_path / "evmon").mkdir()
    (tmp_path / "evmon" / "config.toml").write_text(
        f"""
[contexts.k]
description = "SCRAM test"

[contexts.k.kafka]
bootstrap = ["{_addr(secure_broker, "SASL")}"]
sasl_mechanism = "SCRAM-SHA-512"
user = "bob"
password_env = "BOB_PW"
topics = ["{unique}"]
""",
        encoding="utf-8",
    )
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path), "BOB_PW": SCRAM_PW}
    res = subprocess.run(
        evmon_cmd("tail", "--context", "k", "--from", "first", "-n", "1", "--timeout", "40"),
        capture_output=True,
        timeout=90,
        env=env,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    assert b"from-context" in res.stdout
