"""NATS authentication and TLS against real nats-servers configured for each method.

Each method: the right credentials deliver a message; wrong ones end `evmon tail` with exit 2
and one line naming the server and the cause, quickly, without echoing the secret.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from evmon.config import NatsSettings
from evmon.errors import ConnectError
from evmon.sources.nats.connect import connect_nats
from evmon.sources.nats.tail import NatsSource
from tests.brokers import NatsServer
from tests.helpers import ListSink, evmon_cmd, run_evmon_beside_a_silent_server
from tests.security_kit import NKey, Operator, Pki, make_pki, new_nkey, write_seed
from tests.waiting import async_wait_for

PASSWORD = "pw-Zq81-secret"
TOKEN = "tok-9f3c-secret"


@dataclass
class Material:
    folder: Path
    pki: Pki
    nkey: NKey
    nkey_file: Path
    stranger_nkey_file: Path
    operator: Operator
    creds: Path
    bad_creds: Path


@pytest.fixture(scope="module")
def material(tmp_path_factory: pytest.TempPathFactory) -> Material:
    folder = tmp_path_factory.mktemp("nats-security")
    nkey = new_nkey("user")
    op = Operator.create()
    return Material(
        folder=folder,
        pki=make_pki(folder / "pki"),
        nkey=nkey,
        nkey_file=write_seed(nkey, folder / "user.nk"),
        stranger_nkey_file=write_seed(new_nkey("user"), folder / "stranger.nk"),
        operator=op,
        creds=op.user_creds(folder / "user.creds"),
        bad_creds=op.user_creds(folder / "bad.creds", signer=new_nkey("account")),
    )


def _serve(config: str) -> Iterator[NatsServer]:
    server = NatsServer(config=config, jetstream=False)
    try:
        server.start()
        yield server
    finally:
        server.cleanup()


@pytest.fixture(scope="module")
def users_server(material: Material) -> Iterator[NatsServer]:
    yield from _serve(
        "authorization {\n  users = [\n"
        f'    {{user: alice, password: "{PASSWORD}"}}\n'
        f"    {{nkey: {material.nkey.public}}}\n"
        "  ]\n}\n"
    )


@pytest.fixture(scope="module")
def token_server() -> Iterator[NatsServer]:
    yield from _serve(f'authorization {{\n  token: "{TOKEN}"\n}}\n')


@pytest.fixture(scope="module")
def jwt_server(material: Material) -> Iterator[NatsServer]:
    yield from _serve(material.operator.server_config())


def _tls_config(pki: Pki, *, first: bool = False) -> str:
    return (
        "tls {\n"
        f'  cert_file: "{pki.server_cert}"\n'
        f'  key_file: "{pki.server_key}"\n'
        f'  ca_file: "{pki.ca}"\n'
        "  verify: true\n" + ("  handshake_first: true\n" if first else "") + "  timeout: 3\n}\n"
    )


@pytest.fixture(scope="module")
def tls_server(material: Material) -> Iterator[NatsServer]:
    yield from _serve(_tls_config(material.pki))


@pytest.fixture(scope="module")
def tls_first_server(material: Material) -> Iterator[NatsServer]:
    yield from _serve(_tls_config(material.pki, first=True))


def _tls(pki: Pki, **kw: object) -> dict[str, object]:
    return {
        "tls_ca": str(pki.ca),
        "tls_cert": str(pki.client_cert),
        "tls_key": str(pki.client_key),
        **kw,
    }


async def _delivers(settings: NatsSettings, subject: str) -> None:
    """A tail with ``settings`` receives what a client with the same settings publishes."""
    sink = ListSink()
    src = NatsSource(settings, sink, subjects=[subject])
    await src.start()
    pub = await connect_nats(settings)
    try:
        await pub.publish(subject, b"hello")
        await pub.flush()
        await async_wait_for(lambda: sink.events, message="the message")
        assert sink.events[0].payload == b"hello"
    finally:
        await pub.close()
        await src.close()


def _settings(server: NatsServer, **kw: object) -> NatsSettings:
    return NatsSettings(urls=(server.url,), **kw)  # type: ignore[arg-type]


async def test_user_password(users_server: NatsServer, unique: str) -> None:
    await _delivers(_settings(users_server, user="alice", password=PASSWORD), unique)


async def test_nkey_seed(users_server: NatsServer, material: Material, unique: str) -> None:
    await _delivers(_settings(users_server, nkey_seed=str(material.nkey_file)), unique)


async def test_token(token_server: NatsServer, unique: str) -> None:
    await _delivers(_settings(token_server, token=TOKEN), unique)


async def test_jwt_creds(jwt_server: NatsServer, material: Material, unique: str) -> None:
    await _delivers(_settings(jwt_server, creds=str(material.creds)), unique)


async def test_tls_with_client_certificate(
    tls_server: NatsServer, material: Material, unique: str
) -> None:
    await _delivers(_settings(tls_server, **_tls(material.pki)), unique)


async def test_tls_first_handshake(
    tls_first_server: NatsServer, material: Material, unique: str
) -> None:
    await _delivers(_settings(tls_first_server, **_tls(material.pki, tls_first=True)), unique)


async def test_connect_error_is_fast_and_has_no_secret(users_server: NatsServer) -> None:
    # wait=None retries until connected: only a failure known to be final ends the call, so
    # its ending at all (the deadline below only keeps a regression from hanging) shows the
    # refusal ended the wait at once.
    settings = _settings(users_server, user="alice", password="wrong-" + PASSWORD)
    with pytest.raises(ConnectError) as info:
        await asyncio.wait_for(connect_nats(settings, wait=None), 60)
    assert "authorization violation" in str(info.value)
    assert PASSWORD not in str(info.value)


def _fails(args: list[str], cause: str, secret: str | None = None, **env: str) -> str:
    # An auth failure ends the wait at once: the command ends while a tail started beside it
    # against a server that never answers still waits (an order, not a time).
    res, reference_waiting = run_evmon_beside_a_silent_server(
        ["tail", *args, "-s", "x", "--timeout", "20"], env
    )
    err = res.stderr.decode()
    assert res.returncode == 2, err
    assert len(err.strip().splitlines()) == 1, err
    assert cause in err and "Traceback" not in err, err
    assert reference_waiting, "waited for the connect wait"
    if secret:
        assert secret not in err
    return err


def test_cli_wrong_password(users_server: NatsServer) -> None:
    err = _fails(
        ["--nats", users_server.url, "--nats-user", "alice"],
        "authorization violation",
        "not-the-password",
        EVMON_NATS_PASSWORD="not-the-password",
    )
    assert f"127.0.0.1:{users_server.port}" in err


def test_cli_password_in_url_is_never_shown(users_server: NatsServer) -> None:
    url = f"nats://alice:hunter2-secret@127.0.0.1:{users_server.port}"
    _fails(["--nats", url], "authorization violation", "hunter2-secret")


def test_cli_wrong_token(token_server: NatsServer) -> None:
    _fails(
        ["--nats", token_server.url],
        "authorization violation",
        "tok-wrong",
        EVMON_NATS_TOKEN="tok-wrong",
    )


def test_cli_unknown_nkey(users_server: NatsServer, material: Material) -> None:
    _fails(
        ["--nats", users_server.url, "--nats-nkey", str(material.stranger_nkey_file)],
        "authorization violation",
    )


def test_cli_creds_from_unknown_account(jwt_server: NatsServer, material: Material) -> None:
    _fails(["--nats", jwt_server.url, "--nats-creds", str(material.bad_creds)], "authorization")


def test_cli_untrusted_server_certificate(tls_server: NatsServer, material: Material) -> None:
    pki = material.pki
    _fails(
        [
            "--nats",
            tls_server.url,
            "--nats-tls-ca",
            str(pki.other_ca),
            "--nats-tls-cert",
            str(pki.client_cert),
            "--nats-tls-key",
            str(pki.client_key),
        ],
        "certificate verify failed",
    )


def test_cli_missing_client_certificate(tls_server: NatsServer, material: Material) -> None:
    err = _fails(["--nats", tls_server.url, "--nats-tls-ca", str(material.pki.ca)], "NATS at")
    assert "TLS" in err or "certificate" in err or "connection" in err


def test_cli_missing_creds_file(users_server: NatsServer, tmp_path: Path) -> None:
    _fails(["--nats", users_server.url, "--nats-creds", str(tmp_path / "nope.creds")], "not found")


def test_cli_context_with_password_env_and_tls(
    tls_server: NatsServer,
    users_server: NatsServer,
    material: Material,
    tmp_path: Path,
    unique: str,
) -> None:
    """A context supplies URL, user and a password taken from a named variable."""
    pki = material.pki
    (tmp_path / "evmon").mkdir()
    config = tmp_path / "evmon" / "config.toml"
    config.write_text(
        f"""
