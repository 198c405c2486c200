"""SectigoConfig credentials and URL problems become a clear not-Ready reason, never a crash.

``ConfigRegistry.refresh`` against a one-Secret fake: nothing here reaches SCM (each case fails
before a request), and no message holds a credential.
"""

from __future__ import annotations

from typing import Any

import pytest

from sectigo_operator import policies
from sectigo_operator.configs import ConfigRegistry
from sectigo_operator.k8s import SecretData
from sectigo_operator.models.config import ConfigSpec
from sectigo_operator.sandbox.testing import SandboxHandle


class OneSecret:
    def __init__(self, secret: SecretData) -> None:
        self.secret = secret

    async def get_secret(self, namespace: str, name: str) -> SecretData | None:
        return self.secret if name == self.secret.name else None


def config(**spec: Any) -> ConfigSpec:
    return ConfigSpec.model_validate(
        {"url": "https://scm.example.com", "customerUri": "c", "orgId": 1, **spec}
    )


async def refreshed(spec: ConfigSpec, secret: SecretData) -> tuple[str, str]:
    registry = ConfigRegistry()
    try:
        entry = await registry.refresh("ns", "scm", spec, OneSecret(secret), full_check_after=60)
    finally:
        await registry.close()
    assert not entry.ready
    return entry.reason, entry.message


async def test_a_client_certificate_secret_that_is_not_a_certificate_and_key() -> None:
    secret = SecretData(
        "mtls", "ns", "kubernetes.io/tls", {"login": b"admin", "tls.crt": b"x", "tls.key": b"y"}
    )
    reason, message = await refreshed(config(clientCertificateSecretRef={"name": "mtls"}), secret)
    assert reason == policies.REASON_CREDENTIALS_MISSING
    assert "'mtls'" in message and "tls.crt and tls.key" in message


@pytest.mark.parametrize("key", ["login", "password"])
async def test_a_credential_with_a_line_break_names_its_key_not_its_value(key: str) -> None:
    data = {"login": b"admin", "password": b"pw", key: b"Leak-Canary\nsecond-line"}
    secret = SecretData("cred", "ns", "Opaque", data)
    reason, message = await refreshed(config(credentialsSecretRef={"name": "cred"}), secret)
    assert reason == policies.REASON_CREDENTIALS_MISSING
    assert f"key {key!r}" in message and "control character" in message
    assert "Leak-Canary" not in message and "second-line" not in message


async def test_a_url_the_crd_would_refuse_is_reported_as_spec_url() -> None:
    """The CRD's rules refuse user info in spec.url; a config stored before the rule existed
    is reported as an invalid spec.url, not as bad credentials."""
    spec = config(credentialsSecretRef={"name": "cred"}).model_copy(
        update={"url": "https://admin:Leak-Canary@scm.example.com"}
    )
    secret = SecretData("cred", "ns", "Opaque", {"login": b"admin", "password": b"pw"})
    reason, message = await refreshed(spec, secret)
    assert reason == policies.REASON_INVALID_SPEC
    assert message.startswith("spec.url: ") and "user info" in message
    assert "Leak-Canary" not in message


async def test_a_secret_changed_only_in_metadata_is_recorded_without_asking_scm(
    shared_sandbox_scm: SandboxHandle,
) -> None:
    """Its resourceVersion is what a restarted operator compares before trusting the last
    check (``credentialsVersion``): it must follow the Secret even when the data did not."""
    spec = ConfigSpec.model_validate(
        {
            "url": shared_sandbox_scm.base_url,
            "customerUri": shared_sandbox_scm.customer_uri,
            "orgId": shared_sandbox_scm.org_id,
            "credentialsSecretRef": {"name": "cred"},
        }
    )
    data = {
        "login": shared_sandbox_scm.login.encode(),
        "password": shared_sandbox_scm.password.encode(),
    }
    registry = ConfigRegistry()
    try:
        first = SecretData("cred", "ns", "Opaque", data, resource_version="1")
        entry = await registry.refresh("ns", "scm", spec, OneSecret(first), full_check_after=60)
        assert entry.ready and entry.secret_version == "1"
        calls = shared_sandbox_scm.counters()["callsByEndpoint"]
        relabelled = SecretData(
            "cred", "ns", "Opaque", data, labels={"team": "a"}, resource_version="2"
        )
        entry = await registry.refresh(
            "ns", "scm", spec, OneSecret(relabelled), full_check_after=60
        )
        assert entry.ready and entry.secret_version == "2"
        after = shared_sandbox_scm.counters()["callsByEndpoint"]
        assert {k: v for k, v in after.items() if "sandbox-admin" not in k} == {
            k: v for k, v in calls.items() if "sandbox-admin" not in k
        }
    finally:
        await registry.close()
