"""Test material for the security tests, made on the fly: no fixtures checked in.

- ``make_pki``: a CA, a server certificate for 127.0.0.1/localhost, a client certificate,
  and an unrelated CA (for "certificate verify failed"), as PEM files.
- ``new_nkey``: an NKey pair (seed file and public key) of a given kind.
- ``Operator``: operator/account/user JWTs in pure Python (nkeys + a small JWT encoder), as
  ``nsc`` would make them, for a nats-server in operator mode with a memory resolver.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import ipaddress
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nkeys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# ----------------------------------------------------------------------------- TLS


@dataclass(frozen=True)
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def _ca(cn: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(_name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _leaf(
    cn: str,
    ca: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    *,
    server: bool,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
    return builder.sign(ca_key, hashes.SHA256()), key


def make_pki(folder: Path) -> Pki:
    """Write a CA, server and client certificates (PEM) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    ca, ca_key = _ca("evmon test CA")
    other, _ = _ca("some other CA")
    server, server_key = _leaf("127.0.0.1", ca, ca_key, server=True)
    client, client_key = _leaf("evmon-client", ca, ca_key, server=False)
    pem = serialization.Encoding.PEM
    paths = Pki(
        ca=folder / "ca.pem",
        server_cert=folder / "server.pem",
        server_key=folder / "server-key.pem",
        client_cert=folder / "client.pem",
        client_key=folder / "client-key.pem",
        other_ca=folder / "other-ca.pem",
    )
    paths.ca.write_bytes(ca.public_bytes(pem))
    paths.other_ca.write_bytes(other.public_bytes(pem))
    paths.server_cert.write_bytes(server.public_bytes(pem))
    paths.client_cert.write_bytes(client.public_bytes(pem))
    _write_key(server_key, paths.server_key)
    _write_key(client_key, paths.client_key)
    return paths


# ----------------------------------------------------------------------------- NKeys / JWT

PREFIX = {
    "operator": nkeys.PREFIX_BYTE_OPERATOR,
    "account": nkeys.PREFIX_BYTE_ACCOUNT,
    "user": nkeys.PREFIX_BYTE_USER,
}


@dataclass(frozen=True)
class NKey:
    seed: bytes
    public: str

    def sign(self, data: bytes) -> bytes:
        sig: bytes = nkeys.from_seed(bytearray(self.seed)).sign(data)
        return sig


def new_nkey(kind: str) -> NKey:
    seed = bytes(nkeys.encode_seed(os.urandom(32), PREFIX[kind]))
    kp = nkeys.from_seed(bytearray(seed))
    return NKey(seed, kp.public_key.decode())


def write_seed(key: NKey, path: Path) -> Path:
    path.write_bytes(key.seed + b"\n")
    path.chmod(0o600)
    return path


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def encode_jwt(claims: dict[str, Any], issuer: NKey) -> str:
    """A NATS v2 JWT: ``ed25519-nkey`` signed, ``jti`` the base32 SHA-512/256 of the claims."""
    body = {"iat": int(time.time()), "iss": issuer.public, **claims}
    body["jti"] = ""
    digest = hashlib.new("sha512_256", json.dumps(body).encode()).digest()
    body["jti"] = base64.b32encode(digest).decode().rstrip("=")
    header = _b64(json.dumps({"typ": "JWT", "alg": "ed25519-nkey"}).encode())
    payload = _b64(json.dumps(body).encode())
    signing_input = f"{header}.{payload}".encode()
    return f"{header}.{payload}.{_b64(issuer.sign(signing_input))}"


_NO_LIMITS = {"subs": -1, "data": -1, "payload": -1}


@dataclass
class Operator:
    """An operator with one account; makes user creds files signed by that account."""

    key: NKey
    account: NKey
    jwt: str
    account_jwt: str

    @classmethod
    def create(cls) -> Operator:
        op = new_nkey("operator")
        acct = new_nkey("account")
        op_jwt = encode_jwt(
            {"sub": op.public, "name": "evmon-op", "nats": {"type": "operator", "version": 2}},
            op,
        )
        acct_jwt = encode_jwt(
            {
                "sub": acct.public,
                "name": "evmon-acct",
                "nats": {
                    "limits": {
                        **_NO_LIMITS,
                        "imports": -1,
                        "exports": -1,
                        "wildcards": True,
                        "conn": -1,
                        "leaf": -1,
                    },
                    "default_permissions": {"pub": {}, "sub": {}},
                    "type": "account",
                    "version": 2,
                },
            },
            op,
        )
        return cls(op, acct, op_jwt, acct_jwt)

    def server_config(self) -> str:
        return (
            f"operator: {self.jwt}\n"
            "resolver: MEMORY\n"
            f"resolver_preload: {{\n  {self.account.public}: {self.account_jwt}\n}}\n"
        )

    def user_creds(self, path: Path, signer: NKey | None = None) -> Path:
        """A creds file for a new user, signed by the account (or by ``signer``)."""
        user = new_nkey("user")
        jwt = encode_jwt(
            {
                "sub": user.public,
                "name": "evmon-user",
                "nats": {"pub": {}, "sub": {}, **_NO_LIMITS, "type": "user", "version": 2},
            },
            signer or self.account,
        )
        path.write_text(
            "-----BEGIN NATS USER JWT-----\n"
            f"{jwt}\n"
            "------END NATS USER JWT------\n\n"
            "-----BEGIN USER NKEY SEED-----\n"
            f"{user.seed.decode()}\n"
            "------END USER NKEY SEED------\n",
            encoding="utf-8",
        )
        path.chmod(0o600)
        return path


def avoid_dash_cluster_id(broker: Any) -> None:
    """KafkaBroker's random cluster id can start with "-", which StorageTool's argument
    parser takes for an option (1 start in 64 fails); draw again until it does not."""
    import uuid

    while broker.cluster_id.startswith("-"):
        broker.cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