[contexts.secure.nats]
url = "{users_server.url}"
user = "alice"
password_env = "MY_NATS_PW"
subjects = ["{unique}.>"]

[contexts.tls.nats]
urls = ["{tls_server.url}"]
tls_ca = "{pki.ca}"
tls_cert = "{pki.client_cert}"
tls_key = "{pki.client_key}"
""",
        encoding="utf-8",
    )
    config.chmod(0o600)
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path), "MY_NATS_PW": PASSWORD}
    for ctx, server, settings in (
        ("secure", users_server, _settings(users_server, user="alice", password=PASSWORD)),
        ("tls", tls_server, _settings(tls_server, **_tls(pki))),
    ):
        extra = [] if ctx == "secure" else ["-s", f"{unique}.>"]
        proc = subprocess.Popen(
            evmon_cmd("tail", "--context", ctx, *extra, "-n", "1", "--timeout", "30"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        try:
            asyncio.run(_publish_until_exit(settings, f"{unique}.ping", proc))
            out, err = proc.communicate(timeout=30)
        finally:
            proc.kill()
        assert proc.returncode == 0, err
        assert f"{unique}.ping".encode() in out
        assert PASSWORD.encode() not in out + err
        del server


async def _publish_until_exit(
    settings: NatsSettings, subject: str, proc: subprocess.Popen[bytes]
) -> None:
    """Publish every 100 ms until the tail has its message and exits (it cannot tell us
    when it subscribed through an authenticated server's monitor)."""
    nc = await connect_nats(settings)
    try:
        deadline = time.monotonic() + 30
        while proc.poll() is None and time.monotonic() < deadline:
            await nc.publish(subject, b"ping")
            await nc.flush()
            await asyncio.sleep(0.1)
    finally:
        await nc.close()
