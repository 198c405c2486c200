"""Client-certificate login: TLS with a client certificate against the sandbox's ``/private`` API.

The sandbox's test handle serves plain HTTP, so this test starts the sandbox server itself (its
public ``start_server``) with a TLS context that requires a client certificate.
"""

from __future__ import annotations

import os
import ssl
from pathlib import Path
from typing import Any

import pytest

from sectigo_operator.controlplane_ca import LocalCA, pem_cert, pem_key
from sectigo_operator.sandbox.config import SandboxConfig
from sectigo_operator.sandbox.server import start_server
from sectigo_operator.scm import (
    ClientCertificate,
    RetryPolicy,
    ScmAuthenticationError,
    ScmClient,
    ScmConnection,
    ScmTransportError,
)
from sectigo_operator.scm.transport import _load_client_certificate

Pair = tuple[bytes, bytes]


@pytest.fixture
def pki() -> dict[str, Pair]:
    """A CA (the local control plane's kind), a server leaf for 127.0.0.1 and a client leaf."""
    ca = LocalCA.create("test CA")
    return {
        "ca": (pem_cert(ca.cert), pem_key(ca.key)),
        "server": ca.issue("127.0.0.1", server=True),
        "client": ca.issue("admin"),
    }


def _server_context(pki: dict[str, Pair], tmp_path: Path) -> ssl.SSLContext:
    cert, key = pki["server"]
    (tmp_path / "server.pem").write_bytes(cert)
    (tmp_path / "server.key").write_bytes(key)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "server.pem", tmp_path / "server.key")
    context.load_verify_locations(cadata=pki["ca"][0].decode())
    context.verify_mode = ssl.CERT_OPTIONAL  # /private requires it; /api uses passwords
    return context


async def test_client_certificate_login(pki: dict[str, Pair], tmp_path: Path) -> None:
    config = SandboxConfig()
    server = await start_server(config, tmp_path / "state", 0, _server_context(pki, tmp_path))
    try:
        base = {
            "base_url": server.base_url,
            "customer_uri": config.customer_uri,
            "login": config.login,
            "ca_bundle_pem": pki["ca"][0],
            "retry": RetryPolicy(max_attempts=1),
        }
        cert, key = pki["client"]
        with_cert = ScmConnection.model_validate(
            {
                **base,
                "client_certificate": ClientCertificate(certificate_pem=cert, private_key_pem=key),
            }
        )
        assert "PRIVATE KEY" not in repr(with_cert)
        async with ScmClient(with_cert) as scm:
            await scm.check_credentials()
            assert {p.id for p in await scm.smime.types()}

        # The certificate alone is not enough: the login must match too.
        wrong_login = with_cert.model_copy(update={"login": "intruder"})
        async with ScmClient(wrong_login) as scm:
            with pytest.raises(ScmAuthenticationError):
                await scm.ssl.types()

        # An unknown server CA fails the TLS handshake: a transport error, not a silent success.
        untrusted = with_cert.model_copy(update={"ca_bundle_pem": None})
        async with ScmClient(untrusted) as scm:
            with pytest.raises(ScmTransportError):
                await scm.ssl.types()
    finally:
        await server.stop()


class _RecordingContext(ssl.SSLContext):
    """An SSL context that records where the key pair was while it was being loaded."""

    seen: list[dict[str, Any]]

    def load_cert_chain(self, certfile: Any, keyfile: Any = None, password: Any = None) -> None:
        key_path = str(keyfile)
        with open(key_path, "rb") as handle:
            content = handle.read()
        self.seen.append(
            {
                "paths": (str(certfile), key_path),
                "key": content,
                "target": os.readlink(key_path) if key_path.startswith("/proc/") else key_path,
                "dir_mode": os.stat(os.path.dirname(key_path)).st_mode & 0o777,
            }
        )
        super().load_cert_chain(certfile, keyfile, password)


def _recording_context() -> _RecordingContext:
    context = _RecordingContext(ssl.PROTOCOL_TLS_CLIENT)
    context.seen = []
    return context


@pytest.mark.skipif(not hasattr(os, "memfd_create"), reason="needs memfd_create (Linux)")
def test_client_key_is_loaded_from_memory_not_a_file(pki: dict[str, Pair]) -> None:
    cert, key = pki["client"]
    context = _recording_context()
    before = set(os.listdir("/proc/self/fd"))
    _load_client_certificate(context, cert, key)
    (seen,) = context.seen
    assert seen["key"] == key
    assert all(path.startswith("/proc/self/fd/") for path in seen["paths"])
    assert seen["target"].startswith("/memfd:")  # anonymous memory, on no file system
    assert set(os.listdir("/proc/self/fd")) <= before  # the memory files are closed again


def test_client_key_fallback_is_a_private_directory_removed_even_on_error(
    pki: dict[str, Pair], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delattr(os, "memfd_create", raising=False)
    cert, key = pki["client"]
    context = _recording_context()
    _load_client_certificate(context, cert, key)
    (seen,) = context.seen
    directory = os.path.dirname(seen["target"])
    assert seen["key"] == key and seen["dir_mode"] == 0o700
    if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK | os.X_OK):
        assert directory.startswith("/dev/shm/scm-client-")
    assert not os.path.exists(directory)

    failing = _recording_context()
    with pytest.raises(ssl.SSLError):  # a key that does not match the certificate
        _load_client_certificate(failing, cert, pki["server"][1])
    assert not os.path.exists(os.path.dirname(failing.seen[0]["target"]))
